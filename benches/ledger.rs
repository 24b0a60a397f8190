#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]
//! ledger: what recording every request costs, how fast the ledger's queries answer over a
//! large database, and what a `previous_response_id` lookup adds — each side by side in one
//! run on this machine.
//!
//! 1. The proxy with the ledger off (`storage.enabled: false`) and on, same upstream, same
//!    placement as proxy_load: at c=1 three alternating wrk pairs per mix (median p50
//!    difference), at c=32 req/s of each; then every request sent to the "on" proxy is
//!    counted in its database (rows vs requests, writes dropped by a full queue).
//! 2. A database of 1,000,000 request rows over 30 days (3 projects, 3 providers, 6 models;
//!    rollup built as the writer builds it), served by `lodestar serve`: each admin API query
//!    20 times over HTTP, p50 and max.
//! 3. 100,000 stored Responses: `POST /v1/responses` with `previous_response_id` (random stored
//!    ids, translated to the chat upstream) against the same request without it, alternating,
//!    300 each: the median difference is the lookup plus the expansion.
//!
//! Run: `cargo build --release && cargo bench --bench ledger` (needs wrk; `scripts/bench.sh`
//! installs it). The report is printed and written to `target/ledger-bench-report.md`.

// Shared with proxy_load, which uses all of them.
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
const ROWS: i64 = 1_000_000;
const RESPONSES: i64 = 100_000;

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
    let up = upstream::start();
    let bin = procs::lodestar_binary().unwrap_or_else(|e| panic!("{e}"));
    let mut report = String::new();
    let _ = writeln!(
        report,
        "# Ledger benchmark\n\n- Command: `BENCH_SECONDS={seconds} cargo bench --bench ledger`\n- \
         Machine: nproc {}; placement as proxy_load (wrk on CPU {:?}, upstream and lodestar on \
         CPU {:?}, LODESTAR_WORKER_THREADS=1 when pinned)\n",
        nproc, placement.load_cpu, placement.server_cpu,
    );
    // `BENCH_ONLY=record|queries|lookups` runs one part (quick A/B); the docs quote a full run.
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    if only.is_empty() || only == "record" {
        recording_cost(&mut report, &placement, &bin, &dir, up, seconds);
    }
    if only.is_empty() || only == "queries" {
        queries(&mut report, &placement, &bin, &dir, up);
    }
    if only.is_empty() || only == "lookups" {
        lookups(&mut report, &placement, &bin, &dir, up);
    }
    println!("{report}");
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target"),
        std::path::PathBuf::from,
    );
    let path = target.join("ledger-bench-report.md");
    if std::fs::write(&path, &report).is_ok() {
        eprintln!("ledger: report written to {}", path.display());
    }
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn start(
    placement: &Placement,
    bin: &Path,
    dir: &Path,
    up: SocketAddr,
    yaml: &str,
) -> procs::Lodestar {
    procs::start_lodestar(placement, bin, dir, up, yaml).unwrap_or_else(|e| panic!("{e}"))
}

fn wrk_run(
    placement: &Placement,
    c: u32,
    seconds: u64,
    script: &Path,
    addr: SocketAddr,
) -> (wrk::WrkResult, u64) {
    let warm = wrk::run(&wrk::command_line(placement, c, 1, script, addr));
    let r = wrk::run(&wrk::command_line(placement, c, seconds, script, addr));
    assert!(r.errors.is_empty(), "wrk errors: {:?}", r.errors);
    let sent = warm.requests + r.requests;
    (r, sent)
}

fn recording_cost(
    report: &mut String,
    placement: &Placement,
    bin: &Path,
    dir: &Path,
    up: SocketAddr,
    seconds: u64,
) {
    let off = start(placement, bin, dir, up, "storage: { enabled: false }\n");
    let db = dir.join("on.db");
    let on = start(
        placement,
        bin,
        dir,
        up,
        &format!("storage: {{ path: \"{}\" }}\n", db.display()),
    );
    let mut sent_on = 0u64;
    let _ = writeln!(
        report,
        "## 1. Recording cost: ledger off vs on (`storage.enabled: false` vs the default)\n\n\
         | mix | c | off | on | difference |\n|---|---:|---:|---:|---:|"
    );
    for (name, script, _) in MIXES {
        let script = dir.join(script);
        let mut diffs = Vec::new();
        let (mut p_off, mut p_on) = (Vec::new(), Vec::new());
        let (mut t_off, mut t_on) = (Vec::new(), Vec::new());
        for _ in 0..3 {
            let (a, _) = wrk_run(placement, 1, seconds, &script, off.addr);
            let (b, n) = wrk_run(placement, 1, seconds, &script, on.addr);
            sent_on += n;
            p_off.push(us(a.p50));
            p_on.push(us(b.p50));
            t_off.push(us(a.p99));
            t_on.push(us(b.p99));
            diffs.push(us(b.p50) - us(a.p50));
        }
        let _ = writeln!(
            report,
            "| {name} | 1 | p50 {:.0} µs | p50 {:.0} µs | {:+.1} µs (median of 3 alternating pairs) |",
            median(p_off),
            median(p_on),
            median(diffs)
        );
        let (q_off, q_on) = (median(t_off), median(t_on));
        let _ = writeln!(
            report,
            "| {name} | 1 | p99 {q_off:.0} µs | p99 {q_on:.0} µs | {:+.0} µs (medians of the 3) |",
            q_on - q_off
        );
        let (a, _) = wrk_run(placement, 32, seconds, &script, off.addr);
        let (b, n) = wrk_run(placement, 32, seconds, &script, on.addr);
        sent_on += n;
        let _ = writeln!(
            report,
            "| {name} | 32 | {:.0} req/s | {:.0} req/s | {:+.1}% |",
            a.rps,
            b.rps,
            (b.rps / a.rps - 1.0) * 100.0
        );
    }
    // Every request the "on" proxy answered must be a row (the sanity checks add a few).
    let (_, health) = procs::http(on.addr, "GET", "/health", None).unwrap();
    let lost = health
        .split("\"lost_writes\":")
        .nth(1)
        .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(u64::MAX);
    // Stopped as a user stops it (SIGTERM): shutdown commits the last batch window.
    let mut on = on;
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &on.guard.pid().to_string()])
        .status();
    for _ in 0..500 {
        if on.guard.exited().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(on);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM requests", [], |r| r.get(0))
        .unwrap();
    let _ = writeln!(
        report,
        "\nRecorded: {rows} rows for {sent_on} requests wrk counted as answered (rows ≥ answered: \
         wrk does not count requests in flight when it stops); writes dropped by a full queue: \
         {lost}. The c=32 \"on\" cells are the sustained recorded-requests rate.\n"
    );
    drop(off);
}

fn queries(report: &mut String, placement: &Placement, bin: &Path, dir: &Path, up: SocketAddr) {
    let db = dir.join("million.db");
    let built = Instant::now();
    drop(lodestar::store::Store::open(&db, Default::default()).unwrap());
    let conn = rusqlite::Connection::open(&db).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let step = 30 * 86_400_000 / ROWS;
    conn.execute_batch(&format!(
        "BEGIN;
         INSERT INTO requests (ts_ms, request_id, project, client_api, endpoint, alias, provider,
           model, rule, status, outcome, stream, input_tokens, output_tokens, cache_read_tokens,
           cache_write_5m_tokens, cache_write_1h_tokens, reasoning_tokens, tokens_estimated,
           cost_usd, saved_usd, latency_ms, ttfb_ms, cache_hit, fallbacks)
         WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {last})
         SELECT {now} - i * {step}, 'req_' || i, 'project' || (i % 3), 'openai',
           'chat/completions', 'alias' || (i % 4), 'provider' || (i % 3), 'model-' || (i % 6), '',
           200, 'ok', i % 2, 1000, 300, 600, 0, 0, 0, 0, 0.00588, 0, 120.0, 50.0, 0, 0 FROM n;
         INSERT INTO rollup_hour SELECT ts_ms / 3600000, project, provider, model, alias,
           count(*), 0, sum(input_tokens), sum(output_tokens), sum(cache_read_tokens),
           sum(cache_write_5m_tokens), sum(cache_write_1h_tokens), sum(reasoning_tokens),
           sum(cost_usd), 0, 0, 0 FROM requests GROUP BY 1, 2, 3, 4, 5;
         COMMIT;",
        last = ROWS - 1
    ))
    .unwrap();
    let rollups: i64 = conn
        .query_row("SELECT count(*) FROM rollup_hour", [], |r| r.get(0))
        .unwrap();
    drop(conn);
    let build_s = built.elapsed().as_secs_f64();
    let yaml = format!(
        "storage: {{ path: \"{}\" }}\nbudgets:\n  monthly: {{ period: month, usd: 5000 }}\n  alpha: {{ period: week, usd: 100, project: project0 }}\n",
        db.display()
    );
    let t0 = Instant::now();
    let l = start(placement, bin, dir, up, &yaml);
    let startup = t0.elapsed();
    let month_ago = now - 30 * 86_400_000;
    let week_ago = now - 7 * 86_400_000;
    let paths = [
        "/admin/api/costs/summary?period=month&group_by=model".to_string(),
        format!("/admin/api/costs/summary?since={month_ago}&group_by=project"),
        format!("/admin/api/costs/summary?since={month_ago}&group_by=day"),
        format!("/admin/api/costs/timeseries?bucket=day&group_by=model&since={month_ago}"),
        format!("/admin/api/costs/timeseries?bucket=hour&group_by=provider&since={week_ago}"),
        "/admin/api/budgets".to_string(),
        "/admin/api/requests?limit=100".to_string(),
        "/admin/api/requests?limit=100&project=project1".to_string(),
    ];
    let _ = writeln!(
        report,
        "## 2. Admin API over {ROWS} ledger rows ({rollups} rollup rows; built in {build_s:.1} s; \
         `lodestar serve` with two budgets up in {:.0} ms)\n\n| query | p50 | max | bytes |\n|---|---:|---:|---:|",
        startup.as_secs_f64() * 1e3
    );
    for p in &paths {
        let mut times = Vec::new();
        let mut bytes = 0;
        for _ in 0..20 {
            let t = Instant::now();
            let (status, text) = procs::http(l.addr, "GET", p, None).unwrap();
            times.push(t.elapsed().as_secs_f64() * 1e3);
            assert_eq!(status, 200, "{p}: {text}");
            bytes = text.len();
        }
        let max = times.iter().cloned().fold(0.0, f64::max);
        let _ = writeln!(
            report,
            "| `{p}` | {:.2} ms | {max:.2} ms | {bytes} |",
            median(times)
        );
    }
    let _ = writeln!(report);
}

fn lookups(report: &mut String, placement: &Placement, bin: &Path, dir: &Path, up: SocketAddr) {
    let db = dir.join("responses.db");
    drop(lodestar::store::Store::open(&db, Default::default()).unwrap());
    let conn = rusqlite::Connection::open(&db).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    conn.execute_batch(&format!(
        "BEGIN;
         INSERT INTO responses (id, created_ms, project, bytes, body)
         WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {last})
         SELECT 'resp_bench' || i, {now} - i, '', 300, CAST(printf(
           '{{\"input\":[{{\"type\":\"message\",\"role\":\"user\",\"content\":\"question %d about the code in main.rs\"}}],\"response\":{{\"id\":\"resp_bench%d\",\"object\":\"response\",\"output\":[{{\"type\":\"message\",\"id\":\"msg_%d\",\"role\":\"assistant\",\"status\":\"completed\",\"content\":[{{\"type\":\"output_text\",\"text\":\"answer %d: look at line 42\",\"annotations\":[]}}]}}]}}}}',
           i, i, i, i) AS BLOB) FROM n;
         COMMIT;",
        last = RESPONSES - 1
    ))
    .unwrap();
    drop(conn);
    let l = start(
        placement,
        bin,
        dir,
        up,
        &format!("storage: {{ path: \"{}\" }}\n", db.display()),
    );
    let plain = r#"{"model":"bench","input":"hi","store":false}"#;
    let stored = r#"{"model":"bench","input":"hi"}"#;
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    let mut times: [Vec<f64>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    for i in 0..900 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let chained = format!(
            r#"{{"model":"bench","input":"hi","store":false,"previous_response_id":"resp_bench{}"}}"#,
            rng % RESPONSES as u64
        );
        let body = match i % 3 {
            0 => plain.to_string(),
            1 => chained,
            _ => stored.to_string(),
        };
        let t = Instant::now();
        let (status, text) = procs::http(l.addr, "POST", "/v1/responses", Some(&body)).unwrap();
        let took = us(t.elapsed());
        assert_eq!(status, 200, "{text}");
        if i >= 150 {
            times[i % 3].push(took);
        }
    }
    let [a, b, c] = times;
    let (pa, pb, pc) = (median(a), median(b), median(c));
    let _ = writeln!(
        report,
        "## 3. `previous_response_id` with {RESPONSES} stored responses\n\n\
         `POST /v1/responses` (translated to the chat upstream), one request per connection, \
         250 of each after 50 warm-up rounds, interleaved:\n\n\
         | request | p50 | vs the first |\n|---|---:|---:|\n\
         | `store: false`, no `previous_response_id` | {pa:.0} µs | – |\n\
         | `store: false`, a random stored `previous_response_id` (lookup + expansion) | {pb:.0} µs | {:+.0} µs |\n\
         | `store` left default (true): the answer is kept | {pc:.0} µs | {:+.0} µs |\n",
        pb - pa,
        pc - pa
    );
}
