//! The engine's events, as the app consumes them: from the in-process engine's broadcast
//! channel, or — attached to a headless `lodestar serve` — from `GET /admin/api/events`
//! (Server-Sent Events). Both become `AppEvent { kind, data }` with the same JSON the SSE
//! stream carries, so the notification and refresh logic has one path.
//!
//! Owns the event sources and the SSE parser; must not decide what an event means.

use std::time::Duration;

use serde_json::Value;
use tokio::sync::{broadcast, mpsc};

/// One engine event: its `type` and its `data` (as on `/admin/api/events`).
#[derive(Debug, Clone, PartialEq)]
pub struct AppEvent {
    pub kind: String,
    pub data: Value,
}

impl AppEvent {
    /// From the engine's own event type.
    pub fn from_engine(ev: &lodestar::events::Event) -> AppEvent {
        let v = serde_json::to_value(ev).unwrap_or(Value::Null);
        AppEvent {
            kind: v["type"].as_str().unwrap_or("event").to_string(),
            data: v["data"].clone(),
        }
    }
}

/// Forward the in-process engine's events until it shuts down.
pub async fn pump_engine(
    mut rx: broadcast::Receiver<lodestar::events::Event>,
    tx: mpsc::Sender<AppEvent>,
) {
    loop {
        match rx.recv().await {
            Ok(ev) => {
                if tx.send(AppEvent::from_engine(&ev)).await.is_err() {
                    return;
                }
            }
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::debug!("the tray missed {n} engine events");
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Follow `GET {base}/admin/api/events` until `tx` closes, reconnecting (1 s, doubling up to
/// 30 s) when the stream ends or fails.
pub async fn pump_sse(http: reqwest::Client, base: String, tx: mpsc::Sender<AppEvent>) {
    let url = format!("{base}/admin/api/events");
    let mut backoff = Duration::from_secs(1);
    loop {
        match http.get(&url).send().await {
            Ok(mut resp) if resp.status().is_success() => {
                backoff = Duration::from_secs(1);
                let mut parser = SseParser::default();
                loop {
                    match resp.chunk().await {
                        Ok(Some(bytes)) => {
                            for ev in parser.push(&bytes) {
                                if tx.send(ev).await.is_err() {
                                    return;
                                }
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            tracing::debug!("the event stream broke: {e}");
                            break;
                        }
                    }
                }
            }
            Ok(resp) => tracing::warn!("{url} answered {}", resp.status()),
            Err(e) => tracing::debug!("cannot follow {url}: {e}"),
        }
        if tx.is_closed() {
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

/// Server-Sent Events, incrementally: bytes in (split anywhere), whole events out.
#[derive(Debug, Default)]
pub struct SseParser {
    buf: Vec<u8>,
}

impl SseParser {
    pub fn push(&mut self, bytes: &[u8]) -> Vec<AppEvent> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(end) = find_blank_line(&self.buf) {
            let block: Vec<u8> = self.buf.drain(..end.0).collect();
            self.buf.drain(..end.1);
            if let Some(ev) = parse_block(&String::from_utf8_lossy(&block)) {
                out.push(ev);
            }
        }
        out
    }
}

/// Where the first event ends: (end of its text, length of the blank-line separator).
fn find_blank_line(b: &[u8]) -> Option<(usize, usize)> {
    let lf = b.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2));
    let crlf = b.windows(4).position(|w| w == b"\r\n\r\n").map(|i| (i, 4));
    match (lf, crlf) {
        (Some(a), Some(c)) => Some(if a.0 < c.0 { a } else { c }),
        (a, c) => a.or(c),
    }
}

fn parse_block(block: &str) -> Option<AppEvent> {
    let mut kind = None;
    let mut data = String::new();
    for line in block.lines() {
        if let Some(v) = line.strip_prefix("event:") {
            kind = Some(v.trim().to_string());
        } else if let Some(v) = line.strip_prefix("data:") {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(v.strip_prefix(' ').unwrap_or(v));
        }
        // `:` comments (keep-alives), `id:` and `retry:` are not used.
    }
    if data.is_empty() && kind.is_none() {
        return None;
    }
    let v: Value = serde_json::from_str(&data).unwrap_or(Value::Null);
    // The engine's data is the whole event ({"type", "data"}); the `event:` line repeats type.
    let kind = kind
        .or_else(|| v["type"].as_str().map(str::to_string))
        .unwrap_or_else(|| "message".into());
    let data = if v.get("type").is_some() && v.get("data").is_some() {
        v["data"].clone()
    } else {
        v
    };
    Some(AppEvent { kind, data })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_split_anywhere_come_out_whole() {
        let stream = b"event: provider\ndata: {\"type\":\"provider\",\"data\":{\"provider\":\"openai\",\"state\":\"down\"}}\n\n: keep-alive\n\nevent: routing\r\ndata: {\"type\":\"routing\",\"data\":{\"default\":\"smart\"}}\r\n\r\n";
        for split in 1..stream.len() {
            let mut p = SseParser::default();
            let mut got = p.push(&stream[..split]);
            got.extend(p.push(&stream[split..]));
            assert_eq!(got.len(), 2, "split at {split}");
            assert_eq!(got[0].kind, "provider");
            assert_eq!(got[0].data, json!({"provider": "openai", "state": "down"}));
            assert_eq!(got[1].kind, "routing");
            assert_eq!(got[1].data["default"], "smart");
        }
    }

    #[test]
    fn lagged_and_bare_events_parse() {
        let mut p = SseParser::default();
        let got = p.push(b"event: lagged\ndata: 12\n\n");
        assert_eq!(got[0].kind, "lagged");
        assert_eq!(got[0].data, json!(12));
    }

    #[test]
    fn engine_events_match_the_sse_json() {
        let ev = lodestar::events::Event::ShuttingDown;
        assert_eq!(AppEvent::from_engine(&ev).kind, "shutting_down");
        let ev = lodestar::events::Event::Listening {
            addr: std::net::SocketAddr::from(([127, 0, 0, 1], 8080)),
        };
        let a = AppEvent::from_engine(&ev);
        assert_eq!(a.kind, "listening");
        assert_eq!(a.data, json!({"addr": "127.0.0.1:8080"}));
    }
}
