//! A provider at run time: its settings, its connection pool, and `send`, which turns one
//! upstream call into a status, headers and a body stream whatever the transport.
//!
//! Transports: plain `http://` upstreams (local model servers, the common case) go through
//! `h1::H1Pool`; `https://` ones (cloud APIs) through one reqwest client (rustls). Both give
//! the same `UpstreamResponse`, so dispatch never knows which was used.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use http::header::{
    AUTHORIZATION, CONTENT_TYPE, HOST, HeaderMap, HeaderName, HeaderValue, USER_AGENT,
};
use http_body_util::Full;

use super::h1::H1Pool;
use super::{ANTHROPIC_VERSION, ClientKey, Endpoint, ProviderKind, Wire};
use crate::config::ProviderConfig;

/// An upstream body, chunk by chunk; errors already in words.
pub(crate) type UpstreamStream = Pin<Box<dyn Stream<Item = Result<Bytes, String>> + Send>>;

pub(crate) struct UpstreamResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: UpstreamStream,
}

/// No response head: the call failed before the upstream answered.
#[derive(Debug)]
pub(crate) struct UpstreamError {
    pub message: String,
    pub timeout: bool,
}

/// Plain-http upstreams: the pool and the parts of every request that never change.
struct H1 {
    pool: Arc<H1Pool>,
    /// Request targets (path and query), indexed by `Endpoint::slot`.
    paths: [http::Uri; 6],
    /// Everything but the body: auth, configured headers, host, user agent, content type.
    headers: HeaderMap,
}

enum Transport {
    H1(Box<H1>),
    Tls,
}

/// A configured provider with its pooled client, built once at start.
pub(crate) struct Provider {
    pub cfg: ProviderConfig,
    /// For https upstreams and for model listing.
    pub client: reqwest::Client,
    transport: Transport,
    /// Parsed once, indexed by `Endpoint::slot`.
    urls: [reqwest::Url; 6],
    /// Auth and configured headers, built once.
    headers: HeaderMap,
}

const UA: &str = concat!("lodestar/", env!("CARGO_PKG_VERSION"));

impl Provider {
    pub(crate) fn new(cfg: ProviderConfig) -> Result<Self, String> {
        let mut builder = reqwest::Client::builder();
        if let Some((path, pem)) = &cfg.ca_cert {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            builder = builder.tls_certs_merge(certs);
        }
        let client = builder
            .connect_timeout(cfg.timeouts.connect)
            .pool_max_idle_per_host(cfg.pool.max_idle_per_host)
            .pool_idle_timeout(cfg.pool.idle_timeout)
            .tcp_nodelay(true)
            // A redirect would carry x-api-key and configured headers to another host, and
            // turn the POST into a GET: an LLM API that redirects is answered as it is.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(UA)
            .build()
            .map_err(|e| e.to_string())?;
        let mut parsed = Vec::with_capacity(Endpoint::ALL.len());
        for ep in Endpoint::ALL {
            parsed.push(endpoint_url(&cfg, ep)?);
        }
        let urls: [reqwest::Url; 6] = parsed
            .try_into()
            .map_err(|_| "internal: endpoint table size".to_string())?;
        let base = &urls[0];
        let transport = match (base.scheme(), base.host_str()) {
            ("http", Some(host)) => {
                let port = base.port_or_known_default().unwrap_or(80);
                // host_str keeps the brackets of an IPv6 literal.
                let authority = format!("{host}:{port}");
                let host = HeaderValue::from_str(&authority)
                    .map_err(|e| format!("bad host in {base}: {e}"))?;
                let mut headers = auth_headers(&cfg, cfg.api_key.as_ref().map(|s| s.expose()))?;
                headers.insert(HOST, host);
                headers.insert(USER_AGENT, HeaderValue::from_static(UA));
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                let path = |u: &reqwest::Url| -> Result<http::Uri, String> {
                    let p = match u.query() {
                        Some(q) => format!("{}?{q}", u.path()),
                        None => u.path().to_string(),
                    };
                    p.parse().map_err(|e| format!("bad upstream path {p}: {e}"))
                };
                Transport::H1(Box::new(H1 {
                    pool: Arc::new(H1Pool::new(
                        authority,
                        cfg.pool.max_idle_per_host,
                        cfg.pool.idle_timeout,
                        cfg.timeouts.connect,
                    )),
                    paths: [
                        path(&urls[0])?,
                        path(&urls[1])?,
                        path(&urls[2])?,
                        path(&urls[3])?,
                        path(&urls[4])?,
                        path(&urls[5])?,
                    ],
                    headers,
                }))
            }
            _ => Transport::Tls,
        };
        let key = cfg.api_key.as_ref().map(|s| s.expose().to_string());
        let headers = auth_headers(&cfg, key.as_deref())?;
        Ok(Self {
            cfg,
            client,
            transport,
            urls,
            headers,
        })
    }

    pub fn name(&self) -> &str {
        &self.cfg.name
    }

    pub fn kind(&self) -> ProviderKind {
        self.cfg.kind
    }

    fn url(&self, ep: Endpoint) -> &reqwest::Url {
        &self.urls[ep.slot()]
    }

    /// POST `body` (JSON) to `ep`, with `extra` headers (the client's `anthropic-beta`, …).
    /// Returns at the response head; the body streams after.
    /// `client_key` is sent only when the provider has no key and `pass_client_key` is set.
    pub(crate) async fn send(
        &self,
        ep: Endpoint,
        body: Vec<u8>,
        client_key: Option<&ClientKey>,
        extra: &HeaderMap,
        total: Duration,
    ) -> Result<UpstreamResponse, UpstreamError> {
        let pass = match client_key {
            Some(k) if self.cfg.api_key.is_none() && self.cfg.pass_client_key => Some(k),
            _ => None,
        };
        let passed = match pass {
            Some(k) => {
                let mut h =
                    auth_headers(&self.cfg, Some(&k.value)).map_err(|message| UpstreamError {
                        message,
                        timeout: false,
                    })?;
                // A Bearer token (an Anthropic OAuth token from a Claude subscription) goes on
                // as it came: Anthropic takes those in `Authorization`, not `x-api-key`.
                if k.bearer && self.cfg.kind.wire() == Wire::AnthropicMessages {
                    h.remove("x-api-key");
                    let mut v = HeaderValue::from_str(&format!("Bearer {}", k.value)).map_err(
                        |_| UpstreamError {
                            message: format!(
                                "provider `{}`: the client's key is not a valid HTTP header value",
                                self.cfg.name
                            ),
                            timeout: false,
                        },
                    )?;
                    v.set_sensitive(true);
                    h.insert(AUTHORIZATION, v);
                }
                Some(h)
            }
            None => None,
        };
        match &self.transport {
            Transport::H1(h1) => {
                let H1 {
                    pool,
                    paths,
                    headers,
                } = &**h1;
                let uri = &paths[ep.slot()];
                let body = Bytes::from(body);
                // Built on demand: once, or twice when a stale connection forces a resend.
                let make = || {
                    let mut req = http::Request::new(Full::new(body.clone()));
                    *req.method_mut() = http::Method::POST;
                    *req.uri_mut() = uri.clone();
                    let mut h = headers.clone();
                    if let Some(p) = &passed {
                        for (k, v) in p {
                            h.insert(k.clone(), v.clone());
                        }
                    }
                    for (k, v) in extra {
                        h.insert(k.clone(), v.clone());
                    }
                    *req.headers_mut() = h;
                    req
                };
                let (parts, body) = Box::pin(pool.send(make)).await.map_err(|e| UpstreamError {
                    message: e.message,
                    timeout: e.timeout,
                })?;
                Ok(UpstreamResponse {
                    status: parts.status.as_u16(),
                    headers: parts.headers,
                    body: Box::pin(body),
                })
            }
            Transport::Tls => {
                let mut headers = passed.unwrap_or_else(|| self.headers.clone());
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                for (k, v) in extra {
                    headers.insert(k.clone(), v.clone());
                }
                let mut resp = self
                    .client
                    .post(self.url(ep).clone())
                    .headers(headers)
                    .timeout(total)
                    .body(body)
                    .send()
                    .await
                    .map_err(|e| UpstreamError {
                        message: crate::dispatch::describe_reqwest(&e),
                        timeout: e.is_timeout(),
                    })?;
                let headers = std::mem::take(resp.headers_mut());
                Ok(UpstreamResponse {
                    status: resp.status().as_u16(),
                    headers,
                    body: Box::pin(
                        resp.bytes_stream()
                            .map(|r| r.map_err(|e| crate::dispatch::describe_reqwest(&e))),
                    ),
                })
            }
        }
    }

    /// A GET with this provider's auth (model listing).
    pub fn get(&self, url: &str) -> reqwest::RequestBuilder {
        self.client.get(url).headers(self.headers.clone())
    }

    /// A POST with this provider's auth (Ollama's unload).
    pub fn post(&self, url: &str) -> reqwest::RequestBuilder {
        self.client.post(url).headers(self.headers.clone())
    }
}

/// The provider's auth headers for `key` plus its configured extra headers.
fn auth_headers(cfg: &ProviderConfig, key: Option<&str>) -> Result<HeaderMap, String> {
    let mut h = HeaderMap::new();
    let bad = |what: &str| {
        format!(
            "provider `{}`: {what} is not a valid HTTP header value",
            cfg.name
        )
    };
    match cfg.kind.wire() {
        Wire::OpenAi => {
            if let Some(k) = key {
                let mut v = HeaderValue::from_str(&format!("Bearer {k}"))
                    .map_err(|_| bad("the API key"))?;
                v.set_sensitive(true);
                h.insert(AUTHORIZATION, v);
            }
        }
        Wire::AnthropicMessages => {
            if let Some(k) = key {
                let mut v = HeaderValue::from_str(k).map_err(|_| bad("the API key"))?;
                v.set_sensitive(true);
                h.insert("x-api-key", v);
            }
            h.insert(
                "anthropic-version",
                HeaderValue::from_static(ANTHROPIC_VERSION),
            );
        }
    }
    for (k, v) in &cfg.headers {
        let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| {
            format!(
                "provider `{}`: `{k}` is not a valid HTTP header name",
                cfg.name
            )
        })?;
        let value = HeaderValue::from_str(v).map_err(|_| bad(&format!("header `{k}`")))?;
        h.insert(name, value);
    }
    Ok(h)
}

/// The URL of `ep` on the provider `cfg` describes.
fn endpoint_url(cfg: &ProviderConfig, ep: Endpoint) -> Result<reqwest::Url, String> {
    let base = &cfg.base_url;
    let url = match cfg.kind.wire() {
        Wire::AnthropicMessages => match ep {
            Endpoint::CountTokens => format!("{base}/v1/messages/count_tokens"),
            _ => format!("{base}/v1/messages"),
        },
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
                Endpoint::Messages => "messages",
                Endpoint::CountTokens => "messages/count_tokens",
                Endpoint::Responses => "responses",
            };
            format!("{root}/{path}")
        }
    };
    reqwest::Url::parse(&url).map_err(|e| format!("`{url}` is not a valid URL: {e}"))
}
