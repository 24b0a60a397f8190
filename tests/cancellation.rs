//! A client that hangs up cancels the upstream call: streams and pending JSON answers alike.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::json;
use support::proxy::{Proxy, chat_body};
use support::upstream::TestUpstream;

async fn setup() -> (TestUpstream, Proxy) {
    let up = TestUpstream::start().await;
    let yaml = format!(
        "providers:\n  u: {{ kind: openai-compatible, base_url: \"{}/v1\", discover_models: false }}\n",
        up.url()
    );
    let proxy = Proxy::start(&yaml).await;
    (up, proxy)
}

#[tokio::test]
async fn client_disconnect_mid_stream_cancels_the_upstream_stream() {
    let (up, proxy) = setup().await;
    let mut body = chat_body("u/m+chunks_50+slow_stream_100", "x");
    body["stream"] = json!(true);
    let r = proxy.chat(body).await;
    assert_eq!(r.status(), 200);
    let mut s = r.bytes_stream();
    s.next().await.unwrap().unwrap();
    drop(s);
    assert!(
        up.wait_cancelled(1, Duration::from_secs(10)).await,
        "the upstream stream was not cancelled after the client left"
    );
    assert_eq!(up.streams_completed(), 0);
}

#[tokio::test]
async fn client_disconnect_while_waiting_cancels_the_upstream_request() {
    let (up, proxy) = setup().await;
    let pending = proxy
        .client
        .post(format!("{}/v1/chat/completions", proxy.url))
        .body(chat_body("u/m+hang", "x").to_string())
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(pending.is_err(), "the client gave up");
    assert!(
        up.wait_cancelled(1, Duration::from_secs(10)).await,
        "the upstream request was not cancelled after the client left"
    );
}
