//! The GPU sampler through its seam: a fake device source stands in for NVML (which cannot run
//! without an NVIDIA GPU). Readings reach `/admin/api/gpu`, `/health` and `/metrics`; a source
//! that cannot read (no driver) is `gpu: none` with its reason and the proxy keeps serving.
//! The real NVML reader is exercised by `nvml_reads_the_real_gpus`, ignored unless a GPU is
//! present (`cargo test --test gpu -- --ignored` on a machine with one).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use lodestar::GpuSourceHandle;
use lodestar::health::gpu::{GpuProcess, GpuSample, GpuSource, Nvml};
use serde_json::Value;
use support::proxy::Proxy;
use support::upstream::TestUpstream;

/// Two GPUs whose utilization rises by 10 points at each reading.
struct Fake {
    reads: AtomicU32,
}

impl GpuSource for Fake {
    fn sample(&self) -> Result<Vec<GpuSample>, String> {
        let n = self.reads.fetch_add(1, Ordering::SeqCst);
        Ok((0..2)
            .map(|i| GpuSample {
                index: i,
                name: format!("Fake T600 #{i}"),
                utilization_pct: (n * 10).min(100),
                memory_used_bytes: 1 << 30,
                memory_total_bytes: 4 << 30,
                temperature_c: Some(61),
                power_w: Some(35.5),
                processes: vec![GpuProcess {
                    pid: 4242,
                    memory_bytes: Some(900 << 20),
                }],
            })
            .collect())
    }
}

struct NoDriver;

impl GpuSource for NoDriver {
    fn sample(&self) -> Result<Vec<GpuSample>, String> {
        Err("NVML is not available: libnvidia-ml.so not found".into())
    }
}

fn config(u: &str) -> String {
    format!(
        "gpu: {{ interval: 50ms }}\nproviders:\n  local: {{ kind: ollama, base_url: \"{u}\", discover_models: false }}\n"
    )
}

async fn gpu(p: &Proxy) -> Value {
    p.get("/admin/api/gpu").await.json().await.unwrap()
}

#[tokio::test]
async fn readings_reach_the_admin_api_health_and_metrics() {
    let up = TestUpstream::start().await;
    let p = Proxy::start_with_gpus(
        &config(&up.url()),
        GpuSourceHandle(Arc::new(Fake {
            reads: AtomicU32::new(0),
        })),
    )
    .await;
    let mut v = gpu(&p).await;
    for _ in 0..100 {
        if v["status"] == "ok" && v["gpus"][0]["utilization_pct"].as_u64() >= Some(20) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        v = gpu(&p).await;
    }
    assert_eq!(v["status"], "ok", "{v}");
    assert!(
        v["gpus"][0]["utilization_pct"].as_u64().unwrap() >= 20,
        "sampled again: {v}"
    );
    assert_eq!(v["gpus"][1]["name"], "Fake T600 #1");
    assert_eq!(v["gpus"][0]["processes"][0]["pid"], 4242);
    let h: Value = p.get("/health").await.json().await.unwrap();
    assert_eq!(h["gpu"], 2);
    let m = support::metrics::parse(&p.get("/metrics").await.text().await.unwrap());
    let g0 = [("host", "local"), ("gpu", "0"), ("name", "Fake T600 #0")];
    let g1 = [("host", "local"), ("gpu", "1"), ("name", "Fake T600 #1")];
    assert_eq!(
        m.get("lodestar_gpu_memory_total_bytes", &g0),
        Some(4294967296.0)
    );
    assert_eq!(m.get("lodestar_gpu_temperature_celsius", &g1), Some(61.0));
    assert_eq!(m.get("lodestar_gpu_power_watts", &g0), Some(35.5));
    assert!(m.get("lodestar_gpu_utilization_ratio", &g0).unwrap() >= 0.2);
}

/// A `lodestar agent` on a GPU box (in-process here, with the fake source) and a Lodestar that
/// lists it under `gpus:`: the remote GPUs show in the admin API and the metrics under the
/// agent's name; an agent that does not answer is shown as unreachable, with the reason.
#[tokio::test]
async fn a_remote_agents_gpus_show_beside_the_local_ones() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let agent = lodestar::agent::start(
        listener,
        Arc::new(Fake {
            reads: AtomicU32::new(0),
        }),
        Duration::from_millis(50),
    )
    .unwrap();
    let agent_url = format!("http://{}", agent.local_addr());
    // The agent's own endpoints.
    let own: Value = support::http_client()
        .get(format!("{agent_url}/gpu"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        own["status"] == "ok" || own["status"] == "starting",
        "{own}"
    );
    let up = TestUpstream::start().await;
    let yaml = config(&up.url())
        + &format!(
            "gpus:\n  - {{ agent_url: \"{agent_url}\", name: gpu-box }}\n  - {{ agent_url: \"http://127.0.0.1:9\" }}\n"
        );
    let p = Proxy::start_with_gpus(&yaml, GpuSourceHandle(Arc::new(NoDriver))).await;
    let mut v = gpu(&p).await;
    for _ in 0..100 {
        if v["remote"][0]["status"] == "ok" && v["remote"][1]["status"] == "unreachable" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        v = gpu(&p).await;
    }
    assert_eq!(v["status"], "none", "no local GPU: {v}");
    let r = &v["remote"];
    assert_eq!(r[0]["host"], "gpu-box", "{v}");
    assert_eq!(r[0]["status"], "ok", "{v}");
    assert_eq!(r[0]["gpus"][1]["name"], "Fake T600 #1");
    assert_eq!(r[1]["host"], "127.0.0.1", "named after the URL's host: {v}");
    assert_eq!(r[1]["status"], "unreachable");
    assert!(
        r[1]["reason"].as_str().unwrap().contains("lodestar agent"),
        "{v}"
    );
    let m = support::metrics::parse(&p.get("/metrics").await.text().await.unwrap());
    assert_eq!(
        m.get(
            "lodestar_gpu_memory_total_bytes",
            &[("host", "gpu-box"), ("gpu", "0")]
        ),
        Some(4294967296.0)
    );
    // The agent's Prometheus text parses too.
    let text = support::http_client()
        .get(format!("{agent_url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let am = support::metrics::parse(&text);
    assert_eq!(
        am.get("lodestar_gpu_temperature_celsius", &[("gpu", "1")]),
        Some(61.0)
    );
    agent.shutdown().await;
}

#[tokio::test]
async fn no_driver_is_gpu_none_and_the_proxy_keeps_serving() {
    let up = TestUpstream::start().await;
    let p = Proxy::start_with_gpus(&config(&up.url()), GpuSourceHandle(Arc::new(NoDriver))).await;
    let mut v = gpu(&p).await;
    for _ in 0..100 {
        if v["status"] != "starting" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        v = gpu(&p).await;
    }
    assert_eq!(v["status"], "none", "{v}");
    assert!(v["reason"].as_str().unwrap().contains("libnvidia-ml.so"));
    let h: Value = p.get("/health").await.json().await.unwrap();
    assert!(h["gpu"]["none"].as_str().unwrap().contains("NVML"), "{h}");
    let r = p.chat(support::proxy::chat_body("local/qwen", "hi")).await;
    assert_eq!(r.status(), 200);
}

/// Needs an NVIDIA GPU and driver: run with `-- --ignored` where there is one.
#[test]
#[ignore]
fn nvml_reads_the_real_gpus() {
    let gpus = Nvml::new()
        .sample()
        .expect("NVML reads this machine's GPUs");
    assert!(!gpus.is_empty());
    for g in &gpus {
        assert!(
            g.memory_total_bytes > 0 && g.memory_used_bytes <= g.memory_total_bytes,
            "{g:?}"
        );
        assert!(g.utilization_pct <= 100, "{g:?}");
    }
}

/// Where there is no NVIDIA driver (this CI), the real reader says so instead of failing.
#[test]
fn nvml_without_a_driver_says_why() {
    if std::path::Path::new("/proc/driver/nvidia").exists() {
        return;
    }
    let err = Nvml::new().sample().unwrap_err();
    assert!(err.contains("NVML is not available"), "{err}");
}

/// Model switches on an Ollama server: a request answered by a model that `/api/ps` did not
/// list is a switch, timed by its first byte (the load included); the next request to it, now
/// loaded, is not.
#[tokio::test]
async fn a_request_to_a_model_that_was_not_loaded_is_a_timed_switch() {
    let warm = "warm";
    let cold = "cold+slow_first_byte_300";
    let up = TestUpstream::start_with_models(vec![warm.into(), cold.into()]).await;
    let p = Proxy::start(&format!(
        "health: {{ probe_interval: 0s }}\nproviders:\n  local: {{ kind: ollama, base_url: \"{}\", discover_models: false }}\n",
        up.url()
    ))
    .await;
    // Ollama unloads `cold`; Lodestar reads `/api/ps` (as the status screen does).
    let r = reqwest::Client::new()
        .post(format!("{}/api/generate", up.url()))
        .json(&serde_json::json!({"model": cold, "keep_alive": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let status: Value = p.get("/admin/api/status").await.json().await.unwrap();
    let loaded = status["providers"][0]["loaded"].to_string();
    assert!(
        loaded.contains("warm") && !loaded.contains("cold"),
        "{loaded}"
    );

    let chat = |model: &str| p.chat(support::proxy::chat_body(&format!("local/{model}"), "hi"));
    assert_eq!(chat(warm).await.status(), 200);
    assert_eq!(chat(cold).await.status(), 200);
    // The switch is recorded once /api/ps has been read again (in the background).
    let mut switches = Value::Null;
    for _ in 0..100 {
        switches = gpu(&p).await["switches"].clone();
        if switches.as_array().is_some_and(|a| !a.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let list = switches.as_array().unwrap();
    assert_eq!(list.len(), 1, "{switches}");
    assert_eq!(list[0]["provider"], "local");
    assert_eq!(list[0]["model"], cold);
    let took = list[0]["took_ms"].as_f64().unwrap();
    assert!((300.0..5000.0).contains(&took), "{took}");
    assert_eq!(list[0]["unloaded"], serde_json::json!([]));
    // Loaded now: no second switch; the warm model never was one.
    assert_eq!(chat(cold).await.status(), 200);
    assert_eq!(chat(warm).await.status(), 200);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(gpu(&p).await["switches"].as_array().unwrap().len(), 1);
}
