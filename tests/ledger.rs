//! The cost ledger over real TCP: every request that reaches an upstream becomes one row with
//! the upstream's own token counts, normalised per usage shape and priced to the exact USD;
//! streamed usage asked for and stripped again; estimates where an upstream reports none;
//! unknown prices; budgets (thresholds once each, hard limits in the client's format, free
//! models never blocked, concurrency); the admin API and its local-only guard; metrics; a
//! restart and a damaged database.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use lodestar::events::Event;
use serde_json::{Value, json};
use support::proxy::{Proxy, chat_body, route_of, sse_data};
use support::upstream::TestUpstream;

/// Rates (USD per million tokens) the test providers are priced at.
const IN: f64 = 3.0;
const OUT: f64 = 15.0;
const CR: f64 = 0.3;
const W5: f64 = 3.75;
const W1: f64 = 6.0;

fn config(u: &str, extra: &str) -> String {
    format!(
        r#"
providers:
  priced:
    kind: openai-compatible
    base_url: "{u}/v1"
    discover_models: false
    prices: {{ "*": {{ input: {IN}, output: {OUT}, cache_read: {CR}, cache_write_5m: {W5}, cache_write_1h: {W1} }} }}
  claude:
    kind: anthropic
    base_url: "{u}"
    api_key_env: TEST_ANTHROPIC_KEY
    discover_models: false
    prices: {{ "*": {{ input: {IN}, output: {OUT}, cache_read: {CR}, cache_write_5m: {W5}, cache_write_1h: {W1} }} }}
  local: {{ kind: ollama, base_url: "{u}", discover_models: false }}
  billed: {{ kind: openai-compatible, base_url: "{u}/v1", discover_models: false, price_table: openai }}
models:
  mixed: {{ route: [priced/m+usage_openai, local/m] }}
  priced-only: {{ route: [priced/m+usage_openai] }}
  cheap: {{ route: [local/cheap] }}
{extra}"#
    )
}

async fn get_json(p: &Proxy, path: &str) -> Value {
    let r = p.get(path).await;
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.unwrap()
}

async fn rows(p: &Proxy, n: usize) -> Vec<Value> {
    p.ledger_rows(n).await
}

fn tokens(row: &Value) -> [i64; 6] {
    [
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_5m_tokens",
        "cache_write_1h_tokens",
        "reasoning_tokens",
    ]
    .map(|k| row[k].as_i64().unwrap())
}

fn cost(t: [i64; 6]) -> f64 {
    let [i, o, cr, w5, w1, _] = t.map(|x| x as f64);
    (i * IN + o * OUT + cr * CR + w5 * W5 + w1 * W1) / 1e6
}

fn assert_cost(row: &Value, expected: f64) {
    let got = row["cost_usd"]
        .as_f64()
        .unwrap_or_else(|| panic!("no cost: {row}"));
    assert!(
        (got - expected).abs() < 1e-12,
        "cost {got} != {expected}: {row}"
    );
}

async fn messages(p: &Proxy, model: &str, stream: bool) -> reqwest::Response {
    p.client
        .post(format!("{}/v1/messages", p.url))
        .header("anthropic-version", "2023-06-01")
        .json(&json!({"model": model, "max_tokens": 64, "stream": stream,
                      "messages": [{"role": "user", "content": "hello there"}]}))
        .send()
        .await
        .unwrap()
}

async fn chat(p: &Proxy, model: &str, stream: bool) -> reqwest::Response {
    let mut body = chat_body(model, "hello there");
    body["stream"] = json!(stream);
    p.chat(body).await
}

#[tokio::test]
async fn each_usage_shape_is_priced_to_the_exact_usd() {
    let up = TestUpstream::start().await;
    let p = Proxy::start(&config(&up.url(), "")).await;
    // (model, expected disjoint tokens [in, out, cache read, 5m write, 1h write, reasoning])
    let vectors = [
        // OpenAI: cached tokens are part of prompt_tokens, reasoning part of completion.
        ("priced/m+usage_openai", [400, 300, 600, 0, 0, 200]),
        // Gemini: reasoning reported apart from completion_tokens (total says so).
        ("priced/m+usage_gemini", [100, 150, 0, 0, 0, 100]),
        // DeepSeek: cache hit + miss = prompt_tokens.
        ("priced/m+usage_deepseek", [200, 10, 800, 0, 0, 0]),
        // OpenRouter: cache writes reported inside prompt_tokens.
        ("priced/m+usage_openrouter", [100, 20, 1000, 400, 0, 0]),
    ];
    for (model, _) in &vectors {
        for stream in [false, true] {
            let r = chat(&p, model, stream).await;
            assert_eq!(r.status(), 200);
            r.bytes().await.unwrap();
        }
    }
    // Anthropic: input excludes cache reads and writes; 5-minute and 1-hour writes apart.
    for stream in [false, true] {
        let r = messages(&p, "claude/m+usage_anthropic", stream).await;
        assert_eq!(r.status(), 200);
        r.bytes().await.unwrap();
    }
    let all = rows(&p, 10).await;
    for (model, expected) in vectors
        .iter()
        .copied()
        .chain([("claude/m+usage_anthropic", [10, 42, 2000, 200, 500, 0])])
    {
        let model_name = model.split_once('/').unwrap().1;
        let mine: Vec<&Value> = all.iter().filter(|r| r["model"] == model_name).collect();
        assert_eq!(mine.len(), 2, "{model}: one JSON and one streamed row");
        for row in mine {
            assert_eq!(tokens(row), expected, "{model} stream={}", row["stream"]);
            assert_cost(row, cost(expected));
            assert_eq!(row["tokens_estimated"], false);
        }
    }
    // By hand, for the 1-hour write: 10×3 + 42×15 + 2000×0.3 + 200×3.75 + 500×6 = 5010 µUSD.
    assert!((cost([10, 42, 2000, 200, 500, 0]) - 0.00501).abs() < 1e-12);
}

#[tokio::test]
async fn a_stream_asks_for_usage_and_the_client_sees_only_what_it_asked_for() {
    let up = TestUpstream::start().await;
    let p = Proxy::start(&config(&up.url(), "")).await;
    // The client did not ask for usage: Lodestar asks, records it, and strips it again.
    let r = chat(&p, "priced/m+usage_openai+chunks_4", true).await;
    let data = sse_data(r).await;
    let sent = up.last_request().unwrap().body;
    assert_eq!(
        sent["stream_options"]["include_usage"], true,
        "asked upstream"
    );
    assert!(
        data.iter().all(|d| !d.contains("\"usage\"")),
        "the client sees no usage chunk and no usage field: {data:?}"
    );
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    let row = &rows(&p, 1).await[0];
    assert_eq!(tokens(row), [400, 300, 600, 0, 0, 200]);

    // The client asked: it gets the upstream's stream as sent, usage chunk included.
    let mut body = chat_body("priced/m+usage_openai+chunks_4", "hello there");
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let data = sse_data(p.chat(body).await).await;
    let usage_chunks: Vec<Value> = data
        .iter()
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter(|v| v["usage"].is_object())
        .collect();
    assert_eq!(usage_chunks.len(), 1, "{data:?}");
    assert_eq!(usage_chunks[0]["usage"]["prompt_tokens"], 1000);
    assert_eq!(rows(&p, 2).await.len(), 2);
}

#[tokio::test]
async fn translated_requests_are_recorded_with_the_upstreams_usage() {
    let up = TestUpstream::start().await;
    let p = Proxy::start(&config(&up.url(), "")).await;
    for stream in [false, true] {
        // Anthropic client, chat upstream.
        let r = messages(&p, "priced/m+usage_openai", stream).await;
        assert_eq!(r.status(), 200);
        r.bytes().await.unwrap();
        // Responses client, Anthropic upstream.
        let r = p
            .post(
                "/v1/responses",
                &json!({"model": "claude/m+usage_anthropic", "input": "hi", "stream": stream}),
            )
            .await;
        assert_eq!(r.status(), 200);
        r.bytes().await.unwrap();
    }
    let all = rows(&p, 4).await;
    for row in &all {
        let (api, expected) = if row["provider"] == "priced" {
            ("anthropic", [400, 300, 600, 0, 0, 200])
        } else {
            ("openai", [10, 42, 2000, 200, 500, 0])
        };
        assert_eq!(row["client_api"], api, "{row}");
        assert_eq!(tokens(row), expected, "{row}");
        assert_cost(row, cost(expected));
    }
    let endpoints: Vec<&str> = all
        .iter()
        .map(|r| r["endpoint"].as_str().unwrap())
        .collect();
    assert!(
        endpoints.contains(&"messages") && endpoints.iter().any(|e| e.contains("responses")),
        "{endpoints:?}"
    );
}

#[tokio::test]
async fn an_upstream_without_usage_is_counted_with_the_tokenizer_and_marked() {
    let up = TestUpstream::start().await;
    let p = Proxy::start(&config(&up.url(), "")).await;
    for stream in [false, true] {
        let r = chat(&p, "local/m+no_usage+chunks_3", stream).await;
        assert_eq!(r.status(), 200);
        r.bytes().await.unwrap();
    }
    let all = rows(&p, 2).await;
    for row in &all {
        assert_eq!(row["tokens_estimated"], true, "{row}");
        assert!(row["input_tokens"].as_i64().unwrap() > 0, "{row}");
        assert!(row["output_tokens"].as_i64().unwrap() > 0, "{row}");
        assert_eq!(row["cost_usd"], 0.0, "a local model is free: {row}");
    }
}

#[tokio::test]
async fn a_model_without_a_price_costs_unknown_not_zero() {
    let up = TestUpstream::start().await;
    let p = Proxy::start(&config(&up.url(), "")).await;
    // `billed` uses the shipped OpenAI table: gpt-4o-mini is in it, `m` is not.
    for model in ["billed/m", "billed/gpt-4o-mini"] {
        chat(&p, model, false).await.bytes().await.unwrap();
    }
    let all = rows(&p, 2).await;
    let unknown = all.iter().find(|r| r["model"] == "m").unwrap();
    assert!(unknown["cost_usd"].is_null(), "{unknown}");
    let mini = all.iter().find(|r| r["model"] == "gpt-4o-mini").unwrap();
    let [i, o, ..] = tokens(mini).map(|x| x as f64);
    let shipped = lodestar::ledger::PriceTable::shipped()
        .lookup("openai", "gpt-4o-mini")
        .unwrap();
    assert_cost(mini, (i * shipped.input + o * shipped.output) / 1e6);
    let s = get_json(&p, "/admin/api/costs/summary?period=today&group_by=model").await;
    assert_eq!(s["total"]["unpriced_requests"], 1, "{s}");
    assert_eq!(s["total"]["requests"], 2);
}

fn budget(extra: &str) -> String {
    format!("budgets:\n  daily:\n    period: day\n    usd: 0.01\n{extra}")
}

#[tokio::test]
async fn budget_thresholds_fire_once_each() {
    let up = TestUpstream::start().await;
    let p = Proxy::start(&config(&up.url(), &budget("    thresholds: [50, 100]\n"))).await;
    let mut events = p.handle.subscribe();
    // Each request costs $0.00588: 59%, 118%, 176% of $0.01.
    for _ in 0..3 {
        chat(&p, "priced-only", false).await.bytes().await.unwrap();
    }
    rows(&p, 3).await;
    let mut fired = Vec::new();
    while let Ok(e) = events.try_recv() {
        if let Event::BudgetThreshold(a) = e {
            assert_eq!(a.budget, "daily");
            fired.push(a.threshold_pct);
        }
    }
    assert_eq!(fired, vec![50.0, 100.0]);
    let b = get_json(&p, "/admin/api/budgets").await;
    let daily = &b["budgets"][0];
    assert!((daily["budget"]["spent_usd"].as_f64().unwrap() - 3.0 * 0.00588).abs() < 1e-12);
    assert_eq!(daily["budget"]["fired"], json!([50.0, 100.0]));
    assert!(daily["pace"]["verdict"].is_string(), "{b}");
}

#[tokio::test]
async fn a_hard_limit_refuses_in_the_clients_format_and_free_models_still_answer() {
    let up = TestUpstream::start().await;
    let p = Proxy::start(&config(&up.url(), &budget("    hard_limit_usd: 0.005\n"))).await;
    // Admitted (nothing spent yet), costs $0.00588: the limit is now passed.
    let r = chat(&p, "priced-only", false).await;
    assert_eq!(r.status(), 200);
    r.bytes().await.unwrap();
    rows(&p, 1).await;

    let r = chat(&p, "priced-only", false).await;
    assert_eq!(r.status(), 402);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["type"], "budget_exceeded");
    let msg = e["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("`daily`")
            && msg.contains("$0.0059 spent")
            && msg.contains("$0.0050 hard limit"),
        "{msg}"
    );
    assert!(msg.contains("resets"), "{msg}");

    let r = messages(&p, "priced-only", false).await;
    assert_eq!(r.status(), 402);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["type"], "error");
    assert_eq!(e["error"]["type"], "billing_error");

    // A route with a free entry skips to it; a free model is never blocked.
    let r = chat(&p, "mixed", false).await;
    assert_eq!(r.status(), 200);
    assert_eq!(route_of(&r), "local/m");
    let r = chat(&p, "cheap", false).await;
    assert_eq!(r.status(), 200);
    assert_eq!(up.calls(), 3, "refused requests never reached the upstream");
}

#[tokio::test]
async fn a_hard_limit_can_downgrade_to_a_cheaper_alias() {
    let up = TestUpstream::start().await;
    let extra =
        budget("    hard_limit_usd: 0.005\n    on_exceeded: downgrade\n    downgrade_to: cheap\n");
    let p = Proxy::start(&config(&up.url(), &extra)).await;
    chat(&p, "priced-only", false).await.bytes().await.unwrap();
    rows(&p, 1).await;
    let r = chat(&p, "priced-only", true).await;
    assert_eq!(r.status(), 200);
    assert_eq!(route_of(&r), "local/cheap");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_near_a_hard_limit_overshoot_by_at_most_those_in_flight() {
    let up = TestUpstream::start().await;
    let extra = budget("    hard_limit_usd: 0.02\n");
    let p = std::sync::Arc::new(Proxy::start(&config(&up.url(), &extra)).await);
    // $0.01764 spent, under the limit.
    for _ in 0..3 {
        chat(&p, "priced-only", false).await.bytes().await.unwrap();
    }
    rows(&p, 3).await;
    // 20 at once, each held at the upstream for a while: without reservations every one
    // would be admitted (each sees $0.01764 < $0.02).
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let p = p.clone();
        #[allow(clippy::disallowed_methods)]
        tasks.push(tokio::spawn(async move {
            let r = chat(&p, "priced/m+usage_openai+slow_first_byte_300", false).await;
            let status = r.status().as_u16();
            r.bytes().await.unwrap();
            status
        }));
    }
    let mut answered = 0;
    for t in tasks {
        match t.await.unwrap() {
            200 => answered += 1,
            402 => {}
            s => panic!("unexpected status {s}"),
        }
    }
    rows(&p, 3 + answered).await;
    let b = get_json(&p, "/admin/api/budgets").await;
    let spent = b["budgets"][0]["budget"]["spent_usd"].as_f64().unwrap();
    assert!(answered >= 1, "the request under the limit was admitted");
    assert!(
        answered <= 2,
        "admission counts the reservations in flight: {answered} admitted"
    );
    assert!(
        spent <= 0.02 + answered as f64 * 0.00588 + 1e-12,
        "overshoot beyond the requests in flight: ${spent}"
    );
}

#[tokio::test]
async fn rows_and_budget_spend_survive_a_restart() {
    let up = TestUpstream::start().await;
    let db = support::temp_dir("ledger-restart").join("lodestar.db");
    let yaml = config(&up.url(), &budget(""));
    let p = Proxy::start_with_db(&yaml, db.clone()).await;
    chat(&p, "priced-only", true).await.bytes().await.unwrap();
    rows(&p, 1).await;
    p.handle.shutdown().await;

    let p = Proxy::start_with_db(&yaml, db).await;
    let all = rows(&p, 1).await;
    assert_eq!(all.len(), 1);
    assert_cost(&all[0], 0.00588);
    let b = get_json(&p, "/admin/api/budgets").await;
    assert!((b["budgets"][0]["budget"]["spent_usd"].as_f64().unwrap() - 0.00588).abs() < 1e-12);
    assert_eq!(
        b["budgets"][0]["budget"]["fired"],
        json!([50.0]),
        "fired before the restart: not again"
    );
}

#[tokio::test]
async fn a_damaged_database_is_reported_and_the_proxy_keeps_serving() {
    let up = TestUpstream::start().await;
    let dir = support::temp_dir("ledger-damaged");
    let garbage = dir.join("lodestar.db");
    std::fs::write(&garbage, vec![0x5a_u8; 8192]).unwrap();
    let blocked = dir.join("a-file").join("lodestar.db");
    std::fs::write(dir.join("a-file"), "not a directory").unwrap();
    for (db, says, names) in [
        (garbage, "damaged", "lodestar.db"),
        (blocked, "cannot create the data directory", "a-file"),
    ] {
        let p = Proxy::start_with_db(&config(&up.url(), ""), db).await;
        let r = chat(&p, "priced-only", false).await;
        assert_eq!(r.status(), 200, "the proxy keeps serving");
        let h = get_json(&p, "/health").await;
        assert_eq!(h["storage"]["ok"], false);
        let err = h["storage"]["error"].as_str().unwrap();
        assert!(err.contains(says) && err.contains(names), "{err}");
        assert!(err.contains("keeps serving"), "{err}");
        let r = p.get("/admin/api/requests").await;
        assert_eq!(r.status(), 503);
        let e: Value = r.json().await.unwrap();
        assert!(e["error"]["message"].as_str().unwrap().contains(says));
    }
}

#[tokio::test]
async fn the_admin_api_answers_only_local_pages() {
    let up = TestUpstream::start().await;
    let p = Proxy::start(&config(&up.url(), "")).await;
    let get = |host: Option<&str>, origin: Option<&str>| {
        let mut r = p.client.get(format!("{}/admin/api/requests", p.url));
        if let Some(h) = host {
            r = r.header("host", h);
        }
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        r.send()
    };
    assert_eq!(get(None, None).await.unwrap().status(), 200);
    assert_eq!(
        get(Some("localhost:8080"), Some("http://localhost:8080"))
            .await
            .unwrap()
            .status(),
        200
    );
    let r = get(Some("evil.example:8080"), None).await.unwrap();
    assert_eq!(r.status(), 403);
    let e: Value = r.json().await.unwrap();
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("allowed_hosts")
    );
    assert_eq!(
        get(None, Some("http://evil.example"))
            .await
            .unwrap()
            .status(),
        403
    );
    // The proxy endpoints themselves are for any client (editors send no Origin).
    assert_eq!(chat(&p, "cheap", false).await.status(), 200);
}

#[tokio::test]
async fn costs_group_by_project_and_model_over_time() {
    let up = TestUpstream::start().await;
    let p = Proxy::start(&config(&up.url(), "")).await;
    for project in ["alpha", "alpha", "beta"] {
        let r = p
            .client
            .post(format!("{}/v1/chat/completions", p.url))
            .header("x-lodestar-project", project)
            .json(&chat_body("priced-only", "hi"))
            .send()
            .await
            .unwrap();
        r.bytes().await.unwrap();
    }
    chat(&p, "cheap", false).await.bytes().await.unwrap();
    let all = rows(&p, 4).await;
    assert_eq!(all.iter().filter(|r| r["project"] == "alpha").count(), 2);
    let s = get_json(&p, "/admin/api/costs/summary?period=today&group_by=project").await;
    let by: std::collections::HashMap<String, f64> = s["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["key"].as_str().unwrap().to_string(),
                g["cost_usd"].as_f64().unwrap(),
            )
        })
        .collect();
    assert!((by["alpha"] - 2.0 * 0.00588).abs() < 1e-12, "{s}");
    assert!((by["beta"] - 0.00588).abs() < 1e-12, "{s}");
    assert_eq!(by[""], 0.0);
    let s = get_json(&p, "/admin/api/costs/summary?period=today&project=alpha").await;
    assert_eq!(s["total"]["requests"], 2);
    let t = get_json(
        &p,
        "/admin/api/costs/timeseries?bucket=hour&group_by=provider",
    )
    .await;
    let points = t["points"].as_array().unwrap();
    let priced: f64 = points
        .iter()
        .filter(|x| x["key"] == "priced")
        .map(|x| x["cost_usd"].as_f64().unwrap())
        .sum();
    assert!((priced - 3.0 * 0.00588).abs() < 1e-12, "{t}");
    let r = p.get("/admin/api/costs/timeseries?bucket=minute").await;
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn metrics_count_tokens_and_cost() {
    let up = TestUpstream::start().await;
    let p = Proxy::start(&config(&up.url(), "")).await;
    chat(&p, "priced-only", false).await.bytes().await.unwrap();
    rows(&p, 1).await;
    let text = p.get("/metrics").await.text().await.unwrap();
    assert!(
        text.contains(r#"lodestar_tokens_total{provider="priced",model="m+usage_openai",project="",kind="cache_read"} 600"#),
        "{text}"
    );
    assert!(text.contains(r#"lodestar_cost_usd_total{provider="priced",model="m+usage_openai",project=""} 0.00588"#), "{text}");
}

#[tokio::test]
async fn every_endpoint_is_recorded() {
    let up = TestUpstream::start().await;
    let p = Proxy::start(&config(&up.url(), "")).await;
    let r = p
        .post(
            "/v1/embeddings",
            &json!({"model": "priced/e", "input": ["one two three", "four"]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    r.bytes().await.unwrap();
    let r = p
        .post(
            "/v1/completions",
            &json!({"model": "priced/c", "prompt": "say one two"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    r.bytes().await.unwrap();
    let r = p
        .client
        .post(format!("{}/v1/messages/count_tokens", p.url))
        .header("anthropic-version", "2023-06-01")
        .json(&json!({"model": "claude/m", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.bytes().await.unwrap();
    let all = rows(&p, 3).await;
    let by = |ep: &str| {
        all.iter()
            .find(|r| r["endpoint"] == ep)
            .unwrap_or_else(|| panic!("{ep}: {all:?}"))
    };
    let e = by("embeddings");
    assert_eq!(tokens(e), [4, 0, 0, 0, 0, 0], "{e}");
    assert_cost(e, 4.0 * IN / 1e6);
    let c = by("completions");
    assert!(
        c["input_tokens"].as_i64().unwrap() > 0 && c["output_tokens"].as_i64().unwrap() > 0,
        "{c}"
    );
    // Counting tokens is free and is not usage.
    let n = by("messages.count_tokens");
    assert_eq!(tokens(n), [0; 6], "{n}");
    assert_eq!(n["client_api"], "anthropic");
}

#[tokio::test]
async fn a_project_budget_counts_only_its_project_and_gpu_time_can_be_priced() {
    let up = TestUpstream::start().await;
    let extra =
        "budgets:\n  alpha: { period: week, usd: 0.001, hard_limit_usd: 0.001, project: alpha }\n";
    let yaml = config(&up.url(), extra).replace(
        "local: { kind: ollama, base_url:",
        "local: { kind: ollama, cost_per_hour: 3600, base_url:",
    );
    let p = Proxy::start(&yaml).await;
    let send = |project: &'static str, model: &'static str| {
        p.client
            .post(format!("{}/v1/chat/completions", p.url))
            .header("x-lodestar-project", project)
            .json(&chat_body(model, "hi"))
            .send()
    };
    assert_eq!(send("beta", "priced-only").await.unwrap().status(), 200);
    assert_eq!(send("alpha", "priced-only").await.unwrap().status(), 200);
    rows(&p, 2).await;
    // alpha's budget is used up; beta's requests are not in it.
    assert_eq!(send("alpha", "priced-only").await.unwrap().status(), 402);
    assert_eq!(send("beta", "priced-only").await.unwrap().status(), 200);
    let b = get_json(&p, "/admin/api/budgets").await;
    assert!((b["budgets"][0]["budget"]["spent_usd"].as_f64().unwrap() - 0.00588).abs() < 1e-12);
    // `cost_per_hour: 3600` is a dollar a second of request time: priced, so it is budgeted.
    let r = send("gamma", "local/m+slow_first_byte_50").await.unwrap();
    assert_eq!(r.status(), 200);
    let all = rows(&p, 4).await;
    let gpu = all.iter().find(|r| r["provider"] == "local").unwrap();
    let secs = gpu["latency_ms"].as_f64().unwrap() / 1000.0;
    assert!(secs >= 0.05, "{gpu}");
    assert!(
        (gpu["cost_usd"].as_f64().unwrap() - secs).abs() < 0.002,
        "{gpu}"
    );
}
