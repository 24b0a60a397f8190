//! Chat Completions SSE ⇄ hub stream events.
//!
//! OpenAI chunks have no block boundaries: the decoder opens a block when the kind of delta
//! changes (reasoning, text, a new tool call) and closes it when the next starts or the
//! `finish_reason` arrives. The usage chunk comes after the finish chunk, so `Finish` is
//! emitted at `[DONE]` (or at the end of a stream that had a `finish_reason`).

use serde_json::{Value, json};

use super::reply::{chat_id, finish_reason, now_secs, parse_usage, stop_reason, usage_json};
use super::str_of;
use crate::translate::sse::SseEvent;
use crate::translate::{BlockKind, StopReason, StreamEvent, Usage, error_message};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Text,
    Thinking,
    /// A tool call with this OpenAI `index`.
    Tool(u64),
}

/// Reads Chat Completions SSE into hub events.
#[derive(Debug, Default)]
pub(crate) struct ChatStreamDecoder {
    started: bool,
    open: Option<(usize, Open)>,
    next_index: usize,
    /// OpenAI tool index → hub block index.
    tools: Vec<(u64, usize)>,
    stop: Option<StopReason>,
    usage: Usage,
    finished: bool,
}

impl ChatStreamDecoder {
    pub(crate) fn decode(&mut self, ev: &SseEvent) -> Vec<StreamEvent> {
        let mut out = Vec::new();
        if self.finished {
            return out;
        }
        if ev.data.trim() == "[DONE]" {
            self.finish(&mut out);
            return out;
        }
        let Ok(v) = serde_json::from_str::<Value>(&ev.data) else {
            return out;
        };
        if v.get("error").is_some() {
            self.finished = true;
            out.push(StreamEvent::Error {
                message: error_message(&v).unwrap_or_else(|| "upstream stream error".into()),
            });
            return out;
        }
        if !self.started {
            self.started = true;
            out.push(StreamEvent::Start {
                id: str_of(&v, "id").unwrap_or_default().to_string(),
                model: str_of(&v, "model").unwrap_or_default().to_string(),
                // Servers that report usage on every chunk (vLLM's continuous usage stats) know
                // the prompt count now; the others leave it to the encoder's estimate.
                input_tokens: v
                    .pointer("/usage/prompt_tokens")
                    .and_then(Value::as_u64)
                    .filter(|n| *n > 0),
            });
        }
        if let Some(u) = v.get("usage").filter(|u| !u.is_null()) {
            self.usage = parse_usage(u);
        }
        let Some(choice) = v
            .get("choices")
            .and_then(Value::as_array)
            .and_then(|c| c.first())
        else {
            return out;
        };
        if let Some(d) = choice.get("delta") {
            let reasoning = str_of(d, "reasoning_content").or_else(|| str_of(d, "reasoning"));
            if let Some(r) = reasoning.filter(|r| !r.is_empty()) {
                let index = self.ensure(Open::Thinking, BlockKind::Thinking, &mut out);
                out.push(StreamEvent::ThinkingDelta {
                    index,
                    text: r.to_string(),
                });
            }
            for tb in d
                .get("thinking_blocks")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(sig) = str_of(tb, "signature").filter(|s| !s.is_empty()) {
                    let index = self.ensure(Open::Thinking, BlockKind::Thinking, &mut out);
                    out.push(StreamEvent::SignatureDelta {
                        index,
                        signature: sig.to_string(),
                    });
                }
            }
            if let Some(t) = str_of(d, "content").filter(|t| !t.is_empty()) {
                let index = self.ensure(Open::Text, BlockKind::Text, &mut out);
                out.push(StreamEvent::TextDelta {
                    index,
                    text: t.to_string(),
                });
            }
            for tc in d
                .get("tool_calls")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                self.tool_delta(tc, &mut out);
            }
        }
        if let Some(r) = str_of(choice, "finish_reason") {
            self.stop = Some(stop_reason(Some(r)));
            self.close(&mut out);
        }
        out
    }

    fn tool_delta(&mut self, tc: &Value, out: &mut Vec<StreamEvent>) {
        let oi = tc.get("index").and_then(Value::as_u64).unwrap_or(0);
        let known = self.tools.iter().find(|(o, _)| *o == oi).map(|(_, h)| *h);
        let f = tc.get("function");
        let id = str_of(tc, "id");
        let index = match known {
            // A fragment of a known call (some servers repeat the id on every fragment).
            Some(h) if id.is_none() || self.open == Some((h, Open::Tool(oi))) => h,
            _ => {
                self.close(out);
                let h = self.next_index;
                self.next_index += 1;
                self.tools.retain(|(o, _)| *o != oi);
                self.tools.push((oi, h));
                self.open = Some((h, Open::Tool(oi)));
                out.push(StreamEvent::BlockStart {
                    index: h,
                    kind: BlockKind::ToolCall {
                        id: id.unwrap_or_default().to_string(),
                        name: f
                            .and_then(|f| str_of(f, "name"))
                            .unwrap_or_default()
                            .to_string(),
                    },
                });
                h
            }
        };
        if let Some(a) = f
            .and_then(|f| str_of(f, "arguments"))
            .filter(|a| !a.is_empty())
        {
            out.push(StreamEvent::ToolArgsDelta {
                index,
                json: a.to_string(),
            });
        }
    }

    /// The open block's index, opening a block of `want` first if another kind is open.
    fn ensure(&mut self, want: Open, kind: BlockKind, out: &mut Vec<StreamEvent>) -> usize {
        if let Some((i, open)) = self.open
            && open == want
        {
            return i;
        }
        self.close(out);
        let i = self.next_index;
        self.next_index += 1;
        self.open = Some((i, want));
        out.push(StreamEvent::BlockStart { index: i, kind });
        i
    }

    fn close(&mut self, out: &mut Vec<StreamEvent>) {
        if let Some((index, _)) = self.open.take() {
            out.push(StreamEvent::BlockStop { index });
        }
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        if self.finished {
            return;
        }
        self.close(out);
        self.finished = true;
        out.push(StreamEvent::Finish {
            stop: self.stop.clone().unwrap_or(StopReason::EndTurn),
            stop_sequence: None,
            usage: self.usage,
        });
    }

    /// Events for the end of the upstream body: a stream that reported its `finish_reason`
    /// but no `[DONE]` is complete; one without either was cut (nothing is returned, and
    /// [`finished`](Self::finished) stays false).
    pub(crate) fn end_of_body(&mut self) -> Vec<StreamEvent> {
        let mut out = Vec::new();
        if self.stop.is_some() {
            self.finish(&mut out);
        }
        out
    }
}

/// Turns hub stream events into Chat Completions SSE frames.
pub(crate) struct ChatStreamEncoder {
    id: String,
    model: String,
    created: u64,
    include_usage: bool,
    /// Hub block index → OpenAI tool call index.
    tools: Vec<(usize, usize)>,
}

impl ChatStreamEncoder {
    pub(crate) fn new(include_usage: bool) -> Self {
        Self {
            id: String::new(),
            model: String::new(),
            created: now_secs(),
            include_usage,
            tools: Vec::new(),
        }
    }

    fn chunk(&self, delta: Value, finish: Option<&str>) -> String {
        let v = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish }],
        });
        format!("data: {v}\n\n")
    }

    fn tool_index(&self, hub: usize) -> Option<usize> {
        self.tools.iter().find(|(h, _)| *h == hub).map(|(_, k)| *k)
    }

    /// The SSE frames (each a complete `data: ...\n\n`) for one hub event.
    pub(crate) fn encode(&mut self, ev: StreamEvent) -> Vec<String> {
        match ev {
            StreamEvent::Start { id, model, .. } => {
                self.id = chat_id(&id);
                self.model = model;
                vec![self.chunk(json!({"role": "assistant", "content": ""}), None)]
            }
            StreamEvent::BlockStart {
                index,
                kind: BlockKind::ToolCall { id, name },
            } => {
                let k = self.tools.len();
                self.tools.push((index, k));
                vec![self.chunk(
                    json!({"tool_calls": [{"index": k, "id": id, "type": "function",
                                           "function": {"name": name, "arguments": ""}}]}),
                    None,
                )]
            }
            StreamEvent::BlockStart { .. } | StreamEvent::BlockStop { .. } => Vec::new(),
            StreamEvent::TextDelta { text, .. } => vec![self.chunk(json!({ "content": text }), None)],
            StreamEvent::ThinkingDelta { text, .. } => {
                vec![self.chunk(json!({ "reasoning_content": text }), None)]
            }
            StreamEvent::SignatureDelta { signature, .. } => vec![self.chunk(
                json!({"thinking_blocks": [{"type": "thinking", "thinking": "", "signature": signature}]}),
                None,
            )],
            StreamEvent::ToolArgsDelta { index, json } => match self.tool_index(index) {
                Some(k) => vec![self.chunk(
                    json!({"tool_calls": [{"index": k, "function": {"arguments": json}}]}),
                    None,
                )],
                None => Vec::new(),
            },
            StreamEvent::Finish { stop, usage, .. } => {
                let mut out = vec![self.chunk(json!({}), Some(finish_reason(&stop)))];
                if self.include_usage {
                    let v = json!({
                        "id": self.id,
                        "object": "chat.completion.chunk",
                        "created": self.created,
                        "model": self.model,
                        "choices": [],
                        "usage": usage_json(&usage),
                    });
                    out.push(format!("data: {v}\n\n"));
                }
                out.push("data: [DONE]\n\n".to_string());
                out
            }
            StreamEvent::Error { message } => vec![error_frame(&message)],
        }
    }
}

/// The frame that ends a broken stream: an OpenAI error object (the SDKs raise on it), and no
/// `[DONE]`, so no client mistakes a cut answer for a complete one.
pub(crate) fn error_frame(message: &str) -> String {
    let v = json!({"error": {"message": message, "type": "upstream_error", "param": null, "code": "stream_interrupted"}});
    format!("data: {v}\n\n")
}
