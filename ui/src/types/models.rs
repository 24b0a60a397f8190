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
