//! The facts about a request that routing rules look at, read once from the body.

use serde_json::{Map, Value};

use crate::providers::Endpoint;

/// What the router knows about a request. Built without copying the prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestFacts {
    pub endpoint: Endpoint,
    /// The `model` field as sent (None when absent).
    pub model: Option<String>,
    pub has_tools: bool,
    pub has_images: bool,
    pub stream: bool,
    /// An estimate (about 4 characters a token), good enough to pick a long-context route.
    pub prompt_tokens: u64,
}

impl RequestFacts {
    /// Facts of an OpenAI-format body (chat, completions or embeddings).
    pub fn from_openai(endpoint: Endpoint, body: &Map<String, Value>) -> Self {
        let mut chars = 0usize;
        let mut has_images = false;
        for key in ["messages", "prompt", "input"] {
            if let Some(v) = body.get(key) {
                walk(v, &mut chars, &mut has_images);
            }
        }
        Self {
            endpoint,
            model: body.get("model").and_then(Value::as_str).map(String::from),
            has_tools: body
                .get("tools")
                .and_then(Value::as_array)
                .is_some_and(|t| !t.is_empty())
                || body.get("functions").is_some_and(|f| !f.is_null()),
            has_images,
            stream: body.get("stream").and_then(Value::as_bool).unwrap_or(false),
            prompt_tokens: chars.div_ceil(4) as u64,
        }
    }

    /// Facts of a plain prompt (for `lodestar route` and `lodestar run`).
    pub fn from_prompt(model: Option<String>, prompt: &str) -> Self {
        Self {
            endpoint: Endpoint::ChatCompletions,
            model,
            has_tools: false,
            has_images: false,
            stream: true,
            prompt_tokens: prompt.chars().count().div_ceil(4) as u64,
        }
    }
}

/// Count text characters and spot image parts anywhere in a messages/prompt value.
fn walk(v: &Value, chars: &mut usize, images: &mut bool) {
    match v {
        Value::String(s) => *chars += s.len(),
        Value::Array(a) => a.iter().for_each(|x| walk(x, chars, images)),
        Value::Object(o) => {
            if let Some(t) = o.get("type").and_then(Value::as_str)
                && (t == "image_url" || t == "input_image" || t == "image")
            {
                *images = true;
                return;
            }
            for (k, x) in o {
                if k == "content" || k == "text" {
                    walk(x, chars, images);
                }
            }
        }
        _ => {}
    }
}
