//! Fallback: each failure kind before the first byte moves on to the next route entry; a
//! request the upstream refuses, or an answer already streaming, does not.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::proxy::{Proxy, chat_body, route_of, sse_data};
use support::upstream::TestUpstream;

/// A loopback port with nothing listening.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn config(up: &str, route: &[&str]) -> String {
    let dead = closed_port();
    let route = route.join(", ");
    format!(
        r#"
providers:
  a: {{ kind: openai-compatible, base_url: "{up}/v1", discover_models: false, timeouts: {{ first_byte: 700ms, idle: 400ms, total: 1500ms }} }}
  b: {{ kind: openai-compatible, base_url: "{up}/v1", discover_models: false }}
  dead: {{ kind: openai-compatible, base_url: "http://127.0.0.1:{dead}/v1", discover_models: false }}
models:
  r: {{ route: [{route}] }}
routing:
  max_retry_wait: 3s
"#
    )
}

async fn setup(route: &[&str]) -> (TestUpstream, Proxy) {
    let up = TestUpstream::start().await;
    let proxy = Proxy::start(&config(&up.url(), route)).await;
    (up, proxy)
}

async fn falls_back_from(first: &str) {
    let (up, proxy) = setup(&[first, "b/good"]).await;
    let r = proxy.chat(chat_body("r", "hi")).await;
    assert_eq!(r.status(), 200, "after {first}");
    assert_eq!(route_of(&r), "b/good", "after {first}");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "echo: hi");
    assert_eq!(up.calls_for("good"), 1);
}

#[tokio::test]
async fn falls_back_on_5xx_before_first_byte() {
    for first in [
        "a/m+fail_500",
        "a/m+fail_502",
        "a/m+fail_503",
        "a/m+fail_529",
    ] {
        falls_back_from(first).await;
    }
}

#[tokio::test]
async fn falls_back_on_429_408_and_missing_model_or_key() {
    for first in [
        "a/m+fail_429_ra0",
        "a/m+fail_408",
        "a/m+no_model",
        "a/m+fail_401",
    ] {
        falls_back_from(first).await;
    }
}

#[tokio::test]
async fn falls_back_on_connect_error() {
    falls_back_from("dead/m").await;
}

#[tokio::test]
async fn falls_back_when_the_first_byte_is_late_and_cancels_the_slow_call() {
    let (up, proxy) = setup(&["a/m+slow_first_byte_5000", "b/good"]).await;
    let r = proxy.chat(chat_body("r", "hi")).await;
    assert_eq!(route_of(&r), "b/good");
    assert!(
        up.wait_cancelled(1, Duration::from_secs(5)).await,
        "the timed-out upstream call was abandoned, not left running"
    );
}

#[tokio::test]
async fn does_not_fall_back_when_the_request_itself_is_refused() {
    let (up, proxy) = setup(&["a/m+fail_400", "b/good"]).await;
    let r = proxy.chat(chat_body("r", "hi")).await;
    assert_eq!(r.status(), 400);
    assert_eq!(route_of(&r), "a/m+fail_400");
    let v: Value = r.json().await.unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("forced 400")
    );
    assert_eq!(up.calls_for("good"), 0);
}

#[tokio::test]
async fn does_not_fall_back_after_the_first_byte_and_ends_with_an_error_event() {
    let (up, proxy) = setup(&["a/m+drop_mid_stream", "b/good"]).await;
    let mut body = chat_body("r", "one two three four five");
    body["stream"] = json!(true);
    let r = proxy.chat(body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(route_of(&r), "a/m+drop_mid_stream");
    let events = sse_data(r).await;
    let last: Value = serde_json::from_str(events.last().unwrap()).unwrap();
    assert_eq!(last["error"]["code"], "stream_interrupted", "{events:?}");
    assert!(
        !events.iter().any(|e| e == "[DONE]"),
        "a cut stream must not look complete"
    );
    let contents = events
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(e).ok())
        .filter(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .is_some_and(|s| !s.is_empty())
        })
        .count();
    assert_eq!(contents, 2, "the chunks before the cut reached the client");
    assert_eq!(up.calls_for("good"), 0);
}

#[tokio::test]
async fn a_stalled_stream_ends_with_an_idle_timeout_error() {
    let (_up, proxy) = setup(&["a/m+chunks_3+slow_stream_2000"]).await;
    let mut body = chat_body("r", "x");
    body["stream"] = json!(true);
    let r = proxy.chat(body).await;
    let events = sse_data(r).await;
    let last: Value = serde_json::from_str(events.last().unwrap()).unwrap();
    let msg = last["error"]["message"].as_str().unwrap();
    assert!(msg.contains("timeouts.idle"), "{msg}");
}

#[tokio::test]
async fn honours_retry_after_when_no_other_entry_is_left() {
    let (up, proxy) = setup(&["a/m+fail_429_ra1_once"]).await;
    let started = Instant::now();
    let r = proxy.chat(chat_body("r", "hi")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(up.calls_for("m+fail_429_ra1_once"), 2);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the retry waited for Retry-After"
    );
}

#[tokio::test]
async fn a_retry_after_beyond_the_budget_is_answered_as_429_at_once() {
    let (up, proxy) = setup(&["a/m+fail_429_ra30"]).await;
    let r = proxy.chat(chat_body("r", "hi")).await;
    assert_eq!(r.status(), 429);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "rate_limited");
    assert_eq!(up.calls(), 1);
}

#[tokio::test]
async fn when_every_entry_fails_the_error_lists_each_one() {
    let (_up, proxy) = setup(&["a/m+fail_503", "dead/m"]).await;
    let r = proxy.chat(chat_body("r", "hi")).await;
    assert_eq!(r.status(), 502);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "all_upstreams_failed");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("a/m+fail_503 (503: test upstream: forced 503)"),
        "{msg}"
    );
    assert!(msg.contains("dead/m (connection failed"), "{msg}");
}

#[tokio::test]
async fn a_stream_running_past_the_total_timeout_is_cut_with_an_error() {
    // Chunks every 200 ms (under the 400 ms idle limit), 30 of them: past the 1.5 s total.
    let (_up, proxy) = setup(&["a/m+chunks_30+slow_stream_200"]).await;
    let mut body = chat_body("r", "x");
    body["stream"] = json!(true);
    let events = sse_data(proxy.chat(body).await).await;
    assert!(events.len() > 3, "some chunks went out first: {events:?}");
    let last: Value = serde_json::from_str(events.last().unwrap()).unwrap();
    let msg = last["error"]["message"].as_str().unwrap();
    assert!(msg.contains("timeouts.total"), "{msg}");
}

#[tokio::test]
async fn retry_after_zero_does_not_become_a_busy_loop() {
    let (up, proxy) = setup(&["a/m+fail_429_ra0"]).await;
    let r = proxy.chat(chat_body("r", "hi")).await;
    assert_eq!(r.status(), 429);
    let calls = up.calls_for("m+fail_429_ra0");
    assert!((2..=3).contains(&calls), "retried {calls} times");
}

#[tokio::test]
async fn an_absurd_retry_after_is_ignored_not_a_crash() {
    let (up, proxy) = setup(&["a/m+fail_429_ra18446744073709551615", "b/good"]).await;
    let r = proxy.chat(chat_body("r", "hi")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(route_of(&r), "b/good");
    assert_eq!(up.calls(), 2);
}
