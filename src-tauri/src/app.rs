//! The tray app's Tauri setup: plugins (single-instance first, so a second launch only opens
//! the window of the first), the controller, the tray, the engine start, the refresh loop and
//! signal handling; and the run loop, which keeps the app alive with no window and shuts the
//! engine down on every way out.
//!
//! Owns the app's lifecycle; must not hold state (`controller`).

use std::sync::{Arc, Mutex};

use tauri::{Manager, RunEvent, Wry};

use crate::controller::Controller;

/// Logs to stderr (buffered, as `lodestar serve` does); `RUST_LOG` overrides `info`.
fn init_logging() -> lodestar::logging::FlushGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let (writer, guard) = lodestar::logging::BufferedStderr::new();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .event_format(lodestar::logging::LineFormat)
        .try_init();
    guard
}

/// Quit cleanly on SIGTERM (logout, `systemctl stop`) and SIGINT (Ctrl-C in a terminal).
async fn quit_on_signal(c: Arc<Controller>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::info!("signal received: quitting");
        c.quit().await;
    }
    #[cfg(not(unix))]
    {
        if tokio::signal::ctrl_c().await.is_ok() {
            c.quit().await;
        }
    }
}

/// Run the tray app until Quit.
pub fn run(context: tauri::Context<Wry>) -> Result<(), String> {
    // reqwest is built without a default TLS backend: pick ring once per process (the engine
    // does the same when it starts; attached, it never starts).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let log = Mutex::new(Some(init_logging()));
    let app = tauri::Builder::default()
        .plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| {
            if let Some(c) = app.try_state::<Arc<Controller>>() {
                c.open_window();
            }
        }))
        .plugin(tauri_plugin_autostart::init(
            tauri_plugin_autostart::MacosLauncher::LaunchAgent,
            None,
        ))
        .plugin(tauri_plugin_store::Builder::default().build())
        .setup(|app| {
            #[cfg(target_os = "macos")]
            app.set_activation_policy(tauri::ActivationPolicy::Accessory);
            let c = Controller::new(app.handle().clone());
            app.manage(c.clone());
            c.create_tray()?;
            tauri::async_runtime::spawn(c.clone().start_engine());
            tauri::async_runtime::spawn(c.clone().refresh_loop());
            tauri::async_runtime::spawn(quit_on_signal(c));
            Ok(())
        })
        .build(context)
        .map_err(|e| format!("cannot start the desktop app: {e}"))?;
    app.run(move |app, event| match event {
        // No window is not a reason to exit: the app lives in the tray until Quit.
        RunEvent::ExitRequested {
            api, code: None, ..
        } => api.prevent_exit(),
        RunEvent::Exit => {
            if let Some(c) = app.try_state::<Arc<Controller>>() {
                tauri::async_runtime::block_on(c.shutdown_engine());
            }
            drop(log.lock().unwrap_or_else(|e| e.into_inner()).take());
        }
        _ => {}
    });
    Ok(())
}
