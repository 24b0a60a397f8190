//! Editing aliases from the UI's Models page: `POST /admin/api/aliases` (`{name, route}`: a new
//! alias) and `PUT /admin/api/aliases/{name}` (`{route}`: its entries, in fallback order). The
//! config file is edited line by line (comments kept), checked by the real loader, written, and
//! the engine reloads. Errors carry `param` = `name` or `route`.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::super::{ApiError, AppState};
use super::providers::{config_path, field_error, save_and_reload};
use crate::config::ConfigErrors;
use crate::config::edit;

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AliasBody {
    #[serde(default)]
    name: Option<String>,
    route: Vec<String>,
}

fn body(b: &[u8]) -> Result<AliasBody, ApiError> {
    let a: AliasBody = serde_json::from_slice(b).map_err(|e| {
        ApiError::bad_request(format!(
            "the body must be JSON like {{\"name\": \"fast\", \"route\": [\"local/qwen2.5-coder:7b\", \
             \"openai/gpt-4o-mini\"]}}: {e}"
        ))
    })?;
    if a.route.is_empty() {
        return Err(field_error(
            "route",
            "a route needs at least one entry (`provider/model`), tried in order",
        ));
    }
    Ok(a)
}

/// The loader's complaints about alias `name`, on the route field when they are about it.
fn alias_error(name: &str, errors: &ConfigErrors) -> ApiError {
    let prefix = format!("models.{name}");
    match errors
        .0
        .iter()
        .find(|e| e.key == prefix || e.key.starts_with(&format!("{prefix}.")))
    {
        Some(e) if e.key.contains(".route") => field_error("route", e.msg.clone()),
        Some(e) => field_error("name", e.msg.clone()),
        None => ApiError::bad_request(format!(
            "the config file has other problems; fix them first: {errors}"
        )),
    }
}

fn edit_error(e: edit::EditError) -> ApiError {
    match e.field {
        Some(f) => field_error(f, e.message),
        None => ApiError::bad_request(e.message),
    }
}

pub(super) async fn add(State(s): State<Arc<AppState>>, b: Bytes) -> Result<Response, ApiError> {
    let a = body(&b)?;
    let name = a.name.clone().unwrap_or_default().trim().to_string();
    let path = config_path(&s)?;
    let text = std::fs::read_to_string(&path)
        .map_err(|e| ApiError::bad_request(format!("cannot read {}: {e}", path.display())))?;
    let edited = edit::add_alias(&text, &name, &a.route).map_err(edit_error)?;
    let config = save_and_reload(&s, &path, &text, &edited, |e| alias_error(&name, e)).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"alias": name, "route": a.route, "config": config})),
    )
        .into_response())
}

pub(super) async fn set_route(
    State(s): State<Arc<AppState>>,
    Path(name): Path<String>,
    b: Bytes,
) -> Result<Response, ApiError> {
    let a = body(&b)?;
    let path = config_path(&s)?;
    let text = std::fs::read_to_string(&path)
        .map_err(|e| ApiError::bad_request(format!("cannot read {}: {e}", path.display())))?;
    let edited = edit::set_alias_route(&text, &name, &a.route).map_err(edit_error)?;
    let config = save_and_reload(&s, &path, &text, &edited, |e| alias_error(&name, e)).await?;
    Ok(Json(json!({"alias": name, "route": a.route, "config": config})).into_response())
}
