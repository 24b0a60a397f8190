//! The proxy path every model endpoint shares: read the body, route, dispatch, answer in the
//! client's dialect, and log one line when the answer ends.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{AUTHORIZATION, IntoHeaderName};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState, names, request_id};
use crate::cache::Lookup;
use crate::config::Target;
use crate::dispatch::{Answer, DispatchError, ProxyCall, StreamOutcome};
use crate::events::Activity;
use crate::ledger::{Admit, Closed, Opened, UsageTap};
use crate::providers::{ClientKey, Endpoint};
use crate::router::{self, RequestFacts, RouteDecision, RouteError};

/// The client's key, from `Authorization: Bearer` or `x-api-key`.
pub(super) fn client_key(headers: &HeaderMap) -> Option<ClientKey> {
    let text = |name: &HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(v) = text(&AUTHORIZATION).and_then(|v| v.strip_prefix("Bearer ")) {
        return Some(ClientKey {
            value: v.to_string(),
            bearer: true,
        });
    }
    text(&names::X_API_KEY).map(|v| ClientKey {
        value: v.to_string(),
        bearer: false,
    })
}

/// Everything the request log line needs, filled in as the request goes.
struct LogLine {
    id: String,
    endpoint: Endpoint,
    requested: String,
    alias: Option<String>,
    route: Option<String>,
    fallbacks: usize,
    started: Instant,
    ttfb: Option<Duration>,
    metrics: Arc<crate::metrics::Metrics>,
}

impl LogLine {
    fn emit(&self, status: u16, outcome: &str, activity: &Arc<Activity>) {
        let latency = self.started.elapsed();
        tracing::info!(
            target: "lodestar::request",
            id = %self.id,
            endpoint = self.endpoint.as_str(),
            model = %self.requested,
            alias = self.alias.as_deref().unwrap_or("-"),
            route = self.route.as_deref().unwrap_or("-"),
            status,
            outcome,
            fallbacks = self.fallbacks,
            latency_ms = ms(latency),
            ttfb_ms = self.ttfb.map(ms),
            "request"
        );
        self.metrics.record_request(
            self.alias.as_deref().unwrap_or(""),
            self.route.as_deref().unwrap_or(""),
            status,
            latency,
            self.ttfb,
            self.fallbacks,
        );
        activity.finished();
    }
}

impl LogLine {
    /// What the ledger needs of a request that is about to be answered.
    fn opened(
        &self,
        project: &str,
        decision: &RouteDecision,
        stream: bool,
        body: bytes::Bytes,
        reservation: Option<crate::ledger::Reservation>,
    ) -> Opened {
        Opened {
            ts_ms: crate::store::now_ms() - self.started.elapsed().as_millis() as i64,
            started: self.started,
            request_id: self.id.clone(),
            project: project.to_string(),
            endpoint: self.endpoint,
            alias: decision.alias.clone().unwrap_or_default(),
            rule: decision.rule.clone().unwrap_or_default(),
            stream,
            body,
            reservation,
        }
    }
}

/// Milliseconds with two decimals, for log lines people read.
fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e5).round() / 100.0
}

pub(super) async fn proxy(s: Arc<AppState>, endpoint: Endpoint, req: Request) -> Response {
    // Take the parts rather than extractors: the `HeaderMap` extractor copies every header.
    let (parts, body) = req.into_parts();
    let headers = parts.headers;
    let id = request_id(&headers);
    let mut log = LogLine {
        id: id.clone(),
        endpoint,
        requested: String::new(),
        alias: None,
        route: None,
        fallbacks: 0,
        started: Instant::now(),
        ttfb: None,
        metrics: s.metrics.clone(),
    };
    if s.switch.paused() {
        return fail(
            &s,
            &log,
            ApiError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                kind: "service_unavailable",
                code: Some("paused"),
                param: None,
                message: "Lodestar is paused: it sends no request anywhere until it is resumed \
                          (the tray's Resume, the UI, or `lodestar use --paused off`)"
                    .into(),
            },
        );
    }
    let body = match axum::body::to_bytes(body, super::BODY_LIMIT).await {
        Ok(b) => b,
        Err(e) => {
            let mut err = ApiError::bad_request(format!(
                "the request body could not be read ({e}); bodies are limited to {} MiB",
                super::BODY_LIMIT >> 20
            ));
            err.status = StatusCode::PAYLOAD_TOO_LARGE;
            return fail(&s, &log, err);
        }
    };
    let peeked = match super::peek::peek(endpoint, &body) {
        Ok(p) => p,
        Err(msg) => return fail(&s, &log, ApiError::bad_request(msg)),
    };
    if s.log_bodies {
        tracing::info!(target: "lodestar::body", id = %id, body = %String::from_utf8_lossy(&body), "request body");
    }
    let mut facts = peeked.facts;
    let project = project_of(&headers);
    facts.project = project.clone();
    log.requested = facts.model.clone().unwrap_or_else(|| "auto".into());
    let mut decision = match decide(&s, &facts).await {
        Ok(d) => d,
        Err(e) => return fail(&s, &log, e.into()),
    };
    // The response cache: a hit is answered here, before budgets (it costs nothing).
    let cache = super::cached::plan(&s, endpoint, &decision, &project, &body, &headers);
    let mut flight = None;
    if let (Some(key), true) = (cache.key, cache.lookup) {
        match Box::pin(s.cache.lookup(key)).await {
            Lookup::Hit(e) => {
                if let Some(mut r) =
                    super::cached::serve(&e, endpoint, facts.stream, cache.include_usage, &body)
                {
                    s.cache.served(&e);
                    s.metrics.record_cache("hit");
                    log.alias = decision.alias.clone();
                    log.route = Some(e.meta.route.clone());
                    log.ttfb = Some(log.started.elapsed());
                    log.emit(200, "ok (cache hit)", &s.activity);
                    s.ledger.record_hit(
                        log.opened(&project, &decision, facts.stream, bytes::Bytes::new(), None),
                        Closed {
                            target: Target {
                                provider: e.meta.provider.clone(),
                                model: e.meta.model.clone(),
                            },
                            status: 200,
                            outcome: "ok".into(),
                            ttfb: log.ttfb,
                            fallbacks: 0,
                            tap: UsageTap::off(),
                        },
                        e.tokens(),
                        e.meta.cost_usd,
                    );
                    set_header(&mut r, &names::X_REQUEST_ID, &id);
                    return r;
                }
                s.cache.unserved();
            }
            Lookup::Miss(f) => flight = f,
        }
    }
    // The entry an answer may be kept under belongs to the target the key was made for
    // (budgets below may narrow the route to other entries).
    let cache_target = decision.targets.first().cloned();
    let cache_word = if cache.key.is_some() && cache.lookup {
        "miss"
    } else {
        s.cache.count_bypass();
        "bypass"
    };
    s.metrics.record_cache(cache_word);
    if let Err(ex) = s.ledger.quotas().admit(&project) {
        let mut r = fail(&s, &log, ApiError::quota(&ex));
        let secs = ((ex.resets_at_ms - crate::store::now_ms()).max(0) / 1000).to_string();
        set_header(&mut r, "retry-after", &secs);
        return r;
    }
    let reservation = match s
        .ledger
        .admit(&decision.targets, &project, facts.prompt_tokens)
    {
        Admit::Go { only, reservation } => {
            if let Some(free) = only {
                decision.targets = free;
            }
            reservation
        }
        Admit::Downgrade(alias, ex) => {
            tracing::info!(id = %id, budget = %ex.budget, to = %alias, "budget reached: downgrading");
            let mut f = facts.clone();
            f.model = Some(alias);
            decision = match decide(&s, &f).await {
                Ok(d) => d,
                Err(e) => return fail(&s, &log, e.into()),
            };
            None
        }
        Admit::Refuse(ex) => return fail(&s, &log, ApiError::budget(&ex)),
    };
    log.alias = decision.alias.clone();
    // Responses: the chain of `previous_response_id` expanded, and whether to keep the answer.
    let (mut body, mut model_span) = (body, peeked.model_span);
    let mut keep = None;
    let mut response_id = None;
    if endpoint == Endpoint::Responses {
        match Box::pin(super::responses::prepare(&s, &project, &body, &decision)).await {
            Ok(p) => {
                if let Some(b) = p.body {
                    model_span = match super::peek::peek(endpoint, &b) {
                        Ok(pk) => pk.model_span,
                        Err(msg) => return fail(&s, &log, ApiError::bad_request(msg)),
                    };
                    body = b;
                }
                keep = p.keep;
            }
            Err(e) => {
                if let Some(r) = reservation {
                    s.ledger.budgets().settle(r, &project, 0.0);
                }
                return fail(&s, &log, e);
            }
        }
        response_id = Some(super::unique_id("resp_"));
    }
    let opened = log.opened(&project, &decision, facts.stream, body.clone(), reservation);
    let call = ProxyCall {
        endpoint,
        stream: facts.stream,
        body,
        model_span,
        client_key: client_key(&headers),
        client_headers: headers,
        on_unsupported: s.config.translation.on_unsupported,
        conv: std::sync::OnceLock::new(),
        response_id: response_id.clone(),
    };
    // Boxed, here and below: an async fn's future embeds the futures it awaits, and moving
    // one (each level moves its child into place) copies all of it; boxing keeps this
    // handler's future and every level under it small (memmove was ~9% of a request's CPU).
    let mut result = Box::pin(s.dispatcher.dispatch(&call, &decision.targets)).await;
    // Self-healing: when every entry of the alias failed or is down, its `fallback_alias`.
    if let Err(DispatchError::AllFailed { .. }) = &result
        && let Some(fb) = decision
            .alias
            .as_deref()
            .and_then(|a| s.config.alias(a))
            .and_then(|a| a.fallback_alias.clone())
    {
        let mut f = facts.clone();
        f.model = Some(fb.clone());
        if let Ok(d) = decide(&s, &f).await {
            tracing::info!(id = %id, from = decision.alias.as_deref().unwrap_or("-"), to = %fb, "every entry failed: using the fallback alias");
            log.alias = d.alias.clone();
            result = Box::pin(s.dispatcher.dispatch(&call, &d.targets)).await;
        }
    }
    let dispatched = match result {
        Ok(d) => d,
        Err(DispatchError::Refused {
            target,
            status,
            body,
            failed,
        }) => {
            log.route = Some(target.to_string());
            log.fallbacks = failed.len();
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
            log.emit(status.as_u16(), "refused", &s.activity);
            s.ledger.record(
                opened,
                Closed {
                    target: target.clone(),
                    status: status.as_u16(),
                    outcome: "refused".into(),
                    ttfb: None,
                    fallbacks: failed.len() as u32,
                    tap: UsageTap::off(),
                },
            );
            let mut r = (status, body).into_response();
            set_header(&mut r, "content-type", "application/json");
            set_header(&mut r, &names::X_LODESTAR_ROUTE, &target.to_string());
            set_header(&mut r, &names::X_REQUEST_ID, &id);
            return r;
        }
        Err(e) => {
            match &e {
                DispatchError::AllFailed {
                    attempts, status, ..
                } if !attempts.is_empty() => {
                    log.fallbacks = attempts.len().saturating_sub(1);
                    let last = &attempts[attempts.len() - 1];
                    s.ledger.record(
                        opened,
                        Closed {
                            target: last.target.clone(),
                            status: *status,
                            outcome: format!("failed: {}", last.failure),
                            ttfb: None,
                            fallbacks: log.fallbacks as u32,
                            tap: UsageTap::off(),
                        },
                    );
                }
                _ => s.ledger.release(opened),
            }
            return fail(&s, &log, e.into());
        }
    };
    let route = dispatched.target.to_string();
    log.route = Some(route.clone());
    log.fallbacks = dispatched.failed.len();
    log.ttfb = Some(dispatched.ttfb);
    let mut resp = match dispatched.answer {
        Answer::Full {
            status,
            headers,
            body,
            tap,
        } => {
            log.emit(status, "ok", &s.activity);
            if let (Some(key), true, 200, true) = (
                cache.key,
                cache.store,
                status,
                cache_target.as_ref() == Some(&dispatched.target),
            ) {
                let tokens = tap.tokens().unwrap_or_default();
                let made = super::cached::Made {
                    endpoint,
                    target: &dispatched.target,
                    project: &project,
                    ttl: cache.ttl,
                    tokens,
                    cost_usd: s.ledger.price_of(
                        &dispatched.target.provider,
                        &dispatched.target.model,
                        &tokens,
                        log.started.elapsed(),
                    ),
                };
                if let Some(e) = super::cached::make(made, Some(body.clone()), None) {
                    s.cache.put(key, e);
                }
            }
            drop(flight.take());
            s.ledger.record(
                opened,
                Closed {
                    target: dispatched.target.clone(),
                    status,
                    outcome: "ok".into(),
                    ttfb: Some(dispatched.ttfb),
                    fallbacks: dispatched.failed.len() as u32,
                    tap: *tap,
                },
            );
            if let (Some(input), Some(rid), true) = (&keep, &response_id, dispatched.translated) {
                super::responses::keep(&s, &project, rid, input, &body);
            }
            let mut r = Response::new(Body::from(body));
            *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            copy_headers(&mut r, headers);
            r
        }
        Answer::Stream {
            status,
            headers,
            make,
        } => {
            let activity = s.activity.clone();
            let ledger = s.ledger.clone();
            let (target, ttfb, fallbacks) = (
                dispatched.target.clone(),
                dispatched.ttfb,
                dispatched.failed.len() as u32,
            );
            let keep = keep.filter(|_| dispatched.translated);
            let state = s.clone();
            let caching = match cache.key {
                Some(key) if cache.store && cache_target.as_ref() == Some(&dispatched.target) => {
                    Some((key, cache.ttl, flight.take()))
                }
                _ => None,
            };
            let capture = caching.is_some();
            let end = crate::dispatch::StreamEnd::new(move |ended| {
                let crate::dispatch::Ended {
                    outcome,
                    tap,
                    completed,
                    captured,
                } = ended;
                if let (Some((key, ttl, flight)), Some(chunks)) = (caching, captured) {
                    let tokens = tap.tokens().unwrap_or_default();
                    let made = super::cached::Made {
                        endpoint: opened.endpoint,
                        target: &target,
                        project: &opened.project,
                        ttl,
                        tokens,
                        cost_usd: state.ledger.price_of(
                            &target.provider,
                            &target.model,
                            &tokens,
                            opened.started.elapsed(),
                        ),
                    };
                    if let Some(e) = super::cached::make(made, None, Some(chunks)) {
                        state.cache.put(key, e);
                    }
                    drop(flight);
                }
                if let (Some(input), Some(response), StreamOutcome::Complete) =
                    (keep, completed, &outcome)
                    && let Some(rid) = response["id"].as_str()
                {
                    let bytes = response.to_string();
                    super::responses::keep(&state, &opened.project, rid, &input, bytes.as_bytes());
                }
                let tracker = state.tracker.clone();
                let finish = move || {
                    state.dispatcher.stream_ended(&target, &outcome, ttfb);
                    let word = match &outcome {
                        StreamOutcome::Complete => "ok".to_string(),
                        StreamOutcome::Failed(why) => format!("failed mid-stream: {why}"),
                        StreamOutcome::ClientGone => "client disconnected".to_string(),
                    };
                    log.emit(status, &word, &activity);
                    ledger.record(
                        opened,
                        Closed {
                            target,
                            status,
                            outcome: word,
                            ttfb: Some(ttfb),
                            fallbacks,
                            tap,
                        },
                    );
                };
                // This runs as the body ends, before the last chunk is written: the cache and
                // the response store above must see it at once (a client may repeat or chain
                // the request right away); health, the log line, metrics and the ledger follow
                // right after the answer went out, on the engine's tracker (shutdown waits).
                if tokio::runtime::Handle::try_current().is_ok() {
                    tracker.spawn(async move { finish() });
                } else {
                    finish();
                }
            });
            let end = if capture { end.capturing() } else { end };
            let mut r = Response::new(Body::from_stream(make(end)));
            *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            copy_headers(&mut r, headers);
            r
        }
    };
    set_header(&mut resp, &names::X_LODESTAR_ROUTE, &route);
    set_header(&mut resp, &names::X_REQUEST_ID, &id);
    set_header(&mut resp, &names::X_LODESTAR_CACHE, cache_word);
    if !dispatched.dropped.is_empty() {
        set_header(
            &mut resp,
            "x-lodestar-dropped",
            &dispatched.dropped.join(", "),
        );
    }
    resp
}

/// The project a request belongs to: its `x-lodestar-project` header (letters, digits, `.`,
/// `_`, `-`; at most 64), else none (empty).
pub(super) fn project_of(headers: &HeaderMap) -> String {
    headers
        .get(&names::X_LODESTAR_PROJECT)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|p| crate::config::valid_project_name(p))
        .unwrap_or("")
        .to_string()
}

/// Route, waiting (bounded) for the first model listing if a bare name is not yet known.
pub(super) async fn decide(
    s: &AppState,
    facts: &RequestFacts,
) -> Result<RouteDecision, RouteError> {
    let cfg = s.switch.current();
    match router::decide(facts, &cfg, s.catalog.as_ref()) {
        Err(RouteError::UnknownModel { .. }) if !*s.catalog_ready.borrow() => {
            let mut ready = s.catalog_ready.clone();
            let _ = tokio::time::timeout(Duration::from_secs(5), ready.wait_for(|r| *r)).await;
            router::decide(facts, &cfg, s.catalog.as_ref())
        }
        other => other,
    }
}

fn fail(s: &AppState, log: &LogLine, e: ApiError) -> Response {
    log.emit(e.status.as_u16(), &e.message, &s.activity);
    let mut r = e.into_response_for(log.endpoint);
    set_header(&mut r, &names::X_REQUEST_ID, &log.id);
    r
}

pub(super) fn set_header(r: &mut Response, k: impl IntoHeaderName, v: &str) {
    if let Ok(v) = HeaderValue::from_str(v) {
        r.headers_mut().insert(k, v);
    }
}

fn copy_headers(r: &mut Response, headers: HeaderMap) {
    // reqwest and axum share the `http` crate: the map moves over as it is.
    *r.headers_mut() = headers;
}
