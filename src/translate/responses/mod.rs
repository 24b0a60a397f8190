//! OpenAI Responses (the API Codex CLI speaks) ⇄ hub, as a *client* format: requests are read
//! here, answers written in `reply.rs`, stream events in `stream.rs`. Lodestar never translates
//! *into* Responses (an upstream that speaks it gets the client's request untouched).
//!
//! Hosted tools an agent declares on every request (`web_search`, `file_search`, …) and the
//! records of their earlier calls are `soft`: left out and named in `x-lodestar-dropped`, an
//! error only when `tool_choice` forces one or `translation.on_unsupported: strict`.
//! `namespace` tools are flattened to `NAMESPACE__NAME` for targets without groups.

mod reply;
mod stream;

pub(crate) use reply::{build_reply, error_body, parse_reply};
pub(crate) use stream::{ResponsesStreamEncoder, error_event};

use serde_json::{Map, Value, json};

use super::chat::image_from_url;
use super::{
    Block, Conversation, Message, Opaque, Params, Reasoning, Role, Tool, ToolChoice, TranslateError,
};

fn str_of<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

/// The separator of a flattened `namespace` tool's name.
pub(crate) const NAMESPACE_SEP: &str = "__";

/// Read a Responses request body into the hub.
pub(crate) fn parse_request(body: &Map<String, Value>) -> Result<Conversation, TranslateError> {
    let mut conv = Conversation::default();
    if let Some(i) = body.get("instructions").and_then(Value::as_str)
        && !i.is_empty()
    {
        conv.system.push(i.to_string());
    }
    match body.get("input") {
        Some(Value::String(s)) => conv.messages.push(Message {
            role: Role::User,
            content: vec![Block::Text(s.clone())],
        }),
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                parse_item(&mut conv, item, &format!("input[{i}]"))?;
            }
        }
        None | Some(Value::Null) => {}
        Some(_) => {
            return Err(TranslateError::new(
                "input",
                "must be a string or an array of input items",
            ));
        }
    }
    if body
        .get("previous_response_id")
        .is_some_and(|v| !v.is_null())
    {
        return Err(TranslateError::new(
            "previous_response_id",
            "this `previous_response_id` is not one of the responses Lodestar stored, so it \
             cannot be expanded for a provider without its own response store; send the whole conversation in \
             `input` (as Codex CLI does with `store: false`)",
        ));
    }
    for (i, t) in body
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        parse_tool(&mut conv, t, &format!("tools[{i}]"), None)?;
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
                    format!("`{other}` is not a tool choice; use auto, none or required"),
                ));
            }
        },
        Some(v) => match str_of(v, "type") {
            Some("function" | "custom") => Some(ToolChoice::Tool(
                str_of(v, "name").unwrap_or_default().to_string(),
            )),
            // Narrowing to a subset of the tools: the nearest a target has is "auto".
            Some("allowed_tools") => Some(ToolChoice::Auto),
            other => {
                // Forcing a hosted tool the target lacks cannot be honoured by leaving it out.
                conv.opaque.push(Opaque::new(
                    format!("forcing the hosted tool `{}`", other.unwrap_or("?")),
                    "tool_choice",
                ));
                None
            }
        },
    };
    conv.parallel_tool_calls = body.get("parallel_tool_calls").and_then(Value::as_bool);
    let reasoning = match body
        .get("reasoning")
        .and_then(|r| r.get("effort"))
        .and_then(Value::as_str)
    {
        Some("none") => Some(Reasoning::Off),
        Some("minimal" | "low") => Some(Reasoning::Low),
        Some("medium") => Some(Reasoning::Medium),
        Some("high" | "xhigh") => Some(Reasoning::High),
        _ => None,
    };
    let response_format = match body.get("text").and_then(|t| t.get("format")) {
        Some(f) => match str_of(f, "type") {
            Some("json_schema") => {
                let mut js = Map::new();
                js.insert(
                    "name".into(),
                    str_of(f, "name").unwrap_or("response").into(),
                );
                if let Some(d) = f.get("description") {
                    js.insert("description".into(), d.clone());
                }
                if let Some(s) = f.get("schema") {
                    js.insert("schema".into(), s.clone());
                }
                if let Some(s) = f.get("strict") {
                    js.insert("strict".into(), s.clone());
                }
                Some(json!({"type": "json_schema", "json_schema": js}))
            }
            Some("json_object") => Some(json!({"type": "json_object"})),
            _ => None,
        },
        None => None,
    };
    conv.params = Params {
        max_tokens: body.get("max_output_tokens").and_then(Value::as_u64),
        temperature: body.get("temperature").and_then(Value::as_f64),
        top_p: body.get("top_p").and_then(Value::as_f64),
        top_k: None,
        stop: Vec::new(),
        stream: body.get("stream").and_then(Value::as_bool).unwrap_or(false),
        include_usage: true,
        user: body
            .get("safety_identifier")
            .or_else(|| body.get("user"))
            .and_then(Value::as_str)
            .map(String::from),
        reasoning,
        response_format,
    };
    Ok(conv)
}

fn parse_tool(
    conv: &mut Conversation,
    t: &Value,
    at: &str,
    namespace: Option<&str>,
) -> Result<(), TranslateError> {
    match str_of(t, "type") {
        Some("function") => {
            let name = str_of(t, "name")
                .ok_or_else(|| TranslateError::new(format!("{at}.name"), "missing"))?;
            conv.tools.push(Tool {
                name: match namespace {
                    Some(ns) => format!("{ns}{NAMESPACE_SEP}{name}"),
                    None => name.to_string(),
                },
                description: str_of(t, "description").map(String::from),
                parameters: t
                    .get("parameters")
                    .filter(|p| !p.is_null())
                    .cloned()
                    .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
                group: namespace.map(String::from),
                freeform: false,
            });
        }
        Some("custom") => {
            let name = str_of(t, "name")
                .ok_or_else(|| TranslateError::new(format!("{at}.name"), "missing"))?;
            conv.tools.push(Tool {
                name: name.to_string(),
                description: Some(freeform_description(t)),
                parameters: json!({
                    "type": "object",
                    "properties": {"input": {"type": "string",
                        "description": "The tool's whole input, as free text."}},
                    "required": ["input"],
                    "additionalProperties": false,
                }),
                group: None,
                freeform: true,
            });
        }
        Some("namespace") => {
            let ns = str_of(t, "name")
                .ok_or_else(|| TranslateError::new(format!("{at}.name"), "missing"))?;
            for (j, inner) in t
                .get("tools")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                parse_tool(conv, inner, &format!("{at}.tools[{j}]"), Some(ns))?;
            }
        }
        Some(kind) => conv
            .opaque
            .push(Opaque::soft(format!("tool type `{kind}`"), at)),
        None => return Err(TranslateError::new(format!("{at}.type"), "missing")),
    }
    Ok(())
}

/// The request fields a Responses answer repeats, read without parsing the rest (`input` is
/// skipped, not built).
pub(crate) fn echo_of(body: &[u8]) -> serde_json::Map<String, Value> {
    use serde_json::value::RawValue;
    #[derive(serde::Deserialize)]
    struct Echoed<'a> {
        #[serde(borrow)]
        instructions: Option<&'a RawValue>,
        #[serde(borrow)]
        tools: Option<&'a RawValue>,
        #[serde(borrow)]
        tool_choice: Option<&'a RawValue>,
        #[serde(borrow)]
        temperature: Option<&'a RawValue>,
        #[serde(borrow)]
        top_p: Option<&'a RawValue>,
        #[serde(borrow)]
        max_output_tokens: Option<&'a RawValue>,
        #[serde(borrow)]
        parallel_tool_calls: Option<&'a RawValue>,
        #[serde(borrow)]
        reasoning: Option<&'a RawValue>,
        #[serde(borrow)]
        text: Option<&'a RawValue>,
        #[serde(borrow)]
        metadata: Option<&'a RawValue>,
        #[serde(borrow)]
        store: Option<&'a RawValue>,
        #[serde(borrow)]
        truncation: Option<&'a RawValue>,
        #[serde(borrow)]
        user: Option<&'a RawValue>,
    }
    let mut out = serde_json::Map::new();
    let Ok(e) = serde_json::from_slice::<Echoed<'_>>(body) else {
        return out;
    };
    for (k, v) in [
        ("instructions", e.instructions),
        ("tools", e.tools),
        ("tool_choice", e.tool_choice),
        ("temperature", e.temperature),
        ("top_p", e.top_p),
        ("max_output_tokens", e.max_output_tokens),
        ("parallel_tool_calls", e.parallel_tool_calls),
        ("reasoning", e.reasoning),
        ("text", e.text),
        ("metadata", e.metadata),
        ("store", e.store),
        ("truncation", e.truncation),
        ("user", e.user),
    ] {
        if let Some(v) = v.and_then(|r| serde_json::from_str::<Value>(r.get()).ok())
            && !v.is_null()
        {
            out.insert(k.to_string(), v);
        }
    }
    out
}

/// A `custom` tool's description for a target that only has function tools: its own, and the
/// grammar its free-text input must follow, if it has one.
fn freeform_description(t: &Value) -> String {
    let mut d = str_of(t, "description").unwrap_or_default().to_string();
    let format = t.get("format");
    if let (Some("grammar"), Some(def)) = (
        format.and_then(|f| str_of(f, "type")),
        format.and_then(|f| str_of(f, "definition")),
    ) {
        let syntax = format
            .and_then(|f| str_of(f, "syntax"))
            .unwrap_or("grammar");
        d.push_str(&format!(
            "\n\nPut the whole input in `input`, as text following this {syntax} grammar:\n{def}"
        ));
    } else {
        d.push_str("\n\nPut the whole input in `input`, as free text.");
    }
    d
}

/// The assistant turn under construction (reasoning, messages and calls in a row are one turn).
fn assistant_turn(conv: &mut Conversation) -> &mut Vec<Block> {
    let open = conv
        .messages
        .last()
        .is_some_and(|m| m.role == Role::Assistant);
    if !open {
        conv.messages.push(Message {
            role: Role::Assistant,
            content: Vec::new(),
        });
    }
    let last = conv.messages.len() - 1;
    &mut conv.messages[last].content
}

fn parse_item(conv: &mut Conversation, item: &Value, at: &str) -> Result<(), TranslateError> {
    let kind = str_of(item, "type").unwrap_or("message");
    match kind {
        "message" => {
            let role = str_of(item, "role").unwrap_or("user");
            let content = parse_content(item.get("content"), at)?;
            match role {
                "system" | "developer" => {
                    let text: Vec<String> = content
                        .into_iter()
                        .filter_map(|b| match b {
                            Block::Text(t) => Some(t),
                            _ => None,
                        })
                        .collect();
                    if conv.messages.is_empty() {
                        conv.system.extend(text);
                    } else {
                        conv.messages.push(Message {
                            role: Role::System,
                            content: text.into_iter().map(Block::Text).collect(),
                        });
                    }
                }
                "assistant" => assistant_turn(conv).extend(content),
                "user" => conv.messages.push(Message {
                    role: Role::User,
                    content,
                }),
                other => {
                    return Err(TranslateError::new(
                        format!("{at}.role"),
                        format!("unknown role `{other}`; use user, assistant, system or developer"),
                    ));
                }
            }
        }
        "function_call" => {
            let block = Block::ToolCall {
                id: str_of(item, "call_id")
                    .ok_or_else(|| TranslateError::new(format!("{at}.call_id"), "missing"))?
                    .to_string(),
                name: match (str_of(item, "namespace"), str_of(item, "name")) {
                    (Some(ns), Some(n)) => format!("{ns}{NAMESPACE_SEP}{n}"),
                    (None, n) => n.unwrap_or_default().to_string(),
                    (Some(_), None) => String::new(),
                },
                arguments: str_of(item, "arguments").unwrap_or("{}").to_string(),
            };
            assistant_turn(conv).push(block);
        }
        "custom_tool_call" => {
            let input = str_of(item, "input").unwrap_or_default();
            let block = Block::ToolCall {
                id: str_of(item, "call_id")
                    .ok_or_else(|| TranslateError::new(format!("{at}.call_id"), "missing"))?
                    .to_string(),
                name: str_of(item, "name").unwrap_or_default().to_string(),
                arguments: json!({ "input": input }).to_string(),
            };
            assistant_turn(conv).push(block);
        }
        "function_call_output" | "custom_tool_call_output" => {
            let content = match item.get("output") {
                Some(Value::String(s)) => vec![Block::Text(s.clone())],
                other => parse_content(other, at)?,
            };
            let block = Block::ToolResult {
                call_id: str_of(item, "call_id")
                    .ok_or_else(|| TranslateError::new(format!("{at}.call_id"), "missing"))?
                    .to_string(),
                content,
                is_error: false,
            };
            conv.push_tool_result(block);
        }
        "reasoning" => {
            // Summaries are the reasoning a client may see; encrypted content belongs to the
            // vendor that wrote it and is meaningless elsewhere.
            let text: Vec<&str> = item
                .get("summary")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|s| str_of(s, "text"))
                .collect();
            if !text.is_empty() {
                assistant_turn(conv).push(Block::Thinking {
                    text: text.join("\n\n"),
                    signature: None,
                });
            }
        }
        // Records of hosted tool calls (web search, file search, …) ran on OpenAI's side.
        other => conv
            .opaque
            .push(Opaque::soft(format!("input item type `{other}`"), at)),
    }
    Ok(())
}

/// A message item's `content`: a string or content parts.
fn parse_content(content: Option<&Value>, at: &str) -> Result<Vec<Block>, TranslateError> {
    match content {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![Block::Text(s.clone())]),
        Some(Value::Array(parts)) => {
            let mut out = Vec::with_capacity(parts.len());
            for (j, p) in parts.iter().enumerate() {
                let here = format!("{at}.content[{j}]");
                out.push(match str_of(p, "type") {
                    Some("input_text" | "output_text" | "text") => {
                        Block::Text(str_of(p, "text").unwrap_or_default().to_string())
                    }
                    Some("refusal") => {
                        Block::Text(str_of(p, "refusal").unwrap_or_default().to_string())
                    }
                    Some("input_image") => match str_of(p, "image_url") {
                        Some(url) => Block::Image(image_from_url(url)),
                        None => Block::Opaque(Opaque::new("an image by `file_id`", here)),
                    },
                    Some(t) => Block::Opaque(Opaque::new(format!("content type `{t}`"), here)),
                    None => {
                        return Err(TranslateError::new(here, "a content part needs a `type`"));
                    }
                });
            }
            Ok(out)
        }
        Some(_) => Err(TranslateError::new(
            format!("{at}.content"),
            "must be a string or an array of content parts",
        )),
    }
}
