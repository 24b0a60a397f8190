//! Anthropic Messages ⇄ hub: requests here, replies and errors in `reply.rs`, stream events in
//! `stream.rs`.
//!
//! Fields with no equivalent elsewhere are dropped on purpose when a request leaves this
//! format (each listed in docs/translation.md): `cache_control`, `context_management`,
//! `output_config.effort`, `metadata`, `service_tier`, tools' `defer_loading` /
//! `input_examples`, and `thinking: {type: adaptive}` (the target model's default applies).

mod reply;
mod stream;
mod typed;

pub(crate) use reply::{error_body, parse_reply};
pub(crate) use stream::{MessagesStreamDecoder, MessagesStreamEncoder, error_event};
pub(crate) use typed::build_reply;
pub(crate) use typed::request::parse as parse_request_typed;

use serde_json::{Map, Value, json};

use super::{
    Block, Conversation, Image, Lossy, Message, Opaque, Params, Reasoning, Role, Tool, ToolChoice,
    TranslateError,
};

fn str_of<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

/// Read a Messages request body into the hub.
pub(crate) fn parse_request(body: &Map<String, Value>) -> Result<Conversation, TranslateError> {
    let mut conv = Conversation::default();
    match body.get("system") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => conv.system.push(s.clone()),
        Some(Value::Array(blocks)) => {
            for b in blocks {
                if let Some(t) = str_of(b, "text") {
                    conv.system.push(t.to_string());
                }
            }
        }
        Some(_) => {
            return Err(TranslateError::new(
                "system",
                "must be a string or an array of text blocks",
            ));
        }
    }
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| TranslateError::new("messages", "must be an array of messages"))?;
    for (i, m) in messages.iter().enumerate() {
        let at = format!("messages[{i}]");
        let role = match str_of(m, "role") {
            Some("user") => Role::User,
            Some("assistant") => Role::Assistant,
            Some("system") => Role::System,
            other => {
                return Err(TranslateError::new(
                    format!("{at}.role"),
                    format!(
                        "`{}` is not a role; use user or assistant",
                        other.unwrap_or("")
                    ),
                ));
            }
        };
        let content = parse_content(m.get("content"), &at)?;
        conv.messages.push(Message { role, content });
    }
    for (i, t) in body
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let at = format!("tools[{i}]");
        match str_of(t, "type") {
            None | Some("custom") => conv.tools.push(Tool {
                name: str_of(t, "name")
                    .ok_or_else(|| TranslateError::new(format!("{at}.name"), "missing"))?
                    .to_string(),
                description: str_of(t, "description").map(String::from),
                parameters: t
                    .get("input_schema")
                    .cloned()
                    .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
                group: None,
                freeform: false,
            }),
            // Server tools (web search, code execution, tool search) and Anthropic-defined
            // client tools (bash, text editor, computer) exist only on Anthropic.
            Some(kind) => conv
                .opaque
                .push(Opaque::new(format!("tool type `{kind}`"), at)),
        }
    }
    if let Some(tc) = body.get("tool_choice").filter(|v| !v.is_null()) {
        conv.tool_choice = match str_of(tc, "type") {
            Some("auto") => Some(ToolChoice::Auto),
            Some("any") => Some(ToolChoice::Any),
            Some("none") => Some(ToolChoice::None),
            Some("tool") => Some(ToolChoice::Tool(
                str_of(tc, "name")
                    .ok_or_else(|| TranslateError::new("tool_choice.name", "missing"))?
                    .to_string(),
            )),
            other => {
                return Err(TranslateError::new(
                    "tool_choice.type",
                    format!(
                        "`{}` is not a tool choice; use auto, any, none or tool",
                        other.unwrap_or("")
                    ),
                ));
            }
        };
        if tc.get("disable_parallel_tool_use").and_then(Value::as_bool) == Some(true) {
            conv.parallel_tool_calls = Some(false);
        }
    }
    if body
        .get("output_config")
        .and_then(|o| o.get("format"))
        .is_some_and(|v| !v.is_null())
    {
        conv.opaque.push(Opaque::new(
            "structured output (`output_config.format`)",
            "output_config.format",
        ));
    }
    if body.get("mcp_servers").is_some_and(|v| !v.is_null()) {
        conv.opaque
            .push(Opaque::new("MCP servers (`mcp_servers`)", "mcp_servers"));
    }
    let reasoning = match body.get("thinking") {
        Some(t) => match str_of(t, "type") {
            Some("enabled") => t
                .get("budget_tokens")
                .and_then(Value::as_u64)
                .map(Reasoning::Budget),
            Some("disabled") => Some(Reasoning::Off),
            // `adaptive`: the model decides; the target model's default is the nearest thing.
            _ => None,
        },
        None => None,
    };
    conv.params = Params {
        max_tokens: body.get("max_tokens").and_then(Value::as_u64),
        temperature: body.get("temperature").and_then(Value::as_f64),
        top_p: body.get("top_p").and_then(Value::as_f64),
        top_k: body.get("top_k").and_then(Value::as_u64),
        stop: body
            .get("stop_sequences")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default(),
        stream: body.get("stream").and_then(Value::as_bool).unwrap_or(false),
        include_usage: true,
        user: None,
        reasoning,
        response_format: None,
    };
    Ok(conv)
}

fn parse_image(b: &Value, at: &str) -> Result<Image, TranslateError> {
    let src = b
        .get("source")
        .ok_or_else(|| TranslateError::new(format!("{at}.source"), "an image needs a `source`"))?;
    match str_of(src, "type") {
        Some("base64") => Ok(Image::Base64 {
            media_type: str_of(src, "media_type").unwrap_or("image/png").to_string(),
            data: str_of(src, "data").unwrap_or_default().to_string(),
        }),
        Some("url") => Ok(Image::Url(
            str_of(src, "url").unwrap_or_default().to_string(),
        )),
        other => Err(TranslateError::new(
            format!("{at}.source.type"),
            format!(
                "image source `{}` cannot be translated; send base64 or url",
                other.unwrap_or("")
            ),
        )),
    }
}

fn parse_content(content: Option<&Value>, at: &str) -> Result<Vec<Block>, TranslateError> {
    let blocks = match content {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(s)) => return Ok(vec![Block::Text(s.clone())]),
        Some(Value::Array(b)) => b,
        Some(_) => {
            return Err(TranslateError::new(
                format!("{at}.content"),
                "must be a string or an array of content blocks",
            ));
        }
    };
    let mut out = Vec::with_capacity(blocks.len());
    for (j, b) in blocks.iter().enumerate() {
        let here = format!("{at}.content[{j}]");
        if let Some(block) = answer_block(b) {
            out.push(block);
            continue;
        }
        let block = match str_of(b, "type") {
            Some("image") => Block::Image(parse_image(b, &here)?),
            Some("tool_result") => {
                let content = match b.get("content") {
                    Some(Value::String(s)) => vec![Block::Text(s.clone())],
                    c => parse_content(c, &here)?,
                };
                Block::ToolResult {
                    call_id: str_of(b, "tool_use_id").unwrap_or_default().to_string(),
                    content,
                    is_error: b.get("is_error").and_then(Value::as_bool) == Some(true),
                }
            }
            Some(t) => Block::Opaque(Opaque::new(format!("content type `{t}`"), here)),
            None => return Err(TranslateError::new(here, "a content block needs a `type`")),
        };
        out.push(block);
    }
    Ok(out)
}

/// The blocks an answer is made of (text, thinking, redacted thinking, tool use); `None` for
/// any other type.
pub(super) fn answer_block(b: &Value) -> Option<Block> {
    let s = |k: &str| str_of(b, k).unwrap_or_default().to_string();
    Some(match str_of(b, "type")? {
        "text" => Block::Text(s("text")),
        "thinking" => Block::Thinking {
            text: s("thinking"),
            signature: str_of(b, "signature").map(String::from),
        },
        "redacted_thinking" => Block::RedactedThinking { data: s("data") },
        "tool_use" => Block::ToolCall {
            id: s("id"),
            name: s("name"),
            arguments: b
                .get("input")
                .map(Value::to_string)
                .unwrap_or_else(|| "{}".into()),
        },
        _ => return None,
    })
}

/// A tool call's JSON arguments as the object Anthropic's `input` must be (`{}` when a model
/// wrote something that is not a JSON object: the client's tool validation then reports it).
pub(crate) fn args_object(arguments: &str) -> Value {
    match serde_json::from_str::<Value>(arguments) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            if !arguments.trim().is_empty() {
                tracing::warn!("a tool call's arguments are not a JSON object; passed on as {{}}");
            }
            Value::Object(Map::new())
        }
    }
}

fn image_json(img: &Image) -> Value {
    match img {
        Image::Base64 { media_type, data } => {
            json!({"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}})
        }
        Image::Url(u) => json!({"type": "image", "source": {"type": "url", "url": u}}),
    }
}

const TARGET: &str = "the Anthropic Messages API";

fn content_json(blocks: &[Block], lossy: &mut Lossy) -> Result<Vec<Value>, TranslateError> {
    let mut results = Vec::new();
    let mut rest = Vec::new();
    for b in blocks {
        match b {
            // Anthropic refuses empty text blocks.
            Block::Text(t) if t.is_empty() => {}
            Block::Text(t) => rest.push(json!({"type": "text", "text": t})),
            Block::Image(img) => rest.push(image_json(img)),
            Block::ToolCall {
                id,
                name,
                arguments,
            } => rest.push(json!({"type": "tool_use", "id": id, "name": name,
                                   "input": args_object(arguments)})),
            Block::ToolResult {
                call_id,
                content,
                is_error,
            } => {
                let inner = content_json(content, lossy)?;
                let mut r = Map::new();
                r.insert("type".into(), "tool_result".into());
                r.insert("tool_use_id".into(), call_id.clone().into());
                r.insert("content".into(), inner.into());
                if *is_error {
                    r.insert("is_error".into(), true.into());
                }
                // Tool results must open the user turn.
                results.push(Value::Object(r));
            }
            // Anthropic verifies signatures: unsigned reasoning (from another model) cannot go.
            Block::Thinking {
                text,
                signature: Some(sig),
            } => rest.push(json!({"type": "thinking", "thinking": text, "signature": sig})),
            Block::Thinking {
                signature: None, ..
            } => {}
            Block::RedactedThinking { data } => {
                rest.push(json!({"type": "redacted_thinking", "data": data}))
            }
            Block::Opaque(o) => lossy.unsupported(o, TARGET)?,
        }
    }
    results.extend(rest);
    Ok(results)
}

/// Whether the last assistant turn calls a tool without the signed thinking block that
/// Anthropic requires before it when thinking is on (it comes from another model, or the
/// client dropped it): thinking must then be off for this request.
fn tool_turn_lacks_thinking(conv: &Conversation) -> bool {
    let Some(last) = conv
        .messages
        .iter()
        .rev()
        .find(|m| m.role == Role::Assistant)
    else {
        return false;
    };
    let calls = last
        .content
        .iter()
        .any(|b| matches!(b, Block::ToolCall { .. }));
    let signed = last.content.iter().any(|b| {
        matches!(
            b,
            Block::Thinking {
                signature: Some(_),
                ..
            } | Block::RedactedThinking { .. }
        )
    });
    calls && !signed
}

/// A Messages API request body for `conv`, asking `model`.
pub(crate) fn build_request(
    conv: &Conversation,
    model: &str,
    default_max_tokens: u32,
    lossy: &mut Lossy,
) -> Result<Value, TranslateError> {
    for o in &conv.opaque {
        lossy.unsupported(o, TARGET)?;
    }
    if conv.params.response_format.is_some() {
        lossy.unsupported(
            &Opaque::new("structured output (`text.format`)", "text.format"),
            TARGET,
        )?;
    }
    let mut system: Vec<&str> = conv.system.iter().map(String::as_str).collect();
    let mut messages = Vec::with_capacity(conv.messages.len());
    for m in &conv.messages {
        let role = match m.role {
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::System => {
                for b in &m.content {
                    if let Block::Text(t) = b {
                        system.push(t);
                    }
                }
                continue;
            }
        };
        let content = content_json(&m.content, lossy)?;
        if content.is_empty() {
            continue;
        }
        messages.push(json!({"role": role, "content": content}));
    }
    let mut body = Map::new();
    body.insert("model".into(), model.into());
    body.insert("messages".into(), messages.into());
    if !system.is_empty() {
        body.insert("system".into(), system.join("\n\n").into());
    }
    let p = &conv.params;
    let max_tokens = p.max_tokens.unwrap_or(u64::from(default_max_tokens));
    body.insert("max_tokens".into(), max_tokens.into());
    let budget = p
        .reasoning
        .and_then(Reasoning::budget)
        .map(|b| b.min(max_tokens.saturating_sub(1)))
        .filter(|b| *b >= 1024 && !tool_turn_lacks_thinking(conv));
    if let Some(b) = budget {
        body.insert(
            "thinking".into(),
            json!({"type": "enabled", "budget_tokens": b}),
        );
    } else {
        // With thinking on, Anthropic accepts no temperature/top_k and only a high top_p.
        if let Some(t) = p.temperature {
            // OpenAI's range is 0..2, Anthropic's 0..1.
            body.insert("temperature".into(), t.min(1.0).into());
        }
        if let Some(v) = p.top_k {
            body.insert("top_k".into(), v.into());
        }
        if let Some(v) = p.top_p {
            body.insert("top_p".into(), v.into());
        }
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
    if !conv.tools.is_empty() {
        let tools: Vec<Value> = conv
            .tools
            .iter()
            .map(|t| {
                let mut o = Map::new();
                o.insert("name".into(), t.name.clone().into());
                if let Some(d) = &t.description {
                    o.insert("description".into(), d.clone().into());
                }
                o.insert("input_schema".into(), t.parameters.clone());
                Value::Object(o)
            })
            .collect();
        body.insert("tools".into(), tools.into());
    }
    let mut choice = match &conv.tool_choice {
        None => None,
        Some(ToolChoice::Auto) => Some(json!({"type": "auto"})),
        Some(ToolChoice::Any) => Some(json!({"type": "any"})),
        Some(ToolChoice::None) => Some(json!({"type": "none"})),
        Some(ToolChoice::Tool(n)) => Some(json!({"type": "tool", "name": n})),
    };
    if conv.parallel_tool_calls == Some(false) && !conv.tools.is_empty() {
        let c = choice.get_or_insert_with(|| json!({"type": "auto"}));
        if let Some(o) = c.as_object_mut()
            && o.get("type").and_then(Value::as_str) != Some("none")
        {
            o.insert("disable_parallel_tool_use".into(), true.into());
        }
    }
    if let Some(c) = choice {
        body.insert("tool_choice".into(), c);
    }
    Ok(Value::Object(body))
}
