//! The real Claude Code CLI (`@anthropic-ai/claude-code` from the npm registry, its native
//! binary) talks to Lodestar as it would to Anthropic: `claude -p` with `ANTHROPIC_BASE_URL` at
//! the proxy, against the test upstreams: a translated route to an OpenAI-format upstream, a
//! native route to an Anthropic-format one, and a tool round trip.
//!
//! `scripts/test.sh` installs the CLI and sets `LODESTAR_CLAUDE` to it; run alone, this test
//! looks in the same place (`~/.cache/lodestar-npm`) and fails saying how to install it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use support::proxy::Proxy;
use support::temp_dir;
use support::upstream::TestUpstream;

fn claude_bin() -> PathBuf {
    let path = std::env::var_os("LODESTAR_CLAUDE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").unwrap_or_default();
            PathBuf::from(home).join(".cache/lodestar-npm/node_modules/.bin/claude")
        });
    assert!(
        path.exists(),
        "Claude Code is not installed at {}: run scripts/test.sh (it installs \
         @anthropic-ai/claude-code with npm), or point LODESTAR_CLAUDE at a `claude` binary",
        path.display()
    );
    path
}

/// Runs `claude -p PROMPT --model MODEL` against the proxy in a fresh HOME; returns
/// (exit ok, stdout, stderr).
async fn claude(proxy: &Proxy, name: &str, model: &str, prompt: &str) -> (bool, String, String) {
    let home = temp_dir(&format!("claude-{name}"));
    let work = home.join("work");
    std::fs::create_dir_all(&work).unwrap();
    let mut cmd = tokio::process::Command::new(claude_bin());
    cmd.args(["-p", prompt, "--model", model, "--allowedTools", "Read"])
        .current_dir(&work)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("ANTHROPIC_BASE_URL", &proxy.url)
        .env("ANTHROPIC_AUTH_TOKEN", "lodestar-test-token")
        .env("ANTHROPIC_DEFAULT_HAIKU_MODEL", model)
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .env("DISABLE_AUTOUPDATER", "1")
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .expect("claude did not finish within 120 s")
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn setup() -> (TestUpstream, Proxy) {
    let up = TestUpstream::start().await;
    let u = up.url();
    let proxy = Proxy::start(&format!(
        r#"
providers:
  local: {{ kind: ollama, base_url: "{u}", discover_models: false }}
  claude: {{ kind: anthropic, base_url: "{u}", api_key_env: TEST_ANTHROPIC_KEY, discover_models: false }}
models:
  local-coder: {{ route: [local/qwen2.5-coder:7b] }}
  claude-main: {{ route: [claude/claude-sonnet-4-5] }}
"#
    ))
    .await;
    (up, proxy)
}

#[tokio::test(flavor = "multi_thread")]
async fn claude_code_runs_on_a_local_openai_format_model_through_translation() {
    let (up, proxy) = setup().await;
    let (ok, out, err) = claude(&proxy, "translated", "local-coder", "say hello").await;
    assert!(ok, "claude failed:\nstdout: {out}\nstderr: {err}");
    // The upstream echoes the last user turn (Claude Code's reminders, then the prompt).
    assert!(
        out.starts_with("echo: ") && out.trim_end().ends_with("say hello"),
        "stdout: {out}\nstderr: {err}"
    );
    let chat: Vec<_> = up
        .requests()
        .into_iter()
        .filter(|r| r.path == "/v1/chat/completions")
        .collect();
    assert!(
        !chat.is_empty(),
        "no request reached the OpenAI-format upstream"
    );
    assert!(chat.iter().all(|r| r.header("authorization").is_none()));
}

#[tokio::test(flavor = "multi_thread")]
async fn claude_code_runs_on_a_native_anthropic_route() {
    let (up, proxy) = setup().await;
    let (ok, out, err) = claude(&proxy, "native", "claude-main", "say hello").await;
    assert!(ok, "claude failed:\nstdout: {out}\nstderr: {err}");
    // The upstream echoes the last user turn (Claude Code's reminders, then the prompt).
    assert!(
        out.starts_with("echo: ") && out.trim_end().ends_with("say hello"),
        "stdout: {out}\nstderr: {err}"
    );
    let rec = up
        .requests()
        .into_iter()
        .find(|r| r.path == "/v1/messages")
        .expect("no request reached the Anthropic-format upstream");
    // Claude Code's own fields arrive untouched on a native route.
    assert_eq!(rec.body["model"], "claude-sonnet-4-5");
    assert!(rec.body.get("thinking").is_some());
    assert!(rec.header("anthropic-beta").is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tool_call_round_trip_reaches_the_upstream_paired() {
    let (up, proxy) = setup().await;
    let home_file = temp_dir("claude-tool-file").join("hello.txt");
    std::fs::write(&home_file, "the secret word is lodestar\n").unwrap();
    let prompt = format!(
        "call: Read {}",
        serde_json::json!({"file_path": home_file.to_str().unwrap()})
    );
    let (ok, out, err) = claude(&proxy, "tool", "local-coder", &prompt).await;
    assert!(ok, "claude failed:\nstdout: {out}\nstderr: {err}");
    // The upstream's answer to the tool result names the call id and the file's text.
    assert!(
        out.contains("tool results: call_"),
        "stdout: {out}\nstderr: {err}"
    );
    assert!(out.contains("the secret word is lodestar"), "stdout: {out}");

    let chat: Vec<_> = up
        .requests()
        .into_iter()
        .filter(|r| r.path == "/v1/chat/completions")
        .collect();
    let second = chat
        .iter()
        .find(|r| {
            r.body["messages"]
                .as_array()
                .is_some_and(|m| m.iter().any(|m| m["role"] == "tool"))
        })
        .expect("the tool result never reached the upstream");
    let msgs = second.body["messages"].as_array().unwrap();
    let call = msgs
        .iter()
        .find_map(|m| m["tool_calls"].as_array().and_then(|c| c.first()))
        .expect("the assistant's tool call was not sent back");
    let result = msgs.iter().find(|m| m["role"] == "tool").unwrap();
    assert_eq!(call["function"]["name"], "Read");
    assert_eq!(
        result["tool_call_id"], call["id"],
        "the result is not paired"
    );
    assert!(
        result["content"]
            .as_str()
            .is_some_and(|c| c.contains("the secret word is lodestar")),
        "{result}"
    );
    let args: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args["file_path"], home_file.to_str().unwrap());
}
