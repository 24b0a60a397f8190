//! The OpenAI-compatible half of the fake upstream (`/v1/chat/completions`, `/v1/completions`,
//! `/v1/embeddings`, `/v1/models`) and Ollama's native listing routes (`/api/tags`, `/api/ps`,
//! `/`). Knobs and the answer text come from `upstream_exchange.rs`; this file only shapes
//! OpenAI requests and answers.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use super::upstream::Shared;
use super::upstream_anthropic;
use super::upstream_exchange::{
    CREATED, Dialect, answer_pieces, begin, last_user_text, sse_data, sse_response, text_of,
    word_count, words_in_messages,
};

type Upstream = State<Arc<Shared>>;

fn usage(prompt: usize, completion: usize) -> Value {
    json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion})
}

fn include_usage(body: &Value) -> bool {
    body.pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        == Some(true)
}

pub(super) async fn chat_completions(
    State(shared): Upstream,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    let path = "/v1/chat/completions";
    let mut ex = match begin(&shared, Dialect::OpenAi, path, &headers, &raw).await {
        Ok(ex) => ex,
        Err(response) => return response,
    };
    let messages = &ex.body["messages"];
    let pieces = answer_pieces(&ex.knobs, &last_user_text(messages));
    let answer = pieces.concat();
    let usage = usage(words_in_messages(messages).max(1), word_count(&answer));
    let id = format!("chatcmpl-test{}", shared.next_id());
    let model = ex.model.clone();
    if !ex.wants_stream() {
        ex.attempt.disarm();
        return Json(json!({
            "id": id, "object": "chat.completion", "created": CREATED, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer},
                         "logprobs": null, "finish_reason": "stop"}],
            "usage": usage,
        }))
        .into_response();
    }
    let chunk = |delta: Value, finish: Value| {
        sse_data(&json!({
            "id": id, "object": "chat.completion.chunk", "created": CREATED, "model": model,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        }))
    };
    let mut steps = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    let sent = pieces.len().min(if ex.knobs.drop_mid_stream {
        2
    } else {
        usize::MAX
    });
    for piece in &pieces[..sent] {
        steps.push(chunk(json!({"content": piece}), Value::Null));
    }
    if !ex.knobs.drop_mid_stream {
        let mut closing = chunk(json!({}), json!("stop"));
        if include_usage(&ex.body) {
            closing.push_str(&sse_data(&json!({
                "id": id, "object": "chat.completion.chunk", "created": CREATED, "model": model,
                "choices": [], "usage": usage,
            })));
        }
        closing.push_str("data: [DONE]\n\n");
        steps.push(closing);
    }
    sse_response(
        steps,
        ex.knobs.stream_delay,
        ex.knobs.drop_mid_stream,
        ex.attempt,
    )
}

pub(super) async fn completions(
    State(shared): Upstream,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    let path = "/v1/completions";
    let mut ex = match begin(&shared, Dialect::OpenAi, path, &headers, &raw).await {
        Ok(ex) => ex,
        Err(response) => return response,
    };
    let prompt = match &ex.body["prompt"] {
        Value::Array(parts) => parts
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" "),
        other => text_of(other),
    };
    let pieces = answer_pieces(&ex.knobs, &prompt);
    let answer = pieces.concat();
    let usage = usage(word_count(&prompt).max(1), word_count(&answer));
    let id = format!("cmpl-test{}", shared.next_id());
    let model = ex.model.clone();
    let choice = |text: &str, finish: Value| json!({"text": text, "index": 0, "logprobs": null, "finish_reason": finish});
    if !ex.wants_stream() {
        ex.attempt.disarm();
        return Json(json!({
            "id": id, "object": "text_completion", "created": CREATED, "model": model,
            "choices": [choice(&answer, json!("stop"))], "usage": usage,
        }))
        .into_response();
    }
    let chunk = |choices: Value| {
        sse_data(&json!({
            "id": id, "object": "text_completion", "created": CREATED, "model": model,
            "choices": choices,
        }))
    };
    let sent = pieces.len().min(if ex.knobs.drop_mid_stream {
        2
    } else {
        usize::MAX
    });
    let mut steps: Vec<String> = pieces[..sent]
        .iter()
        .map(|piece| chunk(json!([choice(piece, Value::Null)])))
        .collect();
    if !ex.knobs.drop_mid_stream {
        let mut closing = chunk(json!([choice("", json!("stop"))]));
        if include_usage(&ex.body) {
            closing.push_str(&sse_data(&json!({
                "id": id, "object": "text_completion", "created": CREATED, "model": model,
                "choices": [], "usage": usage,
            })));
        }
        closing.push_str("data: [DONE]\n\n");
        steps.push(closing);
    }
    sse_response(
        steps,
        ex.knobs.stream_delay,
        ex.knobs.drop_mid_stream,
        ex.attempt,
    )
}

/// 8 floats in [-1, 1) derived from `text` alone (FNV-1a seed, xorshift steps).
fn embedding_of(text: &str) -> Vec<f64> {
    let mut state = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    }) | 1;
    (0..8)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1_u64 << 52) as f64 - 1.0
        })
        .collect()
}

pub(super) async fn embeddings(
    State(shared): Upstream,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    let path = "/v1/embeddings";
    let mut ex = match begin(&shared, Dialect::OpenAi, path, &headers, &raw).await {
        Ok(ex) => ex,
        Err(response) => return response,
    };
    let as_text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_string);
    let inputs: Vec<String> = match &ex.body["input"] {
        Value::Array(items) => items.iter().map(as_text).collect(),
        other => vec![as_text(other)],
    };
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(
            |(i, text)| json!({"object": "embedding", "index": i, "embedding": embedding_of(text)}),
        )
        .collect();
    let tokens = inputs.iter().map(|t| word_count(t)).sum::<usize>().max(1);
    ex.attempt.disarm();
    Json(json!({
        "object": "list", "data": data, "model": ex.model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }))
    .into_response()
}

/// OpenAI's model list, or Anthropic's when the request carries `anthropic-version`.
pub(super) async fn models(State(shared): Upstream, headers: HeaderMap) -> Json<Value> {
    shared.record_get("/v1/models");
    if headers.contains_key("anthropic-version") {
        return Json(upstream_anthropic::models_list(shared.models()));
    }
    let data: Vec<Value> = shared
        .models()
        .iter()
        .map(|id| json!({"id": id, "object": "model", "created": 0, "owned_by": "test"}))
        .collect();
    Json(json!({"object": "list", "data": data}))
}

pub(super) async fn ollama_tags(State(shared): Upstream) -> Json<Value> {
    shared.record_get("/api/tags");
    let models: Vec<Value> = shared
        .models()
        .iter()
        .map(|name| {
            json!({"name": name, "model": name, "modified_at": "2024-01-01T00:00:00Z",
                   "size": 1, "digest": "x", "details": {}})
        })
        .collect();
    Json(json!({"models": models}))
}

pub(super) async fn ollama_ps(State(shared): Upstream) -> Json<Value> {
    shared.record_get("/api/ps");
    Json(json!({"models": []}))
}

pub(super) async fn ollama_root(State(shared): Upstream) -> &'static str {
    shared.record_get("/");
    "Ollama is running"
}
