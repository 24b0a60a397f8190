//! Prometheus metrics (`GET /metrics`, text format 0.0.4), kept with `prometheus-client`.
//! Owns the registry and the metric families; the parts of the engine that count things call
//! its `record_*` methods, which only bump atomics.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
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
        Self {
            registry,
            tokens,
            cost,
            requests,
            unpriced,
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

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
