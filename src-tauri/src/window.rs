//! The settings window ("Open Lodestar"): the engine's own UI at `http://ADDR/ui/`, shown in a
//! child process of the tray app (`lodestar-desktop --window URL`) that exits when the window
//! closes.
//!
//! Why a process: WebKitGTK starts a web process and a network process for the first webview,
//! and the network process never exits while the app that made it lives — Tauri keeps the
//! WebKit context for the app's lifetime on Linux on purpose, because a new context would start
//! another network process and leak the old one (tauri-apps/tauri#14626, wry#590). A tray app
//! that opened its window once would carry ~60 MiB (network process) plus the UI process's own
//! WebKit state forever. In a child process, closing the window ends the process, and WebKit's
//! helpers exit with it (their IPC connection closes): nothing of the webview stays.
//!
//! Owns the window process on both sides; must not talk to the engine.

use std::sync::Mutex;
use std::time::Duration;

use tauri::{Url, WebviewUrl, WebviewWindowBuilder};
use tokio::sync::oneshot;

/// The argument that makes the binary a window process.
pub const WINDOW_ARG: &str = "--window";

/// The tray's handle on the window process.
#[derive(Default)]
pub struct WindowProcess {
    /// Sending on it closes the window; present while a window process runs.
    close: Mutex<Option<oneshot::Sender<()>>>,
}

impl WindowProcess {
    pub fn is_open(&self) -> bool {
        self.close
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .is_some_and(|tx| !tx.is_closed())
    }

    /// Start the window process showing `url`; `on_exit` runs when it ends (closed by the
    /// user, by `close`, or crashed). Opening while open does nothing.
    pub fn open(&self, url: &str, on_exit: impl FnOnce() + Send + 'static) -> Result<(), String> {
        if self.is_open() {
            return Ok(());
        }
        let exe = std::env::current_exe()
            .map_err(|e| format!("cannot find this program to open the window: {e}"))?;
        let mut cmd = tokio::process::Command::new(exe);
        cmd.arg(WINDOW_ARG)
            .arg(url)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        // Software compositing costs a quarter of the web process's memory less, and avoids
        // blank windows on drivers WebKit's GPU path mishandles; a settings page needs no GPU.
        if std::env::var_os("WEBKIT_DISABLE_COMPOSITING_MODE").is_none() {
            cmd.env("WEBKIT_DISABLE_COMPOSITING_MODE", "1");
        }
        // The tray turned GTK's OpenGL off for itself only (`exec_without_gl`); WebKit sets
        // up OpenGL in the window process either way, so it gets the user's environment.
        if std::env::var_os(crate::GL_OFF_MARK).is_some() {
            cmd.env_remove("GDK_GL").env_remove(crate::GL_OFF_MARK);
        }
        let (tx, rx) = oneshot::channel();
        *self.close.lock().unwrap_or_else(|e| e.into_inner()) = Some(tx);
        // Spawned inside the runtime: tokio's child reaper needs its reactor.
        tauri::async_runtime::spawn(async move {
            match cmd.spawn() {
                Ok(mut child) => {
                    tokio::select! {
                        status = child.wait() => {
                            tracing::debug!("the window process ended: {status:?}");
                        }
                        _ = rx => {
                            let _ = child.kill().await;
                        }
                    }
                }
                Err(e) => tracing::error!("cannot start the window process: {e}"),
            }
            on_exit();
        });
        Ok(())
    }

    /// Close the window (ends its process).
    pub fn close(&self) {
        if let Some(tx) = self.close.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = tx.send(());
        }
    }
}

/// Only the engine's own pages on this machine are shown.
fn checked_url(url: &str) -> Result<Url, String> {
    let u: Url = url
        .parse()
        .map_err(|e| format!("`{url}` is not a URL: {e}"))?;
    let host = u.host_str().unwrap_or("");
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let local = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if u.scheme() != "http" || !local {
        return Err(format!(
            "the window shows only Lodestar's own UI on this machine (http://127.0.0.1:PORT/ui/), not `{url}`"
        ));
    }
    Ok(u)
}

/// The window process: one window with `url`; the process ends when the window closes, or
/// when the tray app that started it is gone.
pub fn run_window_process(url: &str, context: tauri::Context<tauri::Wry>) -> Result<(), String> {
    let url = checked_url(url)?;
    tauri::Builder::default()
        .setup(move |app| {
            WebviewWindowBuilder::new(app, "main", WebviewUrl::External(url.clone()))
                .title("Lodestar")
                .inner_size(1100.0, 760.0)
                .min_inner_size(480.0, 360.0)
                .build()?;
            watch_parent(app.handle().clone());
            Ok(())
        })
        .run(context)
        .map_err(|e| format!("the window failed: {e}"))
}

/// Exit when the parent (the tray app) exits: a window must not outlive its tray.
fn watch_parent(app: tauri::AppHandle) {
    #[cfg(unix)]
    {
        let parent = std::os::unix::process::parent_id();
        let _ = std::thread::Builder::new()
            .name("parent-watch".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_secs(1));
                    if std::os::unix::process::parent_id() != parent {
                        app.exit(0);
                        return;
                    }
                }
            });
    }
    #[cfg(not(unix))]
    {
        // On Windows the tray kills the window process on exit (kill_on_drop).
        let _ = (app, Duration::ZERO);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_http_pages() {
        assert!(checked_url("http://127.0.0.1:8080/ui/").is_ok());
        assert!(checked_url("http://[::1]:8080/ui/").is_ok());
        assert!(checked_url("http://localhost:8080/ui/").is_ok());
        assert!(checked_url("https://example.com/").is_err());
        assert!(checked_url("http://192.168.1.2:8080/ui/").is_err());
        assert!(checked_url("file:///etc/passwd").is_err());
        assert!(checked_url("not a url").is_err());
    }
}
