//! The life of one POST in the fake upstream, shared by both dialects: what the model string's
//! knobs ask for, recording and forced failures ([`begin`]) and the SSE body that streams an
//! answer. The answer itself is decided in `upstream_script.rs`; endpoint shapes live in
//! `upstream_openai.rs` and `upstream_anthropic.rs`; the server and its counters in
//! `upstream.rs`.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{collections::VecDeque, sync::Arc, time::Duration};

use axum::{
    Json,
    body::{Body, Bytes},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use super::upstream::{Attempt, Shared};
use super::upstream_anthropic;

/// The `created` timestamp of every OpenAI object (fixed, so answers are deterministic).
pub(super) const CREATED: u64 = 1_700_000_000;

/// What the request's model string asks the upstream to do.
#[derive(Debug, Default, Clone)]
pub(super) struct Knobs {
    pub(super) fail: Option<Fail>,
    pub(super) first_byte_delay: Option<Duration>,
    pub(super) stream_delay: Option<Duration>,
    pub(super) chunks: Option<usize>,
    pub(super) drop_mid_stream: bool,
    pub(super) error_mid_stream: bool,
    pub(super) hang: bool,
    pub(super) no_model: bool,
    /// `oom`: 500 with Ollama's words for a model that does not fit in memory.
    pub(super) oom: bool,
    pub(super) think: bool,
    /// `cached_N`: usage reports N cached prompt tokens on top of the prompt's words.
    pub(super) cached: Option<usize>,
    /// `usage_NAME`: report the canned usage `NAME` (see [`canned_usage`]) instead.
    pub(super) usage: Option<String>,
    /// `no_usage`: report no usage at all (like some local servers), even when asked.
    pub(super) no_usage: bool,
    /// `garbage`: answer 200 with a JSON content type and an HTML body.
    pub(super) garbage: bool,
}

/// Usage reports in each provider's own shape, for the ledger's tests: `openai`, `gemini`
/// (reasoning apart from completion tokens), `deepseek` (cache hit/miss), `openrouter`
/// (cache writes in `prompt_tokens_details`), `anthropic` (5-minute and 1-hour cache writes;
/// the `message_start` part — `message_delta` reports `{"output_tokens": 42}`).
pub fn canned_usage(name: &str) -> Option<Value> {
    Some(match name {
        "openai" => json!({"prompt_tokens": 1000, "completion_tokens": 300, "total_tokens": 1300,
            "prompt_tokens_details": {"cached_tokens": 600},
            "completion_tokens_details": {"reasoning_tokens": 200}}),
        "gemini" => json!({"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 250,
            "completion_tokens_details": {"reasoning_tokens": 100}}),
        "deepseek" => json!({"prompt_tokens": 1000, "completion_tokens": 10, "total_tokens": 1010,
            "prompt_cache_hit_tokens": 800, "prompt_cache_miss_tokens": 200}),
        "openrouter" => {
            json!({"prompt_tokens": 1500, "completion_tokens": 20, "total_tokens": 1520,
            "prompt_tokens_details": {"cached_tokens": 1000, "cache_write_tokens": 400}})
        }
        "anthropic" => json!({"input_tokens": 10, "output_tokens": 1,
            "cache_read_input_tokens": 2000, "cache_creation_input_tokens": 700,
            "cache_creation": {"ephemeral_5m_input_tokens": 200, "ephemeral_1h_input_tokens": 500}}),
        _ => return None,
    })
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Fail {
    status: StatusCode,
    retry_after: Option<u64>,
    once: bool,
    /// Only every other request with this model fails (the 1st, 3rd, ...).
    alt: bool,
}

impl Knobs {
    pub(super) fn parse(model: &str) -> Knobs {
        let ms = |s: &str| s.parse().ok().map(Duration::from_millis);
        let mut knobs = Knobs::default();
        for token in model.split('+') {
            if let Some(d) = token.strip_prefix("slow_first_byte_").and_then(ms) {
                knobs.first_byte_delay = Some(d);
            } else if let Some(d) = token.strip_prefix("slow_stream_").and_then(ms) {
                knobs.stream_delay = Some(d);
            } else if let Some(n) = token.strip_prefix("chunks_").and_then(|n| n.parse().ok()) {
                knobs.chunks = Some(n);
            } else if let Some(n) = token.strip_prefix("cached_").and_then(|n| n.parse().ok()) {
                knobs.cached = Some(n);
            } else if let Some(name) = token.strip_prefix("usage_") {
                knobs.usage = Some(name.to_string());
            } else if let Some(fail) = token.strip_prefix("fail_").and_then(Fail::parse) {
                knobs.fail = Some(fail);
            } else {
                match token {
                    "drop_mid_stream" => knobs.drop_mid_stream = true,
                    "error_mid_stream" => knobs.error_mid_stream = true,
                    "think" => knobs.think = true,
                    "hang" => knobs.hang = true,
                    "no_model" => knobs.no_model = true,
                    "oom" => knobs.oom = true,
                    "no_usage" => knobs.no_usage = true,
                    "garbage" => knobs.garbage = true,
                    _ => {}
                }
            }
        }
        knobs
    }

    /// How many streamed deltas to send before the stream is cut or errors.
    pub(super) fn deltas_limit(&self) -> usize {
        if self.drop_mid_stream || self.error_mid_stream {
            2
        } else {
            usize::MAX
        }
    }
}

/// What `oom` answers: Ollama's error for a model larger than the free memory.
pub const OOM_MESSAGE: &str =
    "model requires more system memory (5.6 GiB) than is available (3.1 GiB)";

/// The message of `error_mid_stream`'s in-band error.
pub(super) const MID_STREAM_ERROR: &str = "test upstream overloaded";

impl Fail {
    /// `CODE[_raN][_once]`, e.g. `429_ra0_once`.
    fn parse(spec: &str) -> Option<Fail> {
        let mut parts = spec.split('_');
        let code: u16 = parts.next()?.parse().ok()?;
        let status = StatusCode::from_u16(code).ok()?;
        let mut fail = Fail {
            status,
            retry_after: (code == 429).then_some(1),
            once: false,
            alt: false,
        };
        for part in parts {
            if part == "once" {
                fail.once = true;
            } else if part == "alt" {
                fail.alt = true;
            } else if let Some(secs) = part.strip_prefix("ra").and_then(|n| n.parse().ok()) {
                fail.retry_after = Some(secs);
            } else {
                return None;
            }
        }
        Some(fail)
    }
}

/// Which error body shape an endpoint speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dialect {
    OpenAi,
    Anthropic,
}

/// An error response in `dialect`'s exact shape; `code` is OpenAI's `error.code`.
pub(super) fn error_response(
    dialect: Dialect,
    status: StatusCode,
    message: &str,
    code: Option<&str>,
) -> Response {
    let body = match dialect {
        Dialect::OpenAi => {
            let kind = match status.as_u16() {
                401 => "authentication_error",
                429 => "rate_limit_error",
                s if s >= 500 => "server_error",
                _ => "invalid_request_error",
            };
            json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
        }
        Dialect::Anthropic => {
            let kind = match status.as_u16() {
                400 => "invalid_request_error",
                401 => "authentication_error",
                403 => "permission_error",
                404 => "not_found_error",
                413 => "request_too_large",
                429 => "rate_limit_error",
                529 => "overloaded_error",
                _ => "api_error",
            };
            json!({"type": "error", "error": {"type": kind, "message": message}})
        }
    };
    (status, Json(body)).into_response()
}

/// A POST that got past recording, auth, delays and forced failures: the handler answers it.
pub(super) struct Exchange {
    pub(super) body: Value,
    pub(super) model: String,
    pub(super) knobs: Knobs,
    pub(super) attempt: Attempt,
}

impl Exchange {
    pub(super) fn wants_stream(&self) -> bool {
        self.body.get("stream").and_then(Value::as_bool) == Some(true)
    }
}

/// Everything a POST does before answering: record it, check Anthropic auth, then apply the
/// knobs (first-byte delay, hang, forced failures). `Err` is the response to send instead.
pub(super) async fn begin(
    shared: &Arc<Shared>,
    dialect: Dialect,
    path: &str,
    headers: &HeaderMap,
    raw: &Bytes,
) -> Result<Exchange, Response> {
    let body: Value = serde_json::from_slice(raw).unwrap_or(Value::Null);
    shared.record(path, headers, &body, raw);
    let rejection = match dialect {
        Dialect::Anthropic => upstream_anthropic::auth_rejection(headers, shared.key_optional()),
        Dialect::OpenAi => None,
    };
    if let Some(rejection) = rejection {
        return Err(rejection);
    }
    if !body.is_object() {
        let msg = "test upstream: body is not a JSON object";
        return Err(error_response(dialect, StatusCode::BAD_REQUEST, msg, None));
    }
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let knobs = Knobs::parse(&model);
    // A request for an unloaded model loads it again (as Ollama does): `/api/ps` lists it.
    shared.unloaded.lock().unwrap().retain(|m| *m != model);
    let mut attempt = Attempt::new(shared.clone());
    if let Some(delay) = knobs.first_byte_delay {
        tokio::time::sleep(delay).await;
    }
    if knobs.hang {
        // Dropped (with `attempt`) when the client hangs up.
        std::future::pending::<()>().await;
    }
    // `_once` failures let every request after the first with this model through.
    let fail = knobs
        .fail
        .filter(|fail| !(fail.once && shared.calls_for(&model) > 1))
        .filter(|fail| !(fail.alt && shared.calls_for(&model).is_multiple_of(2)));
    if knobs.garbage {
        attempt.disarm();
        return Err((
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            "<html><body>502 Bad Gateway</body></html>",
        )
            .into_response());
    }
    if let Some(fail) = fail {
        attempt.disarm();
        let message = format!("test upstream: forced {}", fail.status.as_u16());
        let mut response = error_response(dialect, fail.status, &message, None);
        if let Some(secs) = fail.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        return Err(response);
    }
    if knobs.oom {
        attempt.disarm();
        return Err(error_response(
            dialect,
            StatusCode::INTERNAL_SERVER_ERROR,
            OOM_MESSAGE,
            None,
        ));
    }
    if knobs.no_model {
        attempt.disarm();
        let message = format!("model '{model}' not found");
        let code = Some("model_not_found");
        return Err(error_response(
            dialect,
            StatusCode::NOT_FOUND,
            &message,
            code,
        ));
    }
    Ok(Exchange {
        body,
        model,
        knobs,
        attempt,
    })
}

/// One SSE event with only a `data:` line.
pub(super) fn sse_data(data: &Value) -> String {
    format!("data: {data}\n\n")
}

/// Sends `steps` as an SSE body, sleeping `delay` between steps. With `abort`, the body errors
/// after the last step instead of ending, which makes hyper cut the connection. `attempt`
/// counts the stream as completed at its end or cancelled if the body is dropped first.
pub(super) fn sse_response(
    steps: Vec<String>,
    delay: Option<Duration>,
    abort: bool,
    attempt: Attempt,
) -> Response {
    struct Sending {
        steps: VecDeque<String>,
        sent: usize,
        delay: Option<Duration>,
        abort: bool,
        attempt: Attempt,
    }
    let start = Sending {
        steps: steps.into(),
        sent: 0,
        delay,
        abort,
        attempt,
    };
    let stream = futures_util::stream::unfold(start, |mut s| async move {
        if s.steps.is_empty() {
            if s.abort {
                s.abort = false;
                s.attempt.disarm();
                // Hand hyper one Pending first so it flushes what is buffered; an error
                // straight after the last chunk would discard the headers and chunks unsent.
                tokio::task::yield_now().await;
                let cut = std::io::Error::other("test upstream: drop_mid_stream");
                return Some((Err(cut), s));
            }
            s.attempt.complete();
            return None;
        }
        if let (Some(delay), true) = (s.delay, s.sent > 0) {
            tokio::time::sleep(delay).await;
        }
        let step = s.steps.pop_front().unwrap_or_default();
        s.sent += 1;
        Some((Ok(Bytes::from(step)), s))
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(stream))
        .unwrap()
}
