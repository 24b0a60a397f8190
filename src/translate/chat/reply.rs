//! Complete Chat Completions answers and error bodies ⇄ hub.

use serde_json::{Map, Value, json};

use super::str_of;
use crate::translate::{Block, Reply, StopReason, Usage};

pub(super) fn stop_reason(s: Option<&str>) -> StopReason {
    match s {
        Some("stop") | None => StopReason::EndTurn,
        Some("length") => StopReason::MaxTokens,
        Some("tool_calls" | "function_call") => StopReason::ToolUse,
        Some("content_filter") => StopReason::Refusal,
        Some(other) => StopReason::Other(other.to_string()),
    }
}

pub(super) fn finish_reason(stop: &StopReason) -> &str {
    match stop {
        StopReason::EndTurn | StopReason::StopSequence => "stop",
        StopReason::MaxTokens => "length",
        StopReason::ToolUse => "tool_calls",
        StopReason::Refusal => "content_filter",
        StopReason::Other(s) => s.as_str(),
    }
}

/// OpenAI usage → hub usage (`prompt_tokens` already includes cached tokens).
pub(super) fn parse_usage(u: &Value) -> Usage {
    let n = |p: &str| u.pointer(p).and_then(Value::as_u64).unwrap_or(0);
    Usage {
        input_tokens: n("/prompt_tokens"),
        output_tokens: n("/completion_tokens"),
        cache_read_tokens: n("/prompt_tokens_details/cached_tokens"),
        cache_write_tokens: 0,
        cache_write_1h_tokens: 0,
        reasoning_tokens: n("/completion_tokens_details/reasoning_tokens"),
    }
}

pub(super) fn usage_json(u: &Usage) -> Value {
    json!({
        "prompt_tokens": u.input_tokens,
        "completion_tokens": u.output_tokens,
        "total_tokens": u.input_tokens.saturating_add(u.output_tokens),
        "prompt_tokens_details": { "cached_tokens": u.cache_read_tokens },
        "completion_tokens_details": { "reasoning_tokens": u.reasoning_tokens },
    })
}

/// A complete Chat Completions response → hub reply: the typed reader, else the tree reader for
/// shapes it does not know.
pub(crate) fn parse_reply(bytes: &[u8]) -> Option<Reply> {
    super::typed::parse_reply(bytes).or_else(|| {
        let v: Value = serde_json::from_slice(bytes).ok()?;
        parse_reply_tree(&v)
    })
}

fn parse_reply_tree(v: &Value) -> Option<Reply> {
    let choice = v.get("choices")?.as_array()?.first()?;
    let m = choice.get("message")?;
    let mut content = Vec::new();
    if let Some(blocks) = m.get("thinking_blocks").and_then(Value::as_array) {
        for b in blocks {
            content.push(match str_of(b, "type") {
                Some("redacted_thinking") => Block::RedactedThinking {
                    data: str_of(b, "data").unwrap_or_default().to_string(),
                },
                _ => Block::Thinking {
                    text: str_of(b, "thinking").unwrap_or_default().to_string(),
                    signature: str_of(b, "signature").map(String::from),
                },
            });
        }
    } else if let Some(r) = str_of(m, "reasoning_content").or_else(|| str_of(m, "reasoning"))
        && !r.is_empty()
    {
        content.push(Block::Thinking {
            text: r.to_string(),
            signature: None,
        });
    }
    let refusal = str_of(m, "refusal").filter(|r| !r.is_empty());
    if let Some(t) = str_of(m, "content").filter(|t| !t.is_empty()).or(refusal) {
        content.push(Block::Text(t.to_string()));
    }
    for c in m
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let f = c.get("function").unwrap_or(&Value::Null);
        content.push(Block::ToolCall {
            id: str_of(c, "id").unwrap_or_default().to_string(),
            name: str_of(f, "name").unwrap_or_default().to_string(),
            arguments: match f.get("arguments") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            },
        });
    }
    let mut stop = stop_reason(str_of(choice, "finish_reason"));
    if refusal.is_some() {
        stop = StopReason::Refusal;
    }
    Some(Reply {
        id: str_of(v, "id").unwrap_or_default().to_string(),
        model: str_of(v, "model").unwrap_or_default().to_string(),
        content,
        stop,
        stop_sequence: None,
        usage: v.get("usage").map(parse_usage).unwrap_or_default(),
    })
}

/// The id a chat client sees: the upstream's, prefixed as OpenAI's are.
pub(super) fn chat_id(id: &str) -> String {
    if id.starts_with("chatcmpl") {
        id.to_string()
    } else {
        format!("chatcmpl-{id}")
    }
}

pub(super) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The thinking blocks of a reply in LiteLLM's `thinking_blocks` form (signatures kept).
pub(super) fn thinking_blocks(blocks: &[Block]) -> Vec<Value> {
    blocks
        .iter()
        .filter_map(|b| match b {
            Block::Thinking { text, signature } => {
                let mut o = Map::new();
                o.insert("type".into(), "thinking".into());
                o.insert("thinking".into(), text.clone().into());
                if let Some(s) = signature {
                    o.insert("signature".into(), s.clone().into());
                }
                Some(Value::Object(o))
            }
            Block::RedactedThinking { data } => {
                Some(json!({"type": "redacted_thinking", "data": data}))
            }
            _ => None,
        })
        .collect()
}

/// A complete Chat Completions response for a hub reply, serialized.
pub(crate) fn build_reply(reply: &Reply) -> String {
    build_reply_tree(reply).to_string()
}

fn build_reply_tree(reply: &Reply) -> Value {
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut calls = Vec::new();
    for b in &reply.content {
        match b {
            Block::Text(t) => text.push_str(t),
            Block::Thinking { text: t, .. } => reasoning.push_str(t),
            Block::ToolCall {
                id,
                name,
                arguments,
            } => calls.push(json!({
                "id": id, "type": "function",
                "function": {"name": name, "arguments": arguments},
            })),
            _ => {}
        }
    }
    let mut message = Map::new();
    message.insert("role".into(), "assistant".into());
    message.insert(
        "content".into(),
        if text.is_empty() && !calls.is_empty() {
            Value::Null
        } else {
            text.into()
        },
    );
    let thinking = thinking_blocks(&reply.content);
    if !thinking.is_empty() {
        message.insert("reasoning_content".into(), reasoning.into());
        message.insert("thinking_blocks".into(), thinking.into());
    }
    if !calls.is_empty() {
        message.insert("tool_calls".into(), calls.into());
    }
    json!({
        "id": chat_id(&reply.id),
        "object": "chat.completion",
        "created": now_secs(),
        "model": reply.model,
        "choices": [{
            "index": 0,
            "message": message,
            "logprobs": null,
            "finish_reason": finish_reason(&reply.stop),
        }],
        "usage": usage_json(&reply.usage),
    })
}

/// An OpenAI error body for an upstream error of `status` (the SDKs type it by status).
pub(crate) fn error_body(status: u16, message: &str) -> Value {
    let kind = match status {
        400 | 404 | 413 | 422 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        429 => "rate_limit_error",
        _ => "server_error",
    };
    json!({"error": {"message": message, "type": kind, "param": null, "code": null}})
}
