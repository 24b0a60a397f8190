//! Prometheus metrics (`GET /metrics`, OpenMetrics text), kept with `prometheus-client`.
//! Owns the registry and the metric families; the parts of the engine that count things call
//! its `record_*` methods, which only bump atomics.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use crate::ledger::Tokens;

mod health;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    provider: String,
    model: String,
    project: String,
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    alias: String,
    provider: String,
    model: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    alias: String,
    provider: String,
    model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AliasLabel {
    alias: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TargetLabel {
    target: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GpuLabels {
    /// `local`, or the remote agent's name.
    host: String,
    gpu: String,
    name: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderLabel {
    provider: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderStateLabels {
    provider: String,
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProbeLabels {
    provider: String,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TierLabel {
    tier: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabels {
    provider: String,
    model: String,
    project: String,
}

/// One (alias, route, status)'s request metrics, looked up once and then shared: counting a
/// request costs a map lookup by a reused key buffer, not seven label strings.
#[derive(Clone)]
struct RequestHandles {
    total: Counter,
    duration: Histogram,
    ttfb: Histogram,
}

/// The `kind` label of `lodestar_tokens_total`, in `Tokens` field order.
const TOKEN_KINDS: [&str; 6] = [
    "input",
    "output",
    "cache_read",
    "cache_write_5m",
    "cache_write_1h",
    "reasoning",
];

/// One (provider, model, project)'s usage counters, looked up once.
#[derive(Clone)]
struct UsageHandles {
    tokens: [Counter; 6],
    cost: Counter<f64, AtomicU64>,
    unpriced: Counter,
    requests: Counter,
}

thread_local! {
    static KEY: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

pub struct Metrics {
    /// False (`metrics.enabled: false`): nothing is counted and `/metrics` is off.
    enabled: bool,
    handles: std::sync::RwLock<std::collections::HashMap<String, RequestHandles>>,
    usage_handles: std::sync::RwLock<std::collections::HashMap<String, UsageHandles>>,
    registry: Registry,
    tokens: Family<TokenLabels, Counter>,
    cost: Family<ModelLabels, Counter<f64, AtomicU64>>,
    requests: Family<ModelLabels, Counter>,
    unpriced: Family<ModelLabels, Counter>,
    cache_results: Family<ResultLabel, Counter>,
    cache_saved: Counter<f64, AtomicU64>,
    cache_entries: Family<TierLabel, Gauge>,
    cache_bytes: Family<TierLabel, Gauge>,
    requests_total: Family<RequestLabels, Counter>,
    duration: Family<RouteLabels, Histogram>,
    ttfb: Family<RouteLabels, Histogram>,
    fallbacks: Family<AliasLabel, Counter>,
    circuit: Family<TargetLabel, Gauge>,
    gpu_util: Family<GpuLabels, Gauge<f64, AtomicU64>>,
    gpu_mem_used: Family<GpuLabels, Gauge>,
    gpu_mem_total: Family<GpuLabels, Gauge>,
    gpu_temp: Family<GpuLabels, Gauge>,
    gpu_power: Family<GpuLabels, Gauge<f64, AtomicU64>>,
    provider_up: Family<ProviderLabel, Gauge>,
    provider_state: Family<ProviderStateLabels, Gauge>,
    probes: Family<ProbeLabels, Counter>,
    probe_duration: Family<ProviderLabel, Histogram>,
}

/// Latency buckets: 1 ms to ~4.4 min, doubling.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 19))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("lodestar");
        let tokens = Family::<TokenLabels, Counter>::default();
        let cost = Family::<ModelLabels, Counter<f64, AtomicU64>>::default();
        let requests = Family::<ModelLabels, Counter>::default();
        let unpriced = Family::<ModelLabels, Counter>::default();
        registry.register(
            "tokens",
            "Tokens used, by kind (input excludes cache reads and writes; output includes reasoning)",
            tokens.clone(),
        );
        registry.register("cost_usd", "Spend in USD (priced requests)", cost.clone());
        registry.register(
            "ledger_requests",
            "Requests recorded in the ledger",
            requests.clone(),
        );
        registry.register(
            "unpriced_requests",
            "Requests to models with no known price (cost unknown, not 0)",
            unpriced.clone(),
        );
        let cache_results = Family::<ResultLabel, Counter>::default();
        let cache_saved = Counter::<f64, AtomicU64>::default();
        let cache_entries = Family::<TierLabel, Gauge>::default();
        let cache_bytes = Family::<TierLabel, Gauge>::default();
        registry.register(
            "cache_requests",
            "Requests by what the response cache did (hit, miss, bypass)",
            cache_results.clone(),
        );
        registry.register(
            "cache_saved_usd",
            "What the cache hits' answers cost when they were made",
            cache_saved.clone(),
        );
        registry.register(
            "cache_entries",
            "Cached answers, by tier",
            cache_entries.clone(),
        );
        registry.register(
            "cache_bytes",
            "Bytes of cached answers, by tier",
            cache_bytes.clone(),
        );
        let requests_total = Family::<RequestLabels, Counter>::default();
        let duration =
            Family::<RouteLabels, Histogram>::new_with_constructor(latency_histogram as fn() -> _);
        let ttfb =
            Family::<RouteLabels, Histogram>::new_with_constructor(latency_histogram as fn() -> _);
        let fallbacks = Family::<AliasLabel, Counter>::default();
        let circuit = Family::<TargetLabel, Gauge>::default();
        registry.register(
            "requests",
            "Requests answered, by alias, the provider/model that answered (empty when none did) and HTTP status",
            requests_total.clone(),
        );
        registry.register_with_unit(
            "request_duration",
            "Time from the request's arrival to the end of its answer (streams: the last byte)",
            prometheus_client::registry::Unit::Seconds,
            duration.clone(),
        );
        registry.register_with_unit(
            "time_to_first_byte",
            "Time from the request's arrival to the upstream's first byte",
            prometheus_client::registry::Unit::Seconds,
            ttfb.clone(),
        );
        registry.register(
            "fallbacks",
            "Route entries that failed before another answered (or all failed)",
            fallbacks.clone(),
        );
        registry.register(
            "circuit_state",
            "Each route entry's circuit: 0 closed, 1 open, 2 half-open, 3 cooling down after a 429",
            circuit.clone(),
        );
        let gpu_util = Family::<GpuLabels, Gauge<f64, AtomicU64>>::default();
        let gpu_mem_used = Family::<GpuLabels, Gauge>::default();
        let gpu_mem_total = Family::<GpuLabels, Gauge>::default();
        let gpu_temp = Family::<GpuLabels, Gauge>::default();
        let gpu_power = Family::<GpuLabels, Gauge<f64, AtomicU64>>::default();
        registry.register_with_unit(
            "gpu_utilization",
            "Share of the last sample period a kernel ran on the GPU",
            prometheus_client::registry::Unit::Other("ratio".into()),
            gpu_util.clone(),
        );
        registry.register_with_unit(
            "gpu_memory_used",
            "GPU memory in use",
            prometheus_client::registry::Unit::Bytes,
            gpu_mem_used.clone(),
        );
        registry.register_with_unit(
            "gpu_memory_total",
            "GPU memory installed",
            prometheus_client::registry::Unit::Bytes,
            gpu_mem_total.clone(),
        );
        registry.register_with_unit(
            "gpu_temperature",
            "GPU die temperature",
            prometheus_client::registry::Unit::Celsius,
            gpu_temp.clone(),
        );
        registry.register_with_unit(
            "gpu_power",
            "GPU power draw",
            prometheus_client::registry::Unit::Other("watts".into()),
            gpu_power.clone(),
        );
        let provider_up = Family::<ProviderLabel, Gauge>::default();
        let provider_state = Family::<ProviderStateLabels, Gauge>::default();
        let probes = Family::<ProbeLabels, Counter>::default();
        let probe_duration = Family::<ProviderLabel, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        registry.register(
            "provider_up",
            "1 while a provider is up or degraded, 0 while it is down (absent while unknown)",
            provider_up.clone(),
        );
        registry.register(
            "provider_state",
            "Each provider's state, one-hot over up, degraded, down, unknown",
            provider_state.clone(),
        );
        registry.register(
            "probes",
            "Background health probes by provider and result (ok, error)",
            probes.clone(),
        );
        registry.register_with_unit(
            "probe_duration",
            "How long each health probe took",
            prometheus_client::registry::Unit::Seconds,
            probe_duration.clone(),
        );
        Self {
            enabled: true,
            handles: Default::default(),
            usage_handles: Default::default(),
            provider_up,
            provider_state,
            probes,
            probe_duration,
            registry,
            tokens,
            cost,
            requests,
            unpriced,
            cache_results,
            cache_saved,
            cache_entries,
            cache_bytes,
            requests_total,
            duration,
            ttfb,
            fallbacks,
            circuit,
            gpu_util,
            gpu_mem_used,
            gpu_mem_total,
            gpu_temp,
            gpu_power,
        }
    }

    /// One recorded request's tokens and cost (None: unknown price).
    pub fn record_usage(
        &self,
        provider: &str,
        model: &str,
        project: &str,
        t: &Tokens,
        cost: Option<f64>,
    ) {
        if !self.enabled {
            return;
        }
        let h = KEY.with_borrow_mut(|key| {
            use std::fmt::Write as _;
            key.clear();
            let _ = write!(key, "{provider}\0{model}\0{project}");
            let cached = self
                .usage_handles
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .get(key.as_str())
                .cloned();
            cached.unwrap_or_else(|| {
                let h = self.usage_handles_for(provider, model, project);
                self.usage_handles
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(key.clone(), h.clone());
                h
            })
        });
        let counts = [
            t.input,
            t.output,
            t.cache_read,
            t.cache_write_5m,
            t.cache_write_1h,
            t.reasoning,
        ];
        for (counter, n) in h.tokens.iter().zip(counts) {
            if n > 0 {
                counter.inc_by(n);
            }
        }
        match cost {
            Some(c) => {
                h.cost.inc_by(c);
            }
            None => {
                h.unpriced.inc();
            }
        }
        h.requests.inc();
    }

    fn usage_handles_for(&self, provider: &str, model: &str, project: &str) -> UsageHandles {
        let labels = ModelLabels {
            provider: provider.to_string(),
            model: model.to_string(),
            project: project.to_string(),
        };
        let token = |kind: &'static str| {
            self.tokens
                .get_or_create(&TokenLabels {
                    provider: labels.provider.clone(),
                    model: labels.model.clone(),
                    project: labels.project.clone(),
                    kind,
                })
                .clone()
        };
        UsageHandles {
            tokens: TOKEN_KINDS.map(token),
            cost: self.cost.get_or_create(&labels).clone(),
            unpriced: self.unpriced.get_or_create(&labels).clone(),
            requests: self.requests.get_or_create(&labels).clone(),
        }
    }

    /// What the cache did for one request: `hit`, `miss` or `bypass`.
    pub fn record_cache(&self, result: &'static str) {
        if !self.enabled {
            return;
        }
        self.cache_results
            .get_or_create(&ResultLabel { result })
            .inc();
    }

    pub fn record_cache_hit(&self, saved: Option<f64>) {
        if let Some(usd) = saved {
            self.cache_saved.inc_by(usd);
        }
    }

    /// The cache's size, read when `/metrics` is scraped.
    pub fn set_cache_size(&self, s: &crate::cache::CacheStats) {
        if !self.enabled {
            return;
        }
        for (tier, entries, bytes) in [
            ("memory", s.memory_entries, s.memory_bytes),
            ("disk", s.disk_entries, s.disk_bytes),
        ] {
            self.cache_entries
                .get_or_create(&TierLabel { tier })
                .set(entries as i64);
            self.cache_bytes
                .get_or_create(&TierLabel { tier })
                .set(bytes as i64);
        }
    }

    /// One answered request (`route`: `provider/model`, empty when no entry answered).
    pub fn record_request(
        &self,
        alias: &str,
        route: &str,
        status: u16,
        latency: Duration,
        ttfb: Option<Duration>,
        fallbacks: usize,
    ) {
        if !self.enabled {
            return;
        }
        let h = KEY.with_borrow_mut(|key| {
            use std::fmt::Write as _;
            key.clear();
            let _ = write!(key, "{alias}\0{route}\0{status}");
            let cached = self
                .handles
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .get(key.as_str())
                .cloned();
            cached.unwrap_or_else(|| {
                let h = self.request_handles(alias, route, status);
                self.handles
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(key.clone(), h.clone());
                h
            })
        });
        h.total.inc();
        h.duration.observe(latency.as_secs_f64());
        if let Some(t) = ttfb {
            h.ttfb.observe(t.as_secs_f64());
        }
        if fallbacks > 0 {
            self.fallbacks
                .get_or_create(&AliasLabel {
                    alias: alias.to_string(),
                })
                .inc_by(fallbacks as u64);
        }
    }

    fn request_handles(&self, alias: &str, route: &str, status: u16) -> RequestHandles {
        let (provider, model) = route.split_once('/').unwrap_or(("", ""));
        let labels = RouteLabels {
            alias: alias.to_string(),
            provider: provider.to_string(),
            model: model.to_string(),
        };
        RequestHandles {
            total: self
                .requests_total
                .get_or_create(&RequestLabels {
                    alias: alias.to_string(),
                    provider: provider.to_string(),
                    model: model.to_string(),
                    status: status.to_string(),
                })
                .clone(),
            duration: self.duration.get_or_create(&labels).clone(),
            ttfb: self.ttfb.get_or_create(&labels).clone(),
        }
    }

    /// Counting nothing: `metrics.enabled: false`.
    pub fn disabled() -> Self {
        Self {
            enabled: false,
            ..Self::new()
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
