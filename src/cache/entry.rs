//! A cached answer, as the client received it (JSON body, or the SSE bytes of the stream with
//! its chunk boundaries), and how it is served again: as it was, or converted between JSON
//! and stream through the hub so that a JSON request may be answered from a cached stream and
//! the other way round.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::ledger::Tokens;
use crate::translate::sse::SseReader;
use crate::translate::{Block, BlockKind, Format, Reply, StopReason, StreamEvent, ToolGroups};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Meta {
    /// The client format (`chat`, `messages`, `responses`).
    pub format: String,
    pub stream: bool,
    pub content_type: String,
    /// Lengths of the stream's chunks, in order (empty for JSON).
    pub chunks: Vec<usize>,
    pub route: String,
    pub provider: String,
    pub model: String,
    pub tokens: [u64; 6],
    /// What the answer cost when it was made (None: unknown price).
    pub cost_usd: Option<f64>,
    pub created_ms: i64,
    pub expires_ms: i64,
    pub project: String,
}

/// One cached answer.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub meta: Meta,
    pub body: Bytes,
}

impl Entry {
    /// What it costs in memory (what the memory limit counts): its body and ~1 KiB of
    /// metadata, key and the memory tier's own bookkeeping (measured by benches/cache.rs:
    /// ~1.3 KB of RSS per entry with a ~300 B body).
    pub(crate) fn weight(&self) -> u32 {
        (self.body.len() + 1024).min(u32::MAX as usize) as u32
    }

    pub(crate) fn tokens(&self) -> Tokens {
        let [
            input,
            output,
            cache_read,
            cache_write_5m,
            cache_write_1h,
            reasoning,
        ] = self.meta.tokens;
        Tokens {
            input,
            output,
            cache_read,
            cache_write_5m,
            cache_write_1h,
            reasoning,
        }
    }

    pub(crate) fn format(&self) -> Option<Format> {
        Format::from_id(&self.meta.format)
    }

    /// For the disk tier: a JSON line of metadata, then the body.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec(&self.meta).unwrap_or_default();
        out.push(b'\n');
        out.extend_from_slice(&self.body);
        out
    }

    pub(crate) fn decode(bytes: &[u8]) -> Option<Entry> {
        let nl = bytes.iter().position(|b| *b == b'\n')?;
        let meta: Meta = serde_json::from_slice(&bytes[..nl]).ok()?;
        Some(Entry {
            meta,
            body: Bytes::copy_from_slice(&bytes[nl + 1..]),
        })
    }

    /// The stream's chunks, as they were sent.
    pub(crate) fn chunks(&self) -> Vec<Bytes> {
        if self.meta.chunks.is_empty() {
            return vec![self.body.clone()];
        }
        let mut out = Vec::with_capacity(self.meta.chunks.len());
        let mut at = 0;
        for &n in &self.meta.chunks {
            let end = (at + n).min(self.body.len());
            out.push(self.body.slice(at..end));
            at = end;
        }
        out
    }
}

/// The answer rebuilt from a cached stream (for a JSON request), in `format`.
pub(crate) fn json_from_stream(format: Format, sse: &[u8]) -> Option<Vec<u8>> {
    let mut reader = SseReader::default();
    let mut events = reader.push(sse);
    events.extend(reader.finish());
    if format == Format::Responses {
        // The stream's `response.completed` carries the whole response object.
        return events.iter().rev().find_map(|ev| {
            let v: serde_json::Value = serde_json::from_str(&ev.data).ok()?;
            (v["type"] == "response.completed")
                .then(|| serde_json::to_vec(&v["response"]).ok())
                .flatten()
        });
    }
    let mut decoder = format.decoder()?;
    let mut hub = Vec::new();
    for ev in &events {
        hub.extend(decoder.decode(ev));
    }
    hub.extend(decoder.end_of_body());
    let reply = collect(hub)?;
    Some(
        format
            .build_reply(&reply, &ToolGroups::default())
            .into_bytes(),
    )
}

/// The answer as a stream (for a streaming request) rebuilt from a cached JSON answer.
/// `groups`: a Responses request's tools and settings (namespaced and custom tools' calls are
/// given back as the client declared them; the settings are echoed).
pub(crate) fn stream_from_json(
    format: Format,
    json: &[u8],
    include_usage: bool,
    groups: ToolGroups,
) -> Option<Vec<u8>> {
    let reply = format.parse_reply(json)?;
    let mut enc = format.encoder(include_usage, reply.usage.input_tokens, groups);
    // The cached response's own id, in every event.
    enc.set_response_id(reply.id.clone());
    let mut out = String::new();
    for ev in events_of(&reply) {
        for frame in enc.encode(ev) {
            out.push_str(&frame);
        }
    }
    Some(out.into_bytes())
}

/// A whole reply as the stream events that would have carried it.
fn events_of(reply: &Reply) -> Vec<StreamEvent> {
    let mut out = vec![StreamEvent::Start {
        id: reply.id.clone(),
        model: reply.model.clone(),
        input_tokens: Some(reply.usage.input_tokens),
    }];
    let mut index = 0;
    for b in &reply.content {
        let (kind, deltas): (BlockKind, Vec<StreamEvent>) = match b {
            Block::Text(t) => (
                BlockKind::Text,
                vec![StreamEvent::TextDelta {
                    index,
                    text: t.clone(),
                }],
            ),
            Block::Thinking { text, signature } => {
                let mut d = vec![StreamEvent::ThinkingDelta {
                    index,
                    text: text.clone(),
                }];
                if let Some(s) = signature {
                    d.push(StreamEvent::SignatureDelta {
                        index,
                        signature: s.clone(),
                    });
                }
                (BlockKind::Thinking, d)
            }
            Block::RedactedThinking { data } => (
                BlockKind::RedactedThinking { data: data.clone() },
                Vec::new(),
            ),
            Block::ToolCall {
                id,
                name,
                arguments,
            } => (
                BlockKind::ToolCall {
                    id: id.clone(),
                    name: name.clone(),
                },
                vec![StreamEvent::ToolArgsDelta {
                    index,
                    json: arguments.clone(),
                }],
            ),
            _ => continue,
        };
        out.push(StreamEvent::BlockStart { index, kind });
        out.extend(deltas);
        out.push(StreamEvent::BlockStop { index });
        index += 1;
    }
    out.push(StreamEvent::Finish {
        stop: reply.stop.clone(),
        stop_sequence: reply.stop_sequence.clone(),
        usage: reply.usage,
    });
    out
}

/// The reply a complete run of stream events describes; None if it did not finish.
fn collect(events: Vec<StreamEvent>) -> Option<Reply> {
    let mut reply = Reply {
        id: String::new(),
        model: String::new(),
        content: Vec::new(),
        stop: StopReason::EndTurn,
        stop_sequence: None,
        usage: Default::default(),
    };
    // Hub block index → position in `content`.
    let mut at: Vec<(usize, usize)> = Vec::new();
    let mut finished = false;
    for ev in events {
        match ev {
            StreamEvent::Start { id, model, .. } => {
                reply.id = id;
                reply.model = model;
            }
            StreamEvent::BlockStart { index, kind } => {
                let block = match kind {
                    BlockKind::Text => Block::Text(String::new()),
                    BlockKind::Thinking => Block::Thinking {
                        text: String::new(),
                        signature: None,
                    },
                    BlockKind::RedactedThinking { data } => Block::RedactedThinking { data },
                    BlockKind::ToolCall { id, name } => Block::ToolCall {
                        id,
                        name,
                        arguments: String::new(),
                    },
                };
                at.push((index, reply.content.len()));
                reply.content.push(block);
            }
            StreamEvent::TextDelta { index, text } | StreamEvent::ThinkingDelta { index, text } => {
                if let Some(Block::Text(t) | Block::Thinking { text: t, .. }) =
                    find(&at, index).and_then(|i| reply.content.get_mut(i))
                {
                    t.push_str(&text);
                }
            }
            StreamEvent::SignatureDelta { index, signature } => {
                if let Some(Block::Thinking { signature: s, .. }) =
                    find(&at, index).and_then(|i| reply.content.get_mut(i))
                {
                    s.get_or_insert_with(String::new).push_str(&signature);
                }
            }
            StreamEvent::ToolArgsDelta { index, json } => {
                if let Some(Block::ToolCall { arguments, .. }) =
                    find(&at, index).and_then(|i| reply.content.get_mut(i))
                {
                    arguments.push_str(&json);
                }
            }
            StreamEvent::BlockStop { .. } => {}
            StreamEvent::Finish {
                stop,
                stop_sequence,
                usage,
            } => {
                reply.stop = stop;
                reply.stop_sequence = stop_sequence;
                reply.usage = usage;
                finished = true;
            }
            StreamEvent::Error { .. } => return None,
        }
    }
    finished.then_some(reply)
}

fn find(at: &[(usize, usize)], index: usize) -> Option<usize> {
    at.iter().rev().find(|(i, _)| *i == index).map(|(_, p)| *p)
}
