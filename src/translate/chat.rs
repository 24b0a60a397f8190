//! OpenAI Chat Completions ⇄ hub.

use serde_json::{Map, Value, json};

use super::{
    Block, Conversation, Message, Params, Reply, Role, StopReason, StreamEvent, TranslateError,
    Usage, text_of,
};

/// Read a Chat Completions request body into the hub.
pub(crate) fn parse_request(body: &Map<String, Value>) -> Result<Conversation, TranslateError> {
    let mut conv = Conversation::default();
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| TranslateError::new("messages", "must be an array of messages"))?;
    for (i, m) in messages.iter().enumerate() {
        let at = format!("messages[{i}]");
        let role = m.get("role").and_then(Value::as_str).unwrap_or_default();
        let text = content_text(m.get("content"), &at)?;
        match role {
            "system" | "developer" => conv.system.push(text),
            "user" | "assistant" => {
                let role = if role == "user" {
                    Role::User
                } else {
                    Role::Assistant
                };
                if m.get("tool_calls").is_some_and(|t| !t.is_null()) {
                    return Err(TranslateError::new(
                        format!("{at}.tool_calls"),
                        "tool calls cannot be translated to this provider yet; route this \
                         request to an OpenAI-compatible provider",
                    ));
                }
                conv.messages.push(Message {
                    role,
                    content: vec![Block::Text(text)],
                });
            }
            "tool" | "function" => {
                return Err(TranslateError::new(
                    format!("{at}.role"),
                    "tool results cannot be translated to this provider yet; route this request \
                     to an OpenAI-compatible provider",
                ));
            }
            other => {
                return Err(TranslateError::new(
                    format!("{at}.role"),
                    format!(
                        "unknown role `{other}`; use system, developer, user, assistant or tool"
                    ),
                ));
            }
        }
    }
    if body.get("tools").is_some_and(|t| !t.is_null()) {
        return Err(TranslateError::new(
            "tools",
            "tools cannot be translated to this provider yet; route this request to an \
             OpenAI-compatible provider",
        ));
    }
    if body.get("n").and_then(Value::as_u64).is_some_and(|n| n > 1) {
        return Err(TranslateError::new(
            "n",
            "this provider returns one choice per request; ask for n=1",
        ));
    }
    let stop = match body.get("stop") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
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
    };
    Ok(conv)
}

/// The text of a message's `content`: a string, or an array of `text` parts.
fn content_text(content: Option<&Value>, at: &str) -> Result<String, TranslateError> {
    match content {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Array(parts)) => {
            let mut out = String::new();
            for (j, p) in parts.iter().enumerate() {
                match p.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        out.push_str(p.get("text").and_then(Value::as_str).unwrap_or_default())
                    }
                    Some(t) => {
                        return Err(TranslateError::new(
                            format!("{at}.content[{j}]"),
                            format!(
                                "content part type `{t}` cannot be translated to this provider \
                                 yet; send text, or route this request to an OpenAI-compatible \
                                 provider"
                            ),
                        ));
                    }
                    None => {
                        return Err(TranslateError::new(
                            format!("{at}.content[{j}]"),
                            "a content part needs a `type`",
                        ));
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

fn finish_reason(stop: &StopReason) -> &str {
    match stop {
        StopReason::EndTurn | StopReason::StopSequence => "stop",
        StopReason::MaxTokens => "length",
        StopReason::ToolUse => "tool_calls",
        StopReason::Other(s) => s.as_str(),
    }
}

fn usage_json(u: &Usage) -> Value {
    json!({
        "prompt_tokens": u.input_tokens,
        "completion_tokens": u.output_tokens,
        "total_tokens": u.input_tokens.saturating_add(u.output_tokens),
        "prompt_tokens_details": { "cached_tokens": u.cache_read_tokens },
        "completion_tokens_details": { "reasoning_tokens": u.reasoning_tokens },
    })
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A complete Chat Completions response for a hub reply.
pub(crate) fn reply_to_json(reply: &Reply) -> Value {
    json!({
        "id": format!("chatcmpl-{}", reply.id),
        "object": "chat.completion",
        "created": now_secs(),
        "model": reply.model,
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": text_of(&reply.content) },
            "logprobs": null,
            "finish_reason": finish_reason(&reply.stop),
        }],
        "usage": usage_json(&reply.usage),
    })
}

/// Turns hub stream events into Chat Completions SSE frames.
pub(crate) struct ChatStreamEncoder {
    id: String,
    model: String,
    created: u64,
    include_usage: bool,
}

impl ChatStreamEncoder {
    pub(crate) fn new(include_usage: bool) -> Self {
        Self {
            id: String::new(),
            model: String::new(),
            created: now_secs(),
            include_usage,
        }
    }

    fn chunk(&self, delta: Value, finish: Option<&str>) -> String {
        let v = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish }],
        });
        format!("data: {v}\n\n")
    }

    /// The SSE frames (each a complete `data: ...\n\n`) for one hub event.
    pub(crate) fn encode(&mut self, ev: StreamEvent) -> Vec<String> {
        match ev {
            StreamEvent::Start { id, model } => {
                self.id = format!("chatcmpl-{id}");
                self.model = model;
                vec![self.chunk(json!({"role": "assistant", "content": ""}), None)]
            }
            StreamEvent::TextDelta(t) => vec![self.chunk(json!({ "content": t }), None)],
            StreamEvent::Finish { stop, usage } => {
                let mut out = vec![self.chunk(json!({}), Some(finish_reason(&stop)))];
                if self.include_usage {
                    let v = json!({
                        "id": self.id,
                        "object": "chat.completion.chunk",
                        "created": self.created,
                        "model": self.model,
                        "choices": [],
                        "usage": usage_json(&usage),
                    });
                    out.push(format!("data: {v}\n\n"));
                }
                out.push("data: [DONE]\n\n".to_string());
                out
            }
            StreamEvent::Error { message } => vec![error_frame(&message)],
        }
    }
}

/// The frame that ends a broken stream: an OpenAI error object (the SDKs raise on it), and no
/// `[DONE]`, so no client mistakes a cut answer for a complete one.
pub(crate) fn error_frame(message: &str) -> String {
    let v = json!({"error": {"message": message, "type": "upstream_error", "param": null, "code": "stream_interrupted"}});
    format!("data: {v}\n\n")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn system_and_developer_messages_become_system_parts() {
        let body = json!({"messages": [
            {"role": "system", "content": "be brief"},
            {"role": "developer", "content": [{"type": "text", "text": "use rust"}]},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
            {"role": "user", "content": "again"}
        ], "max_tokens": 50, "stop": "END", "stream": true, "stream_options": {"include_usage": true}});
        let c = parse_request(body.as_object().unwrap()).unwrap();
        assert_eq!(c.system, vec!["be brief", "use rust"]);
        assert_eq!(c.messages.len(), 3);
        assert_eq!(c.messages[1].role, Role::Assistant);
        assert_eq!(c.params.max_tokens, Some(50));
        assert_eq!(c.params.stop, vec!["END"]);
        assert!(c.params.stream && c.params.include_usage);
    }

    #[test]
    fn images_are_refused_with_the_part_named() {
        let body = json!({"messages": [{"role": "user", "content": [
            {"type": "text", "text": "what is this"},
            {"type": "image_url", "image_url": {"url": "http://x/y.png"}}
        ]}]});
        let e = parse_request(body.as_object().unwrap()).unwrap_err();
        assert_eq!(e.param, "messages[0].content[1]");
        assert!(e.message.contains("image_url"));
    }

    #[test]
    fn stream_encoder_ends_with_usage_then_done() {
        let mut enc = ChatStreamEncoder::new(true);
        let mut frames = enc.encode(StreamEvent::Start {
            id: "x".into(),
            model: "m".into(),
        });
        frames.extend(enc.encode(StreamEvent::TextDelta("hi".into())));
        frames.extend(enc.encode(StreamEvent::Finish {
            stop: StopReason::MaxTokens,
            usage: Usage {
                input_tokens: 3,
                output_tokens: 1,
                ..Usage::default()
            },
        }));
        assert_eq!(frames.len(), 5);
        assert!(frames[2].contains("\"finish_reason\":\"length\""));
        assert!(frames[3].contains("\"total_tokens\":4"));
        assert_eq!(frames[4], "data: [DONE]\n\n");
    }
}
