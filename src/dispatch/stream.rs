//! Relaying a streamed answer: chunk by chunk as it arrives, with an idle timeout, and a
//! failure after the first byte ending the stream with an error event (never a clean end).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt, stream};

use crate::ledger::UsageTap;
use crate::translate::sse::{SseEvent, SseReader};
use crate::translate::{Decoder, Encoder, Format, StreamEvent};

/// What the client's body is made of.
pub(crate) type ClientStream = Pin<Box<dyn Stream<Item = Result<Bytes, Infallible>> + Send>>;
pub(crate) use crate::providers::UpstreamStream;

/// How long a translated stream waits for the upstream body's end after the answer's last
/// event (normally it is already there).
const DRAIN_AFTER_END: Duration = Duration::from_millis(250);

/// How long a stream may go quiet, and when it must be over.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// `timeouts.idle`: the longest silence between chunks.
    pub idle: Duration,
    /// `timeouts.total`, from the start of the attempt.
    pub deadline: tokio::time::Instant,
}

/// Calls back once when the stream ends, however it ends (complete, failed, or dropped
/// because the client hung up).
pub(crate) struct StreamEnd {
    f: Option<Box<dyn FnOnce(Ended) + Send>>,
    outcome: StreamOutcome,
    /// Reads the upstream's usage report as the stream passes.
    pub(crate) tap: UsageTap,
    /// A translated Responses stream's final response object.
    completed: Option<serde_json::Value>,
    /// The stream's chunks, kept for the response cache (None: not kept, or too large).
    capture: Option<Vec<Bytes>>,
    captured_bytes: usize,
}

/// The most of one stream kept for the cache.
const CAPTURE_MAX: usize = 8 << 20;

/// What the end-of-stream callback learns.
pub(crate) struct Ended {
    pub outcome: StreamOutcome,
    pub tap: UsageTap,
    /// The response a translated Responses stream completed with (for the response store).
    pub completed: Option<serde_json::Value>,
    /// The chunks, when the stream was captured for the cache and came through whole.
    pub captured: Option<Vec<Bytes>>,
}

/// How a relayed stream ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StreamOutcome {
    Complete,
    Failed(String),
    /// Dropped before the end: the client went away.
    ClientGone,
}

impl StreamEnd {
    pub(crate) fn new(f: impl FnOnce(Ended) + Send + 'static) -> Self {
        Self {
            f: Some(Box::new(f)),
            outcome: StreamOutcome::ClientGone,
            tap: UsageTap::off(),
            completed: None,
            capture: None,
            captured_bytes: 0,
        }
    }

    /// Keep the stream's chunks (pass-through: as the upstream sent them; translated: as the
    /// client got them) for the cache.
    pub(crate) fn capturing(mut self) -> Self {
        self.capture = Some(Vec::new());
        self
    }

    fn keep(&mut self, b: &Bytes) {
        if let Some(c) = &mut self.capture {
            self.captured_bytes += b.len();
            if self.captured_bytes > CAPTURE_MAX {
                self.capture = None;
            } else {
                c.push(b.clone());
            }
        }
    }
    fn set(&mut self, o: StreamOutcome) {
        self.outcome = o;
    }
}

impl Drop for StreamEnd {
    fn drop(&mut self) {
        if let Some(f) = self.f.take() {
            let outcome = std::mem::replace(&mut self.outcome, StreamOutcome::ClientGone);
            let captured = match outcome {
                StreamOutcome::Complete => self.capture.take(),
                _ => None,
            };
            f(Ended {
                outcome,
                tap: std::mem::replace(&mut self.tap, UsageTap::off()),
                completed: self.completed.take(),
                captured,
            });
        }
    }
}

async fn next_within(s: &mut UpstreamStream, limits: Limits) -> Option<Result<Bytes, String>> {
    let idle_end = tokio::time::Instant::now() + limits.idle;
    match tokio::time::timeout_at(idle_end.min(limits.deadline), s.next()).await {
        Ok(Some(Ok(b))) => Some(Ok(b)),
        Ok(Some(Err(e))) => Some(Err(format!(
            "the upstream connection broke mid-stream: {e}"
        ))),
        Ok(None) => None,
        Err(_) if idle_end <= limits.deadline => Some(Err(format!(
            "the upstream sent nothing for {} mid-stream (timeouts.idle)",
            humantime::format_duration(limits.idle)
        ))),
        Err(_) => Some(Err(
            "the answer went on past timeouts.total; it was cut there".to_string(),
        )),
    }
}

/// Pass an SSE body through untouched, `first` chunk already read; a failure after it ends the
/// stream with `client`'s error event. With `strip`, the usage Lodestar asked for on the
/// client's behalf is taken out again (see `UsageStrip`).
pub(crate) fn relay_passthrough(
    first: Bytes,
    rest: UpstreamStream,
    limits: Limits,
    client: Format,
    end: StreamEnd,
    strip: Option<UsageStrip>,
) -> ClientStream {
    struct S {
        rest: UpstreamStream,
        end: StreamEnd,
        first: Option<Bytes>,
        strip: Option<UsageStrip>,
        done: bool,
    }
    impl S {
        /// What of `b` goes to the client now (None: nothing yet).
        fn pass(&mut self, b: Bytes) -> Option<Bytes> {
            self.end.tap.on_chunk(&b);
            self.end.keep(&b);
            match &mut self.strip {
                None => Some(b),
                Some(st) => st.push(&b),
            }
        }
    }
    let s = S {
        rest,
        end,
        first: Some(first),
        strip,
        done: false,
    };
    Box::pin(stream::unfold(s, move |mut s| async move {
        loop {
            if let Some(b) = s.first.take() {
                match s.pass(b) {
                    Some(out) => return Some((Ok(out), s)),
                    None => continue,
                }
            }
            if s.done {
                return None;
            }
            match next_within(&mut s.rest, limits).await {
                Some(Ok(b)) => {
                    if let Some(out) = s.pass(b) {
                        return Some((Ok(out), s));
                    }
                }
                Some(Err(msg)) => {
                    s.done = true;
                    s.end.set(StreamOutcome::Failed(msg.clone()));
                    let mut out = s.strip.as_mut().map(UsageStrip::finish).unwrap_or_default();
                    out.extend_from_slice(client.error_event(&msg).as_bytes());
                    return Some((Ok(Bytes::from(out)), s));
                }
                None => {
                    s.done = true;
                    s.end.set(StreamOutcome::Complete);
                    let rest = s.strip.as_mut().map(UsageStrip::finish).unwrap_or_default();
                    if rest.is_empty() {
                        return None;
                    }
                    return Some((Ok(Bytes::from(rest)), s));
                }
            }
        }
    }))
}

/// Takes out of a Chat Completions stream what `stream_options.include_usage` added when the
/// client did not ask for it: the final usage chunk (`"choices":[]` with a usage object) and
/// the `"usage":null` field of every other chunk. Works on whole events; a read that ends
/// mid-event holds its tail until the rest arrives.
#[derive(Debug, Default)]
pub(crate) struct UsageStrip {
    partial: Vec<u8>,
}

impl UsageStrip {
    pub(crate) fn push(&mut self, chunk: &[u8]) -> Option<Bytes> {
        // Fast path: whole events without any usage field pass as they are.
        if self.partial.is_empty()
            && (chunk.ends_with(b"\n\n") || chunk.ends_with(b"\r\n\r\n"))
            && !crate::needles::USAGE_KEY.is_in(chunk)
        {
            return Some(Bytes::copy_from_slice(chunk));
        }
        self.partial.extend_from_slice(chunk);
        let end = last_event_end(&self.partial)?;
        let done: Vec<u8> = self.partial.drain(..end).collect();
        let mut out = Vec::with_capacity(done.len());
        for ev in split_events(&done) {
            if crate::needles::USAGE_KEY.is_in(ev) {
                if crate::ledger::usage::has_usage_object(ev)
                    && crate::needles::EMPTY_CHOICES.is_in(ev)
                {
                    continue;
                }
                out.extend_from_slice(&remove_usage_null(ev));
            } else {
                out.extend_from_slice(ev);
            }
        }
        (!out.is_empty()).then(|| Bytes::from(out))
    }

    /// Whatever is left at the end of the body, as it is.
    pub(crate) fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.partial)
    }
}

/// The end (exclusive) of the last complete event in `b`, separator included.
fn last_event_end(b: &[u8]) -> Option<usize> {
    (1..b.len())
        .rev()
        .find(|&i| b[i] == b'\n' && (b[i - 1] == b'\n' || (i >= 3 && &b[i - 3..i] == b"\n\r\n")))
        .map(|i| i + 1)
}

/// Complete events, each with its separator.
fn split_events(b: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 1;
    while i < b.len() {
        if b[i] == b'\n' && (b[i - 1] == b'\n' || (i >= 3 && &b[i - 3..i] == b"\n\r\n")) {
            out.push(&b[start..=i]);
            start = i + 1;
        }
        i += 1;
    }
    if start < b.len() {
        out.push(&b[start..]);
    }
    out
}

/// `ev` without its `"usage":null` members (and the comma that joined each).
fn remove_usage_null(ev: &[u8]) -> Vec<u8> {
    const PAT: &[u8] = b"\"usage\":null";
    let mut out = Vec::with_capacity(ev.len());
    let mut i = 0;
    while i < ev.len() {
        if ev[i..].starts_with(PAT) {
            let after = i + PAT.len();
            if ev.get(after) == Some(&b',') {
                i = after + 1;
                continue;
            }
            if out.last() == Some(&b',') {
                out.pop();
            }
            i = after;
            continue;
        }
        out.push(ev[i]);
        i += 1;
    }
    out
}

/// Translate an upstream SSE body event by event (`decoder` reads the upstream's format,
/// `encoder` writes the client's), `first` chunk already read. Each upstream read is
/// translated and sent before the next is awaited, so the client sees every event as soon as
/// it is complete.
pub(crate) fn relay_translated(
    first: Bytes,
    rest: UpstreamStream,
    limits: Limits,
    decoder: Decoder,
    encoder: Encoder,
    end: StreamEnd,
) -> ClientStream {
    struct S {
        rest: UpstreamStream,
        end: StreamEnd,
        first: Option<Bytes>,
        reader: SseReader,
        decoder: Decoder,
        encoder: Encoder,
        out: VecDeque<Bytes>,
        done: bool,
    }
    impl S {
        fn feed(&mut self, chunk: &[u8]) {
            for ev in self.reader.push(chunk) {
                self.on_event(&ev);
            }
        }
        fn on_event(&mut self, ev: &SseEvent) {
            self.end.tap.on_event(ev);
            let hub = self.decoder.decode(ev);
            self.emit(hub);
        }
        fn emit(&mut self, hub: Vec<StreamEvent>) {
            // One client write per upstream read: the frames of all its events together.
            let mut batch = String::new();
            for e in hub {
                match &e {
                    StreamEvent::Error { message } => {
                        self.done = true;
                        self.end.set(StreamOutcome::Failed(message.clone()));
                    }
                    StreamEvent::Finish { .. } => {
                        self.done = true;
                        self.end.set(StreamOutcome::Complete);
                    }
                    _ => {}
                }
                let finish = matches!(e, StreamEvent::Finish { .. });
                for frame in self.encoder.encode(e) {
                    batch.push_str(&frame);
                }
                if finish {
                    self.end.completed = self.encoder.completed_response().cloned();
                }
            }
            if !batch.is_empty() {
                let b = Bytes::from(batch);
                self.end.keep(&b);
                self.out.push_back(b);
            }
        }
        /// The stream broke: the encoder writes the client's error event (with its own state:
        /// a Responses stream's sequence numbers and output so far).
        fn fail(&mut self, message: String) {
            self.emit(vec![StreamEvent::Error { message }]);
        }
    }
    let s = S {
        rest,
        end,
        first: Some(first),
        reader: SseReader::default(),
        decoder,
        encoder,
        out: VecDeque::new(),
        done: false,
    };
    Box::pin(stream::unfold(s, move |mut s| async move {
        loop {
            if let Some(b) = s.out.pop_front() {
                return Some((Ok(b), s));
            }
            if s.done {
                // The answer is complete (its last events already went out): read the upstream
                // body to its end, so that its keep-alive connection goes back to the pool
                // instead of being dropped half-read (a new connection per request otherwise).
                // Bounded: an upstream that keeps the body open after its last event must not
                // hold the client's end of the response.
                let drain = async { while let Some(Ok(_)) = s.rest.next().await {} };
                let _ = tokio::time::timeout(DRAIN_AFTER_END, drain).await;
                return None;
            }
            if let Some(f) = s.first.take() {
                s.feed(&f);
                continue;
            }
            match next_within(&mut s.rest, limits).await {
                Some(Ok(b)) => s.feed(&b),
                Some(Err(msg)) => s.fail(msg),
                None => {
                    if let Some(ev) = s.reader.finish() {
                        s.on_event(&ev);
                    }
                    if !s.done {
                        let owed = s.decoder.end_of_body();
                        s.emit(owed);
                    }
                    if !s.done {
                        s.fail(
                            "the upstream stream ended before its final event; the answer is \
                             incomplete"
                                .into(),
                        );
                    }
                }
            }
        }
    }))
}
