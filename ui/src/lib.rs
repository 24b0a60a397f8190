//! Lodestar's web UI: a Leptos client-side app served by the engine at `/ui/`, reading only
//! the admin API (`/admin/api/...`).
//!
//! The pure modules (`format`, `chart`, `csv`, `types`) hold the logic worth testing —
//! money/token/duration formatting, chart scales and axis ticks, stacking of series, the CSV
//! export, the API's JSON shapes — and compile natively, so `cargo test` needs no wasm
//! toolchain. Everything that touches the browser (`api`, `app`, `pages`, `components`,
//! `hooks`) is wasm32-only.

pub mod chart;
pub mod csv;
pub mod format;
pub mod types;

#[cfg(target_arch = "wasm32")]
pub mod api;
#[cfg(target_arch = "wasm32")]
pub mod app;
#[cfg(target_arch = "wasm32")]
mod components;
#[cfg(target_arch = "wasm32")]
mod hooks;
#[cfg(target_arch = "wasm32")]
mod pages;
