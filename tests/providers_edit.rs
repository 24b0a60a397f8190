//! Adding a provider through the admin API (the UI's form): "test connection" probes it without
//! saving; adding it writes one line into the user's config file — every comment and blank line
//! kept — after the real loader checked the result, and the running engine reloads; each error
//! names the field it is about and leaves the file untouched.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::SocketAddr;

use lodestar::config::Config;
use lodestar::{Engine, EngineHandle, EngineOptions};
use serde_json::{Value, json};
use support::proxy::{chat_body, route_of};
use support::upstream::TestUpstream;

const FILE: &str = "# My Lodestar config.\nhealth: { probe_interval: 0s }\n\nproviders:\n  # The laptop's own.\n  local: { kind: ollama, base_url: \"http://127.0.0.1:9\", discover_models: false }   # rarely on\n\n# Aliases below.\nmodels:\n  fast: { route: [local/qwen] }\n";

async fn start(name: &str) -> (EngineHandle, std::path::PathBuf) {
    let dir = support::temp_dir(name);
    let path = dir.join("config.yml");
    std::fs::write(&path, FILE).unwrap();
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
    (handle, path)
}

async fn post(h: &EngineHandle, path: &str, body: Value) -> (u16, Value) {
    let r = support::http_client()
        .post(format!("{}{path}", h.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn an_added_provider_is_one_new_line_in_the_file_and_routable_at_once() {
    let up = TestUpstream::start().await;
    let (h, path) = start("add-provider").await;
    let form = json!({"name": "gpu-box", "kind": "openai-compatible", "base_url": format!("{}/v1", up.url())});
    // Test connection: probed, nothing written.
    let (status, v) = post(&h, "/admin/api/providers/test", form.clone()).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), FILE);

    let (status, v) = post(&h, "/admin/api/providers", form.clone()).await;
    assert_eq!(status, 201, "{v}");
    let text = std::fs::read_to_string(&path).unwrap();
    let expected = FILE.replace(
        "# rarely on\n",
        &format!(
            "# rarely on\n  gpu-box: {{ kind: openai-compatible, base_url: \"{}/v1\" }}\n",
            up.url()
        ),
    );
    assert_eq!(text, expected, "only the new line differs");
    let r = support::http_client()
        .post(format!("{}/v1/chat/completions", h.base_url()))
        .json(&chat_body("gpu-box/some-model", "hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(route_of(&r), "gpu-box/some-model");

    // The same name again: refused on the name field, the file as it was.
    let (status, v) = post(&h, "/admin/api/providers", form).await;
    assert_eq!(status, 400);
    assert_eq!(v["error"]["param"], "name", "{v}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), expected);
    h.shutdown().await;
}

#[tokio::test]
async fn a_bad_url_is_reported_on_its_field_and_nothing_is_written() {
    let (h, path) = start("bad-provider").await;
    for (form, field, says) in [
        (
            json!({"name": "x", "kind": "openai-compatible", "base_url": "gpu-box:8000"}),
            "base_url",
            "http:// or https://",
        ),
        (
            json!({"name": "x", "kind": "openai-compatible"}),
            "base_url",
            "has no default address",
        ),
        (
            json!({"name": "x", "kind": "olama"}),
            "kind",
            "unknown kind",
        ),
        (
            json!({"name": "a/b", "kind": "ollama"}),
            "name",
            "letters, digits",
        ),
    ] {
        let (status, v) = post(&h, "/admin/api/providers", form.clone()).await;
        assert_eq!(status, 400, "{form}: {v}");
        assert_eq!(v["error"]["param"], field, "{form}: {v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains(says),
            "{form}: {v}"
        );
    }
    assert_eq!(std::fs::read_to_string(&path).unwrap(), FILE);
    // Testing a provider that does not answer: a clear failure, nothing saved.
    let (status, v) = post(
        &h,
        "/admin/api/providers/test",
        json!({"name": "dead", "kind": "openai-compatible", "base_url": "http://127.0.0.1:9/v1"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(v["ok"], false);
    assert!(
        v["probe"]["error"]
            .as_str()
            .unwrap()
            .contains("cannot reach"),
        "{v}"
    );
    h.shutdown().await;
}

async fn put(h: &EngineHandle, path: &str, body: Value) -> (u16, Value) {
    let r = support::http_client()
        .put(format!("{}{path}", h.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// The Models page's edits: a new alias, and an alias's fallback order — each one changed line
/// in the file, the rest as the user wrote it, routable at once; a route naming an unknown
/// provider is refused on the route field.
#[tokio::test]
async fn aliases_are_added_and_reordered_in_the_file_and_routed_at_once() {
    let up = TestUpstream::start().await;
    let (h, path) = start("aliases").await;
    let (status, v) = post(
        &h,
        "/admin/api/providers",
        json!({"name": "up", "kind": "openai-compatible", "base_url": format!("{}/v1", up.url())}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let (status, v) = post(
        &h,
        "/admin/api/aliases",
        json!({"name": "duo", "route": ["up/first+fail_500", "up/second"]}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let chat = || async {
        support::http_client()
            .post(format!("{}/v1/chat/completions", h.base_url()))
            .json(&chat_body("duo", "hi"))
            .send()
            .await
            .unwrap()
    };
    let r = chat().await;
    assert_eq!(route_of(&r), "up/second", "first fails, second answers");
    let before = std::fs::read_to_string(&path).unwrap();
    assert!(
        before.contains("  duo: { route: [up/first+fail_500, up/second] }\n"),
        "{before}"
    );

    // Reorder: second first.
    let (status, v) = put(
        &h,
        "/admin/api/aliases/duo",
        json!({"route": ["up/second", "up/first+fail_500"]}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let after = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        after,
        before.replace(
            "duo: { route: [up/first+fail_500, up/second] }",
            "duo: { route: [up/second, up/first+fail_500] }"
        )
    );
    let calls = up.calls_for("first+fail_500");
    assert_eq!(route_of(&chat().await), "up/second");
    assert_eq!(
        up.calls_for("first+fail_500"),
        calls,
        "no longer tried first"
    );

    // An unknown provider: refused on the route field, the file unchanged.
    let (status, v) = put(&h, "/admin/api/aliases/duo", json!({"route": ["nosuch/x"]})).await;
    assert_eq!(status, 400);
    assert_eq!(v["error"]["param"], "route", "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("nosuch"),
        "{v}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), after);
    // The comments of the original file are all still there.
    for line in FILE.lines().filter(|l| l.contains('#')) {
        assert!(after.contains(line), "lost: {line}");
    }
    h.shutdown().await;
}
