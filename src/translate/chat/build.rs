//! Hub → Chat Completions request, serialized straight from the hub (no JSON tree).

use serde::Serialize;
use serde_json::Value;

use super::ChatDialect;
use crate::translate::{
    Block, Conversation, Image, Lossy, Message, Reasoning, Role, ToolChoice, TranslateError,
};

const TARGET: &str = "the Chat Completions API";

#[derive(Serialize)]
struct RequestOut<'a> {
    model: &'a str,
    messages: Vec<MsgOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<Vec<ToolOut<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<ChoiceOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<u64>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    stream: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_effort: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<&'a Value>,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

#[derive(Serialize)]
#[serde(untagged)]
enum ChoiceOut<'a> {
    Word(&'static str),
    Function {
        #[serde(rename = "type")]
        kind: &'static str,
        function: NameOut<'a>,
    },
}

#[derive(Serialize)]
struct NameOut<'a> {
    name: &'a str,
}

#[derive(Serialize)]
#[serde(tag = "role", rename_all = "lowercase")]
enum MsgOut<'a> {
    System {
        content: String,
    },
    User {
        content: ContentOut<'a>,
    },
    Assistant {
        /// `null` when the turn is only tool calls.
        content: Option<String>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<CallOut<'a>>,
    },
    Tool {
        tool_call_id: &'a str,
        content: String,
    },
}

#[derive(Serialize)]
#[serde(untagged)]
enum ContentOut<'a> {
    Text(&'a str),
    Parts(Vec<PartOut<'a>>),
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum PartOut<'a> {
    Text { text: &'a str },
    ImageUrl { image_url: UrlOut },
}

#[derive(Serialize)]
struct UrlOut {
    url: String,
}

#[derive(Serialize)]
struct CallOut<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: FunctionOut<'a>,
}

#[derive(Serialize)]
struct FunctionOut<'a> {
    name: &'a str,
    arguments: &'a str,
}

#[derive(Serialize)]
struct ToolOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    function: ToolFunctionOut<'a>,
}

#[derive(Serialize)]
struct ToolFunctionOut<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    parameters: &'a Value,
}

fn image_part(img: &Image) -> PartOut<'_> {
    let url = match img {
        Image::Base64 { media_type, data } => format!("data:{media_type};base64,{data}"),
        Image::Url(u) => u.clone(),
    };
    PartOut::ImageUrl {
        image_url: UrlOut { url },
    }
}

/// A user message's content: a plain string when it is one text block, parts otherwise.
fn user_content<'a>(blocks: &[&'a Block]) -> ContentOut<'a> {
    if let [Block::Text(t)] = blocks {
        return ContentOut::Text(t);
    }
    ContentOut::Parts(
        blocks
            .iter()
            .filter_map(|b| match b {
                Block::Text(t) => Some(PartOut::Text { text: t }),
                Block::Image(img) => Some(image_part(img)),
                _ => None,
            })
            .collect(),
    )
}

/// A Chat Completions request body for `conv`, asking `model`.
pub(crate) fn build_request(
    conv: &Conversation,
    model: &str,
    dialect: ChatDialect,
    lossy: &mut Lossy,
) -> Result<String, TranslateError> {
    for o in &conv.opaque {
        lossy.unsupported(o, TARGET)?;
    }
    let mut messages = Vec::with_capacity(conv.messages.len() + 1);
    // Many local chat templates refuse a system message after the first turn: mid-conversation
    // system messages join the system prompt.
    let mut system: Vec<&str> = conv.system.iter().map(String::as_str).collect();
    for m in conv.messages.iter().filter(|m| m.role == Role::System) {
        for b in &m.content {
            if let Block::Text(t) = b {
                system.push(t);
            }
        }
    }
    if !system.is_empty() {
        messages.push(MsgOut::System {
            content: system.join("\n\n"),
        });
    }
    for m in &conv.messages {
        match m.role {
            Role::System => {}
            Role::User => user_messages(m, &mut messages, lossy)?,
            Role::Assistant => messages.push(assistant_message(m, lossy)?),
        }
    }
    let has_tools = !conv.tools.is_empty();
    let tools = has_tools.then(|| {
        conv.tools
            .iter()
            .map(|t| ToolOut {
                kind: "function",
                function: ToolFunctionOut {
                    name: &t.name,
                    description: t.description.as_deref(),
                    parameters: &t.parameters,
                },
            })
            .collect()
    });
    // OpenAI refuses a `tool_choice` without tools.
    let tool_choice = conv
        .tool_choice
        .as_ref()
        .filter(|_| has_tools)
        .map(|tc| match tc {
            ToolChoice::Auto => ChoiceOut::Word("auto"),
            ToolChoice::Any => ChoiceOut::Word("required"),
            ToolChoice::None => ChoiceOut::Word("none"),
            ToolChoice::Tool(name) => ChoiceOut::Function {
                kind: "function",
                function: NameOut { name },
            },
        });
    let p = &conv.params;
    let out = RequestOut {
        model,
        messages,
        tools,
        parallel_tool_calls: conv.parallel_tool_calls.filter(|_| has_tools),
        tool_choice,
        max_tokens: p.max_tokens.filter(|_| !dialect.strict_openai),
        max_completion_tokens: p.max_tokens.filter(|_| dialect.strict_openai),
        temperature: p.temperature,
        top_p: p.top_p,
        top_k: p.top_k.filter(|_| !dialect.strict_openai),
        stop: &p.stop,
        stream: p.stream.then_some(true),
        // Usage is needed for the client's final event and the ledger, whatever it asked.
        stream_options: p.stream.then_some(StreamOptions {
            include_usage: true,
        }),
        user: p.user.as_deref(),
        reasoning_effort: p
            .reasoning
            .filter(|r| *r != Reasoning::Off)
            .map(Reasoning::effort),
        response_format: p.response_format.as_ref(),
    };
    serde_json::to_string(&out)
        .map_err(|e| TranslateError::new("", format!("the request could not be written: {e}")))
}

/// A hub user turn: its tool results as `tool` messages first, then the rest as a user message
/// (images a tool returned go there too: a `tool` message carries only text).
fn user_messages<'a>(
    m: &'a Message,
    out: &mut Vec<MsgOut<'a>>,
    lossy: &mut Lossy,
) -> Result<(), TranslateError> {
    let mut rest: Vec<&Block> = Vec::new();
    let mut tool_images: Vec<&Block> = Vec::new();
    for b in &m.content {
        match b {
            Block::ToolResult {
                call_id,
                content,
                is_error,
            } => {
                let mut text = String::new();
                for c in content {
                    match c {
                        Block::Text(t) => {
                            if !text.is_empty() {
                                text.push('\n');
                            }
                            text.push_str(t);
                        }
                        Block::Image(_) => tool_images.push(c),
                        Block::Opaque(o) => lossy.unsupported(o, TARGET)?,
                        _ => {}
                    }
                }
                if *is_error {
                    // Chat has no error flag: say it in the content the model reads.
                    text = format!("[tool error] {text}");
                }
                out.push(MsgOut::Tool {
                    tool_call_id: call_id,
                    content: text,
                });
            }
            Block::Text(_) | Block::Image(_) => rest.push(b),
            Block::Opaque(o) => lossy.unsupported(o, TARGET)?,
            // A user turn has no calls or reasoning; nothing to carry.
            Block::ToolCall { .. } | Block::Thinking { .. } | Block::RedactedThinking { .. } => {}
        }
    }
    if !tool_images.is_empty() {
        out.push(MsgOut::User {
            content: user_content(&tool_images),
        });
    }
    if !rest.is_empty() {
        out.push(MsgOut::User {
            content: user_content(&rest),
        });
    }
    Ok(())
}

fn assistant_message<'a>(m: &'a Message, lossy: &mut Lossy) -> Result<MsgOut<'a>, TranslateError> {
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for b in &m.content {
        match b {
            Block::Text(t) => text.push_str(t),
            Block::ToolCall {
                id,
                name,
                arguments,
            } => tool_calls.push(CallOut {
                id,
                kind: "function",
                function: FunctionOut { name, arguments },
            }),
            Block::Opaque(o) => lossy.unsupported(o, TARGET)?,
            // Earlier turns' reasoning is not sent back: chat servers ignore or refuse it.
            Block::Thinking { .. } | Block::RedactedThinking { .. } => {}
            Block::Image(_) | Block::ToolResult { .. } => {}
        }
    }
    let content = if text.is_empty() && !tool_calls.is_empty() {
        None
    } else {
        Some(text)
    };
    Ok(MsgOut::Assistant {
        content,
        tool_calls,
    })
}
