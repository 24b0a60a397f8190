//! Provider health, circuits, GPUs and the cache, as `/admin/api/status`, `/health`, `/gpu`
//! and `/cache` send them.

use serde::Deserialize;

/// One route entry's breaker (`health::breaker::EntryHealth`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct EntryHealth {
    pub target: String,
    /// `closed`, `open`, `half_open` or `cooling_down`.
    pub state: String,
    #[serde(default)]
    pub consecutive_failures: u32,
    #[serde(default)]
    pub last_error: Option<String>,
    #[serde(default)]
    pub retry_in_s: Option<f64>,
}

/// `GET /admin/api/health`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Health {
    #[serde(default)]
    pub entries: Vec<EntryHealth>,
}

/// A model Ollama holds in memory now (`providers::discovery::LoadedModel`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LoadedModel {
    pub name: String,
    #[serde(default)]
    pub size_bytes: u64,
    #[serde(default)]
    pub vram_bytes: u64,
    #[serde(default)]
    pub expires_at: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Latency {
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub samples: Option<u64>,
}

/// One health probe's outcome (`health::monitor::ProbeOutcome`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ProbeOutcome {
    pub ok: bool,
    pub latency_ms: f64,
    pub error: Option<String>,
    pub at_ms: i64,
}

/// One model's health from real traffic (`health::monitor::ModelHealth`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ModelHealth {
    pub model: String,
    pub state: String,
    pub last_error: Option<String>,
    pub latency_ms: Option<Latency>,
    pub requests_in_window: u32,
    pub failures_in_window: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Uptime {
    #[serde(rename = "1h")]
    pub h1: Option<f64>,
    #[serde(rename = "24h")]
    pub h24: Option<f64>,
    #[serde(rename = "7d")]
    pub d7: Option<f64>,
}

/// A provider's health (`health` in a status provider, where the engine sends it:
/// `health::monitor::ProviderHealth` with its `uptime`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ProviderHealth {
    /// `up`, `degraded`, `down` or `unknown`.
    pub state: String,
    /// In this state since (ms since the epoch).
    pub since_ms: Option<i64>,
    /// Time to first byte of recent real requests.
    pub latency_ms: Option<Latency>,
    pub uptime: Option<Uptime>,
    pub last_error: Option<String>,
    pub last_probe: Option<ProbeOutcome>,
    /// The time of the last probe where only that is sent.
    pub last_probe_ms: Option<i64>,
    pub models: Vec<ModelHealth>,
    /// Probes by hour over the last 7 days (hours without one left out).
    #[serde(default)]
    pub uptime_hours: Vec<HourProbes>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct HourProbes {
    pub hour_ms: i64,
    pub ok: i64,
    pub total: i64,
}

impl ProviderHealth {
    pub fn last_probe_at(&self) -> Option<i64> {
        self.last_probe
            .as_ref()
            .map(|p| p.at_ms)
            .or(self.last_probe_ms)
    }
}

/// A provider in `GET /admin/api/status`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ProviderStatus {
    pub name: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub base_url: String,
    #[serde(default)]
    pub models_listed: u64,
    #[serde(default)]
    pub listing_error: Option<String>,
    /// Runs on this machine (free).
    #[serde(default)]
    pub local: Option<bool>,
    /// Ollama only: the models loaded now.
    #[serde(default)]
    pub loaded: Option<Vec<LoadedModel>>,
    #[serde(default)]
    pub loaded_error: Option<String>,
    #[serde(default)]
    pub health: Option<ProviderHealth>,
}

/// `GET /admin/api/status`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Status {
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub uptime_s: u64,
    #[serde(default)]
    pub providers: Vec<ProviderStatus>,
    #[serde(default)]
    pub circuits: Vec<EntryHealth>,
    pub gpu: GpuStatus,
}

impl Status {
    /// The circuits of route entries on `provider` (targets are `provider/model`).
    pub fn circuits_of(&self, provider: &str) -> Vec<&EntryHealth> {
        self.circuits
            .iter()
            .filter(|c| c.target.split_once('/').map(|(p, _)| p) == Some(provider))
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct GpuProcess {
    pub pid: u32,
    #[serde(default)]
    pub memory_bytes: Option<u64>,
}

/// One GPU at one moment (`health::gpu::GpuSample`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct GpuSample {
    pub index: u32,
    pub name: String,
    pub utilization_pct: u32,
    pub memory_used_bytes: u64,
    pub memory_total_bytes: u64,
    #[serde(default)]
    pub temperature_c: Option<u32>,
    #[serde(default)]
    pub power_w: Option<f64>,
    #[serde(default)]
    pub processes: Vec<GpuProcess>,
}

impl GpuSample {
    pub fn memory_fraction(&self) -> f64 {
        if self.memory_total_bytes == 0 {
            0.0
        } else {
            self.memory_used_bytes as f64 / self.memory_total_bytes as f64
        }
    }
}

/// `GET /admin/api/gpu` (and `gpu` in status): tagged by `status`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum GpuStatus {
    Starting,
    None { reason: String },
    Ok { gpus: Vec<GpuSample> },
}

/// A model switch on an Ollama server (`providers::residency::ModelSwitch`): a request
/// answered by a model that was not loaded, timed by its first byte (loading included).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ModelSwitch {
    pub provider: String,
    pub model: String,
    /// Time to the first byte of the request that loaded it.
    pub took_ms: f64,
    pub at_ms: i64,
    /// The models evicted to make room, when known.
    pub unloaded: Vec<String>,
}

/// `GET /admin/api/gpu`: this machine's GPUs (tagged by `status`) and the recent model
/// switches, newest first. `switches` is None from an engine that does not report them.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct GpuReport {
    #[serde(flatten)]
    pub gpu: GpuStatus,
    #[serde(default)]
    pub switches: Option<Vec<ModelSwitch>>,
}

/// One model's recent switches: how many, and their median time to first byte.
#[derive(Debug, Clone, PartialEq)]
pub struct SwitchMedian {
    pub provider: String,
    pub model: String,
    pub switches: usize,
    pub median_ms: f64,
}

/// The median of `values` (the mean of the middle two for an even count); None when empty.
/// Values that are not numbers are left out.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len().is_multiple_of(2) {
        (v[mid - 1] + v[mid]) / 2.0
    } else {
        v[mid]
    })
}

/// Per provider and model, the median switch time over `switches`: slowest first (ties by
/// name).
pub fn switch_medians(switches: &[ModelSwitch]) -> Vec<SwitchMedian> {
    let mut by_model: std::collections::BTreeMap<(&str, &str), Vec<f64>> = Default::default();
    for s in switches {
        by_model
            .entry((s.provider.as_str(), s.model.as_str()))
            .or_default()
            .push(s.took_ms);
    }
    let mut out: Vec<SwitchMedian> = by_model
        .into_iter()
        .filter_map(|((provider, model), times)| {
            Some(SwitchMedian {
                provider: provider.to_string(),
                model: model.to_string(),
                switches: times.len(),
                median_ms: median(&times)?,
            })
        })
        .collect();
    out.sort_by(|a, b| {
        b.median_ms
            .total_cmp(&a.median_ms)
            .then_with(|| (&a.provider, &a.model).cmp(&(&b.provider, &b.model)))
    });
    out
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct CacheStats {
    pub memory_entries: u64,
    pub memory_bytes: u64,
    pub disk_entries: u64,
    pub disk_bytes: u64,
    pub hits: u64,
    pub misses: u64,
    pub bypassed: u64,
    pub stored: u64,
    pub hit_rate: f64,
    pub saved_usd: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct CacheConfig {
    /// `deterministic`, `all` or `off`.
    pub mode: String,
    pub ttl_s: u64,
    pub memory_bytes: u64,
    pub disk_bytes: u64,
    pub coalesce: bool,
}

/// `GET /admin/api/cache`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CacheInfo {
    #[serde(default)]
    pub stats: CacheStats,
    #[serde(default)]
    pub config: CacheConfig,
}
