//! `lodestar status`: the running server's state on one screen, from `/admin/api/status`.

use std::process::ExitCode;

use serde_json::Value;

use super::output;

fn mib(b: u64) -> String {
    format!("{:.0} MiB", b as f64 / 1048576.0)
}

pub(super) fn run(cli_config: Option<&std::path::Path>, json: bool) -> Result<ExitCode, String> {
    let (cfg, _) = super::load_config(cli_config)?;
    let Some((200, body)) = super::admin(&cfg, "GET", "/admin/api/status") else {
        return Err(format!(
            "no Lodestar answers at {} (start it with `lodestar serve`, or pass the --config it uses)",
            cfg.server.listen
        ));
    };
    let v: Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
    if json {
        output::line(serde_json::to_string_pretty(&v).map_err(|e| e.to_string())?);
        return Ok(ExitCode::SUCCESS);
    }
    output::line(format!(
        "lodestar {} at {}, up {} s",
        v["version"].as_str().unwrap_or("?"),
        cfg.server.listen,
        v["uptime_s"]
    ));
    output::line("providers:");
    for p in v["providers"].as_array().into_iter().flatten() {
        let listing = match p["listing_error"].as_str() {
            Some(e) => format!("listing failed: {e}"),
            None => format!("{} models listed", p["models_listed"]),
        };
        let h = &p["health"];
        let pct = |w: &str| {
            h["uptime"][w]
                .as_f64()
                .map_or("-".to_string(), |u| format!("{:.1}%", u * 100.0))
        };
        let latency = h["latency_ms"]["p50"]
            .as_f64()
            .map(|p50| {
                format!(
                    ", p50 {p50:.0} ms / p95 {:.0} ms",
                    h["latency_ms"]["p95"].as_f64().unwrap_or(0.0)
                )
            })
            .unwrap_or_default();
        output::line(format!(
            "  {} ({} at {}): {}{latency}, uptime 1h {} 24h {} 7d {}; {listing}",
            p["name"].as_str().unwrap_or("?"),
            p["kind"].as_str().unwrap_or("?"),
            p["base_url"].as_str().unwrap_or("?"),
            h["state"].as_str().unwrap_or("unknown"),
            pct("1h"),
            pct("24h"),
            pct("7d"),
        ));
        if let Some(e) = h["last_error"].as_str() {
            output::line(format!("    last error: {e}"));
        }
        for m in p["loaded"].as_array().into_iter().flatten() {
            output::line(format!(
                "    loaded: {} ({} in VRAM)",
                m["name"].as_str().unwrap_or("?"),
                mib(m["vram_bytes"].as_u64().unwrap_or(0))
            ));
        }
        if let Some(e) = p["loaded_error"].as_str() {
            output::line(format!("    loaded models unknown: {e}"));
        }
    }
    let circuits = v["circuits"].as_array().cloned().unwrap_or_default();
    if circuits.is_empty() {
        output::line("circuits: all closed");
    } else {
        output::line("circuits:");
        for c in circuits {
            output::line(format!(
                "  {}: {} ({})",
                c["target"].as_str().unwrap_or("?"),
                c["state"].as_str().unwrap_or("?"),
                c["last_error"].as_str().unwrap_or("-")
            ));
        }
    }
    match v["gpu"]["status"].as_str() {
        Some("ok") => {
            output::line("gpu:");
            for g in v["gpu"]["gpus"].as_array().into_iter().flatten() {
                output::line(format!(
                    "  {} {}: {}% busy, {} of {}, {} C",
                    g["index"],
                    g["name"].as_str().unwrap_or("?"),
                    g["utilization_pct"],
                    mib(g["memory_used_bytes"].as_u64().unwrap_or(0)),
                    mib(g["memory_total_bytes"].as_u64().unwrap_or(0)),
                    g["temperature_c"]
                ));
            }
        }
        Some("none") => output::line(format!(
            "gpu: none ({})",
            v["gpu"]["reason"].as_str().unwrap_or("?")
        )),
        _ => output::line("gpu: starting"),
    }
    for r in v["remote_gpus"].as_array().into_iter().flatten() {
        let host = r["host"].as_str().unwrap_or("?");
        match r["status"].as_str() {
            Some("ok") => {
                for g in r["gpus"].as_array().into_iter().flatten() {
                    output::line(format!(
                        "  {host} {} {}: {}% busy, {} of {}, {} C",
                        g["index"],
                        g["name"].as_str().unwrap_or("?"),
                        g["utilization_pct"],
                        mib(g["memory_used_bytes"].as_u64().unwrap_or(0)),
                        mib(g["memory_total_bytes"].as_u64().unwrap_or(0)),
                        g["temperature_c"]
                    ));
                }
            }
            Some(other) => output::line(format!(
                "  {host}: {other} ({})",
                r["reason"].as_str().unwrap_or("-")
            )),
            None => {}
        }
    }
    Ok(ExitCode::SUCCESS)
}
