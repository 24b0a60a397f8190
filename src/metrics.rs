//! Prometheus metrics (`GET /metrics`, text format 0.0.4), kept with `prometheus-client`.
//! Owns the registry and the metric families; the parts of the engine that count things call
//! its `record_*` methods, which only bump atomics.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

use crate::ledger::Tokens;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    provider: String,
    model: String,
    project: String,
    kind: &'static str,
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

pub struct Metrics {
    registry: Registry,
    tokens: Family<TokenLabels, Counter>,
    cost: Family<ModelLabels, Counter<f64, AtomicU64>>,
    requests: Family<ModelLabels, Counter>,
    unpriced: Family<ModelLabels, Counter>,
    cache_results: Family<ResultLabel, Counter>,
    cache_saved: Counter<f64, AtomicU64>,
    cache_entries: Family<TierLabel, Gauge>,
    cache_bytes: Family<TierLabel, Gauge>,
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
        Self {
            registry,
            tokens,
            cost,
            requests,
            unpriced,
            cache_results,
            cache_saved,
            cache_entries,
            cache_bytes,
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
        let labels = ModelLabels {
            provider: provider.to_string(),
            model: model.to_string(),
            project: project.to_string(),
        };
        for (kind, n) in [
            ("input", t.input),
            ("output", t.output),
            ("cache_read", t.cache_read),
            ("cache_write_5m", t.cache_write_5m),
            ("cache_write_1h", t.cache_write_1h),
            ("reasoning", t.reasoning),
        ] {
            if n > 0 {
                self.tokens
                    .get_or_create(&TokenLabels {
                        provider: labels.provider.clone(),
                        model: labels.model.clone(),
                        project: labels.project.clone(),
                        kind,
                    })
                    .inc_by(n);
            }
        }
        match cost {
            Some(c) => {
                self.cost.get_or_create(&labels).inc_by(c);
            }
            None => {
                self.unpriced.get_or_create(&labels).inc();
            }
        }
        self.requests.get_or_create(&labels).inc();
    }

    /// What the cache did for one request: `hit`, `miss` or `bypass`.
    pub fn record_cache(&self, result: &'static str) {
        self.cache_results
            .get_or_create(&ResultLabel { result })
            .inc();
    }

    pub(crate) fn record_cache_hit(&self, saved: Option<f64>) {
        if let Some(usd) = saved {
            self.cache_saved.inc_by(usd);
        }
    }

    /// The cache's size, read when `/metrics` is scraped.
    pub fn set_cache_size(&self, s: &crate::cache::CacheStats) {
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

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
