//! The GPU sampler: every `gpu.interval` it reads each local NVIDIA GPU (utilization, memory,
//! temperature, power, the processes on it) through a `GpuSource` — NVML in the product, a
//! fake in tests — on a blocking thread, and keeps the latest reading for `/admin/api/gpu`,
//! `/health`, `/metrics` and the tray. No NVIDIA driver is a normal state: one log line,
//! `gpu: none` with the reason, and the sampler stops asking. Remote GPU boxes running
//! `lodestar agent` (`gpus: [{ agent_url }]`) are polled over HTTP on the same interval.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::Serialize;

/// One GPU at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct GpuSample {
    pub index: u32,
    pub name: String,
    /// Percent of the last sample period a kernel was running.
    pub utilization_pct: u32,
    pub memory_used_bytes: u64,
    pub memory_total_bytes: u64,
    pub temperature_c: Option<u32>,
    pub power_w: Option<f64>,
    pub processes: Vec<GpuProcess>,
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct GpuProcess {
    pub pid: u32,
    /// None where the driver does not say (Windows WDDM).
    pub memory_bytes: Option<u64>,
}

/// Where GPU readings come from.
pub trait GpuSource: Send + Sync + 'static {
    /// Every GPU now; an error says why there is none to read (no driver, no permission).
    fn sample(&self) -> Result<Vec<GpuSample>, String>;
}

/// What `/admin/api/gpu` says (and a `lodestar agent`'s `/gpu`).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum GpuStatus {
    /// Not read yet.
    Starting,
    /// No GPU can be read here, and why.
    None {
        reason: String,
    },
    Ok {
        gpus: Vec<GpuSample>,
    },
    /// A remote agent could not be asked, and why.
    Unreachable {
        reason: String,
    },
}

/// A remote GPU box's latest reading.
#[derive(Debug, Clone, Serialize)]
pub struct RemoteGpus {
    /// The name its GPUs are shown under (`gpus[].name`, default the URL's host).
    pub host: String,
    pub agent_url: String,
    #[serde(flatten)]
    pub status: GpuStatus,
}

/// The latest readings, shared: this machine's and each remote agent's.
#[derive(Clone)]
pub struct GpuState {
    local: Arc<RwLock<GpuStatus>>,
    remote: Arc<RwLock<Vec<RemoteGpus>>>,
}

impl Default for GpuState {
    fn default() -> Self {
        Self {
            local: Arc::new(RwLock::new(GpuStatus::Starting)),
            remote: Arc::new(RwLock::new(Vec::new())),
        }
    }
}

impl GpuState {
    /// This machine's GPUs.
    pub fn get(&self) -> GpuStatus {
        self.local.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The remote agents' GPUs, in config order.
    pub fn remote(&self) -> Vec<RemoteGpus> {
        self.remote
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set(&self, s: GpuStatus) {
        *self.local.write().unwrap_or_else(|e| e.into_inner()) = s;
    }

    fn set_remote(&self, r: RemoteGpus) {
        let mut all = self.remote.write().unwrap_or_else(|e| e.into_inner());
        match all.iter_mut().find(|x| x.agent_url == r.agent_url) {
            Some(x) => *x = r,
            None => all.push(r),
        }
    }

    /// Every GPU with the host it is on (`local` or an agent's name), for metrics and the tray.
    pub fn all(&self) -> Vec<(String, GpuSample)> {
        let mut out: Vec<(String, GpuSample)> = match self.get() {
            GpuStatus::Ok { gpus } => gpus.into_iter().map(|g| ("local".into(), g)).collect(),
            _ => Vec::new(),
        };
        for r in self.remote() {
            if let GpuStatus::Ok { gpus } = r.status {
                out.extend(gpus.into_iter().map(|g| (r.host.clone(), g)));
            }
        }
        out
    }
}

/// Ask each remote agent for its GPUs every `interval` until `stop`; an unreachable agent is
/// shown as such (with the reason) and asked again next time.
pub async fn run_remote(
    agents: Vec<crate::config::GpuAgent>,
    state: GpuState,
    interval: Duration,
    stop: tokio_util::sync::CancellationToken,
) {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!("cannot build the GPU agent client: {e}");
            return;
        }
    };
    for a in &agents {
        state.set_remote(RemoteGpus {
            host: a.name.clone(),
            agent_url: a.url.clone(),
            status: GpuStatus::Starting,
        });
    }
    loop {
        let asks = agents.iter().map(|a| {
            let client = &client;
            async move {
                let url = format!("{}/gpu", a.url);
                let status = match client.get(&url).send().await {
                    Ok(r) if r.status().is_success() => match r
                        .bytes()
                        .await
                        .map_err(|e| e.to_string())
                        .and_then(|b| serde_json::from_slice::<GpuStatus>(&b).map_err(|e| e.to_string()))
                    {
                        Ok(s) => s,
                        Err(e) => GpuStatus::Unreachable {
                            reason: format!("{url} did not answer a GPU reading: {e}"),
                        },
                    },
                    Ok(r) => GpuStatus::Unreachable {
                        reason: format!("{url} answered {}", r.status()),
                    },
                    Err(e) => GpuStatus::Unreachable {
                        reason: format!(
                            "cannot reach the agent at {url}: {} (is `lodestar agent` running there?)",
                            crate::dispatch::describe_reqwest(&e)
                        ),
                    },
                };
                RemoteGpus {
                    host: a.name.clone(),
                    agent_url: a.url.clone(),
                    status,
                }
            }
        });
        for r in futures_util::future::join_all(asks).await {
            state.set_remote(r);
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

/// Read `source` every `interval` until `stop`; the first failure ends sampling (no driver
/// does not come back by itself) after one log line.
pub async fn run(
    source: Arc<dyn GpuSource>,
    state: GpuState,
    interval: Duration,
    stop: tokio_util::sync::CancellationToken,
) {
    loop {
        let src = source.clone();
        let reading = tokio::task::spawn_blocking(move || src.sample())
            .await
            .unwrap_or_else(|e| Err(format!("the GPU reader failed: {e}")));
        match reading {
            Ok(gpus) => state.set(GpuStatus::Ok { gpus }),
            Err(reason) => {
                tracing::info!("gpu: none ({reason})");
                state.set(GpuStatus::None { reason });
                return;
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

/// NVIDIA's management library, loaded at run time (`libnvidia-ml.so`, `nvml.dll`).
pub struct Nvml {
    nvml: Result<nvml_wrapper::Nvml, String>,
}

impl Default for Nvml {
    fn default() -> Self {
        Self::new()
    }
}

impl Nvml {
    pub fn new() -> Self {
        Self {
            nvml: nvml_wrapper::Nvml::init().map_err(|e| {
                format!("NVML is not available: {e} (no NVIDIA GPU or driver on this machine)")
            }),
        }
    }
}

impl GpuSource for Nvml {
    fn sample(&self) -> Result<Vec<GpuSample>, String> {
        use nvml_wrapper::enum_wrappers::device::TemperatureSensor;
        use nvml_wrapper::enums::device::UsedGpuMemory;
        let nvml = self.nvml.as_ref().map_err(Clone::clone)?;
        let count = nvml.device_count().map_err(|e| e.to_string())?;
        if count == 0 {
            return Err("the NVIDIA driver reports no GPU".into());
        }
        let mut out = Vec::new();
        for index in 0..count {
            let d = nvml.device_by_index(index).map_err(|e| e.to_string())?;
            let mem = d.memory_info().map_err(|e| e.to_string())?;
            let mut processes = Vec::new();
            for p in d
                .running_compute_processes()
                .unwrap_or_default()
                .into_iter()
                .chain(d.running_graphics_processes().unwrap_or_default())
            {
                processes.push(GpuProcess {
                    pid: p.pid,
                    memory_bytes: match p.used_gpu_memory {
                        UsedGpuMemory::Used(b) => Some(b),
                        UsedGpuMemory::Unavailable => None,
                    },
                });
            }
            out.push(GpuSample {
                index,
                name: d.name().unwrap_or_else(|_| format!("GPU {index}")),
                utilization_pct: d.utilization_rates().map(|u| u.gpu).unwrap_or(0),
                memory_used_bytes: mem.used,
                memory_total_bytes: mem.total,
                temperature_c: d.temperature(TemperatureSensor::Gpu).ok(),
                power_w: d.power_usage().ok().map(|mw| f64::from(mw) / 1000.0),
                processes,
            });
        }
        Ok(out)
    }
}
