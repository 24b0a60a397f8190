//! Router: decides where a request goes. Pure: `decide(facts, config, model lookup)` reads no
//! clock, no network and no files, so `lodestar route --explain` prints exactly what `serve`
//! would do.
//!
//! Order of decisions:
//! 1. `provider/model` naming a configured provider → that target only (bypasses everything).
//! 2. `auto` (or no model) and aliases named in a rule's `when.model` → the first matching
//!    rule's alias; otherwise `auto` → `routing.default`.
//! 3. An alias → its route, in order.
//! 4. A bare model name listed by exactly one provider → that provider.
//! 5. Otherwise `routing.unknown_model: default` sends it to `routing.default`; else an error
//!    naming every alias and provider that could have been asked for.
//!
//! Entries whose provider cannot serve the endpoint (Anthropic has no embeddings) are skipped
//! with the reason recorded; so are cloud entries while `routing.local_only` is on.

mod facts;

use std::fmt;

pub use facts::RequestFacts;

use crate::config::{Config, Rule, Target, UnknownModel};

/// Answers "does `provider` list `model`?" from discovery; a seam so the router stays pure.
pub trait ModelLookup {
    fn lists(&self, provider: &str, model: &str) -> bool;
}

/// A lookup that knows nothing (for dry runs without a running engine).
pub struct NoDiscovery;

impl ModelLookup for NoDiscovery {
    fn lists(&self, _: &str, _: &str) -> bool {
        false
    }
}

impl ModelLookup for crate::providers::ModelCatalog {
    fn lists(&self, provider: &str, model: &str) -> bool {
        crate::providers::ModelCatalog::lists(self, provider, model)
    }
}

/// Where a request goes and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteDecision {
    /// What the client asked for (`auto` when it named nothing).
    pub requested: String,
    /// The alias whose route is used, if any.
    pub alias: Option<String>,
    /// The rule that fired, if any.
    pub rule: Option<String>,
    /// Targets to try, in order.
    pub targets: Vec<Target>,
    /// Route entries left out, with why.
    pub skipped: Vec<(Target, String)>,
    /// One sentence: why these targets.
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    UnknownModel {
        requested: String,
        aliases: Vec<String>,
        providers: Vec<String>,
    },
    Ambiguous {
        model: String,
        providers: Vec<String>,
    },
    NoDefault,
    NothingCanServe {
        requested: String,
        skipped: Vec<(Target, String)>,
    },
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteError::UnknownModel {
                requested,
                aliases,
                providers,
            } => {
                let a = if aliases.is_empty() {
                    "none configured".to_string()
                } else {
                    aliases.join(", ")
                };
                let p = providers
                    .iter()
                    .map(|p| format!("{p}/<model>"))
                    .collect::<Vec<_>>()
                    .join(", ");
                write!(
                    f,
                    "model `{requested}` is not an alias, not `provider/model`, and no provider \
                     lists it. Ask for an alias ({a}), `auto`, or an explicit model on a \
                     provider ({p}); `GET /v1/models` lists them all"
                )
            }
            RouteError::Ambiguous { model, providers } => write!(
                f,
                "model `{model}` is listed by several providers ({}); ask for it as \
                 `provider/{model}` to choose one",
                providers.join(", ")
            ),
            RouteError::NoDefault => f.write_str(
                "no model was named and no default is configured; ask for a model, or set \
                 `routing.default` to an alias in the config",
            ),
            RouteError::NothingCanServe { requested, skipped }
                if self.local_only_refusal()
                    && let Some((_, why)) =
                        skipped.iter().find(|(_, w)| w.contains("for project"))
                    && let Some(project) = why.split('`').nth(1) =>
            {
                let entries: Vec<String> = skipped.iter().map(|(t, _)| t.to_string()).collect();
                write!(
                    f,
                    "project `{project}` is local-only and `{requested}` has no local entry ({} \
                     are cloud providers); ask for a local model, or change \
                     `projects.{project}.local_only`",
                    entries.join(", ")
                )
            }
            RouteError::NothingCanServe { requested, skipped } if self.local_only_refusal() => {
                let entries: Vec<String> = skipped.iter().map(|(t, _)| t.to_string()).collect();
                write!(
                    f,
                    "local-only mode is on and `{requested}` has no local entry ({} are cloud \
                     providers); ask for a local model, or turn local-only off in the tray, the \
                     UI, or with `lodestar use --local-only off`",
                    entries.join(", ")
                )
            }
            RouteError::NothingCanServe { requested, skipped } => {
                write!(f, "no entry of `{requested}` can serve this endpoint: ")?;
                let parts: Vec<String> = skipped
                    .iter()
                    .map(|(t, why)| format!("{t}: {why}"))
                    .collect();
                f.write_str(&parts.join("; "))
            }
        }
    }
}

/// Why local-only mode skipped an entry (the prefix tells the refusal apart).
const LOCAL_ONLY_SKIP: &str = "local-only mode is on";

impl RouteError {
    /// Every entry was skipped only because local-only mode is on.
    pub fn local_only_refusal(&self) -> bool {
        matches!(self, RouteError::NothingCanServe { skipped, .. }
            if !skipped.is_empty() && skipped.iter().all(|(_, w)| w.starts_with(LOCAL_ONLY_SKIP)))
    }
}

/// True when the client named no model in particular.
fn is_auto(model: Option<&str>) -> bool {
    matches!(model, None | Some("") | Some("auto"))
}

fn rule_matches(rule: &Rule, facts: &RequestFacts, requested_alias: Option<&str>) -> bool {
    let w = &rule.when;
    let applies = match requested_alias {
        None => true, // `auto`
        Some(a) => w.model.as_ref().is_some_and(|m| m.iter().any(|x| x == a)),
    };
    applies
        && w.prompt_tokens_over.is_none_or(|n| facts.prompt_tokens > n)
        && w.has_tools.is_none_or(|b| facts.has_tools == b)
        && w.has_images.is_none_or(|b| facts.has_images == b)
        && w.stream.is_none_or(|b| facts.stream == b)
}

fn describe_rule(rule: &Rule, facts: &RequestFacts) -> String {
    let w = &rule.when;
    let mut why = Vec::new();
    if let Some(n) = w.prompt_tokens_over {
        why.push(format!("prompt ≈{} tokens > {n}", facts.prompt_tokens));
    }
    if let Some(b) = w.has_tools {
        why.push(format!("has_tools = {b}"));
    }
    if let Some(b) = w.has_images {
        why.push(format!("has_images = {b}"));
    }
    if let Some(b) = w.stream {
        why.push(format!("stream = {b}"));
    }
    if why.is_empty() {
        why.push("no conditions".into());
    }
    format!("rule `{}` matched ({})", rule.name, why.join(", "))
}

/// Decide where `facts` go under `cfg`.
pub fn decide(
    facts: &RequestFacts,
    cfg: &Config,
    lookup: &dyn ModelLookup,
) -> Result<RouteDecision, RouteError> {
    let model = facts.model.as_deref();
    let requested = if is_auto(model) {
        "auto".to_string()
    } else {
        model.unwrap_or_default().to_string()
    };

    // 1. Explicit provider/model.
    if let Some((p, m)) = requested.split_once('/')
        && !m.is_empty()
        && cfg.provider(p).is_some()
    {
        let t = Target {
            provider: p.into(),
            model: m.into(),
        };
        return finish(
            facts,
            cfg,
            requested.clone(),
            None,
            None,
            vec![t],
            format!("`{requested}` names provider `{p}` explicitly"),
        );
    }

    // 2. Rules, for `auto` and for aliases a rule opts into.
    let requested_alias = if requested == "auto" {
        None
    } else {
        cfg.alias(&requested).map(|a| a.name.as_str())
    };
    if (requested == "auto" || requested_alias.is_some())
        && let Some(rule) = cfg
            .routing
            .rules
            .iter()
            .find(|r| rule_matches(r, facts, requested_alias))
    {
        let reason = format!(
            "`{requested}`: {} → alias `{}`",
            describe_rule(rule, facts),
            rule.use_alias
        );
        return alias_route(
            facts,
            cfg,
            requested,
            &rule.use_alias,
            Some(rule.name.clone()),
            reason,
        );
    }
    if requested == "auto" {
        let Some((d, source)) = default_of(facts, cfg) else {
            return Err(RouteError::NoDefault);
        };
        let reason = format!("`auto`: no rule matched → {source} `{d}`");
        return alias_route(facts, cfg, requested, d, None, reason);
    }

    // 3. An alias.
    if let Some(a) = requested_alias {
        let reason = format!("`{requested}` is an alias");
        return alias_route(facts, cfg, requested.clone(), a, None, reason);
    }

    // 4. A bare model name some provider lists.
    let listers: Vec<&str> = cfg
        .providers
        .iter()
        .filter(|p| {
            p.models.contains(&requested)
                || lookup.lists(&p.name, &requested)
                || cfg
                    .aliases
                    .iter()
                    .flat_map(|a| a.route.iter())
                    .any(|t| t.provider == p.name && t.model == requested)
        })
        .map(|p| p.name.as_str())
        .collect();
    match listers.as_slice() {
        [one] => {
            let t = Target {
                provider: (*one).to_string(),
                model: requested.clone(),
            };
            let reason = format!("`{requested}` is a model listed by provider `{one}`");
            return finish(facts, cfg, requested, None, None, vec![t], reason);
        }
        [] => {}
        many => {
            return Err(RouteError::Ambiguous {
                model: requested,
                providers: many.iter().map(|s| s.to_string()).collect(),
            });
        }
    }

    // 5. Unknown.
    match (cfg.routing.unknown_model, default_of(facts, cfg)) {
        (UnknownModel::Default, Some((d, source))) => {
            let reason = format!(
                "`{requested}` is unknown; routing.unknown_model is `default` → {source} `{d}`"
            );
            alias_route(facts, cfg, requested, d, None, reason)
        }
        _ => Err(RouteError::UnknownModel {
            requested,
            aliases: cfg.aliases.iter().map(|a| a.name.clone()).collect(),
            providers: cfg.providers.iter().map(|p| p.name.clone()).collect(),
        }),
    }
}

/// The alias `auto` means for this request, and where that came from: the request's project's
/// `default`, else `routing.default`.
fn default_of<'a>(facts: &RequestFacts, cfg: &'a Config) -> Option<(&'a str, String)> {
    if let Some(p) = cfg.project(&facts.project)
        && let Some(d) = &p.default
    {
        return Some((d, format!("project `{}`'s default", p.name)));
    }
    cfg.routing
        .default
        .as_deref()
        .map(|d| (d, "routing.default".to_string()))
}

fn alias_route(
    facts: &RequestFacts,
    cfg: &Config,
    requested: String,
    alias: &str,
    rule: Option<String>,
    reason: String,
) -> Result<RouteDecision, RouteError> {
    let targets = cfg
        .alias(alias)
        .map(|a| a.route.clone())
        .unwrap_or_default();
    finish(
        facts,
        cfg,
        requested,
        Some(alias.to_string()),
        rule,
        targets,
        reason,
    )
}

/// Drop entries that cannot serve the endpoint, recording why.
fn finish(
    facts: &RequestFacts,
    cfg: &Config,
    requested: String,
    alias: Option<String>,
    rule: Option<String>,
    all: Vec<Target>,
    reason: String,
) -> Result<RouteDecision, RouteError> {
    let mut targets = Vec::new();
    let mut skipped = Vec::new();
    let project_local = cfg
        .project(&facts.project)
        .filter(|p| p.local_only)
        .map(|p| p.name.as_str());
    for t in all {
        let provider = cfg.provider(&t.provider);
        let why = provider.and_then(|p| p.kind.cannot_serve(facts.endpoint));
        let cloud = !provider.is_some_and(|p| p.is_local());
        match why {
            Some(w) => skipped.push((t, w.to_string())),
            None if cloud && cfg.routing.local_only => {
                skipped.push((
                    t,
                    format!(
                        "{LOCAL_ONLY_SKIP}: cloud providers are not used (turn it off in the \
                         tray, the UI, or with `lodestar use --local-only off`)"
                    ),
                ));
            }
            None if cloud && let Some(name) = project_local => {
                skipped.push((
                    t,
                    format!(
                        "{LOCAL_ONLY_SKIP} for project `{name}`: cloud providers are not used \
                         (`projects.{name}.local_only` in the config, or the UI's Projects page)"
                    ),
                ));
            }
            None => targets.push(t),
        }
    }
    if targets.is_empty() {
        return Err(RouteError::NothingCanServe { requested, skipped });
    }
    Ok(RouteDecision {
        requested,
        alias,
        rule,
        targets,
        skipped,
        reason,
    })
}
