//! Reloading the config while serving (`POST /admin/api/config/reload`, `lodestar config
//! reload`, SIGHUP): new requests use the new file at once — on connections already open too —
//! requests in flight finish under the old one, and a broken file changes nothing and says
//! what is wrong, with file, line and key.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use lodestar::config::Config;
use lodestar::{Engine, EngineOptions};
use serde_json::{Value, json};
use support::bin::{lodestar, serve_on, terminate};
use support::proxy::{chat_body, route_of, sse_data};
use support::upstream::TestUpstream;

fn yaml(u: &str, aliases: &str) -> String {
    format!(
        "health: {{ probe_interval: 0s }}\nproviders:\n  a: {{ kind: openai-compatible, base_url: \"{u}/v1\", discover_models: false }}\nmodels:\n{aliases}"
    )
}

#[tokio::test]
async fn a_reload_applies_the_file_at_once_and_a_broken_file_changes_nothing() {
    let up = TestUpstream::start().await;
    let dir = support::temp_dir("reload");
    let path = dir.join("config.yml");
    std::fs::write(
        &path,
        yaml(&up.url(), "  fast: { route: [a/fast-model] }\n"),
    )
    .unwrap();
    let cfg = Config::from_path(&path, &support::proxy::test_env).unwrap();
    let handle = Engine::start(
        cfg,
        EngineOptions {
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            database: Some(dir.join("lodestar.db")),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let url = handle.base_url();
    // One client: its keep-alive connection stays open across the reload.
    let client = support::http_client();
    let chat = |model: &'static str| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            client
                .post(format!("{url}/v1/chat/completions"))
                .json(&chat_body(model, "hi"))
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(route_of(&chat("fast").await), "a/fast-model");
    assert_eq!(chat("smart").await.status(), 404);

    // A stream in flight when the file changes.
    let mut slow = chat_body("fast", "hi");
    slow["model"] = json!("a/s+slow_stream_100+chunks_5");
    slow["stream"] = json!(true);
    let stream = client
        .post(format!("{url}/v1/chat/completions"))
        .json(&slow)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);

    std::fs::write(
        &path,
        yaml(
            &up.url(),
            "  fast: { route: [a/fast-2] }\n  smart: { route: [a/smart-model] }\n",
        ),
    )
    .unwrap();
    let r = client
        .post(format!("{url}/admin/api/config/reload"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["reloaded"], true);
    assert_eq!(route_of(&chat("smart").await), "a/smart-model");
    assert_eq!(route_of(&chat("fast").await), "a/fast-2");
    // The stream that began under the old config ended whole.
    let data = sse_data(stream).await;
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    assert_eq!(
        data.iter().filter(|d| d.contains("\" c")).count(),
        4,
        "chunks c1..c4 after c0: {data:?}"
    );

    // A broken file: 400 with where and what, and the running config stays.
    std::fs::write(
        &path,
        yaml(
            &up.url(),
            "  fast: { route: [nosuch/x] }\n  smart: { route: [a/smart-model] }\n",
        ),
    )
    .unwrap();
    let r = client
        .post(format!("{url}/admin/api/config/reload"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    let e = v["errors"][0].as_str().unwrap();
    assert!(
        e.contains("config.yml:5") && e.contains("models.fast.route[0]") && e.contains("nosuch"),
        "{v}"
    );
    assert_eq!(route_of(&chat("fast").await), "a/fast-2");
    let c: Value = client
        .get(format!("{url}/admin/api/config"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(c["origin"], path.display().to_string());
    handle.shutdown().await;
}

/// `lodestar config reload` and SIGHUP against `lodestar serve`.
#[tokio::test(flavor = "multi_thread")]
async fn the_cli_and_sighup_reload_a_running_serve() {
    let up = TestUpstream::start().await;
    let home = support::temp_dir("reload-cli");
    let listen = support::bin::free_listen();
    let head = format!(
        "server: {{ listen: \"{listen}\" }}\nstorage: {{ path: \"{}\" }}\n",
        home.join("lodestar.db").display()
    );
    let write =
        |aliases: &str| support::write_config(&home, &(head.clone() + &yaml(&up.url(), aliases)));
    let cfg = write("  one: { route: [a/one-model] }\n");
    let mut cmd = lodestar(&home);
    cmd.arg("--config").arg(&cfg);
    let (mut child, url, _) = serve_on(&mut cmd, &home.join("err.log"), &listen, &[]);
    let client = support::http_client();
    let route = |model: &'static str| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            let r = client
                .post(format!("{url}/v1/chat/completions"))
                .json(&chat_body(model, "hi"))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), route_of(&r))
        }
    };
    write("  one: { route: [a/one-model] }\n  two: { route: [a/two-model] }\n");
    let out = lodestar(&home)
        .arg("--config")
        .arg(&cfg)
        .args(["config", "reload"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("reloaded "));
    assert_eq!(route("two").await, (200, "a/two-model".to_string()));

    write("  three: { route: [a/three-model] }\n");
    std::process::Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    let mut got = (0, String::new());
    for _ in 0..100 {
        got = route("three").await;
        if got.0 == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(got, (200, "a/three-model".to_string()));
    assert_eq!(route("two").await.0, 404);
    assert!(terminate(&mut child).success());
    let log = std::fs::read_to_string(home.join("err.log")).unwrap();
    assert!(log.contains("config reloaded from"), "{log}");
}
