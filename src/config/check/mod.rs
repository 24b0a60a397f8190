//! Raw config → checked `Config`. Every problem is collected (not just the first), each with
//! the file, line and dotted key, and a message that says what would be valid.

use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

mod health;
mod ledger;
mod projects;
pub use projects::valid_project_name;
mod provider;

use super::raw::{self, RawAlias, RawProvider, RawRouting, RawServer};
use super::yaml;
use super::{
    Alias, Config, ConfigError, ConfigErrors, ConfigOrigin, EnvLookup, ProviderConfig, Routing,
    Rule, ServerConfig, Target, When,
};

const TOP_KEYS: &[&str] = &[
    "server",
    "providers",
    "models",
    "routing",
    "translation",
    "storage",
    "budgets",
    "cache",
    "health",
    "gpu",
    "gpus",
    "metrics",
    "projects",
];

struct Checker<'a> {
    file: String,
    lines: HashMap<String, usize>,
    errors: Vec<ConfigError>,
    env: EnvLookup<'a>,
}

pub(super) fn check(
    text: &str,
    origin: ConfigOrigin,
    env: EnvLookup<'_>,
) -> Result<Config, ConfigErrors> {
    let file = origin.to_string();
    let doc = match yaml::parse(text) {
        Ok(d) => d,
        Err(e) => {
            return Err(ConfigErrors(vec![ConfigError {
                file,
                line: Some(e.line),
                key: e.key,
                msg: e.msg,
            }]));
        }
    };
    let mut c = Checker {
        file,
        lines: doc.lines,
        errors: Vec::new(),
        env,
    };
    let top = match doc.value {
        Value::Object(m) => m,
        Value::Null => Map::new(),
        _ => {
            c.error(
                "",
                "the config must be a mapping with keys server, providers, models, routing",
            );
            return Err(ConfigErrors(c.errors));
        }
    };
    for key in top.keys() {
        if !TOP_KEYS.contains(&key.as_str()) {
            let hint = raw::hint_for_unknown_key(key)
                .map(|h| format!(" ({h})"))
                .unwrap_or_default();
            c.error(
                key,
                &format!(
                    "unknown top-level key; valid keys are {}{hint}",
                    TOP_KEYS.join(", ")
                ),
            );
        }
    }
    let section = |k: &str| top.get(k).cloned().unwrap_or(Value::Null);

    let server = c.server(section("server"));
    // Names declared in the file, valid or not: a reference to a declared-but-broken entry is
    // not reported again (one mistake, one message).
    let declared = |k: &str| -> Vec<String> {
        top.get(k)
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    };
    let (declared_providers, declared_aliases) = (declared("providers"), declared("models"));
    let providers = c.providers(section("providers"));
    let aliases = c.aliases(section("models"), &providers, &declared_providers);
    let routing = c.routing(section("routing"), &aliases, &declared_aliases);
    let translation = c
        .de::<raw::RawTranslation>(section("translation"), "translation")
        .map(|t| crate::config::Translation {
            on_unsupported: t.on_unsupported.unwrap_or_default(),
        })
        .unwrap_or_default();
    let storage = c.storage(section("storage"));
    let mut budgets = c.budgets(section("budgets"), &declared_aliases);
    let projects = c.projects(section("projects"), &declared_aliases);
    budgets.extend(projects.iter().filter_map(projects::project_budget));
    let cache = c.cache(section("cache"));
    let health = c.health(section("health"));
    let gpus = c.gpus(section("gpus"));
    let metrics = c
        .de::<raw::RawMetrics>(section("metrics"), "metrics")
        .and_then(|m| m.enabled)
        .unwrap_or(true);
    let gpu = c
        .de::<raw::RawGpu>(section("gpu"), "gpu")
        .map(|g| {
            let d = crate::config::GpuConfig::default();
            crate::config::GpuConfig {
                enabled: g.enabled.unwrap_or(d.enabled),
                interval: g.interval.filter(|i| !i.is_zero()).unwrap_or(d.interval),
            }
        })
        .unwrap_or_default();

    if c.errors.is_empty() {
        Ok(Config {
            origin,
            server,
            providers,
            aliases,
            routing,
            translation,
            storage,
            budgets,
            projects,
            cache,
            health,
            gpu,
            gpus,
            metrics,
            lines: c.lines,
        })
    } else {
        Err(ConfigErrors(c.errors))
    }
}

fn names<'a>(it: impl Iterator<Item = &'a str>) -> String {
    let v: Vec<&str> = it.collect();
    if v.is_empty() {
        "none".to_string()
    } else {
        v.join(", ")
    }
}

impl Checker<'_> {
    /// The line of `key`, or of its nearest parent that the file mentions.
    fn line_of(&self, key: &str) -> Option<usize> {
        let mut k = key.to_string();
        loop {
            if let Some(l) = self.lines.get(&k) {
                return Some(*l);
            }
            let cut = k.rfind(['.', '['])?;
            k.truncate(cut);
        }
    }

    fn error(&mut self, key: &str, msg: &str) {
        self.errors.push(ConfigError {
            file: self.file.clone(),
            line: self.line_of(key),
            key: key.to_string(),
            msg: msg.to_string(),
        });
    }

    /// Deserialize one section; a failure is recorded against the exact key serde stopped at.
    fn de<T: DeserializeOwned>(&mut self, value: Value, prefix: &str) -> Option<T> {
        // An empty section (`routing:` with nothing under it) means "all defaults".
        let value = if value.is_null() {
            Value::Object(Map::new())
        } else {
            value
        };
        match serde_path_to_error::deserialize::<_, T>(value) {
            Ok(v) => Some(v),
            Err(e) => {
                let path = e.path().to_string();
                let mut key = match path.as_str() {
                    "." => prefix.to_string(),
                    p if p.starts_with('[') => format!("{prefix}{p}"),
                    p => format!("{prefix}.{p}"),
                };
                let mut msg = e.inner().to_string();
                if let Some(field) = msg
                    .strip_prefix("unknown field `")
                    .and_then(|r| r.split('`').next())
                    .map(str::to_string)
                {
                    if !key.ends_with(&field) {
                        key = format!("{key}.{field}");
                    }
                    if let Some(h) = raw::hint_for_unknown_key(&field) {
                        msg = format!("{msg} ({h})");
                    }
                }
                if msg.contains("unknown variant") && key.ends_with(".kind") {
                    msg.push_str(
                        " (openai-compatible covers OpenRouter, Groq, vLLM, llama.cpp and LM Studio)",
                    );
                }
                self.error(&key, &msg);
                None
            }
        }
    }

    fn server(&mut self, v: Value) -> ServerConfig {
        let raw: RawServer = self.de(v, "server").unwrap_or_default();
        let listen_text = match raw.listen {
            None => "127.0.0.1:8080".to_string(),
            Some(Value::String(s)) => s,
            Some(other) => other.to_string(),
        };
        let listen = match parse_listen(&listen_text) {
            Ok(a) => a,
            Err(msg) => {
                self.error("server.listen", &msg);
                SocketAddr::from(([127, 0, 0, 1], 8080))
            }
        };
        if raw.worker_threads == Some(0) {
            self.error(
                "server.worker_threads",
                "must be at least 1; leave it out to use one per CPU",
            );
        }
        ServerConfig {
            listen,
            worker_threads: raw.worker_threads,
            allowed_hosts: raw.allowed_hosts,
        }
    }

    fn providers(&mut self, v: Value) -> Vec<ProviderConfig> {
        let map = match v {
            Value::Object(m) => m,
            Value::Null => Map::new(),
            _ => {
                self.error(
                    "providers",
                    "must be a mapping of provider names to settings, e.g. `local: { kind: ollama }`",
                );
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for (name, value) in map {
            let key = format!("providers.{name}");
            if name.is_empty() || name.contains('/') || name == "auto" {
                self.error(
                    &key,
                    "a provider name must be non-empty, contain no `/` and not be `auto`",
                );
                continue;
            }
            if let Some(raw) = self.de::<RawProvider>(value, &key)
                && let Some(p) = self.provider(name, raw)
            {
                out.push(p);
            }
        }
        out
    }

    fn aliases(
        &mut self,
        v: Value,
        providers: &[ProviderConfig],
        declared: &[String],
    ) -> Vec<Alias> {
        let map = match v {
            Value::Object(m) => m,
            Value::Null => Map::new(),
            _ => {
                self.error(
                    "models",
                    "must be a mapping of alias names to `{ route: [provider/model, ...] }`",
                );
                return Vec::new();
            }
        };
        let defined = || names(providers.iter().map(|p| p.name.as_str()));
        let map_keys: Vec<String> = map.keys().cloned().collect();
        let mut out = Vec::new();
        for (name, value) in map {
            let key = format!("models.{name}");
            if name == "auto" {
                self.error(
                    &key,
                    "`auto` is reserved (it means: apply routing rules, then routing.default)",
                );
                continue;
            }
            if name.contains('/') {
                self.error(
                    &key,
                    "an alias name must not contain `/` (that form means an explicit provider/model)",
                );
                continue;
            }
            let Some(raw) = self.de::<RawAlias>(value, &key) else {
                continue;
            };
            if raw.route.is_empty() {
                self.error(
                    &format!("{key}.route"),
                    "is empty; list at least one `provider/model`",
                );
            }
            let mut route = Vec::new();
            for (i, entry) in raw.route.iter().enumerate() {
                let ek = format!("{key}.route[{i}]");
                match entry.split_once('/') {
                    Some((p, m)) if !p.is_empty() && !m.is_empty() => {
                        if providers.iter().any(|x| x.name == p) {
                            route.push(Target {
                                provider: p.into(),
                                model: m.into(),
                            });
                        } else if declared.iter().any(|d| d == p) {
                            // Its own error was reported under `providers.`.
                        } else {
                            self.error(
                                &ek,
                                &format!(
                                    "provider `{p}` is not defined under `providers:` (defined: {})",
                                    defined()
                                ),
                            );
                        }
                    }
                    _ => self.error(
                        &ek,
                        &format!(
                            "`{entry}` is not of the form `provider/model` (providers: {})",
                            defined()
                        ),
                    ),
                }
            }
            for (i, m) in raw.match_names.iter().enumerate() {
                if m.is_empty() || m.contains('/') {
                    self.error(
                        &format!("{key}.match[{i}]"),
                        "must be a model name (`*` matches anything), without `/`",
                    );
                }
            }
            let cache = raw.cache.map(|c| {
                if c.ttl.is_some_and(|t| t.is_zero()) {
                    self.error(
                        &format!("models.{name}.cache.ttl"),
                        "must be longer than 0 (use `mode: off` to turn the cache off)",
                    );
                }
                crate::cache::CachePolicy {
                    mode: c.mode,
                    ttl: c.ttl,
                }
            });
            if let Some(fb) = &raw.fallback_alias {
                let key = format!("models.{name}.fallback_alias");
                let declared: Vec<&String> = map_keys.iter().collect();
                if fb == &name {
                    self.error(&key, "an alias cannot fall back to itself");
                } else if !map_keys.contains(fb) {
                    self.error(
                        &key,
                        &format!(
                            "alias `{fb}` is not defined under `models:` (defined: {})",
                            names(declared.iter().map(|s| s.as_str()))
                        ),
                    );
                }
            }
            out.push(Alias {
                name,
                route,
                description: raw.description,
                matches: raw.match_names,
                cache,
                fallback_alias: raw.fallback_alias,
            });
        }
        out
    }

    fn routing(&mut self, v: Value, aliases: &[Alias], declared: &[String]) -> Routing {
        let raw: RawRouting = self.de(v, "routing").unwrap_or_default();
        let known = |a: &str| declared.iter().any(|x| x == a);
        let list = || names(aliases.iter().map(|a| a.name.as_str()));
        if let Some(d) = &raw.default
            && !known(d)
        {
            self.error(
                "routing.default",
                &format!(
                    "`{d}` is not an alias under `models:` (aliases: {})",
                    list()
                ),
            );
        }
        let unknown_model = raw.unknown_model.unwrap_or_default();
        if unknown_model == raw::UnknownModel::Default && raw.default.is_none() {
            self.error(
                "routing.unknown_model",
                "`default` needs `routing.default` to name an alias",
            );
        }
        let mut rules = Vec::new();
        for (i, r) in raw.rules.into_iter().enumerate() {
            let key = format!("routing.rules[{i}]");
            if !known(&r.use_alias) {
                self.error(
                    &format!("{key}.use"),
                    &format!(
                        "`{}` is not an alias under `models:` (aliases: {})",
                        r.use_alias,
                        list()
                    ),
                );
            }
            for m in r.when.model.iter().flatten() {
                if m != "auto" && !known(m) {
                    self.error(
                        &format!("{key}.when.model"),
                        &format!("`{m}` is not an alias (aliases: {}, or auto)", list()),
                    );
                }
            }
            rules.push(Rule {
                name: r.name.unwrap_or(key),
                when: When {
                    prompt_tokens_over: r.when.prompt_tokens_over,
                    has_tools: r.when.has_tools,
                    has_images: r.when.has_images,
                    stream: r.when.stream,
                    model: r.when.model,
                },
                use_alias: r.use_alias,
            });
        }
        Routing {
            default: raw.default,
            local_only: raw.local_only.unwrap_or(false),
            unknown_model,
            max_retry_wait: raw
                .max_retry_wait
                .unwrap_or(std::time::Duration::from_secs(5)),
            rules,
        }
    }
}

fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    if let Some(port) = s.strip_prefix("localhost:")
        && let Ok(p) = port.parse::<u16>()
    {
        return Ok(SocketAddr::from(([127, 0, 0, 1], p)));
    }
    match s.to_socket_addrs().map(|mut it| it.next()) {
        Ok(Some(a)) => Ok(a),
        _ => Err(format!(
            "`{s}` is not a `host:port` address; write e.g. `127.0.0.1:8080` (loopback only) or \
             `0.0.0.0:8080` (reachable from the network)"
        )),
    }
}
