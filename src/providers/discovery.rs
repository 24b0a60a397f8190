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
    /// Context windows (tokens) the listings gave, by provider then model.
    contexts: RwLock<HashMap<String, HashMap<String, u64>>>,
}

/// A model's context window as a listing entry gives it: OpenRouter and vLLM-style
/// `context_length` / `max_model_len`, LM Studio's `max_context_length`, Groq's
/// `context_window`, llama.cpp's `meta.n_ctx_train`, OpenRouter's `top_provider`, Anthropic's
/// `max_input_tokens`.
pub(crate) fn context_of(entry: &Value) -> Option<u64> {
    [
        &entry["context_length"],
        &entry["max_model_len"],
        &entry["max_context_length"],
        &entry["context_window"],
        &entry["meta"]["n_ctx_train"],
        &entry["top_provider"]["context_length"],
        &entry["max_input_tokens"],
    ]
    .into_iter()
    .find_map(Value::as_u64)
    .filter(|n| *n > 0)
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

    /// The context window `provider`'s listing gave for `model`, if it gave one.
    pub fn context(&self, provider: &str, model: &str) -> Option<u64> {
        self.contexts
            .read()
            .ok()?
            .get(provider)?
            .get(model)
            .copied()
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
            let listed = list_models(p).await;
            if let Ok((_, contexts)) = &listed
                && let Ok(mut g) = catalog.contexts.write()
            {
                g.insert(p.name().to_string(), contexts.clone());
            }
            catalog.set(p.name(), listed.map(|(models, _)| models));
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
    /// The context it was loaded with (`context_length`, Ollama 0.11 and later).
    pub context_length: Option<u64>,
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
            context_length: m["context_length"].as_u64().filter(|n| *n > 0),
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

/// The models a provider lists, and the context windows the listing gives.
async fn list_models(p: &Provider) -> Result<(Vec<String>, HashMap<String, u64>), String> {
    let base = &p.cfg.base_url;
    let (url, list_key, id_key) = match p.kind() {
        ProviderKind::Ollama => (format!("{base}/api/tags"), "models", "name"),
        ProviderKind::Anthropic => (format!("{base}/v1/models"), "data", "id"),
        ProviderKind::OpenAi | ProviderKind::OpenAiCompatible => {
            (format!("{base}/models"), "data", "id")
        }
    };
    let v = get_model_list(p, &url, Duration::from_secs(5)).await?;
    let mut models = Vec::new();
    let mut contexts = HashMap::new();
    for m in v
        .get(list_key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(id) = m.get(id_key).and_then(Value::as_str) else {
            continue;
        };
        if let Some(n) = context_of(m) {
            contexts.insert(id.to_string(), n);
        }
        models.push(id.to_string());
    }
    Ok((models, contexts))
}
