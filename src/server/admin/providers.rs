//! Adding a provider from the UI: `POST /admin/api/providers/test` (the "test connection"
//! button: the provider as it would be configured, probed once, nothing saved) and
//! `POST /admin/api/providers` (its key into the OS keyring, one line added to the config file
//! with every comment kept, checked by the real loader first, then a reload). Errors name the
//! field they are about (`param`: name, kind, base_url, api_key), for the form to show them
//! next to it.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::super::{ApiError, AppState};
use crate::config::edit::{self, NewProvider};
use crate::config::{Config, ConfigErrors, ConfigOrigin};

/// The form's fields.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Form {
    name: String,
    kind: String,
    #[serde(default)]
    base_url: Option<String>,
    /// Never stored in the config file, never echoed.
    #[serde(default)]
    api_key: Option<String>,
}

pub(super) fn field_error(param: &'static str, message: impl Into<String>) -> ApiError {
    let mut e = ApiError::bad_request(message);
    e.param = Some(param.into());
    e
}

/// The form, read; the kind checked by the same parser the config uses.
fn read_form(body: &[u8]) -> Result<(NewProvider, Option<String>), ApiError> {
    let f: Form = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "the body must be JSON like {{\"name\": \"gpu-box\", \"kind\": \"openai-compatible\", \
             \"base_url\": \"http://gpu-box.lan:8000/v1\", \"api_key\": \"...\"}}: {e}"
        ))
    })?;
    let kind = serde_json::from_value(json!(f.kind)).map_err(|_| {
        field_error(
            "kind",
            format!(
                "unknown kind `{}`; use ollama, openai, openai-compatible or anthropic",
                f.kind
            ),
        )
    })?;
    let base_url = f
        .base_url
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty());
    let key = f.api_key.filter(|k| !k.trim().is_empty());
    let name = f.name.trim();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(field_error(
            "name",
            "give it a name of letters, digits, `-` and `_` (it is the `provider` in \
             `provider/model`)",
        ));
    }
    Ok((
        NewProvider {
            name: f.name.trim().to_string(),
            kind,
            base_url,
            keyring: None,
        },
        key,
    ))
}

/// Config errors about the new provider, as a field error (the first one).
fn config_error(name: &str, errors: &ConfigErrors) -> ApiError {
    let prefix = format!("providers.{name}");
    let mine = errors
        .0
        .iter()
        .find(|e| e.key == prefix || e.key.starts_with(&format!("{prefix}.")));
    match mine {
        Some(e) => {
            let param = match e.key.strip_prefix(&prefix).unwrap_or("") {
                ".base_url" => "base_url",
                ".kind" => "kind",
                "" | ".api_key_env" | ".api_key_keyring" | ".api_key" => "api_key",
                _ => "name",
            };
            field_error(param, e.msg.clone())
        }
        None => ApiError::bad_request(format!(
            "the config file has other problems; fix them first: {errors}"
        )),
    }
}

/// The provider alone, checked by the loader (its key from `key`, not from any store).
fn checked_alone(p: &NewProvider, key: Option<&str>) -> Result<Config, ApiError> {
    let mut line = format!("providers:\n  {}: {{ kind: {}", p.name, p.kind);
    if let Some(u) = &p.base_url {
        line.push_str(&format!(", base_url: {}", json!(u)));
    }
    if key.is_some() {
        line.push_str(", api_key_env: LODESTAR_FORM_KEY");
    }
    line.push_str(", discover_models: false }\n");
    let env = |v: &str| (v == "LODESTAR_FORM_KEY").then(|| key.unwrap_or_default().to_string());
    Config::from_yaml(&line, ConfigOrigin::File("the form".into()), &env)
        .map_err(|e| config_error(&p.name, &e))
}

pub(super) async fn test(
    State(s): State<Arc<AppState>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (p, key) = read_form(&body)?;
    let cfg = checked_alone(&p, key.as_deref())?;
    let providers = crate::providers::Providers::build(&cfg).map_err(ApiError::bad_request)?;
    let Some(provider) = providers.get(&p.name) else {
        return Err(ApiError::bad_request("the provider could not be built"));
    };
    let Some(url) = provider.cfg.probe.clone() else {
        return Err(ApiError::bad_request("this provider has no probe"));
    };
    let outcome = crate::health::probe::probe(provider, &url, s.config.health.probe_timeout).await;
    Ok(Json(json!({"ok": outcome.ok, "probe": outcome})).into_response())
}

pub(super) async fn add(State(s): State<Arc<AppState>>, body: Bytes) -> Result<Response, ApiError> {
    let (mut p, key) = read_form(&body)?;
    let path = config_path(&s)?;
    // The form alone first: a bad URL is reported before anything is stored.
    checked_alone(&p, key.as_deref())?;
    let text = std::fs::read_to_string(&path)
        .map_err(|e| ApiError::bad_request(format!("cannot read {}: {e}", path.display())))?;
    if let Some(k) = &key {
        let entry = format!("lodestar-{}", p.name);
        crate::secrets::keyring_set(&entry, k).map_err(|e| {
            field_error(
                "api_key",
                format!(
                    "{e}. Or leave the key out here and add `api_key_env: VAR` to the provider \
                     in {} yourself",
                    path.display()
                ),
            )
        })?;
        p.keyring = Some(entry);
    }
    let edited = edit::add_provider(&text, &p).map_err(|e| match e.field {
        Some(f) => field_error(f, e.message),
        None => ApiError::bad_request(e.message),
    })?;
    save_and_reload(&s, &path, &text, &edited, |e| config_error(&p.name, e))
        .await
        .map(|config| {
            (
                StatusCode::CREATED,
                Json(json!({"added": p.name, "config": config})),
            )
                .into_response()
        })
}

/// The config file `path`, or the refusal when the engine runs the embedded default.
pub(super) fn config_path(s: &AppState) -> Result<std::path::PathBuf, ApiError> {
    match &s.config.origin {
        ConfigOrigin::File(p) => Ok(p.clone()),
        ConfigOrigin::Embedded => Err(ApiError::bad_request(
            "Lodestar runs its embedded default config, so there is no file to edit; write a \
             config file (see lodestar.example.yaml) and start Lodestar with it",
        )),
    }
}

/// Check `edited` with the real loader, write it over `path`, reload; on a failed reload put
/// `original` back. Returns the file reloaded.
pub(super) async fn save_and_reload(
    s: &AppState,
    path: &std::path::Path,
    original: &str,
    edited: &str,
    on_errors: impl Fn(&ConfigErrors) -> ApiError,
) -> Result<String, ApiError> {
    Config::from_yaml(
        edited,
        ConfigOrigin::File(path.to_path_buf()),
        &crate::config::process_env,
    )
    .map_err(|e| on_errors(&e))?;
    edit::write_atomically(path, edited)
        .map_err(|e| ApiError::bad_request(format!("cannot write {}: {e}", path.display())))?;
    match crate::engine::send_reload(&s.reload).await {
        Ok(outcome) => Ok(outcome.config),
        Err(errors) => {
            // Put the file back as it was: the running config and the file agree again.
            let _ = edit::write_atomically(path, original);
            Err(ApiError::bad_request(format!(
                "the change was not applied: {}",
                errors.join("; ")
            )))
        }
    }
}
