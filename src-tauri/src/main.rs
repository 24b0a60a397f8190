//! `lodestar-desktop`: the tray app (see the library's module map).
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

// The same allocator as `lodestar serve`, so the proxy behaves the same in both.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    lodestar::process_memory::avoid_huge_pages();
    lodestar_desktop::main_entry()
}
