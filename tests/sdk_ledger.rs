//! The official OpenAI and Anthropic Python SDKs against a proxy with a budget: a hard limit
//! surfaces as each SDK's typed 402 status error, JSON and streaming; free models still answer;
//! a stream shows usage only when the client asked for it. Afterwards the ledger must hold one
//! row per request that reached the upstream. Needs `python3` with tests/sdk/requirements.txt.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::proxy::Proxy;
use support::upstream::TestUpstream;

#[tokio::test(flavor = "multi_thread")]
async fn budgets_and_stream_usage_through_the_official_sdks() {
    let python = std::env::var("LODESTAR_PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = std::process::Command::new(&python)
        .args(["-c", "import openai, anthropic"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    assert!(
        probe.status.success(),
        "the SDK packages are missing for {python}: run `{python} -m pip install -r \
         tests/sdk/requirements.txt` (or point LODESTAR_PYTHON at a venv's python)"
    );
    let up = TestUpstream::start().await;
    let u = up.url();
    let proxy = Proxy::start(&format!(
        r#"
providers:
  priced:
    kind: openai-compatible
    base_url: "{u}/v1"
    discover_models: false
    prices: {{ "*": {{ input: 3, output: 15, cache_read: 0.3 }} }}
  local: {{ kind: ollama, base_url: "{u}", discover_models: false }}
models:
  priced: {{ route: [priced/m+usage_openai] }}
  free: {{ route: [local/qwen] }}
  free-usage: {{ route: [local/q+usage_openai+chunks_3] }}
budgets:
  daily: {{ period: day, usd: 0.01, hard_limit_usd: 0.005 }}
"#
    ))
    .await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/test_ledger_sdk.py");
    let out = tokio::process::Command::new(&python)
        .arg(script)
        .env("LODESTAR_BASE_URL", &proxy.url)
        .env_remove("OPENAI_BASE_URL")
        .env_remove("ANTHROPIC_BASE_URL")
        .output()
        .await
        .unwrap();
    let report = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "SDK tests failed:\n{report}");
    assert!(report.contains("OK"), "{report}");
    // Every request that reached the upstream is in the ledger; refused ones never reached it.
    let store = proxy.handle.ledger().store().unwrap().clone();
    let mut recorded = 0;
    for _ in 0..250 {
        store.flush().await;
        let v: serde_json::Value = proxy
            .get("/admin/api/requests?limit=100")
            .await
            .json()
            .await
            .unwrap();
        recorded = v["requests"].as_array().unwrap().len();
        if recorded == up.calls() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(recorded, up.calls());
    assert_eq!(
        up.calls(),
        5,
        "2 streams, 1 admitted, 2 free; the 4 refused never left"
    );
}
