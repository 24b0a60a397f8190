//! Provider health over real TCP: background probes and real traffic decide each provider's
//! state (up / degraded / down); transitions are events, once each and rate-limited; uptime
//! comes from the probe history in the database (and survives a restart); `on_down` runs once
//! per outage; every kind of upstream fault opens a route entry's circuit after the configured
//! count, and an error rate over the window opens it too. `/metrics` is read with a real
//! Prometheus text-format parser.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use lodestar::events::Event;
use lodestar::health::{BreakerState, ProviderState};
use serde_json::{Value, json};
use support::proxy::{Proxy, chat_body, route_of};
use support::upstream::TestUpstream;

fn provider_events(
    rx: &mut tokio::sync::broadcast::Receiver<Event>,
) -> Vec<(String, ProviderState)> {
    let mut out = Vec::new();
    while let Ok(e) = rx.try_recv() {
        if let Event::Provider(c) = e {
            out.push((c.provider, c.state));
        }
    }
    out
}

async fn provider_health(p: &Proxy, name: &str) -> Value {
    let s: Value = p.get("/admin/api/status").await.json().await.unwrap();
    s["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == name)
        .unwrap_or_else(|| panic!("no provider {name} in {s}"))["health"]
        .clone()
}

/// Wait (up to 5 s) until `name`'s state is `state`.
async fn wait_state(p: &Proxy, name: &str, state: &str) -> Value {
    let mut h = Value::Null;
    for _ in 0..250 {
        h = provider_health(p, name).await;
        if h["state"] == state {
            return h;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{name} never became {state}: {h}");
}

async fn probe(p: &Proxy, name: &str) -> Value {
    let r = p
        .client
        .post(format!("{}/admin/api/providers/{name}/probe", p.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

#[tokio::test]
async fn probes_decide_the_state_and_uptime_matches_the_injected_timeline() {
    let up = TestUpstream::start().await;
    let db = support::temp_dir("health-uptime").join("lodestar.db");
    let yaml = format!(
        r#"
health: {{ probe_interval: 1h, probe_timeout: 300ms }}
providers:
  a: {{ kind: openai-compatible, base_url: "{}/v1", discover_models: false }}
"#,
        up.url()
    );
    let p = Proxy::start_with_db(&yaml, db.clone()).await;
    let mut events = p.handle.subscribe();
    // The probe at start passes.
    let h = wait_state(&p, "a", "up").await;
    assert_eq!(h["last_probe"]["ok"], true, "{h}");

    // The timeline: ok, 500, garbage, timeout, ok, 429.
    up.script_listing(&["ok", "500", "garbage", "hang", "ok", "429"]);
    let states: Vec<String> = [
        probe(&p, "a").await,
        probe(&p, "a").await,
        probe(&p, "a").await,
        probe(&p, "a").await,
        probe(&p, "a").await,
        probe(&p, "a").await,
    ]
    .iter()
    .map(|v| v["state"].as_str().unwrap().to_string())
    .collect();
    assert_eq!(
        states,
        ["up", "degraded", "down", "down", "up", "up"],
        "one failed probe degrades, two make it down; a 429 is alive"
    );
    p.handle.ledger().store().unwrap().flush().await;
    let h = provider_health(&p, "a").await;
    assert_eq!(h["state"], "up");
    assert_eq!(
        provider_events(&mut events),
        vec![
            ("a".to_string(), ProviderState::Degraded),
            ("a".to_string(), ProviderState::Down),
            ("a".to_string(), ProviderState::Up),
        ],
        "one event per transition; no event for the first `up`"
    );

    // 7 probes, 3 failed (500, garbage, timeout), in this hour's bar.
    let hours = h["uptime_hours"].as_array().unwrap();
    let (ok, total) = hours.iter().fold((0, 0), |(o, t), b| {
        (
            o + b["ok"].as_i64().unwrap(),
            t + b["total"].as_i64().unwrap(),
        )
    });
    assert_eq!((ok, total), (4, 7), "{h}");
    let u = &h["uptime"];
    assert_eq!(u["probes"], 7, "{h}");
    for w in ["1h", "24h", "7d"] {
        assert!(
            (u[w].as_f64().unwrap() - 4.0 / 7.0).abs() < 1e-9,
            "{w}: {h}"
        );
    }

    // The metrics, as Prometheus reads them.
    let m = support::metrics::parse(&p.get("/metrics").await.text().await.unwrap());
    assert_eq!(
        m.get("lodestar_provider_up", &[("provider", "a")]),
        Some(1.0)
    );
    assert_eq!(
        m.get(
            "lodestar_provider_state",
            &[("provider", "a"), ("state", "up")]
        ),
        Some(1.0)
    );
    assert_eq!(
        m.get(
            "lodestar_provider_state",
            &[("provider", "a"), ("state", "down")]
        ),
        Some(0.0)
    );
    assert_eq!(
        m.get(
            "lodestar_probes_total",
            &[("provider", "a"), ("result", "error")]
        ),
        Some(3.0)
    );
    assert_eq!(
        m.get(
            "lodestar_probes_total",
            &[("provider", "a"), ("result", "ok")]
        ),
        Some(4.0)
    );
    assert_eq!(
        m.get(
            "lodestar_probe_duration_seconds_count",
            &[("provider", "a")]
        ),
        Some(7.0)
    );

    // The history survives a restart: the new run's first probe makes 8.
    p.handle.shutdown().await;
    let p = Proxy::start_with_db(&yaml, db).await;
    let mut h = provider_health(&p, "a").await;
    for _ in 0..100 {
        if h["uptime"]["probes"] == 8 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        p.handle.ledger().store().unwrap().flush().await;
        h = provider_health(&p, "a").await;
    }
    assert_eq!(h["uptime"]["probes"], 8, "{h}");
    assert!(
        (h["uptime"]["7d"].as_f64().unwrap() - 5.0 / 8.0).abs() < 1e-9,
        "{h}"
    );
}

#[tokio::test]
async fn a_dead_provider_is_down_without_any_traffic_and_said_so_once() {
    let yaml = r#"
health: { probe_interval: 30ms, probe_timeout: 200ms }
providers:
  dead: { kind: openai-compatible, base_url: "http://127.0.0.1:9/v1", discover_models: false }
"#;
    let p = Proxy::start(yaml).await;
    let mut events = p.handle.subscribe();
    let h = wait_state(&p, "dead", "down").await;
    assert!(
        h["last_error"].as_str().unwrap().contains("cannot reach"),
        "{h}"
    );
    // Many more failed probes: still one event.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let evs = provider_events(&mut events);
    assert!(
        evs.len() <= 2 && evs.last() == Some(&("dead".to_string(), ProviderState::Down)),
        "{evs:?}"
    );
    let m = support::metrics::parse(&p.get("/metrics").await.text().await.unwrap());
    assert_eq!(
        m.get("lodestar_provider_up", &[("provider", "dead")]),
        Some(0.0)
    );
    assert!(
        m.get(
            "lodestar_probes_total",
            &[("provider", "dead"), ("result", "error")]
        )
        .unwrap()
            >= 5.0
    );
}

#[tokio::test]
async fn real_traffic_alone_marks_a_provider_down_and_up_per_model_too() {
    let up = TestUpstream::start().await;
    let yaml = format!(
        r#"
health: {{ probe_interval: 0s, failures: 100 }}
providers:
  a: {{ kind: openai-compatible, base_url: "{}/v1", discover_models: false }}
"#,
        up.url()
    );
    let p = Proxy::start(&yaml).await;
    let mut events = p.handle.subscribe();
    assert_eq!(provider_health(&p, "a").await["state"], "unknown");
    p.chat(chat_body("a/ok", "hi")).await.bytes().await.unwrap();
    assert_eq!(provider_health(&p, "a").await["state"], "up");
    for _ in 0..3 {
        let r = p.chat(chat_body("a/m+fail_503", "hi")).await;
        assert_eq!(r.status(), 502);
    }
    let h = provider_health(&p, "a").await;
    assert_eq!(h["state"], "down", "{h}");
    assert!(h["last_error"].as_str().unwrap().contains("503"), "{h}");
    let m = h["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["model"] == "m+fail_503")
        .unwrap();
    assert_eq!(m["state"], "down");
    assert_eq!(m["failures_in_window"], 3);
    // A request that answers brings it back.
    p.chat(chat_body("a/ok", "hi")).await.bytes().await.unwrap();
    p.handle.ledger().store().unwrap().flush().await;
    let h = provider_health(&p, "a").await;
    // Each model's availability, from the ledger.
    let avail = |model: &str| {
        h["models"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["model"] == model)
            .unwrap()["availability"]
            .clone()
    };
    assert_eq!(avail("ok")["1h"], 1.0, "{h}");
    assert_eq!(avail("ok")["7d"], 1.0, "{h}");
    assert_eq!(avail("m+fail_503")["24h"], 0.0, "{h}");
    assert_eq!(h["state"], "degraded", "3 of 5 recent requests failed: {h}");
    assert!(h["latency_ms"]["p50"].as_f64().unwrap() > 0.0, "{h}");
    assert_eq!(
        provider_events(&mut events),
        vec![("a".to_string(), ProviderState::Down)],
        "down is announced; easing to degraded after an announced down is not news"
    );
}

#[tokio::test]
async fn a_flapping_provider_is_announced_once_per_notify_every() {
    let up = TestUpstream::start().await;
    let yaml = format!(
        r#"
health: {{ probe_interval: 1h, notify_every: 1h }}
providers:
  a: {{ kind: openai-compatible, base_url: "{}/v1", discover_models: false }}
"#,
        up.url()
    );
    let p = Proxy::start(&yaml).await;
    wait_state(&p, "a", "up").await;
    let mut events = p.handle.subscribe();
    // Down, up, down, up.
    up.script_listing(&["500", "500", "ok", "500", "500", "ok"]);
    for _ in 0..6 {
        probe(&p, "a").await;
    }
    assert_eq!(
        provider_events(&mut events),
        vec![
            ("a".to_string(), ProviderState::Degraded),
            ("a".to_string(), ProviderState::Down),
            ("a".to_string(), ProviderState::Up),
        ],
        "the second outage within notify_every is not announced (nor its recovery)"
    );
}

#[tokio::test]
async fn on_down_runs_once_per_outage_and_its_outcome_is_an_event() {
    let dir = support::temp_dir("on-down");
    let log = dir.join("ran.log");
    let yaml = format!(
        r#"
health: {{ probe_interval: 100ms, probe_timeout: 200ms }}
providers:
  dead:
    kind: openai-compatible
    base_url: "http://127.0.0.1:9/v1"
    discover_models: false
    on_down: {{ command: "echo restarting >> '{}'; echo done; exit 3", backoff: 1h }}
"#,
        log.display()
    );
    let p = Proxy::start(&yaml).await;
    let mut events = p.handle.subscribe();
    let deadline = Instant::now() + Duration::from_secs(5);
    let run = loop {
        match tokio::time::timeout_at(deadline.into(), events.recv()).await {
            Ok(Ok(Event::OnDown(r))) => break r,
            Ok(Ok(_)) => continue,
            other => panic!("no on_down event: {other:?}"),
        }
    };
    assert_eq!(run.provider, "dead");
    assert!(!run.ok);
    assert_eq!(run.exit_code, Some(3));
    assert!(run.output.contains("done"), "{run:?}");
    // Still down through many more probes: it ran once.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
}

fn fault_config(u: &str) -> String {
    format!(
        r#"
health: {{ failures: 2, open_for: 1h, probe_interval: 0s }}
providers:
  a:
    kind: openai-compatible
    base_url: "{u}/v1"
    discover_models: false
    timeouts: {{ first_byte: 300ms, idle: 300ms }}
  dead: {{ kind: openai-compatible, base_url: "http://127.0.0.1:9/v1", discover_models: false }}
models:
  refused: {{ route: [dead/x, a/backup] }}
  timeout: {{ route: [a/t+hang, a/backup] }}
  e500: {{ route: [a/e+fail_500, a/backup] }}
  garbage: {{ route: [a/g+garbage, a/backup] }}
  cut: {{ route: [a/c+drop_mid_stream, a/backup] }}
  loris: {{ route: [a/l+slow_stream_1000, a/backup] }}
  rate: {{ route: [a/r+fail_500_alt, a/backup] }}
"#
    )
}

async fn send(p: &Proxy, alias: &str, stream: bool) -> reqwest::Response {
    let mut body = chat_body(alias, "hello there");
    body["stream"] = json!(stream);
    p.chat(body).await
}

#[tokio::test]
async fn every_kind_of_fault_opens_the_circuit_after_the_configured_count() {
    let up = TestUpstream::start().await;
    let p = Proxy::start(&fault_config(&up.url())).await;
    // (alias, first entry, streamed): failures before the first byte fall back at once; a
    // stream cut mid-way or gone silent fails the client's stream, and counts against it.
    let cases = [
        ("refused", "dead/x", false),
        ("timeout", "a/t+hang", true),
        ("e500", "a/e+fail_500", false),
        ("garbage", "a/g+garbage", false),
        ("cut", "a/c+drop_mid_stream", true),
        ("loris", "a/l+slow_stream_1000", true),
    ];
    for (alias, entry, stream) in cases {
        let mut events = p.handle.subscribe();
        for _ in 0..2 {
            let r = send(&p, alias, stream).await;
            let _ = r.bytes().await;
        }
        let opened: Vec<String> = std::iter::from_fn(|| events.try_recv().ok())
            .filter_map(|e| match e {
                Event::Circuit(c) if c.state == BreakerState::Open => Some(c.target),
                _ => None,
            })
            .collect();
        assert_eq!(opened, vec![entry.to_string()], "{alias}");
        // Open: skipped, no wait on it.
        let t = Instant::now();
        let r = send(&p, alias, stream).await;
        assert_eq!(route_of(&r), "a/backup", "{alias}");
        let _ = r.bytes().await;
        assert!(
            t.elapsed() < Duration::from_millis(250),
            "{alias}: {:?}",
            t.elapsed()
        );
    }
    // Garbage was caught before the client saw it: both tries fell back to the backup.
    assert_eq!(up.calls_for("g+garbage"), 2);
}

#[tokio::test]
async fn an_error_rate_over_the_window_opens_the_circuit() {
    let up = TestUpstream::start().await;
    let yaml = fault_config(&up.url()).replace(
        "failures: 2, open_for: 1h",
        "failures: 100, open_for: 1h, error_rate: 0.5, min_requests: 4, window: 1m",
    );
    let p = Proxy::start(&yaml).await;
    let mut events = p.handle.subscribe();
    // Fail, ok, fail, ok: never 2 in a row, but half of 4; the 5th (a failure) opens it.
    for _ in 0..5 {
        send(&p, "rate", false).await.bytes().await.unwrap();
    }
    assert_eq!(up.calls_for("r+fail_500_alt"), 5);
    let opened: Vec<String> = std::iter::from_fn(|| events.try_recv().ok())
        .filter_map(|e| match e {
            Event::Circuit(c) if c.state == BreakerState::Open => Some(c.target),
            _ => None,
        })
        .collect();
    assert_eq!(opened, vec!["a/r+fail_500_alt".to_string()]);
    send(&p, "rate", false).await.bytes().await.unwrap();
    assert_eq!(up.calls_for("r+fail_500_alt"), 5, "skipped while open");
}

#[tokio::test]
async fn a_local_model_that_fails_to_load_is_an_event_once_and_routing_falls_back() {
    let up = TestUpstream::start().await;
    let u = up.url();
    let p = Proxy::start(&format!(
        r#"
health: {{ probe_interval: 0s, failures: 100, notify_every: 1h }}
providers:
  local: {{ kind: ollama, base_url: "{u}", discover_models: false }}
  cloud: {{ kind: openai, base_url: "{u}/v1", pass_client_key: true, discover_models: false }}
models:
  big: {{ route: [local/big+oom, local/small] }}
  busy: {{ route: [local/busy+fail_500, local/small] }}
  remote: {{ route: [cloud/huge+oom, local/small] }}
"#
    ))
    .await;
    let mut events = p.handle.subscribe();
    let load_events = |rx: &mut tokio::sync::broadcast::Receiver<Event>| {
        std::iter::from_fn(|| rx.try_recv().ok())
            .filter_map(|e| match e {
                Event::ModelLoadFailed(f) => Some((f.provider, f.model, f.error)),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    for stream in [false, true] {
        let r = send(&p, "big", stream).await;
        assert_eq!(r.status(), 200);
        assert_eq!(route_of(&r), "local/small", "the next entry answered");
        r.bytes().await.unwrap();
    }
    let evs = load_events(&mut events);
    assert_eq!(
        evs,
        vec![(
            "local".to_string(),
            "big+oom".to_string(),
            format!("500: {}", support::upstream::OOM_MESSAGE)
        )],
        "once per model per notify_every"
    );
    // Any other 500 from a local model, and the same words from a cloud provider, are not.
    for alias in ["busy", "remote"] {
        let r = send(&p, alias, false).await;
        assert_eq!(route_of(&r), "local/small", "{alias}");
        r.bytes().await.unwrap();
    }
    assert_eq!(load_events(&mut events), vec![]);
    assert_eq!(up.calls_for("big+oom"), 2);
    assert_eq!(up.calls_for("huge+oom"), 1);

    // The same event on the admin API's event stream, as the desktop app and the UI read it.
    let p2 = Proxy::start(&format!(
        r#"
health: {{ probe_interval: 0s }}
providers:
  local: {{ kind: ollama, base_url: "{u}", discover_models: false }}
models:
  big: {{ route: [local/big2+oom, local/small] }}
"#
    ))
    .await;
    let mut sse = p2.get("/admin/api/events").await;
    assert_eq!(sse.status(), 200);
    send(&p2, "big", false).await.bytes().await.unwrap();
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !seen.contains("model_load_failed") && Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(5), sse.chunk()).await {
            Ok(Ok(Some(c))) => seen.push_str(&String::from_utf8_lossy(&c)),
            _ => break,
        }
    }
    let data = seen
        .split("event: model_load_failed\n")
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .and_then(|l| l.strip_prefix("data: "))
        .unwrap_or_else(|| panic!("no model_load_failed event in {seen}"));
    let ev: Value = serde_json::from_str(data).unwrap();
    assert_eq!(ev["data"]["provider"], "local");
    assert_eq!(ev["data"]["model"], "big2+oom");
    assert!(
        ev["data"]["error"]
            .as_str()
            .unwrap()
            .contains("requires more system memory"),
        "{ev}"
    );
}
