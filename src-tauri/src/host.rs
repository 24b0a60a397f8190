//! Running the engine for the app: the same config file and data directory `lodestar serve`
//! uses (`--config` is not available here: `LODESTAR_CONFIG`, else
//! `~/.config/lodestar/config.yml`, else the embedded default), started in-process on a runtime
//! of its own, built as `lodestar serve` builds it (`Engine::runtime`: `LODESTAR_WORKER_THREADS`,
//! `server.worker_threads`, else one worker per CPU) on its own thread, so that the proxy runs
//! as it does headless and the tray's runtime never shares its workers. When the address is already held by a Lodestar (a headless `lodestar
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
    InProcess(InProcess),
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

/// The engine running in this process, and the thread its runtime runs on.
pub struct InProcess {
    pub handle: EngineHandle,
    thread: EngineThread,
}

impl InProcess {
    /// Stop accepting, finish in-flight answers, flush the ledger; then end the engine's
    /// runtime and its thread.
    pub async fn shutdown(self) {
        self.handle.shutdown().await;
        self.thread.stop().await;
    }
}

/// A thread that keeps the engine's runtime running until told to stop.
struct EngineThread {
    runtime: tokio::runtime::Handle,
    stop: tokio::sync::oneshot::Sender<()>,
    done: tokio::sync::oneshot::Receiver<()>,
}

impl EngineThread {
    fn start(cfg: &Config) -> Result<EngineThread, String> {
        let runtime = Engine::runtime(cfg)?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (finished, done) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("lodestar-engine".into())
            .spawn(move || {
                // A current-thread runtime runs its tasks only inside `block_on`.
                runtime.block_on(async move {
                    let _ = stopped.await;
                });
                drop(runtime);
                let _ = finished.send(());
            })
            .map_err(|e| format!("cannot start the engine's thread: {e}"))?;
        Ok(EngineThread {
            runtime: handle,
            stop,
            done,
        })
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.done.await;
    }
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
    let thread = match EngineThread::start(&cfg) {
        Ok(t) => t,
        Err(e) => return Started::Failed(e),
    };
    // Started on its own runtime: its listener and every task it spawns live there.
    let started = match thread.runtime.spawn(Engine::start(cfg, opts)).await {
        Ok(r) => r,
        Err(e) => Err(EngineError::Providers(format!(
            "the engine failed to start: {e}"
        ))),
    };
    let error = match started {
        Ok(handle) => {
            tracing::info!("lodestar listening on {}", handle.base_url());
            return Started::InProcess(InProcess { handle, thread });
        }
        Err(e) => e,
    };
    thread.stop().await;
    match error {
        EngineError::Bind { addr, source } => {
            if crate::api::is_lodestar(addr).await {
                tracing::info!("a Lodestar already listens on {addr}: attaching to it");
                Started::Attached(addr)
            } else {
                Started::Failed(EngineError::Bind { addr, source }.to_string())
            }
        }
        e => Started::Failed(e.to_string()),
    }
}
