//! Anthropic Messages ⇄ hub.

use serde_json::{Map, Value, json};

use super::sse::SseEvent;
use super::{Block, Conversation, Reply, Role, StopReason, StreamEvent, Usage};

/// A Messages API request body for `conv`, asking `model`.
pub(crate) fn request_json(conv: &Conversation, model: &str, default_max_tokens: u32) -> Value {
    let messages: Vec<Value> = conv
        .messages
        .iter()
        .map(|m| {
            let content: Vec<Value> = m
                .content
                .iter()
                .map(|b| match b {
                    Block::Text(t) => json!({"type": "text", "text": t}),
                })
                .collect();
            json!({
                "role": match m.role { Role::User => "user", Role::Assistant => "assistant" },
                "content": content,
            })
        })
        .collect();
    let mut body = Map::new();
    body.insert("model".into(), model.into());
    body.insert("messages".into(), messages.into());
    if !conv.system.is_empty() {
        body.insert("system".into(), conv.system.join("\n\n").into());
    }
    let p = &conv.params;
    body.insert(
        "max_tokens".into(),
        p.max_tokens.unwrap_or(u64::from(default_max_tokens)).into(),
    );
    if let Some(t) = p.temperature {
        // OpenAI's range is 0..2, Anthropic's 0..1.
        body.insert("temperature".into(), t.min(1.0).into());
    }
    if let Some(v) = p.top_p {
        body.insert("top_p".into(), v.into());
    }
    if let Some(v) = p.top_k {
        body.insert("top_k".into(), v.into());
    }
    if !p.stop.is_empty() {
        body.insert("stop_sequences".into(), p.stop.clone().into());
    }
    if p.stream {
        body.insert("stream".into(), true.into());
    }
    if let Some(u) = &p.user {
        body.insert("metadata".into(), json!({ "user_id": u }));
    }
    Value::Object(body)
}

fn stop_reason(s: Option<&str>) -> StopReason {
    match s {
        Some("end_turn") | None => StopReason::EndTurn,
        Some("max_tokens") => StopReason::MaxTokens,
        Some("stop_sequence") => StopReason::StopSequence,
        Some("tool_use") => StopReason::ToolUse,
        Some(other) => StopReason::Other(other.to_string()),
    }
}

/// Anthropic's `input_tokens` excludes cache reads and writes; the hub's includes them.
fn merge_usage(into: &mut Usage, u: &Value) {
    let n = |k: &str| u.get(k).and_then(Value::as_u64);
    let cache_read = n("cache_read_input_tokens");
    let cache_write = n("cache_creation_input_tokens");
    if let Some(input) = n("input_tokens") {
        into.input_tokens = input
            .saturating_add(cache_read.unwrap_or(0))
            .saturating_add(cache_write.unwrap_or(0));
    }
    if let Some(v) = cache_read {
        into.cache_read_tokens = v;
    }
    if let Some(v) = cache_write {
        into.cache_write_tokens = v;
    }
    if let Some(v) = n("output_tokens") {
        into.output_tokens = v;
    }
}

/// A complete Messages API response → hub reply.
pub(crate) fn parse_reply(v: &Value) -> Option<Reply> {
    let content = v
        .get("content")?
        .as_array()?
        .iter()
        .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
        .map(|b| {
            Block::Text(
                b.get("text")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            )
        })
        .collect();
    let mut usage = Usage::default();
    if let Some(u) = v.get("usage") {
        merge_usage(&mut usage, u);
    }
    Some(Reply {
        id: v.get("id")?.as_str()?.to_string(),
        model: v
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        content,
        stop: stop_reason(v.get("stop_reason").and_then(Value::as_str)),
        usage,
    })
}

/// The message of an Anthropic error body, if it is one.
pub(crate) fn error_message(v: &Value) -> Option<String> {
    v.get("error")?.get("message")?.as_str().map(String::from)
}

/// Reads a Messages SSE stream into hub events, accumulating usage across events.
#[derive(Debug, Default)]
pub(crate) struct MessagesStreamDecoder {
    usage: Usage,
    stop: Option<StopReason>,
    finished: bool,
}

impl MessagesStreamDecoder {
    /// Hub events for one SSE event. Unknown event types (`ping`, new ones) yield nothing.
    pub(crate) fn decode(&mut self, ev: &SseEvent) -> Vec<StreamEvent> {
        let Ok(v) = serde_json::from_str::<Value>(&ev.data) else {
            return Vec::new();
        };
        let kind = v
            .get("type")
            .and_then(Value::as_str)
            .or(ev.event.as_deref())
            .unwrap_or("");
        match kind {
            "message_start" => {
                let m = v.get("message").cloned().unwrap_or(Value::Null);
                if let Some(u) = m.get("usage") {
                    merge_usage(&mut self.usage, u);
                }
                vec![StreamEvent::Start {
                    id: m
                        .get("id")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                    model: m
                        .get("model")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                }]
            }
            "content_block_delta" => match v.get("delta") {
                Some(d) if d.get("type").and_then(Value::as_str) == Some("text_delta") => {
                    let t = d.get("text").and_then(Value::as_str).unwrap_or("");
                    vec![StreamEvent::TextDelta(t.to_string())]
                }
                _ => Vec::new(),
            },
            "message_delta" => {
                if let Some(u) = v.get("usage") {
                    merge_usage(&mut self.usage, u);
                }
                if let Some(r) = v.get("delta").and_then(|d| d.get("stop_reason")) {
                    self.stop = Some(stop_reason(r.as_str()));
                }
                Vec::new()
            }
            "message_stop" => {
                self.finished = true;
                vec![StreamEvent::Finish {
                    stop: self.stop.clone().unwrap_or(StopReason::EndTurn),
                    usage: self.usage,
                }]
            }
            "error" => vec![StreamEvent::Error {
                message: error_message(&v).unwrap_or_else(|| "upstream stream error".into()),
            }],
            _ => Vec::new(),
        }
    }

    /// Whether `message_stop` arrived: a stream that ends without it was cut.
    pub(crate) fn finished(&self) -> bool {
        self.finished
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::translate::{Message, Params};

    #[test]
    fn request_carries_system_and_clamps_temperature() {
        let conv = Conversation {
            system: vec!["a".into(), "b".into()],
            messages: vec![Message {
                role: Role::User,
                content: vec![Block::Text("hi".into())],
            }],
            params: Params {
                temperature: Some(1.5),
                stop: vec!["X".into()],
                ..Params::default()
            },
        };
        let v = request_json(&conv, "claude-x", 1024);
        assert_eq!(v["system"], "a\n\nb");
        assert_eq!(v["max_tokens"], 1024);
        assert_eq!(v["temperature"], 1.0);
        assert_eq!(v["stop_sequences"][0], "X");
        assert_eq!(v["messages"][0]["content"][0]["text"], "hi");
    }

    #[test]
    fn cache_tokens_are_added_to_input_once() {
        let v = json!({"id": "msg_1", "model": "c", "content": [{"type": "text", "text": "ok"}],
            "stop_reason": "max_tokens",
            "usage": {"input_tokens": 10, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 5, "output_tokens": 7}});
        let r = parse_reply(&v).unwrap();
        assert_eq!(r.usage.input_tokens, 115);
        assert_eq!(r.usage.cache_read_tokens, 100);
        assert_eq!(r.stop, StopReason::MaxTokens);
    }

    #[test]
    fn stream_usage_accumulates_from_start_and_delta() {
        let mut d = MessagesStreamDecoder::default();
        let ev = |data: &str| SseEvent {
            event: None,
            data: data.into(),
        };
        d.decode(&ev(
            r#"{"type":"message_start","message":{"id":"m","model":"c","usage":{"input_tokens":9,"output_tokens":1}}}"#,
        ));
        let t = d.decode(&ev(
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"yo"}}"#,
        ));
        assert_eq!(t, vec![StreamEvent::TextDelta("yo".into())]);
        d.decode(&ev(
            r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":4}}"#,
        ));
        let end = d.decode(&ev(r#"{"type":"message_stop"}"#));
        assert!(d.finished());
        match &end[0] {
            StreamEvent::Finish { usage, .. } => {
                assert_eq!((usage.input_tokens, usage.output_tokens), (9, 4))
            }
            other => panic!("{other:?}"),
        }
    }
}
