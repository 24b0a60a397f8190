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
    let python = support::sdk::python("openai, anthropic");
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
    support::sdk::run_script(&python, "test_ledger_sdk.py", &proxy.url).await;
    // Every request that reached the upstream is in the ledger; refused ones never reached it.
    let recorded = proxy.ledger_rows(up.calls()).await.len();
    assert_eq!(recorded, up.calls());
    assert_eq!(
        up.calls(),
        5,
        "2 streams, 1 admitted, 2 free; the 4 refused never left"
    );
}
