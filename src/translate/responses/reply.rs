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

/// A `custom_tool_call` item (a call of a free-text `custom` tool).
pub(super) fn custom_item(id: &str, call_id: &str, name: &str, input: &str, status: &str) -> Value {
    json!({"type": "custom_tool_call", "id": id, "call_id": call_id, "name": name,
           "input": input, "status": status})
}

/// A free-text tool's input from the arguments a target produced for it (`{"input": …}`); a
/// model that wrote something else gets it passed on as it is.
pub(super) fn freeform_input(arguments: &str) -> String {
    match serde_json::from_str::<Value>(arguments) {
        Ok(Value::Object(o)) if o.len() == 1 && o.get("input").is_some_and(Value::is_string) => {
            o["input"].as_str().unwrap_or_default().to_string()
        }
        _ => arguments.to_string(),
    }
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
/// What every response object of one answer shares.
pub(super) struct Head<'a> {
    pub id: &'a str,
    pub model: &'a str,
    pub created_at: u64,
    /// The request's settings, repeated.
    pub echo: &'a serde_json::Map<String, Value>,
}

pub(super) fn response_json(
    head: Head<'_>,
    status: &str,
    incomplete: Value,
    output: Vec<Value>,
    usage: Option<&Usage>,
) -> Value {
    let Head {
        id,
        model,
        created_at,
        echo,
    } = head;
    let mut r = json!({
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
    });
    if let Some(o) = r.as_object_mut() {
        for (k, v) in echo {
            o.insert(k.clone(), v.clone());
        }
    }
    r
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
                output.push(if groups.is_freeform(name) {
                    custom_item(
                        &format!("ctc_{bare}_{n}"),
                        call_id,
                        name,
                        &freeform_input(arguments),
                        "completed",
                    )
                } else {
                    call_item(
                        &format!("fc_{bare}_{n}"),
                        call_id,
                        name,
                        arguments,
                        "completed",
                        groups,
                    )
                });
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
        Head {
            id: &id,
            model: &reply.model,
            created_at: now_secs(),
            echo: &groups.echo,
        },
        status,
        incomplete,
        output,
        Some(&reply.usage),
    )
    .to_string()
}

/// A response object (one Lodestar wrote, e.g. a cached answer) back into the hub: its
/// reasoning summaries, text, function and custom tool calls, stop and usage. `None` when the
/// body is not a completed response object.
pub(crate) fn parse_reply(body: &[u8]) -> Option<Reply> {
    let v: Value = serde_json::from_slice(body).ok()?;
    if v["object"] != "response" {
        return None;
    }
    let mut content = Vec::new();
    for item in v["output"].as_array()? {
        let s = |k: &str| item[k].as_str().unwrap_or_default().to_string();
        match item["type"].as_str() {
            Some("reasoning") => {
                let text: Vec<&str> = item["summary"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p["text"].as_str())
                    .collect();
                content.push(Block::Thinking {
                    text: text.join("\n\n"),
                    signature: None,
                });
            }
            Some("message") => {
                let text: String = item["content"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p["text"].as_str())
                    .collect();
                content.push(Block::Text(text));
            }
            Some("function_call") => {
                let name = match item["namespace"].as_str() {
                    Some(ns) => format!("{ns}{}{}", super::NAMESPACE_SEP, s("name")),
                    None => s("name"),
                };
                content.push(Block::ToolCall {
                    id: s("call_id"),
                    name,
                    arguments: s("arguments"),
                });
            }
            Some("custom_tool_call") => content.push(Block::ToolCall {
                id: s("call_id"),
                name: s("name"),
                arguments: json!({ "input": s("input") }).to_string(),
            }),
            _ => {}
        }
    }
    let u = &v["usage"];
    let n = |p: &str| u.pointer(p).and_then(Value::as_u64).unwrap_or(0);
    let calls = content.iter().any(|b| matches!(b, Block::ToolCall { .. }));
    let stop = match (
        v["status"].as_str(),
        v["incomplete_details"]["reason"].as_str(),
    ) {
        (Some("incomplete"), Some("max_output_tokens")) => StopReason::MaxTokens,
        (Some("incomplete"), Some("content_filter")) => StopReason::Refusal,
        _ if calls => StopReason::ToolUse,
        _ => StopReason::EndTurn,
    };
    Some(Reply {
        id: v["id"].as_str()?.to_string(),
        model: v["model"].as_str().unwrap_or_default().to_string(),
        content,
        stop,
        stop_sequence: None,
        usage: Usage {
            input_tokens: n("/input_tokens"),
            output_tokens: n("/output_tokens"),
            cache_read_tokens: n("/input_tokens_details/cached_tokens"),
            reasoning_tokens: n("/output_tokens_details/reasoning_tokens"),
            ..Usage::default()
        },
    })
}

/// A Responses (OpenAI) error body for an error of `status`.
pub(crate) fn error_body(status: u16, message: &str) -> Value {
    crate::translate::chat::error_body(status, message)
}
