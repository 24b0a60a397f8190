//! Messages SSE ⇄ hub stream events. Anthropic streams already have block boundaries and
//! indices, so both directions map event for event.

use serde_json::{Map, Value, json};

use super::reply::{merge_usage, msg_id, stop_reason, stop_reason_str, usage_json};
use super::str_of;
use crate::translate::sse::SseEvent;
use crate::translate::{BlockKind, StopReason, StreamEvent, Usage, error_message};

/// Reads a Messages SSE stream into hub events, accumulating usage across events.
#[derive(Debug, Default)]
pub(crate) struct MessagesStreamDecoder {
    usage: Usage,
    stop: Option<StopReason>,
    stop_sequence: Option<String>,
    /// Blocks passed on (server tool blocks are not): only their stops are passed on too.
    open: Vec<usize>,
    finished: bool,
}

impl MessagesStreamDecoder {
    /// Hub events for one SSE event. Unknown event types (`ping`, new ones) yield nothing.
    pub(crate) fn decode(&mut self, ev: &SseEvent) -> Vec<StreamEvent> {
        let Ok(v) = serde_json::from_str::<Value>(&ev.data) else {
            return Vec::new();
        };
        let kind = str_of(&v, "type").or(ev.event.as_deref()).unwrap_or("");
        let index = v.get("index").and_then(Value::as_u64).unwrap_or(0) as usize;
        match kind {
            "message_start" => {
                let m = v.get("message").unwrap_or(&Value::Null);
                if let Some(u) = m.get("usage") {
                    merge_usage(&mut self.usage, u);
                }
                vec![StreamEvent::Start {
                    id: str_of(m, "id").unwrap_or_default().to_string(),
                    model: str_of(m, "model").unwrap_or_default().to_string(),
                    input_tokens: m
                        .get("usage")
                        .and_then(|u| u.get("input_tokens"))
                        .map(|_| self.usage.input_tokens),
                }]
            }
            "content_block_start" => {
                let b = v.get("content_block").unwrap_or(&Value::Null);
                let kind = match str_of(b, "type") {
                    Some("text") => BlockKind::Text,
                    Some("thinking") => BlockKind::Thinking,
                    Some("redacted_thinking") => BlockKind::RedactedThinking {
                        data: str_of(b, "data").unwrap_or_default().to_string(),
                    },
                    Some("tool_use") => BlockKind::ToolCall {
                        id: str_of(b, "id").unwrap_or_default().to_string(),
                        name: str_of(b, "name").unwrap_or_default().to_string(),
                    },
                    _ => return Vec::new(),
                };
                self.open.push(index);
                let mut out = vec![StreamEvent::BlockStart { index, kind }];
                // A text block may start with text already in it.
                if let Some(t) = str_of(b, "text").filter(|t| !t.is_empty()) {
                    out.push(StreamEvent::TextDelta {
                        index,
                        text: t.to_string(),
                    });
                }
                out
            }
            "content_block_delta" if self.open.contains(&index) => {
                let d = v.get("delta").unwrap_or(&Value::Null);
                let text = |k: &str| str_of(d, k).unwrap_or_default().to_string();
                match str_of(d, "type") {
                    Some("text_delta") => vec![StreamEvent::TextDelta {
                        index,
                        text: text("text"),
                    }],
                    Some("thinking_delta") => vec![StreamEvent::ThinkingDelta {
                        index,
                        text: text("thinking"),
                    }],
                    Some("signature_delta") => vec![StreamEvent::SignatureDelta {
                        index,
                        signature: text("signature"),
                    }],
                    Some("input_json_delta") => vec![StreamEvent::ToolArgsDelta {
                        index,
                        json: text("partial_json"),
                    }],
                    _ => Vec::new(),
                }
            }
            "content_block_stop" if self.open.contains(&index) => {
                self.open.retain(|i| *i != index);
                vec![StreamEvent::BlockStop { index }]
            }
            "message_delta" => {
                if let Some(u) = v.get("usage") {
                    merge_usage(&mut self.usage, u);
                }
                if let Some(d) = v.get("delta") {
                    if let Some(r) = d.get("stop_reason").filter(|r| !r.is_null()) {
                        self.stop = Some(stop_reason(r.as_str()));
                    }
                    self.stop_sequence = str_of(d, "stop_sequence").map(String::from);
                }
                Vec::new()
            }
            "message_stop" => {
                self.finished = true;
                vec![StreamEvent::Finish {
                    stop: self.stop.clone().unwrap_or(StopReason::EndTurn),
                    stop_sequence: self.stop_sequence.clone(),
                    usage: self.usage,
                }]
            }
            "error" => {
                self.finished = true;
                vec![StreamEvent::Error {
                    message: error_message(&v).unwrap_or_else(|| "upstream stream error".into()),
                }]
            }
            _ => Vec::new(),
        }
    }
}

/// Turns hub stream events into Messages SSE events (`event:` line, then `data:`).
pub(crate) struct MessagesStreamEncoder {
    /// Prompt tokens to report in `message_start` when the upstream reports them only at the
    /// end (an estimate; Claude Code sizes its context from it).
    input_estimate: u64,
    /// Tool blocks that have had no argument fragment yet.
    tools_without_args: Vec<usize>,
}

fn event(name: &str, data: &Value) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

impl MessagesStreamEncoder {
    pub(crate) fn new(input_estimate: u64) -> Self {
        Self {
            input_estimate,
            tools_without_args: Vec::new(),
        }
    }

    fn delta(index: usize, delta: Value) -> String {
        event(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": index, "delta": delta}),
        )
    }

    /// The SSE events for one hub event.
    pub(crate) fn encode(&mut self, ev: StreamEvent) -> Vec<String> {
        match ev {
            StreamEvent::Start {
                id,
                model,
                input_tokens,
            } => {
                let usage = Usage {
                    input_tokens: input_tokens.unwrap_or(self.input_estimate),
                    output_tokens: 1,
                    ..Usage::default()
                };
                let mut m = Map::new();
                m.insert("id".into(), msg_id(&id).into());
                m.insert("type".into(), "message".into());
                m.insert("role".into(), "assistant".into());
                m.insert("model".into(), model.into());
                m.insert("content".into(), json!([]));
                m.insert("stop_reason".into(), Value::Null);
                m.insert("stop_sequence".into(), Value::Null);
                m.insert("usage".into(), usage_json(&usage));
                vec![
                    event(
                        "message_start",
                        &json!({"type": "message_start", "message": m}),
                    ),
                    event("ping", &json!({"type": "ping"})),
                ]
            }
            StreamEvent::BlockStart { index, kind } => {
                let block = match kind {
                    BlockKind::Text => json!({"type": "text", "text": ""}),
                    BlockKind::Thinking => {
                        json!({"type": "thinking", "thinking": "", "signature": ""})
                    }
                    BlockKind::RedactedThinking { data } => {
                        json!({"type": "redacted_thinking", "data": data})
                    }
                    BlockKind::ToolCall { id, name } => {
                        self.tools_without_args.push(index);
                        json!({"type": "tool_use", "id": id, "name": name, "input": {}})
                    }
                };
                vec![event(
                    "content_block_start",
                    &json!({"type": "content_block_start", "index": index, "content_block": block}),
                )]
            }
            StreamEvent::TextDelta { index, text } => {
                vec![Self::delta(
                    index,
                    json!({"type": "text_delta", "text": text}),
                )]
            }
            StreamEvent::ThinkingDelta { index, text } => vec![Self::delta(
                index,
                json!({"type": "thinking_delta", "thinking": text}),
            )],
            StreamEvent::SignatureDelta { index, signature } => vec![Self::delta(
                index,
                json!({"type": "signature_delta", "signature": signature}),
            )],
            StreamEvent::ToolArgsDelta { index, json } => {
                self.tools_without_args.retain(|i| *i != index);
                vec![Self::delta(
                    index,
                    json!({"type": "input_json_delta", "partial_json": json}),
                )]
            }
            StreamEvent::BlockStop { index } => {
                let mut out = Vec::new();
                // A call without arguments still needs a JSON object for the client to parse.
                if self.tools_without_args.contains(&index) {
                    self.tools_without_args.retain(|i| *i != index);
                    out.push(Self::delta(
                        index,
                        json!({"type": "input_json_delta", "partial_json": "{}"}),
                    ));
                }
                out.push(event(
                    "content_block_stop",
                    &json!({"type": "content_block_stop", "index": index}),
                ));
                out
            }
            StreamEvent::Finish {
                stop,
                stop_sequence,
                usage,
            } => vec![
                event(
                    "message_delta",
                    &json!({"type": "message_delta",
                            "delta": {"stop_reason": stop_reason_str(&stop), "stop_sequence": stop_sequence},
                            "usage": usage_json(&usage)}),
                ),
                event("message_stop", &json!({"type": "message_stop"})),
            ],
            StreamEvent::Error { message } => vec![error_event(&message)],
        }
    }
}

/// The event that ends a broken stream, as Anthropic sends one: the SDKs raise on it.
pub(crate) fn error_event(message: &str) -> String {
    event(
        "error",
        &json!({"type": "error", "error": {"type": "api_error", "message": message}}),
    )
}
