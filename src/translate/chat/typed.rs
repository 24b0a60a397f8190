//! A typed reading of a Chat Completions answer: borrowed strings, no JSON tree. This is the
//! hot path of a Messages client on a local model; answers it cannot read (content as parts,
//! odd types) fall back to the tree reader in `reply.rs`.

use std::borrow::Cow;

use serde::Deserialize;

use super::reply::stop_reason;
use crate::translate::{Block, Reply, StopReason, Usage};

#[derive(Deserialize)]
struct ReplyIn<'a> {
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(borrow)]
    choices: Vec<ChoiceIn<'a>>,
    #[serde(default)]
    usage: Option<UsageIn>,
}

#[derive(Deserialize)]
struct ChoiceIn<'a> {
    #[serde(borrow)]
    message: MessageIn<'a>,
    #[serde(borrow, default)]
    finish_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct MessageIn<'a> {
    #[serde(borrow, default)]
    content: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    reasoning_content: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    reasoning: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    refusal: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    tool_calls: Option<Vec<ToolCallIn<'a>>>,
    #[serde(borrow, default)]
    thinking_blocks: Option<Vec<ThinkingIn<'a>>>,
}

#[derive(Deserialize)]
struct ToolCallIn<'a> {
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    function: FunctionIn<'a>,
}

#[derive(Deserialize)]
struct FunctionIn<'a> {
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    arguments: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct ThinkingIn<'a> {
    #[serde(borrow, rename = "type", default)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    thinking: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    signature: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    data: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
struct UsageIn {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
    #[serde(default)]
    prompt_tokens_details: Option<CachedIn>,
    #[serde(default)]
    completion_tokens_details: Option<ReasoningIn>,
}

#[derive(Deserialize)]
struct CachedIn {
    #[serde(default)]
    cached_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct ReasoningIn {
    #[serde(default)]
    reasoning_tokens: Option<u64>,
}

fn owned(c: Option<Cow<'_, str>>) -> String {
    c.map(Cow::into_owned).unwrap_or_default()
}

/// The answer, or `None` when it is not in the shape this reader knows.
pub(super) fn parse_reply(bytes: &[u8]) -> Option<Reply> {
    let r: ReplyIn<'_> = serde_json::from_slice(bytes).ok()?;
    let choice = r.choices.into_iter().next()?;
    let m = choice.message;
    let mut content = Vec::new();
    if let Some(blocks) = m.thinking_blocks {
        for b in blocks {
            content.push(match b.kind.as_deref() {
                Some("redacted_thinking") => Block::RedactedThinking {
                    data: owned(b.data),
                },
                _ => Block::Thinking {
                    text: owned(b.thinking),
                    signature: b.signature.map(Cow::into_owned),
                },
            });
        }
    } else if let Some(r) = m
        .reasoning_content
        .or(m.reasoning)
        .filter(|r| !r.is_empty())
    {
        content.push(Block::Thinking {
            text: r.into_owned(),
            signature: None,
        });
    }
    let refusal = m.refusal.filter(|r| !r.is_empty());
    let refused = refusal.is_some();
    if let Some(t) = m.content.filter(|t| !t.is_empty()).or(refusal) {
        content.push(Block::Text(t.into_owned()));
    }
    for c in m.tool_calls.into_iter().flatten() {
        content.push(Block::ToolCall {
            id: owned(c.id),
            name: owned(c.function.name),
            arguments: owned(c.function.arguments),
        });
    }
    let mut stop = stop_reason(choice.finish_reason.as_deref());
    if refused {
        stop = StopReason::Refusal;
    }
    let u = r.usage.unwrap_or_default();
    Some(Reply {
        id: owned(r.id),
        model: owned(r.model),
        content,
        stop,
        stop_sequence: None,
        usage: Usage {
            input_tokens: u.prompt_tokens.unwrap_or(0),
            output_tokens: u.completion_tokens.unwrap_or(0),
            cache_read_tokens: u
                .prompt_tokens_details
                .and_then(|d| d.cached_tokens)
                .unwrap_or(0),
            cache_write_tokens: 0,
            cache_write_1h_tokens: 0,
            reasoning_tokens: u
                .completion_tokens_details
                .and_then(|d| d.reasoning_tokens)
                .unwrap_or(0),
        },
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_shape_the_typed_reader_does_not_know_falls_back_to_the_tree_reader() {
        // Arguments as an object (some servers) instead of a JSON string.
        let body = br#"{"id":"x","model":"m","choices":[{"message":{"role":"assistant","content":null,
            "tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":{"a":1}}}]},
            "finish_reason":"tool_calls"}]}"#;
        assert!(parse_reply(body).is_none());
        let r = super::super::parse_reply(body).unwrap();
        assert_eq!(
            r.content,
            vec![Block::ToolCall {
                id: "c1".into(),
                name: "f".into(),
                arguments: r#"{"a":1}"#.into()
            }]
        );
        assert_eq!(r.stop, StopReason::ToolUse);
    }
}
