#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]
//! desktop: the proxy benchmark against the desktop app's in-process engine next to the same
//! engine in `lodestar serve`, in one run, so that "the tray app proxies as fast as the
//! headless server" is a measurement.
//!
//! Same request mixes, upstream and placement as proxy_load (wrk on the first CPU; the
//! upstream and the proxy under test on the second). Both run the engine on the runtime
//! `Engine::runtime` builds, with `LODESTAR_WORKER_THREADS=1` as in proxy_load; the app under
//! Xvfb and a private session D-Bus, with the window never opened. Both have the ledger on, each in its own database.
//! Each cell is 3 alternating pairs (serve, app); the report gives each side's median and its
//! own run-to-run spread (the noise), and whether the app's median lies within the noise of
//! serve's.
//!
//! Run: `cargo build --release -p lodestar -p lodestar-desktop && cargo bench --bench desktop`
//! (needs wrk, Xvfb and dbus-run-session: `scripts/bench.sh` and `scripts/desktop-deps.sh`
//! install them). The app binary is `$LODESTAR_DESKTOP_BIN`, else
//! `$CARGO_TARGET_DIR/release/lodestar-desktop`. The report is printed and written to
//! `target/desktop-bench-report.md`.

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
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
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
const PAIRS: usize = 3;

fn main() {
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.trim_end_matches('s').parse().ok())
        .unwrap_or(5);
    let app_bin = match desktop_binary() {
        Ok(b) => b,
        Err(e) => {
            println!("desktop bench skipped: {e}");
            return;
        }
    };
    for tool in ["Xvfb", "dbus-run-session", "wrk"] {
        if !on_path(tool) {
            println!(
                "desktop bench skipped: `{tool}` not found (scripts/desktop-deps.sh, scripts/bench.sh)"
            );
            return;
        }
    }
    let serve_bin = procs::lodestar_binary().unwrap_or_else(|e| panic!("{e}"));
    let nproc = std::thread::available_parallelism().map_or(1, |n| n.get());
    let placement = Placement::decide();
    placement.pin_self();
    let scratch = ScratchDir::new();
    let dir = scratch.0.clone();
    for (_, script, lua) in MIXES {
        std::fs::write(dir.join(script), lua).unwrap();
    }
    let up = upstream::start();
    let body = |name: &str| {
        format!(
            "providers:\n  up: {{ kind: openai-compatible, base_url: \"http://127.0.0.1:{}/v1\" }}\n\
             models:\n  bench: {{ route: [up/bench-model] }}\nrouting:\n  default: bench\n\
             storage: {{ path: \"{}\" }}\n",
            up.port(),
            dir.join(format!("{name}.db")).display()
        )
    };
    let serve = procs::start_lodestar_with(&placement, &serve_bin, &dir, up, &body("serve"))
        .unwrap_or_else(|e| panic!("{e}"));
    let display = Xvfb::start();
    let app = App::start(&placement, &app_bin, &dir, &display, &body("app"))
        .unwrap_or_else(|e| panic!("{e}"));

    let mut report = String::new();
    let _ = writeln!(
        report,
        "# Desktop app vs `lodestar serve`: the proxy benchmark\n\n\
         - Command: `cargo build --release -p lodestar -p lodestar-desktop && BENCH_SECONDS={seconds} cargo bench --bench desktop`\n\
         - Machine: nproc {nproc}; wrk (1 thread) on {}; the upstream and the proxy under test on {}{}\n\
         - serve: `{}`; app: `{}` under Xvfb {} and dbus-run-session, window never opened; both with LODESTAR_WORKER_THREADS=1 (the engine's own runtime, current-thread) and the ledger on\n\
         - Each cell: {PAIRS} alternating pairs of {seconds} s wrk runs (after a 1 s warm-up each); median, and the spread (max − min) of each side's own runs = its noise\n",
        Placement::describe(placement.load_cpu),
        Placement::describe(placement.server_cpu),
        if placement.note.is_empty() {
            String::new()
        } else {
            format!(" ({})", placement.note)
        },
        serve_bin.display(),
        app_bin.display(),
        display.name,
    );
    let _ = writeln!(
        report,
        "| mix | c | serve req/s | app req/s | serve p50 | app p50 | serve p99 | app p99 | app vs serve |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---|"
    );
    let mut verdicts = Vec::new();
    for (name, script, _) in MIXES {
        let script = dir.join(script);
        for c in [1u32, 8, 32] {
            let (mut s, mut a) = (Vec::new(), Vec::new());
            for _ in 0..PAIRS {
                s.push(wrk_run(&placement, c, seconds, &script, serve.addr));
                a.push(wrk_run(&placement, c, seconds, &script, app.addr));
            }
            let (s_rps, a_rps) = (stat(&s, |r| r.rps), stat(&a, |r| r.rps));
            let (s_p50, a_p50) = (stat(&s, |r| us(r.p50)), stat(&a, |r| us(r.p50)));
            let (s_p99, a_p99) = (stat(&s, |r| us(r.p99)), stat(&a, |r| us(r.p99)));
            // Within noise: the medians differ by no more than the larger of the two sides'
            // own run-to-run spreads.
            let rps_ok = (a_rps.median - s_rps.median).abs() <= s_rps.spread.max(a_rps.spread);
            let p50_ok = (a_p50.median - s_p50.median).abs() <= s_p50.spread.max(a_p50.spread);
            let verdict = match (rps_ok, p50_ok) {
                (true, true) => "within noise".to_string(),
                _ => format!(
                    "OUTSIDE noise: req/s {:+.1}%, p50 {:+.0} µs",
                    (a_rps.median / s_rps.median - 1.0) * 100.0,
                    a_p50.median - s_p50.median
                ),
            };
            verdicts.push(rps_ok && p50_ok);
            let _ = writeln!(
                report,
                "| {name} | {c} | {} | {} | {} µs | {} µs | {} µs | {} µs | {verdict} |",
                s_rps.show(0),
                a_rps.show(0),
                s_p50.show(0),
                a_p50.show(0),
                s_p99.show(0),
                a_p99.show(0),
            );
        }
    }
    let within = verdicts.iter().filter(|v| **v).count();
    let _ = writeln!(
        report,
        "\n{within} of {} cells within noise. RSS after the load: serve {:.1} MiB, app {:.1} MiB \
         (the app's idle and window figures: src-tauri/tests/e2e, docs/benchmarks.md \"Desktop app\").",
        verdicts.len(),
        procs::rss_kib(serve.guard.pid()).unwrap_or(0) as f64 / 1024.0,
        app.rss_kib().unwrap_or(0) as f64 / 1024.0,
    );
    println!("{report}");
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target"),
        PathBuf::from,
    );
    let path = target.join("desktop-bench-report.md");
    if std::fs::write(&path, &report).is_ok() {
        eprintln!("desktop: report written to {}", path.display());
    }
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// A side's median and spread over its runs.
struct Stat {
    median: f64,
    spread: f64,
}

impl Stat {
    fn show(&self, decimals: usize) -> String {
        format!(
            "{:.*} (±{:.*})",
            decimals,
            self.median,
            decimals,
            self.spread / 2.0
        )
    }
}

fn stat(runs: &[wrk::WrkResult], f: impl Fn(&wrk::WrkResult) -> f64) -> Stat {
    let mut v: Vec<f64> = runs.iter().map(f).collect();
    v.sort_by(f64::total_cmp);
    Stat {
        median: v[v.len() / 2],
        spread: v[v.len() - 1] - v[0],
    }
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

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
}

/// `$LODESTAR_DESKTOP_BIN`, else `$CARGO_TARGET_DIR/release/lodestar-desktop`.
fn desktop_binary() -> Result<PathBuf, String> {
    if let Some(bin) = std::env::var_os("LODESTAR_DESKTOP_BIN") {
        return Ok(PathBuf::from(bin));
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target"),
        PathBuf::from,
    );
    let bin = target.join("release").join("lodestar-desktop");
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(format!(
            "{} not found: run `cargo build --release -p lodestar-desktop` first (or set LODESTAR_DESKTOP_BIN)",
            bin.display()
        ))
    }
}

/// A private X server for the app (unpinned: it idles, the window is never opened).
struct Xvfb {
    name: String,
    _guard: procs::ChildGuard,
}

impl Xvfb {
    fn start() -> Xvfb {
        for n in 90..140 {
            if Path::new(&format!("/tmp/.X{n}-lock")).exists() {
                continue;
            }
            let name = format!(":{n}");
            let mut cmd = Command::new("Xvfb");
            cmd.args([&name, "-screen", "0", "1024x768x24", "-nolisten", "tcp"])
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let mut guard = procs::ChildGuard::spawn(cmd).expect("start Xvfb");
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(5) {
                if Path::new(&format!("/tmp/.X11-unix/X{n}")).exists() {
                    return Xvfb {
                        name,
                        _guard: guard,
                    };
                }
                if guard.exited().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("could not start Xvfb on any display :90..:139");
    }
}

/// The desktop app in its own process group (dbus-run-session, its bus, the app), killed
/// together.
struct App {
    pgid: u32,
    app_pid: Option<u32>,
    addr: SocketAddr,
}

impl App {
    fn start(
        placement: &Placement,
        bin: &Path,
        dir: &Path,
        display: &Xvfb,
        body_yaml: &str,
    ) -> Result<App, String> {
        let port = procs::free_port();
        let config = dir.join("app.yml");
        std::fs::write(
            &config,
            format!("server:\n  listen: 127.0.0.1:{port}\n{body_yaml}"),
        )
        .unwrap();
        let home = dir.join("app-home");
        let runtime = dir.join("app-runtime");
        for d in [&home, &runtime] {
            std::fs::create_dir_all(d).unwrap();
        }
        let mut cmd = Command::new("dbus-run-session");
        cmd.arg("--");
        if let Some(cpu) = placement.server_cpu {
            cmd.args(["taskset", "-c", &cpu.to_string()]);
        }
        let log = std::fs::File::create(dir.join("app.log")).unwrap();
        cmd.arg(bin)
            .env("DISPLAY", &display.name)
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("XDG_RUNTIME_DIR", &runtime)
            .env("LODESTAR_CONFIG", &config)
            .env("GDK_BACKEND", "x11")
            .env("LODESTAR_WORKER_THREADS", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .process_group(0);
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let pgid = child.id();
        procs::register_child(pgid);
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut app = App {
            pgid,
            app_pid: None,
            addr,
        };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if let Ok((200, _)) = procs::http(addr, "GET", "/health", None) {
                app.app_pid = find_app_pid(pgid, bin);
                return Ok(app);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let log = std::fs::read_to_string(dir.join("app.log")).unwrap_or_default();
        Err(format!(
            "the desktop app did not answer on {addr} within 30 s; its log:\n{log}"
        ))
    }

    fn rss_kib(&self) -> Option<u64> {
        procs::rss_kib(self.app_pid?)
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &format!("-{}", self.pgid)])
            .status();
        std::thread::sleep(Duration::from_millis(500));
        let _ = Command::new("kill")
            .args(["-KILL", &format!("-{}", self.pgid)])
            .status();
        procs::unregister_child(self.pgid);
    }
}

/// The app's own process in the group (its executable is `bin`).
fn find_app_pid(pgid: u32, bin: &Path) -> Option<u32> {
    let want = std::fs::canonicalize(bin).ok()?;
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Field 5 (after the parenthesised name) is the process group.
        let group: u32 = stat
            .rsplit(')')
            .next()?
            .split_whitespace()
            .nth(2)?
            .parse()
            .ok()?;
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
        (group == pgid && exe == want).then_some(pid)
    })
}
