//! Provider health as the request path sees it: a circuit breaker per route entry
//! (`provider/model`), fed by every attempt's outcome, read before each attempt so that no
//! request waits on an entry known to be down; and the GPU sampler (`gpu`). Probes and uptime
//! history are not here yet (issue 6).
//!
//! Owns the breaker states and their transitions; must not send requests or read config
//! files. Transitions go out once each on the engine's event channel.

mod breaker;
pub mod gpu;

pub use breaker::{Admission, BreakerConfig, BreakerState, Breakers, EntryHealth};
