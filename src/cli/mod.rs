//! The `lodestar` command line: one file per subcommand, each thin over the library.

mod agent;
mod cache;
mod config_check;
mod costs;
mod models;
mod output;
mod prices;
mod route;
mod run;
mod serve;
mod status;
mod switch;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use crate::config::{self, Config, Located};

/// Lodestar: one local endpoint for all your editors, agents and scripts, routed to local GPU
/// models (Ollama, llama.cpp, vLLM, LM Studio) and cloud providers (OpenAI, Anthropic,
/// OpenRouter, Groq, ...) by your rules, with fallbacks.
///
/// Point clients at it: OPENAI_BASE_URL=http://127.0.0.1:8080/v1
#[derive(Debug, Parser)]
#[command(name = "lodestar", version, propagate_version = true)]
pub struct Cli {
    /// Config file (default: $LODESTAR_CONFIG, else ~/.config/lodestar/config.yml, else the
    /// embedded default with one local Ollama).
    #[arg(long, short, global = true, value_name = "PATH")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the proxy (headless). Stops cleanly on Ctrl-C or SIGTERM.
    Serve(serve::Args),
    /// Send one prompt through the routing and stream the answer to the terminal.
    Run(run::Args),
    /// Dry run: show where a prompt would be routed, and why (nothing is sent).
    Route(route::Args),
    /// List aliases, their routes, and the models each provider offers.
    Models,
    /// Check the config file.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Store an API key in the OS keyring (read from stdin), for `api_key_keyring: NAME`.
    Key {
        #[command(subcommand)]
        action: KeyAction,
    },
    /// Spend from the ledger: totals by model, provider, project, alias or day.
    Costs(costs::CostsArgs),
    /// Each budget: spend this period, pace and projection to the period's end.
    Budget(costs::BudgetArgs),
    /// One screen of the running server's state: providers (Ollama: the models loaded now and
    /// their VRAM), circuits, GPUs.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Switch the default alias (what `auto` gets) or local-only mode on the running Lodestar:
    /// the same switch as the tray and the UI. With no argument, show the current state.
    Use(switch::Args),
    /// Serve this machine's GPU readings over HTTP (JSON and Prometheus) for a Lodestar on
    /// another machine (`gpus: [{ agent_url: http://THIS-HOST:9091 }]` there).
    Agent(agent::Args),
    /// The response cache: stats, or clear it.
    Cache {
        #[command(subcommand)]
        action: cache::CacheAction,
    },
    /// Model prices: import LiteLLM's price file, or show a model's price.
    Prices {
        #[command(subcommand)]
        action: prices::PricesAction,
    },
    /// Print a shell completion script, e.g. `lodestar completions bash > ~/.local/share/bash-completion/completions/lodestar`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigAction {
    /// Validate the config and print the effective values with where each came from.
    Check,
    /// Print the path Lodestar would load, and how it was found.
    Path,
    /// Make the running Lodestar read its config file again (errors are shown, and the running
    /// config stays). `kill -HUP` on `lodestar serve` does the same.
    Reload,
}

#[derive(Debug, Subcommand)]
enum KeyAction {
    /// Store the key read from stdin under NAME (service `lodestar`).
    Set { name: String },
}

/// Entry point of the `lodestar` binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run_command(cli) {
        Ok(code) => code,
        Err(msg) => {
            output::note(format!("error: {msg}"));
            ExitCode::from(1)
        }
    }
}

fn run_command(cli: Cli) -> Result<ExitCode, String> {
    match cli.command {
        Command::Serve(args) => serve::run(cli.config.as_deref(), args),
        Command::Run(args) => run::run(cli.config.as_deref(), args),
        Command::Route(args) => route::run(cli.config.as_deref(), args),
        Command::Models => models::run(cli.config.as_deref()),
        Command::Costs(args) => costs::costs(cli.config.as_deref(), args),
        Command::Budget(args) => costs::budget(cli.config.as_deref(), args),
        Command::Prices { action } => prices::run(cli.config.as_deref(), action),
        Command::Cache { action } => cache::run(cli.config.as_deref(), action),
        Command::Status { json } => status::run(cli.config.as_deref(), json),
        Command::Agent(args) => agent::run(args),
        Command::Use(args) => switch::run(cli.config.as_deref(), args),
        Command::Config {
            action: ConfigAction::Check,
        } => config_check::run(cli.config.as_deref()),
        Command::Config {
            action: ConfigAction::Reload,
        } => {
            let (cfg, _) = load_config(cli.config.as_deref())?;
            let Some((status, body)) = admin(&cfg, "POST", "/admin/api/config/reload") else {
                return Err(format!(
                    "no Lodestar answers at {}; start it with `lodestar serve`",
                    cfg.server.listen
                ));
            };
            let v: serde_json::Value =
                serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
            if status != 200 {
                for e in v["errors"].as_array().into_iter().flatten() {
                    output::note(e.as_str().unwrap_or_default());
                }
                return Err("the config was not reloaded; the running one stays".into());
            }
            output::line(format!(
                "reloaded {}",
                v["outcome"]["config"].as_str().unwrap_or("?")
            ));
            for r in v["outcome"]["needs_restart"]
                .as_array()
                .into_iter()
                .flatten()
            {
                output::line(format!("  restart to apply: {}", r.as_str().unwrap_or("?")));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Config {
            action: ConfigAction::Path,
        } => {
            let located = config::locate(cli.config.as_deref(), &config::process_env)?;
            match &located.path {
                Some(p) => output::line(format!("{} ({})", p.display(), located.how)),
                None => output::line(format!("<embedded default> ({})", located.how)),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Key {
            action: KeyAction::Set { name },
        } => {
            let mut secret = String::new();
            std::io::stdin()
                .read_line(&mut secret)
                .map_err(|e| format!("cannot read the key from stdin: {e}"))?;
            let secret = secret.trim();
            if secret.is_empty() {
                return Err(
                    "no key on stdin; pipe it in: `lodestar key set NAME < keyfile`".into(),
                );
            }
            crate::secrets::keyring_set(&name, secret)?;
            output::note(format!(
                "stored; use it with `api_key_keyring: {name}` under a provider"
            ));
            Ok(ExitCode::SUCCESS)
        }
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "lodestar", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Find and load the config, printing every problem on failure.
fn load_config(cli_path: Option<&std::path::Path>) -> Result<(Config, Located), String> {
    let located = config::locate(cli_path, &config::process_env)?;
    let cfg = Config::load(&located, &config::process_env).map_err(|e| e.to_string())?;
    Ok((cfg, located))
}

/// The engine's runtime (`Engine::runtime`).
fn runtime(cfg: &Config) -> Result<tokio::runtime::Runtime, String> {
    crate::Engine::runtime(cfg)
}

/// Logs to stderr (buffered; the guard flushes at exit); `RUST_LOG` overrides `default`.
fn init_logging(default: &str) -> crate::logging::FlushGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let (writer, guard) = crate::logging::BufferedStderr::new();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .event_format(crate::logging::LineFormat)
        .try_init();
    guard
}

/// One HTTP/1.1 exchange with the local server's admin API: (status, body). None when no
/// server answers at the configured address.
pub(super) fn admin(cfg: &Config, method: &str, path: &str) -> Option<(u16, String)> {
    admin_with(cfg, method, path, None)
}

/// `admin` with a JSON body.
pub(super) fn admin_with(
    cfg: &Config,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let addr = cfg.server.listen;
    let mut s =
        std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_millis(500)).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .ok()?;
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let status = out.split_whitespace().nth(1)?.parse().ok()?;
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((status, body))
}

/// The config routing uses now: the running instance's quick switch if one answers, else
/// the switch saved in the database, else the file as it is.
pub(super) fn effective(cfg: &Config) -> (Config, Option<String>) {
    if let Some((200, body)) = admin(cfg, "GET", "/admin/api/routing")
        && let Ok(v) = serde_json::from_str::<serde_json::Value>(&body)
    {
        let note = (v["default_source"] == "switched" || v["local_only"] == true)
            .then(|| "as switched on the running instance".to_string());
        let c = crate::switch::apply(cfg, v["default"].as_str(), v["local_only"].as_bool());
        return (c, note);
    }
    let path = cfg.storage.path.clone().or_else(crate::store::default_path);
    if cfg.storage.enabled
        && let Some(p) = path.filter(|p| p.exists())
        && let Ok(store) = crate::store::Store::open(&p, Default::default())
    {
        let (d, l) = crate::switch::saved(&store);
        store.close();
        if d.is_some() || l.is_some() {
            let c = crate::switch::apply(cfg, d.as_deref(), l);
            return (c, Some("as last switched (`lodestar use`)".to_string()));
        }
    }
    (cfg.clone(), None)
}
