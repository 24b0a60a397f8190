//! The engine's one broadcast channel of typed events, for the tray, notifications and the UI.
//! Senders never wait: with no subscriber an event is simply dropped.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::broadcast;

/// Something worth telling a face of the engine about. As JSON (`GET /admin/api/events`, one
/// Server-Sent Event each): `{"type": "provider", "data": {...}}`.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum Event {
    /// The proxy is accepting connections.
    Listening { addr: SocketAddr },
    /// Requests got their final answers (for streams: the stream ended): how many since the
    /// last such event. Coalesced (at most one per `ACTIVITY_EVERY`), so that a subscriber
    /// (the tray, a browser) is woken a few times a second under load, not once per request;
    /// each request's details are in the log, the metrics and the ledger.
    Requests(RequestActivity),
    /// Spend crossed a budget's soft threshold (once per threshold per period).
    BudgetThreshold(BudgetAlert),
    /// A budget's hard limit stopped (or downgraded) a request: once per period per budget
    /// (`threshold_pct` is the limit as a percentage of `usd`).
    BudgetLimit(BudgetAlert),
    /// A route entry's circuit opened (once per outage) or closed again.
    Circuit(CircuitChange),
    /// A provider went down, degraded or recovered (transitions only; at most one down or
    /// degraded event per provider per `health.notify_every`; a recovery only after one).
    Provider(ProviderChange),
    /// A local model could not be loaded (out of memory, runner crashed, not pulled): at most
    /// once per `provider/model` per `health.notify_every`. Routing fell back as usual.
    ModelLoadFailed(ModelLoadFailure),
    /// A provider's `on_down` command ran.
    OnDown(OnDownRun),
    /// The quick switch changed the default alias or local-only mode.
    Routing(crate::switch::SwitchState),
    /// The faces' preferences changed (notification mutes, start at login).
    Preferences(crate::prefs::Preferences),
    /// The config file was read again and applied.
    ConfigReloaded(crate::engine::ReloadOutcome),
    /// The engine is shutting down.
    ShuttingDown,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct CircuitChange {
    /// `provider/model`.
    pub target: String,
    pub state: crate::health::BreakerState,
    /// What made it open (redacted as logged).
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ProviderChange {
    pub provider: String,
    pub state: crate::health::ProviderState,
    pub previous: crate::health::ProviderState,
    /// Why it is down or degraded (redacted as logged).
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ModelLoadFailure {
    pub provider: String,
    pub model: String,
    /// The model server's words (`500: model requires more system memory ...`).
    pub error: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct OnDownRun {
    pub provider: String,
    pub command: String,
    /// It ran and exited 0.
    pub ok: bool,
    /// None: it could not start, was killed at its timeout, or ended by a signal.
    pub exit_code: Option<i32>,
    /// The end of its output (stdout and stderr), or why it could not run.
    pub output: String,
    pub took_ms: u64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct BudgetAlert {
    pub budget: String,
    /// The project the budget is for; None: every request.
    pub project: Option<String>,
    /// `day`, `week` or `month`.
    pub period: &'static str,
    /// The threshold crossed, in percent of `usd`.
    pub threshold_pct: f64,
    pub spent_usd: f64,
    pub usd: f64,
    /// When the period ends (ms since the epoch).
    pub resets_at_ms: i64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct RequestActivity {
    /// Requests finished since the previous `Requests` event.
    pub finished: u64,
}

/// The longest a finished request waits to be counted in a `Requests` event.
pub const ACTIVITY_EVERY: Duration = Duration::from_millis(200);

/// Counts finished requests and sends them as one `Requests` event per `ACTIVITY_EVERY`: the
/// first request of a quiet spell starts a timer; whatever finished until it fires goes out
/// together. Nothing runs while no request finishes.
pub(crate) struct Activity {
    events: broadcast::Sender<Event>,
    pending: AtomicU64,
}

impl Activity {
    pub(crate) fn new(events: broadcast::Sender<Event>) -> Arc<Activity> {
        Arc::new(Activity {
            events,
            pending: AtomicU64::new(0),
        })
    }

    /// One request finished.
    pub(crate) fn finished(self: &Arc<Self>) {
        if self.events.receiver_count() == 0 {
            return;
        }
        if self.pending.fetch_add(1, Ordering::AcqRel) == 0 {
            let me = self.clone();
            let Ok(rt) = tokio::runtime::Handle::try_current() else {
                me.flush();
                return;
            };
            rt.spawn(async move {
                tokio::time::sleep(ACTIVITY_EVERY).await;
                me.flush();
            });
        }
    }

    fn flush(&self) {
        let finished = self.pending.swap(0, Ordering::AcqRel);
        if finished > 0 {
            let _ = self
                .events
                .send(Event::Requests(RequestActivity { finished }));
        }
    }
}

/// Events kept for a slow subscriber before it starts missing some.
pub(crate) const EVENT_BUFFER: usize = 1024;
