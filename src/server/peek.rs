//! Reading what routing needs from an OpenAI-format body without building a JSON tree: the
//! fields are borrowed as raw JSON slices, and the body itself is forwarded as received with
//! only the `model` value spliced (so unknown fields, their order and formatting survive, and
//! the hot path allocates almost nothing).

use std::ops::Range;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::providers::Endpoint;
use crate::router::RequestFacts;

#[derive(Deserialize)]
struct Peek<'a> {
    /// Kept even when it is `null`, so that the target's model replaces it in place.
    #[serde(borrow, default, deserialize_with = "raw_even_null")]
    model: Option<&'a RawValue>,
    #[serde(borrow)]
    stream: Option<&'a RawValue>,
    #[serde(borrow)]
    tools: Option<&'a RawValue>,
    #[serde(borrow)]
    functions: Option<&'a RawValue>,
    #[serde(borrow)]
    messages: Option<&'a RawValue>,
    #[serde(borrow)]
    prompt: Option<&'a RawValue>,
    #[serde(borrow)]
    input: Option<&'a RawValue>,
    /// Anthropic's system prompt (counted for `prompt_tokens_over` rules).
    #[serde(borrow)]
    system: Option<&'a RawValue>,
}

/// serde maps `null` to `None` for an `Option`; this keeps it as the raw `null`.
fn raw_even_null<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// What the body says, and where its `model` value sits.
#[derive(Debug)]
pub(crate) struct Peeked {
    pub facts: RequestFacts,
    /// Byte range of the `model` value (quotes included) in the body.
    pub model_span: Option<Range<usize>>,
}

/// A present, non-empty JSON value (not `null`, `[]` or `{}`).
fn present(v: Option<&RawValue>) -> bool {
    v.is_some_and(|r| !matches!(r.get().trim(), "null" | "[]" | "{}"))
}

pub(crate) fn peek(endpoint: Endpoint, body: &[u8]) -> Result<Peeked, String> {
    // (serde would also accept an array for a struct; a request body must be an object.)
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err("the request body must be a JSON object".into());
    }
    let p: Peek<'_> = serde_json::from_slice(body)
        .map_err(|e| format!("the request body is not valid JSON: {e}"))?;
    let (model, model_span) = match p.model {
        None => (None, None),
        Some(raw) => {
            // The raw value borrows from `body`: its offset is its address minus the body's.
            let start = raw.get().as_ptr() as usize - body.as_ptr() as usize;
            let span = Some(start..start + raw.get().len());
            if raw.get() == "null" {
                (None, span)
            } else {
                let name: String = serde_json::from_str(raw.get()).map_err(|_| {
                    "`model` must be a string, e.g. \"auto\" or an alias".to_string()
                })?;
                (Some(name), span)
            }
        }
    };
    let stream = p.stream.is_some_and(|r| r.get() == "true");
    let mut chars = 0usize;
    let mut has_images = false;
    for raw in [p.messages, p.prompt, p.input, p.system]
        .into_iter()
        .flatten()
    {
        let text = raw.get();
        // An estimate for routing: JSON punctuation counts too, as does a long base64 image.
        chars += text.len();
        has_images |= text.contains("\"image_url\"")
            || text.contains("\"input_image\"")
            || text.contains("\"type\":\"image\"")
            || text.contains("\"type\": \"image\"");
    }
    Ok(Peeked {
        facts: RequestFacts {
            endpoint,
            model,
            has_tools: present(p.tools) || present(p.functions),
            has_images,
            stream,
            prompt_tokens: chars.div_ceil(4) as u64,
            project: String::new(),
        },
        model_span,
    })
}

/// `body` with its model value replaced by `model` (or `model` added first when absent).
pub(crate) fn with_model(body: &[u8], span: Option<&Range<usize>>, model: &str) -> Vec<u8> {
    let quoted = serde_json::Value::from(model).to_string();
    let mut out = Vec::with_capacity(body.len() + quoted.len() + 12);
    match span {
        Some(r) => {
            out.extend_from_slice(&body[..r.start]);
            out.extend_from_slice(quoted.as_bytes());
            out.extend_from_slice(&body[r.end..]);
        }
        None => {
            let open = body.iter().position(|b| *b == b'{').map_or(0, |i| i + 1);
            let empty = body[open..]
                .iter()
                .find(|b| !b.is_ascii_whitespace())
                .is_some_and(|b| *b == b'}');
            out.extend_from_slice(&body[..open]);
            out.extend_from_slice(b"\"model\":");
            out.extend_from_slice(quoted.as_bytes());
            if !empty {
                out.push(b',');
            }
            out.extend_from_slice(&body[open..]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_model_is_spliced_and_everything_else_kept_byte_for_byte() {
        let body = br#"{ "z_first": 1, "model" : "fast", "messages": [{"role":"user","content":"hi \"x\""}], "extra": {"a": [1,2]} }"#;
        let p = peek(Endpoint::ChatCompletions, body).unwrap();
        assert_eq!(p.facts.model.as_deref(), Some("fast"));
        let out = with_model(body, p.model_span.as_ref(), "qwen2.5:7b");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{ "z_first": 1, "model" : "qwen2.5:7b", "messages": [{"role":"user","content":"hi \"x\""}], "extra": {"a": [1,2]} }"#
        );
    }

    #[test]
    fn a_null_model_is_replaced_in_place() {
        let body = br#"{"model": null, "messages": []}"#;
        let p = peek(Endpoint::ChatCompletions, body).unwrap();
        assert_eq!(p.facts.model, None);
        let out = with_model(body, p.model_span.as_ref(), "m");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"model": "m", "messages": []}"#
        );
    }

    #[test]
    fn a_missing_model_is_added() {
        let out = with_model(br#" {"messages": []}"#, None, "m");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#" {"model":"m","messages": []}"#
        );
        let out = with_model(b"{ }", None, "m");
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["model"], "m");
    }

    #[test]
    fn escaped_model_names_are_read_and_written_correctly() {
        let body = br#"{"model":"a\/b\u0021"}"#;
        let p = peek(Endpoint::ChatCompletions, body).unwrap();
        assert_eq!(p.facts.model.as_deref(), Some("a/b!"));
        let out = with_model(body, p.model_span.as_ref(), "say \"hi\"");
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["model"], "say \"hi\"");
    }

    #[test]
    fn facts_tools_images_and_stream() {
        let body = br#"{"stream":true,"tools":[{"type":"function"}],"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}"#;
        let p = peek(Endpoint::ChatCompletions, body).unwrap();
        assert!(p.facts.stream && p.facts.has_tools && p.facts.has_images);
        let p = peek(Endpoint::ChatCompletions, br#"{"tools":[],"stream":false}"#).unwrap();
        assert!(!p.facts.stream && !p.facts.has_tools && !p.facts.has_images);
        assert!(
            peek(Endpoint::ChatCompletions, b"[1]")
                .unwrap_err()
                .contains("JSON object")
        );
        assert!(
            peek(Endpoint::ChatCompletions, b"{nope")
                .unwrap_err()
                .contains("not valid JSON")
        );
        assert!(
            peek(Endpoint::ChatCompletions, br#"{"model":3}"#)
                .unwrap_err()
                .contains("must be a string")
        );
    }
}
