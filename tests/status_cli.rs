//! `lodestar status` against a running `lodestar serve`: providers with what Ollama has loaded
//! (and its VRAM), circuits, GPUs — the same as `GET /admin/api/status`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::Value;
use support::bin::{lodestar, serve_on, terminate};
use support::proxy::chat_body;
use support::upstream::TestUpstream;

#[tokio::test(flavor = "multi_thread")]
async fn status_shows_loaded_models_circuits_and_gpus() {
    let up = TestUpstream::start_with_models(vec!["qwen2.5-coder:7b".into()]).await;
    let home = support::temp_dir("status-cli");
    let listen = support::bin::free_listen();
    let yaml = format!(
        r#"
server: {{ listen: "{listen}" }}
storage: {{ path: "{db}" }}
health: {{ failures: 1, open_for: 60s }}
providers:
  local: {{ kind: ollama, base_url: "{u}" }}
models:
  flaky: {{ route: [local/m+fail_500, local/qwen2.5-coder:7b] }}
"#,
        u = up.url(),
        db = home.join("lodestar.db").display()
    );
    let cfg = support::write_config(&home, &yaml);
    let mut cmd = lodestar(&home);
    cmd.arg("--config").arg(&cfg);
    let (mut child, url, _) = serve_on(&mut cmd, &home.join("err.log"), &listen, &[]);
    let r = support::http_client()
        .post(format!("{url}/v1/chat/completions"))
        .json(&chat_body("flaky", "hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let status = |extra: &[&str]| {
        let out = lodestar(&home)
            .arg("--config")
            .arg(&cfg)
            .arg("status")
            .args(extra)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let text = status(&[]);
    assert!(text.contains("local (ollama at"), "{text}");
    assert!(
        text.contains("loaded: qwen2.5-coder:7b (1024 MiB in VRAM)"),
        "{text}"
    );
    assert!(text.contains("local/m+fail_500: open (500"), "{text}");
    assert!(
        text.contains("): up"),
        "the probe at start found it up: {text}"
    );
    assert!(text.contains("gpu:"), "{text}");
    let v: Value = serde_json::from_str(&status(&["--json"])).unwrap();
    assert_eq!(v["providers"][0]["loaded"][0]["vram_bytes"], 1u64 << 30);
    assert_eq!(v["circuits"][0]["state"], "open");
    assert!(terminate(&mut child).success());
    // No server: a clear error, not a hang.
    let out = lodestar(&home)
        .arg("--config")
        .arg(&cfg)
        .arg("status")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no Lodestar answers at"));
}

/// `lodestar agent` as a GPU box runs it: it prints its address and serves `/gpu` and
/// `/metrics`; with no NVIDIA driver (this CI) `/gpu` says so.
#[tokio::test(flavor = "multi_thread")]
async fn the_agent_serves_this_machines_gpu_readings() {
    use std::io::BufRead;
    let home = support::temp_dir("agent-cli");
    let mut child = lodestar(&home)
        .args(["agent", "--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .strip_prefix("lodestar agent on ")
        .unwrap_or_else(|| panic!("{line}"))
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let mut v = Value::Null;
    for _ in 0..100 {
        v = support::http_client()
            .get(format!("{url}/gpu"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if v["status"] != "starting" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    if std::path::Path::new("/proc/driver/nvidia").exists() {
        assert_eq!(v["status"], "ok", "{v}");
    } else {
        assert_eq!(v["status"], "none", "{v}");
        assert!(v["reason"].as_str().unwrap().contains("NVML"), "{v}");
    }
    let m = support::http_client()
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    support::metrics::parse(&m);
    assert!(terminate(&mut child).success());
}

/// "Unload" (the tray's and the GPU page's): Ollama is asked to drop the model from memory
/// (`keep_alive: 0`) and `/api/ps`, so the status, no longer lists it.
#[tokio::test]
async fn unloading_a_model_asks_ollama_and_the_status_shows_it_gone() {
    let up =
        TestUpstream::start_with_models(vec!["qwen2.5-coder:7b".into(), "llama3:8b".into()]).await;
    let yaml = format!(
        "health: {{ probe_interval: 0s }}\nproviders:\n  local: {{ kind: ollama, base_url: \"{}\" }}\n  cloud: {{ kind: openai-compatible, base_url: \"{}/v1\" }}\n",
        up.url(),
        up.url()
    );
    let p = support::proxy::Proxy::start(&yaml).await;
    let r = p
        .post(
            "/admin/api/providers/local/unload",
            &serde_json::json!({"model": "llama3:8b"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let s: Value = p.get("/admin/api/status").await.json().await.unwrap();
    let loaded: Vec<&str> = s["providers"][0]["loaded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(loaded, vec!["qwen2.5-coder:7b"]);
    // Only Ollama unloads; a model it does not have is its error, passed on.
    let r = p
        .post(
            "/admin/api/providers/cloud/unload",
            &serde_json::json!({"model": "x"}),
        )
        .await;
    assert_eq!(r.status(), 400);
    let r = p
        .post(
            "/admin/api/providers/local/unload",
            &serde_json::json!({"model": "nosuch"}),
        )
        .await;
    assert_eq!(r.status(), 502);
    let e: Value = r.json().await.unwrap();
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("answered 400"),
        "{e}"
    );
}
