#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]
//! cache: a cache hit through Lodestar next to the same request answered by an upstream that
//! takes 2 ms (a fast local model server), in one run; then the memory each cached entry takes.
//!
//! 1. `lodestar serve` in front of the bench upstream's 2 ms route, the cache on. At c=1, three
//!    alternating wrk pairs: the request with `Cache-Control: no-cache, no-store` (always the
//!    upstream) and without (a hit after the first): p50 of each, and the ratio.
//! 2. ≥20,000 distinct cacheable requests (wrk, c=32) through a fresh Lodestar with the cache
//!    on and another with it off: the difference in RSS growth per cached entry, and the
//!    memory tier's own byte count.
//!
//! Run: `cargo build --release && cargo bench --bench cache` (needs wrk; `scripts/bench.sh`
//! installs it). The report is printed and written to `target/cache-bench-report.md`.

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
use std::path::Path;
use std::time::Duration;

use procs::{Placement, ScratchDir};

const ENTRIES: u64 = 20_000;

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

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
    for (name, lua) in [
        ("cache_hit.lua", include_str!("support/cache_hit.lua")),
        ("cache_miss.lua", include_str!("support/cache_miss.lua")),
        ("cache_fill.lua", include_str!("support/cache_fill.lua")),
    ] {
        std::fs::write(dir.join(name), lua).unwrap();
    }
    let up = upstream::start();
    let bin = procs::lodestar_binary().unwrap_or_else(|e| panic!("{e}"));
    // Lodestar's generated config points `up` at the upstream's root; the 2 ms route is /slow.
    let yaml = format!(
        "storage: {{ path: \"{}\" }}\ncache: {{ memory_mb: 256, disk_mb: 0 }}\nproviders:\n  slow: {{ kind: openai-compatible, base_url: \"http://{up}/slow/v1\", discover_models: false }}\nmodels:\n  bench: {{ route: [slow/bench-model] }}\n",
        dir.join("cache.db").display()
    );
    let l = start(&placement, &bin, &dir, up, &yaml);
    let mut report = String::new();
    let _ = writeln!(
        report,
        "# Cache benchmark\n\n- Command: `BENCH_SECONDS={seconds} cargo bench --bench cache`\n- \
         Machine: nproc {nproc}; wrk on CPU {:?}, upstream and lodestar on CPU {:?}\n- Upstream: the \
         bench upstream's 2 ms route (same ~300 B chat.completion)\n",
        placement.load_cpu, placement.server_cpu
    );
    let (hit_lua, miss_lua) = (dir.join("cache_hit.lua"), dir.join("cache_miss.lua"));
    let (mut hits, mut misses, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..3 {
        let _ = wrk::run(&wrk::command_line(&placement, 1, 1, &hit_lua, l.addr));
        let h = wrk::run(&wrk::command_line(&placement, 1, seconds, &hit_lua, l.addr));
        let m = wrk::run(&wrk::command_line(
            &placement, 1, seconds, &miss_lua, l.addr,
        ));
        assert!(
            h.errors.is_empty() && m.errors.is_empty(),
            "{:?} {:?}",
            h.errors,
            m.errors
        );
        ratios.push(us(m.p50) / us(h.p50));
        hits.push(us(h.p50));
        misses.push(us(m.p50));
    }
    let (h, m, ratio) = (median(hits), median(misses), median(ratios));
    let _ = writeln!(
        report,
        "## 1. Hit vs upstream (c=1, median of 3 alternating runs)\n\n| request | p50 |\n|---|---:|\n\
         | cache hit | {h:.0} µs |\n| `Cache-Control: no-cache, no-store` (the 2 ms upstream) | {m:.0} µs |\n\
         | ratio | {:.1}× |\n\nTargets: hit p50 < 100 µs: {}; ≥ 20× faster: {}\n",
        ratio,
        if h < 100.0 { "PASS" } else { "FAIL" },
        if ratio >= 20.0 { "PASS" } else { "FAIL" },
    );
    drop(l);
    // The same traffic through a fresh Lodestar with the cache on and one with it off: the
    // difference in RSS growth is what the entries cost (the rest is the ledger, the
    // allocator's pools, …).
    let fill = dir.join("cache_fill.lua");
    let mut grown = Vec::new();
    let mut counted = (0, 0);
    for (n, mode) in ["all", "off"].iter().enumerate() {
        let yaml = format!(
            "storage: {{ path: \"{}\" }}\ncache: {{ mode: {mode}, memory_mb: 256, disk_mb: 0 }}\nproviders:\n  slow: {{ kind: openai-compatible, base_url: \"http://{up}/slow/v1\", discover_models: false }}\nmodels:\n  bench: {{ route: [slow/bench-model] }}\n",
            dir.join(format!("fill{n}.db")).display()
        );
        let l = start(&placement, &bin, &dir, up, &yaml);
        std::thread::sleep(Duration::from_millis(300));
        let before = procs::rss_kib(l.guard.pid()).unwrap_or(0);
        let mut sent = 0;
        while sent < ENTRIES {
            sent += wrk::run(&wrk::command_line(&placement, 32, 1, &fill, l.addr)).requests;
        }
        let (_, text) = procs::http(l.addr, "GET", "/admin/api/cache", None).unwrap();
        let v: serde_json::Value =
            serde_json::from_str(text.split("\r\n\r\n").nth(1).unwrap_or("{}")).unwrap_or_default();
        if *mode == "all" {
            counted = (
                v["stats"]["memory_entries"].as_u64().unwrap_or(0),
                v["stats"]["memory_bytes"].as_u64().unwrap_or(0),
            );
        }
        let after = procs::rss_kib(l.guard.pid()).unwrap_or(0);
        grown.push((after.saturating_sub(before) as f64 * 1024.0, sent));
    }
    let (stored, bytes) = counted;
    let per_entry = (grown[0].0 - grown[1].0) / stored.max(1) as f64;
    let _ = writeln!(
        report,
        "## 2. Memory per entry\n\nThe same fill traffic (distinct deterministic requests, wrk \
         c=32) through a fresh Lodestar with the cache on ({} requests) and off ({} requests):\n\n\
         | | |\n|---|---:|\n| entries cached | {stored} |\n| the memory tier's own count | {bytes} B \
         ({:.0} B per entry: the ~300 B body + the 1 KiB it charges for the rest) |\n\
         | RSS growth, cache on | {:.1} MiB |\n| RSS growth, cache off | {:.1} MiB |\n\
         | difference per entry | {per_entry:.0} B |\n",
        grown[0].1,
        grown[1].1,
        bytes as f64 / stored.max(1) as f64,
        grown[0].0 / 1048576.0,
        grown[1].0 / 1048576.0,
    );
    println!("{report}");
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target"),
        std::path::PathBuf::from,
    );
    let _ = std::fs::write(target.join("cache-bench-report.md"), &report);
}

fn start(
    placement: &Placement,
    bin: &Path,
    dir: &Path,
    up: std::net::SocketAddr,
    yaml: &str,
) -> procs::Lodestar {
    procs::start_lodestar_with(placement, bin, dir, up, yaml).unwrap_or_else(|e| panic!("{e}"))
}
