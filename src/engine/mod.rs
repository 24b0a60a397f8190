//! The engine as a library: `Engine::start(config, options)` binds, serves and returns a
//! handle with the real address, the event channel, reload and shutdown. The CLI's `serve` and
//! the desktop app both run exactly this. What lives as long as the process (the listener, the
//! database, metrics, the GPU sampler, the event channel) is here; what the config makes
//! (providers, routing, ledger prices and budgets, cache, health) is a generation
//! (`generation.rs`), replaced whole by a reload.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

mod generation;

pub use generation::ReloadOutcome;
pub(crate) use generation::{ReloadRequest as ReloadRequestPub, send_reload};

use crate::config::Config;
use crate::events::{EVENT_BUFFER, Event};
use crate::ledger::{Ledger, PriceTable};
use crate::metrics::Metrics;
use crate::providers::refresh_catalog;
use crate::server::router;
use crate::store::Store;

/// The period of the timer that keeps request timeouts from waking the driver.
const TIMER_ANCHOR: Duration = Duration::from_millis(500);
/// How long a client may take to send a request head.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long shutdown waits for in-flight answers before cutting them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Start-time choices that are not part of the config file.
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    /// Listen here instead of `server.listen` (port 0 picks a free port).
    pub listen: Option<SocketAddr>,
    /// Log request bodies (prompts!) at info level.
    pub log_bodies: bool,
    /// Use this database file instead of `storage.path` / the platform data dir.
    pub database: Option<std::path::PathBuf>,
    /// Read GPUs from here instead of NVML (tests; a remote agent later).
    pub gpu_source: Option<GpuSourceHandle>,
}

/// A `GpuSource` for `EngineOptions`.
#[derive(Clone)]
pub struct GpuSourceHandle(pub Arc<dyn crate::health::gpu::GpuSource>);

impl std::fmt::Debug for GpuSourceHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GpuSourceHandle")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(
        "cannot listen on {addr}: {source}. Another program (perhaps another `lodestar serve`) \
         may hold the port; stop it or choose another address with --listen or server.listen"
    )]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{0}")]
    Providers(String),
}

pub struct Engine;

/// A running engine.
pub struct EngineHandle {
    addr: SocketAddr,
    events: broadcast::Sender<Event>,
    cancel: CancellationToken,
    tracker: TaskTracker,
    /// What the config made: swapped whole by a reload.
    current: Arc<std::sync::RwLock<generation::Generation>>,
    shared: Arc<generation::Shared>,
}

impl Engine {
    /// The runtime the engine runs on, the same for `lodestar serve` and the desktop app:
    /// sized by `LODESTAR_WORKER_THREADS`, else `server.worker_threads`, else one worker per
    /// CPU this process may use.
    pub fn runtime(cfg: &Config) -> Result<tokio::runtime::Runtime, String> {
        let threads = std::env::var("LODESTAR_WORKER_THREADS")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|n| *n > 0)
            .or(cfg.server.worker_threads);
        // One thread: the current-thread scheduler does the same work without cross-thread
        // wakeups (measured: benches/proxy_load.rs pinned to one CPU).
        let mut b = if threads == Some(1) {
            tokio::runtime::Builder::new_current_thread()
        } else {
            tokio::runtime::Builder::new_multi_thread()
        };
        b.enable_all();
        if let Some(n) = threads.filter(|n| *n > 1) {
            b.worker_threads(n);
        }
        b.build()
            .map_err(|e| format!("cannot start the async runtime: {e}"))
    }

    /// Bind and start serving. Returns once the socket is listening.
    pub async fn start(config: Config, opts: EngineOptions) -> Result<EngineHandle, EngineError> {
        // reqwest is built without a default TLS backend; pick ring once per process.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let config = Arc::new(config);
        let addr = opts.listen.unwrap_or(config.server.listen);
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| EngineError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| EngineError::Bind { addr, source })?;
        if !addr.ip().is_loopback() {
            tracing::warn!(
                %addr,
                "listening on a non-loopback address: anyone who can reach this machine can use \
                 your providers and keys through Lodestar"
            );
        }
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let cancel = CancellationToken::new();
        let tracker = TaskTracker::new();

        let db_path = opts
            .database
            .clone()
            .or_else(|| config.storage.path.clone())
            .or_else(crate::store::default_path);
        let (store, storage_error) = match &db_path {
            _ if !config.storage.enabled && opts.database.is_none() => (
                None,
                Some("disabled by `storage.enabled: false`".to_string()),
            ),
            Some(p) => match Store::open(p, config.storage.responses) {
                Ok(s) => (Some(s), None),
                Err(e) => {
                    tracing::warn!("{e}");
                    (None, Some(e.to_string()))
                }
            },
            None => (
                None,
                Some("no data directory is known for this user; set `storage.path`".to_string()),
            ),
        };
        let imported = db_path
            .as_deref()
            .and_then(std::path::Path::parent)
            .map(|d| d.join(IMPORTED_PRICES))
            .filter(|p| p.exists())
            .and_then(|p| match PriceTable::load_json(&p) {
                Ok(t) => Some(t),
                Err(e) => {
                    tracing::warn!(path = %p.display(), "imported prices are unreadable ({e}); run `lodestar prices import` again");
                    None
                }
            });
        let metrics = Arc::new(if config.metrics {
            Metrics::new()
        } else {
            Metrics::disabled()
        });

        // The GPU sampler lives as long as the engine (a reload does not restart it).
        let gpu = crate::health::gpu::GpuState::default();
        if config.gpu.enabled {
            let source = match &opts.gpu_source {
                Some(h) => h.0.clone(),
                None => Arc::new(crate::health::gpu::Nvml::new()),
            };
            let (g, stop, every) = (gpu.clone(), cancel.clone(), config.gpu.interval);
            tracker.spawn(crate::health::gpu::run(source, g, every, stop));
        }
        if !config.gpus.is_empty() {
            let (g, stop) = (gpu.clone(), cancel.clone());
            let every = config.gpu.interval.max(std::time::Duration::from_secs(1));
            tracker.spawn(crate::health::gpu::run_remote(
                config.gpus.clone(),
                g,
                every,
                stop,
            ));
        }

        let (reload_tx, reload_rx) = mpsc::channel(4);
        let store_for_prefs = store.clone();
        let shared = Arc::new(generation::Shared {
            events: events.clone(),
            tracker: tracker.clone(),
            cancel: cancel.clone(),
            store,
            storage_error,
            imported,
            metrics,
            gpu,
            log_bodies: opts.log_bodies,
            started: Instant::now(),
            reload: reload_tx,
            prefs: Arc::new(crate::prefs::FacePrefs::load(
                store_for_prefs,
                events.clone(),
            )),
            residency: Arc::new(crate::providers::Residency::default()),
        });
        let first = generation::build(&shared, config, false)?;
        let (router_tx, router_rx) = watch::channel(router(first.state.clone()));
        let current = Arc::new(std::sync::RwLock::new(first));

        let stop = cancel.clone();
        let conns = tracker.clone();
        tracker.spawn(async move {
            serve_http1(listener, router_rx, stop, conns).await;
        });
        tracker.spawn(generation::reloader(
            shared.clone(),
            current.clone(),
            router_tx,
            reload_rx,
        ));

        // Tokio's timer wheel wakes the I/O driver (an eventfd write) whenever a new timer is
        // due sooner than every timer it knows. With no short timer pending, each request's
        // timeouts did that: one extra syscall and wake-up per request. A timer that is always
        // due within half a second keeps request timeouts (seconds to minutes) from doing so.
        let stop = cancel.clone();
        tracker.spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(TIMER_ANCHOR) => {}
                }
            }
        });

        let _ = events.send(Event::Listening { addr });
        Ok(EngineHandle {
            addr,
            events,
            cancel,
            tracker,
            current,
            shared,
        })
    }
}

/// Prices saved by `lodestar prices import`, next to the database.
pub const IMPORTED_PRICES: &str = "prices.imported.json";

impl EngineHandle {
    /// The address actually bound (the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    fn generation(&self) -> generation::Parts {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .parts()
    }

    /// Re-read every provider's model list now.
    pub async fn refresh_models(&self) {
        let g = self.generation();
        refresh_catalog(&g.providers, &g.catalog).await;
    }

    /// Read the config file again and apply it: new requests use it at once, requests in
    /// flight finish under the old one. On errors nothing changes and they are returned (with
    /// file, line and key). What a reload cannot change (the listen address, `storage`, `gpu`,
    /// `metrics`) needs a restart; the answer says so.
    pub async fn reload(&self) -> Result<ReloadOutcome, Vec<String>> {
        generation::request_reload(&self.shared).await
    }

    /// Stop accepting, let in-flight answers finish (up to a grace period), stop every task.
    pub async fn shutdown(self) {
        let _ = self.events.send(Event::ShuttingDown);
        self.cancel.cancel();
        self.tracker.close();
        if tokio::time::timeout(SHUTDOWN_GRACE, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("in-flight requests did not finish within the shutdown grace period");
        }
        // Every request has been recorded now: commit the ledger before returning.
        if let Some(store) = self.shared.store.clone() {
            let _ = tokio::task::spawn_blocking(move || store.close()).await;
        }
    }

    /// The ledger (prices, budgets, the database).
    pub fn ledger(&self) -> Arc<Ledger> {
        self.generation().ledger
    }

    /// The quick switch (default alias, local-only, pause), the same state the admin API
    /// changes.
    pub fn switch(&self) -> Arc<crate::switch::RoutingSwitch> {
        self.generation().switch
    }
}

/// Accept connections and serve HTTP/1.1 on each (hyper's own http1 server: no protocol
/// sniffing, no upgrades), until `stop`; connections then finish their in-flight request.
async fn serve_http1(
    listener: tokio::net::TcpListener,
    app: watch::Receiver<axum::Router>,
    stop: CancellationToken,
    tasks: TaskTracker,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let (tcp, _) = tokio::select! {
            _ = stop.cancelled() => break,
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // Streams are many small writes: without TCP_NODELAY, Nagle + delayed ACK hold each
        // chunk for ~40 ms.
        let _ = tcp.set_nodelay(true);
        // Each request takes the router current when it arrives: after a reload, keep-alive
        // connections serve the new config from their next request on.
        let app = app.clone();
        let service =
            hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let router = app.borrow().clone();
                tower::ServiceExt::oneshot(router, req.map(axum::body::Body::new))
            });
        let conn = hyper::server::conn::http1::Builder::new()
            // A client that opens a connection and never finishes its request head is dropped.
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .serve_connection(hyper_util::rt::TokioIo::new(tcp), service);
        let conn = graceful.watch(conn);
        tasks.spawn(async move {
            let _ = conn.await;
        });
    }
    drop(listener);
    graceful.shutdown().await;
}
