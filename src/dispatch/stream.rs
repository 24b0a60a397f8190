//! Relaying a streamed answer: chunk by chunk as it arrives, with an idle timeout, and a
//! failure after the first byte ending the stream with an error event (never a clean end).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt, stream};

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
    f: Option<Box<dyn FnOnce(StreamOutcome) + Send>>,
    outcome: StreamOutcome,
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
    pub(crate) fn new(f: impl FnOnce(StreamOutcome) + Send + 'static) -> Self {
        Self {
            f: Some(Box::new(f)),
            outcome: StreamOutcome::ClientGone,
        }
    }
    fn set(&mut self, o: StreamOutcome) {
        self.outcome = o;
    }
}

impl Drop for StreamEnd {
    fn drop(&mut self) {
        if let Some(f) = self.f.take() {
            f(std::mem::replace(
                &mut self.outcome,
                StreamOutcome::ClientGone,
            ));
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
/// stream with `client`'s error event.
pub(crate) fn relay_passthrough(
    first: Bytes,
    rest: UpstreamStream,
    limits: Limits,
    client: Format,
    end: StreamEnd,
) -> ClientStream {
    struct S {
        rest: UpstreamStream,
        end: StreamEnd,
        first: Option<Bytes>,
        done: bool,
    }
    let s = S {
        rest,
        end,
        first: Some(first),
        done: false,
    };
    Box::pin(stream::unfold(s, move |mut s| async move {
        if let Some(b) = s.first.take() {
            return Some((Ok(b), s));
        }
        if s.done {
            return None;
        }
        match next_within(&mut s.rest, limits).await {
            Some(Ok(b)) => Some((Ok(b), s)),
            Some(Err(msg)) => {
                s.done = true;
                s.end.set(StreamOutcome::Failed(msg.clone()));
                Some((Ok(Bytes::from(client.error_event(&msg))), s))
            }
            None => {
                s.end.set(StreamOutcome::Complete);
                None
            }
        }
    }))
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
                for frame in self.encoder.encode(e) {
                    batch.push_str(&frame);
                }
            }
            if !batch.is_empty() {
                self.out.push_back(Bytes::from(batch));
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
