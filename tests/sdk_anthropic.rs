//! The official Anthropic Python SDK drives the proxy's `/v1/messages`: text, multi-turn,
//! system prompts, images, tool calls and results, thinking with tools, streams, token counts,
//! cached-token usage and errors, each through a translated route (an OpenAI-format upstream)
//! and a native one (an Anthropic-format upstream). The script checks what the SDK sees; this
//! harness checks what reached the upstream: the translated shapes, the thinking signatures
//! sent back byte for byte, and that the client's key never left the proxy. Needs `python3`
//! with the packages in tests/sdk/requirements.txt (`.ci/run` installs them).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::{Value, json};
use support::proxy::{Proxy, TEST_KEYS};
use support::upstream::{Recorded, TestUpstream};

const CLIENT_KEY: &str = "client-key-not-forwarded";
const CHAT: &str = "/v1/chat/completions";
const MESSAGES: &str = "/v1/messages";

fn config(u: &str) -> String {
    let mut yaml = format!(
        r#"
providers:
  local: {{ kind: ollama, base_url: "{u}", discover_models: false }}
  claude: {{ kind: anthropic, base_url: "{u}", api_key_env: TEST_ANTHROPIC_KEY, discover_models: false }}
models:
  t: {{ route: [local/qwen2.5-coder:7b] }}
  n: {{ route: [claude/claude-sonnet-4-5] }}
"#
    );
    // The same knobs on both route families: `t-…` translated, `n-…` native.
    for (suffix, knobs) in [
        ("think", "think"),
        ("cached", "cached_7"),
        ("bad", "fail_400"),
        ("down", "fail_500"),
        ("broken", "drop_mid_stream+chunks_6"),
        ("overloaded", "error_mid_stream+chunks_6"),
    ] {
        yaml.push_str(&format!(
            "  t-{suffix}: {{ route: [local/m+{knobs}] }}\n  n-{suffix}: {{ route: [claude/m+{knobs}] }}\n"
        ));
    }
    yaml
}

/// The requests to `path` whose raw body contains `marker`, oldest first.
fn with_marker(up: &TestUpstream, path: &str, marker: &str) -> Vec<Recorded> {
    up.requests()
        .into_iter()
        .filter(|r| r.path == path && String::from_utf8_lossy(&r.raw).contains(marker))
        .collect()
}

/// The one request to `path` carrying `marker` (the script sends each marker once).
fn one_with_marker(up: &TestUpstream, path: &str, marker: &str) -> Recorded {
    let found = with_marker(up, path, marker);
    assert_eq!(
        found.len(),
        1,
        "requests to {path} carrying {marker}: {found:#?}"
    );
    found.into_iter().next().unwrap()
}

fn messages_of(r: &Recorded) -> &Vec<Value> {
    r.body["messages"].as_array().unwrap()
}

fn roles(r: &Recorded) -> Vec<&str> {
    messages_of(r)
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_official_anthropic_python_sdk_works_unchanged() {
    let python = support::sdk::python("anthropic");
    let up = TestUpstream::start().await;
    let proxy = Proxy::start(&config(&up.url())).await;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/sdk/test_anthropic_sdk.py"
    );
    let out = tokio::process::Command::new(&python)
        .arg(script)
        .env("LODESTAR_BASE_URL", &proxy.url)
        .env_remove("ANTHROPIC_BASE_URL")
        .env_remove("ANTHROPIC_API_KEY")
        .env_remove("ANTHROPIC_AUTH_TOKEN")
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

    client_key_never_reaches_an_upstream(&up);
    translated_requests_have_the_chat_shape(&up);
    native_requests_are_the_sdks_own(&up);
    thinking_signatures_come_back_byte_for_byte(&up, &stdout);
}

/// The SDK sends `x-api-key: client-key-not-forwarded`: no header or body upstream has it;
/// native requests carry the provider's key instead, translated ones (Ollama) none.
fn client_key_never_reaches_an_upstream(up: &TestUpstream) {
    let requests = up.requests();
    assert!(requests.len() > 30, "{} upstream requests", requests.len());
    for r in &requests {
        for (name, value) in &r.headers {
            assert!(
                !value.contains(CLIENT_KEY),
                "the client's key reached {} in `{name}`",
                r.path
            );
        }
        assert!(!String::from_utf8_lossy(&r.raw).contains(CLIENT_KEY));
        assert_eq!(r.header("authorization"), None, "{}", r.path);
        match r.path.as_str() {
            CHAT => assert_eq!(r.header("x-api-key"), None),
            p if p.starts_with(MESSAGES) => {
                assert_eq!(r.header("x-api-key"), Some(TEST_KEYS[1].1));
                // Whatever version the SDK sends is passed on.
                assert!(r.header("anthropic-version").is_some(), "{}", r.path);
            }
            other => panic!("unexpected upstream path {other}"),
        }
    }
}

/// What the translation made of the SDK's requests on the `t…` routes.
fn translated_requests_have_the_chat_shape(up: &TestUpstream) {
    // System prompts: one leading system message; blocks joined with a blank line.
    let r = one_with_marker(up, CHAT, "system-string-t-marker");
    assert_eq!(
        messages_of(&r)[0],
        json!({"role": "system", "content": "be brief system-string-t-marker"})
    );
    assert!(r.body.get("system").is_none());
    let r = one_with_marker(up, CHAT, "system-blocks-t-marker");
    assert_eq!(
        messages_of(&r)[0],
        json!({"role": "system", "content": "rule one system-blocks-t-marker\n\nrule two"})
    );

    let r = one_with_marker(up, CHAT, "multi-turn-t-marker");
    assert_eq!(roles(&r), ["user", "assistant", "user"]);
    assert_eq!(messages_of(&r)[1]["content"], "echo: first question");

    // Images: `image_url` parts, a data URL for base64.
    let r = one_with_marker(up, CHAT, "image-base64-t-marker");
    let parts = messages_of(&r)[0]["content"].as_array().unwrap();
    let image = parts.iter().find(|p| p["type"] == "image_url").unwrap();
    assert!(
        image["image_url"]["url"]
            .as_str()
            .unwrap()
            .starts_with("data:image/png;base64,iVBORw0KGgo"),
        "{image}"
    );
    let r = one_with_marker(up, CHAT, "image-url-t-marker");
    let parts = messages_of(&r)[0]["content"].as_array().unwrap();
    let image = parts.iter().find(|p| p["type"] == "image_url").unwrap();
    assert_eq!(image["image_url"]["url"], "https://example.com/cat.png");

    // Tools: declared as functions; the round trip as tool_calls + `role: tool` messages.
    let [call, result] = <[Recorded; 2]>::try_from(with_marker(up, CHAT, "single-tool-t-marker"))
        .unwrap_or_else(|v| panic!("single-tool requests: {v:#?}"));
    let tools = call.body["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 2);
    assert_eq!(tools[0]["type"], "function");
    assert_eq!(tools[0]["function"]["name"], "get_weather");
    assert_eq!(
        tools[0]["function"]["parameters"]["required"],
        json!(["city"])
    );
    assert_eq!(roles(&result), ["user", "assistant", "tool"]);
    let calls = messages_of(&result)[1]["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["function"]["name"], "get_weather");
    let args: Value =
        serde_json::from_str(calls[0]["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args, json!({"city": "Paris"}));
    assert_eq!(messages_of(&result)[2]["tool_call_id"], calls[0]["id"]);
    assert_eq!(messages_of(&result)[2]["content"], "sunny, 21C");

    let [_, results] = <[Recorded; 2]>::try_from(with_marker(up, CHAT, "parallel-tools-t-marker"))
        .unwrap_or_else(|v| panic!("parallel-tools requests: {v:#?}"));
    assert_eq!(roles(&results), ["user", "assistant", "tool", "tool"]);
    assert_eq!(
        messages_of(&results)[3]["content"],
        "[tool error] clock broken"
    );

    let r = one_with_marker(up, CHAT, "tool-choice-t-marker");
    assert_eq!(
        r.body["tool_choice"],
        json!({"type": "function", "function": {"name": "get_time"}})
    );
    assert_eq!(r.body["parallel_tool_calls"], false);

    // Thinking: `reasoning_effort` asked for; the earlier turn's thinking is not sent back.
    let [first, second] =
        <[Recorded; 2]>::try_from(with_marker(up, CHAT, "thinking-tools-t-marker"))
            .unwrap_or_else(|v| panic!("thinking-tools requests: {v:#?}"));
    assert_eq!(first.body["reasoning_effort"], "low");
    assert!(first.body.get("thinking").is_none());
    assert_eq!(roles(&second), ["user", "assistant", "tool"]);
    let assistant = &messages_of(&second)[1];
    assert!(assistant.get("reasoning_content").is_none(), "{assistant}");
    assert!(assistant.get("thinking_blocks").is_none(), "{assistant}");
    assert_eq!(assistant["tool_calls"].as_array().unwrap().len(), 1);

    // Streams ask for the usage chunk.
    for r in with_marker(up, CHAT, "stream-tools-t-marker") {
        assert_eq!(r.body["stream"], true);
        assert_eq!(r.body["stream_options"]["include_usage"], true);
    }
    // Token counts on a translated route are estimated: no upstream call.
    assert!(with_marker(up, CHAT, "count-tokens-t-marker").is_empty());
}

/// On the `n…` routes the SDK's body reaches the upstream as the SDK wrote it.
fn native_requests_are_the_sdks_own(up: &TestUpstream) {
    let r = one_with_marker(up, MESSAGES, "system-blocks-n-marker");
    assert_eq!(
        r.body["system"],
        json!([{"type": "text", "text": "rule one system-blocks-n-marker"},
               {"type": "text", "text": "rule two"}])
    );
    assert_eq!(r.body["model"], "claude-sonnet-4-5");
    let r = one_with_marker(up, MESSAGES, "image-url-n-marker");
    assert_eq!(
        messages_of(&r)[0]["content"][0],
        json!({"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}})
    );
    let [_, results] =
        <[Recorded; 2]>::try_from(with_marker(up, MESSAGES, "parallel-tools-n-marker"))
            .unwrap_or_else(|v| panic!("parallel-tools requests: {v:#?}"));
    let blocks = messages_of(&results)[2]["content"].as_array().unwrap();
    assert_eq!(blocks[1]["is_error"], true);
    let r = one_with_marker(up, "/v1/messages/count_tokens", "count-tokens-n-marker");
    assert_eq!(r.body["model"], "claude-sonnet-4-5");
}

/// Each signature the script received (its `SIGNATURE <label> <sig>` lines) arrived again, byte
/// for byte, in the assistant turn of the native follow-up request.
fn thinking_signatures_come_back_byte_for_byte(up: &TestUpstream, stdout: &str) {
    let signatures: Vec<(&str, &str)> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("SIGNATURE "))
        .map(|l| l.split_once(' ').unwrap())
        .collect();
    let mut labels: Vec<&str> = signatures.iter().map(|(label, _)| *label).collect();
    labels.sort_unstable();
    assert_eq!(labels, ["json", "stream"], "stdout:\n{stdout}");
    for (label, signature) in signatures {
        let sent: Vec<Recorded> = up
            .requests()
            .into_iter()
            .filter(|r| r.path == MESSAGES && String::from_utf8_lossy(&r.raw).contains(signature))
            .collect();
        assert_eq!(sent.len(), 1, "{label}: requests carrying {signature}");
        let assistant = &messages_of(&sent[0])[1];
        assert_eq!(assistant["role"], "assistant");
        let thinking = &assistant["content"][0];
        assert_eq!(thinking["type"], "thinking", "{label}: {assistant}");
        assert_eq!(thinking["signature"].as_str(), Some(signature), "{label}");
        assert!(
            thinking["thinking"]
                .as_str()
                .unwrap()
                .starts_with("thinking about:")
        );
    }
}
