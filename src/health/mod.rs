//! Provider health: a circuit breaker per route entry (`provider/model`), fed by every
//! attempt's outcome, read before each attempt so that no request waits on an entry known to
//! be down (`breaker`); each provider's state from background probes and real traffic, with
//! uptime history (`monitor`, `probe`) and its `on_down` command (`on_down`); the GPU sampler
//! and remote GPU agents (`gpu`).
//!
//! Owns the breaker and provider states and their transitions; must not read config files.
//! Transitions go out once each on the engine's event channel.

mod breaker;
pub mod gpu;
mod load;
mod monitor;
mod on_down;
pub(crate) mod probe;
mod window;

use std::time::Duration;

pub use breaker::{Admission, BreakerConfig, BreakerState, Breakers, EntryHealth};
pub(crate) use load::LoadFailures;
pub use monitor::{
    HourProbes, ModelHealth, Monitor, ProbeOutcome, ProviderHealth, ProviderState, Uptime,
};
pub(crate) use monitor::{model_availability, uptime, uptime_hours};
pub(crate) use on_down::OnDownRunner;
pub use window::Percentiles;

/// `health:` in the config.
#[derive(Debug, Clone, Copy)]
pub struct HealthConfig {
    /// False: no breakers, no probes, no provider states (`health.enabled: false`).
    pub enabled: bool,
    pub breaker: BreakerConfig,
    /// None: no background probes.
    pub probe_interval: Option<Duration>,
    pub probe_timeout: Duration,
    /// At most one down (or degraded) event per provider per this long.
    pub notify_every: Duration,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            breaker: BreakerConfig::default(),
            probe_interval: Some(Duration::from_secs(30)),
            probe_timeout: Duration::from_secs(5),
            notify_every: Duration::from_secs(300),
        }
    }
}
