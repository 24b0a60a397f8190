//! `/metrics` read the way Prometheus reads it: parsed by a real text-format parser
//! (`prometheus-parse`), then looked up by name and labels.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use prometheus_parse::{Scrape, Value};

pub struct Metrics(pub Scrape);

/// Parse a `/metrics` body; panics (failing the test) on text a scraper would reject.
pub fn parse(text: &str) -> Metrics {
    let lines = text.lines().map(|l| Ok(l.to_string()));
    Metrics(Scrape::parse(lines).expect("the /metrics text parses"))
}

impl Metrics {
    /// The value of the sample `name` whose labels include every `labels` pair.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.0
            .samples
            .iter()
            .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| match &s.value {
                Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
                Value::Histogram(h) => h.iter().map(|b| b.count).fold(0.0, f64::max),
                Value::Summary(_) => f64::NAN,
            })
    }

    /// Every metric name present.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.0.samples.iter().map(|s| s.metric.clone()).collect();
        v.sort();
        v.dedup();
        v
    }
}
