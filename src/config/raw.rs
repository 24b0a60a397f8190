//! The config file as written: serde types that mirror the YAML, unknown keys denied.
//!
//! Owns: the shape of the file and its defaults. Must not resolve anything (env vars, keyring,
//! references between sections): `check.rs` turns these into a checked `Config`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::providers::ProviderKind;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawServer {
    /// `host:port` to listen on; loopback unless the user writes otherwise.
    /// Any scalar, so that `listen: 8080` gets our message rather than a type error.
    pub listen: Option<serde_json::Value>,
    /// Tokio worker threads; defaults to the number of CPUs.
    pub worker_threads: Option<usize>,
    /// More host names the admin API and UI answer to (besides localhost and loopback
    /// addresses), e.g. the machine's LAN name when `listen` is not loopback.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProvider {
    pub kind: ProviderKind,
    #[serde(alias = "api_base")]
    pub base_url: Option<String>,
    pub api_key_env: Option<String>,
    pub api_key_keyring: Option<String>,
    /// Only the LiteLLM form `os.environ/VAR` is accepted; literal keys are refused.
    pub api_key: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub models: Vec<String>,
    pub discover_models: Option<bool>,
    #[serde(default)]
    pub timeouts: RawTimeouts,
    #[serde(default)]
    pub pool: RawPool,
    pub default_max_tokens: Option<u32>,
    #[serde(default)]
    pub pass_client_key: bool,
    /// A PEM file of extra CA certificates trusted for this provider's https URL.
    pub ca_cert: Option<String>,
    /// Whether the upstream takes Anthropic's `/v1/messages` itself.
    pub messages_api: Option<MessagesApi>,
    /// Whether the upstream takes OpenAI's `/v1/responses` itself (`native` | `translate`).
    pub responses_api: Option<MessagesApi>,
    /// Per-model prices (USD per million tokens) over the shipped table; `"*"` for any model.
    #[serde(default)]
    pub prices: BTreeMap<String, crate::ledger::Rates>,
    /// A local GPU's running cost: requests are priced by their duration.
    pub cost_per_hour: Option<f64>,
    /// Context windows (tokens) per model, over what the provider's listing says; `"*"` for
    /// any model.
    #[serde(default)]
    pub context_window: BTreeMap<String, u64>,
    /// Which shipped price table prices this provider (default: from its kind and host).
    pub price_table: Option<String>,
    /// The background health probe (default: the kind's model list).
    pub probe: Option<RawProbe>,
    /// A command run when the provider goes down (once per outage, with backoff).
    pub on_down: Option<RawOnDown>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStorage {
    /// `false`: no database at all (no ledger rows, budgets from zero each start, no stored
    /// Responses).
    pub enabled: Option<bool>,
    /// The database file (default: the platform data dir's `lodestar.db`).
    pub path: Option<String>,
    #[serde(default)]
    pub responses: RawResponseStore,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawResponseStore {
    #[serde(default, with = "humantime_serde")]
    pub max_age: Option<Duration>,
    pub max_mb: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBudget {
    pub period: crate::ledger::Period,
    pub usd: f64,
    pub thresholds: Option<Vec<f64>>,
    pub hard_limit_usd: Option<f64>,
    pub on_exceeded: Option<RawOnExceeded>,
    pub downgrade_to: Option<String>,
    pub project: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RawOnExceeded {
    Reject,
    Downgrade,
}

/// How Anthropic-format requests reach a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum MessagesApi {
    /// Passed through untouched to the provider's `/v1/messages`.
    Native,
    /// Translated to the provider's own format.
    Translate,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTranslation {
    pub on_unsupported: Option<crate::translate::OnUnsupported>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTimeouts {
    #[serde(default, with = "humantime_serde")]
    pub connect: Option<Duration>,
    #[serde(default, with = "humantime_serde", alias = "first_token")]
    pub first_byte: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub idle: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub total: Option<Duration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPool {
    pub max_idle_per_host: Option<usize>,
    #[serde(default, with = "humantime_serde")]
    pub idle_timeout: Option<Duration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAlias {
    pub route: Vec<String>,
    pub description: Option<String>,
    /// More model names that select this alias; `*` matches any run of characters.
    #[serde(default, rename = "match")]
    pub match_names: Vec<String>,
    /// This alias's own cache mode and TTL.
    pub cache: Option<RawCachePolicy>,
    /// The alias to use when every entry of this one failed or is down.
    pub fallback_alias: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCachePolicy {
    pub mode: Option<crate::cache::CacheMode>,
    #[serde(default, with = "humantime_serde")]
    pub ttl: Option<Duration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHealth {
    /// False turns breakers, probes and provider states off.
    pub enabled: Option<bool>,
    /// Consecutive failures that open an entry's circuit; 0 turns breakers off.
    pub failures: Option<u32>,
    #[serde(default, with = "humantime_serde")]
    pub open_for: Option<Duration>,
    /// The share of failed requests over `window` that opens an entry's circuit (0..1).
    pub error_rate: Option<f64>,
    #[serde(default, with = "humantime_serde")]
    pub window: Option<Duration>,
    /// Requests an entry must have had in `window` before `error_rate` applies.
    pub min_requests: Option<u32>,
    /// How often each provider is probed in the background; `0s` turns probes off.
    #[serde(default, with = "humantime_serde")]
    pub probe_interval: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub probe_timeout: Option<Duration>,
    /// At most one down (or degraded) event per provider per this long.
    #[serde(default, with = "humantime_serde")]
    pub notify_every: Option<Duration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMetrics {
    /// False: `/metrics` is off and nothing is counted for it.
    pub enabled: Option<bool>,
}

/// `gpus:` entries: remote GPU boxes running `lodestar agent`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGpuAgent {
    pub agent_url: String,
    /// The name shown for this box (default: the URL's host).
    pub name: Option<String>,
}

/// A provider's `probe:`: `false`, or the path (or full URL) of a cheap GET.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawProbe {
    On(bool),
    Path(String),
}

/// A provider's `on_down:`: a command, or a command with its backoff and timeout.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawOnDown {
    Command(String),
    Full(RawOnDownFull),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOnDownFull {
    pub command: String,
    #[serde(default, with = "humantime_serde")]
    pub backoff: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<Duration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGpu {
    /// Sample local NVIDIA GPUs (NVML). Default: true.
    pub enabled: Option<bool>,
    #[serde(default, with = "humantime_serde")]
    pub interval: Option<Duration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCache {
    pub mode: Option<crate::cache::CacheMode>,
    #[serde(default, with = "humantime_serde")]
    pub ttl: Option<Duration>,
    pub memory_mb: Option<f64>,
    /// 0: no disk tier.
    pub disk_mb: Option<f64>,
    pub coalesce: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRouting {
    pub default: Option<String>,
    pub local_only: Option<bool>,
    pub unknown_model: Option<UnknownModel>,
    #[serde(default, with = "humantime_serde")]
    pub max_retry_wait: Option<Duration>,
    #[serde(default)]
    pub rules: Vec<RawRule>,
}

/// What to do with a model name that is no alias, no `provider/model` and listed by no provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum UnknownModel {
    /// Answer with an error naming what could have been asked for.
    #[default]
    Error,
    /// Send it to `routing.default` (what agents with a hard-wired model name need).
    Default,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRule {
    pub name: Option<String>,
    pub when: RawWhen,
    #[serde(rename = "use")]
    pub use_alias: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWhen {
    pub prompt_tokens_over: Option<u64>,
    pub has_tools: Option<bool>,
    pub has_images: Option<bool>,
    pub stream: Option<bool>,
    /// Also apply the rule to requests for these aliases (rules always apply to `auto`).
    pub model: Option<Vec<String>>,
}

/// Keys other tools use, with where ours live (convention 2: point users to our name).
pub(crate) fn hint_for_unknown_key(key: &str) -> Option<&'static str> {
    Some(match key {
        "fallbacks" => "list every entry in `route:`; they are tried in order",
        "model_list" => "Lodestar calls aliases `models:`, each with a `route:` list",
        "litellm_params" => "put `provider/model` entries in an alias's `route:` list",
        "api_key_env_var" | "key_env" | "env_key" => "the key is `api_key_env`",
        "type" | "provider" => "the provider's kind is `kind:`",
        "url" | "endpoint" | "base" => "the upstream address is `base_url:`",
        "host" | "port" | "address" => "the listen address is `server.listen: host:port`",
        "timeout" | "request_timeout" => {
            "timeouts are per phase: `timeouts: { connect, first_byte, idle, total }`"
        }
        "ttl" | "keep_alive" => "model residency settings are not part of this config yet",
        _ => return None,
    })
}

/// One entry of `projects:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProject {
    pub default: Option<String>,
    pub local_only: Option<bool>,
    #[serde(default)]
    pub quotas: RawQuotas,
    pub budget: Option<RawProjectBudget>,
}

/// `projects.NAME.budget`: a budget for this project's requests.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProjectBudget {
    pub period: crate::ledger::Period,
    pub usd: f64,
    pub hard_limit_usd: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawQuotas {
    pub requests_per_day: Option<u64>,
    pub tokens_per_day: Option<u64>,
}
