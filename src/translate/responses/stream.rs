//! Hub stream events → the Responses event sequence: `response.created`, `.in_progress`, per
//! output item `output_item.added` / part or summary added / deltas / done events /
//! `output_item.done`, then `response.completed` (or `.incomplete`) with the whole output and
//! usage. Every event carries the next `sequence_number`; item ids and output indices are
//! assigned as blocks start and stay fixed. Events go out as the upstream's chunks arrive;
//! only the final snapshot that `response.completed` must carry is accumulated, and the
//! `output_item.done` of the item that stopped last waits for the next upstream event (the
//! next block or the end): an answer cut by `max_output_tokens` reports that item
//! `incomplete`, and the stop reason comes after the block's stop in both upstream formats.

use serde_json::{Value, json};

use super::reply::{
    Head, call_item, custom_item, ending, freeform_input, mark_cut, message_item, now_secs,
    reasoning_item, resp_id, response_json,
};
use crate::translate::{BlockKind, StreamEvent, ToolGroups};

/// An output item being streamed.
struct Item {
    /// The hub block it came from.
    block: usize,
    output_index: usize,
    id: String,
    kind: ItemKind,
    /// Text, reasoning summary or arguments so far.
    buf: String,
}

enum ItemKind {
    Message,
    Reasoning,
    Call {
        call_id: String,
        name: String,
    },
    /// A `custom` tool's call: its input arrives as JSON arguments `{"input": …}` and is sent
    /// once whole (one input delta, then done), unwrapped to the free text it is.
    Custom {
        call_id: String,
        name: String,
    },
}

pub(crate) struct ResponsesStreamEncoder {
    /// Which tool names came from a `namespace` (calls are answered with it).
    groups: ToolGroups,
    seq: u64,
    id: String,
    model: String,
    created_at: u64,
    items: Vec<Item>,
    /// Completed items, in output order (for the final snapshot).
    done: Vec<Value>,
    /// The item that stopped last, with its output index: its `output_item.done` is sent
    /// when the next block starts or the answer ends (see the module doc).
    held: Option<(usize, Value)>,
    /// The response id to use instead of one made from the upstream's.
    fixed_id: Option<String>,
    /// The final response object, once `response.completed` (or `.incomplete`) went out.
    completed: Option<Value>,
}

impl ResponsesStreamEncoder {
    pub(crate) fn new(groups: ToolGroups) -> Self {
        Self {
            groups,
            seq: 0,
            id: String::new(),
            model: String::new(),
            created_at: now_secs(),
            items: Vec::new(),
            done: Vec::new(),
            held: None,
            fixed_id: None,
            completed: None,
        }
    }

    /// Answer with this response id (Lodestar's own, unique, for the response store).
    pub(crate) fn set_id(&mut self, id: String) {
        self.fixed_id = Some(id);
    }

    /// The whole response as `response.completed` carried it.
    pub(crate) fn completed(&self) -> Option<&Value> {
        self.completed.as_ref()
    }

    fn event(&mut self, kind: &str, mut data: Value) -> String {
        if let Some(o) = data.as_object_mut() {
            o.insert("type".into(), kind.into());
            o.insert("sequence_number".into(), self.seq.into());
        }
        self.seq += 1;
        format!("event: {kind}\ndata: {data}\n\n")
    }

    fn bare(&self) -> String {
        self.id.trim_start_matches("resp_").to_string()
    }

    fn find(&mut self, block: usize) -> Option<usize> {
        self.items.iter().position(|i| i.block == block)
    }

    pub(crate) fn encode(&mut self, ev: StreamEvent) -> Vec<String> {
        match ev {
            StreamEvent::Start { id, model, .. } => {
                self.id = match &self.fixed_id {
                    Some(f) => f.clone(),
                    None => resp_id(&id),
                };
                self.model = model;
                let r = response_json(
                    Head {
                        id: &self.id,
                        model: &self.model,
                        created_at: self.created_at,
                        echo: &self.groups.echo,
                    },
                    "in_progress",
                    Value::Null,
                    Vec::new(),
                    None,
                );
                vec![
                    self.event("response.created", json!({"response": r})),
                    self.event("response.in_progress", json!({"response": r})),
                ]
            }
            StreamEvent::BlockStart { index, kind } => {
                let mut out = self.release(false);
                let output_index = self.done.len() + self.items.len();
                let bare = self.bare();
                let (id, kind, item) = match kind {
                    BlockKind::Text => {
                        let id = format!("msg_{bare}_{index}");
                        let item = json!({"type": "message", "id": id, "status": "in_progress",
                                          "role": "assistant", "content": []});
                        (id, ItemKind::Message, item)
                    }
                    BlockKind::Thinking => {
                        let id = format!("rs_{bare}_{index}");
                        let item = json!({"type": "reasoning", "id": id, "summary": []});
                        (id, ItemKind::Reasoning, item)
                    }
                    BlockKind::ToolCall { id: call_id, name } if self.groups.is_freeform(&name) => {
                        let id = format!("ctc_{bare}_{index}");
                        let item = custom_item(&id, &call_id, &name, "", "in_progress");
                        (id, ItemKind::Custom { call_id, name }, item)
                    }
                    BlockKind::ToolCall { id: call_id, name } => {
                        let id = format!("fc_{bare}_{index}");
                        let item = call_item(&id, &call_id, &name, "", "in_progress", &self.groups);
                        (id, ItemKind::Call { call_id, name }, item)
                    }
                    // Encrypted reasoning has no Responses form outside OpenAI.
                    BlockKind::RedactedThinking { .. } => return out,
                };
                out.push(self.event(
                    "response.output_item.added",
                    json!({"output_index": output_index, "item": item}),
                ));
                match kind {
                    ItemKind::Message => out.push(self.event(
                        "response.content_part.added",
                        json!({"item_id": id, "output_index": output_index, "content_index": 0,
                               "part": {"type": "output_text", "text": "", "annotations": []}}),
                    )),
                    ItemKind::Reasoning => out.push(self.event(
                        "response.reasoning_summary_part.added",
                        json!({"item_id": id, "output_index": output_index, "summary_index": 0,
                               "part": {"type": "summary_text", "text": ""}}),
                    )),
                    ItemKind::Call { .. } | ItemKind::Custom { .. } => {}
                }
                self.items.push(Item {
                    block: index,
                    output_index,
                    id,
                    kind,
                    buf: String::new(),
                });
                out
            }
            StreamEvent::TextDelta { index, text: delta }
            | StreamEvent::ThinkingDelta { index, text: delta }
            | StreamEvent::ToolArgsDelta { index, json: delta } => {
                let Some(at) = self.find(index) else {
                    return Vec::new();
                };
                let item = &mut self.items[at];
                item.buf.push_str(&delta);
                if matches!(item.kind, ItemKind::Custom { .. }) {
                    return Vec::new();
                }
                let (id, oi) = (item.id.clone(), item.output_index);
                let (kind, data) = match item.kind {
                    ItemKind::Message => (
                        "response.output_text.delta",
                        json!({"item_id": id, "output_index": oi, "content_index": 0,
                               "delta": delta, "logprobs": []}),
                    ),
                    ItemKind::Reasoning => (
                        "response.reasoning_summary_text.delta",
                        json!({"item_id": id, "output_index": oi, "summary_index": 0,
                               "delta": delta}),
                    ),
                    ItemKind::Call { .. } | ItemKind::Custom { .. } => (
                        "response.function_call_arguments.delta",
                        json!({"item_id": id, "output_index": oi, "delta": delta}),
                    ),
                };
                vec![self.event(kind, data)]
            }
            StreamEvent::SignatureDelta { .. } => Vec::new(),
            StreamEvent::BlockStop { index } => {
                let Some(at) = self.find(index) else {
                    return Vec::new();
                };
                let item = self.items.remove(at);
                self.finish_item(item)
            }
            StreamEvent::Finish { stop, usage, .. } => {
                // Blocks the upstream never closed are closed now, in order.
                let mut out = Vec::new();
                while !self.items.is_empty() {
                    let item = self.items.remove(0);
                    out.extend(self.finish_item(item));
                }
                let (status, incomplete) = ending(&stop);
                out.extend(self.release(status == "incomplete"));
                let r = response_json(
                    Head {
                        id: &self.id,
                        model: &self.model,
                        created_at: self.created_at,
                        echo: &self.groups.echo,
                    },
                    status,
                    incomplete,
                    std::mem::take(&mut self.done),
                    Some(&usage),
                );
                let kind = if status == "completed" {
                    "response.completed"
                } else {
                    "response.incomplete"
                };
                self.completed = Some(r.clone());
                out.push(self.event(kind, json!({"response": r})));
                out
            }
            StreamEvent::Error { message } => {
                let mut out = self.release(false);
                out.push(self.failed(&message));
                out
            }
        }
    }

    fn finish_item(&mut self, item: Item) -> Vec<String> {
        let (id, oi) = (item.id.clone(), item.output_index);
        let mut out = Vec::new();
        let done = match &item.kind {
            ItemKind::Message => {
                out.push(self.event(
                    "response.output_text.done",
                    json!({"item_id": id, "output_index": oi, "content_index": 0,
                           "text": item.buf, "logprobs": []}),
                ));
                out.push(self.event(
                    "response.content_part.done",
                    json!({"item_id": id, "output_index": oi, "content_index": 0,
                           "part": {"type": "output_text", "text": item.buf, "annotations": []}}),
                ));
                message_item(&id, &item.buf, "completed")
            }
            ItemKind::Reasoning => {
                out.push(self.event(
                    "response.reasoning_summary_text.done",
                    json!({"item_id": id, "output_index": oi, "summary_index": 0,
                           "text": item.buf}),
                ));
                out.push(self.event(
                    "response.reasoning_summary_part.done",
                    json!({"item_id": id, "output_index": oi, "summary_index": 0,
                           "part": {"type": "summary_text", "text": item.buf}}),
                ));
                reasoning_item(&id, &item.buf)
            }
            ItemKind::Call { call_id, name } => {
                // A call without arguments still needs a JSON object.
                let args = if item.buf.trim().is_empty() {
                    "{}"
                } else {
                    &item.buf
                };
                out.push(self.event(
                    "response.function_call_arguments.done",
                    json!({"item_id": id, "output_index": oi, "name": name, "arguments": args}),
                ));
                call_item(&id, call_id, name, args, "completed", &self.groups)
            }
            ItemKind::Custom { call_id, name } => {
                let input = freeform_input(&item.buf);
                out.push(self.event(
                    "response.custom_tool_call_input.delta",
                    json!({"item_id": id, "output_index": oi, "delta": input}),
                ));
                out.push(self.event(
                    "response.custom_tool_call_input.done",
                    json!({"item_id": id, "output_index": oi, "input": input}),
                ));
                custom_item(&id, call_id, name, &input, "completed")
            }
        };
        out.extend(self.release(false));
        self.held = Some((oi, done));
        out
    }

    /// `output_item.done` for the held item (marked `incomplete` when the answer was cut).
    fn release(&mut self, cut: bool) -> Vec<String> {
        let Some((oi, mut item)) = self.held.take() else {
            return Vec::new();
        };
        if cut {
            mark_cut(Some(&mut item));
        }
        let ev = self.event(
            "response.output_item.done",
            json!({"output_index": oi, "item": item}),
        );
        self.done.push(item);
        vec![ev]
    }

    /// `response.failed` for a stream that broke.
    fn failed(&mut self, message: &str) -> String {
        let mut r = response_json(
            Head {
                id: &self.id,
                model: &self.model,
                created_at: self.created_at,
                echo: &self.groups.echo,
            },
            "failed",
            Value::Null,
            std::mem::take(&mut self.done),
            None,
        );
        r["error"] = json!({"code": "server_error", "message": message});
        self.event("response.failed", json!({"response": r}))
    }
}

/// The event that ends a broken pass-through stream (no encoder state at hand, so its
/// `sequence_number` is not the stream's): an `error` event, as OpenAI sends one. Translated
/// streams end with `response.failed` from the encoder instead.
pub(crate) fn error_event(message: &str) -> String {
    let v = json!({"type": "error", "code": "server_error", "message": message, "param": null,
                   "sequence_number": 0});
    format!("event: error\ndata: {v}\n\n")
}
