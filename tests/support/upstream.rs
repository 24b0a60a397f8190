//! A fake LLM upstream for integration tests: one real HTTP server on `127.0.0.1:0` that speaks
//! OpenAI (`/v1/chat/completions`, `/v1/completions`, `/v1/embeddings`, `/v1/models`), Ollama's
//! native listing routes (`/api/tags`, `/api/ps`, `/`) and Anthropic Messages (`/v1/messages`,
//! `/v1/messages/count_tokens`). It answers deterministically — `"echo: " + <last user text>` —
//! and misbehaves when the request's `model` asks it to.
//!
//! This file owns the server, its handle and its counters; `upstream_exchange.rs` the knobs,
//! `upstream_script.rs` the answer, `upstream_openai.rs` and `upstream_anthropic.rs` the wire
//! shapes.
//!
//! Chat answers (`/v1/chat/completions`, `/v1/messages`), in this order of precedence:
//!
//! 1. **Tool results.** A request that ends in tool results (OpenAI: trailing `role: tool`
//!    messages; Anthropic: `tool_result` blocks in the last, user, message) gets the text
//!    `tool results: ID=CONTENT; ID=CONTENT`, in the order given (`ID` the `tool_call_id` /
//!    `tool_use_id`, `CONTENT` the string or text parts joined by spaces; Anthropic's
//!    `is_error: true` appends ` (error)` after its CONTENT).
//! 2. **Tool calls.** Lines `call: NAME {ARGS_JSON}` (ARGS a JSON object on that line) in the
//!    last user message's text make the answer one tool call per line, in order, and no text:
//!    OpenAI `tool_calls` (ids `call_<N>_<i>`, `arguments` compact JSON, finish_reason
//!    `tool_calls`); Anthropic `tool_use` blocks (ids `toolu_<N>_<i>`, stop_reason `tool_use`).
//!    Streamed, each call is a header (OpenAI: `{index, id, type, function: {name,
//!    arguments: ""}}`; Anthropic: content_block_start with `input: {}`) and its arguments in 3
//!    fragments (`function.arguments` / `input_json_delta`). `N` is the request's id number.
//! 3. **Echo.** `echo: <last user text>`, plus ` [images: K]` when the last user message has K
//!    image parts (OpenAI `image_url`, Anthropic `image`).
//!
//! OpenAI chat streams open with a `{role: assistant, content: ""}` chunk for plain text; when
//! the answer has reasoning or tool calls the first delta itself carries `role: assistant,
//! content: null` instead, as OpenAI sends tool calls.
//!
//! Token counts are words: input = words of every message's text, Anthropic's `system`, tool
//! results, tool calls' names and compact arguments, and the `tools` definitions' names and
//! descriptions (at least 1; `/v1/messages/count_tokens` answers the same number); output =
//! words of the reasoning, the text, and each tool call's name and arguments.
//!
//! Knobs are `+`-joined tokens anywhere in the model string (`m+slow_stream_200+chunks_5`);
//! anything else is just the model name:
//!
//! | token | effect |
//! |---|---|
//! | `fail_CODE` | answer CODE at once with an error body in the endpoint's dialect |
//! | `fail_429` / `fail_429_raN` | 429 with `Retry-After: 1` / `Retry-After: N` |
//! | `fail_CODE_once` | only the first request with this exact model string fails |
//! | `slow_first_byte_MS` | sleep MS before the response headers |
//! | `slow_stream_MS` | sleep MS between streamed steps (see below) |
//! | `chunks_N` | a text answer (echo or tool results) is exactly N content chunks `"c0"`, `" c1"`, … |
//! | `drop_mid_stream` | streams send 2 content chunks, then the connection is aborted |
//! | `error_mid_stream` | streams send 2 content chunks, then an in-band error (Anthropic `event: error` with `overloaded_error`; OpenAI `data: {"error": {…, "type": "server_error"}}`, no `[DONE]`) and end cleanly (counted as completed) |
//! | `think` | reasoning first: `thinking about: <last user text>` (or `<the tool results answer>`); OpenAI `message.reasoning_content` / `delta.reasoning_content` (2 chunks) and `completion_tokens_details.reasoning_tokens`; Anthropic a first `thinking` block with `signature` `sig-<N>-` + 40 chars (streamed: 2 `thinking_delta`, 1 `signature_delta`) |
//! | `cached_N` | usage reports N cached prompt tokens on top of the prompt's words: Anthropic `cache_read_input_tokens: N` (`input_tokens` excludes them); OpenAI `prompt_tokens_details.cached_tokens: N` (`prompt_tokens` includes them) |
//! | `hang` | never answer (a dropped request counts as cancelled) |
//! | `no_model` | 404 `model_not_found`, as Ollama answers for an unknown model |
//! | `oom` | 500 `model requires more system memory …`, as Ollama answers for a model that does not fit |
//! | `fail_CODE_alt` | only every other request with this exact model string fails (the 1st, 3rd, …) |
//! | `ctx_N` | listings give the model a context window of N tokens (`/v1/models` `max_model_len`, `/api/ps` `context_length`) |
//! | `garbage` | 200 with `content-type: application/json` and an HTML body |
//!
//! Ollama's `POST /api/generate` with `keep_alive: 0` unloads a model: `/api/ps` stops listing it
//! until a request for that model loads it again.
//!
//! The model listings (`/v1/models`, `/api/tags`) answer normally unless a script was set with
//! [`TestUpstream::script_listing`]: each listing GET takes the next step (`ok`, a status code
//! such as `500` or `429`, `garbage`, or `hang`); after the script, they answer normally.
//!
//! A stream is a list of steps sent with `slow_stream_MS` between them: the opening events
//! (OpenAI chat's role chunk, when there is one; Anthropic's message_start + first
//! content_block_start + ping), one
//! step per delta (content, reasoning, tool-call or signature chunk; Anthropic's block stops and
//! later block starts ride with the next delta), then the closing events (finish chunk, usage
//! chunk, `[DONE]`; or the last content_block_stop, message_delta, message_stop) as one step.
//! `drop_mid_stream` and `error_mid_stream` count any such delta as a "content chunk".
//!
//! `/v1/messages` and `/v1/messages/count_tokens` reject requests without `anthropic-version`,
//! and without `x-api-key` unless [`TestUpstream::anthropic_key_optional`] was called (local
//! servers such as Ollama and llama.cpp take no key). The request-level knobs (`fail_*`,
//! `slow_first_byte_MS`, `hang`, `no_model`) apply to every POST, `count_tokens` included.
//!
//! Every POST is recorded (path, lowercased headers, JSON body, raw body bytes); streams are
//! counted as completed or cancelled (dropped by the client before their end), so tests assert
//! on what the proxy sent and whether it hung up. Nothing here blocks: counters are atomics, waits use a `Notify`.
//! The `wait_*` timeouts run on tokio's clock, so under `start_paused` time they can expire
//! while real TCP is still in flight; pass them generous timeouts or use a running clock.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::HashMap,
    net::SocketAddr,
    pin::pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, Method, StatusCode, Uri},
    response::Response,
    routing::{get, post},
};
use serde_json::Value;
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{Notify, oneshot},
    time::Instant,
};
use tokio_util::sync::CancellationToken;

use super::upstream_anthropic;
#[allow(unused_imports)] // used by some of the test binaries that share this module
pub use super::upstream_exchange::OOM_MESSAGE;
use super::upstream_exchange::{Dialect, error_response};
use super::upstream_openai;

/// Models listed by `/v1/models` and `/api/tags` unless [`TestUpstream::start_with_models`].
pub const DEFAULT_MODELS: [&str; 2] = ["llama3:8b", "qwen2.5-coder:7b"];

/// One POST the upstream received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    /// Header names lowercased, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The JSON body, or `Value::Null` when it was not JSON.
    pub body: Value,
    /// The body exactly as it arrived.
    pub raw: Bytes,
}

impl Recorded {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The request's `model` field.
    pub fn model(&self) -> Option<&str> {
        self.body.get("model").and_then(Value::as_str)
    }
}

/// A running fake upstream; the server stops accepting when this is dropped or [`stop`]ped.
///
/// [`stop`]: TestUpstream::stop
pub struct TestUpstream {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
    listener_closed: Option<oneshot::Receiver<()>>,
}

impl TestUpstream {
    /// Starts on a free port with [`DEFAULT_MODELS`], on the current tokio runtime.
    pub async fn start() -> TestUpstream {
        Self::start_with_models(DEFAULT_MODELS.iter().map(|m| m.to_string()).collect()).await
    }

    /// Starts on a free port; `/v1/models` and `/api/tags` list `models`.
    pub async fn start_with_models(models: Vec<String>) -> TestUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (closed_tx, closed_rx) = oneshot::channel();
        let shared = Arc::new(Shared::new(models));
        let listener = ClosingListener {
            inner: listener,
            _closed: closed_tx,
            shared: shared.clone(),
        };
        let shutdown = CancellationToken::new();
        let server = axum::serve(listener, router(shared.clone()))
            .with_graceful_shutdown(shutdown.clone().cancelled_owned());
        // A bare spawn is fine here: the server is stopped through `shutdown`, not awaited by
        // an engine, and the runtime ends with the test.
        #[allow(clippy::disallowed_methods)]
        tokio::spawn(async move {
            let _ = server.await;
        });
        TestUpstream {
            addr,
            shared,
            shutdown,
            listener_closed: Some(closed_rx),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Stops accepting and closes idle keep-alive connections; returns once the port is closed.
    /// Requests already in flight run to their end (or until their client drops them).
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(closed) = self.listener_closed.take() {
            let _ = closed.await;
        }
    }

    /// The next listing GETs (`/v1/models`, `/api/tags`) answer these steps in order: `ok`, a
    /// status code (`500`, `429`, ...), `garbage` (200, JSON content type, HTML body) or `hang`.
    pub fn script_listing(&self, steps: &[&str]) {
        let mut s = self.shared.listing_script.lock().unwrap();
        s.extend(steps.iter().map(|x| x.to_string()));
    }

    /// From now on `/v1/messages` (and `count_tokens`) accept requests without `x-api-key`,
    /// as local servers do; `anthropic-version` stays required.
    pub fn anthropic_key_optional(&self) {
        self.shared.key_optional.store(true, Ordering::SeqCst);
    }

    /// Total POST requests received (any path).
    pub fn calls(&self) -> usize {
        self.shared.log().requests.len()
    }

    /// POST requests whose `model` was exactly `model`.
    pub fn calls_for(&self, model: &str) -> usize {
        self.shared.calls_for(model)
    }

    /// GET requests to `path` (health probes, model listings).
    pub fn get_calls(&self, path: &str) -> usize {
        self.shared.log().gets.get(path).copied().unwrap_or(0)
    }

    /// Every POST received, oldest first.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.log().requests.clone()
    }

    pub fn last_request(&self) -> Option<Recorded> {
        self.shared.log().requests.last().cloned()
    }

    /// Streams (and `hang`/`slow_first_byte` requests) dropped by the client before their end.
    pub fn streams_cancelled(&self) -> usize {
        self.shared.cancelled.load(Ordering::SeqCst)
    }

    /// Streams whose body ran to its end (last event handed to the connection).
    pub fn streams_completed(&self) -> usize {
        self.shared.completed.load(Ordering::SeqCst)
    }

    /// Waits until [`streams_cancelled`](Self::streams_cancelled) `>= n`; false on timeout.
    pub async fn wait_cancelled(&self, n: usize, timeout: Duration) -> bool {
        self.wait_until(timeout, || self.streams_cancelled() >= n)
            .await
    }

    /// Waits until [`streams_completed`](Self::streams_completed) `>= n`; false on timeout.
    pub async fn wait_completed(&self, n: usize, timeout: Duration) -> bool {
        self.wait_until(timeout, || self.streams_completed() >= n)
            .await
    }

    /// Waits until [`calls`](Self::calls) `>= n`; false on timeout.
    pub async fn wait_calls(&self, n: usize, timeout: Duration) -> bool {
        self.wait_until(timeout, || self.calls() >= n).await
    }

    async fn wait_until(&self, timeout: Duration, done: impl Fn() -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            // Register interest before checking, so a change between the check and the
            // await still wakes us.
            let mut changed = pin!(self.shared.changed.notified());
            changed.as_mut().enable();
            if done() {
                return true;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return done();
            }
        }
    }
}

impl Drop for TestUpstream {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A `TcpListener` that tells [`TestUpstream::stop`] when axum has dropped it.
struct ClosingListener {
    inner: TcpListener,
    _closed: oneshot::Sender<()>,
    /// Counts accepted connections (keep-alive reuse is visible as fewer connections).
    shared: Arc<Shared>,
}

impl axum::serve::Listener for ClosingListener {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        // axum's own TcpListener impl retries transient accept errors.
        let accepted = axum::serve::Listener::accept(&mut self.inner).await;
        self.shared.connections.fetch_add(1, Ordering::SeqCst);
        accepted
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// State shared by the handlers and the [`TestUpstream`] handle.
pub(super) struct Shared {
    models: Vec<String>,
    log: Mutex<Log>,
    cancelled: AtomicUsize,
    completed: AtomicUsize,
    connections: AtomicUsize,
    /// Notified on every recorded request and every finished or cancelled stream.
    changed: Notify,
    next_id: AtomicU64,
    /// [`TestUpstream::anthropic_key_optional`] was called.
    key_optional: AtomicBool,
    /// What the next listing GETs answer ([`TestUpstream::script_listing`]).
    listing_script: Mutex<std::collections::VecDeque<String>>,
    /// Models unloaded with Ollama's `POST /api/generate {keep_alive: 0}`: `/api/ps` leaves
    /// them out.
    pub(super) unloaded: Mutex<Vec<String>>,
}

#[derive(Default)]
struct Log {
    requests: Vec<Recorded>,
    per_model: HashMap<String, usize>,
    gets: HashMap<String, usize>,
}

impl Shared {
    fn new(models: Vec<String>) -> Self {
        Shared {
            models,
            log: Mutex::new(Log::default()),
            cancelled: AtomicUsize::new(0),
            completed: AtomicUsize::new(0),
            connections: AtomicUsize::new(0),
            changed: Notify::new(),
            next_id: AtomicU64::new(1),
            key_optional: AtomicBool::new(false),
            listing_script: Mutex::new(std::collections::VecDeque::new()),
            unloaded: Mutex::new(Vec::new()),
        }
    }

    /// The scripted answer for this listing GET, if the script says anything but `ok`.
    pub(super) async fn listing_fault(&self) -> Option<Response> {
        let step = self.listing_script.lock().unwrap().pop_front()?;
        match step.as_str() {
            "ok" => None,
            "hang" => {
                std::future::pending::<()>().await;
                None
            }
            "garbage" => Some(axum::response::IntoResponse::into_response((
                StatusCode::OK,
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                "<html>oops</html>",
            ))),
            code => {
                let status = StatusCode::from_u16(code.parse().unwrap()).unwrap();
                Some(error_response(
                    Dialect::OpenAi,
                    status,
                    "test upstream: scripted listing failure",
                    None,
                ))
            }
        }
    }

    fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap()
    }

    pub(super) fn models(&self) -> &[String] {
        &self.models
    }

    pub(super) fn calls_for(&self, model: &str) -> usize {
        self.log().per_model.get(model).copied().unwrap_or(0)
    }

    /// Whether Anthropic routes accept a request without `x-api-key`.
    pub(super) fn key_optional(&self) -> bool {
        self.key_optional.load(Ordering::SeqCst)
    }

    /// A fresh id suffix for `chatcmpl-…` / `msg_…` ids (also the `N` of tool-call ids and
    /// thinking signatures).
    pub(super) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    pub(super) fn record(&self, path: &str, headers: &HeaderMap, body: &Value, raw: &Bytes) {
        let headers = headers
            .iter()
            .map(|(k, v)| {
                let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
                (k.as_str().to_ascii_lowercase(), v)
            })
            .collect();
        {
            let mut log = self.log();
            if let Some(model) = body.get("model").and_then(Value::as_str) {
                *log.per_model.entry(model.to_string()).or_default() += 1;
            }
            log.requests.push(Recorded {
                path: path.to_string(),
                headers,
                body: body.clone(),
                raw: raw.clone(),
            });
        }
        self.changed.notify_waiters();
    }

    pub(super) fn record_get(&self, path: &str) {
        *self.log().gets.entry(path.to_string()).or_default() += 1;
        self.changed.notify_waiters();
    }
}

/// Counts one request as cancelled if dropped while armed (the client went away before the
/// response was finished); handlers disarm it once they are done.
pub(super) struct Attempt {
    shared: Arc<Shared>,
    armed: bool,
}

impl Attempt {
    pub(super) fn new(shared: Arc<Shared>) -> Self {
        Attempt {
            shared,
            armed: true,
        }
    }

    /// The response is out (JSON) or ended on purpose (`drop_mid_stream`): neither counter moves.
    pub(super) fn disarm(&mut self) {
        self.armed = false;
    }

    /// The stream sent its last event (counted once).
    pub(super) fn complete(&mut self) {
        if !self.armed {
            return;
        }
        self.armed = false;
        self.shared.completed.fetch_add(1, Ordering::SeqCst);
        self.shared.changed.notify_waiters();
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if self.armed {
            self.shared.cancelled.fetch_add(1, Ordering::SeqCst);
            self.shared.changed.notify_waiters();
        }
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(
            "/v1/chat/completions",
            post(upstream_openai::chat_completions),
        )
        .route("/v1/completions", post(upstream_openai::completions))
        .route("/v1/embeddings", post(upstream_openai::embeddings))
        .route("/v1/messages", post(upstream_anthropic::messages))
        .route(
            "/v1/messages/count_tokens",
            post(upstream_anthropic::count_tokens),
        )
        .route("/v1/models", get(upstream_openai::models))
        .route("/api/tags", get(upstream_openai::ollama_tags))
        .route("/api/ps", get(upstream_openai::ollama_ps))
        .route("/api/generate", post(upstream_openai::ollama_generate))
        .route("/", get(upstream_openai::ollama_root))
        .fallback(no_route)
        .with_state(shared)
}

/// Unknown routes: a 404 that names the route, so a misrouted proxy request is obvious.
async fn no_route(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    if method == Method::POST {
        let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
        shared.record(uri.path(), &headers, &body, &raw);
    } else {
        shared.record_get(uri.path());
    }
    let message = format!("test upstream: no route for {method} {}", uri.path());
    error_response(Dialect::OpenAi, StatusCode::NOT_FOUND, &message, None)
}
