//! Lodestar's desktop app: the engine (`lodestar`) in-process behind a tray icon.
//!
//! Module map: `app` (Tauri setup and lifecycle) → `controller` (state, refresh, clicks) →
//! `api` (the engine's admin HTTP API; the same calls in-process and attached) and `events`
//! (the engine's event channel or its SSE stream); what is shown: `snapshot` (the admin API's
//! answers combined) → `menu` (the menu as plain data) and `icon` (the icon's pixels) →
//! `tray` (the native tray); beside them `notify` (notifications and their gate), `prefs`
//! (the app's own preferences), `window` (the settings window's process), `host` (starting
//! or attaching to the engine) and `gpu_file` (the fake GPU test seam).

pub mod api;
pub mod app;
pub mod controller;
pub mod events;
pub mod gpu_file;
pub mod host;
pub mod icon;
pub mod menu;
pub mod notify;
pub mod prefs;
pub mod snapshot;
pub mod tray;
pub mod window;

use std::process::ExitCode;

/// The app's Tauri context (config, icons), built into the binary.
fn context() -> tauri::Context<tauri::Wry> {
    tauri::generate_context!()
}

/// Set (to `1`) when the tray process turned GTK's OpenGL off itself, so the window process
/// gets the user's environment back.
pub const GL_OFF_MARK: &str = "LODESTAR_DESKTOP_GL_OFF";

/// GTK 3 opens OpenGL when it connects to the X display (to pick visuals), which loads the GPU
/// driver's DRI library — with Mesa, LLVM: about 50 MiB of the tray process's memory for
/// nothing, since the tray never draws. `GDK_GL=disable` skips that; GTK reads it once at
/// start, so the tray process starts itself again with it (exec: same process, no unsafe
/// set_var). A user's own GDK_GL is left alone.
#[cfg(target_os = "linux")]
fn exec_without_gl() {
    use std::os::unix::process::CommandExt;
    if std::env::var_os("GDK_GL").is_some_and(|v| !v.is_empty()) {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let err = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env("GDK_GL", "disable")
        .env(GL_OFF_MARK, "1")
        .exec();
    // Only returns on failure: carry on with GL (costs memory, nothing else).
    eprintln!("lodestar-desktop: could not restart without OpenGL ({err}); continuing");
}

/// The binary's entry: the tray app, or with `--window URL` the settings window's process.
pub fn main_entry() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let result = match args.next().as_deref() {
        Some(window::WINDOW_ARG) => match args.next() {
            Some(url) => window::run_window_process(&url, context()),
            None => Err(format!(
                "usage: lodestar-desktop {} URL",
                window::WINDOW_ARG
            )),
        },
        _ => {
            #[cfg(target_os = "linux")]
            exec_without_gl();
            app::run(context())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lodestar-desktop: {e}");
            ExitCode::from(1)
        }
    }
}
