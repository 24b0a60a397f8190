//! Budgets over real TCP: thresholds fire once each per period, a hard limit refuses in the
//! client's format (free models still answer) or downgrades, concurrency near a limit, spend
//! and fired thresholds across a restart, per-project budgets and GPU time priced by the hour.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use lodestar::events::Event;
use serde_json::{Value, json};
use support::ledger::*;
use support::proxy::{Proxy, chat_body, route_of};
use support::upstream::TestUpstream;

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
    let mut events = p.handle.subscribe();
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
    // Two refusals, one "hard limit hit" event (for the desktop's notification).
    let hits: Vec<String> = std::iter::from_fn(|| events.try_recv().ok())
        .filter_map(|e| match e {
            lodestar::events::Event::BudgetLimit(a) => Some(a.budget),
            _ => None,
        })
        .collect();
    assert_eq!(hits, vec!["daily".to_string()]);
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
