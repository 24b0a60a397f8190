//! OpenAI-format endpoints: `/v1/chat/completions`, `/v1/completions`, `/v1/embeddings`,
//! `/v1/models`.

use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::proxy::proxy;
use super::{ApiError, AppState};
use crate::providers::Endpoint;

pub(super) async fn chat_completions(State(s): State<Arc<AppState>>, req: Request) -> Response {
    proxy(s, Endpoint::ChatCompletions, req).await
}

pub(super) async fn completions(State(s): State<Arc<AppState>>, req: Request) -> Response {
    proxy(s, Endpoint::Completions, req).await
}

pub(super) async fn responses(State(s): State<Arc<AppState>>, req: Request) -> Response {
    proxy(s, Endpoint::Responses, req).await
}

pub(super) async fn embeddings(State(s): State<Arc<AppState>>, req: Request) -> Response {
    proxy(s, Endpoint::Embeddings, req).await
}

/// Every model a client can ask for: aliases, then `provider/model` entries.
fn model_entries(s: &AppState) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut push = |id: String, owner: &str| {
        if seen.insert(id.clone()) {
            out.push(json!({"id": id, "object": "model", "created": 0, "owned_by": owner}));
        }
    };
    push("auto".into(), "lodestar");
    for a in &s.config.aliases {
        push(a.name.clone(), "lodestar");
    }
    for p in &s.config.providers {
        let routed = s
            .config
            .aliases
            .iter()
            .flat_map(|a| a.route.iter())
            .filter(|t| t.provider == p.name)
            .map(|t| t.model.clone());
        let all: Vec<String> = p
            .models
            .iter()
            .cloned()
            .chain(routed)
            .chain(s.catalog.models(&p.name))
            .collect();
        for m in all {
            push(format!("{}/{m}", p.name), &p.name);
        }
    }
    out
}

pub(super) async fn list_models(State(s): State<Arc<AppState>>) -> Response {
    axum::Json(json!({"object": "list", "data": model_entries(&s)})).into_response()
}

pub(super) async fn get_model(State(s): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    match model_entries(&s)
        .into_iter()
        .find(|m| m["id"] == id.as_str())
    {
        Some(m) => axum::Json(m).into_response(),
        None => ApiError {
            status: StatusCode::NOT_FOUND,
            kind: "invalid_request_error",
            code: Some("model_not_found"),
            param: Some("model".into()),
            message: format!("model `{id}` is not known; GET /v1/models lists them"),
        }
        .into_response(),
    }
}

pub(super) async fn not_found(uri: axum::http::Uri) -> Response {
    ApiError {
        status: StatusCode::NOT_FOUND,
        kind: "invalid_request_error",
        code: Some("unknown_url"),
        param: None,
        message: format!(
            "no endpoint at {}; Lodestar serves /v1/chat/completions, /v1/messages, /v1/completions, \
             /v1/embeddings, /v1/models and /health",
            uri.path()
        ),
    }
    .into_response()
}
