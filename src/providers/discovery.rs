//! Which models each provider lists, so that a bare model name (`llama3:8b`) can be routed to
//! the one provider that serves it. Refreshed in the background; the request path only reads.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde_json::Value;

use super::{Provider, ProviderKind, Providers};

/// Discovered model lists, by provider name. Cheap to read; written by the refresh task.
#[derive(Debug, Default)]
pub(crate) struct ModelCatalog {
    lists: RwLock<HashMap<String, Result<Vec<String>, String>>>,
}

impl ModelCatalog {
    /// The models `provider` listed at the last refresh (empty if none or unreachable).
    pub fn models(&self, provider: &str) -> Vec<String> {
        match self.lists.read() {
            Ok(g) => match g.get(provider) {
                Some(Ok(v)) => v.clone(),
                _ => Vec::new(),
            },
            Err(_) => Vec::new(),
        }
    }

    /// Whether `provider` listed `model`.
    pub fn lists(&self, provider: &str, model: &str) -> bool {
        self.lists.read().is_ok_and(|g| {
            g.get(provider)
                .is_some_and(|r| r.as_ref().is_ok_and(|v| v.iter().any(|m| m == model)))
        })
    }

    /// The last refresh error for `provider`, if its listing failed.
    pub fn error(&self, provider: &str) -> Option<String> {
        self.lists
            .read()
            .ok()?
            .get(provider)?
            .as_ref()
            .err()
            .cloned()
    }

    /// Record a listing; say so (once per change) when a provider becomes unreachable or
    /// comes back, so a dead local server is noticed at start rather than at the first request.
    fn set(&self, provider: &str, r: Result<Vec<String>, String>) {
        if let Ok(mut g) = self.lists.write() {
            let was_err = g.get(provider).map(Result::is_err);
            match (&r, was_err) {
                (Err(e), None | Some(false)) => tracing::warn!(
                    provider,
                    error = %e,
                    "cannot list this provider's models; requests routed to it will fall back \
                     or fail until it is reachable"
                ),
                (Ok(models), Some(true)) => {
                    tracing::info!(provider, models = models.len(), "provider reachable again")
                }
                _ => {}
            }
            g.insert(provider.to_string(), r);
        }
    }
}

/// Ask every provider with `discover_models` for its model list, concurrently.
pub(crate) async fn refresh_catalog(providers: &Providers, catalog: &Arc<ModelCatalog>) {
    let jobs = providers
        .iter()
        .filter(|p| p.cfg.discover_models)
        .map(|p| async move {
            catalog.set(p.name(), list_models(p).await);
        });
    futures_util::future::join_all(jobs).await;
}

/// A model an Ollama server holds in memory now (`/api/ps`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct LoadedModel {
    pub name: String,
    pub size_bytes: u64,
    pub vram_bytes: u64,
    /// When Ollama unloads it unless used again (its `expires_at`).
    pub expires_at: Option<String>,
}

/// GET a provider's model-list endpoint (with its auth) as JSON; errors say which URL and why.
async fn get_model_list(p: &Provider, url: &str, timeout: Duration) -> Result<Value, String> {
    let resp = p.get(url).timeout(timeout).send().await.map_err(|e| {
        format!(
            "cannot reach {url}: {}",
            crate::dispatch::describe_reqwest(&e)
        )
    })?;
    if !resp.status().is_success() {
        return Err(format!("{url} answered {}", resp.status()));
    }
    let body = resp
        .bytes()
        .await
        .map_err(|e| format!("{url} broke off its model list: {e}"))?;
    serde_json::from_slice(&body).map_err(|e| format!("{url} did not answer a model list: {e}"))
}

/// The models an Ollama provider has loaded, with their VRAM.
pub(crate) async fn loaded_models(p: &Provider) -> Result<Vec<LoadedModel>, String> {
    let url = format!("{}/api/ps", p.cfg.base_url);
    let v = get_model_list(p, &url, Duration::from_secs(3)).await?;
    Ok(v["models"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| LoadedModel {
            name: m["name"].as_str().unwrap_or_default().to_string(),
            size_bytes: m["size"].as_u64().unwrap_or(0),
            vram_bytes: m["size_vram"].as_u64().unwrap_or(0),
            expires_at: m["expires_at"].as_str().map(str::to_string),
        })
        .collect())
}

/// Ask an Ollama provider to unload `model` from memory now (`keep_alive: 0`).
pub(crate) async fn unload_model(p: &Provider, model: &str) -> Result<(), String> {
    let url = format!("{}/api/generate", p.cfg.base_url);
    let body = serde_json::json!({"model": model, "keep_alive": 0}).to_string();
    let resp = p
        .post(&url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .map_err(|e| {
            format!(
                "cannot reach {url}: {}",
                crate::dispatch::describe_reqwest(&e)
            )
        })?;
    if resp.status().is_success() {
        Ok(())
    } else {
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        Err(format!(
            "{url} answered {status}: {}",
            text.chars().take(200).collect::<String>()
        ))
    }
}

async fn list_models(p: &Provider) -> Result<Vec<String>, String> {
    let base = &p.cfg.base_url;
    let (url, list_key, id_key) = match p.kind() {
        ProviderKind::Ollama => (format!("{base}/api/tags"), "models", "name"),
        ProviderKind::Anthropic => (format!("{base}/v1/models"), "data", "id"),
        ProviderKind::OpenAi | ProviderKind::OpenAiCompatible => {
            (format!("{base}/models"), "data", "id")
        }
    };
    let v = get_model_list(p, &url, Duration::from_secs(5)).await?;
    Ok(v.get(list_key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|m| m.get(id_key).and_then(Value::as_str).map(String::from))
                .collect()
        })
        .unwrap_or_default())
}
