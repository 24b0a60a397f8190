//! `lodestar route "PROMPT" [--model M] [--explain]`: where would this go, and why.

use std::path::Path;
use std::process::ExitCode;

use super::{load_config, output, runtime};
use crate::providers::{ModelCatalog, Providers, refresh_catalog};
use crate::router::{self, NoDiscovery, RequestFacts, RouteError};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The prompt (only its length matters to the rules).
    prompt: String,
    /// The model the client would ask for (an alias, `auto`, `provider/model` or a bare name).
    #[arg(long, short, default_value = "auto")]
    model: String,
    /// Also print the rule that fired, the entries skipped and the prompt estimate.
    #[arg(long)]
    explain: bool,
}

pub(crate) fn run(config: Option<&Path>, args: Args) -> Result<ExitCode, String> {
    let (file, _) = load_config(config)?;
    let (cfg, switched) = super::effective(&file);
    let facts = RequestFacts::from_prompt(Some(args.model.clone()), &args.prompt);
    let decision = match router::decide(&facts, &cfg, &NoDiscovery) {
        // A bare model name may be one a provider lists: ask them, then decide again.
        Err(RouteError::UnknownModel { .. }) => {
            let rt = runtime(&cfg)?;
            let catalog = rt.block_on(async {
                let _ = rustls::crypto::ring::default_provider().install_default();
                let providers = Providers::build(&cfg)?;
                let catalog = std::sync::Arc::new(ModelCatalog::default());
                refresh_catalog(&providers, &catalog).await;
                Ok::<_, String>(catalog)
            })?;
            router::decide(&facts, &cfg, catalog.as_ref())
        }
        other => other,
    }
    .map_err(|e| e.to_string())?;
    let route: Vec<String> = decision.targets.iter().map(|t| t.to_string()).collect();
    output::line(route.join(" -> "));
    if args.explain {
        output::line(format!("why:      {}", decision.reason));
        output::line(format!(
            "rule:     {}",
            decision.rule.as_deref().unwrap_or("(none)")
        ));
        output::line(format!(
            "alias:    {}",
            decision.alias.as_deref().unwrap_or("(none)")
        ));
        output::line(format!("estimate: ≈{} prompt tokens", facts.prompt_tokens));
        if let Some(how) = &switched {
            output::line(format!(
                "switch:   default `{}`, local only {} ({how})",
                cfg.routing.default.as_deref().unwrap_or("-"),
                if cfg.routing.local_only { "on" } else { "off" }
            ));
        }
        for (t, why) in &decision.skipped {
            output::line(format!("skipped:  {t} ({why})"));
        }
        output::line(
            "fallback: entries are tried in order; the next is used on connect errors, timeouts, 5xx, 429, 408, 401/403/404, before any byte reaches the client",
        );
    }
    Ok(ExitCode::SUCCESS)
}
