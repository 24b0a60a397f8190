//! The cost ledger over real TCP: every request that reaches an upstream becomes one row with
//! the upstream's own token counts, normalised per usage shape and priced to the exact USD;
//! streamed usage asked for and stripped again; estimates where an upstream reports none;
//! unknown prices; the admin API and its local-only guard; metrics; a damaged database.
//! Budgets are in tests/budgets.rs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::{Value, json};
use support::ledger::*;
use support::proxy::{Proxy, chat_body, sse_data};
use support::upstream::TestUpstream;

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
