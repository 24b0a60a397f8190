//! A Server-Sent Events reader that survives events split across reads (and several events in
//! one read): bytes go in as they arrive, complete events come out.

use bytes::{Buf, BytesMut};

/// One complete SSE event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SseEvent {
    /// The `event:` field, if any.
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

#[derive(Debug, Default)]
pub(crate) struct SseReader {
    buf: BytesMut,
}

impl SseReader {
    /// Feed bytes; returns every event completed by them.
    pub(crate) fn push(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        self.buf.extend_from_slice(chunk);
        let mut out = Vec::new();
        while let Some((end, sep)) = find_boundary(&self.buf) {
            let raw = self.buf.split_to(end);
            self.buf.advance(sep);
            if let Some(ev) = parse_event(&raw) {
                out.push(ev);
            }
        }
        out
    }

    /// Whatever is left when the stream ends (an event without its blank line).
    pub(crate) fn finish(&mut self) -> Option<SseEvent> {
        let raw = std::mem::take(&mut self.buf);
        parse_event(&raw)
    }
}

/// The end of the first event in `buf` and the length of the blank-line separator after it.
fn find_boundary(buf: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while i < buf.len() {
        if buf[i] == b'\n' {
            if buf.get(i + 1) == Some(&b'\n') {
                return Some((i, 2));
            }
            if buf.get(i + 1) == Some(&b'\r') && buf.get(i + 2) == Some(&b'\n') {
                return Some((i, 3));
            }
        }
        i += 1;
    }
    None
}

fn parse_event(raw: &[u8]) -> Option<SseEvent> {
    let text = String::from_utf8_lossy(raw);
    let mut event = None;
    let mut data: Option<String> = None;
    for line in text.lines() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() || line.starts_with(':') {
            continue;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => event = Some(value.to_string()),
            "data" => match &mut data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => data = Some(value.to_string()),
            },
            _ => {}
        }
    }
    if event.is_none() && data.is_none() {
        return None;
    }
    Some(SseEvent {
        event,
        data: data.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_at_every_byte_come_out_whole() {
        let input =
            b"event: a\ndata: {\"x\":1}\n\n: comment\n\ndata: l1\ndata: l2\r\n\r\ndata: [DONE]\n\n";
        let mut whole = SseReader::default();
        let expected = whole.push(input);
        assert_eq!(expected.len(), 3);
        assert_eq!(expected[0].event.as_deref(), Some("a"));
        assert_eq!(expected[1].data, "l1\nl2");
        assert_eq!(expected[2].data, "[DONE]");
        let mut split = SseReader::default();
        let mut got = Vec::new();
        for b in input {
            got.extend(split.push(&[*b]));
        }
        assert_eq!(got, expected);
    }

    #[test]
    fn unterminated_last_event_is_returned_by_finish() {
        let mut r = SseReader::default();
        assert!(r.push(b"data: tail").is_empty());
        assert_eq!(r.finish().map(|e| e.data).as_deref(), Some("tail"));
    }
}
