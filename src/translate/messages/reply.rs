//! Complete Messages answers, usage and error bodies ⇄ hub.

use serde_json::{Value, json};

use super::str_of;
use crate::translate::{Reply, StopReason, Usage, anthropic_error_type};

pub(super) fn stop_reason(s: Option<&str>) -> StopReason {
    match s {
        Some("end_turn") | None => StopReason::EndTurn,
        Some("max_tokens") => StopReason::MaxTokens,
        Some("stop_sequence") => StopReason::StopSequence,
        Some("tool_use") => StopReason::ToolUse,
        Some("refusal") => StopReason::Refusal,
        Some(other) => StopReason::Other(other.to_string()),
    }
}

pub(super) fn stop_reason_str(stop: &StopReason) -> &str {
    match stop {
        StopReason::EndTurn => "end_turn",
        StopReason::MaxTokens => "max_tokens",
        StopReason::StopSequence => "stop_sequence",
        StopReason::ToolUse => "tool_use",
        StopReason::Refusal => "refusal",
        StopReason::Other(s) => s.as_str(),
    }
}

/// Anthropic's `input_tokens` excludes cache reads and writes; the hub's includes them.
/// Fields absent from `u` leave `into` as it was (`message_delta` repeats only some).
pub(super) fn merge_usage(into: &mut Usage, u: &Value) {
    let n = |k: &str| u.get(k).and_then(Value::as_u64);
    let cache_read = n("cache_read_input_tokens");
    let cache_write = n("cache_creation_input_tokens");
    if let Some(v) = cache_read {
        into.cache_read_tokens = v;
    }
    if let Some(v) = cache_write {
        into.cache_write_tokens = v;
    }
    if let Some(v) = u
        .pointer("/cache_creation/ephemeral_1h_input_tokens")
        .and_then(Value::as_u64)
    {
        into.cache_write_1h_tokens = v;
    }
    if let Some(input) = n("input_tokens") {
        into.input_tokens = input
            .saturating_add(into.cache_read_tokens)
            .saturating_add(into.cache_write_tokens);
    }
    if let Some(v) = n("output_tokens") {
        into.output_tokens = v;
    }
}

/// Hub usage in Anthropic's shape (`input_tokens` without the cached parts).
pub(super) fn usage_json(u: &Usage) -> Value {
    let uncached = u
        .input_tokens
        .saturating_sub(u.cache_read_tokens)
        .saturating_sub(u.cache_write_tokens);
    json!({
        "input_tokens": uncached,
        "output_tokens": u.output_tokens,
        "cache_creation_input_tokens": u.cache_write_tokens,
        "cache_read_input_tokens": u.cache_read_tokens,
    })
}

/// A complete Messages API response → hub reply.
pub(crate) fn parse_reply(bytes: &[u8]) -> Option<Reply> {
    let v: Value = serde_json::from_slice(bytes).ok()?;
    let v = &v;
    // Server tool blocks run on Anthropic's side; a chat client has nothing to do with them.
    let content = v
        .get("content")?
        .as_array()?
        .iter()
        .filter_map(super::answer_block)
        .collect();
    let mut usage = Usage::default();
    if let Some(u) = v.get("usage") {
        merge_usage(&mut usage, u);
    }
    Some(Reply {
        id: str_of(v, "id")?.to_string(),
        model: str_of(v, "model").unwrap_or_default().to_string(),
        content,
        stop: stop_reason(str_of(v, "stop_reason")),
        stop_sequence: str_of(v, "stop_sequence").map(String::from),
        usage,
    })
}

/// The id an Anthropic client sees: the upstream's, prefixed as Anthropic's are.
pub(super) fn msg_id(id: &str) -> String {
    if id.starts_with("msg_") {
        id.to_string()
    } else {
        format!("msg_{id}")
    }
}

/// An Anthropic error body for an error of `status`.
pub(crate) fn error_body(status: u16, message: &str) -> Value {
    json!({"type": "error", "error": {"type": anthropic_error_type(status), "message": message}})
}
