//! Hub → Responses answers: the response object, its output items, usage and error bodies.

use serde_json::{Value, json};

use crate::translate::{Block, Reply, StopReason, ToolGroups, Usage};

pub(super) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The id a Responses client sees: the upstream's, prefixed as OpenAI's are.
pub(super) fn resp_id(id: &str) -> String {
    if id.starts_with("resp_") {
        id.to_string()
    } else {
        format!("resp_{}", id.trim_start_matches("chatcmpl-"))
    }
}

pub(super) fn usage_json(u: &Usage) -> Value {
    json!({
        "input_tokens": u.input_tokens,
        "input_tokens_details": {"cached_tokens": u.cache_read_tokens},
        "output_tokens": u.output_tokens,
        "output_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
        "total_tokens": u.input_tokens.saturating_add(u.output_tokens),
    })
}

pub(super) fn message_item(id: &str, text: &str, status: &str) -> Value {
    json!({"type": "message", "id": id, "status": status, "role": "assistant",
           "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]})
}

pub(super) fn reasoning_item(id: &str, text: &str) -> Value {
    json!({"type": "reasoning", "id": id,
           "summary": [{"type": "summary_text", "text": text}]})
}

/// A `function_call` item; `flat` is the hub's tool name, given back as the client declared it
/// (`name` and, for a namespace's tool, `namespace`).
pub(super) fn call_item(
    id: &str,
    call_id: &str,
    flat: &str,
    arguments: &str,
    status: &str,
    groups: &ToolGroups,
) -> Value {
    let (name, namespace) = groups.split(flat);
    let mut v = json!({"type": "function_call", "id": id, "call_id": call_id, "name": name,
                       "arguments": arguments, "status": status});
    if let (Some(ns), Some(o)) = (namespace, v.as_object_mut()) {
        o.insert("namespace".into(), ns.into());
    }
    v
}

/// `status` and `incomplete_details` for how the answer ended.
pub(super) fn ending(stop: &StopReason) -> (&'static str, Value) {
    match stop {
        StopReason::MaxTokens => ("incomplete", json!({"reason": "max_output_tokens"})),
        StopReason::Refusal => ("incomplete", json!({"reason": "content_filter"})),
        _ => ("completed", Value::Null),
    }
}

/// An answer that was cut (`max_output_tokens`, content filter) ends in an item that was cut
/// too: its `status` is `incomplete`, as OpenAI reports it (reasoning items carry no status).
pub(super) fn mark_cut(item: Option<&mut Value>) {
    if let Some(Value::Object(o)) = item
        && o.contains_key("status")
    {
        o.insert("status".into(), "incomplete".into());
    }
}

/// The response object around `output`.
pub(super) fn response_json(
    id: &str,
    model: &str,
    created_at: u64,
    status: &str,
    incomplete: Value,
    output: Vec<Value>,
    usage: Option<&Usage>,
) -> Value {
    json!({
        "id": id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "error": null,
        "incomplete_details": incomplete,
        "instructions": null,
        "metadata": {},
        "model": model,
        "output": output,
        "parallel_tool_calls": true,
        "tool_choice": "auto",
        "tools": [],
        "usage": usage.map(usage_json),
    })
}

/// A complete Responses answer for a hub reply, serialized.
pub(crate) fn build_reply(reply: &Reply, groups: &ToolGroups) -> String {
    let id = resp_id(&reply.id);
    let bare = id.trim_start_matches("resp_");
    let mut output = Vec::new();
    let mut text = String::new();
    for (n, b) in reply.content.iter().enumerate() {
        match b {
            Block::Thinking { text: t, .. } => {
                output.push(reasoning_item(&format!("rs_{bare}_{n}"), t));
            }
            Block::Text(t) => text.push_str(t),
            Block::ToolCall {
                id: call_id,
                name,
                arguments,
            } => {
                // The message comes before the calls, as OpenAI orders them.
                if !text.is_empty() {
                    output.push(message_item(&format!("msg_{bare}_{n}"), &text, "completed"));
                    text.clear();
                }
                output.push(call_item(
                    &format!("fc_{bare}_{n}"),
                    call_id,
                    name,
                    arguments,
                    "completed",
                    groups,
                ));
            }
            _ => {}
        }
    }
    if !text.is_empty() {
        output.push(message_item(&format!("msg_{bare}"), &text, "completed"));
    }
    let (status, incomplete) = ending(&reply.stop);
    if status == "incomplete" {
        mark_cut(output.last_mut());
    }
    response_json(
        &id,
        &reply.model,
        now_secs(),
        status,
        incomplete,
        output,
        Some(&reply.usage),
    )
    .to_string()
}

/// A Responses (OpenAI) error body for an error of `status`.
pub(crate) fn error_body(status: u16, message: &str) -> Value {
    crate::translate::chat::error_body(status, message)
}
