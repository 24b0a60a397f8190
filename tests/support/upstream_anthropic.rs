//! The Anthropic half of the fake upstream: `POST /v1/messages` (JSON and SSE), `POST
//! /v1/messages/count_tokens` and the Anthropic model list, in Anthropic's exact wire shapes. Knobs, recording and stream
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
use super::upstream_exchange::{Dialect, MID_STREAM_ERROR, begin, error_response, sse_response};
use super::upstream_script::{Plan, Reply, ToolCall, fragments, prompt_words, signature};

/// The 401 to send when a request lacks `x-api-key` or `anthropic-version`, as the real API
/// insists on both; with `key_optional` only `anthropic-version` is required.
pub(super) fn auth_rejection(headers: &HeaderMap, key_optional: bool) -> Option<Response> {
    let required: &[&str] = if key_optional {
        &["anthropic-version"]
    } else {
        &["x-api-key", "anthropic-version"]
    };
    let missing = required.iter().find(|name| !headers.contains_key(**name))?;
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
    let plan = Plan::new(Dialect::Anthropic, &ex.body, &ex.knobs);
    let n = shared.next_id();
    let id = format!("msg_test{n}");
    let model = ex.model.clone();
    let blocks = blocks(&plan, n);
    let stop_reason = if plan.tool_calls().is_empty() {
        "end_turn"
    } else {
        "tool_use"
    };
    let cached = ex.knobs.cached.unwrap_or(0);
    let canned = ex
        .knobs
        .usage
        .as_deref()
        .and_then(super::upstream_exchange::canned_usage);
    let output_tokens_total = if canned.is_some() {
        42
    } else {
        plan.output_tokens
    };
    let usage = |output_tokens: usize| {
        if let Some(c) = &canned {
            let mut c = c.clone();
            c["output_tokens"] = json!(output_tokens);
            return c;
        }
        json!({
            "input_tokens": plan.prompt_tokens, "output_tokens": output_tokens,
            "cache_creation_input_tokens": 0, "cache_read_input_tokens": cached,
        })
    };
    if !ex.wants_stream() {
        ex.attempt.disarm();
        let content: Vec<Value> = blocks.iter().map(Block::whole).collect();
        return Json(json!({
            "id": id, "type": "message", "role": "assistant", "model": model,
            "content": content, "stop_reason": stop_reason, "stop_sequence": null,
            "usage": usage(output_tokens_total),
        }))
        .into_response();
    }
    // The real API reports output_tokens 1 at message_start; message_delta's count is the
    // cumulative total that replaces it.
    let mut steps = vec![
        [
            event(&json!({"type": "message_start", "message": {
                "id": id, "type": "message", "role": "assistant", "model": model, "content": [],
                "stop_reason": null, "stop_sequence": null, "usage": usage(1),
            }})),
            event(&blocks[0].start(0)),
            event(&json!({"type": "ping"})),
        ]
        .concat(),
    ];
    // Block stops and later starts ride with the next delta; each delta is one step.
    let knobs = &ex.knobs;
    let mut pending = String::new();
    let mut sent = 0;
    'blocks: for (index, block) in blocks.iter().enumerate() {
        if index > 0 {
            pending.push_str(&event(&block.start(index)));
        }
        for delta in block.deltas() {
            if sent == knobs.deltas_limit() {
                break 'blocks;
            }
            sent += 1;
            pending.push_str(&event(
                &json!({"type": "content_block_delta", "index": index, "delta": delta}),
            ));
            steps.push(std::mem::take(&mut pending));
        }
        pending.push_str(&event(
            &json!({"type": "content_block_stop", "index": index}),
        ));
    }
    if knobs.error_mid_stream {
        steps.push(event(&json!({"type": "error",
            "error": {"type": "overloaded_error", "message": MID_STREAM_ERROR}})));
    } else if !knobs.drop_mid_stream {
        pending.push_str(&event(&json!({"type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": null},
            "usage": {"output_tokens": output_tokens_total}})));
        pending.push_str(&event(&json!({"type": "message_stop"})));
        steps.push(pending);
    }
    sse_response(steps, knobs.stream_delay, knobs.drop_mid_stream, ex.attempt)
}

/// `POST /v1/messages/count_tokens`: the `input_tokens` `/v1/messages` would report.
pub(super) async fn count_tokens(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    let path = "/v1/messages/count_tokens";
    let mut ex = match begin(&shared, Dialect::Anthropic, path, &headers, &raw).await {
        Ok(ex) => ex,
        Err(response) => return response,
    };
    ex.attempt.disarm();
    let input_tokens = prompt_words(Dialect::Anthropic, &ex.body);
    Json(json!({"input_tokens": input_tokens})).into_response()
}

/// One content block of the answer.
enum Block {
    Thinking { thinking: String, signature: String },
    Text(Vec<String>),
    ToolUse { id: String, call: ToolCall },
}

/// The answer's content blocks: thinking first (`think`), then the text or the tool uses.
fn blocks(plan: &Plan, n: u64) -> Vec<Block> {
    let mut blocks = Vec::new();
    if let Some(thinking) = &plan.thinking {
        blocks.push(Block::Thinking {
            thinking: thinking.clone(),
            signature: signature(n, thinking),
        });
    }
    match &plan.reply {
        Reply::Text(pieces) => blocks.push(Block::Text(pieces.clone())),
        Reply::ToolCalls(calls) => {
            blocks.extend(calls.iter().enumerate().map(|(i, call)| Block::ToolUse {
                id: format!("toolu_{n}_{i}"),
                call: call.clone(),
            }))
        }
    }
    blocks
}

impl Block {
    /// The block in a non-streamed message's `content`.
    fn whole(&self) -> Value {
        match self {
            Block::Thinking {
                thinking,
                signature,
            } => json!({"type": "thinking", "thinking": thinking, "signature": signature}),
            Block::Text(pieces) => json!({"type": "text", "text": pieces.concat()}),
            Block::ToolUse { id, call } => {
                json!({"type": "tool_use", "id": id, "name": call.name, "input": call.input})
            }
        }
    }

    /// Its `content_block_start` event.
    fn start(&self, index: usize) -> Value {
        let block = match self {
            Block::Thinking { .. } => json!({"type": "thinking", "thinking": "", "signature": ""}),
            Block::Text(_) => json!({"type": "text", "text": ""}),
            Block::ToolUse { id, call } => {
                json!({"type": "tool_use", "id": id, "name": call.name, "input": {}})
            }
        };
        json!({"type": "content_block_start", "index": index, "content_block": block})
    }

    /// The `delta`s of its `content_block_delta` events.
    fn deltas(&self) -> Vec<Value> {
        match self {
            Block::Thinking {
                thinking,
                signature,
            } => {
                let mut deltas: Vec<Value> = fragments(thinking, 2)
                    .into_iter()
                    .map(|t| json!({"type": "thinking_delta", "thinking": t}))
                    .collect();
                deltas.push(json!({"type": "signature_delta", "signature": signature}));
                deltas
            }
            Block::Text(pieces) => pieces
                .iter()
                .map(|p| json!({"type": "text_delta", "text": p}))
                .collect(),
            Block::ToolUse { call, .. } => fragments(&call.arguments, 3)
                .into_iter()
                .map(|f| json!({"type": "input_json_delta", "partial_json": f}))
                .collect(),
        }
    }
}
