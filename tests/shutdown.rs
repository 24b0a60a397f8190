//! Shutdown: the listener closes at once, an answer already streaming is finished, and
//! `shutdown()` returns when it is.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::json;
use support::proxy::{Proxy, chat_body};
use support::upstream::TestUpstream;

#[tokio::test(flavor = "multi_thread")]
async fn an_in_flight_stream_finishes_and_new_connections_are_refused() {
    let up = TestUpstream::start().await;
    let yaml = format!(
        "providers:\n  u: {{ kind: openai-compatible, base_url: \"{}/v1\", discover_models: false }}\n",
        up.url()
    );
    let Proxy {
        handle,
        url,
        client,
    } = Proxy::start(&yaml).await;
    let mut body = chat_body("u/m+chunks_6+slow_stream_100", "x");
    body["stream"] = json!(true);
    let r = client
        .post(format!("{url}/v1/chat/completions"))
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let mut stream = r.bytes_stream();
    let first = stream.next().await.unwrap().unwrap();
    assert!(!first.is_empty());

    let addr = handle.local_addr();
    // Shutdown runs beside the client reading the stream.
    #[allow(clippy::disallowed_methods)]
    let stopping = tokio::spawn(handle.shutdown());
    // The listener goes away promptly.
    let mut refused = false;
    for _ in 0..50 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused, "the listener still accepts after shutdown began");

    let mut rest = first.to_vec();
    while let Some(c) = stream.next().await {
        rest.extend_from_slice(&c.unwrap());
    }
    let text = String::from_utf8(rest).unwrap();
    assert!(
        text.trim_end().ends_with("data: [DONE]"),
        "the stream was finished: {text}"
    );
    tokio::time::timeout(Duration::from_secs(5), stopping)
        .await
        .expect("shutdown returned once the stream was done")
        .unwrap();
    assert_eq!(up.streams_completed(), 1);
}
