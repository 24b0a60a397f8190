//! `GET /health`: liveness for scripts, load balancers and the desktop app's attach check.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::AppState;

pub(super) async fn health(State(s): State<Arc<AppState>>) -> Json<Value> {
    let providers: Vec<Value> = s
        .providers
        .iter()
        .map(|p| {
            json!({
                "name": p.name(),
                "kind": p.kind().to_string(),
                "models_listed": s.catalog.models(p.name()).len(),
                "listing_error": s.catalog.error(p.name()),
            })
        })
        .collect();
    Json(json!({
        "status": "ok",
        "service": "lodestar",
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_s": s.started.elapsed().as_secs(),
        "config": s.config.origin.to_string(),
        "providers": providers,
        "gpu": match s.gpu.get() {
            crate::health::gpu::GpuStatus::Starting => json!("starting"),
            crate::health::gpu::GpuStatus::None { reason } => json!({"none": reason}),
            crate::health::gpu::GpuStatus::Ok { gpus } => json!(gpus.len()),
            crate::health::gpu::GpuStatus::Unreachable { reason } => json!({"none": reason}),
        },
        "storage": match s.ledger.store() {
            Some(st) => json!({
                "ok": true,
                "path": st.path().display().to_string(),
                "lost_writes": st.lost_writes(),
            }),
            None => json!({"ok": false, "error": s.storage_error}),
        },
    }))
}
