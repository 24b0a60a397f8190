//! The UI's entry point: mount the app (see `app`). Natively it does nothing: only the pure
//! modules' tests run off the browser.

#[cfg(target_arch = "wasm32")]
fn main() {
    console_error_panic_hook::set_once();
    // The static shell in index.html shows until the app is ready to take its place.
    if let Some(boot) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id("boot"))
    {
        boot.remove();
    }
    leptos::mount::mount_to_body(lodestar_ui::app::App);
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!(
        "lodestar-ui runs in a browser: build it with ui/build.sh and open /ui/ on the engine"
    );
}
