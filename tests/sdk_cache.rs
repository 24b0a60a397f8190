//! The official OpenAI and Anthropic Python SDKs against the response cache: a JSON answer
//! served again as a stream and a stream as JSON, for Chat Completions, Messages and
//! Responses; the upstream sees each question once. Needs `python3` with
//! tests/sdk/requirements.txt.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::proxy::Proxy;
use support::upstream::TestUpstream;

#[tokio::test(flavor = "multi_thread")]
async fn the_official_sdks_get_cached_answers_in_either_form() {
    let python = support::sdk::python("openai, anthropic");
    let up = TestUpstream::start().await;
    let u = up.url();
    let proxy = Proxy::start(&format!(
        r#"
providers:
  local: {{ kind: ollama, base_url: "{u}", discover_models: false }}
  claude: {{ kind: anthropic, base_url: "{u}", api_key_env: TEST_ANTHROPIC_KEY, discover_models: false }}
models:
  chat: {{ route: [local/qwen+chunks_3] }}
  claude: {{ route: [claude/claude-sonnet-4-5] }}
"#
    ))
    .await;
    support::sdk::run_script(&python, "test_cache_sdk.py", &proxy.url).await;
    assert_eq!(up.calls(), 5, "each question reached the upstream once");
}
