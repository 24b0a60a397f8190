//! The admin API client: one function per endpoint, each answering the `types` it reads or
//! an `ApiError` that says what went wrong. Same origin as the page, so no base URL.

use gloo_net::http::{Request, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::types::{
    ApiError, Budgets, CacheInfo, GpuReport, Models, Preferences, PreferencesChange, ProjectSaved,
    ProjectSettings, Projects, Requests, Routing, RoutingChange, Status, Summary, Timeseries,
};

async fn read<T: DeserializeOwned>(
    path: &str,
    resp: Result<Response, gloo_net::Error>,
) -> Result<T, ApiError> {
    let resp = resp.map_err(|e| ApiError::network(path, &e.to_string()))?;
    let status = resp.status();
    let text = resp
        .text()
        .await
        .map_err(|e| ApiError::network(path, &e.to_string()))?;
    if !(200..300).contains(&status) {
        return Err(ApiError::from_response(path, status, &text));
    }
    serde_json::from_str(&text).map_err(|e| ApiError::decode(path, &e.to_string()))
}

pub async fn get<T: DeserializeOwned>(path: &str) -> Result<T, ApiError> {
    let resp = Request::get(path)
        .header("accept", "application/json")
        .send()
        .await;
    read(path, resp).await
}

pub async fn put<B: Serialize, T: DeserializeOwned>(path: &str, body: &B) -> Result<T, ApiError> {
    let req = Request::put(path)
        .header("accept", "application/json")
        .json(body)
        .map_err(|e| ApiError::network(path, &e.to_string()))?;
    read(path, req.send().await).await
}

pub async fn post<B: Serialize, T: DeserializeOwned>(path: &str, body: &B) -> Result<T, ApiError> {
    let req = Request::post(path)
        .header("accept", "application/json")
        .json(body)
        .map_err(|e| ApiError::network(path, &e.to_string()))?;
    read(path, req.send().await).await
}

/// Ask an Ollama provider to drop `model` from memory now.
pub async fn unload(provider: &str, model: &str) -> Result<serde_json::Value, ApiError> {
    post(
        &format!("/admin/api/providers/{provider}/unload"),
        &serde_json::json!({ "model": model }),
    )
    .await
}

/// Where the config came from and the settings a settings page shows.
pub async fn config() -> Result<serde_json::Value, ApiError> {
    get("/admin/api/config").await
}

/// Read the config file again and apply it.
pub async fn reload() -> Result<serde_json::Value, ApiError> {
    post("/admin/api/config/reload", &serde_json::json!({})).await
}

/// The desktop app's preferences (notifications shown, start at login).
pub async fn preferences() -> Result<Preferences, ApiError> {
    get("/admin/api/preferences").await
}

/// Change the fields `change` gives; the engine answers with all the preferences.
pub async fn set_preferences(change: &PreferencesChange) -> Result<Preferences, ApiError> {
    put("/admin/api/preferences", change).await
}

/// `key=value` pairs joined into a query string, values escaped.
pub fn query(pairs: &[(&str, String)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", js_sys::encode_uri_component(v)))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

pub async fn status() -> Result<Status, ApiError> {
    get("/admin/api/status").await
}

/// The GPUs and the recent model switches.
pub async fn gpu() -> Result<GpuReport, ApiError> {
    get("/admin/api/gpu").await
}

pub async fn models() -> Result<Models, ApiError> {
    get("/admin/api/models").await
}

pub async fn set_routing(change: &RoutingChange) -> Result<Routing, ApiError> {
    put("/admin/api/routing", change).await
}

pub async fn summary(q: &str) -> Result<Summary, ApiError> {
    get(&format!("/admin/api/costs/summary{q}")).await
}

pub async fn timeseries(q: &str) -> Result<Timeseries, ApiError> {
    get(&format!("/admin/api/costs/timeseries{q}")).await
}

pub async fn budgets() -> Result<Budgets, ApiError> {
    get("/admin/api/budgets").await
}

pub async fn projects() -> Result<Projects, ApiError> {
    get("/admin/api/projects").await
}

/// Replace project `name`'s settings (the engine writes them into the config file).
pub async fn save_project(
    name: &str,
    settings: &ProjectSettings,
) -> Result<ProjectSaved, ApiError> {
    let name = String::from(js_sys::encode_uri_component(name));
    put(&format!("/admin/api/projects/{name}"), settings).await
}

pub async fn cache() -> Result<CacheInfo, ApiError> {
    get("/admin/api/cache").await
}

pub async fn requests(limit: u32) -> Result<Requests, ApiError> {
    get(&format!("/admin/api/requests?limit={limit}")).await
}
