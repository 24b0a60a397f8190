//! Starting the real engine (the library `lodestar serve` runs) on an ephemeral loopback port,
//! from a YAML config, with test API keys supplied through the config loader's env seam.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;

use lodestar::config::{Config, ConfigOrigin};
use lodestar::{Engine, EngineHandle, EngineOptions};
use serde_json::Value;

/// API keys the test configs reference; tests assert they never leak.
pub const TEST_KEYS: [(&str, &str); 2] = [
    ("TEST_OPENAI_KEY", "sk-test-openai-NEVER-LOG-1234"),
    ("TEST_ANTHROPIC_KEY", "sk-ant-test-NEVER-LOG-5678"),
];

pub fn test_env(name: &str) -> Option<String> {
    TEST_KEYS
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// A running proxy and a client for it.
pub struct Proxy {
    pub handle: EngineHandle,
    pub url: String,
    pub client: reqwest::Client,
}

impl Proxy {
    /// Start the engine with `yaml` (use `{UP}` for the test upstream's URL), with a fresh
    /// database of its own.
    pub async fn start(yaml: &str) -> Proxy {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self::start_with_db(yaml, super::temp_dir(&format!("db{n}")).join("lodestar.db")).await
    }

    /// Start the engine with `yaml` and GPUs read from `gpus` (a fake source).
    pub async fn start_with_gpus(yaml: &str, gpus: lodestar::GpuSourceHandle) -> Proxy {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let db = super::temp_dir(&format!("gpudb{n}")).join("lodestar.db");
        Self::start_inner(yaml, db, Some(gpus)).await
    }

    /// Start the engine from a config file written with `yaml` in a fresh directory named
    /// after `name` (what the admin API's config edits need), with a database beside it.
    /// Returns the proxy and the file's path.
    pub async fn start_from_file(name: &str, yaml: &str) -> (Proxy, std::path::PathBuf) {
        let dir = super::temp_dir(name);
        let path = dir.join("config.yml");
        std::fs::write(&path, yaml).unwrap();
        let cfg = Config::from_path(&path, &test_env)
            .unwrap_or_else(|e| panic!("test config rejected: {e}"));
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
        let p = Proxy {
            handle,
            url,
            client: super::http_client(),
        };
        (p, path)
    }

    /// Start the engine with `yaml` and the database at `db`.
    pub async fn start_with_db(yaml: &str, db: std::path::PathBuf) -> Proxy {
        Self::start_inner(yaml, db, None).await
    }

    async fn start_inner(
        yaml: &str,
        db: std::path::PathBuf,
        gpu_source: Option<lodestar::GpuSourceHandle>,
    ) -> Proxy {
        let cfg = Config::from_yaml(yaml, ConfigOrigin::File("test.yml".into()), &test_env)
            .unwrap_or_else(|e| panic!("test config rejected: {e}"));
        let handle = Engine::start(
            cfg,
            EngineOptions {
                listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
                log_bodies: false,
                database: Some(db),
                gpu_source,
            },
        )
        .await
        .unwrap();
        // Make bare-model routing deterministic: the first listing is done before tests send.
        handle.refresh_models().await;
        let url = handle.base_url();
        Proxy {
            handle,
            url,
            client: super::http_client(),
        }
    }

    /// POST JSON to `path` (e.g. `/v1/chat/completions`).
    pub async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap()
    }

    pub async fn chat(&self, body: Value) -> reqwest::Response {
        self.post("/v1/chat/completions", &body).await
    }

    /// The ledger's rows (`/admin/api/requests`), newest first, once there are at least `n`:
    /// rows are written by a background thread, so each poll first waits for it to commit.
    pub async fn ledger_rows(&self, n: usize) -> Vec<Value> {
        let store = self.handle.ledger().store().unwrap().clone();
        for _ in 0..250 {
            store.flush().await;
            let v: Value = self
                .get("/admin/api/requests?limit=1000")
                .await
                .json()
                .await
                .unwrap();
            let rows = v["requests"].as_array().unwrap().clone();
            if rows.len() >= n {
                return rows;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("the ledger never reached {n} rows");
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap()
    }
}

/// The `x-lodestar-route` header of a response.
pub fn route_of(r: &reqwest::Response) -> String {
    r.headers()
        .get("x-lodestar-route")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

/// A chat body asking `model` with one user message.
pub fn chat_body(model: &str, text: &str) -> Value {
    serde_json::json!({"model": model, "messages": [{"role": "user", "content": text}]})
}

/// Read a whole SSE body into its `data:` payloads.
pub async fn sse_data(r: reqwest::Response) -> Vec<String> {
    let text = r.text().await.unwrap();
    text.split("\n\n")
        .filter_map(|ev| {
            ev.lines()
                .find_map(|l| l.strip_prefix("data: ").map(String::from))
        })
        .collect()
}

/// A named-event SSE body (Anthropic, Responses) as (event name, data JSON) pairs; a `data:`
/// that is not JSON fails the test.
pub async fn sse_events(r: reqwest::Response) -> Vec<(String, Value)> {
    let text = r.text().await.unwrap();
    text.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            let name = e
                .lines()
                .find_map(|l| l.strip_prefix("event: "))
                .unwrap_or("")
                .to_string();
            let data = e
                .lines()
                .find_map(|l| l.strip_prefix("data: "))
                .map(|d| serde_json::from_str(d).unwrap_or_else(|err| panic!("{err}: data: {d}")))
                .unwrap_or(Value::Null);
            (name, data)
        })
        .collect()
}
