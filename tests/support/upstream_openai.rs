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
    CREATED, Dialect, Knobs, MID_STREAM_ERROR, begin, canned_usage, sse_data, sse_response,
};
use super::upstream_script::{Plan, Reply, answer_pieces, fragments, text_of, word_count};

type Upstream = State<Arc<Shared>>;

fn usage(prompt: usize, completion: usize) -> Value {
    json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion})
}

/// Chat usage: `cached_N` adds N to `prompt_tokens` and reports them in
/// `prompt_tokens_details`; reasoning is reported in `completion_tokens_details`.
fn chat_usage(plan: &Plan, knobs: &Knobs) -> Value {
    if let Some(canned) = knobs.usage.as_deref().and_then(canned_usage) {
        return canned;
    }
    let cached = knobs.cached.unwrap_or(0);
    let mut usage = usage(plan.prompt_tokens + cached, plan.output_tokens);
    if knobs.cached.is_some() {
        usage["prompt_tokens_details"] = json!({"cached_tokens": cached});
    }
    if plan.thinking.is_some() {
        usage["completion_tokens_details"] = json!({"reasoning_tokens": plan.reasoning_tokens});
    }
    usage
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
    let plan = Plan::new(Dialect::OpenAi, &ex.body, &ex.knobs);
    let usage = chat_usage(&plan, &ex.knobs);
    let n = shared.next_id();
    let id = format!("chatcmpl-test{n}");
    let model = ex.model.clone();
    let call_id = |i: usize| format!("call_{n}_{i}");
    let finish = if plan.tool_calls().is_empty() {
        "stop"
    } else {
        "tool_calls"
    };
    if !ex.wants_stream() {
        ex.attempt.disarm();
        let mut message = json!({"role": "assistant", "content": plan.text()});
        if let Some(thinking) = &plan.thinking {
            message["reasoning_content"] = json!(thinking);
        }
        if !plan.tool_calls().is_empty() {
            let calls: Vec<Value> = plan
                .tool_calls()
                .iter()
                .enumerate()
                .map(|(i, call)| {
                    json!({"id": call_id(i), "type": "function",
                           "function": {"name": call.name, "arguments": call.arguments}})
                })
                .collect();
            message["tool_calls"] = json!(calls);
        }
        let mut answer = json!({
            "id": id, "object": "chat.completion", "created": CREATED, "model": model,
            "choices": [{"index": 0, "message": message, "logprobs": null,
                         "finish_reason": finish}],
            "usage": usage,
        });
        if ex.knobs.no_usage {
            answer.as_object_mut().unwrap().remove("usage");
        }
        return Json(answer).into_response();
    }
    // As OpenAI does: with `include_usage`, every chunk but the last carries `"usage": null`.
    let usage_null = include_usage(&ex.body) && !ex.knobs.no_usage;
    let chunk = |delta: Value, finish: Value| {
        let mut c = json!({
            "id": id, "object": "chat.completion.chunk", "created": CREATED, "model": model,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        });
        if usage_null {
            c["usage"] = Value::Null;
        }
        sse_data(&c)
    };
    let mut deltas = Vec::new();
    if let Some(thinking) = &plan.thinking {
        for fragment in fragments(thinking, 2) {
            deltas.push(json!({"reasoning_content": fragment}));
        }
    }
    match &plan.reply {
        Reply::Text(pieces) => deltas.extend(pieces.iter().map(|p| json!({"content": p}))),
        Reply::ToolCalls(calls) => {
            for (i, call) in calls.iter().enumerate() {
                deltas.push(
                    json!({"tool_calls": [{"index": i, "id": call_id(i), "type": "function",
                    "function": {"name": call.name, "arguments": ""}}]}),
                );
                for fragment in fragments(&call.arguments, 3) {
                    deltas.push(json!({"tool_calls": [{"index": i,
                        "function": {"arguments": fragment}}]}));
                }
            }
        }
    }
    let mut steps = Vec::new();
    match deltas.first_mut() {
        // Reasoning or tool calls: the first delta names the role, as OpenAI sends tool calls.
        Some(first) if plan.thinking.is_some() || !plan.tool_calls().is_empty() => {
            let mut merged = json!({"role": "assistant", "content": null});
            for (key, value) in first.as_object().into_iter().flatten() {
                merged[key] = value.clone();
            }
            *first = merged;
        }
        _ => steps.push(chunk(
            json!({"role": "assistant", "content": ""}),
            Value::Null,
        )),
    }
    let knobs = &ex.knobs;
    deltas.truncate(knobs.deltas_limit());
    steps.extend(deltas.into_iter().map(|delta| chunk(delta, Value::Null)));
    if knobs.error_mid_stream {
        steps.push(sse_data(&json!({"error": {"message": MID_STREAM_ERROR,
            "type": "server_error", "param": null, "code": null}})));
    } else if !knobs.drop_mid_stream {
        let mut closing = chunk(json!({}), json!(finish));
        if include_usage(&ex.body) && !knobs.no_usage {
            closing.push_str(&sse_data(&json!({
                "id": id, "object": "chat.completion.chunk", "created": CREATED, "model": model,
                "choices": [], "usage": usage,
            })));
        }
        closing.push_str("data: [DONE]\n\n");
        steps.push(closing);
    }
    sse_response(steps, knobs.stream_delay, knobs.drop_mid_stream, ex.attempt)
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
    let sent = pieces.len().min(ex.knobs.deltas_limit());
    let mut steps: Vec<String> = pieces[..sent]
        .iter()
        .map(|piece| chunk(json!([choice(piece, Value::Null)])))
        .collect();
    if ex.knobs.error_mid_stream {
        steps.push(sse_data(&json!({"error": {"message": MID_STREAM_ERROR,
            "type": "server_error", "param": null, "code": null}})));
    } else if !ex.knobs.drop_mid_stream {
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
pub(super) async fn models(State(shared): Upstream, headers: HeaderMap) -> Response {
    shared.record_get("/v1/models");
    if let Some(r) = shared.listing_fault().await {
        return r;
    }
    if headers.contains_key("anthropic-version") {
        return Json(upstream_anthropic::models_list(shared.models())).into_response();
    }
    let data: Vec<Value> = shared
        .models()
        .iter()
        .map(|id| {
            let mut m = json!({"id": id, "object": "model", "created": 0, "owned_by": "test"});
            if let Some(n) = ctx_of(id) {
                // As vLLM lists it.
                m["max_model_len"] = json!(n);
            }
            m
        })
        .collect();
    Json(json!({"object": "list", "data": data})).into_response()
}

pub(super) async fn ollama_tags(State(shared): Upstream) -> Response {
    shared.record_get("/api/tags");
    if let Some(r) = shared.listing_fault().await {
        return r;
    }
    let models: Vec<Value> = shared
        .models()
        .iter()
        .map(|name| {
            json!({"name": name, "model": name, "modified_at": "2024-01-01T00:00:00Z",
                   "size": 1, "digest": "x", "details": {}})
        })
        .collect();
    Json(json!({"models": models})).into_response()
}

/// Ollama's `/api/generate`, only as far as unloading goes (`keep_alive: 0`, no prompt).
pub(super) async fn ollama_generate(State(shared): Upstream, body: Bytes) -> Response {
    shared.record_get("/api/generate");
    let v: Value = serde_json::from_slice(&body).unwrap_or_default();
    let model = v["model"].as_str().unwrap_or_default().to_string();
    if v["keep_alive"] != 0 || !shared.models().contains(&model) {
        let msg = format!("test upstream: /api/generate only unloads listed models (got {v})");
        return (
            axum::http::StatusCode::BAD_REQUEST,
            Json(json!({"error": msg})),
        )
            .into_response();
    }
    shared.unloaded.lock().unwrap().push(model.clone());
    Json(
        json!({"model": model, "created_at": "2024-01-01T00:00:00Z", "response": "",
                "done": true, "done_reason": "unload"}),
    )
    .into_response()
}

/// Every listed model reported as loaded, 1 GiB of VRAM each (as Ollama's `/api/ps` says),
/// except those unloaded since.
pub(super) async fn ollama_ps(State(shared): Upstream) -> Json<Value> {
    shared.record_get("/api/ps");
    let unloaded = shared.unloaded.lock().unwrap().clone();
    let models: Vec<Value> = shared
        .models()
        .iter()
        .filter(|m| !unloaded.contains(m))
        .map(|name| {
            let mut m = json!({"name": name, "model": name, "size": 1u64 << 31,
                "size_vram": 1u64 << 30, "expires_at": "2099-01-01T00:00:00Z", "digest": "x",
                "details": {}});
            if let Some(n) = ctx_of(name) {
                m["context_length"] = json!(n);
            }
            m
        })
        .collect();
    Json(json!({"models": models}))
}

pub(super) async fn ollama_root(State(shared): Upstream) -> &'static str {
    shared.record_get("/");
    "Ollama is running"
}

/// A model named with a `ctx_N` token has a context window of N tokens (listed as vLLM does,
/// `max_model_len`, and in Ollama's `/api/ps` as `context_length`).
fn ctx_of(model: &str) -> Option<u64> {
    model
        .split('+')
        .find_map(|t| t.strip_prefix("ctx_"))
        .and_then(|n| n.parse().ok())
}
