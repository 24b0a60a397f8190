//! The real Codex CLI (`@openai/codex` from the npm registry, its native binary) talks to
//! Lodestar's `/v1/responses` as to OpenAI: `codex exec` with a temporary `CODEX_HOME` whose
//! config.toml names a `[model_providers.lodestar]` with `wire_api = "responses"`, against a
//! chat-only test upstream and an Anthropic-format one, and a tool round trip.
//!
//! `scripts/test.sh` installs the CLI and sets `LODESTAR_CODEX`; run alone, this test looks in
//! the same place (`~/.cache/lodestar-npm`) and fails saying how to install it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use support::proxy::Proxy;
use support::temp_dir;
use support::upstream::{Recorded, TestUpstream};

fn codex_bin() -> PathBuf {
    let path = std::env::var_os("LODESTAR_CODEX")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").unwrap_or_default();
            let root = PathBuf::from(home).join(".cache/lodestar-npm/node_modules/@openai");
            std::fs::read_dir(&root)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("codex-linux-"))
                })
                .flat_map(|p| std::fs::read_dir(p.join("vendor")).into_iter().flatten())
                .flatten()
                .map(|e| e.path().join("bin/codex"))
                .find(|p| p.exists())
                .unwrap_or_else(|| root.join("codex/bin/codex"))
        });
    assert!(
        path.exists(),
        "Codex CLI is not installed at {}: run scripts/test.sh (it installs @openai/codex with \
         npm), or point LODESTAR_CODEX at a `codex` binary",
        path.display()
    );
    path
}

/// Runs `codex exec --profile PROFILE PROMPT` against the proxy, with
/// docs/clients/codex.config.toml as its config (only `base_url` pointed at the proxy);
/// returns (ok, stdout, stderr).
async fn codex(proxy: &Proxy, name: &str, profile: &str, prompt: &str) -> (bool, String, String) {
    let home = temp_dir(&format!("codex-{name}"));
    let codex_home = home.join(".codex");
    let work = home.join("work");
    std::fs::create_dir_all(&codex_home).unwrap();
    std::fs::create_dir_all(&work).unwrap();
    let documented = include_str!("../docs/clients/codex.config.toml");
    assert!(documented.contains("http://127.0.0.1:8080/v1"));
    std::fs::write(
        codex_home.join("config.toml"),
        documented.replace("http://127.0.0.1:8080/v1", &format!("{}/v1", proxy.url)),
    )
    .unwrap();
    // The profile files codex.md describes, one per alias.
    for (file, alias) in [
        ("local", "local-coder"),
        ("claude", "claude"),
        ("codexname", "gpt-5.5"),
    ] {
        std::fs::write(
            codex_home.join(format!("{file}.config.toml")),
            format!("model = \"{alias}\"\nmodel_provider = \"lodestar\"\n"),
        )
        .unwrap();
    }
    let mut cmd = tokio::process::Command::new(codex_bin());
    cmd.args([
        "exec",
        "--skip-git-repo-check",
        "--dangerously-bypass-approvals-and-sandbox",
        "--profile",
        profile,
        prompt,
    ])
    .current_dir(&work)
    .env_clear()
    .env("PATH", std::env::var_os("PATH").unwrap_or_default())
    .env("HOME", &home)
    .env("CODEX_HOME", &codex_home)
    .env("LODESTAR_KEY", "lodestar-test-token")
    .env("TERM", "dumb")
    .stdin(std::process::Stdio::null())
    .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .expect("codex did not finish within 120 s")
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
  claude: {{ route: [claude/claude-sonnet-4-5] }}
  gpt-5.5: {{ route: [local/qwen2.5-coder:7b] }}
"#
    ))
    .await;
    (up, proxy)
}

/// The names of the tools an upstream request declared, in either format.
fn tool_names(r: &Recorded) -> Vec<String> {
    r.body["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| {
            t.pointer("/function/name")
                .or_else(|| t.get("name"))
                .and_then(Value::as_str)
                .map(String::from)
        })
        .collect()
}

fn check_tools(r: &Recorded) {
    let names = tool_names(r);
    // Codex's function tools arrive as tools of the target; its namespace is flattened and
    // its hosted web_search tool is left out.
    assert!(names.iter().any(|n| n == "exec_command"), "{names:?}");
    assert!(names.iter().any(|n| n.contains("__")), "{names:?}");
    assert!(!names.iter().any(|n| n.contains("web_search")), "{names:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn codex_runs_on_a_chat_only_model_through_translation() {
    let (up, proxy) = setup().await;
    let (ok, out, err) = codex(&proxy, "chat", "local", "say hello").await;
    assert!(ok, "codex failed:\nstdout: {out}\nstderr: {err}");
    assert!(
        out.contains("echo: say hello"),
        "stdout: {out}\nstderr: {err}"
    );
    let sent = up
        .requests()
        .into_iter()
        .find(|r| r.path == "/v1/chat/completions")
        .expect("nothing reached the chat upstream");
    check_tools(&sent);
    assert_eq!(sent.body["messages"][0]["role"], "system");
    assert!(
        sent.header("authorization").is_none(),
        "the client's key leaked"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn codex_runs_on_an_anthropic_model_through_translation() {
    let (up, proxy) = setup().await;
    let (ok, out, err) = codex(&proxy, "anthropic", "claude", "say hello").await;
    assert!(ok, "codex failed:\nstdout: {out}\nstderr: {err}");
    assert!(
        out.contains("echo: say hello"),
        "stdout: {out}\nstderr: {err}"
    );
    let sent = up
        .requests()
        .into_iter()
        .find(|r| r.path == "/v1/messages")
        .expect("nothing reached the Anthropic upstream");
    check_tools(&sent);
    assert!(sent.body["system"].as_str().is_some_and(|s| !s.is_empty()));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_codex_tool_call_round_trip_reaches_the_upstream_paired() {
    let (up, proxy) = setup().await;
    let prompt = r#"call: exec_command {"cmd":"echo lodestar-tool-ok"}"#;
    let (ok, out, err) = codex(&proxy, "tool", "local", prompt).await;
    assert!(ok, "codex failed:\nstdout: {out}\nstderr: {err}");
    assert!(
        out.contains("tool results: call_"),
        "stdout: {out}\nstderr: {err}"
    );
    assert!(out.contains("lodestar-tool-ok"), "stdout: {out}");
    let second = up
        .requests()
        .into_iter()
        .find(|r| {
            r.body["messages"]
                .as_array()
                .is_some_and(|m| m.iter().any(|m| m["role"] == "tool"))
        })
        .expect("the tool output never reached the upstream");
    let msgs = second.body["messages"].as_array().unwrap();
    let call = msgs
        .iter()
        .find_map(|m| m["tool_calls"].as_array().and_then(|c| c.first()))
        .expect("the call was not replayed");
    let result = msgs.iter().find(|m| m["role"] == "tool").unwrap();
    assert_eq!(call["function"]["name"], "exec_command");
    assert_eq!(result["tool_call_id"], call["id"]);
    assert!(
        result["content"]
            .as_str()
            .is_some_and(|c| c.contains("lodestar-tool-ok")),
        "{result}"
    );
}

/// An alias named like a model Codex knows makes Codex declare its free-form `apply_patch`
/// (a `custom` tool): the local model gets it as a function, its call comes back as a
/// `custom_tool_call`, and Codex applies the patch.
#[tokio::test(flavor = "multi_thread")]
async fn codex_applies_a_patch_through_its_custom_tool() {
    let (up, proxy) = setup().await;
    let patch = "*** Begin Patch\n*** Add File: lodestar-patched.txt\n+patched by a local model\n*** End Patch\n";
    let prompt = format!(
        "call: apply_patch {}",
        serde_json::json!({ "input": patch })
    );
    let (ok, out, err) = codex(&proxy, "patch", "codexname", &prompt).await;
    let first = up
        .requests()
        .into_iter()
        .find(|r| r.path == "/v1/chat/completions")
        .expect("nothing reached the chat upstream");
    let apply = first.body["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t.pointer("/function/name") == Some(&Value::from("apply_patch")))
        .unwrap_or_else(|| panic!("no apply_patch tool: {:?}", tool_names(&first)));
    assert_eq!(
        apply.pointer("/function/parameters/required"),
        Some(&serde_json::json!(["input"])),
        "{apply}"
    );
    assert!(ok, "codex failed:\nstdout: {out}\nstderr: {err}");
    let work = std::env::temp_dir()
        .join(format!("lodestar-test-{}-codex-patch", std::process::id()))
        .join("work");
    let written = std::fs::read_to_string(work.join("lodestar-patched.txt")).unwrap_or_else(|e| {
        panic!("the patch was not applied ({e})\nstdout: {out}\nstderr: {err}")
    });
    assert_eq!(written.trim_end(), "patched by a local model");
    // The result went back paired with the call.
    assert!(
        out.contains("tool results: call_"),
        "stdout: {out}\nstderr: {err}"
    );
}
