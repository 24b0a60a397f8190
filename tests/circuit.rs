//! Circuit breakers over real TCP: an entry that keeps failing is opened and skipped (no
//! request waits on it), a half-open trial closes it when it answers again, a 429 cools an
//! entry down for its Retry-After without opening it, each transition is one event, and when
//! every entry is down the error says what each one's state is.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use lodestar::events::Event;
use lodestar::health::BreakerState;
use serde_json::Value;
use support::proxy::{Proxy, chat_body, route_of};
use support::upstream::TestUpstream;

fn config(u: &str) -> String {
    format!(
        r#"
health: {{ failures: 2, open_for: 300ms }}
providers:
  a: {{ kind: openai-compatible, base_url: "{u}/v1", discover_models: false }}
  dead: {{ kind: openai-compatible, base_url: "http://127.0.0.1:9/v1", discover_models: false }}
models:
  failing: {{ route: [a/m+fail_500, a/backup] }}
  flaky: {{ route: [a/once+fail_500_once, a/backup2] }}
  limited: {{ route: [a/lim+fail_429_ra1, a/backup3] }}
  gone: {{ route: [dead/x, a/m2+fail_500] }}
"#
    )
}

fn circuit_events(rx: &mut tokio::sync::broadcast::Receiver<Event>) -> Vec<(String, BreakerState)> {
    let mut out = Vec::new();
    while let Ok(e) = rx.try_recv() {
        if let Event::Circuit(c) = e {
            out.push((c.target, c.state));
        }
    }
    out
}

#[tokio::test]
async fn a_failing_entry_is_opened_and_then_skipped_without_waiting() {
    let up = TestUpstream::start().await;
    let p = Proxy::start(&config(&up.url())).await;
    let mut events = p.handle.subscribe();
    for _ in 0..2 {
        let r = p.chat(chat_body("failing", "hi")).await;
        assert_eq!(route_of(&r), "a/backup");
    }
    assert_eq!(up.calls_for("m+fail_500"), 2);
    // Open: the next requests go straight to the backup.
    for _ in 0..5 {
        let r = p.chat(chat_body("failing", "hi")).await;
        assert_eq!(r.status(), 200);
        assert_eq!(route_of(&r), "a/backup");
    }
    assert_eq!(
        up.calls_for("m+fail_500"),
        2,
        "no request was sent to the open entry"
    );
    assert_eq!(
        circuit_events(&mut events),
        vec![("a/m+fail_500".to_string(), BreakerState::Open)]
    );
    let h: Value = p.get("/admin/api/health").await.json().await.unwrap();
    let e = &h["entries"][0];
    assert_eq!(e["target"], "a/m+fail_500");
    assert_eq!(e["state"], "open");
    assert!(e["last_error"].as_str().unwrap().contains("500"), "{h}");
}

#[tokio::test]
async fn a_half_open_trial_closes_the_circuit_when_the_entry_answers_again() {
    let up = TestUpstream::start().await;
    let p = Proxy::start(&config(&up.url()).replace("failures: 2", "failures: 1")).await;
    let mut events = p.handle.subscribe();
    // Fails once (opens at once with failures: 1), then would answer.
    assert_eq!(
        route_of(&p.chat(chat_body("flaky", "1")).await),
        "a/backup2"
    );
    assert_eq!(
        route_of(&p.chat(chat_body("flaky", "2")).await),
        "a/backup2",
        "open: skipped"
    );
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(
        route_of(&p.chat(chat_body("flaky", "3")).await),
        "a/once+fail_500_once",
        "trial"
    );
    assert_eq!(
        route_of(&p.chat(chat_body("flaky", "4")).await),
        "a/once+fail_500_once"
    );
    assert_eq!(
        circuit_events(&mut events),
        vec![
            ("a/once+fail_500_once".to_string(), BreakerState::Open),
            ("a/once+fail_500_once".to_string(), BreakerState::Closed),
        ]
    );
}

#[tokio::test]
async fn a_rate_limited_entry_cools_down_for_its_retry_after_without_opening() {
    let up = TestUpstream::start().await;
    let p = Proxy::start(&config(&up.url())).await;
    let mut events = p.handle.subscribe();
    let start = Instant::now();
    // The 429 entry is retried after its Retry-After (1 s) within the first request, which the
    // backup answers meanwhile... the first request goes to the backup at once.
    let r = p.chat(chat_body("limited", "x")).await;
    assert_eq!(route_of(&r), "a/backup3");
    let calls = up.calls_for("lim+fail_429_ra1");
    assert!(calls >= 1);
    // Cooling down: new requests skip it, without waiting.
    for _ in 0..3 {
        let t = Instant::now();
        assert_eq!(
            route_of(&p.chat(chat_body("limited", "x")).await),
            "a/backup3"
        );
        assert!(t.elapsed() < Duration::from_millis(500));
    }
    if start.elapsed() < Duration::from_millis(900) {
        assert_eq!(
            up.calls_for("lim+fail_429_ra1"),
            calls,
            "skipped while cooling down"
        );
    }
    assert!(
        circuit_events(&mut events).is_empty(),
        "a 429 does not open the circuit"
    );
    let h: Value = p.get("/admin/api/health").await.json().await.unwrap();
    assert_eq!(h["entries"][0]["state"], "cooling_down", "{h}");
}

#[tokio::test]
async fn when_every_entry_is_down_the_error_names_each_ones_state() {
    let up = TestUpstream::start().await;
    let p = Proxy::start(&config(&up.url())).await;
    for _ in 0..2 {
        let r = p.chat(chat_body("gone", "x")).await;
        assert_eq!(r.status(), 502);
    }
    let t = Instant::now();
    let r = p.chat(chat_body("gone", "x")).await;
    assert!(
        t.elapsed() < Duration::from_millis(200),
        "no wait on known-dead entries"
    );
    assert_eq!(r.status(), 503);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "all_upstreams_down");
    let msg = e["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("dead/x (circuit open") && msg.contains("a/m2+fail_500 (circuit open"),
        "{msg}"
    );
    // In Anthropic's format for Anthropic clients.
    let r = p
        .post(
            "/v1/messages",
            &serde_json::json!({"model": "gone", "max_tokens": 8,
            "messages": [{"role": "user", "content": "x"}]}),
        )
        .await;
    assert_eq!(r.status(), 503);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["type"], "error");
    assert_eq!(e["error"]["type"], "overloaded_error");
}

#[tokio::test]
async fn metrics_count_requests_latency_fallbacks_and_circuits() {
    let up = TestUpstream::start().await;
    let p = Proxy::start(&config(&up.url())).await;
    for _ in 0..3 {
        p.chat(chat_body("failing", "hi"))
            .await
            .bytes()
            .await
            .unwrap();
    }
    let text = p.get("/metrics").await.text().await.unwrap();
    let has = |needle: &str| assert!(text.contains(needle), "missing {needle}:\n{text}");
    has(r#"lodestar_requests_total{alias="failing",provider="a",model="backup",status="200"} 3"#);
    has(
        r#"lodestar_request_duration_seconds_count{alias="failing",provider="a",model="backup"} 3"#,
    );
    has(r#"lodestar_time_to_first_byte_seconds_bucket{le="#);
    // Two failed tries of the first entry before it opened; the third request skipped it
    // (a skip is not a failed try).
    has(r#"lodestar_fallbacks_total{alias="failing"} 2"#);
    has(r#"lodestar_circuit_state{target="a/m+fail_500"} 1"#);
    has("# TYPE lodestar_request_duration_seconds histogram");
    has("# UNIT lodestar_request_duration_seconds seconds");
}

#[tokio::test]
async fn when_every_entry_fails_the_aliases_fallback_alias_answers() {
    let up = TestUpstream::start().await;
    let yaml = config(&up.url()) + "  safe-harbour: { route: [a/harbour] }\n";
    let yaml = yaml.replace(
        "  gone: { route: [dead/x, a/m2+fail_500] }",
        "  gone: { route: [dead/x, a/m2+fail_500], fallback_alias: safe-harbour }",
    );
    let p = Proxy::start(&yaml).await;
    for _ in 0..3 {
        let r = p.chat(chat_body("gone", "x")).await;
        assert_eq!(r.status(), 200, "answered by the fallback alias");
        assert_eq!(route_of(&r), "a/harbour");
    }
    // A fallback to an alias that does not exist is a config error at load time.
    let bad = yaml.replace("fallback_alias: safe-harbour", "fallback_alias: nowhere");
    let err = lodestar::config::Config::from_yaml(
        &bad,
        lodestar::config::ConfigOrigin::File("t.yml".into()),
        &|_| None,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("models.gone.fallback_alias") && err.contains("nowhere"),
        "{err}"
    );
}
