//! Runs `wrk` for one cell of the proxy_load bench and parses its `--latency` report.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::procs::{Placement, park_if_interrupted, register_child, unregister_child};

/// What one wrk run measured.
#[derive(Clone)]
pub struct WrkResult {
    pub rps: f64,
    pub p50: Duration,
    pub p99: Duration,
    pub requests: u64,
    /// Socket errors and non-2xx/3xx responses, as wrk words them; empty when none.
    pub errors: Vec<String>,
}

/// The wrk command line for one cell, as it is run.
pub fn command_line(
    placement: &Placement,
    connections: u32,
    seconds: u64,
    script: &Path,
    addr: SocketAddr,
) -> Vec<String> {
    let mut args = Vec::new();
    if let Some(cpu) = placement.load_cpu {
        args.extend(["taskset".to_string(), "-c".into(), cpu.to_string()]);
    }
    args.extend([
        "wrk".to_string(),
        "-t1".into(),
        format!("-c{connections}"),
        format!("-d{seconds}s"),
        "--latency".into(),
        "-s".into(),
        script.display().to_string(),
        format!("http://{addr}/v1/chat/completions"),
    ]);
    args
}

/// Runs wrk; panics with its output if it fails or prints something unparseable.
pub fn run(args: &[String]) -> WrkResult {
    let child = std::process::Command::new(&args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run wrk: {e}; run scripts/bench.sh or `apt-get install wrk`")
        });
    // Registered so that a SIGINT/SIGTERM of the bench ends it too.
    let pid = child.id();
    register_child(pid);
    let out = child.wait_with_output();
    unregister_child(pid);
    if !out.as_ref().is_ok_and(|o| o.status.success()) {
        park_if_interrupted();
    }
    let out = out.unwrap_or_else(|e| panic!("wrk: {e}"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "wrk failed ({}): {}\n{text}{stderr}",
        out.status,
        args.join(" ")
    );
    parse(&text).unwrap_or_else(|| {
        panic!(
            "cannot parse wrk output of `{}`:\n{text}{stderr}",
            args.join(" ")
        )
    })
}

fn parse(text: &str) -> Option<WrkResult> {
    let mut rps = None;
    let mut p50 = None;
    let mut p99 = None;
    let mut requests = None;
    let mut errors = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some(v) = line.strip_prefix("Requests/sec:") {
            rps = v.trim().parse().ok();
        } else if let Some(v) = line.strip_prefix("50%") {
            p50 = parse_duration(v.trim());
        } else if let Some(v) = line.strip_prefix("99%") {
            p99 = parse_duration(v.trim());
        } else if line.contains(" requests in ") {
            requests = line.split_whitespace().next().and_then(|n| n.parse().ok());
        } else if line.starts_with("Socket errors:")
            || line.starts_with("Non-2xx or 3xx responses:")
        {
            errors.push(line.to_string());
        }
    }
    Some(WrkResult {
        rps: rps?,
        p50: p50?,
        p99: p99?,
        requests: requests?,
        errors,
    })
}

/// wrk's latency format: a number followed by `us`, `ms`, `s`, `m` or `h`.
fn parse_duration(s: &str) -> Option<Duration> {
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (num, unit) = s.split_at(split);
    let num: f64 = num.parse().ok()?;
    let secs = match unit.trim() {
        "us" => num / 1e6,
        "ms" => num / 1e3,
        "s" => num,
        "m" => num * 60.0,
        "h" => num * 3600.0,
        _ => return None,
    };
    Some(Duration::from_secs_f64(secs))
}
