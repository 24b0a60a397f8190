//! The `lodestar` binary as a user runs it: `serve` (embedded default, what it prints, its log
//! lines, keys never logged, clean shutdown on SIGTERM), `route --explain`, `config check`,
//! `run`, `models`, `completions`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::json;
use support::bin::{OPENAI_KEY, lodestar, serve, terminate};
use support::proxy::chat_body;
use support::upstream::TestUpstream;

const CLIENT_KEY: &str = "client-secret-NEVER-LOG-7777";

fn config(up: &str) -> String {
    format!(
        r#"
providers:
  local: {{ kind: ollama, base_url: "{up}" }}
  cloud: {{ kind: openai, base_url: "{up}/v1", api_key_env: TEST_CLI_OPENAI_KEY, discover_models: false }}
models:
  fast: {{ route: [local/qwen2.5-coder:7b, cloud/gpt-4o-mini] }}
  smart: {{ route: [cloud/gpt-5] }}
routing:
  default: fast
  rules:
    - {{ name: long-context, when: {{ prompt_tokens_over: 50 }}, use: smart }}
"#
    )
}

#[test]
fn serve_with_no_config_uses_the_embedded_default_and_says_so() {
    let home = support::temp_dir("embedded");
    let (mut child, url, printed) = serve(&mut lodestar(&home), &home.join("err.log"), &[]);
    let text = printed.join("\n");
    assert!(text.contains("embedded default"), "{text}");
    assert!(
        text.contains("ollama (ollama at http://127.0.0.1:11434)"),
        "{text}"
    );
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let status = terminate(&mut child);
    assert!(status.success(), "{status:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_logs_one_line_per_request_and_never_a_key_or_prompt() {
    let up = TestUpstream::start().await;
    let home = support::temp_dir("logs");
    let cfg = support::write_config(&home, &config(&up.url()));
    let err_log = home.join("err.log");
    let mut cmd = lodestar(&home);
    cmd.arg("--config").arg(&cfg);
    let (mut child, url, printed) = serve(&mut cmd, &err_log, &[]);
    assert!(printed[0].contains(cfg.to_str().unwrap()), "{printed:?}");

    let client = support::http_client();
    let send = |body: serde_json::Value| {
        client
            .post(format!("{url}/v1/chat/completions"))
            .header("authorization", format!("Bearer {CLIENT_KEY}"))
            .body(body.to_string())
            .send()
    };
    let r = send(chat_body("smart", "a secret prompt about llamas"))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.text().await.unwrap();
    let mut streamed = chat_body("fast", "another secret prompt");
    streamed["stream"] = json!(true);
    send(streamed).await.unwrap().text().await.unwrap();
    let r = send(chat_body("cloud/m+fail_401", "x")).await.unwrap();
    assert_eq!(r.status(), 502);
    let r = send(chat_body("nosuch-model", "x")).await.unwrap();
    assert_eq!(r.status(), 404);

    assert!(terminate(&mut child).success());
    let log = std::fs::read_to_string(&err_log).unwrap();
    assert!(!log.contains(OPENAI_KEY), "provider key in logs:\n{log}");
    assert!(!log.contains(CLIENT_KEY), "client key in logs:\n{log}");
    assert!(
        !log.contains("secret prompt"),
        "prompt text in logs:\n{log}"
    );
    let lines: Vec<&str> = log.lines().filter(|l| l.contains(" request ")).collect();
    assert_eq!(lines.len(), 4, "one line per request:\n{log}");
    let ok = lines[0];
    for field in [
        "id=req_",
        "model=smart",
        "route=\"cloud/gpt-5\"",
        "status=200",
        "latency_ms=",
        "ttfb_ms=",
    ] {
        assert!(ok.contains(field), "{field} missing in {ok}");
    }
    assert!(
        lines[1].contains("route=\"local/qwen2.5-coder:7b\"")
            && lines[1].contains("outcome=\"ok\""),
        "{}",
        lines[1]
    );
    assert!(lines[2].contains("status=502"), "{}", lines[2]);
}

#[tokio::test(flavor = "multi_thread")]
async fn log_bodies_is_opt_in() {
    let up = TestUpstream::start().await;
    let home = support::temp_dir("bodies");
    let cfg = support::write_config(&home, &config(&up.url()));
    let err_log = home.join("err.log");
    let mut cmd = lodestar(&home);
    cmd.arg("--config").arg(&cfg);
    let (mut child, url, _) = serve(&mut cmd, &err_log, &["--log-bodies"]);
    support::http_client()
        .post(format!("{url}/v1/chat/completions"))
        .body(chat_body("fast", "visible llama prompt").to_string())
        .send()
        .await
        .unwrap();
    assert!(terminate(&mut child).success());
    let log = std::fs::read_to_string(&err_log).unwrap();
    assert!(log.contains("visible llama prompt"), "{log}");
}

#[test]
fn route_explain_names_the_rule_and_the_fallback_order() {
    let home = support::temp_dir("route");
    let cfg = support::write_config(&home, &config("http://127.0.0.1:9"));
    let out = lodestar(&home)
        .arg("--config")
        .arg(&cfg)
        .args(["route", &"long ".repeat(100), "--explain"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("cloud/gpt-5\n"), "{text}");
    assert!(text.contains("rule:     long-context"), "{text}");
    assert!(text.contains("prompt ≈125 tokens > 50"), "{text}");

    let out = lodestar(&home)
        .arg("--config")
        .arg(&cfg)
        .args(["route", "short", "--model", "fast"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "local/qwen2.5-coder:7b -> cloud/gpt-4o-mini\n"
    );
}

#[test]
fn config_check_shows_values_with_their_source_and_rejects_bad_files() {
    let home = support::temp_dir("check");
    let cfg = support::write_config(&home, &config("http://127.0.0.1:9"));
    let out = lodestar(&home)
        .arg("--config")
        .arg(&cfg)
        .args(["config", "check"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let path = cfg.display().to_string();
    assert!(
        text.contains("models.fast.route = [local/qwen2.5-coder:7b, cloud/gpt-4o-mini]"),
        "{text}"
    );
    assert!(text.contains(&format!("# {path}:7")), "{text}");
    assert!(
        text.contains("providers.cloud.api_key_env = set (from env TEST_CLI_OPENAI_KEY)"),
        "{text}"
    );
    assert!(!text.contains(OPENAI_KEY));
    let line = text
        .lines()
        .find(|l| l.starts_with("routing.max_retry_wait"))
        .unwrap();
    assert!(line.ends_with("# default"), "{line}");

    std::fs::write(&cfg, "providers:\n  x: { kind: nope }\n").unwrap();
    let out = lodestar(&home)
        .arg("--config")
        .arg(&cfg)
        .args(["config", "check"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains(&format!(
            "{path}:2: `providers.x.kind`: unknown variant `nope`"
        )),
        "{err}"
    );

    // serve refuses a bad config instead of starting half-working.
    let out = lodestar(&home)
        .arg("--config")
        .arg(&cfg)
        .arg("serve")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("providers.x.kind"));
    // A named config that does not exist is an error, not a silent default.
    let out = lodestar(&home)
        .args(["--config", "/nonexistent/l.yml", "serve"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a readable file"));
}

#[tokio::test(flavor = "multi_thread")]
async fn run_streams_the_answer_then_prints_route_and_usage() {
    let up = TestUpstream::start().await;
    let home = support::temp_dir("run");
    let cfg = support::write_config(&home, &config(&up.url()));
    let out = tokio::process::Command::from({
        let mut c = lodestar(&home);
        c.arg("--config")
            .arg(&cfg)
            .args(["run", "hello world", "--model", "fast"]);
        c
    })
    .output()
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "echo: hello world\n"
    );
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("route: local/qwen2.5-coder:7b"), "{err}");
    assert!(err.contains("completion tokens"), "{err}");
    // The prompt went through the routing like any client request.
    assert_eq!(up.last_request().unwrap().body["stream"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn models_lists_aliases_and_what_providers_offer() {
    let up = TestUpstream::start().await;
    let home = support::temp_dir("models");
    let cfg = support::write_config(&home, &config(&up.url()));
    let out = tokio::process::Command::from({
        let mut c = lodestar(&home);
        c.arg("--config").arg(&cfg).arg("models");
        c
    })
    .output()
    .await
    .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("fast             local/qwen2.5-coder:7b -> cloud/gpt-4o-mini  [default]"),
        "{text}"
    );
    assert!(text.contains("local/llama3:8b"), "{text}");
}

#[test]
fn completions_and_help_are_there() {
    let home = support::temp_dir("completions");
    let out = lodestar(&home)
        .args(["completions", "bash"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .contains("_lodestar()")
    );
    let out = lodestar(&home).arg("--help").output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(
        help.contains("OPENAI_BASE_URL=http://127.0.0.1:8080/v1"),
        "{help}"
    );
}

#[test]
fn a_taken_port_is_a_clear_error_not_a_crash() {
    let home = support::temp_dir("taken");
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = holder.local_addr().unwrap().to_string();
    let out = lodestar(&home)
        .args(["serve", "--listen", &addr])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("cannot listen on {addr}")), "{err}");
    assert!(err.contains("--listen"), "{err}");
}
