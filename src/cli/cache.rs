//! `lodestar cache stats|clear`: through the running server's admin API when it answers (its
//! memory tier and counters), else on the database's disk tier directly.

use std::process::ExitCode;

use super::output;

#[derive(Debug, clap::Subcommand)]
pub enum CacheAction {
    /// Entries, bytes, hit rate and what the hits saved.
    Stats {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Forget cached answers (all, or one project's).
    Clear {
        #[arg(long)]
        project: Option<String>,
    },
}

pub(super) fn run(
    cli_config: Option<&std::path::Path>,
    action: CacheAction,
) -> Result<ExitCode, String> {
    let (cfg, _) = super::load_config(cli_config)?;
    match action {
        CacheAction::Stats { json } => {
            let (source, stats) = match super::admin(&cfg, "GET", "/admin/api/cache") {
                Some((200, body)) => {
                    let v: serde_json::Value =
                        serde_json::from_str(&body).map_err(|e| e.to_string())?;
                    ("the running server", v["stats"].clone())
                }
                _ => {
                    let store = super::costs::open_store(&cfg)?;
                    let (entries, bytes) = store.cache_size().map_err(|e| e.to_string())?;
                    let (hits, saved): (i64, f64) = store
                        .read_blocking(|c| {
                            c.query_row(
                                "SELECT count(*), COALESCE(SUM(saved_usd), 0) FROM requests WHERE cache_hit = 1",
                                [],
                                |r| Ok((r.get(0)?, r.get(1)?)),
                            )
                        })
                        .map_err(|e| e.to_string())?;
                    let total: i64 = store
                        .read_blocking(|c| {
                            c.query_row("SELECT count(*) FROM requests", [], |r| r.get(0))
                        })
                        .map_err(|e| e.to_string())?;
                    (
                        "the database (no server answered)",
                        serde_json::json!({
                            "disk_entries": entries, "disk_bytes": bytes, "hits": hits,
                            "requests": total,
                            "hit_rate": if total > 0 { hits as f64 / total as f64 } else { 0.0 },
                            "saved_usd": saved,
                        }),
                    )
                }
            };
            if json {
                output::line(serde_json::to_string_pretty(&stats).map_err(|e| e.to_string())?);
            } else {
                output::line(format!("from {source}:"));
                for (k, v) in stats.as_object().into_iter().flatten() {
                    output::line(format!("  {k}: {v}"));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        CacheAction::Clear { project } => {
            let path = match &project {
                Some(p) => format!("/admin/api/cache?project={p}"),
                None => "/admin/api/cache".into(),
            };
            match super::admin(&cfg, "DELETE", &path) {
                Some((200, _)) => output::line("cleared (memory and disk, in the running server)"),
                Some((status, body)) => {
                    return Err(format!("the server answered {status}: {body}"));
                }
                None => {
                    let store = super::costs::open_store(&cfg)?;
                    store.send(crate::store::Write::CacheClear { project });
                    store.flush_blocking();
                    output::line("cleared the disk tier (no server was running)");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
