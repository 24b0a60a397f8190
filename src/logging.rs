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

/// The log line format of `lodestar serve` and the desktop app: tracing's default full format
/// (`TIMESTAMP LEVEL message field=value …`, strings quoted) without its per-field styling
/// machinery, with the date and time to the second formatted once a second. The per-request
/// line is the one event on the hot path; tracing's default formatter cost about 8% of a
/// proxied request's CPU (see docs/benchmarks.md).
pub struct LineFormat;

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for LineFormat
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let ansi = writer.has_ansi_escapes();
        write_timestamp(&mut writer)?;
        let level = *event.metadata().level();
        let (name, color) = match level {
            tracing::Level::ERROR => ("ERROR", "31"),
            tracing::Level::WARN => (" WARN", "33"),
            tracing::Level::INFO => (" INFO", "32"),
            tracing::Level::DEBUG => ("DEBUG", "34"),
            tracing::Level::TRACE => ("TRACE", "35"),
        };
        if ansi {
            write!(writer, " \x1b[{color}m{name}\x1b[0m ")?;
        } else {
            writer.write_char(' ')?;
            writer.write_str(name)?;
            writer.write_char(' ')?;
        }
        let mut fields = Fields {
            w: &mut writer,
            first: true,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        writer.write_char('\n')
    }
}

/// `2026-11-25T23:45:34.123456Z`: the part up to the second is kept per thread and remade
/// when the second changes.
fn write_timestamp(w: &mut impl std::fmt::Write) -> std::fmt::Result {
    use std::cell::RefCell;
    use std::time::{SystemTime, UNIX_EPOCH};
    thread_local! {
        static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let now = SystemTime::now();
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    SECOND.with(|c| {
        let mut c = c.borrow_mut();
        if c.0 != secs {
            let whole = UNIX_EPOCH + Duration::from_secs(secs);
            let text = humantime::format_rfc3339_seconds(whole).to_string();
            // `…:34Z` → `…:34.`
            c.1 = text.trim_end_matches('Z').to_string();
            c.1.push('.');
            c.0 = secs;
        }
        w.write_str(&c.1)
    })?;
    write!(w, "{:06}Z", since.subsec_micros())
}

/// Writes an event's fields: the message as it is, the others as `name=value` (strings and
/// `?` values in their `Debug` form, `%` values in their `Display` form), space-separated.
struct Fields<'a, 'w> {
    w: &'a mut tracing_subscriber::fmt::format::Writer<'w>,
    first: bool,
    result: std::fmt::Result,
}

impl Fields<'_, '_> {
    fn name(&mut self, field: &tracing::field::Field) -> std::fmt::Result {
        if !std::mem::take(&mut self.first) {
            self.w.write_char(' ')?;
        }
        if field.name() != "message" {
            self.w.write_str(field.name())?;
            self.w.write_char('=')?;
        }
        Ok(())
    }

    fn put(&mut self, field: &tracing::field::Field, v: std::fmt::Arguments<'_>) {
        if self.result.is_ok() {
            self.result = self.name(field).and_then(|()| self.w.write_fmt(v));
        }
    }
}

impl Fields<'_, '_> {
    /// `name=` and text written as it is.
    fn raw(&mut self, field: &tracing::field::Field, text: &str) {
        if self.result.is_ok() {
            self.result = self.name(field).and_then(|()| self.w.write_str(text));
        }
    }

    fn int(&mut self, field: &tracing::field::Field, negative: bool, mut n: u64) {
        let mut buf = [0u8; 21];
        let mut at = buf.len();
        loop {
            at -= 1;
            buf[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        if negative {
            at -= 1;
            buf[at] = b'-';
        }
        self.raw(field, std::str::from_utf8(&buf[at..]).unwrap_or("?"));
    }
}

// Each field is written directly where it can be (`fmt` machinery costs hundreds of
// instructions per value; the request line has ten of them), in the same text as `fmt` would.
impl tracing::field::Visit for Fields<'_, '_> {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.raw(field, value);
        } else if value
            .bytes()
            .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\')
        {
            // What `{:?}` writes for a string with nothing to escape.
            if self.result.is_ok() {
                self.result = self.name(field).and_then(|()| {
                    self.w.write_char('"')?;
                    self.w.write_str(value)?;
                    self.w.write_char('"')
                });
            }
        } else {
            self.put(field, format_args!("{value:?}"));
        }
    }
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        self.int(field, false, value);
    }
    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        self.int(field, value < 0, value.unsigned_abs());
    }
    fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
        // Latencies are logged rounded to 2 decimals: those print without float formatting.
        let cents = (value * 100.0).round();
        if value.is_finite() && cents.abs() < 1e15 && (cents - value * 100.0).abs() < 1e-6 {
            let c = cents as i64;
            let (whole, frac) = (c.unsigned_abs() / 100, c.unsigned_abs() % 100);
            self.int(field, c < 0, whole);
            if frac != 0 && self.result.is_ok() {
                let digits = [b'.', b'0' + (frac / 10) as u8, b'0' + (frac % 10) as u8];
                let n = if frac % 10 == 0 { 2 } else { 3 };
                self.result = self
                    .w
                    .write_str(std::str::from_utf8(&digits[..n]).unwrap_or(""));
            }
        } else {
            self.put(field, format_args!("{value}"));
        }
    }
    fn record_bool(&mut self, field: &tracing::field::Field, value: bool) {
        self.raw(field, if value { "true" } else { "false" });
    }
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.put(field, format_args!("{value:?}"));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The request line as `LineFormat` writes it: same text as tracing's default format.
    #[test]
    fn fields_and_floats_read_as_before() {
        let (writer, guard) = BufferedStderr::new();
        let shared = writer.shared.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(writer)
            .with_ansi(false)
            .event_format(LineFormat)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(
                id = %"req_1",
                endpoint = "chat.completions",
                status = 200u16,
                latency_ms = 0.17,
                ttfb_ms = 3.0,
                other = 2.5,
                tiny = -0.05,
                odd = 1.0 / 3.0,
                ok = true,
                "request"
            );
        });
        let text = String::from_utf8(shared.buf.lock().unwrap().clone()).unwrap();
        drop(guard);
        let line = text.lines().next().unwrap();
        let (ts, rest) = line.split_once(' ').unwrap();
        assert!(
            ts.ends_with('Z') && ts.len() == 27 && ts.as_bytes()[19] == b'.',
            "{ts}"
        );
        assert_eq!(
            rest,
            " INFO request id=req_1 endpoint=\"chat.completions\" status=200 latency_ms=0.17 \
             ttfb_ms=3 other=2.5 tiny=-0.05 odd=0.3333333333333333 ok=true"
        );
    }
}
