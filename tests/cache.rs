//! The response cache over real TCP: what is a hit and what must not collide, JSON and stream
//! served from each other, the client's Cache-Control, never caching failures, the byte limit,
//! expiry, the disk tier across a restart, coalescing a burst, the ledger and the admin API.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::proxy::{Proxy, sse_data};
use support::upstream::TestUpstream;

fn config(u: &str, cache: &str) -> String {
    format!(
        r#"
providers:
  priced:
    kind: openai-compatible
    base_url: "{u}/v1"
    discover_models: false
    prices: {{ "*": {{ input: 3, output: 15, cache_read: 0.3 }} }}
  claude: {{ kind: anthropic, base_url: "{u}", api_key_env: TEST_ANTHROPIC_KEY, discover_models: false }}
  local: {{ kind: ollama, base_url: "{u}", discover_models: false }}
models:
  chat: {{ route: [priced/m+usage_openai+chunks_3] }}
  slow: {{ route: [priced/m+slow_first_byte_300] }}
  claude: {{ route: [claude/m+chunks_3] }}
  everything: {{ route: [local/q], cache: {{ mode: all }} }}
  never: {{ route: [local/q], cache: {{ mode: off }} }}
  broken: {{ route: [local/q+drop_mid_stream+chunks_6] }}
  failing: {{ route: [local/q+fail_500] }}
{cache}"#
    )
}

async fn send(p: &Proxy, path: &str, body: &Value, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut r = p
        .client
        .post(format!("{}{path}", p.url))
        .header("anthropic-version", "2023-06-01")
        .json(body);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    r.send().await.unwrap()
}

fn chat(model: &str, text: &str, temperature: f64) -> Value {
    json!({"model": model, "temperature": temperature,
           "messages": [{"role": "user", "content": text}]})
}

fn cache_of(r: &reqwest::Response) -> String {
    r.headers()["x-lodestar-cache"]
        .to_str()
        .unwrap()
        .to_string()
}

/// What the cache did for one request (`x-lodestar-cache`), the body read to its end.
async fn word(p: &Proxy, path: &str, body: &Value, headers: &[(&str, &str)]) -> String {
    text(send(p, path, body, headers).await).await.0
}

async fn text(r: reqwest::Response) -> (String, String) {
    let c = cache_of(&r);
    (c, r.text().await.unwrap())
}

#[tokio::test]
async fn a_deterministic_request_is_answered_from_the_cache_the_second_time() {
    let up = TestUpstream::start().await;
    let p = Proxy::start(&config(&up.url(), "")).await;
    let (c1, b1) =
        text(send(&p, "/v1/chat/completions", &chat("chat", "hi", 0.0), &[]).await).await;
    let r = send(&p, "/v1/chat/completions", &chat("chat", "hi", 0.0), &[]).await;
    assert!(r.headers().contains_key("age"));
    assert_eq!(
        r.headers()["x-lodestar-route"],
        "priced/m+usage_openai+chunks_3"
    );
    let (c2, b2) = text(r).await;
    assert_eq!((c1.as_str(), c2.as_str()), ("miss", "hit"));
    assert_eq!(b1, b2, "the very answer, usage included");
    assert_eq!(up.calls(), 1);
    // Not deterministic (default temperature 1): never cached.
    for _ in 0..2 {
        let body = json!({"model": "chat", "messages": [{"role": "user", "content": "hi"}]});
        assert_eq!(word(&p, "/v1/chat/completions", &body, &[]).await, "bypass");
    }
    assert_eq!(up.calls(), 3);
}

#[tokio::test]
async fn what_changes_the_answer_never_collides_and_what_does_not_always_hits() {
    let up = TestUpstream::start().await;
    let p = Proxy::start(&config(&up.url(), "")).await;
    let base = chat("chat", "hi", 0.0);
    assert_eq!(word(&p, "/v1/chat/completions", &base, &[]).await, "miss");
    // Field order and whitespace, and how the answer is delivered, do not matter.
    let reordered: Value = serde_json::from_str(
        r#"{ "messages": [ { "content": "hi", "role": "user" } ],
             "temperature": 0.0, "model": "chat", "user": "someone" }"#,
    )
    .unwrap();
    assert_eq!(
        word(&p, "/v1/chat/completions", &reordered, &[]).await,
        "hit"
    );
    let mut tools = base.clone();
    tools["tools"] =
        json!([{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]);
    let mut seeded = base.clone();
    seeded["seed"] = json!(7);
    let mut other_text = base.clone();
    other_text["messages"][0]["content"] = json!("hello");
    for (what, body, headers) in [
        ("tools", tools, vec![]),
        ("a seed", seeded, vec![]),
        ("the prompt", other_text, vec![]),
        (
            "the project",
            base.clone(),
            vec![("x-lodestar-project", "other")],
        ),
    ] {
        let r = send(&p, "/v1/chat/completions", &body, &headers).await;
        assert_eq!(text(r).await.0, "miss", "{what} must not collide");
    }
    // `mode: all` on an alias: any temperature is cached, and different ones differ.
    for t in [0.2, 0.3] {
        assert_eq!(
            word(&p, "/v1/chat/completions", &chat("everything", "x", t), &[]).await,
            "miss"
        );
        assert_eq!(
            word(&p, "/v1/chat/completions", &chat("everything", "x", t), &[]).await,
            "hit"
        );
    }
    assert_eq!(
        word(&p, "/v1/chat/completions", &chat("never", "x", 0.0), &[]).await,
        "bypass"
    );
}

#[tokio::test]
async fn json_and_streams_are_served_from_each_other() {
    let up = TestUpstream::start().await;
    let p = Proxy::start(&config(&up.url(), "")).await;
    // A stream first (the client asked for no usage), then the same request as JSON.
    let mut s = chat("chat", "stream me", 0.0);
    s["stream"] = json!(true);
    let first = sse_data(send(&p, "/v1/chat/completions", &s, &[]).await).await;
    let streamed: String = first
        .iter()
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|v| {
            v.pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
                .map(String::from)
        })
        .collect();
    assert!(!streamed.is_empty());
    let r = send(
        &p,
        "/v1/chat/completions",
        &chat("chat", "stream me", 0.0),
        &[],
    )
    .await;
    assert_eq!(cache_of(&r), "hit");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["message"]["content"], streamed.as_str());
    assert_eq!(v["usage"]["prompt_tokens"], 1000, "the original usage");
    // The stream again, replayed: the same chunks, without the usage chunk it was not asked for.
    let again = sse_data(send(&p, "/v1/chat/completions", &s, &[]).await).await;
    assert_eq!(first, again);
    assert!(again.iter().all(|d| !d.contains("\"usage\"")));
    // A client that asks for usage gets it from the cached stream.
    let mut with_usage = s.clone();
    with_usage["stream_options"] = json!({"include_usage": true});
    let r = send(&p, "/v1/chat/completions", &with_usage, &[]).await;
    assert_eq!(cache_of(&r), "hit");
    let data = sse_data(r).await;
    assert_eq!(
        data.iter()
            .filter(|d| d.contains("\"prompt_tokens\":1000"))
            .count(),
        1
    );
    assert_eq!(up.calls(), 1);

    // Anthropic Messages: JSON first, then a stream built from it.
    let m = json!({"model": "claude", "max_tokens": 50, "temperature": 0,
                   "messages": [{"role": "user", "content": "json first"}]});
    let j: Value = send(&p, "/v1/messages", &m, &[])
        .await
        .json()
        .await
        .unwrap();
    let mut ms = m.clone();
    ms["stream"] = json!(true);
    let r = send(&p, "/v1/messages", &ms, &[]).await;
    assert_eq!(cache_of(&r), "hit");
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let events = support::proxy::sse_events(r).await;
    let kinds: Vec<&str> = events.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds.first(), Some(&"message_start"));
    assert_eq!(kinds.last(), Some(&"message_stop"));
    let streamed: String = events
        .iter()
        .filter_map(|(_, d)| d.pointer("/delta/text").and_then(Value::as_str))
        .collect();
    assert_eq!(streamed, j["content"][0]["text"].as_str().unwrap());
    assert_eq!(up.calls(), 2);

    // Responses: JSON first, then a stream built from it (the same id in every event).
    let rq = json!({"model": "claude", "temperature": 0, "instructions": "be brief",
                    "input": "responses json first"});
    let j: Value = send(&p, "/v1/responses", &rq, &[])
        .await
        .json()
        .await
        .unwrap();
    let mut rs = rq.clone();
    rs["stream"] = json!(true);
    let r = send(&p, "/v1/responses", &rs, &[]).await;
    assert_eq!(cache_of(&r), "hit");
    let events = support::proxy::sse_events(r).await;
    let (last_kind, last) = events.last().unwrap();
    assert_eq!(last_kind, "response.completed");
    assert_eq!(last["response"]["id"], j["id"]);
    assert_eq!(events[0].1["response"]["id"], j["id"]);
    assert_eq!(last["response"]["instructions"], "be brief");
    assert_eq!(
        last["response"]["output"][0]["content"][0]["text"],
        j["output"][0]["content"][0]["text"]
    );
    assert_eq!(up.calls(), 3);
}

#[tokio::test]
async fn cache_control_from_the_client_is_honoured() {
    let up = TestUpstream::start().await;
    let p = Proxy::start(&config(&up.url(), "")).await;
    let body = chat("chat", "control", 0.0);
    let path = "/v1/chat/completions";
    // no-store: answered, not kept.
    assert_eq!(
        word(&p, path, &body, &[("cache-control", "no-store")]).await,
        "miss"
    );
    assert_eq!(word(&p, path, &body, &[]).await, "miss");
    assert_eq!(word(&p, path, &body, &[]).await, "hit");
    // no-cache: not looked up, but the fresh answer replaces the entry.
    assert_eq!(
        word(&p, path, &body, &[("cache-control", "no-cache")]).await,
        "bypass"
    );
    assert_eq!(up.calls(), 3);
    assert_eq!(word(&p, path, &body, &[]).await, "hit");
    assert_eq!(
        word(&p, path, &body, &[("cache-control", "no-cache, no-store")]).await,
        "bypass"
    );
    assert_eq!(up.calls(), 4);
}

#[tokio::test]
async fn errors_and_cut_or_cancelled_streams_are_never_cached() {
    let up = TestUpstream::start().await;
    let p = Proxy::start(&config(&up.url(), "cache: { mode: all }\n")).await;
    for _ in 0..2 {
        let r = send(&p, "/v1/chat/completions", &chat("failing", "x", 0.0), &[]).await;
        assert_eq!(r.status(), 502);
        r.bytes().await.unwrap();
    }
    let mut cut = chat("broken", "x", 0.0);
    cut["stream"] = json!(true);
    for _ in 0..2 {
        send(&p, "/v1/chat/completions", &cut, &[])
            .await
            .bytes()
            .await
            .unwrap();
    }
    // A client that leaves a slow stream after its first chunk.
    let mut slow = chat("slow", "leave early", 0.0);
    slow["stream"] = json!(true);
    slow["model"] = json!("priced/m+chunks_6+slow_stream_100");
    let r = send(&p, "/v1/chat/completions", &slow, &[]).await;
    let mut s = r.bytes_stream();
    use futures_util::StreamExt;
    s.next().await.unwrap().unwrap();
    drop(s);
    assert!(up.wait_cancelled(1, Duration::from_secs(5)).await);
    let r = send(&p, "/v1/chat/completions", &slow, &[]).await;
    assert_eq!(cache_of(&r), "miss", "the cancelled stream was not kept");
    r.bytes().await.unwrap();
    let stats: Value = p.get("/admin/api/cache").await.json().await.unwrap();
    assert_eq!(
        stats["stats"]["stored"], 1,
        "only the complete stream: {stats}"
    );
}

#[tokio::test]
async fn the_memory_tier_is_bounded_in_bytes_and_entries_expire() {
    let up = TestUpstream::start().await;
    let p = Proxy::start(&config(
        &up.url(),
        "cache: { memory_mb: 0.004, disk_mb: 0, ttl: 500ms }\n",
    ))
    .await;
    // ~1.3 KB per entry (body + overhead) against a 4 KiB limit: the oldest are evicted.
    for i in 0..10 {
        send(
            &p,
            "/v1/chat/completions",
            &chat("chat", &format!("fill {i}"), 0.0),
            &[],
        )
        .await
        .bytes()
        .await
        .unwrap();
    }
    let stats: Value = p.get("/admin/api/cache").await.json().await.unwrap();
    let bytes = stats["stats"]["memory_bytes"].as_u64().unwrap();
    assert!(bytes <= 4194, "{stats}");
    assert!(
        stats["stats"]["memory_entries"].as_u64().unwrap() < 10,
        "{stats}"
    );
    let r = send(
        &p,
        "/v1/chat/completions",
        &chat("chat", "fill 9", 0.0),
        &[],
    )
    .await;
    assert_eq!(text(r).await.0, "hit", "the newest is kept");
    tokio::time::sleep(Duration::from_millis(600)).await;
    let r = send(
        &p,
        "/v1/chat/completions",
        &chat("chat", "fill 9", 0.0),
        &[],
    )
    .await;
    assert_eq!(text(r).await.0, "miss", "expired after its TTL");
}

#[tokio::test]
async fn the_disk_tier_survives_a_restart_and_can_be_cleared() {
    let up = TestUpstream::start().await;
    let db = support::temp_dir("cache-restart").join("lodestar.db");
    let yaml = config(&up.url(), "");
    let p = Proxy::start_with_db(&yaml, db.clone()).await;
    let a = send(
        &p,
        "/v1/chat/completions",
        &chat("chat", "keep me", 0.0),
        &[("x-lodestar-project", "a")],
    )
    .await;
    let first = a.text().await.unwrap();
    send(
        &p,
        "/v1/chat/completions",
        &chat("chat", "keep me", 0.0),
        &[("x-lodestar-project", "b")],
    )
    .await
    .bytes()
    .await
    .unwrap();
    p.handle.shutdown().await;

    let p = Proxy::start_with_db(&yaml, db).await;
    let r = send(
        &p,
        "/v1/chat/completions",
        &chat("chat", "keep me", 0.0),
        &[("x-lodestar-project", "a")],
    )
    .await;
    assert_eq!(cache_of(&r), "hit");
    assert_eq!(r.text().await.unwrap(), first);
    let cleared = p
        .client
        .delete(format!("{}/admin/api/cache?project=a", p.url))
        .send()
        .await
        .unwrap();
    assert_eq!(cleared.status(), 200);
    let r = send(
        &p,
        "/v1/chat/completions",
        &chat("chat", "keep me", 0.0),
        &[("x-lodestar-project", "a")],
    )
    .await;
    assert_eq!(text(r).await.0, "miss", "project a was cleared");
    let r = send(
        &p,
        "/v1/chat/completions",
        &chat("chat", "keep me", 0.0),
        &[("x-lodestar-project", "b")],
    )
    .await;
    assert_eq!(text(r).await.0, "hit", "project b was not");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_identical_requests_reaches_the_upstream_once() {
    let up = TestUpstream::start().await;
    let p = std::sync::Arc::new(Proxy::start(&config(&up.url(), "")).await);
    let mut tasks = Vec::new();
    for i in 0..50 {
        let p = p.clone();
        #[allow(clippy::disallowed_methods)]
        tasks.push(tokio::spawn(async move {
            let mut body = chat("slow", "burst", 0.0);
            body["stream"] = json!(i % 2 == 0);
            let r = send(&p, "/v1/chat/completions", &body, &[]).await;
            assert_eq!(r.status(), 200);
            let c = cache_of(&r);
            let t = r.text().await.unwrap();
            assert!(
                t.contains("burst") && (i % 2 == 1 || t.contains("[DONE]")),
                "{t}"
            );
            c
        }));
    }
    let mut hits = 0;
    for t in tasks {
        if t.await.unwrap() == "hit" {
            hits += 1;
        }
    }
    assert_eq!(up.calls(), 1, "coalesced");
    assert_eq!(hits, 49);
}

#[tokio::test]
async fn a_hit_is_in_the_ledger_at_no_cost_with_what_it_saved() {
    let up = TestUpstream::start().await;
    let p = Proxy::start(&config(&up.url(), "")).await;
    for _ in 0..2 {
        send(
            &p,
            "/v1/chat/completions",
            &chat("chat", "price me", 0.0),
            &[],
        )
        .await
        .bytes()
        .await
        .unwrap();
    }
    let rows = p.ledger_rows(2).await;
    let (hit, live) = (&rows[0], &rows[1]);
    assert_eq!(hit["cache_hit"], true);
    assert_eq!(live["cache_hit"], false);
    assert_eq!(hit["cost_usd"], 0.0);
    assert!((live["cost_usd"].as_f64().unwrap() - 0.00588).abs() < 1e-12);
    assert!((hit["saved_usd"].as_f64().unwrap() - 0.00588).abs() < 1e-12);
    assert_eq!(hit["input_tokens"], live["input_tokens"]);
    let stats: Value = p.get("/admin/api/cache").await.json().await.unwrap();
    assert_eq!(stats["stats"]["hits"], 1);
    assert!((stats["stats"]["saved_usd"].as_f64().unwrap() - 0.00588).abs() < 1e-9);
    let m = p.get("/metrics").await.text().await.unwrap();
    assert!(
        m.contains(r#"lodestar_cache_requests_total{result="hit"} 1"#),
        "{m}"
    );
    assert!(m.contains("lodestar_cache_saved_usd_total 0.00588"), "{m}");
}
