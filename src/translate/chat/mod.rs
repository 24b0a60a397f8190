//! OpenAI Chat Completions ⇄ hub: requests here, replies and errors in `reply.rs`, stream
//! events in `stream.rs`.
//!
//! Reasoning travels as `reasoning_content` (what llama.cpp, vLLM and DeepSeek send) and, so
//! that an Anthropic thinking signature survives a round trip through an OpenAI-format client,
//! as LiteLLM's `thinking_blocks` (`[{type: thinking, thinking, signature}]`) on the assistant
//! message.

mod build;
mod reply;
mod stream;
mod typed;

pub(crate) use build::build_request;

pub(crate) use reply::{build_reply, error_body, parse_reply};
pub(crate) use stream::{ChatStreamDecoder, ChatStreamEncoder, error_frame};

use serde_json::{Map, Value, json};

use super::{
    Block, Conversation, Image, Message, Opaque, Params, Reasoning, Role, Tool, ToolChoice,
    TranslateError,
};

/// What the target server accepts beyond the common core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChatDialect {
    /// api.openai.com itself: `max_completion_tokens`, no `top_k`, unknown fields refused.
    /// Otherwise a local or compatible server (`max_tokens`, `top_k` accepted).
    pub strict_openai: bool,
}

fn str_of<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

/// Read a Chat Completions request body into the hub.
pub(crate) fn parse_request(body: &Map<String, Value>) -> Result<Conversation, TranslateError> {
    let mut conv = Conversation::default();
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| TranslateError::new("messages", "must be an array of messages"))?;
    for (i, m) in messages.iter().enumerate() {
        parse_message(&mut conv, m, &format!("messages[{i}]"))?;
    }
    if let Some(tools) = body.get("tools").and_then(Value::as_array) {
        for (i, t) in tools.iter().enumerate() {
            let at = format!("tools[{i}]");
            match (str_of(t, "type"), t.get("function")) {
                (Some("function") | None, Some(f)) => conv.tools.push(Tool {
                    name: str_of(f, "name")
                        .ok_or_else(|| {
                            TranslateError::new(format!("{at}.function.name"), "missing")
                        })?
                        .to_string(),
                    description: str_of(f, "description").map(String::from),
                    parameters: f
                        .get("parameters")
                        .cloned()
                        .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
                    group: None,
                    freeform: false,
                }),
                (other, _) => conv.opaque.push(Opaque::new(
                    format!("tool type `{}`", other.unwrap_or("?")),
                    at,
                )),
            }
        }
    }
    conv.tool_choice = match body.get("tool_choice") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => match s.as_str() {
            "auto" => Some(ToolChoice::Auto),
            "none" => Some(ToolChoice::None),
            "required" => Some(ToolChoice::Any),
            other => {
                return Err(TranslateError::new(
                    "tool_choice",
                    format!(
                        "`{other}` is not a tool choice; use auto, none, required or {{\"type\": \"function\", \"function\": {{\"name\": ...}}}}"
                    ),
                ));
            }
        },
        Some(v) => match v.pointer("/function/name").and_then(Value::as_str) {
            Some(name) => Some(ToolChoice::Tool(name.to_string())),
            None => {
                conv.opaque
                    .push(Opaque::new("this form of `tool_choice`", "tool_choice"));
                None
            }
        },
    };
    conv.parallel_tool_calls = body.get("parallel_tool_calls").and_then(Value::as_bool);
    for legacy in ["functions", "function_call"] {
        if body.get(legacy).is_some_and(|v| !v.is_null()) {
            conv.opaque.push(Opaque::new(
                format!("the legacy `{legacy}` field (use `tools`)"),
                legacy,
            ));
        }
    }
    if body.get("n").and_then(Value::as_u64).is_some_and(|n| n > 1) {
        conv.opaque.push(Opaque::new("`n` greater than 1", "n"));
    }
    if body.get("logprobs").and_then(Value::as_bool) == Some(true) {
        conv.opaque.push(Opaque::new("`logprobs`", "logprobs"));
    }
    if let Some(rf) = body.get("response_format")
        && str_of(rf, "type").is_some_and(|t| t != "text")
    {
        conv.opaque.push(Opaque::new(
            "structured output (`response_format`)",
            "response_format",
        ));
    }
    if body
        .get("modalities")
        .and_then(Value::as_array)
        .is_some_and(|m| m.iter().any(|x| x != "text"))
    {
        conv.opaque.push(Opaque::new("audio output", "modalities"));
    }
    if body.get("web_search_options").is_some() {
        conv.opaque
            .push(Opaque::new("web search", "web_search_options"));
    }
    let stop = match body.get("stop") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
    };
    let reasoning = match body.get("reasoning_effort").and_then(Value::as_str) {
        Some("none") => Some(Reasoning::Off),
        Some("minimal" | "low") => Some(Reasoning::Low),
        Some("medium") => Some(Reasoning::Medium),
        Some("high" | "xhigh") => Some(Reasoning::High),
        _ => None,
    };
    conv.params = Params {
        max_tokens: body
            .get("max_completion_tokens")
            .or_else(|| body.get("max_tokens"))
            .and_then(Value::as_u64),
        temperature: body.get("temperature").and_then(Value::as_f64),
        top_p: body.get("top_p").and_then(Value::as_f64),
        top_k: body.get("top_k").and_then(Value::as_u64),
        stop,
        stream: body.get("stream").and_then(Value::as_bool).unwrap_or(false),
        include_usage: body
            .get("stream_options")
            .and_then(|o| o.get("include_usage"))
            .and_then(Value::as_bool)
            .unwrap_or(false),
        user: body.get("user").and_then(Value::as_str).map(String::from),
        reasoning,
        response_format: None,
    };
    Ok(conv)
}

fn parse_message(conv: &mut Conversation, m: &Value, at: &str) -> Result<(), TranslateError> {
    let role = str_of(m, "role").unwrap_or_default();
    match role {
        "system" | "developer" => {
            let text = text_only(m.get("content"), at)?;
            if conv.messages.is_empty() {
                conv.system.push(text);
            } else {
                conv.messages.push(Message {
                    role: Role::System,
                    content: vec![Block::Text(text)],
                });
            }
        }
        "user" => {
            let content = parse_content(m.get("content"), at)?;
            conv.messages.push(Message {
                role: Role::User,
                content,
            });
        }
        "assistant" => {
            let mut content = Vec::new();
            if let Some(blocks) = m.get("thinking_blocks").and_then(Value::as_array) {
                for b in blocks {
                    match str_of(b, "type") {
                        Some("redacted_thinking") => content.push(Block::RedactedThinking {
                            data: str_of(b, "data").unwrap_or_default().to_string(),
                        }),
                        _ => content.push(Block::Thinking {
                            text: str_of(b, "thinking").unwrap_or_default().to_string(),
                            signature: str_of(b, "signature").map(String::from),
                        }),
                    }
                }
            } else if let Some(r) =
                str_of(m, "reasoning_content").or_else(|| str_of(m, "reasoning"))
                && !r.is_empty()
            {
                content.push(Block::Thinking {
                    text: r.to_string(),
                    signature: None,
                });
            }
            match m.get("content") {
                None | Some(Value::Null) => {}
                Some(Value::String(s)) if s.is_empty() => {}
                c => content.extend(parse_content(c, at)?),
            }
            if let Some(calls) = m.get("tool_calls").and_then(Value::as_array) {
                for (j, c) in calls.iter().enumerate() {
                    let f = c.get("function").unwrap_or(&Value::Null);
                    let arguments = match f.get("arguments") {
                        Some(Value::String(s)) => s.clone(),
                        Some(Value::Null) | None => "{}".to_string(),
                        Some(v) => v.to_string(),
                    };
                    content.push(Block::ToolCall {
                        id: str_of(c, "id")
                            .ok_or_else(|| {
                                TranslateError::new(format!("{at}.tool_calls[{j}].id"), "missing")
                            })?
                            .to_string(),
                        name: str_of(f, "name").unwrap_or_default().to_string(),
                        arguments,
                    });
                }
            }
            if m.get("function_call").is_some_and(|v| !v.is_null()) {
                conv.opaque.push(Opaque::new(
                    "the legacy `function_call` field (use `tool_calls`)",
                    format!("{at}.function_call"),
                ));
            }
            conv.messages.push(Message {
                role: Role::Assistant,
                content,
            });
        }
        "tool" => {
            let call_id = str_of(m, "tool_call_id")
                .ok_or_else(|| {
                    TranslateError::new(
                        format!("{at}.tool_call_id"),
                        "a tool message needs the id of the call it answers",
                    )
                })?
                .to_string();
            let content = match m.get("content") {
                Some(Value::String(s)) => vec![Block::Text(s.clone())],
                c => parse_content(c, at)?,
            };
            let block = Block::ToolResult {
                call_id,
                content,
                is_error: false,
            };
            conv.push_tool_result(block);
        }
        "function" => conv.opaque.push(Opaque::new(
            "the legacy `function` role (use `tool`)",
            format!("{at}.role"),
        )),
        other => {
            return Err(TranslateError::new(
                format!("{at}.role"),
                format!("unknown role `{other}`; use system, developer, user, assistant or tool"),
            ));
        }
    }
    Ok(())
}

/// The text of a system message: a string or text parts.
fn text_only(content: Option<&Value>, at: &str) -> Result<String, TranslateError> {
    let blocks = parse_content(content, at)?;
    Ok(blocks
        .iter()
        .filter_map(|b| match b {
            Block::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n"))
}

/// A message's `content`: a string, or an array of content parts.
fn parse_content(content: Option<&Value>, at: &str) -> Result<Vec<Block>, TranslateError> {
    match content {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![Block::Text(s.clone())]),
        Some(Value::Array(parts)) => {
            let mut out = Vec::with_capacity(parts.len());
            for (j, p) in parts.iter().enumerate() {
                let here = format!("{at}.content[{j}]");
                match str_of(p, "type") {
                    Some("text") => out.push(Block::Text(
                        str_of(p, "text").unwrap_or_default().to_string(),
                    )),
                    Some("refusal") => out.push(Block::Text(
                        str_of(p, "refusal").unwrap_or_default().to_string(),
                    )),
                    Some("image_url") => {
                        let url = p
                            .pointer("/image_url/url")
                            .or_else(|| p.get("image_url"))
                            .and_then(Value::as_str)
                            .ok_or_else(|| {
                                TranslateError::new(format!("{here}.image_url.url"), "missing")
                            })?;
                        out.push(Block::Image(image_from_url(url)));
                    }
                    Some(t) => out.push(Block::Opaque(Opaque::new(
                        format!("content type `{t}`"),
                        here,
                    ))),
                    None => {
                        return Err(TranslateError::new(here, "a content part needs a `type`"));
                    }
                }
            }
            Ok(out)
        }
        Some(_) => Err(TranslateError::new(
            format!("{at}.content"),
            "must be a string or an array of content parts",
        )),
    }
}

/// `data:<media type>;base64,<data>` becomes inline data; anything else stays a URL.
pub(crate) fn image_from_url(url: &str) -> Image {
    if let Some(rest) = url.strip_prefix("data:")
        && let Some((meta, data)) = rest.split_once(',')
        && let Some(media_type) = meta.strip_suffix(";base64")
    {
        return Image::Base64 {
            media_type: media_type.to_string(),
            data: data.to_string(),
        };
    }
    Image::Url(url.to_string())
}
