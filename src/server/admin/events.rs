//! `GET /admin/api/events`: the engine's event channel as Server-Sent Events, for faces that
//! are not in the engine's process (the UI in a browser, a desktop app attached to a headless
//! `lodestar serve`). Each event is `event: <type>` + `data: <json>` (see `events::Event`);
//! a comment every 15 s keeps proxies and idle timeouts from closing the stream. A subscriber
//! that falls more than the channel's buffer behind gets `event: lagged` with the number of
//! events it missed, then carries on.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use tokio::sync::broadcast::error::RecvError;

use super::super::AppState;

const KEEPALIVE: Duration = Duration::from_secs(15);

pub(super) async fn events(State(s): State<Arc<AppState>>) -> Response {
    let rx = s.events.subscribe();
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        let chunk = match tokio::time::timeout(KEEPALIVE, rx.recv()).await {
            Ok(Ok(ev)) => {
                let kind = serde_json::to_value(&ev)
                    .ok()
                    .and_then(|v| v["type"].as_str().map(str::to_string))
                    .unwrap_or_else(|| "event".into());
                let data = serde_json::to_string(&ev).unwrap_or_default();
                format!("event: {kind}\ndata: {data}\n\n")
            }
            Ok(Err(RecvError::Lagged(n))) => format!("event: lagged\ndata: {n}\n\n"),
            Ok(Err(RecvError::Closed)) => return None,
            Err(_) => ": keep-alive\n\n".to_string(),
        };
        Some((Ok::<_, Infallible>(Bytes::from(chunk)), rx))
    });
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}
