//! `lodestar config check`: validate, then print every effective value and where it came from
//! (`file:line`, or `default`). Keys are shown by their source, never by value.

use std::path::Path;
use std::process::ExitCode;

use super::output;
use crate::config::{self, Config};

pub(crate) fn run(path: Option<&Path>) -> Result<ExitCode, String> {
    let located = config::locate(path, &config::process_env)?;
    let cfg = match Config::load(&located, &config::process_env) {
        Ok(c) => c,
        Err(errors) => {
            output::note(errors.to_string());
            return Ok(ExitCode::from(2));
        }
    };
    output::line(format!("# config: {} ({})", cfg.origin, located.how));
    output::line(format!(
        "# OK: {} provider(s), {} alias(es), {} rule(s)",
        cfg.providers.len(),
        cfg.aliases.len(),
        cfg.routing.rules.len()
    ));
    let rows = rows(&cfg);
    let width = rows
        .iter()
        .map(|(k, v)| k.len() + v.len())
        .max()
        .unwrap_or(0)
        + 3;
    for (k, v) in rows {
        let pad = width.saturating_sub(k.len() + v.len());
        output::line(format!("{k} = {v}{:pad$}# {}", "", cfg.source_of(&k)));
    }
    Ok(ExitCode::SUCCESS)
}

fn dur(d: std::time::Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// Every effective value as (dotted key, shown value).
fn rows(cfg: &Config) -> Vec<(String, String)> {
    let mut r = vec![
        ("server.listen".into(), cfg.server.listen.to_string()),
        (
            "server.worker_threads".into(),
            cfg.server
                .worker_threads
                .map_or("one per CPU".into(), |n| n.to_string()),
        ),
    ];
    for p in &cfg.providers {
        let k = |s: &str| format!("providers.{}.{s}", p.name);
        r.push((k("kind"), p.kind.to_string()));
        r.push((k("base_url"), p.base_url.clone()));
        let key = match &p.key_source {
            Some(src) => format!("set (from {src})"),
            None if p.pass_client_key => "the client's own key (pass_client_key)".into(),
            None => "none".into(),
        };
        let key_at = if p
            .key_source
            .as_deref()
            .is_some_and(|s| s.starts_with("keyring"))
        {
            "api_key_keyring"
        } else {
            "api_key_env"
        };
        r.push((k(key_at), key));
        if !p.models.is_empty() {
            r.push((k("models"), format!("[{}]", p.models.join(", "))));
        }
        r.push((k("discover_models"), p.discover_models.to_string()));
        if let Some((path, _)) = &p.ca_cert {
            r.push((k("ca_cert"), path.display().to_string()));
        }
        r.push((k("timeouts.connect"), dur(p.timeouts.connect)));
        r.push((k("timeouts.first_byte"), dur(p.timeouts.first_byte)));
        r.push((k("timeouts.idle"), dur(p.timeouts.idle)));
        r.push((k("timeouts.total"), dur(p.timeouts.total)));
        r.push((
            k("pool.max_idle_per_host"),
            p.pool.max_idle_per_host.to_string(),
        ));
        r.push((k("pool.idle_timeout"), dur(p.pool.idle_timeout)));
        if p.kind == crate::providers::ProviderKind::Anthropic {
            r.push((k("default_max_tokens"), p.default_max_tokens.to_string()));
        }
        for (h, _) in &p.headers {
            r.push((k(&format!("headers.{h}")), "(set)".into()));
        }
    }
    for a in &cfg.aliases {
        let route: Vec<String> = a.route.iter().map(|t| t.to_string()).collect();
        r.push((
            format!("models.{}.route", a.name),
            format!("[{}]", route.join(", ")),
        ));
    }
    let rt = &cfg.routing;
    r.push((
        "routing.default".into(),
        rt.default.clone().unwrap_or_else(|| "none".into()),
    ));
    r.push((
        "routing.unknown_model".into(),
        format!("{:?}", rt.unknown_model).to_lowercase(),
    ));
    r.push(("routing.max_retry_wait".into(), dur(rt.max_retry_wait)));
    for (i, rule) in rt.rules.iter().enumerate() {
        r.push((
            format!("routing.rules[{i}]"),
            format!("{} → use {}", rule.name, rule.use_alias),
        ));
    }
    r
}
