//! HTTP front. One file per endpoint family (`openai.rs`, `anthropic.rs`) over the shared proxy
//! path (`proxy.rs`); errors become the client's dialect in `error.rs`.
//!
//! Layer order (outermost first), written once here:
//! 1. no middleware: a disabled layer should cost nothing, and the proxy handlers read the body
//!    themselves (limit `BODY_LIMIT`, 64 MiB);
//! 2. the handler, which assigns the request id, routes, dispatches, and logs one line when
//!    the answer ends (for streams: when the last byte went out or the client left).
//!
//! Must not decide routes (`router`) or talk to upstreams (`dispatch`).

mod admin;
mod anthropic;
mod cached;
mod error;
mod health;
mod openai;
mod peek;
mod proxy;
mod responses;
mod ui;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use tokio::sync::{broadcast, watch};

use crate::config::Config;
use crate::dispatch::Dispatcher;
use crate::events::Event;
use crate::providers::{ModelCatalog, Providers};

pub(crate) use error::ApiError;
pub(crate) use peek::with_model;

/// What every handler shares.
pub(crate) struct AppState {
    pub config: Arc<Config>,
    pub catalog: Arc<ModelCatalog>,
    /// Becomes true when the first model listing finished (bare model names need it).
    pub catalog_ready: watch::Receiver<bool>,
    pub dispatcher: Dispatcher,
    pub events: broadcast::Sender<Event>,
    /// The models each Ollama server holds, as last seen, and the switches between them.
    pub residency: Arc<crate::providers::Residency>,
    /// The faces' preferences (notifications, start at login).
    pub prefs: Arc<crate::prefs::FacePrefs>,
    /// The engine's tasks (shutdown waits for them).
    pub tracker: tokio_util::task::TaskTracker,
    /// Finished requests, coalesced into `Event::Requests`.
    pub activity: Arc<crate::events::Activity>,
    pub log_bodies: bool,
    pub started: Instant,
    pub providers: Arc<Providers>,
    pub ledger: Arc<crate::ledger::Ledger>,
    pub metrics: Arc<crate::metrics::Metrics>,
    pub cache: Arc<crate::cache::Cache>,
    pub breakers: Arc<crate::health::Breakers>,
    pub monitor: Arc<crate::health::Monitor>,
    /// The default alias and local-only mode as switched at run time; routing reads this.
    pub switch: Arc<crate::switch::RoutingSwitch>,
    pub gpu: crate::health::gpu::GpuState,
    /// Why the database could not be opened, if it could not.
    pub storage_error: Option<String>,
    /// Where `POST /admin/api/config/reload` asks the engine to reload.
    pub reload: tokio::sync::mpsc::Sender<crate::engine::ReloadRequestPub>,
}

pub(crate) fn router(state: Arc<AppState>) -> Router {
    // Each path twice, with and without `/v1` (some clients use the server root as their base
    // URL); routes rather than `nest`, which would rewrite every request's URI.
    let mut app = Router::new();
    for prefix in ["/v1", ""] {
        app = app
            .route(
                &format!("{prefix}/chat/completions"),
                post(openai::chat_completions),
            )
            .route(&format!("{prefix}/completions"), post(openai::completions))
            .route(&format!("{prefix}/embeddings"), post(openai::embeddings))
            .route(&format!("{prefix}/messages"), post(anthropic::messages))
            .route(&format!("{prefix}/responses"), post(openai::responses))
            .route(
                &format!("{prefix}/responses/{{*id}}"),
                get(responses::get).delete(responses::delete),
            )
            .route(
                &format!("{prefix}/messages/count_tokens"),
                post(anthropic::count_tokens),
            )
            .route(&format!("{prefix}/models"), get(openai::list_models))
            .route(&format!("{prefix}/models/{{*id}}"), get(openai::get_model));
    }
    app.route("/health", get(health::health))
        .merge(admin::routes(state.clone()))
        .fallback(openai::not_found)
        // The proxy handlers read their own bodies with BODY_LIMIT.
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

/// Header names the request path reads or writes, parsed once (a `&str` name is parsed and
/// validated on every lookup).
pub(crate) mod names {
    use axum::http::HeaderName;
    pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
    pub static X_LODESTAR_ROUTE: HeaderName = HeaderName::from_static("x-lodestar-route");
    pub static X_LODESTAR_CACHE: HeaderName = HeaderName::from_static("x-lodestar-cache");
    pub static X_LODESTAR_PROJECT: HeaderName = HeaderName::from_static("x-lodestar-project");
    pub static X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");
}

/// The largest request body accepted: long contexts and inline images are large.
pub(crate) const BODY_LIMIT: usize = 64 * 1024 * 1024;

static REQUEST_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The client's `x-request-id` if it is sane, else a new one (time + counter: unique per
/// process, sortable, no RNG on the hot path).
pub(crate) fn request_id(headers: &HeaderMap) -> String {
    if let Some(v) = headers
        .get(&names::X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        && !v.is_empty()
        && v.len() <= 128
        && v.bytes().all(|b| b.is_ascii_graphic())
    {
        return v.to_string();
    }
    unique_id("req_")
}

/// `prefix` and then a string unique within this process run and sortable, for ids Lodestar
/// makes itself: the process's start time and id, read once (getpid is a syscall), then a
/// counter in at least 8 hex digits.
pub(crate) fn unique_id(prefix: &str) -> String {
    static START: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let start = START.get_or_init(|| {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        format!("{ms:x}{:06x}", std::process::id() & 0xff_ffff)
    });
    let n = REQUEST_COUNTER.fetch_add(1, Ordering::Relaxed);
    let digits = (16 - n.leading_zeros() as usize / 4).max(8);
    let mut id = String::with_capacity(prefix.len() + start.len() + digits);
    id.push_str(prefix);
    id.push_str(start);
    for i in (0..digits).rev() {
        id.push(char::from(
            b"0123456789abcdef"[((n >> (i * 4)) & 0xf) as usize],
        ));
    }
    id
}
