//! Anthropic-format endpoints: `/v1/messages` (through the shared proxy path) and
//! `/v1/messages/count_tokens`.
//!
//! `count_tokens` asks the first route entry that can count exactly (an Anthropic upstream's own
//! endpoint) and otherwise estimates with the tokenizer. It never answers a made-up number:
//! a request it cannot count (images, documents) gets an error, so the client estimates itself.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde_json::json;

use super::proxy::{client_key, decide, proxy, set_header};
use super::{ApiError, AppState, request_id};
use crate::providers::{Endpoint, ProviderKind};
use crate::translate::{Format, tokens};

pub(super) async fn messages(State(s): State<Arc<AppState>>, req: Request) -> Response {
    proxy(s, Endpoint::Messages, req).await
}

pub(super) async fn count_tokens(State(s): State<Arc<AppState>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let id = request_id(&parts.headers);
    let fail = |e: ApiError| {
        let mut r = e.into_response_for(Endpoint::CountTokens);
        set_header(&mut r, &super::names::X_REQUEST_ID, &id);
        r
    };
    let body = match axum::body::to_bytes(body, super::BODY_LIMIT).await {
        Ok(b) => b,
        Err(e) => {
            return fail(ApiError::bad_request(format!(
                "the body could not be read: {e}"
            )));
        }
    };
    let peeked = match super::peek::peek(Endpoint::CountTokens, &body) {
        Ok(p) => p,
        Err(msg) => return fail(ApiError::bad_request(msg)),
    };
    let mut facts = peeked.facts;
    facts.project = super::proxy::project_of(&parts.headers);
    let decision = match decide(&s, &facts).await {
        Ok(d) => d,
        Err(e) => return fail(e.into()),
    };
    let key = client_key(&parts.headers);
    let mut extra = axum::http::HeaderMap::new();
    for name in ["anthropic-version", "anthropic-beta"] {
        for v in parts.headers.get_all(name) {
            extra.append(name, v.clone());
        }
    }
    let started = std::time::Instant::now();
    // An Anthropic upstream counts exactly; the first one that answers wins.
    for target in &decision.targets {
        let Some(p) = s.providers.get(&target.provider) else {
            continue;
        };
        if p.kind() != ProviderKind::Anthropic {
            continue;
        }
        let upstream_body = super::with_model(&body, peeked.model_span.as_ref(), &target.model);
        let sent = tokio::time::timeout(
            p.cfg.timeouts.first_byte,
            p.send(
                Endpoint::CountTokens,
                upstream_body,
                key.as_ref(),
                &extra,
                p.cfg.timeouts.total,
            ),
        )
        .await;
        let Ok(Ok(resp)) = sent else {
            continue;
        };
        if !(200..300).contains(&resp.status) {
            continue;
        }
        let Ok(Some(bytes)) =
            tokio::time::timeout(Duration::from_secs(10), collect(resp.body)).await
        else {
            continue;
        };
        // Recorded like every request that reached an upstream (counting is free).
        s.ledger.record(
            crate::ledger::Opened {
                ts_ms: crate::store::now_ms() - started.elapsed().as_millis() as i64,
                started,
                request_id: id.clone(),
                project: super::proxy::project_of(&parts.headers),
                endpoint: Endpoint::CountTokens,
                alias: decision.alias.clone().unwrap_or_default(),
                rule: decision.rule.clone().unwrap_or_default(),
                stream: false,
                body: bytes::Bytes::new(),
                reservation: None,
            },
            crate::ledger::Closed {
                target: target.clone(),
                status: 200,
                outcome: "ok".into(),
                ttfb: Some(started.elapsed()),
                fallbacks: 0,
                tap: crate::ledger::UsageTap::off(),
            },
        );
        let mut r = (StatusCode::OK, bytes).into_response();
        set_header(&mut r, "content-type", "application/json");
        set_header(&mut r, &super::names::X_LODESTAR_ROUTE, &target.to_string());
        set_header(&mut r, "x-lodestar-count", "upstream");
        set_header(&mut r, &super::names::X_REQUEST_ID, &id);
        return r;
    }
    let conv = match Format::Messages.parse_request(&body) {
        Ok(c) => c,
        Err(e) => {
            let mut err = ApiError::bad_request(e.message);
            err.param = Some(e.param);
            return fail(err);
        }
    };
    let estimate = tokens::Counting::start(std::sync::Arc::new(conv), body.len())
        .finish()
        .await;
    if !estimate.complete {
        return fail(ApiError::bad_request(
            "Lodestar cannot count the tokens of images or documents for this route (its \
             upstream has no counting endpoint); estimate them on the client",
        ));
    }
    let mut r = axum::Json(json!({"input_tokens": estimate.tokens})).into_response();
    if let Some(t) = decision.targets.first() {
        set_header(&mut r, &super::names::X_LODESTAR_ROUTE, &t.to_string());
    }
    set_header(&mut r, "x-lodestar-count", "estimate");
    set_header(&mut r, &super::names::X_REQUEST_ID, &id);
    r
}

async fn collect(mut s: crate::providers::UpstreamStream) -> Option<bytes::Bytes> {
    let mut all = Vec::new();
    while let Some(c) = s.next().await {
        all.extend_from_slice(&c.ok()?);
    }
    Some(all.into())
}
