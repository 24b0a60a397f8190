//! The adapters behind one switch: every translation is `parse (from) → hub → build (to)`, so
//! the callers name two formats and never a pair-specific converter.

use serde_json::{Map, Value};

use super::chat::{self, ChatDialect, ChatStreamDecoder, ChatStreamEncoder};
use super::messages::{self, MessagesStreamDecoder, MessagesStreamEncoder};
use super::responses::{self, ResponsesStreamEncoder};
use super::sse::SseEvent;
use super::{Conversation, Lossy, Reply, StreamEvent, ToolGroups, TranslateError};

/// A wire format the hub speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Chat,
    Messages,
    /// OpenAI Responses: a client format only (upstreams that speak it get pass-through).
    Responses,
}

/// What a builder needs to know about the upstream it builds for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TargetInfo {
    /// api.openai.com (stricter than compatible servers).
    pub strict_openai: bool,
    /// `max_tokens` for formats that require it when the client sent none.
    pub default_max_tokens: u32,
}

impl Format {
    /// A short stable name, for stored data (`chat`, `messages`, `responses`).
    pub(crate) fn id(self) -> &'static str {
        match self {
            Format::Chat => "chat",
            Format::Messages => "messages",
            Format::Responses => "responses",
        }
    }

    pub(crate) fn from_id(id: &str) -> Option<Format> {
        Some(match id {
            "chat" => Format::Chat,
            "messages" => Format::Messages,
            "responses" => Format::Responses,
            _ => return None,
        })
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Format::Chat => "Chat Completions",
            Format::Messages => "Anthropic Messages",
            Format::Responses => "Responses",
        }
    }

    /// A request body in this format → hub conversation. Messages requests take the typed
    /// reader first (no JSON tree); what it does not know goes to the tree reader, which also
    /// says precisely what is wrong with a bad request.
    pub(crate) fn parse_request(self, body: &[u8]) -> Result<Conversation, TranslateError> {
        if self == Format::Messages
            && let Some(conv) = messages::parse_request_typed(body)
        {
            return Ok(conv);
        }
        let map: Map<String, Value> = serde_json::from_slice(body)
            .map_err(|e| TranslateError::new("", format!("the body is not a JSON object: {e}")))?;
        match self {
            Format::Chat => chat::parse_request(&map),
            Format::Messages => messages::parse_request(&map),
            Format::Responses => responses::parse_request(&map),
        }
    }

    pub(crate) fn build_request(
        self,
        conv: &Conversation,
        model: &str,
        target: TargetInfo,
        lossy: &mut Lossy,
    ) -> Result<String, TranslateError> {
        match self {
            Format::Chat => chat::build_request(
                conv,
                model,
                ChatDialect {
                    strict_openai: target.strict_openai,
                },
                lossy,
            ),
            Format::Messages => {
                messages::build_request(conv, model, target.default_max_tokens, lossy)
                    .map(|v| v.to_string())
            }
            Format::Responses => Err(TranslateError::new(
                "model",
                "Lodestar does not translate into the Responses API; mark the provider \
                 `responses_api: native` or route to a Chat Completions or Anthropic provider",
            )),
        }
    }

    /// A complete answer's body in this format → hub reply (`None`: not such an answer).
    pub(crate) fn parse_reply(self, body: &[u8]) -> Option<Reply> {
        match self {
            Format::Chat => chat::parse_reply(body),
            Format::Messages => messages::parse_reply(body),
            // Only Lodestar's own response objects are read back (cached answers).
            Format::Responses => responses::parse_reply(body),
        }
    }

    /// A complete answer in this format, serialized (`groups`: the request's namespaced tools).
    pub(crate) fn build_reply(self, reply: &Reply, groups: &ToolGroups) -> String {
        match self {
            Format::Chat => chat::build_reply(reply),
            Format::Messages => messages::build_reply(reply),
            Format::Responses => responses::build_reply(reply, groups),
        }
    }

    /// This format's error body for an error of `status`.
    pub(crate) fn error_body(self, status: u16, message: &str) -> Value {
        match self {
            Format::Chat => chat::error_body(status, message),
            Format::Messages => messages::error_body(status, message),
            Format::Responses => responses::error_body(status, message),
        }
    }

    /// Whether `v` is already an error body of this format.
    pub(crate) fn is_error_body(self, v: &Value) -> bool {
        match self {
            Format::Chat | Format::Responses => v.get("error").is_some_and(Value::is_object),
            Format::Messages => v.get("type").and_then(Value::as_str) == Some("error"),
        }
    }

    /// The stream event that ends a broken stream in this format.
    pub(crate) fn error_event(self, message: &str) -> String {
        match self {
            Format::Chat => chat::error_frame(message),
            Format::Messages => messages::error_event(message),
            Format::Responses => responses::error_event(message),
        }
    }

    /// A reader of this format's upstream streams (`None` for Responses, which Lodestar only
    /// passes through as an upstream format).
    pub(crate) fn decoder(self) -> Option<Decoder> {
        match self {
            Format::Chat => Some(Decoder::Chat(ChatStreamDecoder::default())),
            Format::Messages => Some(Decoder::Messages(MessagesStreamDecoder::default())),
            Format::Responses => None,
        }
    }

    /// `include_usage`: the client asked for a usage chunk (Chat); `input_estimate`: prompt
    /// tokens for `message_start` when the upstream reports them only at the end (Messages).
    pub(crate) fn encoder(
        self,
        include_usage: bool,
        input_estimate: u64,
        groups: ToolGroups,
    ) -> Encoder {
        match self {
            Format::Chat => Encoder::Chat(ChatStreamEncoder::new(include_usage)),
            Format::Messages => Encoder::Messages(MessagesStreamEncoder::new(input_estimate)),
            Format::Responses => Encoder::Responses(Box::new(ResponsesStreamEncoder::new(groups))),
        }
    }
}

/// Reads an upstream's stream into hub events.
pub(crate) enum Decoder {
    Chat(ChatStreamDecoder),
    Messages(MessagesStreamDecoder),
}

impl Decoder {
    pub(crate) fn decode(&mut self, ev: &SseEvent) -> Vec<StreamEvent> {
        match self {
            Decoder::Chat(d) => d.decode(ev),
            Decoder::Messages(d) => d.decode(ev),
        }
    }

    /// Events owed at the end of the upstream body (a Chat stream without `[DONE]`).
    pub(crate) fn end_of_body(&mut self) -> Vec<StreamEvent> {
        match self {
            Decoder::Chat(d) => d.end_of_body(),
            Decoder::Messages(_) => Vec::new(),
        }
    }
}

/// Writes hub events in the client's format.
pub(crate) enum Encoder {
    Chat(ChatStreamEncoder),
    Messages(MessagesStreamEncoder),
    Responses(Box<ResponsesStreamEncoder>),
}

impl Encoder {
    /// A Responses stream's final response object, once it was sent.
    pub(crate) fn completed_response(&self) -> Option<&serde_json::Value> {
        match self {
            Encoder::Responses(e) => e.completed(),
            _ => None,
        }
    }

    /// Responses streams: use this response id.
    pub(crate) fn set_response_id(&mut self, id: String) {
        if let Encoder::Responses(e) = self {
            e.set_id(id);
        }
    }

    pub(crate) fn encode(&mut self, ev: StreamEvent) -> Vec<String> {
        match self {
            Encoder::Chat(e) => e.encode(ev),
            Encoder::Messages(e) => e.encode(ev),
            Encoder::Responses(e) => e.encode(ev),
        }
    }
}
