//! Token estimates where the upstream does not count for us: the input count an Anthropic
//! client expects in `message_start` when an OpenAI-format upstream reports usage only at the
//! end, and `count_tokens` for routes without a counting endpoint.
//!
//! The tokenizer is OpenAI's `cl100k_base` (tiktoken-rs): Llama 3's vocabulary extends it and
//! Qwen's is close, so it is a good estimate for the local models these routes reach; no
//! estimate is exact for a model whose tokenizer is not public. It is built on first use
//! (tens of milliseconds, ~20 MB) and only by the routes that need it.

use std::sync::{Arc, LazyLock};

use tiktoken_rs::CoreBPE;

use super::{Block, Conversation};

static BPE: LazyLock<Option<CoreBPE>> = LazyLock::new(|| match tiktoken_rs::cl100k_base() {
    Ok(b) => Some(b),
    Err(e) => {
        tracing::warn!("the token counter could not be built ({e}); counts fall back to bytes/4");
        None
    }
});

/// Tokens in `text`.
pub(crate) fn count_text(text: &str) -> u64 {
    match BPE.as_ref() {
        Some(b) => b.encode_ordinary(text).len() as u64,
        None => text.len().div_ceil(4) as u64,
    }
}

/// Framing tokens per message (role markers), as OpenAI's counting guide adds.
const PER_MESSAGE: u64 = 4;

/// An estimate of a conversation's prompt tokens, and whether it covers everything: images
/// and documents are not counted (their cost depends on the model), so `complete` is false
/// when there are any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Estimate {
    pub tokens: u64,
    pub complete: bool,
}

/// Requests larger than this are counted on a blocking thread (milliseconds of work), smaller
/// ones inline (a thread hop would cost more than the count).
const INLINE_LIMIT: usize = 16 * 1024;

/// A count under way: done already, or running on a blocking thread.
pub(crate) enum Counting {
    Done(Estimate),
    Running(tokio::task::JoinHandle<Estimate>),
}

impl Counting {
    /// Starts counting `conv`, whose request body was `size` bytes.
    pub(crate) fn start(conv: Arc<Conversation>, size: usize) -> Self {
        if size <= INLINE_LIMIT {
            Counting::Done(estimate(&conv))
        } else {
            Counting::Running(tokio::task::spawn_blocking(move || estimate(&conv)))
        }
    }

    pub(crate) async fn finish(self) -> Estimate {
        match self {
            Counting::Done(e) => e,
            // A count that panicked is no count: report nothing rather than a guess.
            Counting::Running(h) => h.await.unwrap_or(Estimate {
                tokens: 0,
                complete: false,
            }),
        }
    }
}

pub(crate) fn estimate(conv: &Conversation) -> Estimate {
    let mut tokens = 3;
    let mut complete = true;
    for s in &conv.system {
        tokens += count_text(s) + PER_MESSAGE;
    }
    for t in &conv.tools {
        tokens += count_text(&t.name) + 8;
        if let Some(d) = &t.description {
            tokens += count_text(d);
        }
        tokens += count_text(&t.parameters.to_string());
    }
    for m in &conv.messages {
        tokens += PER_MESSAGE;
        count_blocks(&m.content, &mut tokens, &mut complete);
    }
    Estimate { tokens, complete }
}

fn count_blocks(blocks: &[Block], tokens: &mut u64, complete: &mut bool) {
    for b in blocks {
        match b {
            Block::Text(t) => *tokens += count_text(t),
            Block::Thinking { text, .. } => *tokens += count_text(text),
            Block::ToolCall {
                name, arguments, ..
            } => *tokens += count_text(name) + count_text(arguments) + 4,
            Block::ToolResult { content, .. } => {
                *tokens += 4;
                count_blocks(content, tokens, complete);
            }
            Block::Image(_) | Block::RedactedThinking { .. } | Block::Opaque(_) => {
                *complete = false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::{Message, Role};

    #[test]
    fn counts_with_a_real_tokenizer() {
        // cl100k_base: "hello world" is two tokens; a tokenizer-free guess would say 3.
        assert_eq!(count_text("hello world"), 2);
        assert_eq!(count_text(""), 0);
    }

    #[test]
    fn images_make_an_estimate_incomplete() {
        let mut conv = Conversation::default();
        conv.messages.push(Message {
            role: Role::User,
            content: vec![Block::Text("what is in this picture".into())],
        });
        let e = estimate(&conv);
        assert!(e.complete && e.tokens > 5);
        conv.messages[0]
            .content
            .push(Block::Image(crate::translate::Image::Url(
                "http://x/y.png".into(),
            )));
        assert!(!estimate(&conv).complete);
    }
}
