//! Aliases, routes and the quick switch (`/admin/api/models`, `/admin/api/routing`).

use serde::{Deserialize, Serialize};

/// One entry of an alias's route (`GET /admin/api/models`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RouteEntry {
    pub target: String,
    #[serde(default)]
    pub provider: String,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub local: bool,
    /// `closed`, `open`, `half_open` or `cooling_down`.
    #[serde(default)]
    pub circuit: String,
    /// The provider's health: `up`, `degraded`, `down` or `unknown` (where sent).
    #[serde(default)]
    pub provider_state: Option<String>,
    #[serde(default)]
    pub input_usd_per_mtok: Option<f64>,
    #[serde(default)]
    pub output_usd_per_mtok: Option<f64>,
    /// The entry's context window in tokens, where the engine knows it.
    #[serde(default)]
    pub context_tokens: Option<u64>,
    /// Where that number comes from: `config` (the provider's `context_window:`), `loaded`
    /// (the context Ollama loaded the model with) or `listing` (the provider's model list).
    #[serde(default)]
    pub context_source: Option<String>,
}

impl RouteEntry {
    /// The context window as the Models page shows it: the compact size (`32K`) and the
    /// tooltip (`32,768 tokens — from the provider's model list`); None when the engine sent
    /// none.
    pub fn context_label(&self) -> Option<(String, String)> {
        let n = self.context_tokens?;
        let exact = crate::format::plural(n as i64, "token", "tokens");
        let from = match self.context_source.as_deref() {
            Some("config") => Some("set by context_window in the config"),
            Some("loaded") => Some("the context Ollama loaded the model with"),
            Some("listing") => Some("from the provider's model list"),
            _ => None,
        };
        let title = match from {
            Some(f) => format!("{exact} — {f}"),
            None => exact,
        };
        Some((crate::format::context_size(n), title))
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Alias {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub fallback_alias: Option<String>,
    #[serde(default)]
    pub route: Vec<RouteEntry>,
}

/// `GET /admin/api/models`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Models {
    #[serde(default)]
    pub default: Option<String>,
    /// `config` (the file's `routing.default`) or `switched` (changed at run time).
    #[serde(default)]
    pub default_source: Option<String>,
    /// The config file's default, to go back to.
    #[serde(default)]
    pub config_default: Option<String>,
    #[serde(default)]
    pub local_only: bool,
    #[serde(default)]
    pub aliases: Vec<Alias>,
}

/// The body of `PUT /admin/api/routing`: only the fields being changed; `default:
/// Some(None)` sends `null`, back to the config file's default.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RoutingChange {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_only: Option<bool>,
}

/// What `PUT /admin/api/routing` answers.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Routing {
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub local_only: bool,
}
