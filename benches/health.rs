#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]
//! health: what health and metrics bookkeeping costs a request, and what routing around an
//! open circuit costs — side by side in one run on this machine.
//!
//! 1. The proxy with `health.enabled: false` + `metrics.enabled: false` and with both on (the
//!    default: breakers, passive provider states, probes every 30 s, request counters and
//!    histograms), same upstream, same placement as proxy_load, ledger off in both: at c=1
//!    three alternating wrk pairs per mix (median p50 difference), at c=32 req/s of each.
//! 2. Routing around an open circuit: alias `around` = [dead/x (circuit open), up/bench-model]
//!    against alias `bench` = [up/bench-model], alternating wrk pairs at c=1: the median p50
//!    difference is the skip. And the breaker's own check of an open entry
//!    (`Breakers::admit`), timed in-process over 1,000,000 calls.
//!
//! Run: `cargo build --release && cargo bench --bench health` (needs wrk; `scripts/bench.sh`
//! installs it). The report is printed and written to `target/health-bench-report.md`.

#[allow(dead_code)]
#[path = "support/procs.rs"]
mod procs;
#[allow(dead_code)]
#[path = "support/upstream.rs"]
mod upstream;
#[allow(dead_code)]
#[path = "support/wrk.rs"]
mod wrk;

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use lodestar::config::Target;
use lodestar::health::{Admission, BreakerConfig, Breakers};
use procs::{Placement, ScratchDir};

const MIXES: [(&str, &str, &str); 2] = [
    (
        "non-streaming",
        "post.lua",
        include_str!("support/post.lua"),
    ),
    (
        "streaming",
        "post_stream.lua",
        include_str!("support/post_stream.lua"),
    ),
];

fn main() {
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.trim_end_matches('s').parse().ok())
        .unwrap_or(5);
    let nproc = std::thread::available_parallelism().map_or(1, |n| n.get());
    let placement = Placement::decide();
    placement.pin_self();
    let scratch = ScratchDir::new();
    let dir = scratch.0.clone();
    for (_, script, lua) in MIXES {
        std::fs::write(dir.join(script), lua).unwrap();
    }
    std::fs::write(
        dir.join("around.lua"),
        include_str!("support/post.lua").replace("\"bench\"", "\"around\""),
    )
    .unwrap();
    let up = upstream::start();
    let bin = procs::lodestar_binary().unwrap_or_else(|e| panic!("{e}"));
    let mut report = String::new();
    let _ = writeln!(
        report,
        "# Health benchmark\n\n- Command: `BENCH_SECONDS={seconds} cargo bench --bench health`\n- \
         Machine: nproc {}; placement as proxy_load (wrk on CPU {:?}, upstream and lodestar on \
         CPU {:?}, LODESTAR_WORKER_THREADS=1 when pinned)\n",
        nproc, placement.load_cpu, placement.server_cpu,
    );
    // `BENCH_ONLY=split` measures health and metrics apart (c=32 req/s), for finding a cost.
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    if only == "split" {
        split(&mut report, &placement, &bin, &dir, up, seconds);
    } else {
        bookkeeping(&mut report, &placement, &bin, &dir, up, seconds);
        around(&mut report, &placement, &bin, &dir, up, seconds);
        admit_micro(&mut report);
    }
    println!("{report}");
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target"),
        std::path::PathBuf::from,
    );
    let path = target.join("health-bench-report.md");
    if std::fs::write(&path, &report).is_ok() {
        eprintln!("health: report written to {}", path.display());
    }
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn wrk_run(
    placement: &Placement,
    c: u32,
    seconds: u64,
    script: &Path,
    addr: SocketAddr,
) -> wrk::WrkResult {
    wrk::run(&wrk::command_line(placement, c, 1, script, addr));
    let r = wrk::run(&wrk::command_line(placement, c, seconds, script, addr));
    assert!(r.errors.is_empty(), "wrk errors: {:?}", r.errors);
    r
}

fn bookkeeping(
    report: &mut String,
    placement: &Placement,
    bin: &Path,
    dir: &Path,
    up: SocketAddr,
    seconds: u64,
) {
    let start = |yaml: &str| {
        procs::start_lodestar(placement, bin, dir, up, yaml).unwrap_or_else(|e| panic!("{e}"))
    };
    let off = start(
        "storage: { enabled: false }\nhealth: { enabled: false }\nmetrics: { enabled: false }\n",
    );
    let on = start("storage: { enabled: false }\n");
    let _ = writeln!(
        report,
        "## 1. Health and metrics bookkeeping: off vs on (the default)\n\n\
         | mix | c | off | on | difference |\n|---|---:|---:|---:|---:|"
    );
    for (name, script, _) in MIXES {
        let script = dir.join(script);
        let (mut p_off, mut p_on, mut diffs) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..3 {
            let a = wrk_run(placement, 1, seconds, &script, off.addr);
            let b = wrk_run(placement, 1, seconds, &script, on.addr);
            p_off.push(us(a.p50));
            p_on.push(us(b.p50));
            diffs.push(us(b.p50) - us(a.p50));
        }
        let _ = writeln!(
            report,
            "| {name} | 1 | p50 {:.0} µs | p50 {:.0} µs | {:+.1} µs (median of 3 alternating pairs) |",
            median(p_off),
            median(p_on),
            median(diffs)
        );
        let a = wrk_run(placement, 32, seconds, &script, off.addr);
        let b = wrk_run(placement, 32, seconds, &script, on.addr);
        let _ = writeln!(
            report,
            "| {name} | 32 | {:.0} req/s | {:.0} req/s | {:+.1}% |",
            a.rps,
            b.rps,
            (b.rps / a.rps - 1.0) * 100.0
        );
    }
    report.push('\n');
}

fn split(
    report: &mut String,
    placement: &Placement,
    bin: &Path,
    dir: &Path,
    up: SocketAddr,
    seconds: u64,
) {
    let configs = [
        (
            "both off",
            "health: { enabled: false }\nmetrics: { enabled: false }\n",
        ),
        ("health off", "health: { enabled: false }\n"),
        ("metrics off", "metrics: { enabled: false }\n"),
        ("both on", ""),
    ];
    let _ = writeln!(report, "| config | mix | c=32 req/s |\n|---|---|---:|");
    for (name, yaml) in configs {
        let l = procs::start_lodestar(
            placement,
            bin,
            dir,
            up,
            &format!("storage: {{ enabled: false }}\n{yaml}"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        for (mix, script, _) in MIXES {
            let r = wrk_run(placement, 32, seconds, &dir.join(script), l.addr);
            let _ = writeln!(report, "| {name} | {mix} | {:.0} |", r.rps);
        }
    }
}

fn around(
    report: &mut String,
    placement: &Placement,
    bin: &Path,
    dir: &Path,
    up: SocketAddr,
    seconds: u64,
) {
    let yaml = format!(
        "providers:\n  up: {{ kind: openai-compatible, base_url: \"http://127.0.0.1:{}/v1\" }}\n  \
         dead: {{ kind: openai-compatible, base_url: \"http://127.0.0.1:9/v1\", \
         discover_models: false, probe: false }}\nmodels:\n  bench: {{ route: [up/bench-model] }}\n  \
         around: {{ route: [dead/x, up/bench-model] }}\nstorage: {{ enabled: false }}\n\
         health: {{ failures: 1, open_for: 24h }}\n",
        up.port()
    );
    let l = procs::start_lodestar_with(placement, bin, dir, up, &yaml)
        .unwrap_or_else(|e| panic!("{e}"));
    // One request opens dead/x's circuit (refused, then answered by the second entry).
    let (status, _) = procs::http(
        l.addr,
        "POST",
        "/v1/chat/completions",
        Some(r#"{"model":"around","messages":[{"role":"user","content":"hi"}]}"#),
    )
    .unwrap();
    assert_eq!(status, 200);
    let (_, health) = procs::http(l.addr, "GET", "/admin/api/health", None).unwrap();
    assert!(health.contains("\"state\":\"open\""), "{health}");
    let (direct, skip) = (dir.join("post.lua"), dir.join("around.lua"));
    let (mut p_direct, mut p_around, mut diffs) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..3 {
        let a = wrk_run(placement, 1, seconds, &direct, l.addr);
        let b = wrk_run(placement, 1, seconds, &skip, l.addr);
        p_direct.push(us(a.p50));
        p_around.push(us(b.p50));
        diffs.push(us(b.p50) - us(a.p50));
    }
    let _ = writeln!(
        report,
        "## 2. Routing around an open circuit\n\n\
         | route | p50 (c=1) |\n|---|---:|\n| `bench` = [up/bench-model] | {:.0} µs |\n\
         | `around` = [dead/x (open), up/bench-model] | {:.0} µs |\n\n\
         Added by the skip: **{:+.1} µs** (median of 3 alternating pairs; wrk's p50 resolution \
         is about 1 µs).\n",
        median(p_direct),
        median(p_around),
        median(diffs)
    );
}

fn admit_micro(report: &mut String) {
    let (events, _rx) = tokio::sync::broadcast::channel(16);
    let b = Breakers::new(
        BreakerConfig {
            failures: 1,
            open_for: Duration::from_secs(86_400),
            ..BreakerConfig::default()
        },
        events,
    );
    let dead = Target {
        provider: "dead".into(),
        model: "x".into(),
    };
    b.failure(&dead, "connection refused");
    assert!(matches!(b.admit(&dead), Admission::Skip(_)));
    const N: u32 = 1_000_000;
    let t = Instant::now();
    for _ in 0..N {
        std::hint::black_box(b.admit(std::hint::black_box(&dead)));
    }
    let per = t.elapsed().as_secs_f64() * 1e9 / f64::from(N);
    let _ = writeln!(
        report,
        "The breaker's check of an open entry (`Breakers::admit`, which also words the skip \
         reason for the error a client gets when every entry is down): **{per:.0} ns** per call \
         (1,000,000 calls, one thread).\n"
    );
    // What each answered request adds, piece by piece.
    let up = Target {
        provider: "up".into(),
        model: "bench-model".into(),
    };
    let time = |f: &dyn Fn()| {
        let t = Instant::now();
        for _ in 0..N {
            f();
        }
        t.elapsed().as_secs_f64() * 1e9 / f64::from(N)
    };
    let admit_closed = time(&|| {
        std::hint::black_box(b.admit(std::hint::black_box(&up)));
    });
    let success = time(&|| b.success(std::hint::black_box(&up)));
    let metrics = lodestar::metrics::Metrics::new();
    let record = time(&|| {
        metrics.record_request(
            "bench",
            "up/bench-model",
            200,
            Duration::from_micros(120),
            Some(Duration::from_micros(90)),
            0,
        )
    });
    let tokens = lodestar::ledger::Tokens {
        input: 12,
        output: 34,
        ..Default::default()
    };
    let usage = time(&|| metrics.record_usage("up", "bench-model", "", &tokens, Some(0.0001)));
    let _ = writeln!(
        report,
        "Per answered request (in-process, 1,000,000 calls each): breaker admit of a closed entry \
         **{admit_closed:.0} ns**, breaker success **{success:.0} ns**, request metrics \
         (`record_request`: counter and two histograms) **{record:.0} ns**, usage metrics \
         (`record_usage`: tokens, cost, requests) **{usage:.0} ns**.\n"
    );
}
