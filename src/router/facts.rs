//! The facts about a request that routing rules look at, read once from the body.

use crate::providers::Endpoint;

/// What the router knows about a request (built by the server from the body without copying
/// the prompt).
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
    /// The request's project (`x-lodestar-project`); empty: none.
    pub project: String,
}

impl RequestFacts {
    /// Facts of a plain prompt (for `lodestar route` and `lodestar run`).
    pub fn from_prompt(model: Option<String>, prompt: &str) -> Self {
        Self {
            endpoint: Endpoint::ChatCompletions,
            model,
            has_tools: false,
            has_images: false,
            stream: true,
            prompt_tokens: prompt.chars().count().div_ceil(4) as u64,
            project: String::new(),
        }
    }
}
