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
    let r = p.get("/metrics").await;
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text"),
    );
    let text = r.text().await.unwrap();
    let m = support::metrics::parse(&text);
    let backup = [("alias", "failing"), ("provider", "a"), ("model", "backup")];
    assert_eq!(
        m.get(
            "lodestar_requests_total",
            &[backup[0], backup[1], backup[2], ("status", "200")]
        ),
        Some(3.0)
    );
    assert_eq!(
        m.get("lodestar_request_duration_seconds_count", &backup),
        Some(3.0)
    );
    assert_eq!(
        m.get("lodestar_time_to_first_byte_seconds_count", &backup),
        Some(3.0)
    );
    // Two failed tries of the first entry before it opened; the third request skipped it
    // (a skip is not a failed try).
    assert_eq!(
        m.get("lodestar_fallbacks_total", &[("alias", "failing")]),
        Some(2.0)
    );
    assert_eq!(
        m.get("lodestar_circuit_state", &[("target", "a/m+fail_500")]),
        Some(1.0)
    );
    assert!(text.contains("# TYPE lodestar_request_duration_seconds histogram"));
    assert!(text.contains("# UNIT lodestar_request_duration_seconds seconds"));
}

/// The Grafana dashboard and the alert rules in installers/monitoring/ use only metric names
/// that /metrics has (a renamed metric must not silently empty a panel).
#[test]
fn the_shipped_dashboard_and_alerts_use_only_real_metric_names() {
    use lodestar::health::{EntryHealth, ProviderState};
    // Every family gets a sample (an empty family is not rendered), then its name is read off
    // the text the way a scraper reads it.
    let metrics = lodestar::metrics::Metrics::new();
    let tokens = lodestar::ledger::Tokens {
        input: 1,
        output: 1,
        ..Default::default()
    };
    metrics.record_usage("p", "m", "", &tokens, Some(0.01));
    metrics.record_usage("p", "m2", "", &tokens, None);
    metrics.record_cache("hit");
    metrics.record_cache_hit(Some(0.01));
    metrics.set_cache_size(&Default::default());
    metrics.record_request(
        "fast",
        "p/m",
        200,
        Duration::from_millis(5),
        Some(Duration::from_millis(1)),
        1,
    );
    metrics.set_circuits(&[EntryHealth {
        target: "p/m".into(),
        state: BreakerState::Open,
        consecutive_failures: 5,
        last_error: None,
        retry_in_s: None,
    }]);
    metrics.set_provider_state("p", ProviderState::Up);
    metrics.record_probe("p", true, Duration::from_millis(3));
    metrics.set_gpus(
        "local",
        &[lodestar::health::gpu::GpuSample {
            index: 0,
            name: "T600".into(),
            utilization_pct: 50,
            memory_used_bytes: 1,
            memory_total_bytes: 2,
            temperature_c: Some(60),
            power_w: Some(20.0),
            processes: vec![],
        }],
    );
    let text = metrics.render();
    support::metrics::parse(&text);
    let mut real = std::collections::BTreeSet::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let (name, kind) = rest.split_once(' ').unwrap();
        match kind {
            "counter" => {
                real.insert(format!("{name}_total"));
            }
            "histogram" => {
                for s in ["_bucket", "_sum", "_count"] {
                    real.insert(format!("{name}{s}"));
                }
            }
            _ => {
                real.insert(name.to_string());
            }
        }
    }
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/installers/monitoring/");
    let mut used = 0;
    for file in ["grafana-dashboard.json", "prometheus-alerts.yml"] {
        let body = std::fs::read_to_string(format!("{dir}{file}")).unwrap();
        for (i, _) in body.match_indices("lodestar_") {
            let name: String = body[i..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_' || c.is_ascii_digit())
                .collect();
            assert!(
                real.contains(&name),
                "{file} uses `{name}`, which /metrics does not have"
            );
            used += 1;
        }
    }
    assert!(used > 20, "the files reference the metrics ({used} uses)");
    // Both files parse.
    let _: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{dir}grafana-dashboard.json")).unwrap(),
    )
    .unwrap();
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

#[tokio::test]
async fn a_flapping_entry_is_announced_once_per_notify_every() {
    let up = TestUpstream::start().await;
    let yaml = config(&up.url()).replace(
        "failures: 2, open_for: 300ms",
        "failures: 1, open_for: 100ms",
    ) + "  flapping: { route: [a/f+fail_500_alt, a/backup4] }\n";
    let p = Proxy::start(&yaml).await;
    let mut events = p.handle.subscribe();
    // Fails (opens), trial answers (closes), fails (opens), trial answers (closes).
    for _ in 0..2 {
        assert_eq!(
            route_of(&p.chat(chat_body("flapping", "x")).await),
            "a/backup4"
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(
            route_of(&p.chat(chat_body("flapping", "x")).await),
            "a/f+fail_500_alt"
        );
    }
    assert_eq!(up.calls_for("f+fail_500_alt"), 4);
    assert_eq!(
        circuit_events(&mut events),
        vec![
            ("a/f+fail_500_alt".to_string(), BreakerState::Open),
            ("a/f+fail_500_alt".to_string(), BreakerState::Closed),
        ],
        "the second outage within notify_every is not announced, nor its end"
    );
}
