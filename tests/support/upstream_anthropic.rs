//! The Anthropic half of the fake upstream: `POST /v1/messages` (JSON and SSE) and the
//! Anthropic model list, in Anthropic's exact wire shapes. Knobs, recording and stream
//! counting live in `upstream_exchange.rs` and `upstream.rs`; this file only shapes Anthropic requests and answers.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use super::upstream::Shared;
use super::upstream_exchange::{
    Dialect, answer_pieces, begin, error_response, last_user_text, sse_response, text_of,
    word_count, words_in_messages,
};

/// The 401 to send when a request lacks `x-api-key` or `anthropic-version`, as the real API
/// insists on both.
pub(super) fn auth_rejection(headers: &HeaderMap) -> Option<Response> {
    let missing = ["x-api-key", "anthropic-version"]
        .into_iter()
        .find(|name| !headers.contains_key(*name))?;
    let message = format!("test upstream: missing `{missing}` header");
    let status = StatusCode::UNAUTHORIZED;
    Some(error_response(Dialect::Anthropic, status, &message, None))
}

/// `GET /v1/models` as Anthropic answers it.
pub(super) fn models_list(models: &[String]) -> Value {
    let data: Vec<Value> = models
        .iter()
        .map(|id| {
            json!({"type": "model", "id": id, "display_name": id,
                   "created_at": "2024-01-01T00:00:00Z"})
        })
        .collect();
    json!({
        "data": data,
        "has_more": false,
        "first_id": models.first(),
        "last_id": models.last(),
    })
}

/// One SSE event with Anthropic's `event:` line before its `data:` line.
fn event(data: &Value) -> String {
    let name = data["type"].as_str().unwrap_or("unknown");
    format!("event: {name}\ndata: {data}\n\n")
}

pub(super) async fn messages(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    let path = "/v1/messages";
    let mut ex = match begin(&shared, Dialect::Anthropic, path, &headers, &raw).await {
        Ok(ex) => ex,
        Err(response) => return response,
    };
    let messages = &ex.body["messages"];
    let pieces = answer_pieces(&ex.knobs, &last_user_text(messages));
    let answer = pieces.concat();
    let system_words = word_count(&text_of(&ex.body["system"]));
    let input_tokens = (words_in_messages(messages) + system_words).max(1);
    let output_tokens = word_count(&answer);
    let id = format!("msg_test{}", shared.next_id());
    let model = ex.model.clone();
    if !ex.wants_stream() {
        ex.attempt.disarm();
        return Json(json!({
            "id": id, "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": answer}],
            "stop_reason": "end_turn", "stop_sequence": null,
            "usage": {
                "input_tokens": input_tokens, "output_tokens": output_tokens,
                "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
            },
        }))
        .into_response();
    }
    // The real API reports output_tokens 1 at message_start; message_delta's count is the
    // cumulative total that replaces it.
    let opening = [
        event(&json!({"type": "message_start", "message": {
            "id": id, "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": null, "stop_sequence": null,
            "usage": {
                "input_tokens": input_tokens, "output_tokens": 1,
                "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
            },
        }})),
        event(&json!({"type": "content_block_start", "index": 0,
                      "content_block": {"type": "text", "text": ""}})),
        event(&json!({"type": "ping"})),
    ];
    let mut steps = vec![opening.concat()];
    let drop_mid_stream = ex.knobs.drop_mid_stream;
    let sent = pieces
        .len()
        .min(if drop_mid_stream { 2 } else { usize::MAX });
    for piece in &pieces[..sent] {
        steps.push(event(&json!({"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": piece}})));
    }
    if !drop_mid_stream {
        let closing = [
            event(&json!({"type": "content_block_stop", "index": 0})),
            event(&json!({"type": "message_delta",
                          "delta": {"stop_reason": "end_turn", "stop_sequence": null},
                          "usage": {"output_tokens": output_tokens}})),
            event(&json!({"type": "message_stop"})),
        ];
        steps.push(closing.concat());
    }
    sse_response(steps, ex.knobs.stream_delay, drop_mid_stream, ex.attempt)
}
