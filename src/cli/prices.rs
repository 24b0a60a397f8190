//! `lodestar prices`: import a LiteLLM-format price file, or show what a model costs.

use std::process::ExitCode;

use super::output;
use crate::ledger::{Price, PriceTable, Pricer};

#[derive(Debug, clap::Subcommand)]
pub enum PricesAction {
    /// Read a `model_prices_and_context_window.json` (LiteLLM's community price file) and use
    /// its prices over the shipped table from now on (config `prices:` still win).
    Import {
        /// The JSON file.
        file: std::path::PathBuf,
    },
    /// Show the price Lodestar uses for PROVIDER/MODEL (a provider from the config).
    Show {
        /// e.g. `openai/gpt-4o-mini`.
        target: String,
    },
}

/// Where imported prices are kept: next to the database.
fn imported_path(cfg: &crate::config::Config) -> Result<std::path::PathBuf, String> {
    let db = cfg
        .storage
        .path
        .clone()
        .or_else(crate::store::default_path)
        .ok_or("no data directory is known for this user; set `storage.path` in the config")?;
    Ok(db
        .parent()
        .map(|d| d.join(crate::engine::IMPORTED_PRICES))
        .unwrap_or_else(|| crate::engine::IMPORTED_PRICES.into()))
}

pub(super) fn run(
    cli_config: Option<&std::path::Path>,
    action: PricesAction,
) -> Result<ExitCode, String> {
    let (cfg, _) = super::load_config(cli_config)?;
    match action {
        PricesAction::Import { file } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            let json: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| format!("{} is not JSON: {e}", file.display()))?;
            let (table, skipped) =
                PriceTable::from_litellm(&json).map_err(|e| format!("{}: {e}", file.display()))?;
            let n: usize = table.vendors.values().map(|v| v.models.len()).sum();
            if n == 0 {
                return Err(format!(
                    "{} has no entries Lodestar can use (it needs `litellm_provider` and \
                     `input_cost_per_token`/`output_cost_per_token`)",
                    file.display()
                ));
            }
            let out = imported_path(&cfg)?;
            if let Some(d) = out.parent() {
                std::fs::create_dir_all(d)
                    .map_err(|e| format!("cannot create {}: {e}", d.display()))?;
            }
            let body =
                serde_json::to_string_pretty(&table.to_yaml_json()).map_err(|e| e.to_string())?;
            std::fs::write(&out, body)
                .map_err(|e| format!("cannot write {}: {e}", out.display()))?;
            let mut per: Vec<String> = table
                .vendors
                .iter()
                .map(|(v, p)| format!("{v}: {}", p.models.len()))
                .collect();
            per.sort();
            output::line(format!(
                "imported {n} prices ({}); {skipped} entries skipped (other providers or no token prices). Saved to {}. Restart `lodestar serve` to use them.",
                per.join(", "),
                out.display()
            ));
            Ok(ExitCode::SUCCESS)
        }
        PricesAction::Show { target } => {
            let Some((provider, model)) = target.split_once('/') else {
                return Err(format!("`{target}` is not PROVIDER/MODEL"));
            };
            if cfg.provider(provider).is_none() {
                return Err(format!(
                    "provider `{provider}` is not in the config (defined: {})",
                    cfg.providers
                        .iter()
                        .map(|p| p.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            let imported = imported_path(&cfg)
                .ok()
                .filter(|p| p.exists())
                .and_then(|p| PriceTable::load_json(&p).ok());
            let pricer = Pricer::new(&cfg.providers, imported.as_ref());
            let line = match pricer.price(provider, model) {
                Price::Free if model.ends_with(":free") => "free (an OpenRouter `:free` model)".to_string(),
                Price::Free => "free (a local provider; set `cost_per_hour` to price its GPU time)".to_string(),
                Price::PerHour(usd) => format!("${usd}/hour of request time (`cost_per_hour`)"),
                Price::Unknown => "unknown: requests are recorded with cost unknown. Add `prices:` under the provider or `lodestar prices import FILE`".to_string(),
                Price::Tokens(r) => serde_json::to_string(&r).map(|j| format!("USD per million tokens: {j}")).map_err(|e| e.to_string())?,
            };
            output::line(format!("{target}: {line}"));
            Ok(ExitCode::SUCCESS)
        }
    }
}
