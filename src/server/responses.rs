//! Responses API state for translated routes: `previous_response_id` expanded from the
//! response store into the full conversation, responses Lodestar produced kept (unless the
//! request says `store: false`), and `GET`/`DELETE /v1/responses/{id}` and
//! `GET /v1/responses/{id}/input_items` over them. Stored responses belong to the project that
//! made them. Must not translate: the expanded request is an ordinary Responses request.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, AppState};
use crate::router::RouteDecision;
use crate::store::{StoredResponse, now_ms};

/// The fields this module reads; the rest of the body is skipped, not parsed.
#[derive(Deserialize)]
struct Head<'a> {
    #[serde(borrow, default)]
    previous_response_id: Option<&'a str>,
    #[serde(default)]
    store: Option<bool>,
    #[serde(borrow, default)]
    input: Option<&'a serde_json::value::RawValue>,
}

/// What the request path does with a Responses request.
pub(super) struct Prepared {
    /// The body to send instead of the client's (the chain expanded into `input`).
    pub body: Option<Bytes>,
    /// Keep the answer: the request's whole input (a JSON array, as text), for the next turn.
    pub keep: Option<String>,
}

fn not_found(id: &str, param: Option<&str>) -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        kind: "invalid_request_error",
        code: Some(if param.is_some() {
            "previous_response_not_found"
        } else {
            "response_not_found"
        }),
        param: param.map(str::to_string),
        message: match param {
            Some(_) => format!(
                "Previous response with id '{id}' not found. Lodestar keeps the responses it \
                 translated for `storage.responses.max_age` (unless they were sent with \
                 `store: false`); send the whole conversation in `input` instead"
            ),
            None => format!("Response with id '{id}' not found."),
        },
    }
}

fn storage_off(s: &AppState) -> ApiError {
    ApiError {
        status: StatusCode::SERVICE_UNAVAILABLE,
        kind: "storage_unavailable",
        code: Some("storage_unavailable"),
        param: Some("previous_response_id".into()),
        message: format!(
            "Lodestar's response store is not available ({}); send the whole conversation in \
             `input` instead",
            s.storage_error.as_deref().unwrap_or("no database")
        ),
    }
}

/// A stored response's record: `{"input": [...], "response": {...}}`.
fn record(stored: &StoredResponse) -> Option<Value> {
    serde_json::from_slice(&stored.body).ok()
}

/// The items a next turn continues from: the stored input, then the response's output.
fn chain_items(rec: &Value) -> Vec<Value> {
    let mut items: Vec<Value> = rec["input"].as_array().cloned().unwrap_or_default();
    items.extend(
        rec["response"]["output"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
    );
    items
}

/// A request's `input` as a list of items (a string is one user message).
fn input_items(input: Option<&serde_json::value::RawValue>) -> Vec<Value> {
    match input.and_then(|r| serde_json::from_str::<Value>(r.get()).ok()) {
        Some(Value::String(s)) => vec![json!({"type": "message", "role": "user", "content": s})],
        Some(Value::Array(a)) => a,
        _ => Vec::new(),
    }
}

/// `input_items` as JSON text, copied from the request without building a tree.
fn input_items_text(input: Option<&serde_json::value::RawValue>) -> String {
    let Some(raw) = input.map(|r| r.get().trim()) else {
        return "[]".into();
    };
    if raw.starts_with('[') {
        raw.to_string()
    } else if raw.starts_with('"') {
        format!(r#"[{{"type":"message","role":"user","content":{raw}}}]"#)
    } else {
        "[]".into()
    }
}

/// Look up `previous_response_id` and expand it; decide whether the answer is kept.
pub(super) async fn prepare(
    s: &AppState,
    project: &str,
    body: &Bytes,
    decision: &RouteDecision,
) -> Result<Prepared, ApiError> {
    let head: Head<'_> = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the request body is not valid JSON: {e}")))?;
    let keep = head.store != Some(false);
    let Some(prev) = head.previous_response_id else {
        return Ok(Prepared {
            body: None,
            keep: keep.then(|| input_items_text(head.input)),
        });
    };
    let Some(store) = s.ledger.store() else {
        return Err(storage_off(s));
    };
    let newer_than = now_ms() - s.config.storage.responses.max_age.as_millis() as i64;
    let found = store
        .get_response(prev, newer_than)
        .map_err(|e| ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            kind: "internal_error",
            code: None,
            param: None,
            message: e.to_string(),
        })?
        .filter(|r| r.project == project)
        .and_then(|r| record(&r));
    let Some(rec) = found else {
        // Not one of ours: an upstream that keeps its own responses may know it.
        let native = decision.targets.first().is_some_and(|t| {
            s.config
                .provider(&t.provider)
                .is_some_and(|p| p.responses_native)
        });
        if native {
            return Ok(Prepared {
                body: None,
                keep: None,
            });
        }
        return Err(not_found(prev, Some("previous_response_id")));
    };
    let mut items = chain_items(&rec);
    items.extend(input_items(head.input));
    let mut full: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the request body is not valid JSON: {e}")))?;
    let items = Value::Array(items);
    let keep = keep.then(|| items.to_string());
    if let Some(o) = full.as_object_mut() {
        o.remove("previous_response_id");
        o.insert("input".into(), items);
    }
    Ok(Prepared {
        body: Some(Bytes::from(full.to_string())),
        keep,
    })
}

/// Keep a translated answer for `previous_response_id` and `GET /v1/responses/{id}`:
/// `input` the request's items (JSON text), `response` the response object as sent (JSON).
/// The record is put together as text: nothing is parsed again.
pub(super) fn keep(s: &AppState, project: &str, id: &str, input: &str, response: &[u8]) {
    let Some(store) = s.ledger.store() else {
        return;
    };
    let mut body = Vec::with_capacity(input.len() + response.len() + 24);
    body.extend_from_slice(br#"{"input":"#);
    body.extend_from_slice(input.as_bytes());
    body.extend_from_slice(br#","response":"#);
    body.extend_from_slice(response);
    body.push(b'}');
    store.put_response(StoredResponse {
        id: id.to_string(),
        created_ms: now_ms(),
        project: project.to_string(),
        body,
    });
}

async fn lookup(s: &AppState, headers: &HeaderMap, id: &str) -> Result<Value, ApiError> {
    let Some(store) = s.ledger.store().cloned() else {
        return Err(not_found(id, None));
    };
    let project = super::proxy::project_of(headers);
    let newer_than = now_ms() - s.config.storage.responses.max_age.as_millis() as i64;
    let id_owned = id.to_string();
    let found = tokio::task::spawn_blocking(move || store.get_response(&id_owned, newer_than))
        .await
        .ok()
        .and_then(Result::ok)
        .flatten();
    found
        .filter(|r| r.project == project)
        .and_then(|r| record(&r))
        .ok_or_else(|| not_found(id, None))
}

pub(super) async fn get(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(id) = id.strip_suffix("/input_items") {
        return match lookup(&s, &headers, id).await {
            Ok(rec) => {
                let items: Vec<Value> = rec["input"].as_array().cloned().unwrap_or_default();
                let first = items.first().and_then(|i| i.get("id")).cloned();
                let last = items.last().and_then(|i| i.get("id")).cloned();
                Json(json!({"object": "list", "data": items, "first_id": first,
                            "last_id": last, "has_more": false}))
                .into_response()
            }
            Err(e) => e.into_response(),
        };
    }
    match lookup(&s, &headers, &id).await {
        Ok(rec) => Json(rec["response"].clone()).into_response(),
        Err(e) => e.into_response(),
    }
}

pub(super) async fn delete(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(e) = lookup(&s, &headers, &id).await {
        return e.into_response();
    }
    if let Some(store) = s.ledger.store() {
        store.delete_response(&id);
    }
    Json(json!({"id": id, "object": "response.deleted", "deleted": true})).into_response()
}
