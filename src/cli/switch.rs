//! `lodestar use [ALIAS] [--local-only on|off] [--reset]`: the quick switch on the running
//! instance (desktop or headless), through the admin API — the same state as the tray and UI.

use std::path::Path;
use std::process::ExitCode;

use serde_json::{Value, json};

use super::{load_config, output};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The alias new requests for `auto` go to from now on.
    alias: Option<String>,
    /// Route to local providers only (`on`), or to every provider again (`off`).
    #[arg(long, value_name = "on|off", value_parser = ["on", "off"])]
    local_only: Option<String>,
    /// Pause the proxy (`on`: every model request is answered 503 until `off`).
    #[arg(long, value_name = "on|off", value_parser = ["on", "off"])]
    paused: Option<String>,
    /// Go back to the config file's `routing.default`.
    #[arg(long, conflicts_with = "alias")]
    reset: bool,
}

pub(crate) fn run(config: Option<&Path>, args: Args) -> Result<ExitCode, String> {
    let (cfg, _) = load_config(config)?;
    let mut change = serde_json::Map::new();
    if let Some(a) = &args.alias {
        change.insert("default".into(), json!(a));
    }
    if args.reset {
        change.insert("default".into(), Value::Null);
    }
    if let Some(l) = &args.local_only {
        change.insert("local_only".into(), json!(l == "on"));
    }
    if let Some(p) = &args.paused {
        change.insert("paused".into(), json!(p == "on"));
    }
    let answer = if change.is_empty() {
        super::admin(&cfg, "GET", "/admin/api/routing")
    } else {
        let body = Value::Object(change).to_string();
        super::admin_with(&cfg, "PUT", "/admin/api/routing", Some(&body))
    };
    let Some((status, body)) = answer else {
        return Err(format!(
            "no Lodestar answers at {} (start it with `lodestar serve` or the desktop app, or \
             pass the --config it uses); the switch is made on a running instance",
            cfg.server.listen
        ));
    };
    let v: Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
    if status != 200 {
        return Err(v["error"]["message"]
            .as_str()
            .unwrap_or(body.as_str())
            .to_string());
    }
    let default = v["default"].as_str().unwrap_or("(none)");
    let source = if v["default_source"] == "switched" {
        "switched"
    } else {
        "from the config file"
    };
    output::line(format!("default: {default} ({source})"));
    output::line(format!(
        "local only: {}",
        if v["local_only"] == true { "on" } else { "off" }
    ));
    if v["paused"] == true {
        output::line("paused: yes (model requests are answered 503 until `--paused off`)");
    }
    Ok(ExitCode::SUCCESS)
}
