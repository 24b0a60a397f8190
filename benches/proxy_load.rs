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
#[path = "support/report.rs"]
mod report;
#[path = "support/upstream.rs"]
mod upstream;
#[path = "support/wrk.rs"]
mod wrk;

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use procs::{ChildGuard, Placement, ScratchDir};
use report::{Pair, header, mib, ms, table, targets_section};

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

const MIXES: [Mix; 6] = [
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
    Mix {
        name: "non-streaming, translated (Responses client → chat upstream)",
        script: "responses.lua",
        lua: include_str!("support/responses.lua"),
        translates: Some(0),
    },
    Mix {
        name: "streaming, translated (Responses client → chat upstream)",
        script: "responses_stream.lua",
        lua: include_str!("support/responses_stream.lua"),
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
        let _ = run_cell(&mut cells, &run, mix_index, connections, false);
    }
    let after_load_kib = lodestar
        .as_ref()
        .and_then(|r| procs::rss_kib(r.guard.pid()));
    // At c=1 (the latency the issue's target is about) three alternating pairs, whose median
    // difference is reported: single 5 s cells drift by more than the 20 µs being measured.
    let mut pairs = Vec::new();
    for &(base, connections) in &order {
        for (mix_index, mix) in MIXES.iter().enumerate() {
            if mix.translates == Some(base) {
                for _ in 0..if connections == 1 { 3 } else { 1 } {
                    let b = run_cell(&mut cells, &run, base, connections, true);
                    let t = run_cell(&mut cells, &run, mix_index, connections, false);
                    if let (Some(b), Some(t)) = (b, t) {
                        pairs.push(Pair {
                            mix: mix_index,
                            connections,
                            base: b,
                            translated: t,
                        });
                    }
                }
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
            targets_section(&mut report, &cells, run, after_load_kib, &pairs);
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
) -> Option<wrk::WrkResult> {
    let mix = &MIXES[mix_index];
    let mut lodestar = None;
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
        if target == Target::Lodestar {
            lodestar = Some(result.clone());
        }
        // A pass-through re-run (a translation pair's base) only feeds the pair: the cell
        // compared with nginx stays the one measured beside nginx's.
        let rerun = lodestar_only
            && mix.translates.is_none()
            && cells
                .iter()
                .any(|c| c.mix == mix_index && c.connections == connections);
        if !rerun {
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
    lodestar
}

fn start_lodestar(
    placement: &Placement,
    dir: &Path,
    upstream: SocketAddr,
) -> Result<LodestarRun, String> {
    let bin = procs::lodestar_binary()?;
    // The ledger on, as users run it, in the scratch dir.
    let storage = format!(
        "storage: {{ path: \"{}\" }}\n",
        dir.join("lodestar.db").display()
    );
    let started = procs::start_lodestar(placement, &bin, dir, upstream, &storage)
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
    let responses = r#"{"model":"bench","max_output_tokens":64,"input":"hi"}"#;
    match procs::http(started.addr, "POST", "/v1/responses", Some(responses)) {
        Ok((200, text)) if text.contains("\"object\":\"response\"") => {}
        Ok((status, text)) => {
            return Err(format!(
                "lodestar answered /v1/responses with {status}:\n{text}"
            ));
        }
        Err(e) => return Err(format!("lodestar /v1/responses: {e}")),
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

fn find(cells: &[Cell], mix: usize, connections: u32, target: Target) -> Option<&Cell> {
    cells
        .iter()
        .find(|c| c.mix == mix && c.connections == connections && c.target == target)
}

fn report_path() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join("target"),
            PathBuf::from,
        )
        .join("bench-report.md")
}
