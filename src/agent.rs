//! `lodestar agent`: this machine's GPUs over HTTP, for a Lodestar on another machine (the
//! common setup: a GPU box on the LAN, Lodestar on a laptop with `gpus: [{ agent_url }]`).
//! `GET /gpu` answers the same JSON as `/admin/api/gpu` (`status`: ok with `gpus`, or none
//! with the reason); `GET /metrics` the `lodestar_gpu_*` gauges in Prometheus text format.
//!
//! Owns the agent's server and its sampler; read-only, no config file, no database.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::health::gpu::{self, GpuSource, GpuState};
use crate::metrics::Metrics;

struct AgentState {
    gpu: GpuState,
    metrics: Metrics,
}

/// A running agent.
pub struct AgentHandle {
    addr: SocketAddr,
    cancel: CancellationToken,
    tracker: TaskTracker,
}

impl AgentHandle {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stop serving and sampling; returns once both have ended.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }
}

/// Serve `source`'s readings (taken every `interval`) on `listener`.
pub fn start(
    listener: tokio::net::TcpListener,
    source: Arc<dyn GpuSource>,
    interval: Duration,
) -> std::io::Result<AgentHandle> {
    let addr = listener.local_addr()?;
    let cancel = CancellationToken::new();
    let tracker = TaskTracker::new();
    let state = Arc::new(AgentState {
        gpu: GpuState::default(),
        metrics: Metrics::new(),
    });
    tracker.spawn(gpu::run(
        source,
        state.gpu.clone(),
        interval,
        cancel.clone(),
    ));
    let app = Router::new()
        .route(
            "/",
            get(|| async { "lodestar agent: GET /gpu (JSON), GET /metrics (Prometheus)\n" }),
        )
        .route("/gpu", get(gpu_json))
        .route("/metrics", get(metrics))
        .with_state(state);
    let stop = cancel.clone();
    tracker.spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await;
    });
    Ok(AgentHandle {
        addr,
        cancel,
        tracker,
    })
}

async fn gpu_json(State(s): State<Arc<AgentState>>) -> impl IntoResponse {
    Json(s.gpu.get())
}

async fn metrics(State(s): State<Arc<AgentState>>) -> impl IntoResponse {
    for (host, g) in s.gpu.all() {
        s.metrics.set_gpus(&host, std::slice::from_ref(&g));
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.render(),
    )
}
