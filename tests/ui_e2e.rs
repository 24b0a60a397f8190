//! The web UI end to end, in headless Chromium (tests/ui/e2e.mjs, playwright-core driving
//! Debian's chromium) against the real `lodestar serve` with test upstreams: every page loads
//! and renders without errors; the Costs page's total is what `lodestar costs --json` says;
//! switching the default on the Models page sends the next `auto` request to that alias's
//! upstream; a provider whose upstream was stopped shows as down on the Providers page; adding
//! a provider with a bad URL shows the error next to the URL field and writes nothing; a
//! route edited on the Models page is written to the file and routes the next request; the
//! Projects page lists a project that requests named, and its Edit form sets that project's
//! default alias and a budget of $25 per month in the engine (the card shows the budget); the Models page shows a route entry's context window (the one
//! Ollama loaded the model with), and the GPU page lists a model switch (a request that waited
//! for Ollama to load its model); the Settings page's "Desktop app" checkboxes change the
//! engine's preferences (provider notifications muted, then shown again).
//! Screenshots of each page go to `$LODESTAR_ARTIFACTS/ui` (default: target/artifacts/ui).
//!
//! Needs the built UI (`ui/build.sh`), node and chromium; scripts/test.sh provides them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use support::bin::{lodestar, serve_on, terminate};
use support::proxy::{chat_body, route_of};
use support::upstream::{DEFAULT_MODELS, TestUpstream};

/// An Ollama model that the test upstream lists with a 32,768-token context (`ctx_N`): it is
/// unloaded, then loaded again by a request (a model switch).
const SWITCH_MODEL: &str = "qwen3:8b+ctx_32768";

/// GET `url` and read its JSON answer.
async fn get_json(client: &reqwest::Client, url: &str) -> Value {
    client.get(url).send().await.unwrap().json().await.unwrap()
}

fn artifacts() -> PathBuf {
    let base = std::env::var_os("LODESTAR_ARTIFACTS").map_or_else(
        || {
            std::env::var_os("CARGO_TARGET_DIR")
                .map_or_else(
                    || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"),
                    PathBuf::from,
                )
                .join("artifacts")
        },
        PathBuf::from,
    );
    base.join("ui")
}

#[tokio::test(flavor = "multi_thread")]
async fn every_page_shows_the_engines_data_and_the_models_page_switches_routing() {
    let dist = concat!(env!("CARGO_MANIFEST_DIR"), "/ui/dist/index.html");
    assert!(
        std::path::Path::new(dist).exists(),
        "the UI is not built: run ui/build.sh (scripts/test.sh does)"
    );
    let up = TestUpstream::start_with_models(
        DEFAULT_MODELS
            .iter()
            .copied()
            .chain([SWITCH_MODEL])
            .map(String::from)
            .collect(),
    )
    .await;
    let doomed = TestUpstream::start().await;
    let home = support::temp_dir("ui-e2e");
    let listen = support::bin::free_listen();
    let yaml = format!(
        r#"
server: {{ listen: "{listen}" }}
storage: {{ path: "{db}" }}
health: {{ probe_interval: 200ms, probe_timeout: 500ms }}
providers:
  a:
    kind: openai-compatible
    base_url: "{u}/v1"
    discover_models: false
    prices: {{ "*": {{ input: 100, output: 300 }} }}
  b: {{ kind: openai-compatible, base_url: "{d}/v1", discover_models: false }}
  ol: {{ kind: ollama, base_url: "{u}", discover_models: false }}
models:
  fast: {{ route: [a/fast-model] }}
  smart: {{ route: [a/smart-model] }}
  spare: {{ route: [b/spare-model] }}
  qwen: {{ route: ["ol/{SWITCH_MODEL}"] }}
routing:
  default: fast
projects:
  acme: {{ default: fast }}
"#,
        u = up.url(),
        d = doomed.url(),
        db = home.join("lodestar.db").display()
    );
    let cfg = support::write_config(&home, &yaml);
    let mut cmd = lodestar(&home);
    cmd.arg("--config").arg(&cfg);
    let (child, url, _) = serve_on(&mut cmd, &home.join("err.log"), &listen, &[]);
    // Killed if an assertion fails before the end (no server left running after a failure).
    let mut child = KillOnDrop(child);
    let client = support::http_client();
    for (model, n) in [("fast", 3), ("smart", 2), ("spare", 1)] {
        for i in 0..n {
            let r = client
                .post(format!("{url}/v1/chat/completions"))
                .json(&chat_body(
                    model,
                    &format!("hello number {i} from the ui test"),
                ))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            r.bytes().await.unwrap();
        }
    }
    // One request for project acme: `auto` is acme's default.
    let r = client
        .post(format!("{url}/v1/chat/completions"))
        .header("x-lodestar-project", "acme")
        .json(&chat_body("auto", "hello from project acme"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(route_of(&r), "a/fast-model", "acme's default");
    r.bytes().await.unwrap();
    // A model switch: Ollama unloads the model, the engine sees that (status reads /api/ps),
    // then a request for it has Ollama load it again.
    let r = client
        .post(format!("{}/api/generate", up.url()))
        .json(&serde_json::json!({"model": SWITCH_MODEL, "keep_alive": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let status: Value = get_json(&client, &format!("{url}/admin/api/status")).await;
    let ol = status["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "ol")
        .unwrap_or_else(|| panic!("no provider ol in {status}"));
    assert!(
        ol["loaded"].as_array().is_some_and(|l| !l.is_empty())
            && !ol["loaded"].to_string().contains(SWITCH_MODEL),
        "{ol}"
    );
    let r = client
        .post(format!("{url}/v1/chat/completions"))
        .json(&chat_body("qwen", "load the model"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(route_of(&r), format!("ol/{SWITCH_MODEL}"));
    r.bytes().await.unwrap();
    // Recorded once /api/ps has been read again (in the background).
    let mut switches = Value::Null;
    for _ in 0..100 {
        let gpu: Value = get_json(&client, &format!("{url}/admin/api/gpu")).await;
        switches = gpu["switches"].clone();
        if switches.as_array().is_some_and(|a| !a.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(switches[0]["model"], SWITCH_MODEL, "{switches}");
    // The context it was loaded with, on its route entry.
    let models: Value = get_json(&client, &format!("{url}/admin/api/models")).await;
    let entry = models["aliases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "qwen")
        .map(|a| a["route"][0].clone())
        .unwrap_or_else(|| panic!("no alias qwen in {models}"));
    assert_eq!(entry["context_tokens"], 32_768, "{entry}");
    assert_eq!(entry["context_source"], "loaded", "{entry}");
    // What the CLI reads from the ledger, once the rows are committed.
    let costs = || {
        let out = lodestar(&home)
            .arg("--config")
            .arg(&cfg)
            .args(["costs", "--json", "--period", "week"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let mut summary = costs();
    for _ in 0..100 {
        if summary["total"]["requests"] == 8 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        summary = costs();
    }
    assert_eq!(summary["total"]["requests"], 8, "{summary}");
    let total = summary["total"]["cost_usd"].as_f64().unwrap();
    assert!(total > 0.0, "{summary}");

    // A provider goes down: the Providers page must say so.
    doomed.stop().await;
    let mut state = Value::Null;
    for _ in 0..100 {
        let s: Value = get_json(&client, &format!("{url}/admin/api/status")).await;
        state = s["providers"][1]["health"]["state"].clone();
        if state == "down" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(state, "down");

    let shots = artifacts();
    std::fs::create_dir_all(&shots).unwrap();
    // The test's own unload above went through /api/generate too.
    let generates_before = up.get_calls("/api/generate");
    let out = tokio::process::Command::new("node")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ui/e2e.mjs"))
        .arg(&url)
        .arg(&shots)
        .env("EXPECT_COST_USD", total.to_string())
        .env("E2E_DEFAULT_ALIAS", "smart")
        .env("E2E_EXPECT_DOWN", "b")
        .env("E2E_ADD_PROVIDER", "1")
        .env("E2E_UNLOAD", "llama3:8b")
        .env("E2E_EDIT_ROUTE", "smart:a/smart-2")
        .env("E2E_PROJECT", "acme:smart")
        .env("E2E_EXPECT_CONTEXT", "32K")
        .env("E2E_EXPECT_SWITCH", SWITCH_MODEL)
        .output()
        .await
        .expect("node runs (install Node.js)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the browser test failed:\n{stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["default_alias"], "smart");
    assert_eq!(report["provider_down"], "b");
    assert_eq!(report["unloaded"], "llama3:8b");
    assert_eq!(report["context_shown"], "32K", "{report}");
    assert!(
        report["context_title"]
            .as_str()
            .unwrap()
            .starts_with("32,768 tokens"),
        "{report}"
    );
    assert_eq!(report["switch_listed"], SWITCH_MODEL, "{report}");
    assert_eq!(report["route_edited"], "smart:a/smart-2");
    assert!(
        report["add_alias_error"]
            .as_str()
            .unwrap()
            .contains("nosuch"),
        "{report}"
    );
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(
        text.contains("smart: { route: [a/smart-2, a/smart-model] }"),
        "{text}"
    );
    assert_eq!(report["reloaded"], true);
    // The Settings page muted provider notifications and showed them again: the engine has
    // them shown, and saved.
    assert_eq!(report["prefs_provider_toggled"], true, "{report}");
    assert_eq!(report["prefs_autostart"], Value::Null, "{report}");
    let prefs: Value = get_json(&client, &format!("{url}/admin/api/preferences")).await;
    assert_eq!(prefs["notifications"]["provider"], true, "{prefs}");
    assert_eq!(prefs["saved"], true, "{prefs}");
    assert_eq!(report["project_default"], "acme:smart", "{report}");
    assert_eq!(report["project_default_before"], "fast", "{report}");
    assert_eq!(report["project_configured"], true, "{report}");
    assert_eq!(report["project_requests_today"], "1", "{report}");
    assert!(
        report["project_quota_error"]
            .as_str()
            .unwrap()
            .contains("lots"),
        "{report}"
    );
    // A budget period without an amount was refused by the amount's field; then the budget
    // was set, and the card says so.
    assert!(
        report["project_budget_error"]
            .as_str()
            .unwrap()
            .contains("per month"),
        "{report}"
    );
    assert_eq!(
        report["project_budget"], "Budget: $25 / month, no hard limit",
        "{report}"
    );
    assert_eq!(
        report["project_budget_usd"].as_f64(),
        Some(25.0),
        "{report}"
    );
    assert_eq!(report["project_budget_period"], "month", "{report}");
    // The engine has the project's new default.
    let projects: Value = get_json(&client, &format!("{url}/admin/api/projects")).await;
    let acme = projects["projects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "acme")
        .unwrap_or_else(|| panic!("no acme in {projects}"));
    assert_eq!(acme["default"], "smart", "{projects}");
    assert_eq!(acme["configured"], true, "{projects}");
    // And its budget, which is one of its budgets now, written into its line.
    assert_eq!(acme["budget"]["usd"].as_f64(), Some(25.0), "{projects}");
    assert_eq!(acme["budget"]["period"], "month", "{projects}");
    assert_eq!(acme["budget"]["hard_limit_usd"], Value::Null, "{projects}");
    assert!(
        acme["budgets"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["budget"]["name"] == "acme (project)"),
        "{projects}"
    );
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(
        text.contains("acme: { default: smart, budget: { period: month, usd: 25 } }"),
        "{text}"
    );
    assert!(
        up.get_calls("/api/generate") > generates_before,
        "the Unload button reached Ollama"
    );
    assert!(
        report["add_provider_error"]
            .as_str()
            .unwrap()
            .contains("http:// or https://"),
        "{report}"
    );
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(
        !text.contains("gpu-box"),
        "a refused provider is not written: {text}"
    );
    assert!(
        report["screenshots"].as_array().unwrap().len() >= 6,
        "{report}"
    );
    eprintln!(
        "ui e2e: first contentful paint {} ms, app ready {} ms; screenshots in {}",
        report["first_contentful_paint_ms"],
        report["app_ready_ms"],
        shots.display()
    );

    // The switch made in the page routes the next request.
    let r = client
        .post(format!("{url}/v1/chat/completions"))
        .json(&chat_body("auto", "after the switch"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        route_of(&r),
        "a/smart-2",
        "the switched default, with its edited route"
    );
    assert!(terminate(&mut child.0).success());
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
