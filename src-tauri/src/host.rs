//! Running the engine for the app: the same config file and data directory `lodestar serve`
//! uses (`--config` is not available here: `LODESTAR_CONFIG`, else
//! `~/.config/lodestar/config.yml`, else the embedded default), started in-process on Tauri's
//! async runtime. When the address is already held by a Lodestar (a headless `lodestar
//! serve`), the app attaches to it and drives it through its admin API instead; when held by
//! anything else, or the config is broken, it says why and keeps the tray alive.
//!
//! Owns starting and choosing the engine; must not touch the tray or windows.

use std::net::SocketAddr;
use std::sync::Arc;

use lodestar::config::{self, Config};
use lodestar::{Engine, EngineError, EngineHandle, EngineOptions, GpuSourceHandle};

use crate::gpu_file::FileGpuSource;

/// What starting gave.
pub enum Started {
    /// The engine runs in this process.
    InProcess(EngineHandle),
    /// A Lodestar already listens at this address.
    Attached(SocketAddr),
    /// Why neither (shown in the tray and a notification).
    Failed(String),
}

/// The config as `lodestar serve` would load it, and how it was found.
pub fn load_config() -> Result<(Config, String), String> {
    let located = config::locate(None, &config::process_env)?;
    let cfg = Config::load(&located, &config::process_env)
        .map_err(|e| format!("the config has errors:\n{e}"))?;
    let from = match &located.path {
        Some(p) => format!("{} ({})", p.display(), located.how),
        None => format!("the embedded default ({})", located.how),
    };
    Ok((cfg, from))
}

/// Start the engine, or attach to the Lodestar that holds its address.
pub async fn start() -> Started {
    let (cfg, from) = match load_config() {
        Ok(c) => c,
        Err(e) => return Started::Failed(e),
    };
    tracing::info!("config: {from}");
    let gpu_source = FileGpuSource::from_env().map(|s| {
        tracing::warn!(
            "GPU readings come from {} (LODESTAR_FAKE_GPU_FILE), not the driver",
            crate::gpu_file::ENV
        );
        GpuSourceHandle(Arc::new(s))
    });
    let opts = EngineOptions {
        gpu_source,
        ..EngineOptions::default()
    };
    match Engine::start(cfg, opts).await {
        Ok(h) => {
            tracing::info!("lodestar listening on {}", h.base_url());
            Started::InProcess(h)
        }
        Err(EngineError::Bind { addr, source }) => {
            if crate::api::is_lodestar(addr).await {
                tracing::info!("a Lodestar already listens on {addr}: attaching to it");
                Started::Attached(addr)
            } else {
                Started::Failed(EngineError::Bind { addr, source }.to_string())
            }
        }
        Err(e) => Started::Failed(e.to_string()),
    }
}
