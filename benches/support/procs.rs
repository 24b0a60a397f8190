//! Processes of the proxy_load bench: CPU placement, the nginx and lodestar children
//! (killed by a Drop guard, so a panic does not leave them running), a scratch
//! directory, a tiny blocking HTTP client for readiness and sanity checks, and RSS.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Process ids of the children running now (nginx, lodestar, wrk), so a signal can end them.
static CHILDREN: Mutex<Vec<u32>> = Mutex::new(Vec::new());
/// Set when a signal is being handled: the main thread's wrk dies then, and is not a failure.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);
/// The scratch directory, so a signal can remove it.
static SCRATCH: Mutex<Option<PathBuf>> = Mutex::new(None);

pub fn register_child(pid: u32) {
    if let Ok(mut pids) = CHILDREN.lock() {
        pids.push(pid);
    }
}

pub fn unregister_child(pid: u32) {
    if let Ok(mut pids) = CHILDREN.lock() {
        pids.retain(|p| *p != pid);
    }
}

/// Parks the calling thread for good if a signal is being handled (the process is about
/// to exit), so that a child killed by the cleanup is not reported as a failure.
pub fn park_if_interrupted() {
    while INTERRUPTED.load(Ordering::SeqCst) {
        std::thread::park();
    }
}

/// On SIGINT/SIGTERM (Drop guards do not run on `exit`): kill the children, remove the
/// scratch directory.
pub fn cleanup_after_signal() {
    INTERRUPTED.store(true, Ordering::SeqCst);
    let pids = CHILDREN.lock().map(|p| p.clone()).unwrap_or_default();
    for pid in pids {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    }
    if let Some(dir) = SCRATCH.lock().ok().and_then(|d| d.clone()) {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Where each process may run. `None` CPUs mean unpinned.
pub struct Placement {
    pub load_cpu: Option<usize>,
    pub server_cpu: Option<usize>,
    pub note: String,
}

impl Placement {
    /// wrk on the first allowed CPU; the upstream and the proxy under test share the
    /// second, so each proxy pays for its own CPU time out of the same single core and
    /// the load generator never competes with them.
    pub fn decide() -> Placement {
        let cpus = allowed_cpus();
        let taskset = Command::new("taskset")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        match (taskset, cpus.as_slice()) {
            (true, [load, server, ..]) => Placement {
                load_cpu: Some(*load),
                server_cpu: Some(*server),
                note: String::new(),
            },
            (false, _) => Placement {
                load_cpu: None,
                server_cpu: None,
                note: "UNPINNED: `taskset` not found (install util-linux)".into(),
            },
            (true, _) => Placement {
                load_cpu: None,
                server_cpu: None,
                note: format!("UNPINNED: only {} CPU(s) allowed", cpus.len()),
            },
        }
    }

    pub fn pinned(&self) -> bool {
        self.server_cpu.is_some()
    }

    /// `program` wrapped in `taskset -c CPU` when pinned.
    pub fn command(&self, cpu: Option<usize>, program: &Path) -> Command {
        match cpu {
            Some(cpu) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(cpu.to_string()).arg(program);
                c
            }
            None => Command::new(program),
        }
    }

    /// Pins every thread of this process (the bench, hence the upstream thread started
    /// after this call) to the server CPU.
    pub fn pin_self(&self) {
        if let Some(cpu) = self.server_cpu {
            let ok = Command::new("taskset")
                .args([
                    "-a",
                    "-p",
                    "-c",
                    &cpu.to_string(),
                    &std::process::id().to_string(),
                ])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "taskset could not pin the bench process to CPU {cpu}");
        }
    }

    pub fn describe(cpu: Option<usize>) -> String {
        cpu.map_or_else(|| "any CPU".into(), |c| format!("CPU {c}"))
    }
}

/// CPUs this process may use, from `Cpus_allowed_list` (e.g. `0-1` or `0,2-3`).
fn allowed_cpus() -> Vec<usize> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let list = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap_or("")
        .trim();
    let mut cpus = Vec::new();
    for part in list.split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<usize>(), b.parse::<usize>()) {
                    cpus.extend(a..=b);
                }
            }
            None => cpus.extend(part.parse::<usize>().ok()),
        }
    }
    if cpus.is_empty() {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        cpus.extend(0..n);
    }
    cpus
}

/// A scratch directory removed on drop.
pub struct ScratchDir(pub PathBuf);

impl ScratchDir {
    pub fn new() -> ScratchDir {
        let dir = std::env::temp_dir().join(format!("lodestar-bench-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the bench scratch directory");
        if let Ok(mut scratch) = SCRATCH.lock() {
            *scratch = Some(dir.clone());
        }
        ScratchDir(dir)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process killed (and reaped) on drop, panics included.
pub struct ChildGuard {
    pub child: Child,
}

impl ChildGuard {
    pub fn spawn(mut cmd: Command) -> std::io::Result<ChildGuard> {
        let child = cmd.spawn()?;
        register_child(child.id());
        Ok(ChildGuard { child })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `Some(status)` if the child has already exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let pid = self.child.id();
        let _ = self.child.kill();
        let _ = self.child.wait();
        unregister_child(pid);
    }
}

/// A free port on 127.0.0.1 (bound and released; the small race is acceptable here).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("find a free port")
        .port()
}

/// Starts nginx from `template` with one worker, proxying to `upstream`.
pub fn start_nginx(
    placement: &Placement,
    dir: &Path,
    upstream: SocketAddr,
) -> (ChildGuard, SocketAddr) {
    let port = free_port();
    let conf = include_str!("nginx.conf.template")
        .replace("{DIR}", &dir.display().to_string())
        .replace("{PORT}", &port.to_string())
        .replace("{UPPORT}", &upstream.port().to_string());
    let conf_path = dir.join("nginx.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let mut cmd = placement.command(placement.server_cpu, Path::new(NGINX));
    cmd.arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(&conf_path)
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            std::fs::File::create(dir.join("nginx-stderr.log")).unwrap(),
        ));
    let mut guard = ChildGuard::spawn(cmd).unwrap_or_else(|e| {
        panic!("cannot start {NGINX}: {e}; run scripts/bench.sh or `apt-get install nginx-light`")
    });
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    if let Err(e) = wait_listening(&mut guard, addr, None, Duration::from_secs(10)) {
        let log = std::fs::read_to_string(dir.join("nginx-stderr.log")).unwrap_or_default();
        let err = std::fs::read_to_string(dir.join("nginx-error.log")).unwrap_or_default();
        panic!("nginx did not start: {e}\n{log}{err}");
    }
    (guard, addr)
}

pub const NGINX: &str = "/usr/sbin/nginx";

/// `$LODESTAR_BIN`, else `$CARGO_TARGET_DIR/release/lodestar`, else `target/release/lodestar`.
pub fn lodestar_binary() -> Result<PathBuf, String> {
    if let Some(bin) = std::env::var_os("LODESTAR_BIN") {
        return Ok(PathBuf::from(bin));
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target"),
        PathBuf::from,
    );
    let bin = target.join("release").join("lodestar");
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(format!(
            "{} not found: run `cargo build --release` first (or set LODESTAR_BIN)",
            bin.display()
        ))
    }
}

pub struct Lodestar {
    pub guard: ChildGuard,
    pub addr: SocketAddr,
    pub start_to_listening: Duration,
}

/// Writes the config, spawns `lodestar serve` and waits for a 200 from `GET /health`.
/// An error says why Lodestar could not be measured (the caller skips its leg).
pub fn start_lodestar(
    placement: &Placement,
    bin: &Path,
    dir: &Path,
    upstream: SocketAddr,
    extra_yaml: &str,
) -> Result<Lodestar, String> {
    let body = format!(
        "providers:\n  up: {{ kind: openai-compatible, base_url: \"http://127.0.0.1:{}/v1\" }}\nmodels:\n  bench: {{ route: [up/bench-model] }}\nrouting:\n  default: bench\n{extra_yaml}",
        upstream.port()
    );
    start_lodestar_with(placement, bin, dir, upstream, &body)
}

/// `start_lodestar` with a config of the caller's own (everything but `server:`).
pub fn start_lodestar_with(
    placement: &Placement,
    bin: &Path,
    dir: &Path,
    _upstream: SocketAddr,
    body_yaml: &str,
) -> Result<Lodestar, String> {
    let port = free_port();
    let config = format!("server:\n  listen: 127.0.0.1:{port}\n{body_yaml}");
    let config_path = dir.join(format!("lodestar-{port}.yml"));
    std::fs::write(&config_path, config).unwrap();
    let log_path = dir.join(format!("lodestar-{port}.log"));
    let mut cmd = placement.command(placement.server_cpu, bin);
    cmd.arg("serve")
        .arg("--config")
        .arg(&config_path)
        .stdin(Stdio::null())
        .stdout(Stdio::from(std::fs::File::create(&log_path).unwrap()))
        .stderr(Stdio::from(
            std::fs::File::options()
                .append(true)
                .open(&log_path)
                .unwrap(),
        ));
    if placement.pinned() {
        cmd.env("LODESTAR_WORKER_THREADS", "1");
    }
    let started = Instant::now();
    let mut guard =
        ChildGuard::spawn(cmd).map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    match wait_listening(&mut guard, addr, Some("/health"), Duration::from_secs(10)) {
        Ok(()) => Ok(Lodestar {
            start_to_listening: started.elapsed(),
            guard,
            addr,
        }),
        Err(e) => {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            if tail.is_empty() {
                Err(format!("{e}; it printed nothing"))
            } else {
                Err(format!("{e}; its output:\n    {}", tail.join("\n    ")))
            }
        }
    }
}

/// Polls until `addr` accepts a connection (and, with `health`, answers it with a 200),
/// failing early if the child exits.
fn wait_listening(
    child: &mut ChildGuard,
    addr: SocketAddr,
    health: Option<&str>,
    limit: Duration,
) -> Result<(), String> {
    let started = Instant::now();
    loop {
        if let Some(status) = child.exited() {
            return Err(format!("it exited ({status}) before listening on {addr}"));
        }
        if TcpStream::connect(addr).is_ok() {
            match health {
                None => return Ok(()),
                Some(path) => {
                    if let Ok((200, _)) = http(addr, "GET", path, None) {
                        return Ok(());
                    }
                }
            }
        }
        if started.elapsed() > limit {
            return Err(format!("not listening on {addr} after {limit:?}"));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// One blocking HTTP/1.1 exchange with `Connection: close`: (status, whole response text).
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {text:?}")))?;
    Ok((status, text))
}

/// VmRSS of `pid` in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}
