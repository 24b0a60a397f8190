//! What the fake upstream answers, decided from the request alone and shared by both chat
//! dialects: the echo text, `call:` directives (tool calls), answers to tool results, the
//! `think` reasoning text and signature, image counts, and the word counts that stand in for
//! token counts. `upstream_openai.rs` and `upstream_anthropic.rs` put a [`Plan`] on the wire.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;

use super::upstream_exchange::{Dialect, Knobs};

/// One tool call the answer makes.
#[derive(Debug, Clone)]
pub(super) struct ToolCall {
    pub(super) name: String,
    /// The arguments object as given in the directive.
    pub(super) input: Value,
    /// `input` as compact JSON (OpenAI's `function.arguments`, Anthropic's streamed JSON).
    pub(super) arguments: String,
}

/// The answer proper: text or tool calls, never both.
#[derive(Debug, Clone)]
pub(super) enum Reply {
    /// Stream pieces whose concatenation is the text.
    Text(Vec<String>),
    ToolCalls(Vec<ToolCall>),
}

/// Everything a chat endpoint needs to answer one request, in either dialect.
#[derive(Debug, Clone)]
pub(super) struct Plan {
    /// The reasoning text (`think` knob).
    pub(super) thinking: Option<String>,
    pub(super) reply: Reply,
    /// Prompt words ([`prompt_words`]), not counting `cached_N`.
    pub(super) prompt_tokens: usize,
    /// Words of the reasoning, the text, and each tool call's name and arguments.
    pub(super) output_tokens: usize,
    /// Words of the reasoning alone.
    pub(super) reasoning_tokens: usize,
}

impl Plan {
    /// Decides the answer to chat request `body` (OpenAI chat or Anthropic messages):
    /// 1. the request ends in tool results → `tool results: ID=CONTENT; …`;
    /// 2. the last user message has `call: NAME {ARGS}` lines → one tool call per line;
    /// 3. otherwise `echo: <last user text>`, plus ` [images: K]` when it carries K images.
    ///
    /// `chunks_N` replaces any text answer with `c0`, ` c1`, …; `think` adds reasoning.
    pub(super) fn new(dialect: Dialect, body: &Value, knobs: &Knobs) -> Plan {
        let messages = &body["messages"];
        let last_user = last_user_content(messages);
        let user_text = text_of(last_user);
        let results = tool_results(dialect, messages);
        let calls = directives(last_user);
        let (subject, reply) = match results {
            Some(results) => {
                let text = answer_to(&results);
                let pieces = text_pieces(knobs, &text);
                (text, Reply::Text(pieces))
            }
            None if !calls.is_empty() => (user_text, Reply::ToolCalls(calls)),
            None => {
                let mut text = format!("echo: {user_text}");
                let images = image_count(last_user);
                if images > 0 {
                    text.push_str(&format!(" [images: {images}]"));
                }
                (user_text, Reply::Text(text_pieces(knobs, &text)))
            }
        };
        let thinking = knobs.think.then(|| format!("thinking about: {subject}"));
        let reasoning_tokens = thinking.as_deref().map_or(0, word_count);
        let reply_tokens = match &reply {
            Reply::Text(pieces) => word_count(&pieces.concat()),
            Reply::ToolCalls(calls) => calls
                .iter()
                .map(|c| word_count(&c.name) + word_count(&c.arguments))
                .sum(),
        };
        Plan {
            thinking,
            reply,
            prompt_tokens: prompt_words(dialect, body),
            output_tokens: reasoning_tokens + reply_tokens,
            reasoning_tokens,
        }
    }

    /// The whole text answer, `None` for tool calls.
    pub(super) fn text(&self) -> Option<String> {
        match &self.reply {
            Reply::Text(pieces) => Some(pieces.concat()),
            Reply::ToolCalls(_) => None,
        }
    }

    pub(super) fn tool_calls(&self) -> &[ToolCall] {
        match &self.reply {
            Reply::Text(_) => &[],
            Reply::ToolCalls(calls) => calls,
        }
    }
}

/// One tool result the request carries.
#[derive(Debug, Clone)]
struct ToolResult {
    id: String,
    content: String,
    is_error: bool,
}

/// The tool results the request ends with: OpenAI's trailing `role: tool` messages, or the
/// `tool_result` blocks of Anthropic's last (user) message. `None` when there are none.
fn tool_results(dialect: Dialect, messages: &Value) -> Option<Vec<ToolResult>> {
    let messages = messages.as_array()?;
    let results: Vec<ToolResult> = match dialect {
        Dialect::OpenAi => {
            let trailing = messages
                .iter()
                .rev()
                .take_while(|m| m["role"] == "tool")
                .count();
            messages[messages.len() - trailing..]
                .iter()
                .map(|m| ToolResult {
                    id: m["tool_call_id"].as_str().unwrap_or_default().to_string(),
                    content: text_of(&m["content"]),
                    is_error: false,
                })
                .collect()
        }
        Dialect::Anthropic => {
            let last = messages.last().filter(|m| m["role"] == "user")?;
            last["content"]
                .as_array()?
                .iter()
                .filter(|b| b["type"] == "tool_result")
                .map(|b| ToolResult {
                    id: b["tool_use_id"].as_str().unwrap_or_default().to_string(),
                    content: text_of(&b["content"]),
                    is_error: b["is_error"] == true,
                })
                .collect()
        }
    };
    (!results.is_empty()).then_some(results)
}

/// `tool results: ID=CONTENT; ID=CONTENT (error)`.
fn answer_to(results: &[ToolResult]) -> String {
    let each: Vec<String> = results
        .iter()
        .map(|r| {
            let error = if r.is_error { " (error)" } else { "" };
            format!("{}={}{error}", r.id, r.content)
        })
        .collect();
    format!("tool results: {}", each.join("; "))
}

/// The `call: NAME {ARGS_JSON}` lines of `content`'s text (each text part scanned on its
/// own), in order. A line whose ARGS is not a JSON object is just text.
fn directives(content: &Value) -> Vec<ToolCall> {
    text_parts(content)
        .iter()
        .flat_map(|text| text.lines())
        .filter_map(|line| {
            let rest = line.trim().strip_prefix("call:")?.trim_start();
            let (name, args) = rest.split_once(char::is_whitespace)?;
            let input: Value = serde_json::from_str(args.trim()).ok()?;
            input.is_object().then(|| ToolCall {
                name: name.to_string(),
                arguments: input.to_string(),
                input,
            })
        })
        .collect()
}

/// Image parts of a message `content`: OpenAI `image_url` parts, Anthropic `image` blocks.
fn image_count(content: &Value) -> usize {
    content.as_array().map_or(0, |parts| {
        parts
            .iter()
            .filter(|p| p["type"] == "image_url" || p["type"] == "image")
            .count()
    })
}

/// The `content` of the last `role: user` message (`Value::Null` when there is none).
fn last_user_content(messages: &Value) -> &Value {
    messages
        .as_array()
        .and_then(|ms| ms.iter().rev().find(|m| m["role"] == "user"))
        .map_or(&Value::Null, |m| &m["content"])
}

/// The texts of a message `content`: the string itself, or each text part's `text`.
fn text_parts(content: &Value) -> Vec<&str> {
    match content {
        Value::String(s) => vec![s.as_str()],
        Value::Array(parts) => parts
            .iter()
            .filter(|p| p.get("type").and_then(Value::as_str).unwrap_or("text") == "text")
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect(),
        _ => Vec::new(),
    }
}

/// The text of a message `content`: a string, or the `text` of its text parts joined by spaces.
pub(super) fn text_of(content: &Value) -> String {
    text_parts(content).join(" ")
}

/// The prompt's size in words, at least 1, which both chat dialects report as input tokens
/// (and `/v1/messages/count_tokens` answers): the words of every message's text parts, of
/// Anthropic's `system`, of tool results' content, of tool calls' names and compact JSON
/// arguments (OpenAI `tool_calls`, Anthropic `tool_use`), and of the `tools` definitions'
/// names and descriptions. Images count nothing.
pub(super) fn prompt_words(dialect: Dialect, body: &Value) -> usize {
    let messages = body["messages"].as_array().map_or(&[][..], Vec::as_slice);
    let mut words: usize = messages.iter().map(message_words).sum();
    if dialect == Dialect::Anthropic {
        words += word_count(&text_of(&body["system"]));
    }
    for tool in body["tools"].as_array().map_or(&[][..], Vec::as_slice) {
        // OpenAI nests the definition under `function`; Anthropic does not.
        let def = tool.get("function").unwrap_or(tool);
        for field in ["name", "description"] {
            words += def[field].as_str().map_or(0, word_count);
        }
    }
    words.max(1)
}

fn message_words(message: &Value) -> usize {
    let content = &message["content"];
    let mut words = word_count(&text_of(content));
    for block in content.as_array().map_or(&[][..], Vec::as_slice) {
        words += match block["type"].as_str() {
            Some("tool_result") => word_count(&text_of(&block["content"])),
            Some("tool_use") => call_words(&block["name"], &block["input"].to_string()),
            _ => 0,
        };
    }
    for call in message["tool_calls"]
        .as_array()
        .map_or(&[][..], Vec::as_slice)
    {
        let arguments = call["function"]["arguments"].as_str().unwrap_or_default();
        // Re-serialized compactly, so `{"a": 1}` counts as `{"a":1}` does.
        let arguments = serde_json::from_str::<Value>(arguments)
            .map_or_else(|_| arguments.to_string(), |v| v.to_string());
        words += call_words(&call["function"]["name"], &arguments);
    }
    words
}

fn call_words(name: &Value, arguments: &str) -> usize {
    name.as_str().map_or(0, word_count) + word_count(arguments)
}

pub(super) fn word_count(text: &str) -> usize {
    text.split_whitespace().count()
}

/// The answer as stream pieces whose concatenation is the whole answer: `chunks_N` gives
/// `"c0", " c1", …`; otherwise `"echo: " + user_text` split before each word.
pub(super) fn answer_pieces(knobs: &Knobs, user_text: &str) -> Vec<String> {
    text_pieces(knobs, &format!("echo: {user_text}"))
}

/// `text` as stream pieces: split before each word, or `c0`, ` c1`, … under `chunks_N`.
pub(super) fn text_pieces(knobs: &Knobs, text: &str) -> Vec<String> {
    if let Some(n) = knobs.chunks {
        return (0..n)
            .map(|i| {
                if i == 0 {
                    "c0".to_string()
                } else {
                    format!(" c{i}")
                }
            })
            .collect();
    }
    split_words(text)
}

/// Splits `text` so each piece starts with the whitespace before its word; trailing
/// whitespace stays on the last piece.
fn split_words(text: &str) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut start = 0;
    // Where the whitespace after the current piece's last word begins.
    let mut gap = None;
    let mut seen_word = false;
    for (i, ch) in text.char_indices() {
        if !ch.is_whitespace() {
            if let Some(gap) = gap.take() {
                pieces.push(text[start..gap].to_string());
                start = gap;
            }
            seen_word = true;
        } else if seen_word && gap.is_none() {
            gap = Some(i);
        }
    }
    if start < text.len() {
        pieces.push(text[start..].to_string());
    }
    pieces
}

/// `text` cut into `n` pieces of roughly equal length (in chars; some may be empty when
/// `text` is shorter than `n`), whose concatenation is `text`.
pub(super) fn fragments(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    (0..n)
        .map(|i| {
            chars[chars.len() * i / n..chars.len() * (i + 1) / n]
                .iter()
                .collect()
        })
        .collect()
}

/// A thinking block's signature: `sig-<N>-` and 40 base64-alphabet chars derived from
/// `thinking` and `n` alone.
pub(super) fn signature(n: u64, thinking: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut state = thinking
        .bytes()
        .chain(n.to_le_bytes())
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
        | 1;
    let tail: String = (0..40)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from(ALPHABET[(state >> 58) as usize])
        })
        .collect();
    format!("sig-{n}-{tail}")
}
