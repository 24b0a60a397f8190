//! Providers: the upstream kinds Lodestar speaks to, and one pooled HTTP client each.
//!
//! Owns: building upstream requests (URL, auth headers, the provider's extra headers) and
//! listing an upstream's models. Must not decide where a request goes (`router`) or retry
//! (`dispatch`). `ProviderKind` is matched exhaustively everywhere: a new kind breaks the build
//! until every place handles it.

mod discovery;

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub(crate) use discovery::{ModelCatalog, refresh_catalog};

use crate::config::{Config, ProviderConfig};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
pub enum ProviderKind {
    /// api.openai.com (key required).
    #[serde(rename = "openai")]
    OpenAi,
    /// Any server with OpenAI's `/v1/chat/completions`: OpenRouter, Groq, vLLM, llama.cpp, LM Studio.
    #[serde(rename = "openai-compatible", alias = "openai_compatible")]
    OpenAiCompatible,
    /// Ollama: its OpenAI-compatible `/v1` for traffic, `/api` for model listing.
    #[serde(rename = "ollama")]
    Ollama,
    /// Anthropic's native Messages API.
    #[serde(rename = "anthropic")]
    Anthropic,
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProviderKind::OpenAi => "openai",
            ProviderKind::OpenAiCompatible => "openai-compatible",
            ProviderKind::Ollama => "ollama",
            ProviderKind::Anthropic => "anthropic",
        })
    }
}

/// The wire format a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wire {
    OpenAi,
    AnthropicMessages,
}

/// The client-facing endpoint a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    ChatCompletions,
    Completions,
    Embeddings,
}

impl Endpoint {
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::ChatCompletions => "chat.completions",
            Endpoint::Completions => "completions",
            Endpoint::Embeddings => "embeddings",
        }
    }
}

impl ProviderKind {
    pub(crate) fn wire(self) -> Wire {
        match self {
            ProviderKind::OpenAi | ProviderKind::OpenAiCompatible | ProviderKind::Ollama => {
                Wire::OpenAi
            }
            ProviderKind::Anthropic => Wire::AnthropicMessages,
        }
    }

    /// Why this kind cannot serve `ep`, if it cannot.
    pub fn cannot_serve(self, ep: Endpoint) -> Option<&'static str> {
        match (self, ep) {
            (ProviderKind::Anthropic, Endpoint::Completions) => {
                Some("Anthropic has no legacy completions API")
            }
            (ProviderKind::Anthropic, Endpoint::Embeddings) => {
                Some("Anthropic has no embeddings API")
            }
            (ProviderKind::OpenAi | ProviderKind::OpenAiCompatible | ProviderKind::Ollama, _)
            | (ProviderKind::Anthropic, Endpoint::ChatCompletions) => None,
        }
    }
}

/// The Anthropic API version Lodestar speaks.
pub(crate) const ANTHROPIC_VERSION: &str = "2023-06-01";

/// A configured provider with its pooled client, built once at start.
pub(crate) struct Provider {
    pub cfg: ProviderConfig,
    pub client: reqwest::Client,
    /// Parsed once: chat completions, completions, embeddings.
    urls: [reqwest::Url; 3],
}

impl Provider {
    fn new(cfg: ProviderConfig) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .connect_timeout(cfg.timeouts.connect)
            .pool_max_idle_per_host(cfg.pool.max_idle_per_host)
            .pool_idle_timeout(cfg.pool.idle_timeout)
            .tcp_nodelay(true)
            .user_agent(concat!("lodestar/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string())?;
        let urls = [
            Endpoint::ChatCompletions,
            Endpoint::Completions,
            Endpoint::Embeddings,
        ]
        .map(|ep| endpoint_url(&cfg, ep));
        let urls = match urls {
            [Ok(a), Ok(b), Ok(c)] => [a, b, c],
            [Err(e), ..] | [_, Err(e), _] | [.., Err(e)] => return Err(e),
        };
        Ok(Self { cfg, client, urls })
    }

    pub fn name(&self) -> &str {
        &self.cfg.name
    }

    pub fn kind(&self) -> ProviderKind {
        self.cfg.kind
    }

    /// The full URL for an endpoint on this provider.
    pub fn url(&self, ep: Endpoint) -> &reqwest::Url {
        match ep {
            Endpoint::ChatCompletions => &self.urls[0],
            Endpoint::Completions => &self.urls[1],
            Endpoint::Embeddings => &self.urls[2],
        }
    }

    /// A POST with this provider's auth and headers. `client_key` is used only when the
    /// provider is configured to pass the client's key through.
    pub fn post(&self, url: &reqwest::Url, client_key: Option<&str>) -> reqwest::RequestBuilder {
        let key = self
            .cfg
            .api_key
            .as_ref()
            .map(|s| s.expose())
            .or(if self.cfg.pass_client_key {
                client_key
            } else {
                None
            });
        self.authorize(self.client.post(url.clone()), key)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
    }

    fn authorize(
        &self,
        mut rb: reqwest::RequestBuilder,
        key: Option<&str>,
    ) -> reqwest::RequestBuilder {
        match self.cfg.kind.wire() {
            Wire::OpenAi => {
                if let Some(k) = key {
                    rb = rb.bearer_auth(k);
                }
            }
            Wire::AnthropicMessages => {
                if let Some(k) = key {
                    rb = rb.header("x-api-key", k);
                }
                rb = rb.header("anthropic-version", ANTHROPIC_VERSION);
            }
        }
        for (k, v) in &self.cfg.headers {
            rb = rb.header(k.as_str(), v.as_str());
        }
        rb
    }

    /// A GET with this provider's auth (model listing).
    pub fn get(&self, url: &str) -> reqwest::RequestBuilder {
        let key = self.cfg.api_key.as_ref().map(|s| s.expose());
        self.authorize(self.client.get(url), key)
    }
}

/// Every configured provider, by name.
pub(crate) struct Providers {
    list: Vec<Arc<Provider>>,
}

impl Providers {
    pub fn build(cfg: &Config) -> Result<Self, String> {
        let mut list = Vec::new();
        for p in &cfg.providers {
            let name = p.name.clone();
            let provider = Provider::new(p.clone())
                .map_err(|e| format!("cannot build the HTTP client for provider `{name}`: {e}"))?;
            list.push(Arc::new(provider));
        }
        Ok(Self { list })
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Provider>> {
        self.list.iter().find(|p| p.name() == name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Provider>> {
        self.list.iter()
    }
}

/// The URL of `ep` on the provider `cfg` describes.
fn endpoint_url(cfg: &ProviderConfig, ep: Endpoint) -> Result<reqwest::Url, String> {
    let base = &cfg.base_url;
    let url = match cfg.kind.wire() {
        Wire::AnthropicMessages => format!("{base}/v1/messages"),
        Wire::OpenAi => {
            let root = match cfg.kind {
                ProviderKind::Ollama => format!("{base}/v1"),
                ProviderKind::OpenAi | ProviderKind::OpenAiCompatible | ProviderKind::Anthropic => {
                    base.clone()
                }
            };
            let path = match ep {
                Endpoint::ChatCompletions => "chat/completions",
                Endpoint::Completions => "completions",
                Endpoint::Embeddings => "embeddings",
            };
            format!("{root}/{path}")
        }
    };
    reqwest::Url::parse(&url).map_err(|e| format!("`{url}` is not a valid URL: {e}"))
}
