//! The translation hub: one internal model of a conversation, one adapter per wire format.
//!
//! Owns: converting requests, replies, errors and stream events between the wire formats
//! through the types below — OpenAI Chat Completions (`chat/`), Anthropic Messages
//! (`messages/`) and, as a client format only, OpenAI Responses (`responses/`) — reading SSE (`sse.rs`) and estimating token counts (`tokens.rs`). Must not do
//! I/O: adapters are pure functions and small state machines, so each mapping is testable on
//! its own. A new wire format adds one adapter (`parse_request`, `build_request`, `parse_reply`,
//! `build_reply`, a stream decoder and a stream encoder), not one converter per pair.
//!
//! What a target cannot carry is decided by the *builder* of the target format: the parsers
//! keep everything they do not model as [`Opaque`] items, and a builder either refuses them
//! (a [`TranslateError`] naming the feature) or drops them when the config says so
//! (`translation.on_unsupported: drop`), recording each drop in [`Lossy::dropped`] for the
//! `x-lodestar-dropped` response header. The mapping table is docs/translation.md.

pub(crate) mod chat;
pub(crate) mod format;
pub(crate) mod messages;
pub(crate) mod responses;
pub(crate) mod sse;
pub(crate) mod tokens;

#[cfg(test)]
mod golden;

use std::fmt;

use serde_json::Value;

pub(crate) use format::{Decoder, Encoder, Format, TargetInfo};

/// A conversation as every format understands it.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Conversation {
    /// System prompt parts, in order (the leading system messages / the `system` field).
    pub system: Vec<String>,
    pub messages: Vec<Message>,
    pub tools: Vec<Tool>,
    pub tool_choice: Option<ToolChoice>,
    /// `Some(false)`: at most one tool call per turn.
    pub parallel_tool_calls: Option<bool>,
    pub params: Params,
    /// Request-level features the hub has no model for (`n`, `logprobs`, server tools, …).
    pub opaque: Vec<Opaque>,
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
    pub reasoning: Option<Reasoning>,
    /// Structured output, as Chat Completions' `response_format` object
    /// (`{type: json_schema, json_schema: {name, schema, strict}}` or `{type: json_object}`).
    pub response_format: Option<Value>,
}

/// How hard the model should think before answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reasoning {
    /// Thinking explicitly off.
    Off,
    Low,
    Medium,
    High,
    /// An explicit token budget (Anthropic `thinking.budget_tokens`).
    Budget(u64),
}

impl Reasoning {
    /// The nearest Anthropic thinking budget.
    pub(crate) fn budget(self) -> Option<u64> {
        match self {
            Reasoning::Off => None,
            Reasoning::Low => Some(2048),
            Reasoning::Medium => Some(8192),
            Reasoning::High => Some(24576),
            Reasoning::Budget(b) => Some(b),
        }
    }

    /// The nearest OpenAI `reasoning_effort`.
    pub(crate) fn effort(self) -> &'static str {
        match self {
            Reasoning::Off => "none",
            Reasoning::Low => "low",
            Reasoning::Medium => "medium",
            Reasoning::High => "high",
            Reasoning::Budget(b) if b <= 4096 => "low",
            Reasoning::Budget(b) if b <= 16384 => "medium",
            Reasoning::Budget(_) => "high",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    User,
    Assistant,
    /// A system message after the conversation started (Claude Code sends one); builders
    /// whose format has no such thing fold it into the system prompt.
    System,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Message {
    pub role: Role,
    pub content: Vec<Block>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Block {
    Text(String),
    Image(Image),
    /// An assistant's call of a client tool. `arguments` is JSON text, as OpenAI carries it.
    ToolCall {
        id: String,
        name: String,
        arguments: String,
    },
    /// The answer to a tool call, in a user turn.
    ToolResult {
        call_id: String,
        /// Text and images.
        content: Vec<Block>,
        is_error: bool,
    },
    /// The model's reasoning. `signature` is Anthropic's opaque proof, kept byte for byte.
    Thinking {
        text: String,
        signature: Option<String>,
    },
    /// Anthropic's encrypted reasoning.
    RedactedThinking {
        data: String,
    },
    /// A content block the hub has no model for (a document, a server tool's result, audio).
    Opaque(Opaque),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Image {
    Base64 { media_type: String, data: String },
    Url(String),
}

/// A client tool the model may call.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Tool {
    pub name: String,
    pub description: Option<String>,
    /// JSON Schema of the arguments.
    pub parameters: Value,
    /// The Responses `namespace` this tool was declared in (its `name` is then
    /// `NAMESPACE__NAME`, flattened for targets without groups).
    pub group: Option<String>,
    /// A Responses `custom` tool: its input is free text, carried to targets as a function
    /// with one string argument `input` and given back as a `custom_tool_call`.
    pub freeform: bool,
}

/// Which flattened tool names came from a Responses `namespace`, so that calls of them can be
/// answered as the client declared them (`name` + `namespace`).
#[derive(Debug, Clone, Default)]
pub(crate) struct ToolGroups {
    /// (flattened name, namespace)
    grouped: Vec<(String, String)>,
    /// Names of `custom` (free-text input) tools.
    freeform: Vec<String>,
    /// The request's settings a Responses answer echoes (`instructions`, `tools`, …).
    pub(crate) echo: serde_json::Map<String, Value>,
}

impl ToolGroups {
    pub(crate) fn of(conv: &Conversation) -> Self {
        Self {
            grouped: conv
                .tools
                .iter()
                .filter_map(|t| t.group.clone().map(|g| (t.name.clone(), g)))
                .collect(),
            freeform: conv
                .tools
                .iter()
                .filter(|t| t.freeform)
                .map(|t| t.name.clone())
                .collect(),
            echo: serde_json::Map::new(),
        }
    }

    /// Also echo the settings of the Responses request `body` in the answer, as OpenAI does.
    pub(crate) fn echoing(mut self, body: &[u8]) -> Self {
        self.echo = responses::echo_of(body);
        self
    }

    /// A called name as the client knows it: (name, namespace).
    pub(crate) fn split<'a>(&'a self, flat: &'a str) -> (&'a str, Option<&'a str>) {
        match self.grouped.iter().find(|(f, _)| f == flat) {
            Some((f, ns)) => (&f[ns.len() + responses::NAMESPACE_SEP.len()..], Some(ns)),
            None => (flat, None),
        }
    }

    /// Whether calls of `name` go back as `custom_tool_call`s.
    pub(crate) fn is_freeform(&self, name: &str) -> bool {
        self.freeform.iter().any(|n| n == name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ToolChoice {
    Auto,
    /// Some tool must be called (OpenAI `required`, Anthropic `any`).
    Any,
    None,
    Tool(String),
}

/// Something a format has and the hub does not model: kept so the target's builder can
/// refuse it by name, or drop it on purpose.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Opaque {
    /// What it is, for messages and the `x-lodestar-dropped` header: `n`, `tool type
    /// web_search_20250305`, `content type document`.
    pub what: String,
    /// Where it was in the request, e.g. `messages[2].content[1]`.
    pub param: String,
    /// Left out unless the config is `strict`: things clients declare on every request whether
    /// or not they are used (the hosted tools Codex lists), where an error would make the
    /// client unusable on any other target.
    pub soft: bool,
}

impl Opaque {
    pub(crate) fn new(what: impl Into<String>, param: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            param: param.into(),
            soft: false,
        }
    }

    /// An item dropped (and named in `x-lodestar-dropped`) unless the config is `strict`.
    pub(crate) fn soft(what: impl Into<String>, param: impl Into<String>) -> Self {
        Self {
            soft: true,
            ..Self::new(what, param)
        }
    }
}

impl Conversation {
    /// Adds a tool result: results of parallel calls in a row are one user turn in the hub (and
    /// in Anthropic's format), so consecutive results join the same turn.
    pub(crate) fn push_tool_result(&mut self, block: Block) {
        match self.messages.last_mut() {
            Some(last)
                if last.role == Role::User
                    && last
                        .content
                        .iter()
                        .all(|b| matches!(b, Block::ToolResult { .. })) =>
            {
                last.content.push(block)
            }
            _ => self.messages.push(Message {
                role: Role::User,
                content: vec![block],
            }),
        }
    }
}

/// A complete (non-streamed) answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reply {
    pub id: String,
    pub model: String,
    /// Thinking, text and tool calls, in the order the model produced them.
    pub content: Vec<Block>,
    pub stop: StopReason,
    /// The stop sequence that ended the answer, when one did.
    pub stop_sequence: Option<String>,
    pub usage: Usage,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StopReason {
    EndTurn,
    MaxTokens,
    StopSequence,
    ToolUse,
    /// The model refused (OpenAI `content_filter`, Anthropic `refusal`).
    Refusal,
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
    /// Every cache write, whatever its lifetime.
    pub cache_write_tokens: u64,
    /// The part of `cache_write_tokens` written for one hour (priced higher than 5 minutes).
    pub cache_write_1h_tokens: u64,
    /// Output tokens spent on reasoning (part of `output_tokens`).
    pub reasoning_tokens: u64,
}

/// What a content block is when it starts streaming.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum BlockKind {
    Text,
    Thinking,
    RedactedThinking { data: String },
    ToolCall { id: String, name: String },
}

/// One step of a streamed answer, in the hub's terms. Blocks are numbered from 0 in the
/// order they start; every started block is stopped before `Finish`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum StreamEvent {
    Start {
        id: String,
        model: String,
        /// Prompt tokens, when known at the start (Anthropic reports them in `message_start`).
        input_tokens: Option<u64>,
    },
    BlockStart {
        index: usize,
        kind: BlockKind,
    },
    TextDelta {
        index: usize,
        text: String,
    },
    ThinkingDelta {
        index: usize,
        text: String,
    },
    SignatureDelta {
        index: usize,
        signature: String,
    },
    /// A fragment of a tool call's JSON arguments.
    ToolArgsDelta {
        index: usize,
        json: String,
    },
    BlockStop {
        index: usize,
    },
    Finish {
        stop: StopReason,
        stop_sequence: Option<String>,
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

/// What to do with a feature the target format lacks (`translation.on_unsupported`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnUnsupported {
    /// Refuse the request with an error naming the feature (hosted tools an agent merely
    /// declares are still left out and named).
    #[default]
    Error,
    /// Leave it out and name it in the `x-lodestar-dropped` response header.
    Drop,
    /// Refuse every feature the target lacks, declared hosted tools included.
    Strict,
}

/// A builder's record of what it left out.
#[derive(Debug, Default)]
pub(crate) struct Lossy {
    pub policy: OnUnsupported,
    /// What was dropped (by policy), for the `x-lodestar-dropped` header.
    pub dropped: Vec<String>,
}

impl Lossy {
    pub(crate) fn new(policy: OnUnsupported) -> Self {
        Self {
            policy,
            dropped: Vec::new(),
        }
    }

    /// `what` cannot be carried to `target`: an error, or a recorded drop.
    pub(crate) fn unsupported(&mut self, o: &Opaque, target: &str) -> Result<(), TranslateError> {
        match self.policy {
            OnUnsupported::Error if o.soft => {
                if !self.dropped.contains(&o.what) {
                    self.dropped.push(o.what.clone());
                }
                Ok(())
            }
            OnUnsupported::Drop => {
                if !self.dropped.contains(&o.what) {
                    self.dropped.push(o.what.clone());
                }
                Ok(())
            }
            OnUnsupported::Error | OnUnsupported::Strict => Err(TranslateError::new(
                o.param.clone(),
                format!(
                    "{} cannot be translated to {target}; route this request to a provider \
                     that speaks the client's API, remove it, or set \
                     `translation.on_unsupported: drop` to send the request without it",
                    o.what
                ),
            )),
        }
    }
}

/// Error types by HTTP status, in Anthropic's names (OpenAI's SDKs key on the status alone).
pub(crate) fn anthropic_error_type(status: u16) -> &'static str {
    match status {
        400 | 422 => "invalid_request_error",
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        504 => "timeout_error",
        529 | 503 => "overloaded_error",
        _ => "api_error",
    }
}

/// The message of an error body in either format (`{error:{message}}` in both), if it is one.
pub(crate) fn error_message(v: &Value) -> Option<String> {
    let e = v.get("error")?;
    e.get("message")
        .and_then(Value::as_str)
        .or_else(|| e.as_str())
        .map(String::from)
}
