//! The engine's state as the admin API shows it: providers with their health, uptime and
//! loaded models (`/admin/api/status`), circuits and provider states (`/admin/api/health`),
//! GPUs local and remote (`/admin/api/gpu`), and a probe on demand
//! (`POST /admin/api/providers/{name}/probe`, the UI's "test connection").

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::super::{ApiError, AppState};
use crate::health::{ProviderHealth, Uptime};
use crate::store::now_ms;

/// Uptime by provider from the probe history, and availability by `provider/model` from the
/// ledger (both empty without a database).
struct History {
    providers: HashMap<String, Uptime>,
    models: HashMap<String, Uptime>,
    hours: HashMap<String, Vec<crate::health::HourProbes>>,
}

async fn uptimes(s: &AppState) -> History {
    match s.ledger.store() {
        Some(store) => {
            let now = now_ms();
            store
                .read(move |c| {
                    Ok(History {
                        providers: crate::health::uptime(c, now)?,
                        models: crate::health::model_availability(c, now)?,
                        hours: crate::health::uptime_hours(c, now)?,
                    })
                })
                .await
                .unwrap_or(History {
                    providers: HashMap::new(),
                    models: HashMap::new(),
                    hours: HashMap::new(),
                })
        }
        None => History {
            providers: HashMap::new(),
            models: HashMap::new(),
            hours: HashMap::new(),
        },
    }
}

fn with_uptime(h: ProviderHealth, history: &History) -> Value {
    let mut v = json!(h);
    v["uptime"] = match history.providers.get(&h.provider) {
        Some(u) => json!(u),
        None => json!(Uptime::default()),
    };
    v["uptime_hours"] = json!(history.hours.get(&h.provider).cloned().unwrap_or_default());
    if let Some(models) = v["models"].as_array_mut() {
        for m in models {
            let key = format!("{}/{}", h.provider, m["model"].as_str().unwrap_or_default());
            let a = history.models.get(&key).cloned().unwrap_or_default();
            m["availability"] = json!({"1h": a.h1, "24h": a.h24, "7d": a.d7});
        }
    }
    v
}

fn provider_healths(s: &AppState) -> Vec<ProviderHealth> {
    s.monitor.snapshot(s.providers.iter().map(|p| p.name()))
}

/// Circuits that are not cleanly closed, and every provider's state.
pub(super) async fn health(State(s): State<Arc<AppState>>) -> Response {
    let up = uptimes(&s).await;
    let providers: Vec<Value> = provider_healths(&s)
        .into_iter()
        .map(|h| with_uptime(h, &up))
        .collect();
    Json(json!({ "entries": s.breakers.snapshot(), "providers": providers })).into_response()
}

/// One screen of state (`lodestar status`): providers with their health, listings and, for
/// Ollama, the models loaded now with their VRAM; circuits; GPUs.
pub(super) async fn status(State(s): State<Arc<AppState>>) -> Response {
    use crate::providers::ProviderKind;
    let up = uptimes(&s).await;
    let mut healths: HashMap<String, ProviderHealth> = provider_healths(&s)
        .into_iter()
        .map(|h| (h.provider.clone(), h))
        .collect();
    let jobs = s.providers.iter().map(|p| {
        let catalog = s.catalog.clone();
        let residency = s.residency.clone();
        let health = healths.remove(p.name()).map(|h| with_uptime(h, &up));
        async move {
            let loaded = if p.kind() == ProviderKind::Ollama {
                let l = crate::providers::loaded_models(p).await;
                if let Ok(models) = &l {
                    residency.observe(p.name(), models);
                }
                Some(l)
            } else {
                None
            };
            let mut v = json!({
                "name": p.name(),
                "kind": p.kind().to_string(),
                "base_url": p.cfg.base_url,
                "local": crate::ledger::prices::is_local(&p.cfg),
                "models_listed": catalog.models(p.name()).len(),
                "listing_error": catalog.error(p.name()),
                "health": health,
            });
            match loaded {
                Some(Ok(models)) => v["loaded"] = json!(models),
                Some(Err(e)) => v["loaded_error"] = json!(e),
                None => {}
            }
            v
        }
    });
    let providers = futures_util::future::join_all(jobs).await;
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_s": s.started.elapsed().as_secs(),
        "providers": providers,
        "circuits": s.breakers.snapshot(),
        "gpu": s.gpu.get(),
        "remote_gpus": s.gpu.remote(),
    }))
    .into_response()
}

/// This machine's GPUs (`status`: ok / none / starting) and each remote agent's (`remote`).
pub(super) async fn gpu(State(s): State<Arc<AppState>>) -> Response {
    let mut v = json!(s.gpu.get());
    v["remote"] = json!(s.gpu.remote());
    // Model switches on the local Ollama servers, newest first.
    v["switches"] = json!(s.residency.recent());
    Json(v).into_response()
}

/// Probe one provider now; the outcome counts like a background probe's.
pub(super) async fn probe(
    State(s): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let Some(p) = s.providers.get(&name) else {
        let mut e = ApiError::bad_request(format!(
            "no provider `{name}`; configured: {}",
            s.providers
                .iter()
                .map(|p| p.name())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        e.status = StatusCode::NOT_FOUND;
        e.param = Some("name".into());
        return Err(e);
    };
    let Some(url) = p.cfg.probe.clone() else {
        let mut e = ApiError::bad_request(format!(
            "provider `{name}` has `probe: false`; set a probe path to test it"
        ));
        e.param = Some("probe".into());
        return Err(e);
    };
    let outcome = crate::health::probe::probe(p, &url, s.config.health.probe_timeout).await;
    s.monitor.probed(&name, outcome.clone());
    Ok(Json(json!({
        "provider": name,
        "probe": outcome,
        "state": s.monitor.state(&name),
    }))
    .into_response())
}

#[derive(Debug, serde::Deserialize)]
pub(super) struct UnloadBody {
    model: String,
}

/// Unload a model from an Ollama provider's memory now (`POST .../{name}/unload`, body
/// `{"model": "qwen2.5-coder:7b"}`): the tray's and the GPU page's "Unload".
pub(super) async fn unload(
    State(s): State<Arc<AppState>>,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let Some(p) = s.providers.get(&name) else {
        let mut e = ApiError::bad_request(format!("no provider `{name}`"));
        e.status = StatusCode::NOT_FOUND;
        return Err(e);
    };
    if p.kind() != crate::providers::ProviderKind::Ollama {
        return Err(ApiError::bad_request(format!(
            "provider `{name}` is not Ollama: only Ollama unloads models on request"
        )));
    }
    let b: UnloadBody = serde_json::from_slice(&body).map_err(|e| {
        let mut err = ApiError::bad_request(format!(
            "the body must be {{\"model\": \"NAME\"}} (a model `lodestar status` lists as loaded): {e}"
        ));
        err.param = Some("model".into());
        err
    })?;
    crate::providers::unload_model(p, &b.model)
        .await
        .map_err(|e| {
            let mut err = ApiError::bad_request(e);
            err.status = StatusCode::BAD_GATEWAY;
            err
        })?;
    tracing::info!(provider = %name, model = %b.model, "model unloaded on request");
    Ok(Json(json!({"unloaded": b.model, "provider": name})).into_response())
}
