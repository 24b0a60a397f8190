//! Upstream connections: kept alive and reused across requests (plain JSON and streams),
//! never reused after a broken answer, and a connection the upstream closed while idle costs a
//! new connection, not a failed request.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::proxy::{Proxy, chat_body, route_of, sse_data};
use support::upstream::TestUpstream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn config(url: &str) -> String {
    format!(
        "health: {{ probe_interval: 0s }}\nproviders:\n  u: {{ kind: openai-compatible, base_url: \"{url}/v1\", discover_models: false }}\n"
    )
}

#[tokio::test]
async fn sequential_requests_reuse_one_upstream_connection() {
    let up = TestUpstream::start().await;
    let proxy = Proxy::start(&config(&up.url())).await;
    for i in 0..5 {
        let r = proxy.chat(chat_body("u/m", &format!("json {i}"))).await;
        assert_eq!(r.status(), 200);
        r.bytes().await.unwrap();
        let mut streamed = chat_body("u/m", &format!("stream {i}"));
        streamed["stream"] = json!(true);
        let events = sse_data(proxy.chat(streamed).await).await;
        assert_eq!(events.last().unwrap(), "[DONE]");
    }
    assert_eq!(up.calls(), 10);
    assert_eq!(
        up.connections(),
        1,
        "every request after the first reused the connection"
    );
}

#[tokio::test]
async fn a_connection_whose_answer_broke_is_not_reused() {
    let up = TestUpstream::start().await;
    let proxy = Proxy::start(&config(&up.url())).await;
    let mut body = chat_body("u/m+drop_mid_stream", "a b c d");
    body["stream"] = json!(true);
    let events = sse_data(proxy.chat(body).await).await;
    assert!(events.last().unwrap().contains("stream_interrupted"));
    let r = proxy.chat(chat_body("u/m", "after")).await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "echo: after");
    assert_eq!(up.connections(), 2);
}

/// A minimal HTTP/1.1 server that answers one request per connection and then closes it
/// without saying `Connection: close`, like a server whose keep-alive timeout is very short.
async fn one_shot_server() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = accepted.clone();
    #[allow(clippy::disallowed_methods)]
    tokio::spawn(async move {
        loop {
            let (mut sock, _) = listener.accept().await.unwrap();
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            #[allow(clippy::disallowed_methods)]
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let mut got = Vec::new();
                // Read the head and a Content-Length body.
                loop {
                    let n = sock.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    got.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&got).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let len: usize = text[..end]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse().unwrap())
                            })
                            .unwrap_or(0);
                        if got.len() >= end + 4 + len {
                            break;
                        }
                    }
                }
                let body = r#"{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"one shot"},"finish_reason":"stop"}]}"#;
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                sock.write_all(resp.as_bytes()).await.unwrap();
                tokio::time::sleep(Duration::from_millis(20)).await;
                // Dropping the socket closes the connection.
            });
        }
    });
    (url, accepted)
}

#[tokio::test]
async fn an_idle_connection_closed_by_the_upstream_is_replaced_not_failed() {
    let (url, accepted) = one_shot_server().await;
    let proxy = Proxy::start(&config(&url)).await;
    for i in 0..4 {
        let r = proxy.chat(chat_body("u/m", "hi")).await;
        assert_eq!(r.status(), 200, "request {i}");
        assert_eq!(route_of(&r), "u/m");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["choices"][0]["message"]["content"], "one shot");
        // Let the server close its side before the next request.
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 4);
}

#[tokio::test]
async fn a_connection_closed_right_as_it_is_reused_is_retried_once() {
    let (url, accepted) = one_shot_server().await;
    let proxy = Proxy::start(&config(&url)).await;
    // No pause: the next request may go out on the connection the server is about to close.
    for i in 0..6 {
        let r = proxy.chat(chat_body("u/m", "hi")).await;
        let status = r.status();
        let text = r.text().await.unwrap();
        assert_eq!(status, 200, "request {i}: {text}");
    }
    assert!(accepted.load(std::sync::atomic::Ordering::SeqCst) >= 6);
}
