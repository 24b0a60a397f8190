//! `lodestar serve`: run the proxy until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;

use super::{init_logging, load_config, output, runtime};
use crate::config::ConfigOrigin;
use crate::{Engine, EngineOptions};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Listen here instead of `server.listen`, e.g. 127.0.0.1:9090 (port 0: any free port).
    #[arg(long, value_name = "HOST:PORT")]
    listen: Option<SocketAddr>,
    /// Log request bodies (your prompts) at info level. Off by default: logs stay prompt-free.
    #[arg(long)]
    log_bodies: bool,
}

pub(crate) fn run(config: Option<&Path>, args: Args) -> Result<ExitCode, String> {
    let (cfg, located) = load_config(config)?;
    let _log = init_logging("info");
    let rt = runtime(&cfg)?;
    rt.block_on(async move {
        let origin = cfg.origin.clone();
        let storage_enabled = cfg.storage.enabled;
        let providers: Vec<String> = cfg
            .providers
            .iter()
            .map(|p| format!("{} ({} at {})", p.name, p.kind, p.base_url))
            .collect();
        // Handlers first: a SIGTERM right after the "listening" line must stop us cleanly.
        let stop = shutdown_signal();
        let handle = Engine::start(
            cfg,
            EngineOptions {
                listen: args.listen,
                log_bodies: args.log_bodies,
                database: None,
                gpu_source: None,
            },
        )
        .await
        .map_err(|e| e.to_string())?;
        match origin {
            ConfigOrigin::File(p) => {
                output::line(format!("config: {} ({})", p.display(), located.how))
            }
            ConfigOrigin::Embedded => output::line(format!(
                "config: embedded default ({}); write one to change it (see lodestar.example.yaml)",
                located.how
            )),
        }
        output::line(format!("providers: {}", providers.join(", ")));
        match handle.ledger().store() {
            Some(st) => output::line(format!("ledger: {}", st.path().display())),
            None if !storage_enabled => output::line("ledger: off (storage.enabled: false)"),
            None => output::line(
                "ledger: off (the database could not be opened; see the warning above)",
            ),
        }
        output::line(format!(
            "lodestar listening on {}  (OpenAI base URL: {}/v1)",
            handle.base_url(),
            handle.base_url()
        ));
        // SIGHUP reloads the config file (as `POST /admin/api/config/reload` does).
        #[cfg(unix)]
        let mut hangup =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        tokio::pin!(stop);
        loop {
            #[cfg(unix)]
            let reload = async {
                match hangup.as_mut() {
                    Some(h) => {
                        h.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            #[cfg(not(unix))]
            let reload = std::future::pending::<()>();
            tokio::select! {
                _ = &mut stop => break,
                _ = reload => match handle.reload().await {
                    Ok(o) if o.needs_restart.is_empty() => {
                        output::note(format!("config reloaded from {}", o.config));
                    }
                    Ok(o) => output::note(format!(
                        "config reloaded from {}; restart Lodestar to apply: {}",
                        o.config,
                        o.needs_restart.join(", ")
                    )),
                    Err(errors) => {
                        output::note("config not reloaded (the running one stays):");
                        for e in errors {
                            output::note(format!("  {e}"));
                        }
                    }
                },
            }
        }
        output::note("shutting down: finishing in-flight requests");
        handle.shutdown().await;
        Ok(ExitCode::SUCCESS)
    })
}

/// A future that resolves on Ctrl-C or SIGTERM; the handlers are installed when it is created.
pub(super) fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        async move {
            match (term, int) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
