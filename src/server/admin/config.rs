//! The config as the admin API shows it (`GET /admin/api/config`: where it came from and the
//! settings a settings page shows — never a key) and `POST /admin/api/config/reload` (read the
//! file again and apply it; errors come back with file, line and key, and nothing changes).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::super::AppState;

pub(super) async fn show(State(s): State<Arc<AppState>>) -> Response {
    let c = &s.config;
    Json(json!({
        "origin": c.origin.to_string(),
        "file": matches!(c.origin, crate::config::ConfigOrigin::File(_)),
        "listen": c.server.listen.to_string(),
        "allowed_hosts": c.server.allowed_hosts,
        "database": s.ledger.store().map(|st| st.path().display().to_string()),
        "storage_error": s.storage_error,
        "cache": {
            "mode": c.cache.mode,
            "ttl_s": c.cache.ttl.as_secs(),
            "memory_bytes": c.cache.memory_bytes,
            "disk_bytes": c.cache.disk_bytes,
        },
        "health": {
            "enabled": c.health.enabled,
            "failures": c.health.breaker.failures,
            "open_for_s": c.health.breaker.open_for.as_secs_f64(),
            "probe_interval_s": c.health.probe_interval.map(|d| d.as_secs_f64()),
            "notify_every_s": c.health.notify_every.as_secs_f64(),
        },
        "providers": c.providers.iter().map(|p| json!({
            "name": p.name,
            "kind": p.kind.to_string(),
            "base_url": p.base_url,
            "key": p.key_source,
        })).collect::<Vec<_>>(),
        "aliases": c.aliases.len(),
        "budgets": c.budgets.len(),
    }))
    .into_response()
}

pub(super) async fn reload(State(s): State<Arc<AppState>>) -> Response {
    match crate::engine::send_reload(&s.reload).await {
        Ok(outcome) => Json(json!({"reloaded": true, "outcome": outcome})).into_response(),
        Err(errors) => (
            StatusCode::BAD_REQUEST,
            Json(json!({
                "error": {
                    "message": format!(
                        "the config was not reloaded (the running one stays): {}",
                        errors.join("; ")
                    ),
                    "type": "invalid_request_error",
                    "code": "config_invalid",
                    "param": null,
                },
                "errors": errors,
            })),
        )
            .into_response(),
    }
}

/// `GET /admin/api/preferences`: the faces' preferences (notification mutes, start at login).
pub(super) async fn preferences(State(s): State<Arc<AppState>>) -> Response {
    Json(s.prefs.get()).into_response()
}

/// `PUT /admin/api/preferences`: `{"notifications": {"provider": false}}` and/or
/// `{"autostart": true}`; only the fields given change.
pub(super) async fn set_preferences(
    State(s): State<Arc<AppState>>,
    body: axum::body::Bytes,
) -> Result<Response, super::super::ApiError> {
    let change: crate::prefs::PreferencesChange = serde_json::from_slice(&body).map_err(|e| {
        super::super::ApiError::bad_request(format!(
            "the body must be JSON like {{\"notifications\": {{\"provider\": false}}, \
                 \"autostart\": true}}: {e}"
        ))
    })?;
    s.prefs
        .set(change)
        .map(|p| Json(p).into_response())
        .map_err(|msg| {
            let mut e = super::super::ApiError::bad_request(msg);
            e.param = Some("notifications".into());
            e
        })
}
