//! `lodestar models`: aliases and their routes, then each provider and the models it lists.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use super::{load_config, output, runtime};
use crate::providers::{ModelCatalog, Providers, refresh_catalog};

pub(crate) fn run(config: Option<&Path>) -> Result<ExitCode, String> {
    let (file, _) = load_config(config)?;
    let (cfg, switched) = super::effective(&file);
    let rt = runtime(&cfg)?;
    let catalog = rt.block_on(async {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let providers = Providers::build(&cfg)?;
        let catalog = Arc::new(ModelCatalog::default());
        refresh_catalog(&providers, &catalog).await;
        Ok::<_, String>(catalog)
    })?;
    output::line("aliases:");
    if cfg.aliases.is_empty() {
        output::line("  (none; add some under `models:`)");
    }
    for a in &cfg.aliases {
        let route: Vec<String> = a.route.iter().map(|t| t.to_string()).collect();
        let default = match (
            cfg.routing.default.as_deref() == Some(a.name.as_str()),
            &switched,
        ) {
            (true, Some(_)) => "  [default, switched]",
            (true, None) => "  [default]",
            _ => "",
        };
        output::line(format!("  {:<16} {}{default}", a.name, route.join(" -> ")));
    }
    output::line("providers:");
    for p in &cfg.providers {
        output::line(format!("  {} ({}, {})", p.name, p.kind, p.base_url));
        let mut listed = p.models.clone();
        for m in catalog.models(&p.name) {
            if !listed.contains(&m) {
                listed.push(m);
            }
        }
        if let Some(e) = catalog.error(&p.name) {
            output::line(format!("    (model listing failed: {e})"));
        }
        for m in listed {
            output::line(format!("    {}/{m}", p.name));
        }
    }
    Ok(ExitCode::SUCCESS)
}
