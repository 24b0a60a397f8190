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
    let m = p.get("/metrics").await.text().await.unwrap();
    assert!(
        m.contains(r#"lodestar_gpu_memory_total_bytes{gpu="0",name="Fake T600 #0"} 4294967296"#),
        "{m}"
    );
    assert!(
        m.contains(r#"lodestar_gpu_temperature_celsius{gpu="1",name="Fake T600 #1"} 61"#),
        "{m}"
    );
    assert!(
        m.contains(r#"lodestar_gpu_power_watts{gpu="0",name="Fake T600 #0"} 35.5"#),
        "{m}"
    );
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
