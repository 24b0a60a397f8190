//! Lodestar: a local LLM router. One endpoint for every editor and agent, routed to local GPU
//! model servers and cloud providers by the user's rules, with fallbacks.
//!
//! The engine is this library; the `lodestar` CLI and the desktop app both embed it through
//! [`Engine::start`]. Module map (the request's path, top to bottom): `server` → `router` →
//! `dispatch` → `providers`, with `translate` between wire formats; `config` feeds them all,
//! `events` carries news to the faces. See docs/architecture.md.

pub mod agent;
pub mod cache;
pub mod cli;
pub mod config;
pub(crate) mod dispatch;
pub(crate) mod engine;
pub mod events;
pub mod health;
pub mod ledger;
pub mod logging;
pub mod metrics;
pub(crate) mod needles;
pub mod prefs;
pub mod process_memory;
pub mod providers;
pub mod router;
pub mod secrets;
pub(crate) mod server;
pub mod store;
pub mod switch;
pub(crate) mod translate;

pub use engine::{
    Engine, EngineError, EngineHandle, EngineOptions, GpuSourceHandle, ReloadOutcome,
};
pub use translate::Usage;
