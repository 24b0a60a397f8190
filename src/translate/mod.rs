//! The translation hub: one internal model of a conversation, one adapter per wire format.
//!
//! Owns: converting requests, replies and stream events between OpenAI Chat Completions
//! (`chat.rs`) and Anthropic Messages (`messages.rs`) through the types below, and reading SSE
//! (`sse.rs`). Must not do I/O: adapters are pure functions and small state machines, so each
//! mapping is testable on its own. A new wire format adds one adapter, not one per pair.
//!
//! This scope is text conversations (system, multi-turn text, sampling parameters,
//! stop sequences, streaming, usage). Content the hub cannot carry yet (images, tools) is
//! refused with a clear client error rather than silently dropped.

pub(crate) mod chat;
pub(crate) mod messages;
pub(crate) mod sse;

use std::fmt;

/// A conversation as every format understands it.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Conversation {
    /// System prompt parts, in order.
    pub system: Vec<String>,
    pub messages: Vec<Message>,
    pub params: Params,
}

/// Sampling and output controls; `None` means "the target's default".
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Params {
    pub max_tokens: Option<u64>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub top_k: Option<u64>,
    pub stop: Vec<String>,
    pub stream: bool,
    /// OpenAI `stream_options.include_usage`: the client wants a usage chunk at the end.
    pub include_usage: bool,
    /// End-user id, where the format has one.
    pub user: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Message {
    pub role: Role,
    pub content: Vec<Block>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Block {
    Text(String),
}

/// A complete (non-streamed) answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reply {
    pub id: String,
    pub model: String,
    pub content: Vec<Block>,
    pub stop: StopReason,
    pub usage: Usage,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StopReason {
    EndTurn,
    MaxTokens,
    StopSequence,
    ToolUse,
    /// A reason the hub has no name for, kept as the upstream wrote it.
    Other(String),
}

/// Token counts, normalised: `input_tokens` counts every prompt token, cached or not
/// (OpenAI's convention); the cache parts say how many of them were cache reads/writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    pub reasoning_tokens: u64,
}

/// One step of a streamed answer, in the hub's terms.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum StreamEvent {
    Start {
        id: String,
        model: String,
    },
    TextDelta(String),
    Finish {
        stop: StopReason,
        usage: Usage,
    },
    /// The upstream reported an error mid-stream.
    Error {
        message: String,
    },
}

/// A request the hub cannot express in the target format: the client's to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TranslateError {
    /// The request field at fault, e.g. `messages[2].content[0]`.
    pub param: String,
    pub message: String,
}

impl fmt::Display for TranslateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {}", self.param, self.message)
    }
}

impl TranslateError {
    pub(crate) fn new(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            param: param.into(),
            message: message.into(),
        }
    }
}

/// All text of a reply, concatenated.
pub(crate) fn text_of(blocks: &[Block]) -> String {
    blocks
        .iter()
        .map(|b| match b {
            Block::Text(t) => t.as_str(),
        })
        .collect()
}
