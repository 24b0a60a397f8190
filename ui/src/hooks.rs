//! Small reactive helpers: intervals tied to a component's life, a tick for polling, and the
//! browser's clock and time zone.

use std::time::Duration;

use leptos::prelude::*;
use wasm_bindgen::JsValue;

/// Calls `f` every `ms` until the component that called this is dropped.
pub fn use_interval(ms: u64, f: impl Fn() + 'static) {
    if let Ok(handle) = set_interval_with_handle(f, Duration::from_millis(ms)) {
        on_cleanup(move || handle.clear());
    }
}

/// A counter that goes up every `ms` while the tab is visible: a resource that reads it
/// fetches again on each tick (and not while nobody is looking).
pub fn use_tick(ms: u64) -> ReadSignal<u64> {
    let (tick, set_tick) = signal(0u64);
    use_interval(ms, move || {
        if !page_hidden() {
            set_tick.update(|t| *t += 1);
        }
    });
    tick
}

pub fn page_hidden() -> bool {
    web_sys::window()
        .and_then(|w| w.document())
        .is_some_and(|d| d.hidden())
}

pub fn now_ms() -> i64 {
    js_sys::Date::now() as i64
}

/// Minutes east of UTC at `ms` in the browser's time zone.
pub fn offset_min(ms: i64) -> i32 {
    -(js_sys::Date::new(&JsValue::from_f64(ms as f64)).get_timezone_offset() as i32)
}

pub fn local_datetime(ms: i64) -> String {
    crate::format::datetime(ms, offset_min(ms))
}

pub fn local_minute(ms: i64) -> String {
    crate::format::datetime_min(ms, offset_min(ms))
}

/// Offers `text` as a file download, made in the page (nothing is sent anywhere).
pub fn download(name: &str, mime: &str, text: &str) -> Result<(), JsValue> {
    use wasm_bindgen::JsCast;
    let parts = js_sys::Array::of1(&JsValue::from_str(text));
    let opts = web_sys::BlobPropertyBag::new();
    opts.set_type(mime);
    let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &opts)?;
    let url = web_sys::Url::create_object_url_with_blob(&blob)?;
    let doc = web_sys::window()
        .and_then(|w| w.document())
        .ok_or_else(|| JsValue::from_str("no document"))?;
    let a: web_sys::HtmlAnchorElement = doc.create_element("a")?.unchecked_into();
    a.set_href(&url);
    a.set_download(name);
    a.click();
    // Revoked later: some browsers read the blob after click() returns.
    set_timeout(
        move || {
            let _ = web_sys::Url::revoke_object_url(&url);
        },
        Duration::from_secs(30),
    );
    Ok(())
}
