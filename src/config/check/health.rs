//! Checking `health:` (breakers, probes, events), each provider's `probe:` and `on_down:`, and
//! `gpus:` (remote GPU agents).

use std::time::Duration;

use serde_json::Value;

use super::super::raw::{self, RawOnDown, RawProbe};
use super::super::{GpuAgent, OnDown};
use super::Checker;
use super::provider::check_url;
use crate::health::{BreakerConfig, HealthConfig};
use crate::providers::ProviderKind;

impl Checker<'_> {
    pub(super) fn health(&mut self, v: Value) -> HealthConfig {
        let Some(h) = self.de::<raw::RawHealth>(v, "health") else {
            return HealthConfig::default();
        };
        let d = HealthConfig::default();
        if let Some(r) = h.error_rate
            && !(r > 0.0 && r <= 1.0)
        {
            self.error(
                "health.error_rate",
                "is a share of requests between 0 and 1 (0.5: half of them failed); leave it \
                 out for the default 0.5",
            );
        }
        for (k, t) in [("window", h.window), ("probe_timeout", h.probe_timeout)] {
            if t.is_some_and(|t| t.is_zero()) {
                self.error(
                    &format!("health.{k}"),
                    "must be longer than 0s; leave it out for the default",
                );
            }
        }
        let enabled = h.enabled.unwrap_or(true);
        HealthConfig {
            enabled,
            breaker: BreakerConfig {
                // Off: no failure ever opens a circuit.
                failures: if enabled {
                    h.failures.unwrap_or(d.breaker.failures)
                } else {
                    0
                },
                open_for: h.open_for.unwrap_or(d.breaker.open_for),
                error_rate: h.error_rate.unwrap_or(d.breaker.error_rate),
                window: h.window.unwrap_or(d.breaker.window),
                min_requests: h.min_requests.unwrap_or(d.breaker.min_requests),
                notify_every: h.notify_every.unwrap_or(d.notify_every),
            },
            probe_interval: match h.probe_interval.filter(|_| enabled) {
                None if !enabled => None,
                Some(i) if i.is_zero() => None,
                Some(i) => Some(i),
                None => d.probe_interval,
            },
            probe_timeout: h.probe_timeout.unwrap_or(d.probe_timeout),
            notify_every: h.notify_every.unwrap_or(d.notify_every),
        }
    }

    pub(super) fn gpus(&mut self, v: Value) -> Vec<GpuAgent> {
        if v.is_null() {
            return Vec::new();
        }
        let Some(list) = self.de::<Vec<raw::RawGpuAgent>>(v, "gpus") else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, a) in list.into_iter().enumerate() {
            match check_url(&a.agent_url) {
                Ok(url) => {
                    let name = a.name.unwrap_or_else(|| {
                        reqwest::Url::parse(&url)
                            .ok()
                            .and_then(|u| u.host_str().map(String::from))
                            .unwrap_or_else(|| url.clone())
                    });
                    out.push(GpuAgent { url, name });
                }
                Err(msg) => self.error(
                    &format!("gpus[{i}].agent_url"),
                    &format!("{msg} (the address `lodestar agent` printed on the GPU box)"),
                ),
            }
        }
        out
    }

    /// The probe's full URL: the kind's model list unless `probe:` says otherwise.
    pub(super) fn probe(
        &mut self,
        key: &str,
        kind: ProviderKind,
        base_url: &str,
        raw: Option<RawProbe>,
    ) -> Option<String> {
        let default = || match kind {
            ProviderKind::Ollama => format!("{base_url}/api/tags"),
            ProviderKind::Anthropic => format!("{base_url}/v1/models"),
            ProviderKind::OpenAi | ProviderKind::OpenAiCompatible => format!("{base_url}/models"),
        };
        match raw {
            None | Some(RawProbe::On(true)) => Some(default()),
            Some(RawProbe::On(false)) => None,
            Some(RawProbe::Path(p)) if p.starts_with('/') => Some(format!("{base_url}{p}")),
            Some(RawProbe::Path(p)) => match check_url(&p) {
                Ok(u) => Some(u),
                Err(msg) => {
                    self.error(
                        &format!("{key}.probe"),
                        &format!(
                            "{msg}; or a path under base_url such as `/models`, or `false` for \
                             no probe"
                        ),
                    );
                    None
                }
            },
        }
    }

    pub(super) fn on_down(&mut self, key: &str, raw: Option<RawOnDown>) -> Option<OnDown> {
        let (command, backoff, timeout) = match raw? {
            RawOnDown::Command(c) => (c, None, None),
            RawOnDown::Full(f) => (f.command, f.backoff, f.timeout),
        };
        if command.trim().is_empty() {
            self.error(
                &format!("{key}.on_down"),
                "is an empty command; write the command that restarts the server, e.g. \
                 `systemctl --user restart ollama`, or remove `on_down`",
            );
            return None;
        }
        Some(OnDown {
            command,
            backoff: backoff
                .filter(|b| !b.is_zero())
                .unwrap_or(Duration::from_secs(60)),
            timeout: timeout
                .filter(|t| !t.is_zero())
                .unwrap_or(Duration::from_secs(60)),
        })
    }
}
