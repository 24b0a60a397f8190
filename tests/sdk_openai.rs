//! The official OpenAI Python SDK drives the proxy: plain and streaming chat, chat through the
//! Anthropic translation (tools and their results, images, streamed tool calls, reasoning with
//! its signature, a stream cut mid-way), embeddings, models, errors. The script checks what the
//! SDK sees; this harness what reached the upstream. Needs `python3` with the packages in
//! tests/sdk/requirements.txt (`.ci/run` installs them).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::{Value, json};
use support::proxy::{Proxy, TEST_KEYS};
use support::upstream::{Recorded, TestUpstream};

const CLIENT_KEY: &str = "client-key-not-forwarded";
const MESSAGES: &str = "/v1/messages";

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
  sonnet-think: {{ route: [claude/m+think] }}
  sonnet-broken: {{ route: [claude/m+drop_mid_stream+chunks_6] }}
  sonnet-cached: {{ route: [claude/m+cached_7] }}
  sonnet-bad: {{ route: [claude/m+fail_400] }}
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
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "SDK tests failed:\n{report}\nstdout:\n{stdout}"
    );
    assert!(report.contains("OK"), "{report}");
    // Shown when a check below fails.
    eprintln!("{report}");

    for r in up.requests() {
        for (name, value) in &r.headers {
            assert!(
                !value.contains(CLIENT_KEY),
                "the client's key reached {} in `{name}`",
                r.path
            );
        }
        if r.path == MESSAGES {
            assert_eq!(r.header("x-api-key"), Some(TEST_KEYS[1].1));
            assert_eq!(r.header("authorization"), None);
        }
    }
    anthropic_requests_have_the_messages_shape(&up);
    thinking_signature_comes_back_byte_for_byte(&up, &stdout);
}

/// The requests to `/v1/messages` whose raw body contains `marker`, oldest first.
fn with_marker(up: &TestUpstream, marker: &str) -> Vec<Recorded> {
    up.requests()
        .into_iter()
        .filter(|r| r.path == MESSAGES && String::from_utf8_lossy(&r.raw).contains(marker))
        .collect()
}

fn two_with_marker(up: &TestUpstream, marker: &str) -> [Recorded; 2] {
    <[Recorded; 2]>::try_from(with_marker(up, marker))
        .unwrap_or_else(|v| panic!("requests carrying {marker}: {v:#?}"))
}

fn messages_of(r: &Recorded) -> &Vec<Value> {
    r.body["messages"].as_array().unwrap()
}

/// What the translation made of the SDK's chat requests to the `sonnet…` aliases.
fn anthropic_requests_have_the_messages_shape(up: &TestUpstream) {
    let [call, result] = two_with_marker(up, "openai-single-tool-marker");
    let tools = call.body["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 2);
    assert_eq!(tools[0]["name"], "get_weather");
    assert_eq!(tools[0]["input_schema"]["required"], json!(["city"]));
    assert!(call.body["max_tokens"].as_u64().unwrap() > 0);
    let msgs = messages_of(&result);
    assert_eq!(msgs.len(), 3);
    let tool_use = &msgs[1]["content"][0];
    assert_eq!(tool_use["type"], "tool_use");
    assert_eq!(tool_use["input"], json!({"city": "Paris"}));
    assert_eq!(msgs[2]["role"], "user");
    assert_eq!(msgs[2]["content"][0]["type"], "tool_result");
    assert_eq!(msgs[2]["content"][0]["tool_use_id"], tool_use["id"]);

    // Consecutive tool messages: one user turn of tool_result blocks.
    let [_, results] = two_with_marker(up, "openai-parallel-tools-marker");
    let msgs = messages_of(&results);
    assert_eq!(msgs.len(), 3, "{msgs:#?}");
    let blocks = msgs[2]["content"].as_array().unwrap();
    assert_eq!(blocks.len(), 2);
    assert!(blocks.iter().all(|b| b["type"] == "tool_result"));

    let [image_request] =
        <[Recorded; 1]>::try_from(with_marker(up, "openai-image-marker")).unwrap();
    let image = messages_of(&image_request)[0]["content"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "image")
        .cloned()
        .unwrap();
    assert_eq!(image["source"]["type"], "base64");
    assert_eq!(image["source"]["media_type"], "image/png");
    assert!(
        image["source"]["data"]
            .as_str()
            .unwrap()
            .starts_with("iVBORw0KGgo")
    );

    // `reasoning_effort: low` → thinking with a 2048-token budget, on both turns (the second
    // turn's tool call is preceded by its signed thinking block, so thinking stays on).
    for r in two_with_marker(up, "openai-thinking-marker") {
        assert_eq!(
            r.body["thinking"],
            json!({"type": "enabled", "budget_tokens": 2048}),
            "{}",
            r.body
        );
    }
}

/// The signature the script received (its `SIGNATURE openai-json <sig>` line) arrived again,
/// byte for byte, as the first block of the assistant turn it sent back.
fn thinking_signature_comes_back_byte_for_byte(up: &TestUpstream, stdout: &str) {
    let signature = stdout
        .lines()
        .find_map(|l| l.strip_prefix("SIGNATURE openai-json "))
        .unwrap_or_else(|| panic!("no signature reported; stdout:\n{stdout}"));
    let [first, second] = two_with_marker(up, "openai-thinking-marker");
    assert!(!String::from_utf8_lossy(&first.raw).contains(signature));
    assert!(String::from_utf8_lossy(&second.raw).contains(signature));
    let assistant = &messages_of(&second)[1];
    assert_eq!(assistant["role"], "assistant");
    let content = assistant["content"].as_array().unwrap();
    assert_eq!(content[0]["type"], "thinking", "{assistant}");
    assert_eq!(content[0]["signature"].as_str(), Some(signature));
    assert_eq!(
        content[0]["thinking"],
        "thinking about: openai-thinking-marker\ncall: get_weather {\"city\": \"Oslo\"}"
    );
    assert_eq!(content[1]["type"], "tool_use");
}
