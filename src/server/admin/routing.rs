//! The quick switch over the admin API: `GET /admin/api/models` (aliases with their routes,
//! each entry's circuit, locality and price; the current default and local-only mode) and
//! `PUT /admin/api/routing` (`{"default": "smart"}`, `{"default": null}` to go back to the
//! config file's, `{"local_only": true}`) — what the tray, the UI and `lodestar use` call.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::super::{ApiError, AppState};
use crate::ledger::Tokens;
use crate::switch::SwitchChange;

/// USD per million tokens of `provider/model` for input and output (None: unknown price).
fn rates(s: &AppState, provider: &str, model: &str) -> (Option<f64>, Option<f64>) {
    let per = |t: Tokens| s.ledger.price_of(provider, model, &t, Duration::ZERO);
    (
        per(Tokens {
            input: 1_000_000,
            ..Tokens::default()
        }),
        per(Tokens {
            output: 1_000_000,
            ..Tokens::default()
        }),
    )
}

pub(super) async fn models(State(s): State<Arc<AppState>>) -> Response {
    let state = s.switch.state();
    let aliases: Vec<Value> = s
        .config
        .aliases
        .iter()
        .map(|a| {
            let route: Vec<Value> = a
                .route
                .iter()
                .map(|t| {
                    let local = s.config.provider(&t.provider).is_some_and(|p| p.is_local());
                    let (input, output) = rates(&s, &t.provider, &t.model);
                    let context = context_of(&s, t);
                    json!({
                        "target": t.to_string(),
                        "provider": t.provider,
                        "model": t.model,
                        "local": local,
                        "circuit": s.breakers.state_of(t),
                        "provider_state": s.monitor.state(&t.provider),
                        "input_usd_per_mtok": input,
                        "output_usd_per_mtok": output,
                        "context_tokens": context.map(|(n, _)| n),
                        "context_source": context.map(|(_, from)| from),
                    })
                })
                .collect();
            json!({
                "name": a.name,
                "description": a.description,
                "fallback_alias": a.fallback_alias,
                "route": route,
            })
        })
        .collect();
    Json(json!({
        "default": state.default,
        "default_source": state.default_source,
        "config_default": s.config.routing.default,
        "local_only": state.local_only,
        "paused": state.paused,
        "aliases": aliases,
    }))
    .into_response()
}

/// A route entry's context window and where it came from: the config's `context_window`, the
/// context Ollama loaded it with (`/api/ps`), or the provider's model listing.
fn context_of(s: &AppState, t: &crate::config::Target) -> Option<(u64, &'static str)> {
    if let Some(n) = s
        .config
        .provider(&t.provider)
        .and_then(|p| p.context_window(&t.model))
    {
        return Some((n, "config"));
    }
    if let Some(n) = s.residency.context(&t.provider, &t.model) {
        return Some((n, "loaded"));
    }
    s.catalog
        .context(&t.provider, &t.model)
        .map(|n| (n, "listing"))
}

pub(super) async fn routing(State(s): State<Arc<AppState>>) -> Response {
    Json(s.switch.state()).into_response()
}

pub(super) async fn switch(
    State(s): State<Arc<AppState>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let change: SwitchChange = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!(
            "the body must be JSON like {{\"default\": \"ALIAS\"}} (null: the config file's \
             default), {{\"local_only\": true}} and/or {{\"paused\": true}}: {e}"
        ))
    })?;
    match s.switch.set(change) {
        Ok(state) => Ok(Json(state).into_response()),
        Err(e) => {
            let mut err = ApiError::bad_request(e.to_string());
            err.param = Some("default".into());
            Err(err)
        }
    }
}
