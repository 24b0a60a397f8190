//! The proxy_load report: the run's header, one table per mix, and the targets with PASS/FAIL.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use super::procs::{self, Placement};
use super::{
    CONCURRENCIES, Cell, LodestarRun, MIXES, Machine, Mix, STREAM_CHUNKS, Target, WARMUP_SECONDS,
    find, wrk,
};

pub(crate) fn header(
    out: &mut String,
    seconds: u64,
    machine: &Machine,
    placement: &Placement,
    dir: &Path,
) {
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let wrk_version = first_line("wrk", &["-v"]);
    let wrk_version = wrk_version
        .split(" Copyright")
        .next()
        .unwrap_or(&wrk_version);
    let nginx_version = first_line(procs::NGINX, &["-v"]);
    let nginx_version = nginx_version
        .strip_prefix("nginx version: ")
        .unwrap_or(&nginx_version);
    let (load, server) = (
        Placement::describe(placement.load_cpu),
        Placement::describe(placement.server_cpu),
    );
    let workers = if placement.pinned() {
        " with LODESTAR_WORKER_THREADS=1"
    } else {
        ""
    };
    let example = wrk::command_line(
        placement,
        8,
        seconds,
        &dir.join("post.lua"),
        ([127, 0, 0, 1], 0).into(),
    );
    let _ = writeln!(out, "# proxy_load benchmark\n");
    let _ = writeln!(
        out,
        "- Command: `BENCH_SECONDS={seconds} cargo bench --bench proxy_load` (what `scripts/bench.sh` runs after `cargo build --release`)"
    );
    let _ = writeln!(
        out,
        "- Machine: nproc {}, {cpu_model}; 1-min load average {} before, {} after the run (the run keeps both CPUs busy, so ~2 after is normal; a high \"before\" means other work was running)",
        machine.nproc, machine.load_before, machine.load_after
    );
    let _ = writeln!(out, "- wrk: {wrk_version}; nginx: {nginx_version}");
    if !placement.note.is_empty() {
        let _ = writeln!(out, "- Placement: {}", placement.note);
    }
    let _ = writeln!(
        out,
        "- Placement: wrk (1 thread) on {load}; upstream (in the bench process, 1 runtime thread) on {server}; nginx (1 worker, master_process off) on {server}; lodestar{workers} on {server}"
    );
    let _ = writeln!(
        out,
        "- Each cell: a {WARMUP_SECONDS} s warm-up, then `{}` (port per target; post_stream.lua for streaming; -c 1, 8, 32)",
        example.join(" ").replace(":0/", ":PORT/")
    );
    let _ = writeln!(
        out,
        "- Upstream: in-process axum, zero latency; non-streaming = ~300 B chat.completion JSON, streaming = 5 chat.completion.chunk SSE events + `data: [DONE]` (chunked)"
    );
    let _ = writeln!(
        out,
        "- nginx: proxy_pass to an upstream block with keepalive 64, proxy_http_version 1.1, Connection \"\", proxy_buffering off, access_log off, keepalive_requests raised on both sides\n"
    );
}

pub(crate) fn table(out: &mut String, mix_index: usize, mix: &Mix, cells: &[Cell]) {
    let _ = writeln!(out, "## {}\n", mix.name);
    let _ = writeln!(
        out,
        "| concurrency | target | req/s | p50 | p99 | added p50 vs direct | added p99 vs direct |"
    );
    let _ = writeln!(out, "|---:|---|---:|---:|---:|---:|---:|");
    let mut errors = Vec::new();
    for connections in CONCURRENCIES {
        let direct = find(cells, mix_index, connections, Target::Direct);
        for cell in cells
            .iter()
            .filter(|c| c.mix == mix_index && c.connections == connections)
        {
            let r = &cell.result;
            let (added50, added99) = match (cell.target, direct) {
                (Target::Direct, _) | (_, None) => ("–".to_string(), "–".to_string()),
                (_, Some(d)) => (
                    signed_ms(r.p50, d.result.p50),
                    signed_ms(r.p99, d.result.p99),
                ),
            };
            let _ = writeln!(
                out,
                "| {connections} | {} | {:.0} | {} | {} | {added50} | {added99} |",
                cell.target.name(),
                r.rps,
                ms(r.p50),
                ms(r.p99)
            );
            if !r.errors.is_empty() {
                errors.push(format!(
                    "c={connections} {}: {} (of {} requests)",
                    cell.target.name(),
                    r.errors.join("; "),
                    r.requests
                ));
            }
        }
    }
    if errors.is_empty() {
        let _ = writeln!(out, "\nNo socket errors or non-2xx responses.\n");
    } else {
        let _ = writeln!(out, "\nERRORS reported by wrk:\n");
        for e in errors {
            let _ = writeln!(out, "- {e}");
        }
        let _ = writeln!(out);
    }
}

pub(crate) fn targets_section(
    out: &mut String,
    cells: &[Cell],
    run: &LodestarRun,
    after_kib: Option<u64>,
    pairs: &[Pair],
) {
    let _ = writeln!(out, "| mix | concurrency | target | measured | result |");
    let _ = writeln!(out, "|---|---:|---|---|---|");
    for (mix_index, mix) in MIXES.iter().enumerate() {
        for connections in CONCURRENCIES {
            let get = |t| find(cells, mix_index, connections, t).map(|c| &c.result);
            let (Some(d), Some(n), Some(l)) = (
                get(Target::Direct),
                get(Target::Nginx),
                get(Target::Lodestar),
            ) else {
                continue;
            };
            let added = |a: Duration, b: Duration| a.as_secs_f64() * 1e3 - b.as_secs_f64() * 1e3;
            let (l50, n50, l99) = (
                added(l.p50, d.p50),
                added(n.p50, d.p50),
                added(l.p99, d.p99),
            );
            let rows = [
                (
                    "added p50 ≤ 1.5× nginx's",
                    format!("{l50:+.3} ms vs 1.5 × {n50:+.3} ms = {:+.3} ms", 1.5 * n50),
                    l50 <= 1.5 * n50,
                ),
                ("added p99 < 1 ms", format!("{l99:+.3} ms"), l99 < 1.0),
                (
                    "req/s ≥ 80% of nginx's",
                    format!(
                        "{:.0} vs {:.0} ({:.0}%)",
                        l.rps,
                        n.rps,
                        100.0 * l.rps / n.rps
                    ),
                    l.rps >= 0.8 * n.rps,
                ),
                (
                    "no socket errors or non-2xx",
                    if l.errors.is_empty() {
                        "none".to_string()
                    } else {
                        l.errors.join("; ")
                    },
                    l.errors.is_empty(),
                ),
            ];
            for (target, measured, ok) in rows {
                let _ = writeln!(
                    out,
                    "| {} | {connections} | {target} | {measured} | {} |",
                    mix.name,
                    verdict(ok)
                );
            }
        }
    }
    translation_rows(out, pairs);
    let _ = writeln!(out, "\n| lodestar serve | measured | result |");
    let _ = writeln!(out, "|---|---|---|");
    let _ = writeln!(
        out,
        "| start to listening (spawn → TCP connect + 200 from /health) < 100 ms | {:.1} ms | {} |",
        run.start_ms,
        verdict(run.start_ms < 100.0)
    );
    match run.idle_kib {
        Some(idle) => {
            let _ = writeln!(
                out,
                "| idle RSS (300 ms after listening) < 30 MiB | {} | {} |",
                mib(idle),
                verdict(idle < 30 * 1024)
            );
            match after_kib {
                Some(after) => {
                    let limit = 1.2 * idle as f64 + 20.0 * 1024.0;
                    let _ = writeln!(
                        out,
                        "| RSS after load ≤ 1.2 × idle + 20 MiB (= {}) | {} | {} |",
                        mib(limit as u64),
                        mib(after),
                        verdict(after as f64 <= limit)
                    );
                }
                None => {
                    let _ = writeln!(out, "| RSS after load | unreadable (exited?) | FAIL |");
                }
            }
        }
        None => {
            let _ = writeln!(out, "| idle RSS | unreadable | FAIL |");
        }
    }
    let _ = writeln!(out);
}

/// One pass-through run and the translated run right after it, same concurrency.
pub(crate) struct Pair {
    pub(crate) mix: usize,
    pub(crate) connections: u32,
    pub(crate) base: wrk::WrkResult,
    pub(crate) translated: wrk::WrkResult,
}

/// Translation's cost against the 20 µs per request and per streamed chunk: at c=1 the
/// added p50 (median of the alternating pairs); at c=8 and 32, where one shared core is
/// saturated and p50 is mostly queueing, the CPU per request that throughput implies
/// (1/req/s translated − 1/req/s pass-through).
fn translation_rows(out: &mut String, pairs: &[Pair]) {
    for (mix_index, mix) in MIXES.iter().enumerate() {
        let Some(base) = mix.translates else {
            continue;
        };
        let (what, per) = if base == 1 {
            ("per chunk", STREAM_CHUNKS)
        } else {
            ("per request", 1.0)
        };
        for connections in CONCURRENCIES {
            let runs: Vec<&Pair> = pairs
                .iter()
                .filter(|p| p.mix == mix_index && p.connections == connections)
                .collect();
            if runs.is_empty() {
                continue;
            }
            let (target, cost, measured) = if connections == 1 {
                let mut added: Vec<f64> = runs
                    .iter()
                    .map(|p| {
                        (p.translated.p50.as_secs_f64() - p.base.p50.as_secs_f64()) * 1e6 / per
                    })
                    .collect();
                added.sort_by(f64::total_cmp);
                let median = added[added.len() / 2];
                let each: Vec<String> = added.iter().map(|a| format!("{a:+.1}")).collect();
                (
                    format!("translation adds ≤ 20 µs p50 {what}"),
                    median,
                    format!(
                        "{median:+.1} µs (median of {} pairs: {})",
                        added.len(),
                        each.join(", ")
                    ),
                )
            } else {
                let p = runs[runs.len() - 1];
                let cpu = (1.0 / p.translated.rps - 1.0 / p.base.rps) * 1e6 / per;
                (
                    format!("translation's CPU ≤ 20 µs {what} (from req/s, core saturated)"),
                    cpu,
                    format!(
                        "{cpu:+.1} µs ({:.0} vs {:.0} req/s)",
                        p.translated.rps, p.base.rps
                    ),
                )
            };
            let _ = writeln!(
                out,
                "| {} | {connections} | {target} | {measured} | {} |",
                mix.name,
                verdict(cost <= 20.0)
            );
        }
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok { "PASS" } else { "FAIL" }
}

pub(crate) fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn signed_ms(a: Duration, b: Duration) -> String {
    format!("{:+.3} ms", (a.as_secs_f64() - b.as_secs_f64()) * 1e3)
}

pub(crate) fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn first_line(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .map(|o| {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            text.lines().next().unwrap_or("").trim().to_string()
        })
        .unwrap_or_else(|e| format!("{program} unavailable ({e})"))
}
