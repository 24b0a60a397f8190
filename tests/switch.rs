//! The quick switch (the tray's radio list, the UI's Models page, `lodestar use`): one state
//! for all, applied to the next request at once, saved across restarts, never turning
//! fallbacks off; local-only mode keeps requests off cloud providers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use lodestar::events::Event;
use serde_json::{Value, json};
use support::bin::{lodestar, serve_on, terminate};
use support::proxy::{Proxy, chat_body, route_of};
use support::upstream::TestUpstream;

fn config(u: &str) -> String {
    format!(
        r#"
health: {{ probe_interval: 0s }}
providers:
  a: {{ kind: openai-compatible, base_url: "{u}/v1", discover_models: false }}
  cloud: {{ kind: openai-compatible, base_url: "http://192.0.2.1/v1", discover_models: false }}
models:
  fast: {{ route: [a/fast-model] }}
  smart: {{ route: [a/smart-model+fail_500, a/smart-backup] }}
  mixed: {{ route: [cloud/big, a/small] }}
routing:
  default: fast
"#
    )
}

async fn put(p: &Proxy, body: Value) -> reqwest::Response {
    p.client
        .put(format!("{}/admin/api/routing", p.url))
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn switching_the_default_moves_the_next_request_and_survives_a_restart() {
    let up = TestUpstream::start().await;
    let db = support::temp_dir("switch").join("lodestar.db");
    let p = Proxy::start_with_db(&config(&up.url()), db.clone()).await;
    let mut events = p.handle.subscribe();
    assert_eq!(
        route_of(&p.chat(chat_body("auto", "hi")).await),
        "a/fast-model"
    );

    let r = put(&p, json!({"default": "smart"})).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["default"], "smart");
    assert_eq!(v["default_source"], "switched");
    // At once, and with the alias's fallback intact.
    assert_eq!(
        route_of(&p.chat(chat_body("auto", "hi")).await),
        "a/smart-backup"
    );
    let switched = std::iter::from_fn(|| events.try_recv().ok()).find_map(|e| match e {
        Event::Routing(s) => Some(s),
        _ => None,
    });
    assert_eq!(switched.unwrap().default.as_deref(), Some("smart"));

    // The models page's view.
    let m: Value = p.get("/admin/api/models").await.json().await.unwrap();
    assert_eq!(m["default"], "smart");
    assert_eq!(m["config_default"], "fast");
    let smart = m["aliases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "smart")
        .unwrap();
    assert_eq!(smart["route"][0]["target"], "a/smart-model+fail_500");
    assert_eq!(smart["route"][0]["local"], true);
    assert_eq!(smart["route"][0]["input_usd_per_mtok"], 0.0, "local: free");
    let mixed = m["aliases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "mixed")
        .unwrap();
    assert_eq!(mixed["route"][0]["local"], false);
    assert_eq!(
        mixed["route"][0]["input_usd_per_mtok"],
        Value::Null,
        "unknown price"
    );

    // A wrong alias: the error names the field and the aliases there are.
    let r = put(&p, json!({"default": "nosuch"})).await;
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["param"], "default");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("fast, smart, mixed"),
        "{e}"
    );

    // Saved: a restart keeps it; `null` goes back to the file's default.
    p.handle.shutdown().await;
    let p = Proxy::start_with_db(&config(&up.url()), db).await;
    assert_eq!(
        route_of(&p.chat(chat_body("auto", "hi")).await),
        "a/smart-backup"
    );
    let v: Value = put(&p, json!({"default": null}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["default"], "fast");
    assert_eq!(v["default_source"], "config");
    assert_eq!(
        route_of(&p.chat(chat_body("auto", "hi")).await),
        "a/fast-model"
    );
}

#[tokio::test]
async fn local_only_mode_keeps_requests_off_cloud_providers() {
    let up = TestUpstream::start().await;
    let p = Proxy::start(&config(&up.url())).await;
    let v: Value = put(&p, json!({"local_only": true}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["local_only"], true);
    // The cloud entry is skipped without a try (192.0.2.1 would hang until a timeout).
    let t = std::time::Instant::now();
    let r = p.chat(chat_body("mixed", "hi")).await;
    assert_eq!(route_of(&r), "a/small");
    assert!(t.elapsed() < std::time::Duration::from_secs(1));
    // Asking for a cloud model by name is refused, saying why and how to turn it off.
    let r = p.chat(chat_body("cloud/big", "hi")).await;
    assert_eq!(r.status(), 403);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "local_only");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("lodestar use --local-only off"),
        "{e}"
    );
    put(&p, json!({"local_only": false})).await;
    let r = p.chat(chat_body("cloud/big", "hi")).await;
    assert_ne!(r.status(), 403);
}

#[tokio::test(flavor = "multi_thread")]
async fn lodestar_use_switches_the_running_instance_and_route_explain_shows_it() {
    let up = TestUpstream::start().await;
    let home = support::temp_dir("use-cli");
    let listen = support::bin::free_listen();
    let yaml = format!(
        "server: {{ listen: \"{listen}\" }}\nstorage: {{ path: \"{}\" }}\n{}",
        home.join("lodestar.db").display(),
        config(&up.url())
    );
    let cfg = support::write_config(&home, &yaml);
    let run = |args: &[&str]| {
        let out = lodestar(&home)
            .arg("--config")
            .arg(&cfg)
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    // No server: a clear error.
    let (ok, _, err) = run(&["use", "smart"]);
    assert!(!ok);
    assert!(err.contains("no Lodestar answers"), "{err}");

    let mut cmd = lodestar(&home);
    cmd.arg("--config").arg(&cfg);
    let (mut child, url, _) = serve_on(&mut cmd, &home.join("err.log"), &listen, &[]);
    let (ok, out, err) = run(&["use", "smart"]);
    assert!(ok, "{err}");
    assert!(out.contains("default: smart (switched)"), "{out}");
    let r = support::http_client()
        .post(format!("{url}/v1/chat/completions"))
        .json(&chat_body("auto", "hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(route_of(&r), "a/smart-backup");
    let (ok, out, _) = run(&["route", "hello", "--explain"]);
    assert!(ok);
    assert!(
        out.starts_with("a/smart-model+fail_500 -> a/smart-backup"),
        "{out}"
    );
    assert!(out.contains("switch:   default `smart`"), "{out}");
    let (ok, _, err) = run(&["use", "nosuch"]);
    assert!(!ok);
    assert!(err.contains("`nosuch` is not an alias"), "{err}");
    let (ok, out, _) = run(&["use", "--local-only", "on"]);
    assert!(ok && out.contains("local only: on"), "{out}");
    assert!(terminate(&mut child).success());
    // Stopped: `route --explain` reads the saved switch.
    let (ok, out, _) = run(&["route", "hello", "--explain"]);
    assert!(ok);
    assert!(out.contains("as last switched"), "{out}");
}

/// The event channel over HTTP (`GET /admin/api/events`, Server-Sent Events), for faces outside
/// the engine's process: a switch shows up as `event: routing`.
#[tokio::test]
async fn the_event_stream_carries_the_switch() {
    use futures_util::StreamExt;
    let up = TestUpstream::start().await;
    let p = Proxy::start(&config(&up.url())).await;
    let r = p.get("/admin/api/events").await;
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let mut body = r.bytes_stream();
    put(&p, json!({"default": "smart"})).await;
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while !text.contains("event: routing") {
        let chunk = tokio::time::timeout_at(deadline, body.next())
            .await
            .expect("an event within 5 s")
            .unwrap()
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    let data = text
        .split("event: routing\ndata: ")
        .nth(1)
        .unwrap()
        .lines()
        .next()
        .unwrap();
    let v: Value = serde_json::from_str(data).unwrap();
    assert_eq!(v["type"], "routing");
    assert_eq!(v["data"]["default"], "smart");
}

#[tokio::test]
async fn a_paused_proxy_answers_503_until_resumed_and_its_admin_api_keeps_working() {
    let up = TestUpstream::start().await;
    let p = Proxy::start(&config(&up.url())).await;
    let v: Value = put(&p, json!({"paused": true})).await.json().await.unwrap();
    assert_eq!(v["paused"], true);
    let r = p.chat(chat_body("fast", "hi")).await;
    assert_eq!(r.status(), 503);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "paused");
    // In Anthropic's format for Anthropic clients.
    let r = p
        .post(
            "/v1/messages",
            &json!({"model": "fast", "max_tokens": 8, "messages": [{"role": "user", "content": "x"}]}),
        )
        .await;
    assert_eq!(r.status(), 503);
    assert_eq!(r.json::<Value>().await.unwrap()["type"], "error");
    assert_eq!(up.calls(), 0, "nothing was sent while paused");
    let m: Value = p.get("/admin/api/models").await.json().await.unwrap();
    assert_eq!(m["paused"], true);
    put(&p, json!({"paused": false})).await;
    assert_eq!(p.chat(chat_body("fast", "hi")).await.status(), 200);
}

/// Finished requests reach subscribers coalesced: a burst of requests is a few `requests`
/// events whose counts add up, not one event per request (a tray or a browser tab must not be
/// woken per request under load).
#[tokio::test]
async fn finished_requests_are_counted_in_coalesced_events() {
    let up = TestUpstream::start().await;
    let p = Proxy::start(&config(&up.url())).await;
    let mut rx = p.handle.subscribe();
    for i in 0..20 {
        let mut body = chat_body("fast", "hi");
        body["stream"] = json!(i % 2 == 0);
        p.chat(body).await.bytes().await.unwrap();
    }
    let (mut events, mut total) = (0, 0);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while total < 20 {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Ok(lodestar::events::Event::Requests(a))) => {
                events += 1;
                total += a.finished;
            }
            Ok(Ok(_)) => {}
            other => panic!("only {total} of 20 requests counted: {other:?}"),
        }
    }
    assert_eq!(total, 20);
    assert!(
        events < 20,
        "{events} events for 20 requests: not coalesced"
    );
    // Nothing more arrives: each request was counted once.
    tokio::time::sleep(lodestar::events::ACTIVITY_EVERY * 2).await;
    assert!(
        !matches!(rx.try_recv(), Ok(lodestar::events::Event::Requests(_))),
        "a request was counted twice"
    );
}

/// The Models page's context sizes: from the config's `context_window`, else the context
/// Ollama loaded the model with (`/api/ps`), else the provider's listing (vLLM's
/// `max_model_len`); none when nobody says.
#[tokio::test]
async fn route_entries_carry_their_context_window_and_its_source() {
    let up = TestUpstream::start_with_models(vec![
        "listed+ctx_32768".into(),
        "loaded+ctx_8192".into(),
        "plain".into(),
    ])
    .await;
    let u = up.url();
    let p = Proxy::start(&format!(
        r#"
health: {{ probe_interval: 0s }}
providers:
  vllm: {{ kind: openai-compatible, base_url: "{u}/v1" }}
  ollama: {{ kind: ollama, base_url: "{u}", discover_models: false }}
  over: {{ kind: openai-compatible, base_url: "{u}/v1", context_window: {{ "*": 4096, "listed+ctx_32768": 65536 }} }}
models:
  m: {{ route: [vllm/listed+ctx_32768, ollama/loaded+ctx_8192, vllm/plain, over/listed+ctx_32768, over/other] }}
"#
    ))
    .await;
    // The status screen reads Ollama's /api/ps (as the UI and the tray do).
    p.get("/admin/api/status").await.bytes().await.unwrap();
    let m: Value = p.get("/admin/api/models").await.json().await.unwrap();
    let route = m["aliases"][0]["route"].as_array().unwrap().clone();
    let got: Vec<(Value, Value)> = route
        .iter()
        .map(|e| (e["context_tokens"].clone(), e["context_source"].clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            (json!(32768), json!("listing")),
            (json!(8192), json!("loaded")),
            (Value::Null, Value::Null),
            (json!(65536), json!("config")),
            (json!(4096), json!("config")),
        ],
        "{route:?}"
    );
}

/// The faces' preferences (the UI's Settings page, the tray): notification mutes and start at
/// login, saved in the database, announced as an event, refused with the known kinds named.
#[tokio::test]
async fn preferences_are_saved_announced_and_checked() {
    let up = TestUpstream::start().await;
    let db = support::temp_dir("prefs").join("lodestar.db");
    let yaml = config(&up.url());
    {
        let p = Proxy::start_with_db(&yaml, db.clone()).await;
        let v: Value = p.get("/admin/api/preferences").await.json().await.unwrap();
        assert_eq!(v["notifications"]["provider"], true);
        assert_eq!(v["notifications"]["model_load"], true);
        assert_eq!(v["autostart"], Value::Null);
        assert_eq!(v["saved"], false);
        let mut rx = p.handle.subscribe();
        let put = |body: Value| {
            p.client
                .put(format!("{}/admin/api/preferences", p.url))
                .json(&body)
                .send()
        };
        let r = put(json!({"notifications": {"provider": false}, "autostart": true}))
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["notifications"]["provider"], false);
        assert_eq!(v["notifications"]["budget_limit"], true, "others untouched");
        assert_eq!(v["autostart"], true);
        let announced = std::iter::from_fn(|| rx.try_recv().ok())
            .any(|e| matches!(e, Event::Preferences(p) if !p.notifications["provider"]));
        assert!(announced);
        let r = put(json!({"notifications": {"sms": true}})).await.unwrap();
        assert_eq!(r.status(), 400);
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["error"]["param"], "notifications");
        assert!(
            e["error"]["message"]
                .as_str()
                .unwrap()
                .contains("budget_threshold, budget_limit, provider, model_load, on_down"),
            "{e}"
        );
        p.handle.ledger().store().unwrap().flush().await;
        p.handle.shutdown().await;
    }
    let p = Proxy::start_with_db(&yaml, db).await;
    let v: Value = p.get("/admin/api/preferences").await.json().await.unwrap();
    assert_eq!(
        v["notifications"]["provider"], false,
        "kept across a restart"
    );
    assert_eq!(v["saved"], true);
    assert_eq!(v["autostart"], true);
}
