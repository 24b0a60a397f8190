//! Config: the YAML file → a checked `Config`, every error collected with file, line and key.
//!
//! Owns: finding the file (`--config`, `LODESTAR_CONFIG`, the platform config dir, else the
//! embedded default), parsing, validating, resolving API keys from env or keyring.
//! Must not open sockets or spawn tasks: a `Config` is plain data the engine starts from.

mod check;
pub mod edit;
mod locate;
mod raw;
mod yaml;

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use check::valid_project_name;
pub use locate::{ConfigOrigin, Located, locate};
pub use raw::UnknownModel;

use crate::providers::ProviderKind;

/// The config Lodestar starts with when no file exists anywhere.
pub const EMBEDDED_DEFAULT: &str = include_str!("default.yaml");

/// A checked, ready-to-run configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where it came from: a file path or the embedded default.
    pub origin: ConfigOrigin,
    pub server: ServerConfig,
    /// In file order.
    pub providers: Vec<ProviderConfig>,
    /// In file order.
    pub aliases: Vec<Alias>,
    pub routing: Routing,
    pub translation: Translation,
    pub storage: Storage,
    /// In file order.
    pub budgets: Vec<crate::ledger::BudgetConfig>,
    /// Per-project settings (`projects:`), in name order.
    pub projects: Vec<Project>,
    pub cache: crate::cache::CacheConfig,
    /// Circuit breakers, probes and health events (`health:`).
    pub health: crate::health::HealthConfig,
    /// The GPU sampler (`gpu:`).
    pub gpu: GpuConfig,
    /// Remote GPU boxes running `lodestar agent` (`gpus:`).
    pub gpus: Vec<GpuAgent>,
    /// `/metrics` and its counting (`metrics.enabled`).
    pub metrics: bool,
    /// 1-based line of each dotted key that the file set (absent: a default).
    pub lines: HashMap<String, usize>,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub worker_threads: Option<usize>,
    /// Extra host names the admin API answers to (DNS-rebinding guard).
    pub allowed_hosts: Vec<String>,
}

#[derive(Clone)]
pub struct ProviderConfig {
    pub name: String,
    pub kind: ProviderKind,
    /// Without a trailing slash. For `openai`/`openai-compatible` it includes `/v1`; for
    /// `ollama` and `anthropic` it is the server root.
    pub base_url: String,
    pub api_key: Option<Secret>,
    /// Where the key came from, for `config check` (never the key itself).
    pub key_source: Option<String>,
    pub headers: Vec<(String, String)>,
    pub models: Vec<String>,
    pub discover_models: bool,
    pub timeouts: Timeouts,
    pub pool: Pool,
    /// Anthropic needs `max_tokens`; used when an OpenAI-format request has none.
    pub default_max_tokens: u32,
    pub pass_client_key: bool,
    /// Extra trusted CA certificates (PEM), and the file they came from.
    pub ca_cert: Option<(std::path::PathBuf, Vec<u8>)>,
    /// The upstream takes Anthropic's `/v1/messages` itself (always for `kind: anthropic`).
    pub messages_native: bool,
    /// The upstream takes OpenAI's `/v1/responses` itself (default for `kind: openai`).
    pub responses_native: bool,
    pub pricing: Pricing,
    /// The URL of the background health probe's GET; None: not probed.
    pub probe: Option<String>,
    /// What to run when the provider goes down.
    pub on_down: Option<OnDown>,
    /// Context windows (tokens) by model (`context_window:`; `"*"`: any model).
    pub context_window: HashMap<String, u64>,
    /// `is_local`, worked out once when the config is read (routing asks per request).
    pub(crate) local: bool,
}

impl ProviderConfig {
    /// The context window the config gives `model` (its own entry, else `"*"`).
    pub fn context_window(&self, model: &str) -> Option<u64> {
        self.context_window
            .get(model)
            .or_else(|| self.context_window.get("*"))
            .copied()
    }

    /// Whether a provider runs on this machine or the local network (free unless priced):
    /// Ollama, or an OpenAI-compatible server at a local address. `kind: openai` and
    /// `kind: anthropic` are the paid APIs even when reached through a local relay.
    pub fn is_local(&self) -> bool {
        self.local
    }

    /// What `is_local` answers for a provider of `kind` at `base_url`.
    pub(crate) fn local_at(kind: ProviderKind, base_url: &str) -> bool {
        match kind {
            ProviderKind::Ollama => return true,
            ProviderKind::OpenAi | ProviderKind::Anthropic => return false,
            ProviderKind::OpenAiCompatible => {}
        }
        let host = crate::ledger::prices::host_of(base_url);
        if host == "localhost" || host.ends_with(".local") || host.ends_with(".lan") {
            return true;
        }
        match host.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V4(ip)) => {
                ip.is_loopback() || ip.is_private() || ip.is_link_local()
            }
            Ok(std::net::IpAddr::V6(ip)) => {
                ip.is_loopback() || ip.is_unique_local() || ip.is_unicast_link_local()
            }
            Err(_) => false,
        }
    }
}

/// A provider's `on_down:` command.
#[derive(Debug, Clone)]
pub struct OnDown {
    pub command: String,
    /// The least time between two runs (doubles while outages keep coming back).
    pub backoff: Duration,
    /// The command is killed after this long.
    pub timeout: Duration,
}

/// A remote GPU box (`gpus: [{ agent_url }]`).
#[derive(Debug, Clone)]
pub struct GpuAgent {
    /// Without a trailing slash.
    pub url: String,
    /// What its GPUs are labelled with (`host`).
    pub name: String,
}

/// How a provider's requests are priced (`prices`, `cost_per_hour`, `price_table`).
#[derive(Debug, Clone, Default)]
pub struct Pricing {
    pub prices: HashMap<String, crate::ledger::Rates>,
    pub cost_per_hour: Option<f64>,
    pub table: Option<String>,
}

/// `gpu:`: whether and how often local GPUs are read.
#[derive(Debug, Clone, Copy)]
pub struct GpuConfig {
    pub enabled: bool,
    pub interval: Duration,
}

impl Default for GpuConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: Duration::from_secs(1),
        }
    }
}

/// Where the database lives and how much it keeps (`storage:`).
#[derive(Debug, Clone)]
pub struct Storage {
    /// False: no database (`storage.enabled: false`).
    pub enabled: bool,
    /// None: the platform data dir's `lodestar.db`.
    pub path: Option<PathBuf>,
    pub responses: crate::store::ResponseLimits,
}

impl Default for Storage {
    fn default() -> Self {
        Self {
            enabled: true,
            path: None,
            responses: crate::store::ResponseLimits::default(),
        }
    }
}

/// How requests are translated between API formats (`translation:`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Translation {
    pub on_unsupported: crate::translate::OnUnsupported,
}

impl fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("base_url", &self.base_url)
            .field("key_source", &self.key_source)
            .finish_non_exhaustive()
    }
}

/// An API key. Its `Debug` and `Display` never show it.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: String) -> Self {
        Self(s)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// One timeout per phase of an upstream call.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// TCP (+TLS) connect.
    pub connect: Duration,
    /// From sending the request to the first byte of the answer (streams: the first chunk).
    pub first_byte: Duration,
    /// Longest silence between two chunks of a stream.
    pub idle: Duration,
    /// The whole call.
    pub total: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            first_byte: Duration::from_secs(120),
            idle: Duration::from_secs(60),
            total: Duration::from_secs(600),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Pool {
    pub max_idle_per_host: usize,
    pub idle_timeout: Duration,
}

impl Default for Pool {
    fn default() -> Self {
        Self {
            max_idle_per_host: 64,
            idle_timeout: Duration::from_secs(90),
        }
    }
}

/// A name clients ask for, and the `provider/model` entries tried in order.
#[derive(Debug, Clone)]
pub struct Alias {
    pub name: String,
    pub route: Vec<Target>,
    pub description: Option<String>,
    /// More model names (`*` wildcards) that select this alias.
    pub matches: Vec<String>,
    /// This alias's own cache mode/TTL (over `cache:`).
    pub cache: Option<crate::cache::CachePolicy>,
    /// Used when every entry of this alias failed or is down.
    pub fallback_alias: Option<String>,
}

/// Whether `name` fits `pattern`, where `*` matches any run of characters.
pub(crate) fn glob_match(pattern: &str, name: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for p in middle {
        match rest.find(p) {
            Some(i) => rest = &rest[i + p.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// One `provider/model` entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    pub provider: String,
    pub model: String,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.provider, self.model)
    }
}

/// A project's own settings: requests carrying `x-lodestar-project: NAME` use them.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Project {
    pub name: String,
    /// What `auto` means for this project (instead of `routing.default`).
    pub default: Option<String>,
    /// Only local providers serve this project (whatever the quick switch says).
    pub local_only: bool,
    pub quotas: Quotas,
    /// `budget:`: becomes the budget `NAME (project)` with `project: NAME`.
    pub budget: Option<ProjectBudget>,
}

/// A project's own budget (thresholds at 50, 80 and 100 %; at the hard limit, refused).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectBudget {
    pub period: crate::ledger::Period,
    pub usd: f64,
    pub hard_limit_usd: Option<f64>,
}

/// Per-project limits, counted per local calendar day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Quotas {
    pub requests_per_day: Option<u64>,
    /// Input + output tokens.
    pub tokens_per_day: Option<u64>,
}

impl Config {
    /// The settings of project `name`, if it has any.
    pub fn project(&self, name: &str) -> Option<&Project> {
        if name.is_empty() {
            return None;
        }
        self.projects.iter().find(|p| p.name == name)
    }
}

#[derive(Debug, Clone)]
pub struct Routing {
    pub default: Option<String>,
    /// Route only to local providers (`routing.local_only`, or the quick switch): cloud entries
    /// are skipped, and a request with no local entry is refused.
    pub local_only: bool,
    pub unknown_model: UnknownModel,
    /// The most one request waits, in total, honouring upstream `Retry-After`.
    pub max_retry_wait: Duration,
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
pub struct Rule {
    /// `name:` or `rules[i]`.
    pub name: String,
    pub when: When,
    pub use_alias: String,
}

#[derive(Debug, Clone, Default)]
pub struct When {
    pub prompt_tokens_over: Option<u64>,
    pub has_tools: Option<bool>,
    pub has_images: Option<bool>,
    pub stream: Option<bool>,
    pub model: Option<Vec<String>>,
}

/// One problem in a config file, located as precisely as the file allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub line: Option<usize>,
    /// Dotted key, e.g. `models.fast.route[1]`; empty for whole-file problems.
    pub key: String,
    pub msg: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}: ", self.file)?,
            None => write!(f, "{}: ", self.file)?,
        }
        if !self.key.is_empty() {
            write!(f, "`{}`: ", self.key)?;
        }
        f.write_str(&self.msg)
    }
}

/// All the problems found in one config; never a half-checked config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        writeln!(
            f,
            "the config has {n} problem{}:",
            if n == 1 { "" } else { "s" }
        )?;
        for e in &self.0 {
            writeln!(f, "  {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Looks up environment variables; a seam so tests need not mutate the process environment.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The real process environment.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// YAML text as a JSON value (for data files in YAML, like the price table).
pub(crate) fn parse_yaml_value(text: &str) -> Result<serde_json::Value, String> {
    yaml::parse(text)
        .map(|d| d.value)
        .map_err(|e| format!("line {}: {}", e.line, e.msg))
}

impl Config {
    /// Check YAML text. `label` names the source in errors (a path, or `<embedded default>`).
    pub fn from_yaml(
        text: &str,
        origin: ConfigOrigin,
        env: EnvLookup<'_>,
    ) -> Result<Config, ConfigErrors> {
        check::check(text, origin, env)
    }

    /// Read and check a file.
    pub fn from_path(path: &std::path::Path, env: EnvLookup<'_>) -> Result<Config, ConfigErrors> {
        let label = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors(vec![ConfigError {
                file: label.clone(),
                line: None,
                key: String::new(),
                msg: format!("cannot read the config file: {e}"),
            }])
        })?;
        check::check(&text, ConfigOrigin::File(PathBuf::from(path)), env)
    }

    /// The built-in config used when no file exists.
    pub fn embedded_default() -> Result<Config, ConfigErrors> {
        check::check(EMBEDDED_DEFAULT, ConfigOrigin::Embedded, &process_env)
    }

    /// Load what `locate` found.
    pub fn load(located: &Located, env: EnvLookup<'_>) -> Result<Config, ConfigErrors> {
        match &located.path {
            Some(p) => Config::from_path(p, env),
            None => check::check(EMBEDDED_DEFAULT, ConfigOrigin::Embedded, env),
        }
    }

    pub fn provider(&self, name: &str) -> Option<&ProviderConfig> {
        self.providers.iter().find(|p| p.name == name)
    }

    /// The alias named `name`, else the first (in file order) whose `match:` fits it.
    pub fn alias(&self, name: &str) -> Option<&Alias> {
        self.aliases.iter().find(|a| a.name == name).or_else(|| {
            self.aliases
                .iter()
                .find(|a| a.matches.iter().any(|p| glob_match(p, name)))
        })
    }

    /// Where a dotted key's value came from, for `config check`.
    pub fn source_of(&self, key: &str) -> String {
        match (&self.origin, self.lines.get(key)) {
            (ConfigOrigin::File(p), Some(l)) => format!("{}:{l}", p.display()),
            (ConfigOrigin::Embedded, Some(l)) => format!("embedded default:{l}"),
            (_, None) => "default".to_string(),
        }
    }
}
