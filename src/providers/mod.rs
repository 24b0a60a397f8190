//! Providers: the upstream kinds Lodestar speaks to, and one pooled HTTP client each.
//!
//! Owns: building upstream requests (URL, auth headers, the provider's extra headers) and
//! listing an upstream's models. Must not decide where a request goes (`router`) or retry
//! (`dispatch`). `ProviderKind` is matched exhaustively everywhere: a new kind breaks the build
//! until every place handles it.

mod client;
mod discovery;
mod h1;
mod residency;

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub(crate) use client::{Provider, UpstreamResponse, UpstreamStream};

pub use discovery::LoadedModel;
pub(crate) use discovery::{ModelCatalog, loaded_models, refresh_catalog, unload_model};
pub use residency::{ModelSwitch, Residency};

use crate::config::Config;

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
    /// Anthropic's `/v1/messages`.
    Messages,
    /// Anthropic's `/v1/messages/count_tokens`.
    CountTokens,
    /// OpenAI's `/v1/responses`.
    Responses,
}

impl Endpoint {
    /// Every endpoint, in `slot` order.
    pub(crate) const ALL: [Endpoint; 6] = [
        Endpoint::ChatCompletions,
        Endpoint::Completions,
        Endpoint::Embeddings,
        Endpoint::Messages,
        Endpoint::CountTokens,
        Endpoint::Responses,
    ];

    /// Index into per-endpoint tables built from `ALL`.
    pub(crate) fn slot(self) -> usize {
        match self {
            Endpoint::ChatCompletions => 0,
            Endpoint::Completions => 1,
            Endpoint::Embeddings => 2,
            Endpoint::Messages => 3,
            Endpoint::CountTokens => 4,
            Endpoint::Responses => 5,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::ChatCompletions => "chat.completions",
            Endpoint::Completions => "completions",
            Endpoint::Embeddings => "embeddings",
            Endpoint::Messages => "messages",
            Endpoint::CountTokens => "messages.count_tokens",
            Endpoint::Responses => "responses",
        }
    }

    /// Whether the client speaks Anthropic's format here (errors answer in its dialect).
    pub fn is_anthropic(self) -> bool {
        matches!(self, Endpoint::Messages | Endpoint::CountTokens)
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
            | (
                ProviderKind::Anthropic,
                Endpoint::ChatCompletions
                | Endpoint::Messages
                | Endpoint::CountTokens
                | Endpoint::Responses,
            ) => None,
        }
    }
}

/// The client's own key, and whether it came as `Authorization: Bearer` (an Anthropic OAuth
/// token from a Claude subscription must go on that way) or as `x-api-key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClientKey {
    pub value: String,
    pub bearer: bool,
}

/// The Anthropic API version Lodestar speaks.
pub(crate) const ANTHROPIC_VERSION: &str = "2023-06-01";

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
