//! Running the `lodestar` binary as a user does: a clean environment, `serve` until its
//! "listening" line, SIGTERM and wait.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_lodestar");
pub const OPENAI_KEY: &str = "sk-cli-test-NEVER-LOG-9999";

/// The binary with a clean environment: no user config, a known key.
pub fn lodestar(home: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.env_remove("LODESTAR_CONFIG")
        .env_remove("RUST_LOG")
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .env("TEST_CLI_OPENAI_KEY", OPENAI_KEY);
    c
}

/// `127.0.0.1:PORT` with a port free right now, for a config's `server.listen` (the CLI
/// commands under test find the server through the config).
pub fn free_listen() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("127.0.0.1:{port}")
}

/// Start `serve`, wait for its "listening" line, return the child and the base URL.
/// (Callers reap the child with `terminate`.)
#[allow(clippy::zombie_processes)]
pub fn serve(cmd: &mut Command, stderr_to: &Path, extra: &[&str]) -> (Child, String, Vec<String>) {
    serve_on(cmd, stderr_to, "127.0.0.1:0", extra)
}

/// `serve` listening on `listen`.
#[allow(clippy::zombie_processes)]
pub fn serve_on(
    cmd: &mut Command,
    stderr_to: &Path,
    listen: &str,
    extra: &[&str],
) -> (Child, String, Vec<String>) {
    let mut child = cmd
        .args(["serve", "--listen", listen])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(stderr_to).unwrap())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut printed = Vec::new();
    loop {
        let mut line = String::new();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "serve exited: {printed:?}"
        );
        printed.push(line.trim_end().to_string());
        if let Some(rest) = line.strip_prefix("lodestar listening on ") {
            let url = rest.split_whitespace().next().unwrap().to_string();
            return (child, url, printed);
        }
    }
}

pub fn terminate(child: &mut Child) -> std::process::ExitStatus {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    for _ in 0..100 {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    panic!("serve did not stop within 5 s of SIGTERM");
}
