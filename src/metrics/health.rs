//! The health and GPU gauges of `Metrics`: circuit states, provider states, probes, and each
//! GPU's readings (local and remote agents'), set by the monitor or when `/metrics` is read.

use std::time::Duration;

use super::{GpuLabels, Metrics, ProbeLabels, ProviderLabel, ProviderStateLabels, TargetLabel};

impl Metrics {
    /// The breakers' states, read when `/metrics` is scraped.
    pub fn set_circuits(&self, entries: &[crate::health::EntryHealth]) {
        if !self.enabled {
            return;
        }
        use crate::health::BreakerState;
        for e in entries {
            let v = match e.state {
                BreakerState::Closed => 0,
                BreakerState::Open => 1,
                BreakerState::HalfOpen => 2,
                BreakerState::CoolingDown => 3,
            };
            self.circuit
                .get_or_create(&TargetLabel {
                    target: e.target.clone(),
                })
                .set(v);
        }
    }

    /// The GPU sampler's latest reading, set when `/metrics` is scraped.
    /// A provider's state changed.
    pub fn set_provider_state(&self, provider: &str, state: crate::health::ProviderState) {
        if !self.enabled {
            return;
        }
        use crate::health::ProviderState;
        for s in [
            ProviderState::Up,
            ProviderState::Degraded,
            ProviderState::Down,
            ProviderState::Unknown,
        ] {
            self.provider_state
                .get_or_create(&ProviderStateLabels {
                    provider: provider.to_string(),
                    state: s.as_str(),
                })
                .set(i64::from(s == state));
        }
        let l = ProviderLabel {
            provider: provider.to_string(),
        };
        match state {
            ProviderState::Up | ProviderState::Degraded => {
                self.provider_up.get_or_create(&l).set(1);
            }
            ProviderState::Down => {
                self.provider_up.get_or_create(&l).set(0);
            }
            ProviderState::Unknown => {
                self.provider_up.remove(&l);
            }
        }
    }

    /// One health probe.
    pub fn record_probe(&self, provider: &str, ok: bool, took: Duration) {
        if !self.enabled {
            return;
        }
        self.probes
            .get_or_create(&ProbeLabels {
                provider: provider.to_string(),
                result: if ok { "ok" } else { "error" },
            })
            .inc();
        self.probe_duration
            .get_or_create(&ProviderLabel {
                provider: provider.to_string(),
            })
            .observe(took.as_secs_f64());
    }

    pub fn set_gpus(&self, host: &str, gpus: &[crate::health::gpu::GpuSample]) {
        if !self.enabled {
            return;
        }
        for g in gpus {
            let l = GpuLabels {
                host: host.to_string(),
                gpu: g.index.to_string(),
                name: g.name.clone(),
            };
            self.gpu_util
                .get_or_create(&l)
                .set(f64::from(g.utilization_pct) / 100.0);
            self.gpu_mem_used
                .get_or_create(&l)
                .set(g.memory_used_bytes as i64);
            self.gpu_mem_total
                .get_or_create(&l)
                .set(g.memory_total_bytes as i64);
            if let Some(t) = g.temperature_c {
                self.gpu_temp.get_or_create(&l).set(i64::from(t));
            }
            if let Some(w) = g.power_w {
                self.gpu_power.get_or_create(&l).set(w);
            }
        }
    }
}
