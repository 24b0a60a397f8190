//! The response cache on the request path: whether a request may be answered from the cache
//! and kept in it (mode, the client's `Cache-Control`), answering a hit (as it was, or
//! converted between JSON and stream), and making an entry from an answer.

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use serde_json::Value;

use super::AppState;
use crate::cache::entry::{Meta, json_from_stream, stream_from_json};
use crate::cache::{CacheMode, Entry, Key, key};
use crate::config::Target;
use crate::dispatch::UsageStrip;
use crate::ledger::Tokens;
use crate::ledger::usage::has_usage_object;
use crate::providers::Endpoint;
use crate::router::RouteDecision;
use crate::store::now_ms;
use crate::translate::{Format, ToolGroups};

/// What the cache does for one request.
pub(super) struct Plan {
    pub key: Option<Key>,
    /// Look the request up (false: `Cache-Control: no-cache`, or not cacheable).
    pub lookup: bool,
    /// Keep its answer (false: `no-store`, or not cacheable).
    pub store: bool,
    pub ttl: Duration,
    /// Chat streams: the client asked for the usage chunk.
    pub include_usage: bool,
}

impl Plan {
    fn bypass() -> Plan {
        Plan {
            key: None,
            lookup: false,
            store: false,
            ttl: Duration::ZERO,
            include_usage: false,
        }
    }
}

fn format_of(endpoint: Endpoint) -> Format {
    match endpoint {
        Endpoint::Messages | Endpoint::CountTokens => Format::Messages,
        Endpoint::Responses => Format::Responses,
        _ => Format::Chat,
    }
}

/// Decide for a request routed by `decision`.
pub(super) fn plan(
    s: &AppState,
    endpoint: Endpoint,
    decision: &RouteDecision,
    project: &str,
    body: &[u8],
    headers: &HeaderMap,
) -> Plan {
    if endpoint == Endpoint::CountTokens {
        return Plan::bypass();
    }
    let policy = decision
        .alias
        .as_deref()
        .and_then(|a| s.config.alias(a))
        .and_then(|a| a.cache);
    let (mode, ttl) = s.cache.policy(policy);
    if mode == CacheMode::Off {
        return Plan::bypass();
    }
    let control = headers
        .get_all(axum::http::header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|d| d.trim().to_ascii_lowercase())
        .collect::<Vec<_>>();
    let no_cache = control.iter().any(|d| d == "no-cache");
    let no_store = control.iter().any(|d| d == "no-store");
    if no_cache && no_store {
        return Plan::bypass();
    }
    // Cheap refusals first: most requests are not deterministic, and need no parse.
    let format = format_of(endpoint);
    let maybe = mode == CacheMode::All
        || endpoint == Endpoint::Embeddings
        || crate::needles::TEMPERATURE_KEY.is_in(body)
        || crate::needles::SEED_KEY.is_in(body);
    if !maybe {
        return Plan::bypass();
    }
    if mode == CacheMode::Deterministic && endpoint != Endpoint::Embeddings {
        // Read only the sampling fields (no tree) before paying for the full parse.
        #[derive(serde::Deserialize)]
        struct Sampling {
            temperature: Option<f64>,
            seed: Option<serde::de::IgnoredAny>,
        }
        let Ok(sm) = serde_json::from_slice::<Sampling>(body) else {
            return Plan::bypass();
        };
        let seeded = format == Format::Chat && sm.seed.is_some();
        if sm.temperature != Some(0.0) && !seeded {
            return Plan::bypass();
        }
    }
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return Plan::bypass();
    };
    let Some(target) = decision.targets.first() else {
        return Plan::bypass();
    };
    let Some(k) = key::key(endpoint.as_str(), &target.to_string(), project, &v) else {
        return Plan::bypass();
    };
    Plan {
        key: Some(k),
        lookup: !no_cache,
        store: !no_store,
        ttl,
        include_usage: v.pointer("/stream_options/include_usage") == Some(&Value::Bool(true)),
    }
}

/// The answer to a request from a cached entry, or None when this entry cannot serve it
/// (a stream that lacks the usage chunk the client asks for; a conversion the hub cannot
/// make): the request then goes upstream as a miss.
pub(super) fn serve(
    entry: &Entry,
    endpoint: Endpoint,
    want_stream: bool,
    include_usage: bool,
    request: &[u8],
) -> Option<Response> {
    let format = entry.format()?;
    let convertible = matches!(
        endpoint,
        Endpoint::ChatCompletions | Endpoint::Messages | Endpoint::Responses
    );
    let chat_stream = format == Format::Chat && endpoint == Endpoint::ChatCompletions;
    let (body, stream) = match (want_stream, entry.meta.stream) {
        (false, false) => (Body::from(entry.body.clone()), false),
        (true, true) => {
            let mut chunks = entry.chunks();
            if chat_stream {
                let has_usage = chunks.iter().any(|c| has_usage_object(c));
                if include_usage && !has_usage {
                    return None;
                }
                if !include_usage && has_usage {
                    chunks = strip_usage(chunks);
                }
            }
            let it = chunks
                .into_iter()
                .map(Ok::<Bytes, std::convert::Infallible>);
            (Body::from_stream(futures_util::stream::iter(it)), true)
        }
        (false, true) if convertible => (Body::from(json_from_stream(format, &entry.body)?), false),
        (true, false) if convertible => {
            let groups = match format {
                Format::Responses => {
                    ToolGroups::of(&format.parse_request(request).ok()?).echoing(request)
                }
                _ => ToolGroups::default(),
            };
            (
                Body::from(stream_from_json(
                    format,
                    &entry.body,
                    include_usage,
                    groups,
                )?),
                true,
            )
        }
        _ => return None,
    };
    let mut r = Response::new(body);
    *r.status_mut() = StatusCode::OK;
    let h = r.headers_mut();
    let ct = if stream {
        "text/event-stream"
    } else {
        "application/json"
    };
    h.insert("content-type", HeaderValue::from_static(ct));
    if stream {
        h.insert("cache-control", HeaderValue::from_static("no-cache"));
    }
    h.insert("x-lodestar-cache", HeaderValue::from_static("hit"));
    let age = ((now_ms() - entry.meta.created_ms).max(0) / 1000).to_string();
    if let Ok(v) = HeaderValue::from_str(&age) {
        h.insert("age", v);
    }
    if let Ok(v) = HeaderValue::from_str(&entry.meta.route) {
        h.insert("x-lodestar-route", v);
    }
    Some(r)
}

/// A chat stream without the usage chunk and `"usage": null` fields (for a client that did
/// not ask for usage).
fn strip_usage(chunks: Vec<Bytes>) -> Vec<Bytes> {
    let mut strip = UsageStrip::default();
    let mut out: Vec<Bytes> = chunks.iter().filter_map(|c| strip.push(c)).collect();
    let rest = strip.finish();
    if !rest.is_empty() {
        out.push(Bytes::from(rest));
    }
    out
}

/// What an entry records about the answer it keeps.
pub(super) struct Made<'a> {
    pub endpoint: Endpoint,
    pub target: &'a Target,
    pub project: &'a str,
    pub ttl: Duration,
    pub tokens: Tokens,
    pub cost_usd: Option<f64>,
}

/// An entry from a whole answer: a JSON body, or a stream's chunks.
pub(super) fn make(m: Made<'_>, json: Option<Bytes>, chunks: Option<Vec<Bytes>>) -> Option<Entry> {
    let now = now_ms();
    let t = m.tokens;
    let (stream, body, lens) = match (json, chunks) {
        // A copy of its own: the body may be a slice of the connection's whole read buffer,
        // which a cached entry would otherwise keep alive (measured: ~9 KB per entry).
        (Some(b), _) => (false, Bytes::copy_from_slice(&b), Vec::new()),
        (None, Some(chunks)) => {
            let lens: Vec<usize> = chunks.iter().map(Bytes::len).collect();
            let mut all = Vec::with_capacity(lens.iter().sum());
            for c in &chunks {
                all.extend_from_slice(c);
            }
            (true, Bytes::from(all), lens)
        }
        (None, None) => return None,
    };
    Some(Entry {
        meta: Meta {
            format: format_of(m.endpoint).id().to_string(),
            stream,
            content_type: if stream {
                "text/event-stream".into()
            } else {
                "application/json".into()
            },
            chunks: lens,
            route: m.target.to_string(),
            provider: m.target.provider.clone(),
            model: m.target.model.clone(),
            tokens: [
                t.input,
                t.output,
                t.cache_read,
                t.cache_write_5m,
                t.cache_write_1h,
                t.reasoning,
            ],
            cost_usd: m.cost_usd,
            created_ms: now,
            expires_ms: now + m.ttl.as_millis() as i64,
            project: m.project.to_string(),
        },
        body,
    })
}
