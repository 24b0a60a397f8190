//! The zero-latency upstream the proxy_load bench measures against: an OpenAI-compatible
//! stub on its own single-threaded tokio runtime, answering canned bytes so that it is
//! never the bottleneck. It also listens for SIGINT/SIGTERM, because it is the one place
//! with a running runtime: on a signal it has `procs` clean up, then exits.

use std::net::SocketAddr;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use axum::serve::ListenerExt;

const COMPLETION: &[u8] = br#"{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"bench-model","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?"},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":9,"total_tokens":18}}"#;

const CHUNKS: [&[u8]; 6] = [
    b"data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"bench-model\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n",
    b"data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"bench-model\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello!\"},\"finish_reason\":null}]}\n\n",
    b"data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"bench-model\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" How can I\"},\"finish_reason\":null}]}\n\n",
    b"data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"bench-model\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" help you today?\"},\"finish_reason\":null}]}\n\n",
    b"data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"bench-model\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":9,\"total_tokens\":18}}\n\n",
    b"data: [DONE]\n\n",
];

const MODELS: &[u8] =
    br#"{"object":"list","data":[{"id":"bench-model","object":"model","created":1700000000,"owned_by":"bench"}]}"#;

/// Binds the upstream on 127.0.0.1 (ephemeral port) and serves it on a new thread
/// named `upstream`, with a current-thread runtime. Returns the bound address.
pub fn start() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the bench upstream");
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::Builder::new()
        .name("upstream".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("build the upstream runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener)
                    .unwrap()
                    .tap_io(|tcp| {
                        let _ = tcp.set_nodelay(true);
                    });
                let app = Router::new()
                    .route("/v1/chat/completions", post(chat))
                    // The same answers after 2 ms, like a fast model server (benches/cache.rs).
                    .route("/slow/v1/chat/completions", post(slow_chat))
                    .route("/slow/v1/models", get(models))
                    .route("/v1/models", get(models));
                tokio::select! {
                    res = axum::serve(listener, app) => res.expect("bench upstream failed"),
                    () = interrupted() => {
                        crate::procs::cleanup_after_signal();
                        eprintln!("proxy_load: interrupted; stopped nginx, lodestar and wrk");
                        std::process::exit(130);
                    }
                }
            });
        })
        .expect("spawn the upstream thread");
    addr
}

async fn interrupted() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

async fn chat(body: Bytes) -> Response {
    if wants_stream(&body) {
        let chunks = futures_util::stream::iter(
            CHUNKS
                .iter()
                .map(|c| Ok::<_, std::io::Error>(Bytes::from_static(c))),
        );
        Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "text/event-stream")
            .header(header::CACHE_CONTROL, "no-cache")
            .body(Body::from_stream(chunks))
            .unwrap()
    } else {
        json(COMPLETION)
    }
}

async fn slow_chat(body: Bytes) -> Response {
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    chat(body).await
}

async fn models() -> Response {
    json(MODELS)
}

fn json(bytes: &'static [u8]) -> Response {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(Bytes::from_static(bytes)))
        .unwrap()
}

/// `"stream"` followed (after optional spaces and a colon) by `true`; cheap, no JSON parse.
fn wants_stream(body: &[u8]) -> bool {
    let key = b"\"stream\"";
    let Some(at) = body.windows(key.len()).position(|w| w == key) else {
        return false;
    };
    let rest = &body[at + key.len()..];
    let rest = rest.trim_ascii_start();
    let Some(rest) = rest.strip_prefix(b":") else {
        return false;
    };
    rest.trim_ascii_start().starts_with(b"true")
}
