//! `lodestar costs` (spend totals from the ledger) and `lodestar budget` (each budget, its
//! spend, pace and projection). Both read the database directly: no server needs to run.

use std::process::ExitCode;
use std::sync::Arc;

use super::output;
use crate::config::Config;
use crate::ledger::query::{self, GroupBy, Totals, resolve_range};
use crate::store::{Store, now_ms};

#[derive(Debug, clap::Args)]
pub struct CostsArgs {
    /// Group by model, provider, project, alias or day.
    #[arg(long, default_value = "model")]
    by: String,
    /// From (YYYY-MM-DD, RFC 3339 or ms since 1970); default: 30 days ago.
    #[arg(long)]
    since: Option<String>,
    /// Until (exclusive); default: now.
    #[arg(long)]
    until: Option<String>,
    /// today, week or month (local calendar); overrides --since/--until.
    #[arg(long, conflicts_with_all = ["since", "until"])]
    period: Option<String>,
    /// Only this project's requests.
    #[arg(long)]
    project: Option<String>,
    /// Print JSON.
    #[arg(long, conflicts_with = "csv")]
    json: bool,
    /// Print CSV.
    #[arg(long)]
    csv: bool,
}

#[derive(Debug, clap::Args)]
pub struct BudgetArgs {
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// The database the config points at (what `lodestar serve` writes).
pub(super) fn open_store(cfg: &Config) -> Result<Arc<Store>, String> {
    let path = cfg
        .storage
        .path
        .clone()
        .or_else(crate::store::default_path)
        .ok_or("no data directory is known for this user; set `storage.path` in the config")?;
    Store::open(&path, cfg.storage.responses).map_err(|e| e.to_string())
}

fn usd(v: f64) -> String {
    format!("${v:.4}")
}

pub(super) fn costs(
    cli_config: Option<&std::path::Path>,
    a: CostsArgs,
) -> Result<ExitCode, String> {
    let (cfg, _) = super::load_config(cli_config)?;
    let g = GroupBy::parse(&a.by).ok_or_else(|| {
        format!(
            "unknown --by `{}`; use model, provider, project, alias or day",
            a.by
        )
    })?;
    let (since, until) = resolve_range(
        a.since.as_deref(),
        a.until.as_deref(),
        a.period.as_deref(),
        30,
    )?;
    let store = open_store(&cfg)?;
    let s = store
        .read_blocking(|c| query::summary(c, since, until, g, a.project.as_deref()))
        .map_err(|e| e.to_string())?;
    if a.json {
        output::line(serde_json::to_string_pretty(&s).map_err(|e| e.to_string())?);
        return Ok(ExitCode::SUCCESS);
    }
    let header = [
        "key",
        "requests",
        "errors",
        "input",
        "output",
        "cache_read",
        "cache_write_5m",
        "cache_write_1h",
        "reasoning",
        "cost_usd",
        "unpriced_requests",
    ];
    let row = |key: &str, t: &Totals| -> Vec<String> {
        vec![
            key.to_string(),
            t.requests.to_string(),
            t.errors.to_string(),
            t.input_tokens.to_string(),
            t.output_tokens.to_string(),
            t.cache_read_tokens.to_string(),
            t.cache_write_5m_tokens.to_string(),
            t.cache_write_1h_tokens.to_string(),
            t.reasoning_tokens.to_string(),
            if a.csv {
                format!("{:.9}", t.cost_usd)
            } else {
                usd(t.cost_usd)
            },
            t.unpriced_requests.to_string(),
        ]
    };
    let mut rows: Vec<Vec<String>> = s.groups.iter().map(|g| row(&g.key, &g.totals)).collect();
    if a.csv {
        output::line(header.join(","));
        for r in rows {
            output::line(r.iter().map(|c| csv_field(c)).collect::<Vec<_>>().join(","));
        }
        return Ok(ExitCode::SUCCESS);
    }
    output::line(format!(
        "{} to {} (hourly rollup: bounds are to the hour), by {}",
        query::local_time(since),
        query::local_time(until),
        a.by
    ));
    rows.push(row("TOTAL", &s.total));
    table(&header, &rows);
    if s.total.unpriced_requests > 0 {
        output::note(format!(
            "{} request(s) went to models with no known price: their cost is unknown, not 0. \
             Add `prices:` under the provider in the config, or run `lodestar prices import FILE`",
            s.total.unpriced_requests
        ));
    }
    Ok(ExitCode::SUCCESS)
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut w: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.len());
        }
    }
    let fmt = |cells: Vec<&str>| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i == 0 {
                    format!("{c:<width$}", width = w[i])
                } else {
                    format!("{c:>width$}", width = w[i])
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
    };
    output::line(fmt(header.to_vec()));
    for r in rows {
        output::line(fmt(r.iter().map(String::as_str).collect()));
    }
}

pub(super) fn budget(
    cli_config: Option<&std::path::Path>,
    a: BudgetArgs,
) -> Result<ExitCode, String> {
    let (cfg, _) = super::load_config(cli_config)?;
    if cfg.budgets.is_empty() {
        output::note(
            "no budgets are configured; add them under `budgets:` in the config (see lodestar.example.yaml)",
        );
        return Ok(ExitCode::SUCCESS);
    }
    let store = open_store(&cfg)?;
    let now = now_ms();
    let mut out = Vec::new();
    for b in &cfg.budgets {
        let (start, end) = query::period_start(b.period);
        let project = b.project.clone();
        let spent = store
            .read_blocking(|c| query::spent(c, start, now + 1, project.as_deref()))
            .map_err(|e| e.to_string())?;
        let from = (now - 7 * 86_400_000).max(start.min(now - 86_400_000));
        let recent = store
            .read_blocking(|c| query::spent_hours(c, from, now + 1, project.as_deref()))
            .map_err(|e| e.to_string())?;
        let days = (now - from) as f64 / 86_400_000.0;
        let pace = query::pace(b.usd, spent, start, end, now, recent / days, days);
        out.push((b, spent, start, end, pace));
    }
    if a.json {
        let v: Vec<serde_json::Value> = out
            .iter()
            .map(|(b, spent, start, end, pace)| {
                serde_json::json!({
                    "name": b.name, "period": b.period, "project": b.project, "usd": b.usd,
                    "hard_limit_usd": b.hard_limit_usd, "spent_usd": spent,
                    "period_start_ms": start, "period_end_ms": end, "pace": pace,
                })
            })
            .collect();
        output::line(serde_json::to_string_pretty(&v).map_err(|e| e.to_string())?);
        return Ok(ExitCode::SUCCESS);
    }
    let header = [
        "budget",
        "period",
        "project",
        "spent",
        "budget_usd",
        "hard_limit",
        "used",
        "projected",
        "pace",
        "resets",
    ];
    let rows: Vec<Vec<String>> = out
        .iter()
        .map(|(b, spent, _, end, pace)| {
            vec![
                b.name.clone(),
                b.period.as_str().to_string(),
                b.project.clone().unwrap_or_else(|| "(all)".into()),
                usd(*spent),
                usd(b.usd),
                b.hard_limit_usd.map(usd).unwrap_or_else(|| "-".into()),
                format!("{:.0}%", spent / b.usd * 100.0),
                usd(pace.projected_usd),
                pace.verdict.clone(),
                query::local_time(*end),
            ]
        })
        .collect();
    table(&header, &rows);
    if let Some((_, _, _, _, p)) = out.first() {
        output::note(format!("projection: {}", p.method));
    }
    Ok(ExitCode::SUCCESS)
}
