//! The UI's files at `/ui/` (the Leptos app in `ui/`, built by `ui/build.sh` into `ui/dist`).
//! Release builds carry the files inside the binary; debug builds read `ui/dist` from disk,
//! so a rebuilt UI shows on reload. With no built UI, `/ui/` says how to build it: building
//! the engine never needs the wasm toolchain.
//!
//! Owns only file serving; the UI talks to the engine through the admin API like any client.
//! Behind the same local Host/Origin guard as the admin API.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

#[derive(rust_embed::Embed)]
#[folder = "ui/dist/"]
#[allow_missing = true]
struct Assets;

pub(super) async fn root() -> Redirect {
    Redirect::permanent("/ui/")
}

pub(super) async fn index() -> Response {
    file("index.html")
}

pub(super) async fn asset(Path(path): Path<String>) -> Response {
    // A path with no extension is one of the app's pages (`/ui/costs`): the app routes it.
    let last = path.rsplit('/').next().unwrap_or("");
    if !last.contains('.') {
        return file("index.html");
    }
    file(&path)
}

fn file(path: &str) -> Response {
    match Assets::get(path) {
        Some(f) => {
            // wasm-bindgen's file names are fixed (no content hash): revalidate every load.
            let cache = "no-cache";
            (
                [
                    (header::CONTENT_TYPE, content_type(path)),
                    (header::CACHE_CONTROL, cache),
                ],
                f.data.into_owned(),
            )
                .into_response()
        }
        None if path == "index.html" => not_built(),
        None => (StatusCode::NOT_FOUND, format!("no UI file `{path}`\n")).into_response(),
    }
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" => "application/json",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}

fn not_built() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        "<!doctype html><title>Lodestar UI not built</title>\
         <h1>The Lodestar UI is not built into this binary</h1>\
         <p>This <code>lodestar</code> was built without the web UI. From a checkout, run \
         <code>ui/build.sh</code> (it builds <code>ui/dist</code>), then rebuild \
         <code>lodestar</code>. The proxy and the admin API (<code>/admin/api/status</code>, \
         <code>/metrics</code>) work without it.</p>\n",
    )
        .into_response()
}
