//! Usage normalisation: every upstream's usage report, JSON or streamed, becomes one `Tokens`
//! with disjoint counts, so that no token is billed twice or missed. One rule per shape:
//!
//! - **OpenAI** (Chat Completions, Responses): `prompt_tokens`/`input_tokens` *include* the
//!   cached tokens (`prompt_tokens_details.cached_tokens`, `input_tokens_details.cached_tokens`);
//!   `completion_tokens`/`output_tokens` *include* `reasoning_tokens`.
//! - **Anthropic** (Messages): `input_tokens` *excludes* `cache_read_input_tokens` and
//!   `cache_creation_input_tokens`; the writes are split by lifetime in
//!   `cache_creation.ephemeral_5m_input_tokens` / `ephemeral_1h_input_tokens` (without that
//!   split, every write is a 5-minute one). Thinking is part of `output_tokens`.
//! - **Gemini** (OpenAI-compatible endpoint): reasoning ("thoughts") is reported *apart from*
//!   `completion_tokens`: `total_tokens = prompt + completion + reasoning`. Recognised by that
//!   sum, or by the provider's host when there is no total.
//! - **DeepSeek**: `prompt_cache_hit_tokens` + `prompt_cache_miss_tokens` = `prompt_tokens`.
//! - **OpenRouter and others** with `prompt_tokens_details.cache_write_tokens`: writes are part
//!   of `prompt_tokens`, priced as 5-minute writes.
//!
//! In streams the parts arrive in several events (Anthropic: `message_start` then
//! `message_delta`); a later value of a field replaces an earlier one.

use serde::Deserialize;

use crate::translate::Format;
use crate::translate::sse::SseEvent;

/// Disjoint token counts of one request. `output` includes `reasoning`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tokens {
    /// Input tokens read neither from nor into the prompt cache.
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_write_5m: u64,
    pub cache_write_1h: u64,
    /// The part of `output` spent on reasoning.
    pub reasoning: u64,
}

/// The upstream reports reasoning tokens apart from its output tokens (Gemini).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum ReasoningReport {
    /// Decide from `total_tokens` (OpenAI-style when there is none).
    #[default]
    Detect,
    Apart,
}

#[derive(Debug, Default, Clone, Deserialize)]
pub(crate) struct RawUsage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    total_tokens: Option<u64>,
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
    cache_creation_input_tokens: Option<u64>,
    cache_creation: Option<CacheCreation>,
    prompt_tokens_details: Option<Details>,
    completion_tokens_details: Option<Details>,
    input_tokens_details: Option<Details>,
    output_tokens_details: Option<Details>,
    prompt_cache_hit_tokens: Option<u64>,
    prompt_cache_miss_tokens: Option<u64>,
}

#[derive(Debug, Default, Clone, Copy, Deserialize)]
struct CacheCreation {
    ephemeral_5m_input_tokens: Option<u64>,
    ephemeral_1h_input_tokens: Option<u64>,
}

#[derive(Debug, Default, Clone, Copy, Deserialize)]
struct Details {
    cached_tokens: Option<u64>,
    cache_write_tokens: Option<u64>,
    reasoning_tokens: Option<u64>,
}

macro_rules! take_later {
    ($into:expr, $from:expr, $($f:ident),*) => { $( if $from.$f.is_some() { $into.$f = $from.$f; } )* };
}

impl RawUsage {
    /// Fold a later report into this one: its present fields win.
    fn merge(&mut self, later: RawUsage) {
        take_later!(
            self,
            later,
            prompt_tokens,
            completion_tokens,
            total_tokens,
            input_tokens,
            output_tokens,
            cache_read_input_tokens,
            cache_creation_input_tokens,
            cache_creation,
            prompt_tokens_details,
            completion_tokens_details,
            input_tokens_details,
            output_tokens_details,
            prompt_cache_hit_tokens,
            prompt_cache_miss_tokens
        );
    }

    /// The disjoint counts, by the rule of the format the report came in.
    pub(crate) fn normalize(&self, format: Format, reasoning: ReasoningReport) -> Tokens {
        let d = |x: Option<Details>| x.unwrap_or_default();
        match format {
            Format::Messages => {
                let writes = self.cache_creation_input_tokens.unwrap_or(0);
                let (w5, w1) = match self.cache_creation {
                    Some(c)
                        if c.ephemeral_5m_input_tokens.is_some()
                            || c.ephemeral_1h_input_tokens.is_some() =>
                    {
                        let w1 = c.ephemeral_1h_input_tokens.unwrap_or(0);
                        (
                            c.ephemeral_5m_input_tokens
                                .unwrap_or(writes.saturating_sub(w1)),
                            w1,
                        )
                    }
                    _ => (writes, 0),
                };
                Tokens {
                    input: self.input_tokens.unwrap_or(0),
                    output: self.output_tokens.unwrap_or(0),
                    cache_read: self.cache_read_input_tokens.unwrap_or(0),
                    cache_write_5m: w5,
                    cache_write_1h: w1,
                    reasoning: 0,
                }
            }
            Format::Responses => {
                let total_in = self.input_tokens.unwrap_or(0);
                let cached = d(self.input_tokens_details).cached_tokens.unwrap_or(0);
                Tokens {
                    input: total_in.saturating_sub(cached),
                    output: self.output_tokens.unwrap_or(0),
                    cache_read: cached,
                    cache_write_5m: 0,
                    cache_write_1h: 0,
                    reasoning: d(self.output_tokens_details).reasoning_tokens.unwrap_or(0),
                }
            }
            Format::Chat => {
                let prompt = self.prompt_tokens.unwrap_or(0);
                let details = d(self.prompt_tokens_details);
                let cached = match (self.prompt_cache_hit_tokens, details.cached_tokens) {
                    (Some(hit), _) => hit,
                    (None, Some(c)) => c,
                    (None, None) => 0,
                };
                let writes = details.cache_write_tokens.unwrap_or(0);
                let completion = self.completion_tokens.unwrap_or(0);
                let reasoning_n = d(self.completion_tokens_details)
                    .reasoning_tokens
                    .unwrap_or(0);
                let apart = match reasoning {
                    ReasoningReport::Apart => true,
                    ReasoningReport::Detect => self
                        .total_tokens
                        .is_some_and(|t| reasoning_n > 0 && t == prompt + completion + reasoning_n),
                };
                let output = if apart {
                    completion + reasoning_n
                } else {
                    completion
                };
                Tokens {
                    input: prompt.saturating_sub(cached).saturating_sub(writes),
                    output,
                    cache_read: cached,
                    cache_write_5m: writes,
                    cache_write_1h: 0,
                    reasoning: reasoning_n.min(output),
                }
            }
        }
    }
}

/// Where a usage report sits in a body or event: top level (JSON answers, chat chunks,
/// `message_delta`), in `message` (`message_start`) or in `response` (`response.completed`).
#[derive(Deserialize)]
struct Carrier {
    usage: Option<RawUsage>,
    message: Option<Inner>,
    response: Option<Inner>,
}

#[derive(Deserialize)]
struct Inner {
    usage: Option<RawUsage>,
}

/// Reads the usage out of an upstream's answer as it passes, JSON or stream, without
/// touching it. `format` is the upstream's wire format.
#[derive(Debug)]
pub(crate) struct UsageTap {
    format: Format,
    reasoning: ReasoningReport,
    usage: Option<RawUsage>,
    /// Bytes of an SSE event split across reads (only kept when a read does not end on an
    /// event boundary).
    partial: Vec<u8>,
    /// The answer's events, kept (bounded) in case no usage comes and tokens must be counted.
    kept: Vec<u8>,
    off: bool,
}

/// How much of an answer is kept for counting tokens when the upstream reports no usage.
const KEEP_MAX: usize = 4 << 20;

impl UsageTap {
    pub(crate) fn new(format: Format, reasoning: ReasoningReport) -> Self {
        Self {
            format,
            reasoning,
            usage: None,
            partial: Vec::new(),
            kept: Vec::new(),
            off: false,
        }
    }

    /// A tap that records nothing (endpoints without billable usage).
    pub(crate) fn off() -> Self {
        let mut t = Self::new(Format::Chat, ReasoningReport::Detect);
        t.off = true;
        t
    }

    pub(crate) fn format(&self) -> Format {
        self.format
    }

    /// A whole JSON answer. True when it was read, so it is JSON (the caller's check that an
    /// answer is JSON need not parse it again); false when it was not read or not understood.
    pub(crate) fn on_json(&mut self, body: &[u8]) -> bool {
        if self.off {
            return false;
        }
        let read = match serde_json::from_slice::<Carrier>(body) {
            Ok(c) => {
                self.take(c);
                true
            }
            Err(_) => false,
        };
        if self.usage.is_none() && body.len() <= KEEP_MAX {
            self.kept = body.to_vec();
        }
        read
    }

    /// Raw bytes of an SSE body as they pass (pass-through streams).
    pub(crate) fn on_chunk(&mut self, chunk: &[u8]) {
        if self.off {
            return;
        }
        if self.kept.len() + chunk.len() <= KEEP_MAX {
            self.kept.extend_from_slice(chunk);
        }
        // Fast path: a read that holds whole events and no usage object needs nothing.
        let whole = self.partial.is_empty() && ends_on_boundary(chunk);
        if whole && !has_usage_object(chunk) {
            return;
        }
        self.partial.extend_from_slice(chunk);
        let Some(end) = last_boundary(&self.partial) else {
            return;
        };
        let done: Vec<u8> = self.partial.drain(..end).collect();
        if has_usage_object(&done) {
            for line in done.split(|b| *b == b'\n') {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if let Some(data) = line.strip_prefix(b"data:") {
                    self.on_data(data);
                }
            }
        }
    }

    /// One parsed SSE event (translated streams, whose events are read anyway).
    pub(crate) fn on_event(&mut self, ev: &SseEvent) {
        if self.off {
            return;
        }
        if self.kept.len() + ev.data.len() + 8 <= KEEP_MAX {
            self.kept.extend_from_slice(b"data: ");
            self.kept.extend_from_slice(ev.data.as_bytes());
            self.kept.extend_from_slice(b"\n\n");
        }
        if has_usage_object(ev.data.as_bytes()) {
            self.on_data(ev.data.as_bytes());
        }
    }

    fn on_data(&mut self, data: &[u8]) {
        if let Ok(c) = serde_json::from_slice::<Carrier>(data.trim_ascii()) {
            self.take(c);
        }
    }

    fn take(&mut self, c: Carrier) {
        for u in [
            c.usage,
            c.message.and_then(|m| m.usage),
            c.response.and_then(|r| r.usage),
        ]
        .into_iter()
        .flatten()
        {
            match &mut self.usage {
                Some(have) => have.merge(u),
                None => self.usage = Some(u),
            }
        }
    }

    /// The upstream's usage report, normalised; None when it sent none.
    pub(crate) fn tokens(&self) -> Option<Tokens> {
        self.usage
            .as_ref()
            .map(|u| u.normalize(self.format, self.reasoning))
    }

    pub(crate) fn is_off(&self) -> bool {
        self.off
    }

    /// What was kept of the answer (for counting tokens when no usage came).
    pub(crate) fn take_kept(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.kept)
    }
}

fn ends_on_boundary(b: &[u8]) -> bool {
    b.ends_with(b"\n\n") || b.ends_with(b"\r\n\r\n")
}

/// The end (exclusive) of the last complete event in `b`.
fn last_boundary(b: &[u8]) -> Option<usize> {
    (1..b.len()).rev().find_map(|i| {
        (b[i] == b'\n' && (b[i - 1] == b'\n' || (i >= 3 && &b[i - 3..i] == b"\n\r\n")))
            .then_some(i + 1)
    })
}

/// Whether `b` has a `"usage"` key whose value is an object (not `null`).
pub(crate) fn has_usage_object(b: &[u8]) -> bool {
    let key = &crate::needles::USAGE_KEY;
    let mut from = 0;
    while let Some(i) = key.find(&b[from..]) {
        let mut j = from + i + key.len();
        while j < b.len() && matches!(b[j], b' ' | b'\t' | b'\r' | b'\n' | b':') {
            j += 1;
        }
        if b.get(j) == Some(&b'{') {
            return true;
        }
        from = j;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(json: &str, r: ReasoningReport) -> Tokens {
        let u: RawUsage = serde_json::from_str(json).unwrap_or_default();
        u.normalize(Format::Chat, r)
    }

    #[test]
    fn openai_cached_tokens_are_part_of_prompt_tokens() {
        let t = chat(
            r#"{"prompt_tokens":1000,"completion_tokens":300,"total_tokens":1300,
               "prompt_tokens_details":{"cached_tokens":600},
               "completion_tokens_details":{"reasoning_tokens":200}}"#,
            ReasoningReport::Detect,
        );
        assert_eq!(
            t,
            Tokens {
                input: 400,
                output: 300,
                cache_read: 600,
                reasoning: 200,
                ..Tokens::default()
            }
        );
    }

    #[test]
    fn gemini_reasoning_is_apart_from_completion_tokens() {
        let t = chat(
            r#"{"prompt_tokens":100,"completion_tokens":50,"total_tokens":250,
               "completion_tokens_details":{"reasoning_tokens":100}}"#,
            ReasoningReport::Detect,
        );
        assert_eq!((t.output, t.reasoning), (150, 100));
        let t = chat(
            r#"{"prompt_tokens":100,"completion_tokens":50,
               "completion_tokens_details":{"reasoning_tokens":100}}"#,
            ReasoningReport::Apart,
        );
        assert_eq!((t.output, t.reasoning), (150, 100));
    }

    #[test]
    fn deepseek_cache_hits_are_part_of_prompt_tokens() {
        let t = chat(
            r#"{"prompt_tokens":1000,"completion_tokens":10,"total_tokens":1010,
               "prompt_cache_hit_tokens":800,"prompt_cache_miss_tokens":200}"#,
            ReasoningReport::Detect,
        );
        assert_eq!((t.input, t.cache_read, t.output), (200, 800, 10));
    }

    #[test]
    fn anthropic_stream_parts_merge_and_writes_split_by_lifetime() {
        let mut tap = UsageTap::new(Format::Messages, ReasoningReport::Detect);
        tap.on_chunk(b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":10,\"cache_read_input_tokens\":2000,\"cache_creation_input_tokens\":700,\"cache_creation\":{\"ephemeral_5m_input_tokens\":200,\"ephemeral_1h_input_tokens\":500},\"output_tokens\":1}}}\n\n");
        tap.on_chunk(b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\"}\n\nevent: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output");
        tap.on_chunk(b"_tokens\":42}}\n\n");
        assert_eq!(
            tap.tokens(),
            Some(Tokens {
                input: 10,
                output: 42,
                cache_read: 2000,
                cache_write_5m: 200,
                cache_write_1h: 500,
                reasoning: 0,
            })
        );
    }

    #[test]
    fn usage_null_is_not_a_report() {
        assert!(!has_usage_object(br#"{"choices":[],"usage":null}"#));
        assert!(has_usage_object(br#"{"choices":[],"usage": {"a":1}}"#));
        let mut tap = UsageTap::new(Format::Chat, ReasoningReport::Detect);
        tap.on_chunk(b"data: {\"choices\":[{\"delta\":{}}],\"usage\":null}\n\n");
        assert_eq!(tap.tokens(), None);
    }
}
