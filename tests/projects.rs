//! Projects over real TCP: requests carrying `x-lodestar-project: NAME` use that project's
//! default alias and local-only setting, are limited by its daily quotas (also across a
//! restart), and the admin API lists projects with their settings, spend and quota use, and
//! edits a project's settings in the config file (comments kept) and applies them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::{Value, json};
use support::proxy::{Proxy, chat_body, route_of};
use support::upstream::TestUpstream;

fn config(u: &str) -> String {
    format!(
        r#"
health: {{ probe_interval: 0s }}
providers:
  local: {{ kind: ollama, base_url: "{u}", discover_models: false }}
  cloud: {{ kind: openai, base_url: "{u}/v1", pass_client_key: true, discover_models: false,
           prices: {{ "*": {{ input: 1000, output: 1000 }} }} }}
models:
  fast: {{ route: [cloud/gpt-small] }}
  smart: {{ route: [cloud/gpt-big] }}
  mixed: {{ route: [cloud/gpt-mixed, local/llama-mixed] }}
routing: {{ default: fast }}
budgets:
  acme-month: {{ period: month, usd: 10, project: acme }}
projects:
  acme: {{ default: smart }}   # the acme repo wants the big model
  private: {{ local_only: true }}
  metered: {{ quotas: {{ requests_per_day: 2 }} }}
  wordy: {{ quotas: {{ tokens_per_day: 5 }} }}
  capped: {{ budget: {{ period: day, usd: 0.000001, hard_limit_usd: 0.000001 }} }}
"#
    )
}

async fn chat_as(p: &Proxy, project: Option<&str>, model: &str) -> reqwest::Response {
    let mut r = p
        .client
        .post(format!("{}/v1/chat/completions", p.url))
        .json(&chat_body(model, "hello there"));
    if let Some(name) = project {
        r = r.header("x-lodestar-project", name);
    }
    r.send().await.unwrap()
}

#[tokio::test]
async fn a_projects_default_and_local_only_decide_its_routes() {
    let up = TestUpstream::start().await;
    let p = Proxy::start(&config(&up.url())).await;
    // `auto`: the project's default; without a project (or an unconfigured one): routing.default.
    for (project, route) in [
        (Some("acme"), "cloud/gpt-big"),
        (None, "cloud/gpt-small"),
        (Some("elsewhere"), "cloud/gpt-small"),
    ] {
        let r = chat_as(&p, project, "auto").await;
        assert_eq!(r.status(), 200, "{project:?}");
        assert_eq!(route_of(&r), route, "{project:?}");
    }
    // An alias asked for by name is still that alias.
    assert_eq!(
        route_of(&chat_as(&p, Some("acme"), "fast").await),
        "cloud/gpt-small"
    );

    // Local-only project: cloud entries are skipped; an alias with none local is refused.
    let r = chat_as(&p, Some("private"), "mixed").await;
    assert_eq!(route_of(&r), "local/llama-mixed");
    assert_eq!(
        route_of(&chat_as(&p, None, "mixed").await),
        "cloud/gpt-mixed"
    );
    let r = chat_as(&p, Some("private"), "fast").await;
    assert_eq!(r.status(), 403);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "local_only");
    let msg = e["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("project `private` is local-only")
            && msg.contains("projects.private.local_only"),
        "{msg}"
    );
    // Nothing cloud was asked for the private project.
    assert_eq!(up.calls_for("gpt-small"), 3);
}

#[tokio::test]
async fn daily_quotas_refuse_with_429_and_survive_a_restart() {
    let up = TestUpstream::start().await;
    let db = support::temp_dir("quota-restart").join("lodestar.db");
    let yaml = config(&up.url());
    {
        let p = Proxy::start_with_db(&yaml, db.clone()).await;
        for _ in 0..2 {
            assert_eq!(chat_as(&p, Some("metered"), "fast").await.status(), 200);
        }
        let r = chat_as(&p, Some("metered"), "fast").await;
        assert_eq!(r.status(), 429);
        let secs: u64 = r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(secs <= 86_400, "{secs}");
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["error"]["code"], "quota_exceeded");
        let msg = e["error"]["message"].as_str().unwrap();
        assert!(
            msg.contains("quota of 2 requests today")
                && msg.contains("projects.metered.quotas.requests_per_day"),
            "{msg}"
        );
        // Other projects and untagged requests are not limited by it.
        assert_eq!(chat_as(&p, Some("acme"), "fast").await.status(), 200);
        assert_eq!(chat_as(&p, None, "fast").await.status(), 200);
        // Anthropic clients get it in their format.
        let r = p
            .client
            .post(format!("{}/v1/messages", p.url))
            .header("x-lodestar-project", "metered")
            .header("anthropic-version", "2023-06-01")
            .json(&json!({"model": "fast", "max_tokens": 8,
                          "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 429);
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["error"]["type"], "rate_limit_error", "{e}");

        // Tokens: the first request (2 + 2 words in, more out) uses the 5 tokens up.
        assert_eq!(chat_as(&p, Some("wordy"), "fast").await.status(), 200);
        p.ledger_rows(5).await;
        let r = chat_as(&p, Some("wordy"), "fast").await;
        assert_eq!(r.status(), 429);
        let e: Value = r.json().await.unwrap();
        assert!(
            e["error"]["message"]
                .as_str()
                .unwrap()
                .contains("tokens_per_day"),
            "{e}"
        );
        p.handle.ledger().store().unwrap().flush().await;
        p.handle.shutdown().await;
    }
    // The day's count comes back from the database.
    let p = Proxy::start_with_db(&yaml, db).await;
    assert_eq!(chat_as(&p, Some("metered"), "fast").await.status(), 429);
    assert_eq!(chat_as(&p, Some("wordy"), "fast").await.status(), 429);
}

#[tokio::test]
async fn the_admin_api_lists_projects_and_edits_their_settings() {
    let up = TestUpstream::start().await;
    let (p, path) = Proxy::start_from_file("projects-admin", &config(&up.url())).await;
    assert_eq!(chat_as(&p, Some("acme"), "auto").await.status(), 200);
    assert_eq!(chat_as(&p, Some("metered"), "fast").await.status(), 200);
    assert_eq!(chat_as(&p, Some("adhoc"), "fast").await.status(), 200);
    p.ledger_rows(3).await;

    let v: Value = p.get("/admin/api/projects").await.json().await.unwrap();
    let projects = v["projects"].as_array().unwrap();
    let find = |name: &str| {
        projects
            .iter()
            .find(|x| x["name"] == name)
            .unwrap_or_else(|| panic!("no project {name} in {v}"))
            .clone()
    };
    let acme = find("acme");
    assert_eq!(acme["configured"], true);
    assert_eq!(acme["default"], "smart");
    assert_eq!(acme["local_only"], false);
    assert_eq!(acme["today"]["requests"], 1);
    assert!(acme["today"]["cost_usd"].as_f64().unwrap() > 0.0, "{acme}");
    assert_eq!(acme["budgets"][0]["budget"]["name"], "acme-month", "{acme}");
    let metered = find("metered");
    assert_eq!(metered["quotas"]["requests_per_day"], 2);
    assert_eq!(metered["quota_use"]["requests"], 1);
    // Seen in the ledger without being configured: listed, with its spend.
    let adhoc = find("adhoc");
    assert_eq!(adhoc["configured"], false);
    assert_eq!(adhoc["today"]["requests"], 1);

    // Edit: validation errors name the field.
    let put = |name: &str, body: Value| {
        p.client
            .put(format!("{}/admin/api/projects/{name}", p.url))
            .json(&body)
            .send()
    };
    let r = put("acme", json!({"default": "nope"})).await.unwrap();
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["param"], "default", "{e}");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("nope"),
        "{e}"
    );
    let r = put("acme", json!({"quotas": {"requests_per_day": 0}}))
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["param"], "quotas.requests_per_day", "{e}");

    // A valid edit is written (the comment kept) and applied at once.
    let r = put(
        "acme",
        json!({"default": "fast", "local_only": false, "quotas": {"requests_per_day": 100}}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("# the acme repo wants the big model"),
        "{text}"
    );
    assert!(
        text.contains("acme: { default: fast, quotas: { requests_per_day: 100 } }"),
        "{text}"
    );
    assert_eq!(
        route_of(&chat_as(&p, Some("acme"), "auto").await),
        "cloud/gpt-small"
    );
    // A new project (an ad-hoc one made configured).
    let r = put("adhoc", json!({"local_only": true})).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        route_of(&chat_as(&p, Some("adhoc"), "mixed").await),
        "local/llama-mixed"
    );
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("  adhoc: { local_only: true }"), "{text}");
}

#[tokio::test]
async fn a_projects_own_budget_limits_only_its_requests_and_is_edited_with_it() {
    let up = TestUpstream::start().await;
    let (p, path) = Proxy::start_from_file("projects-budget", &config(&up.url())).await;
    let cfg = lodestar::config::Config::from_path(&path, &support::proxy::test_env).unwrap();
    let capped = cfg
        .budgets
        .iter()
        .find(|b| b.name == "capped (project)")
        .expect("the project's budget is a budget");
    assert_eq!(capped.project.as_deref(), Some("capped"));
    // The first priced request spends past the tiny hard limit; the next is refused (402),
    // other projects are not.
    assert_eq!(chat_as(&p, Some("capped"), "fast").await.status(), 200);
    p.ledger_rows(1).await;
    assert_eq!(chat_as(&p, Some("capped"), "fast").await.status(), 402);
    assert_eq!(chat_as(&p, Some("acme"), "fast").await.status(), 200);

    let v: Value = p.get("/admin/api/projects").await.json().await.unwrap();
    let capped = v["projects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "capped")
        .unwrap()
        .clone();
    assert_eq!(capped["budget"]["period"], "day", "{capped}");
    assert_eq!(capped["budgets"][0]["budget"]["name"], "capped (project)");

    // Set through the admin API: written into the project's line, applied at once.
    let r = p
        .client
        .put(format!("{}/admin/api/projects/acme", p.url))
        .json(&json!({"default": "smart", "budget": {"period": "month", "usd": 25, "hard_limit_usd": 30}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains(
            "acme: { default: smart, budget: { period: month, usd: 25, hard_limit_usd: 30 } }"
        ),
        "{text}"
    );
    let v: Value = p.get("/admin/api/projects").await.json().await.unwrap();
    let acme = v["projects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "acme")
        .unwrap()
        .clone();
    let names: Vec<&str> = acme["budgets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["budget"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["acme-month", "acme (project)"], "{acme}");
    let r = p
        .client
        .put(format!("{}/admin/api/projects/acme", p.url))
        .json(&json!({"budget": {"period": "month", "usd": -1}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["param"], "budget.usd", "{e}");
}

/// The Costs page's "saved by local routing": tokens a local entry answered, priced as the
/// alias's first priced cloud entry (aliases without one are left out).
#[tokio::test]
async fn local_routing_savings_are_priced_as_the_aliases_cloud_entry() {
    let up = TestUpstream::start().await;
    let u = up.url();
    let p = Proxy::start(&format!(
        r#"
health: {{ probe_interval: 0s }}
providers:
  local: {{ kind: ollama, base_url: "{u}", discover_models: false }}
  cloud: {{ kind: openai, base_url: "{u}/v1", pass_client_key: true, discover_models: false,
           prices: {{ "*": {{ input: 1000, output: 2000 }} }} }}
models:
  hybrid: {{ route: [local/llama, cloud/gpt] }}
  onlylocal: {{ route: [local/llama2] }}
"#
    ))
    .await;
    for alias in ["hybrid", "hybrid", "onlylocal"] {
        assert_eq!(chat_as(&p, None, alias).await.status(), 200);
    }
    p.ledger_rows(3).await;
    let v: Value = p
        .get("/admin/api/costs/summary?period=today")
        .await
        .json()
        .await
        .unwrap();
    let ls = &v["local_savings"];
    // Each request: 2 words in, 3 out ("echo: hello there") → 2×$0.001 + 3×$0.002.
    let want = 2.0 * (2.0 * 1000.0 + 3.0 * 2000.0) / 1e6;
    assert!(
        (ls["saved_usd"].as_f64().unwrap() - want).abs() < 1e-9,
        "{ls}"
    );
    assert_eq!(ls["requests"], 2);
    assert_eq!(ls["by_alias"][0]["alias"], "hybrid");
    assert_eq!(ls["by_alias"][0]["priced_as"], "cloud/gpt");
    assert_eq!(ls["by_alias"].as_array().unwrap().len(), 1, "{ls}");
    assert_eq!(v["total"]["cost_usd"], 0.0, "nothing was spent");
}
