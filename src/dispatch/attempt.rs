//! One attempt at one target: build the upstream request for the provider's wire format, send
//! it under the phase timeouts, and classify the outcome.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderMap, HeaderValue};
use serde_json::{Value, json};

use super::stream::{Limits, relay_messages_as_chat, relay_openai};
use super::{Answer, Failure, FailureKind, ProxyCall};
use crate::config::Target;
use crate::providers::{Provider, UpstreamResponse, UpstreamStream, Wire};
use crate::server::with_model;
use crate::translate::{TranslateError, chat, messages};

/// Response headers not passed on: hop-by-hop, or recomputed by our server.
const DROP_HEADERS: &[&str] = &[
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "date",
    "server",
    "upgrade",
    "te",
    "trailer",
    "proxy-authenticate",
    "set-cookie",
];

pub(super) async fn run(
    provider: &Provider,
    target: &Target,
    call: &ProxyCall,
) -> Result<Answer, Failure> {
    let wire = provider.kind().wire();
    // Only translation needs the request as a tree; pass-through splices the model in.
    let mut include_usage = false;
    let body = match wire {
        Wire::OpenAi => with_model(&call.body, call.model_span.as_ref(), &target.model),
        Wire::AnthropicMessages => {
            let map: serde_json::Map<String, Value> = serde_json::from_slice(&call.body)
                .map_err(|e| Failure::Translate(TranslateError::new("", e.to_string())))?;
            let conv = chat::parse_request(&map).map_err(Failure::Translate)?;
            include_usage = conv.params.include_usage;
            let req = messages::request_json(&conv, &target.model, provider.cfg.default_max_tokens);
            req.to_string().into_bytes()
        }
    };

    let t = provider.cfg.timeouts;
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + t.total;
    let send = provider.send(call.endpoint, body, call.client_key.as_deref(), t.total);
    // A JSON answer's head comes only once the whole answer is generated: `total` bounds it.
    let head_wait = if call.stream { t.first_byte } else { t.total };
    let mut resp = match tokio::time::timeout(head_wait, send).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            return Err(Failure::Retryable {
                why: e.message,
                retry_after: None,
                kind: if e.timeout {
                    FailureKind::Timeout
                } else {
                    FailureKind::Other
                },
            });
        }
        Err(_) if call.stream => return Err(first_byte_timeout(t.first_byte)),
        Err(_) => return Err(total_timeout(t.total)),
    };

    if !(200..300).contains(&resp.status) {
        return Err(classify_error(resp, wire).await);
    }
    let status = resp.status;
    for name in DROP_HEADERS {
        resp.headers.remove(*name);
    }
    let headers = resp.headers;
    let mut upstream = resp.body;

    if call.stream {
        let left = t.first_byte.saturating_sub(started.elapsed());
        let first = match tokio::time::timeout(left, upstream.next()).await {
            Ok(Some(Ok(b))) => b,
            Ok(Some(Err(e))) => {
                return Err(Failure::Retryable {
                    why: format!("stream broke before its first chunk: {e}"),
                    retry_after: None,
                    kind: FailureKind::Other,
                });
            }
            Ok(None) => {
                return Err(Failure::Retryable {
                    why: "the upstream ended the stream without sending anything".into(),
                    retry_after: None,
                    kind: FailureKind::Other,
                });
            }
            Err(_) => return Err(first_byte_timeout(t.first_byte)),
        };
        let limits = Limits {
            idle: t.idle,
            deadline,
        };
        let (headers, make): (_, Box<dyn FnOnce(_) -> _ + Send>) = match wire {
            Wire::OpenAi => (
                headers,
                Box::new(move |end| relay_openai(first, upstream, limits, end)),
            ),
            Wire::AnthropicMessages => (
                sse_headers(),
                Box::new(move |end| {
                    relay_messages_as_chat(first, upstream, limits, include_usage, end)
                }),
            ),
        };
        return Ok(Answer::Stream {
            status,
            headers,
            make,
        });
    }

    let body = match tokio::time::timeout_at(deadline, collect(upstream)).await {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => {
            return Err(Failure::Retryable {
                why: format!("body broke off: {e}"),
                retry_after: None,
                kind: FailureKind::Other,
            });
        }
        Err(_) => return Err(total_timeout(t.total)),
    };
    match wire {
        Wire::OpenAi => Ok(Answer::Full {
            status,
            headers,
            body,
        }),
        Wire::AnthropicMessages => {
            let reply = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| messages::parse_reply(&v))
                .ok_or_else(|| Failure::Retryable {
                    why: "the upstream's answer is not a Messages API response".into(),
                    retry_after: None,
                    kind: FailureKind::Other,
                })?;
            let json = chat::reply_to_json(&reply);
            Ok(Answer::Full {
                status,
                headers: json_headers(),
                body: Bytes::from(json.to_string()),
            })
        }
    }
}

/// A whole body: the single chunk itself when there is one (no copy), else the chunks joined.
async fn collect(mut s: UpstreamStream) -> Result<Bytes, String> {
    let Some(first) = s.next().await.transpose()? else {
        return Ok(Bytes::new());
    };
    let Some(second) = s.next().await.transpose()? else {
        return Ok(first);
    };
    let mut all = bytes::BytesMut::from(&first[..]);
    all.extend_from_slice(&second);
    while let Some(c) = s.next().await.transpose()? {
        all.extend_from_slice(&c);
    }
    Ok(all.freeze())
}

fn sse_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h
}

fn json_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h
}

fn total_timeout(d: Duration) -> Failure {
    Failure::Retryable {
        why: format!(
            "the answer took longer than {} (timeouts.total)",
            humantime::format_duration(d)
        ),
        retry_after: None,
        kind: FailureKind::Timeout,
    }
}

fn first_byte_timeout(d: Duration) -> Failure {
    Failure::Retryable {
        why: format!(
            "no answer within {} (timeouts.first_byte)",
            humantime::format_duration(d)
        ),
        retry_after: None,
        kind: FailureKind::Timeout,
    }
}

/// Seconds-form `Retry-After` (the HTTP-date form is rare from LLM APIs and treated as absent).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<f64>()
        .ok()
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
}

/// A non-2xx answer: retryable (the entry is at fault) or refused (the request is).
async fn classify_error(resp: UpstreamResponse, wire: Wire) -> Failure {
    let status = resp.status;
    let ra = retry_after(&resp.headers);
    // The error body is small; don't let a slow one hold up the fallback.
    let body = tokio::time::timeout(Duration::from_secs(2), collect(resp.body))
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let parsed = serde_json::from_slice::<Value>(&body).ok();
    let message = parsed
        .as_ref()
        .and_then(|v| {
            v.get("error")
                .and_then(|e| e.get("message").or(Some(e)))
                .and_then(Value::as_str)
                .map(String::from)
                .or_else(|| messages::error_message(v))
        })
        .unwrap_or_else(|| String::from_utf8_lossy(&body).chars().take(200).collect());
    let retryable = matches!(status, 401 | 403 | 404 | 408 | 429) || status >= 500;
    if retryable {
        let kind = match status {
            429 => FailureKind::RateLimited,
            408 | 504 => FailureKind::Timeout,
            _ => FailureKind::Other,
        };
        return Failure::Retryable {
            why: format!("{status}: {message}"),
            retry_after: if status == 429 || status == 503 {
                ra
            } else {
                None
            },
            kind,
        };
    }
    let body = match wire {
        Wire::OpenAi if parsed.as_ref().is_some_and(|v| v.get("error").is_some()) => body,
        Wire::OpenAi | Wire::AnthropicMessages => {
            let v = json!({"error": {
                "message": message,
                "type": "invalid_request_error",
                "param": null,
                "code": null,
            }});
            Bytes::from(v.to_string())
        }
    };
    Failure::Refused { status, body }
}
