//! Shared helpers for Lodestar's integration tests: the fake LLM upstream ([`upstream`]),
//! a config writer and an HTTP client that works with the crate's `rustls-no-provider` reqwest.
//!
//! Each test binary pulls this in with `mod support;` and uses a subset, hence the
//! module-wide `dead_code` allowance.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod bin;
pub mod ledger;
pub mod metrics;
pub mod proxy;
pub mod sdk;
pub mod tls;
pub mod upstream;
mod upstream_anthropic;
mod upstream_exchange;
mod upstream_openai;
mod upstream_script;

use std::path::{Path, PathBuf};

/// Writes `yaml` to `dir/config.yml` and returns that path.
pub fn write_config(dir: &Path, yaml: &str) -> PathBuf {
    let path = dir.join("config.yml");
    std::fs::write(&path, yaml).unwrap();
    path
}

/// A reqwest client for talking to the proxy or a [`upstream::TestUpstream`] directly.
///
/// reqwest is built with `rustls-no-provider`, so building a client panics unless a crypto
/// provider is installed; this installs ring (a no-op if one is already installed). Proxy
/// environment variables are ignored so a developer's `HTTP_PROXY` cannot hijack 127.0.0.1.
pub fn http_client() -> reqwest::Client {
    let _already_installed = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// A fresh, empty directory under the system temp dir, unique to this process and `name`.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lodestar-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
