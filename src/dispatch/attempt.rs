//! One attempt at one target: build the upstream request for the provider's wire format, send
//! it under the phase timeouts, and classify the outcome.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use reqwest::header::{self, CACHE_CONTROL, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

use super::stream::{Limits, UsageStrip, relay_passthrough, relay_translated};
use super::{Answer, Failure, FailureKind, ProxyCall};
use crate::config::Target;
use crate::ledger::{ReasoningReport, UsageTap};
use crate::providers::{Endpoint, Provider, ProviderKind, UpstreamResponse, UpstreamStream, Wire};
use crate::server::with_model;
use crate::translate::{
    Format, Lossy, TargetInfo, ToolGroups, TranslateError, error_message, tokens,
};

/// Response headers not passed on: hop-by-hop, or recomputed by our server.
static DROP_HEADERS: [HeaderName; 11] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::TRANSFER_ENCODING,
    header::CONTENT_LENGTH,
    header::DATE,
    header::SERVER,
    header::UPGRADE,
    header::TE,
    header::TRAILER,
    header::PROXY_AUTHENTICATE,
    header::SET_COOKIE,
];

/// How one attempt carries the request to its provider.
#[derive(Debug, Clone, Copy)]
enum Plan {
    /// Forwarded as the client sent it (model spliced), answered as the upstream wrote it.
    Pass { upstream: Endpoint, client: Format },
    /// Translated through the hub both ways.
    Translate { client: Format, upstream: Format },
}

fn plan(ep: Endpoint, provider: &Provider) -> Result<Plan, TranslateError> {
    let wire = provider.kind().wire();
    let client = if ep.is_anthropic() {
        Format::Messages
    } else {
        Format::Chat
    };
    Ok(match (ep, wire) {
        (Endpoint::Messages, _) if provider.cfg.messages_native => Plan::Pass {
            upstream: ep,
            client,
        },
        (Endpoint::Messages, Wire::OpenAi) => Plan::Translate {
            client,
            upstream: Format::Chat,
        },
        (Endpoint::Responses, _) if provider.cfg.responses_native => Plan::Pass {
            upstream: ep,
            client: Format::Responses,
        },
        (Endpoint::Responses, Wire::OpenAi) => Plan::Translate {
            client: Format::Responses,
            upstream: Format::Chat,
        },
        (Endpoint::Responses, Wire::AnthropicMessages) => Plan::Translate {
            client: Format::Responses,
            upstream: Format::Messages,
        },
        (Endpoint::ChatCompletions, Wire::AnthropicMessages) => Plan::Translate {
            client,
            upstream: Format::Messages,
        },
        (
            Endpoint::ChatCompletions | Endpoint::Completions | Endpoint::Embeddings,
            Wire::OpenAi,
        ) => Plan::Pass {
            upstream: ep,
            client,
        },
        (_, _) => {
            return Err(TranslateError::new(
                "model",
                format!(
                    "provider `{}` ({}) cannot serve {}",
                    provider.name(),
                    provider.kind(),
                    ep.as_str()
                ),
            ));
        }
    })
}

/// The answer of one attempt, and what translation left out on the way.
pub(super) struct Attempted {
    pub answer: Answer,
    pub dropped: Vec<String>,
    pub translated: bool,
}

pub(super) async fn run(
    provider: &Provider,
    target: &Target,
    call: &ProxyCall,
) -> Result<Attempted, Failure> {
    let plan = plan(call.endpoint, provider).map_err(Failure::Translate)?;
    let mut dropped = Vec::new();
    let mut include_usage = false;
    let mut estimate: Option<tokens::Counting> = None;
    // The request's namespaced tools, so a Responses client gets calls back as it named them.
    let mut groups = ToolGroups::default();
    let native;
    // Set when Lodestar asked a chat stream for usage the client did not ask for.
    let mut strip = None;
    let (upstream_ep, body, extra) = match plan {
        // Pass-through splices the model in; only translation needs the request as a tree.
        Plan::Pass { upstream, .. } => (
            upstream,
            {
                let body = with_model(&call.body, call.model_span.as_ref(), &target.model);
                if call.stream && upstream == Endpoint::ChatCompletions {
                    match ask_for_usage(&body) {
                        Some(b) => {
                            strip = Some(UsageStrip::default());
                            b.to_vec()
                        }
                        None => body,
                    }
                } else {
                    body
                }
            },
            if upstream == Endpoint::Messages {
                native = call.native_headers();
                &native
            } else {
                &*NO_HEADERS
            },
        ),
        Plan::Translate { client, upstream } => {
            let conv = call.conversation(client).map_err(Failure::Translate)?;
            include_usage = conv.params.include_usage;
            if client == Format::Responses {
                groups = ToolGroups::of(&conv).echoing(&call.body);
            }
            if call.stream && upstream == Format::Chat && client == Format::Messages {
                // Counted while the upstream works on the request (a large prompt takes
                // milliseconds to tokenize; it must not hold up the request or the runtime).
                estimate = Some(tokens::Counting::start(conv.clone(), call.body.len()));
            }
            let conv = &*conv;
            let mut lossy = Lossy::new(call.on_unsupported);
            let info = TargetInfo {
                strict_openai: provider.kind() == ProviderKind::OpenAi,
                default_max_tokens: provider.cfg.default_max_tokens,
            };
            let req = upstream
                .build_request(conv, &target.model, info, &mut lossy)
                .map_err(Failure::Translate)?;
            dropped = lossy.dropped;
            let ep = match upstream {
                Format::Chat => Endpoint::ChatCompletions,
                Format::Messages => Endpoint::Messages,
                Format::Responses => Endpoint::Responses,
            };
            (ep, req.into_bytes(), &*NO_HEADERS)
        }
    };

    let t = provider.cfg.timeouts;
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + t.total;
    let send = Box::pin(provider.send(upstream_ep, body, call.client_key.as_ref(), extra, t.total));
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

    let (client_format, upstream_format) = match plan {
        Plan::Pass { client, .. } => (client, client),
        Plan::Translate { client, upstream } => (client, upstream),
    };
    if !(200..300).contains(&resp.status) {
        return Err(Box::pin(classify_error(resp, upstream_format, client_format)).await);
    }
    let status = resp.status;
    for name in &DROP_HEADERS {
        resp.headers.remove(name);
    }
    let headers = resp.headers;
    let mut upstream = resp.body;
    let mut tap = if call.endpoint == Endpoint::CountTokens {
        UsageTap::off()
    } else {
        let reasoning = if provider
            .cfg
            .base_url
            .contains("generativelanguage.googleapis.com")
        {
            ReasoningReport::Apart
        } else {
            ReasoningReport::Detect
        };
        UsageTap::new(upstream_format, reasoning)
    };

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
        let (headers, make): (_, Box<dyn FnOnce(_) -> _ + Send>) = match plan {
            Plan::Pass { client, .. } => (
                headers,
                Box::new(move |mut end: super::StreamEnd| {
                    end.tap = tap;
                    relay_passthrough(first, upstream, limits, client, end, strip)
                }),
            ),
            Plan::Translate {
                client,
                upstream: from,
            } => {
                let input_estimate = match estimate {
                    Some(e) => e.finish().await.tokens,
                    None => 0,
                };
                let Some(decoder) = from.decoder() else {
                    return Err(Failure::Translate(TranslateError::new(
                        "model",
                        format!("Lodestar cannot read {} streams", from.name()),
                    )));
                };
                let mut encoder = client.encoder(include_usage, input_estimate, groups);
                if let Some(id) = &call.response_id {
                    encoder.set_response_id(id.clone());
                }
                (
                    sse_headers(),
                    Box::new(move |mut end: super::StreamEnd| {
                        end.tap = tap;
                        relay_translated(first, upstream, limits, decoder, encoder, end)
                    }),
                )
            }
        };
        return Ok(Attempted {
            answer: Answer::Stream {
                status,
                headers,
                make,
            },
            dropped,
            translated: matches!(plan, Plan::Translate { .. }),
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
    // A success that is not JSON is the upstream's failure (a proxy's HTML page, a server
    // cut off mid-write); before the first byte to the client, the next entry may answer.
    let read = tap.on_json(&body);
    if matches!(plan, Plan::Pass { .. })
        && !read
        && serde_json::from_slice::<serde::de::IgnoredAny>(&body).is_err()
    {
        let head: String = String::from_utf8_lossy(&body[..body.len().min(60)])
            .chars()
            .filter(|c| !c.is_control())
            .collect();
        return Err(Failure::Retryable {
            why: format!("answered {status} with a body that is not JSON (`{head}`)"),
            retry_after: None,
            kind: FailureKind::Other,
        });
    }
    let answer = match plan {
        Plan::Pass { .. } => Answer::Full {
            status,
            headers,
            body,
            tap: Box::new(tap),
        },
        Plan::Translate { client, upstream } => {
            let mut reply = upstream
                .parse_reply(&body)
                .ok_or_else(|| Failure::Retryable {
                    why: format!(
                        "the upstream's answer is not a {} response",
                        upstream.name()
                    ),
                    retry_after: None,
                    kind: FailureKind::Other,
                })?;
            if let Some(id) = &call.response_id {
                reply.id = id.clone();
            }
            Answer::Full {
                status,
                headers: json_headers(),
                body: Bytes::from(client.build_reply(&reply, &groups)),
                tap: Box::new(tap),
            }
        }
    };
    Ok(Attempted {
        answer,
        dropped,
        translated: matches!(plan, Plan::Translate { .. }),
    })
}

/// A chat stream request that also asks for the usage chunk, when the client did not (the
/// ledger needs the upstream's own count); None when the client asked itself.
fn ask_for_usage(body: &[u8]) -> Option<Bytes> {
    if !crate::needles::STREAM_OPTIONS_KEY.is_in(body) {
        // Insert the member first: no parse of the (possibly large) body.
        let open = body.iter().position(|b| *b == b'{')?;
        let rest = &body[open + 1..];
        let empty = rest.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'}');
        let mut out = Vec::with_capacity(body.len() + 48);
        out.extend_from_slice(&body[..=open]);
        out.extend_from_slice(br#""stream_options":{"include_usage":true}"#);
        if !empty {
            out.push(b',');
        }
        out.extend_from_slice(rest);
        return Some(Bytes::from(out));
    }
    let mut v: Value = serde_json::from_slice(body).ok()?;
    let opts = v.get_mut("stream_options")?;
    if opts.get("include_usage").and_then(Value::as_bool) == Some(true) {
        return None;
    }
    match opts {
        Value::Object(m) => {
            m.insert("include_usage".into(), Value::Bool(true));
        }
        other => *other = serde_json::json!({"include_usage": true}),
    }
    serde_json::to_vec(&v).ok().map(Bytes::from)
}

static NO_HEADERS: std::sync::LazyLock<HeaderMap> = std::sync::LazyLock::new(HeaderMap::new);

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
async fn classify_error(resp: UpstreamResponse, upstream: Format, client: Format) -> Failure {
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
        .and_then(error_message)
        .unwrap_or_else(|| String::from_utf8_lossy(&body).chars().take(200).collect());
    let retryable = matches!(status, 401 | 403 | 404 | 408 | 429) || status >= 500;
    if retryable {
        let kind = match status {
            429 => FailureKind::RateLimited,
            408 | 504 => FailureKind::Timeout,
            404 => FailureKind::NotFound,
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
    // The client's own dialect: as the upstream wrote it when the formats agree, else rebuilt.
    let body = match parsed {
        Some(v) if upstream == client && client.is_error_body(&v) => body,
        _ => Bytes::from(client.error_body(status, &message).to_string()),
    };
    Failure::Refused { status, body }
}
