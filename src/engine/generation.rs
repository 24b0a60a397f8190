//! A generation: everything the config makes — providers and their pools, the model catalog,
//! routing (the quick switch), the ledger's prices and budgets, the response cache, breakers
//! and provider health, and their background tasks (probes, catalog refresh). A reload builds a
//! new one from the re-read file and swaps the router to it; the old one's background tasks
//! stop, and its requests in flight finish under it.
//!
//! Owns building and swapping generations; must not serve requests itself.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::EngineError;
use crate::config::{Config, ConfigOrigin};
use crate::dispatch::Dispatcher;
use crate::events::Event;
use crate::ledger::{Budgets, Ledger, PriceTable, Pricer};
use crate::metrics::Metrics;
use crate::providers::{ModelCatalog, Providers, refresh_catalog};
use crate::server::{AppState, router};
use crate::store::Store;

/// How often provider model lists are refreshed.
const CATALOG_REFRESH: Duration = Duration::from_secs(300);

/// What lives as long as the engine, shared by every generation.
pub(crate) struct Shared {
    pub events: broadcast::Sender<Event>,
    pub tracker: TaskTracker,
    pub cancel: CancellationToken,
    pub store: Option<Arc<Store>>,
    pub storage_error: Option<String>,
    pub imported: Option<PriceTable>,
    pub metrics: Arc<Metrics>,
    pub gpu: crate::health::gpu::GpuState,
    pub log_bodies: bool,
    pub started: Instant,
    pub reload: mpsc::Sender<ReloadRequest>,
    /// The faces' preferences (notifications, start at login).
    pub prefs: Arc<crate::prefs::FacePrefs>,
    /// Which models the Ollama servers hold and the switches seen (kept across reloads).
    pub residency: Arc<crate::providers::Residency>,
}

pub(crate) type ReloadRequest = oneshot::Sender<Result<ReloadOutcome, Vec<String>>>;

/// What a reload did.
#[derive(Debug, Clone, Serialize)]
pub struct ReloadOutcome {
    /// The file read.
    pub config: String,
    /// Settings that changed in the file but apply only after a restart.
    pub needs_restart: Vec<String>,
}

pub(crate) struct Generation {
    pub state: Arc<AppState>,
    cancel: CancellationToken,
}

/// The handles `EngineHandle` gives out, taken from the current generation.
pub(crate) struct Parts {
    pub catalog: Arc<ModelCatalog>,
    pub providers: Arc<Providers>,
    pub ledger: Arc<Ledger>,
    pub switch: Arc<crate::switch::RoutingSwitch>,
}

impl Generation {
    pub fn parts(&self) -> Parts {
        Parts {
            catalog: self.state.catalog.clone(),
            providers: self.state.providers.clone(),
            ledger: self.state.ledger.clone(),
            switch: self.state.switch.clone(),
        }
    }
}

/// Build a generation from `config` and start its background tasks.
pub(crate) fn build(
    shared: &Arc<Shared>,
    config: Arc<Config>,
    paused: bool,
) -> Result<Generation, EngineError> {
    let cancel = shared.cancel.child_token();
    let tracker = &shared.tracker;
    let events = &shared.events;
    let providers = Arc::new(Providers::build(&config).map_err(EngineError::Providers)?);
    let catalog = Arc::new(ModelCatalog::default());
    let (ready_tx, ready_rx) = watch::channel(false);
    let store = shared.store.clone();
    let cache = crate::cache::Cache::new(config.cache.clone(), store.clone());
    let ledger = Arc::new(Ledger::new(
        store.clone(),
        Pricer::new(&config.providers, shared.imported.as_ref()),
        Budgets::new(&config.budgets, events.clone(), store.clone()),
        crate::ledger::quota::ProjectQuotas::new(&config.projects, store.as_deref()),
        shared.metrics.clone(),
        tracker.clone(),
    ));
    let breakers = Arc::new(crate::health::Breakers::new(
        config.health.breaker,
        events.clone(),
    ));
    let monitor = Arc::new(crate::health::Monitor::new(
        &config,
        events.clone(),
        store.clone(),
        shared.metrics.clone(),
        crate::health::OnDownRunner::new(&config, tracker.clone(), events.clone()),
    ));
    if let Some(every) = config.health.probe_interval {
        let (p, m, stop) = (providers.clone(), monitor.clone(), cancel.clone());
        let timeout = config.health.probe_timeout;
        tracker.spawn(crate::health::probe::run(p, m, every, timeout, stop));
    }
    let switch = Arc::new(crate::switch::RoutingSwitch::new(
        config.clone(),
        store,
        events.clone(),
    ));
    if paused {
        let _ = switch.set(crate::switch::SwitchChange {
            paused: Some(true),
            ..Default::default()
        });
    }
    let residency = shared.residency.clone();
    let state = Arc::new(AppState {
        dispatcher: Dispatcher::new(
            providers.clone(),
            config.routing.max_retry_wait,
            breakers.clone(),
            monitor.clone(),
            crate::health::LoadFailures::new(&config, events.clone()),
            residency.clone(),
        ),
        residency,
        breakers,
        monitor,
        switch,
        gpu: shared.gpu.clone(),
        config,
        catalog: catalog.clone(),
        catalog_ready: ready_rx,
        events: events.clone(),
        activity: crate::events::Activity::new(events.clone()),
        tracker: tracker.clone(),
        prefs: shared.prefs.clone(),
        log_bodies: shared.log_bodies,
        started: shared.started,
        providers: providers.clone(),
        ledger,
        metrics: shared.metrics.clone(),
        cache,
        storage_error: shared.storage_error.clone(),
        reload: shared.reload.clone(),
    });
    let stop = cancel.clone();
    tracker.spawn(async move {
        loop {
            refresh_catalog(&providers, &catalog).await;
            let _ = ready_tx.send(true);
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(CATALOG_REFRESH) => {}
            }
        }
    });
    Ok(Generation { state, cancel })
}

/// Ask the engine's reloader to reload, and wait for its answer.
pub(crate) async fn request_reload(shared: &Shared) -> Result<ReloadOutcome, Vec<String>> {
    send_reload(&shared.reload).await
}

pub(crate) async fn send_reload(
    tx: &mpsc::Sender<ReloadRequest>,
) -> Result<ReloadOutcome, Vec<String>> {
    let (answer, wait) = oneshot::channel();
    if tx.send(answer).await.is_err() {
        return Err(vec!["the engine is shutting down".into()]);
    }
    wait.await
        .unwrap_or_else(|_| Err(vec!["the engine is shutting down".into()]))
}

/// Serve reload requests one at a time until the engine stops.
pub(crate) async fn reloader(
    shared: Arc<Shared>,
    current: Arc<RwLock<Generation>>,
    router_tx: watch::Sender<axum::Router>,
    mut requests: mpsc::Receiver<ReloadRequest>,
) {
    loop {
        let answer = tokio::select! {
            _ = shared.cancel.cancelled() => return,
            r = requests.recv() => match r {
                Some(a) => a,
                None => return,
            },
        };
        let _ = answer.send(reload(&shared, &current, &router_tx));
    }
}

fn reload(
    shared: &Arc<Shared>,
    current: &RwLock<Generation>,
    router_tx: &watch::Sender<axum::Router>,
) -> Result<ReloadOutcome, Vec<String>> {
    let old = current
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .state
        .clone();
    let ConfigOrigin::File(path) = &old.config.origin else {
        return Err(vec![
            "this engine runs the embedded default config: there is no file to reload; write \
             one (see lodestar.example.yaml) and start Lodestar with it"
                .into(),
        ]);
    };
    let config = Config::from_path(path, &crate::config::process_env)
        .map_err(|e| e.0.iter().map(|x| x.to_string()).collect::<Vec<_>>())?;
    let mut needs_restart = Vec::new();
    let was = &old.config;
    if config.server.listen != was.server.listen {
        needs_restart.push("server.listen".to_string());
    }
    if config.storage.enabled != was.storage.enabled || config.storage.path != was.storage.path {
        needs_restart.push("storage".to_string());
    }
    if config.gpu.enabled != was.gpu.enabled
        || config.gpu.interval != was.gpu.interval
        || config.gpus.len() != was.gpus.len()
    {
        needs_restart.push("gpu / gpus".to_string());
    }
    if config.metrics != was.metrics {
        needs_restart.push("metrics".to_string());
    }
    let paused = old.switch.paused();
    let next = build(shared, Arc::new(config), paused).map_err(|e| vec![e.to_string()])?;
    let _ = router_tx.send(router(next.state.clone()));
    let previous = std::mem::replace(
        &mut *current.write().unwrap_or_else(|e| e.into_inner()),
        next,
    );
    // Its probes and catalog refresh stop; its requests in flight finish under it.
    previous.cancel.cancel();
    let outcome = ReloadOutcome {
        config: path.display().to_string(),
        needs_restart,
    };
    tracing::info!(config = %outcome.config, "config reloaded");
    let _ = shared.events.send(Event::ConfigReloaded(outcome.clone()));
    Ok(outcome)
}
