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
  local: {{ kind: ollama, base_url: "{u}", discover_models: false }}
  claude: {{ kind: anthropic, base_url: "{u}", api_key_env: TEST_ANTHROPIC_KEY, discover_models: false }}
models:
  chat: {{ route: [local/qwen+chunks_3] }}
  claude: {{ route: [claude/claude-sonnet-4-5] }}
"#
    ))
    .await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/test_cache_sdk.py");
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
    assert_eq!(up.calls(), 4, "each question reached the upstream once");
}
