#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]
//! proxy_load: what one hop through Lodestar costs, next to nginx (the floor of a proxy
//! that parses nothing) and to no proxy at all, in one run on the same machine.
//!
//! For each mix (non-streaming, streaming chat) × concurrency (1, 8, 32) × target
//! (direct upstream, nginx, lodestar) it runs a 1 s wrk warm-up and then a measured
//! `wrk -t1 -cC -dBENCH_SECONDS --latency`, and prints req/s, p50, p99 and the latency
//! added over direct, then the issue's targets with PASS/FAIL. Run it with
//! `scripts/bench.sh` (installs wrk and nginx-light, builds release, runs this), or
//! `cargo build --release && cargo bench --bench proxy_load`. The report also goes to
//! `target/bench-report.md`. Failing a target does not fail the run: it is a measurement.

#[path = "support/procs.rs"]
mod procs;
#[path = "support/upstream.rs"]
mod upstream;
#[path = "support/wrk.rs"]
mod wrk;

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use procs::{ChildGuard, Placement, ScratchDir};

const CONCURRENCIES: [u32; 3] = [1, 8, 32];
const WARMUP_SECONDS: u64 = 1;
const BODY: &str = r#"{"model":"bench","messages":[{"role":"user","content":"hi"}]}"#;
const STREAM_BODY: &str =
    r#"{"model":"bench","messages":[{"role":"user","content":"hi"}],"stream":true}"#;

struct Mix {
    name: &'static str,
    script: &'static str,
    lua: &'static str,
    /// An Anthropic Messages request that Lodestar translates for the chat upstream: only
    /// Lodestar can serve it, and it is compared with Lodestar's pass-through of the mix at
    /// `translates` (same upstream answer).
    translates: Option<usize>,
}

const MIXES: [Mix; 4] = [
    Mix {
        name: "non-streaming",
        script: "post.lua",
        lua: include_str!("support/post.lua"),
        translates: None,
    },
    Mix {
        name: "streaming",
        script: "post_stream.lua",
        lua: include_str!("support/post_stream.lua"),
        translates: None,
    },
    Mix {
        name: "non-streaming, translated (Messages client → chat upstream)",
        script: "messages.lua",
        lua: include_str!("support/messages.lua"),
        translates: Some(0),
    },
    Mix {
        name: "streaming, translated (Messages client → chat upstream)",
        script: "messages_stream.lua",
        lua: include_str!("support/messages_stream.lua"),
        translates: Some(1),
    },
];

/// Content-bearing chunks in the upstream's stream (role, 3 texts, finish+usage): the
/// per-chunk cost of translation is the added p50 divided by this.
const STREAM_CHUNKS: f64 = 5.0;

#[derive(Clone, Copy, PartialEq)]
enum Target {
    Direct,
    Nginx,
    Lodestar,
}

impl Target {
    fn name(self) -> &'static str {
        match self {
            Target::Direct => "direct",
            Target::Nginx => "nginx",
            Target::Lodestar => "lodestar",
        }
    }
}

struct Cell {
    mix: usize,
    connections: u32,
    target: Target,
    result: wrk::WrkResult,
}

struct LodestarRun {
    guard: ChildGuard,
    addr: SocketAddr,
    start_ms: f64,
    idle_kib: Option<u64>,
}

fn main() {
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .map(|s| {
            s.trim_end_matches('s')
                .parse()
                .expect("BENCH_SECONDS must be a whole number of seconds")
        })
        .unwrap_or(5);
    let nproc = std::thread::available_parallelism().map_or(1, |n| n.get());
    let load_before = loadavg();
    let placement = Placement::decide();
    placement.pin_self();

    // Declared first so it is dropped last, after the children that use it.
    let scratch = ScratchDir::new();
    for mix in &MIXES {
        std::fs::write(scratch.0.join(mix.script), mix.lua).unwrap();
    }

    let upstream_addr = upstream::start();
    sanity_check("direct upstream", upstream_addr).unwrap_or_else(|e| panic!("{e}"));
    let (nginx, nginx_addr) = procs::start_nginx(&placement, &scratch.0, upstream_addr);
    sanity_check("nginx", nginx_addr).unwrap_or_else(|e| panic!("{e}"));
    eprintln!("proxy_load: upstream on {upstream_addr}, nginx on {nginx_addr}");

    let mut lodestar = None;
    let mut skipped = None;
    match start_lodestar(&placement, &scratch.0, upstream_addr) {
        Ok(run) => {
            eprintln!("proxy_load: lodestar on {}", run.addr);
            lodestar = Some(run);
        }
        Err(why) => {
            eprintln!("proxy_load: SKIPPING the lodestar leg: {why}");
            skipped = Some(why);
        }
    }

    let mut targets = vec![(Target::Direct, upstream_addr), (Target::Nginx, nginx_addr)];
    if let Some(run) = &lodestar {
        targets.push((Target::Lodestar, run.addr));
    }
    // For quick A/B runs: `BENCH_ONLY=streaming` keeps the mixes whose name contains it,
    // `BENCH_CONCURRENCY=1` one concurrency. The full run (no filters) is what the docs quote.
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let only_c: Option<u32> = std::env::var("BENCH_CONCURRENCY")
        .ok()
        .and_then(|c| c.parse().ok());
    // Each translated mix runs right after its pass-through base at the same concurrency, so
    // the two are compared under the same machine conditions; the pass-through mixes all run
    // first, and the RSS the engine issue targets is read after them, before the translated
    // mixes load the token counter.
    let mut order: Vec<(usize, u32)> = Vec::new();
    for (mix_index, mix) in MIXES.iter().enumerate() {
        if mix.translates.is_some() || !mix.name.contains(&only) {
            continue;
        }
        for connections in CONCURRENCIES {
            if only_c.is_none_or(|c| c == connections) {
                order.push((mix_index, connections));
            }
        }
    }
    let run = Run {
        placement: &placement,
        dir: &scratch.0,
        targets: &targets,
        seconds,
    };
    let mut cells = Vec::new();
    for &(mix_index, connections) in &order {
        run_cell(&mut cells, &run, mix_index, connections, false);
    }
    let after_load_kib = lodestar
        .as_ref()
        .and_then(|r| procs::rss_kib(r.guard.pid()));
    for &(base, connections) in &order {
        for (mix_index, mix) in MIXES.iter().enumerate() {
            if mix.translates == Some(base) {
                run_cell(&mut cells, &run, base, connections, true);
                run_cell(&mut cells, &run, mix_index, connections, false);
            }
        }
    }
    let after_translated_kib = lodestar
        .as_ref()
        .and_then(|r| procs::rss_kib(r.guard.pid()));
    let nginx_kib = procs::rss_kib(nginx.pid());

    let mut report = String::new();
    let machine = Machine {
        nproc,
        load_before,
        load_after: loadavg(),
    };
    header(&mut report, seconds, &machine, &placement, &scratch.0);
    for (mix_index, mix) in MIXES.iter().enumerate() {
        table(&mut report, mix_index, mix, &cells);
    }
    let _ = writeln!(report, "## Targets (same run)\n");
    match (&lodestar, &skipped) {
        (Some(run), _) => {
            targets_section(&mut report, &cells, run, after_load_kib);
            if let Some(kib) = after_translated_kib {
                let _ = writeln!(
                    report,
                    "RSS after the translated mixes too (the token counter for `message_start` \
                     estimates is built on first use, ~17 MiB): {}\n",
                    mib(kib)
                );
            }
        }
        (None, why) => {
            let _ = writeln!(
                report,
                "Lodestar leg SKIPPED: {}\n",
                why.as_deref().unwrap_or("unknown reason")
            );
        }
    }
    if let Some(kib) = nginx_kib {
        let _ = writeln!(
            report,
            "nginx RSS after load (for reference): {}\n",
            mib(kib)
        );
    }

    println!("{report}");
    let path = report_path();
    match std::fs::write(&path, &report) {
        Ok(()) => eprintln!("proxy_load: report written to {}", path.display()),
        Err(e) => eprintln!("proxy_load: cannot write {}: {e}", path.display()),
    }
    drop(lodestar);
    drop(nginx);
}

/// One wrk warm-up and one measured run of `mix` at `connections` against every target that can
/// serve it (translated mixes: Lodestar only). A re-run replaces the earlier cell.
struct Run<'a> {
    placement: &'a Placement,
    dir: &'a Path,
    targets: &'a [(Target, SocketAddr)],
    seconds: u64,
}

fn run_cell(
    cells: &mut Vec<Cell>,
    run: &Run,
    mix_index: usize,
    connections: u32,
    lodestar_only: bool,
) {
    let mix = &MIXES[mix_index];
    let script = run.dir.join(mix.script);
    for &(target, addr) in run.targets {
        if (lodestar_only || mix.translates.is_some()) && target != Target::Lodestar {
            continue;
        }
        let warmup = wrk::command_line(run.placement, connections, WARMUP_SECONDS, &script, addr);
        wrk::run(&warmup);
        let args = wrk::command_line(run.placement, connections, run.seconds, &script, addr);
        let result = wrk::run(&args);
        eprintln!(
            "proxy_load: {:<13} c={connections:<2} {:<8} {:>9.0} req/s  p50 {}  p99 {}{}",
            mix.name,
            target.name(),
            result.rps,
            ms(result.p50),
            ms(result.p99),
            if result.errors.is_empty() {
                ""
            } else {
                "  (errors)"
            }
        );
        cells.retain(|c| {
            !(c.mix == mix_index && c.connections == connections && c.target == target)
        });
        cells.push(Cell {
            mix: mix_index,
            connections,
            target,
            result,
        });
    }
}

fn start_lodestar(
    placement: &Placement,
    dir: &Path,
    upstream: SocketAddr,
) -> Result<LodestarRun, String> {
    let bin = procs::lodestar_binary()?;
    let started = procs::start_lodestar(placement, &bin, dir, upstream)
        .map_err(|e| format!("`{} serve` did not come up: {e}", bin.display()))?;
    std::thread::sleep(Duration::from_millis(300));
    let idle_kib = procs::rss_kib(started.guard.pid());
    sanity_check("lodestar", started.addr)?;
    let messages =
        r#"{"model":"bench","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}"#;
    match procs::http(started.addr, "POST", "/v1/messages", Some(messages)) {
        Ok((200, text)) if text.contains("\"type\":\"message\"") => {}
        Ok((status, text)) => {
            return Err(format!(
                "lodestar answered /v1/messages with {status}:\n{text}"
            ));
        }
        Err(e) => return Err(format!("lodestar /v1/messages: {e}")),
    }
    Ok(LodestarRun {
        guard: started.guard,
        addr: started.addr,
        start_ms: started.start_to_listening.as_secs_f64() * 1e3,
        idle_kib,
    })
}

/// One request of each mix through `addr`, answered with a 200 and the expected body.
fn sanity_check(name: &str, addr: SocketAddr) -> Result<(), String> {
    let checks = [(BODY, "\"chat.completion\""), (STREAM_BODY, "data: [DONE]")];
    for (body, expect) in checks {
        match procs::http(addr, "POST", "/v1/chat/completions", Some(body)) {
            Ok((200, text)) if text.contains(expect) => {}
            Ok((status, text)) => {
                return Err(format!(
                    "{name} answered {status} without `{expect}` to {body}:\n{text}"
                ));
            }
            Err(e) => return Err(format!("{name} on {addr}: {e}")),
        }
    }
    Ok(())
}

struct Machine {
    nproc: usize,
    load_before: String,
    load_after: String,
}

/// The 1-minute load average: other work on the machine during the run shows up here
/// (and in the p99s), so a noisy run can be recognised and repeated.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

fn header(out: &mut String, seconds: u64, machine: &Machine, placement: &Placement, dir: &Path) {
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

fn table(out: &mut String, mix_index: usize, mix: &Mix, cells: &[Cell]) {
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

fn targets_section(out: &mut String, cells: &[Cell], run: &LodestarRun, after_kib: Option<u64>) {
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
    translation_rows(out, cells);
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

/// Translation's cost: the p50 of a translated mix minus Lodestar's pass-through p50 of the
/// same request shape, per request and (streams) per chunk; the issue allows 20 µs each.
fn translation_rows(out: &mut String, cells: &[Cell]) {
    for (mix_index, mix) in MIXES.iter().enumerate() {
        let Some(base) = mix.translates else {
            continue;
        };
        for connections in CONCURRENCIES {
            let (Some(t), Some(p)) = (
                find(cells, mix_index, connections, Target::Lodestar),
                find(cells, base, connections, Target::Lodestar),
            ) else {
                continue;
            };
            let added_us = (t.result.p50.as_secs_f64() - p.result.p50.as_secs_f64()) * 1e6;
            let (what, cost) = if base == 1 {
                ("per chunk", added_us / STREAM_CHUNKS)
            } else {
                ("per request", added_us)
            };
            let _ = writeln!(
                out,
                "| {} | {connections} | translation adds ≤ 20 µs p50 {what} | {cost:+.1} µs (p50 {} vs pass-through {}) | {} |",
                mix.name,
                ms(t.result.p50),
                ms(p.result.p50),
                verdict(cost <= 20.0)
            );
        }
    }
}

fn find(cells: &[Cell], mix: usize, connections: u32, target: Target) -> Option<&Cell> {
    cells
        .iter()
        .find(|c| c.mix == mix && c.connections == connections && c.target == target)
}

fn verdict(ok: bool) -> &'static str {
    if ok { "PASS" } else { "FAIL" }
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn signed_ms(a: Duration, b: Duration) -> String {
    format!("{:+.3} ms", (a.as_secs_f64() - b.as_secs_f64()) * 1e3)
}

fn mib(kib: u64) -> String {
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

fn report_path() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join("target"),
            PathBuf::from,
        )
        .join("bench-report.md")
}
