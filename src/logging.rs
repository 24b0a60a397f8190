//! Log output for the faces of the engine: tracing's formatter writing into a buffer that a
//! small thread flushes to stderr every 100 ms (and at exit), so the one log line per request
//! costs a memcpy on the request path, not a write(2) syscall.
//!
//! Owns: where log bytes go. Must not decide what is logged (the modules do).

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const FLUSH_EVERY: Duration = Duration::from_millis(100);

#[derive(Default)]
struct Shared {
    buf: Mutex<Vec<u8>>,
}

impl Shared {
    fn flush(&self) {
        let pending = match self.buf.lock() {
            Ok(mut b) if !b.is_empty() => std::mem::take(&mut *b),
            _ => return,
        };
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(&pending);
        let _ = err.flush();
    }
}

/// A `MakeWriter` for `tracing_subscriber::fmt` that buffers.
#[derive(Clone)]
pub struct BufferedStderr {
    shared: Arc<Shared>,
}

/// Flushes what is left when dropped: keep it alive until the program ends.
pub struct FlushGuard {
    shared: Arc<Shared>,
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        self.shared.flush();
    }
}

impl BufferedStderr {
    /// The writer and its guard; starts the flusher thread.
    pub fn new() -> (Self, FlushGuard) {
        let shared = Arc::new(Shared::default());
        let weak = Arc::downgrade(&shared);
        let _ = std::thread::Builder::new()
            .name("lodestar-log".into())
            .spawn(move || {
                while let Some(s) = weak.upgrade() {
                    s.flush();
                    drop(s);
                    std::thread::sleep(FLUSH_EVERY);
                }
            });
        (
            Self {
                shared: shared.clone(),
            },
            FlushGuard { shared },
        )
    }
}

/// One formatted event; appended to the buffer when tracing drops it.
pub struct LineWriter {
    shared: Arc<Shared>,
    line: Vec<u8>,
}

impl Write for LineWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.line.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        // Only append: the write to stderr happens on the flusher thread, never on a request.
        if let Ok(mut b) = self.shared.buf.lock() {
            b.extend_from_slice(&self.line);
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for BufferedStderr {
    type Writer = LineWriter;
    fn make_writer(&'a self) -> LineWriter {
        LineWriter {
            shared: self.shared.clone(),
            line: Vec::with_capacity(256),
        }
    }
}
