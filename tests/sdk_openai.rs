//! The official OpenAI Python SDK drives the proxy: plain and streaming chat, chat through the
//! Anthropic translation, embeddings, models, errors. Needs `python3` with the packages in
//! tests/sdk/requirements.txt (`.ci/run` installs them).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::proxy::Proxy;
use support::upstream::TestUpstream;

#[tokio::test(flavor = "multi_thread")]
async fn the_official_openai_python_sdk_works_unchanged() {
    let python = std::env::var("LODESTAR_PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = std::process::Command::new(&python)
        .args(["-c", "import openai"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    assert!(
        probe.status.success(),
        "the `openai` package is missing for {python}: run `{python} -m pip install -r \
         tests/sdk/requirements.txt` (or point LODESTAR_PYTHON at a venv's python)"
    );

    let up = TestUpstream::start().await;
    let u = up.url();
    let proxy = Proxy::start(&format!(
        r#"
providers:
  local: {{ kind: ollama, base_url: "{u}" }}
  u: {{ kind: openai-compatible, base_url: "{u}/v1", discover_models: false }}
  claude: {{ kind: anthropic, base_url: "{u}", api_key_env: TEST_ANTHROPIC_KEY, discover_models: false }}
models:
  fast: {{ route: [local/qwen2.5-coder:7b] }}
  sonnet: {{ route: [claude/claude-sonnet-4-5] }}
"#
    ))
    .await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/test_openai_sdk.py");
    let out = tokio::process::Command::new(&python)
        .arg(script)
        .env("LODESTAR_BASE_URL", format!("{}/v1", proxy.url))
        .env_remove("OPENAI_BASE_URL")
        .output()
        .await
        .unwrap();
    let report = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "SDK tests failed:\n{report}");
    assert!(report.contains("OK"), "{report}");
    for r in up.requests() {
        assert_ne!(
            r.header("authorization"),
            Some("Bearer client-key-not-forwarded"),
            "the client's key reached an upstream"
        );
    }
}
