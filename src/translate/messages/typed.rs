//! A Messages answer written straight from the hub reply (no JSON tree): the hot path of a
//! Messages client on a local model.

use serde::Serialize;
use serde_json::Value;

use super::args_object;
use super::reply::{msg_id, stop_reason_str};
use crate::translate::{Block, Reply, Usage};

#[derive(Serialize)]
struct ReplyOut<'a> {
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: Vec<BlockOut<'a>>,
    stop_reason: &'a str,
    stop_sequence: Option<&'a str>,
    usage: UsageOut,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum BlockOut<'a> {
    Text {
        text: &'a str,
    },
    Thinking {
        thinking: &'a str,
        signature: &'a str,
    },
    RedactedThinking {
        data: &'a str,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: Value,
    },
}

/// Anthropic's usage: `input_tokens` without the cached parts.
#[derive(Serialize)]
pub(super) struct UsageOut {
    input_tokens: u64,
    output_tokens: u64,
    cache_creation_input_tokens: u64,
    cache_read_input_tokens: u64,
}

impl From<&Usage> for UsageOut {
    fn from(u: &Usage) -> Self {
        Self {
            input_tokens: u
                .input_tokens
                .saturating_sub(u.cache_read_tokens)
                .saturating_sub(u.cache_write_tokens),
            output_tokens: u.output_tokens,
            cache_creation_input_tokens: u.cache_write_tokens,
            cache_read_input_tokens: u.cache_read_tokens,
        }
    }
}

/// A complete Messages API response for a hub reply, serialized.
pub(crate) fn build_reply(reply: &Reply) -> String {
    let content = reply
        .content
        .iter()
        .filter_map(|b| {
            Some(match b {
                Block::Text(t) => BlockOut::Text { text: t },
                Block::Thinking { text, signature } => BlockOut::Thinking {
                    thinking: text,
                    signature: signature.as_deref().unwrap_or(""),
                },
                Block::RedactedThinking { data } => BlockOut::RedactedThinking { data },
                Block::ToolCall {
                    id,
                    name,
                    arguments,
                } => BlockOut::ToolUse {
                    id,
                    name,
                    input: args_object(arguments),
                },
                Block::Image(_) | Block::ToolResult { .. } | Block::Opaque(_) => return None,
            })
        })
        .collect();
    let out = ReplyOut {
        id: msg_id(&reply.id),
        kind: "message",
        role: "assistant",
        model: &reply.model,
        content,
        stop_reason: stop_reason_str(&reply.stop),
        stop_sequence: reply.stop_sequence.as_deref(),
        usage: UsageOut::from(&reply.usage),
    };
    // Serializing these types cannot fail (string keys, no maps of other keys).
    serde_json::to_string(&out).unwrap_or_default()
}

/// A typed reading of a Messages request: borrowed strings, no JSON tree, the tools' schemas
/// and tool inputs kept as raw JSON. Requests in shapes it does not know (or that are
/// invalid) return `None`, and the tree reader in `mod.rs` reads them and says what is wrong.
pub(crate) mod request {
    use std::borrow::Cow;

    use serde::Deserialize;
    use serde_json::value::RawValue;

    use crate::translate::{
        Block, Conversation, Image, Message, Opaque, Params, Reasoning, Role, Tool,
    };

    #[derive(Deserialize)]
    struct RequestIn<'a> {
        #[serde(borrow, default)]
        system: Option<&'a RawValue>,
        #[serde(borrow)]
        messages: Vec<MessageIn<'a>>,
        #[serde(borrow, default)]
        tools: Option<Vec<ToolIn<'a>>>,
        #[serde(borrow, default)]
        tool_choice: Option<&'a RawValue>,
        #[serde(default)]
        max_tokens: Option<u64>,
        #[serde(default)]
        temperature: Option<f64>,
        #[serde(default)]
        top_p: Option<f64>,
        #[serde(default)]
        top_k: Option<u64>,
        #[serde(borrow, default)]
        stop_sequences: Option<Vec<Cow<'a, str>>>,
        #[serde(default)]
        stream: Option<bool>,
        #[serde(borrow, default)]
        thinking: Option<ThinkingIn<'a>>,
        #[serde(borrow, default)]
        output_config: Option<&'a RawValue>,
        #[serde(borrow, default)]
        mcp_servers: Option<&'a RawValue>,
    }

    #[derive(Deserialize)]
    struct ThinkingIn<'a> {
        #[serde(borrow, rename = "type")]
        kind: Cow<'a, str>,
        #[serde(default)]
        budget_tokens: Option<u64>,
    }

    #[derive(Deserialize)]
    struct MessageIn<'a> {
        #[serde(borrow)]
        role: Cow<'a, str>,
        #[serde(borrow)]
        content: &'a RawValue,
    }

    #[derive(Deserialize)]
    struct ToolIn<'a> {
        #[serde(borrow, rename = "type", default)]
        kind: Option<Cow<'a, str>>,
        #[serde(borrow)]
        name: Cow<'a, str>,
        #[serde(borrow, default)]
        description: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        input_schema: Option<&'a RawValue>,
    }

    /// Every field any block type has; `kind` says which apply.
    #[derive(Deserialize)]
    struct BlockIn<'a> {
        #[serde(borrow, rename = "type")]
        kind: Cow<'a, str>,
        #[serde(borrow, default)]
        text: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        source: Option<SourceIn<'a>>,
        #[serde(borrow, default)]
        id: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        name: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        input: Option<&'a RawValue>,
        #[serde(borrow, default)]
        tool_use_id: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        content: Option<&'a RawValue>,
        #[serde(default)]
        is_error: Option<bool>,
        #[serde(borrow, default)]
        thinking: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        signature: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        data: Option<Cow<'a, str>>,
    }

    #[derive(Deserialize)]
    struct SourceIn<'a> {
        #[serde(borrow, rename = "type")]
        kind: Cow<'a, str>,
        #[serde(borrow, default)]
        media_type: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        data: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        url: Option<Cow<'a, str>>,
    }

    fn owned(c: Option<Cow<'_, str>>) -> String {
        c.map(Cow::into_owned).unwrap_or_default()
    }

    /// A string or an array of blocks.
    fn blocks(raw: &RawValue, at: &str) -> Option<Vec<Block>> {
        let text = raw.get();
        if text.starts_with('"') {
            let s: String = serde_json::from_str(text).ok()?;
            return Some(vec![Block::Text(s)]);
        }
        if text == "null" {
            return Some(Vec::new());
        }
        let list: Vec<BlockIn<'_>> = serde_json::from_str(text).ok()?;
        let mut out = Vec::with_capacity(list.len());
        for (j, b) in list.into_iter().enumerate() {
            out.push(match b.kind.as_ref() {
                "text" => Block::Text(owned(b.text)),
                "image" => {
                    let s = b.source?;
                    match s.kind.as_ref() {
                        "base64" => Block::Image(Image::Base64 {
                            media_type: s
                                .media_type
                                .map_or_else(|| "image/png".to_string(), Cow::into_owned),
                            data: owned(s.data),
                        }),
                        "url" => Block::Image(Image::Url(owned(s.url))),
                        _ => return None,
                    }
                }
                "tool_use" => Block::ToolCall {
                    id: owned(b.id),
                    name: owned(b.name),
                    arguments: b.input.map_or_else(|| "{}".into(), |r| r.get().to_string()),
                },
                "tool_result" => Block::ToolResult {
                    call_id: owned(b.tool_use_id),
                    content: match b.content {
                        Some(c) => blocks(c, at)?,
                        None => Vec::new(),
                    },
                    is_error: b.is_error == Some(true),
                },
                "thinking" => Block::Thinking {
                    text: owned(b.thinking),
                    signature: b.signature.map(Cow::into_owned),
                },
                "redacted_thinking" => Block::RedactedThinking {
                    data: owned(b.data),
                },
                other => Block::Opaque(Opaque::new(
                    format!("content type `{other}`"),
                    format!("{at}.content[{j}]"),
                )),
            });
        }
        Some(out)
    }

    pub(crate) fn parse(body: &[u8]) -> Option<Conversation> {
        let r: RequestIn<'_> = serde_json::from_slice(body).ok()?;
        // Rare or polymorphic parts are left to the tree reader.
        if r.tool_choice.is_some_and(|t| t.get() != "null") {
            return None;
        }
        let mut conv = Conversation::default();
        if let Some(sys) = r.system.filter(|s| s.get() != "null") {
            for b in blocks(sys, "system")? {
                match b {
                    Block::Text(t) => conv.system.push(t),
                    _ => return None,
                }
            }
        }
        for (i, m) in r.messages.into_iter().enumerate() {
            let role = match m.role.as_ref() {
                "user" => Role::User,
                "assistant" => Role::Assistant,
                "system" => Role::System,
                _ => return None,
            };
            let content = blocks(m.content, &format!("messages[{i}]"))?;
            conv.messages.push(Message { role, content });
        }
        for (i, t) in r.tools.into_iter().flatten().enumerate() {
            match t.kind.as_deref() {
                None | Some("custom") => conv.tools.push(Tool {
                    name: t.name.into_owned(),
                    description: t.description.map(Cow::into_owned),
                    parameters: match t.input_schema {
                        Some(s) => serde_json::from_str(s.get()).ok()?,
                        None => serde_json::json!({"type": "object", "properties": {}}),
                    },
                    group: None,
                    freeform: false,
                }),
                Some(kind) => conv.opaque.push(Opaque::new(
                    format!("tool type `{kind}`"),
                    format!("tools[{i}]"),
                )),
            }
        }
        if r.output_config
            .is_some_and(|o| o.get().contains("\"format\""))
        {
            return None;
        }
        if r.mcp_servers.is_some_and(|m| m.get() != "null") {
            conv.opaque
                .push(Opaque::new("MCP servers (`mcp_servers`)", "mcp_servers"));
        }
        let reasoning = match r.thinking {
            Some(t) => match t.kind.as_ref() {
                "enabled" => t.budget_tokens.map(Reasoning::Budget),
                "disabled" => Some(Reasoning::Off),
                _ => None,
            },
            None => None,
        };
        conv.params = Params {
            max_tokens: r.max_tokens,
            temperature: r.temperature,
            top_p: r.top_p,
            top_k: r.top_k,
            stop: r
                .stop_sequences
                .unwrap_or_default()
                .into_iter()
                .map(Cow::into_owned)
                .collect(),
            stream: r.stream.unwrap_or(false),
            include_usage: true,
            user: None,
            reasoning,
            response_format: None,
        };
        Some(conv)
    }
}
