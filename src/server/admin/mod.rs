//! The admin JSON API the UI reads (`/admin/api/...`): costs, time series, budgets, the
//! request log; and `/metrics`. Every request must come from a local page: its `Host` must be a loopback
//! name or address (or one in `server.allowed_hosts`), and an `Origin`, when sent, likewise —
//! otherwise a web page on another site could read it through DNS rebinding.
//! Changes nothing but run-time state (a probe on demand, clearing the cache); never config files.

use std::sync::Arc;

use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

mod aliases;
mod config;
mod events;
mod projects;
mod providers;
mod routing;
mod savings;
mod state;

use super::{ApiError, AppState};
use crate::ledger::query::{self, Bucket, GroupBy, resolve_range};
use crate::store::now_ms;

pub(super) fn routes(state: Arc<AppState>) -> Router<Arc<AppState>> {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/admin/api/costs/summary", get(summary))
        .route("/admin/api/costs/timeseries", get(timeseries))
        .route("/admin/api/budgets", get(budgets))
        .route("/admin/api/projects", get(projects::list))
        .route(
            "/admin/api/preferences",
            get(config::preferences).put(config::set_preferences),
        )
        .route("/admin/api/projects/{name}", put(projects::set))
        .route("/admin/api/requests", get(requests))
        .route("/admin/api/cache", get(cache_stats).delete(cache_clear))
        .route("/admin/api/health", get(state::health))
        .route("/admin/api/gpu", get(state::gpu))
        .route("/admin/api/status", get(state::status))
        .route("/admin/api/models", get(routing::models))
        .route("/admin/api/events", get(events::events))
        .route("/admin/api/config", get(config::show))
        .route(
            "/admin/api/config/reload",
            axum::routing::post(config::reload),
        )
        .route(
            "/admin/api/routing",
            get(routing::routing).put(routing::switch),
        )
        .route("/admin/api/providers", axum::routing::post(providers::add))
        .route("/admin/api/aliases", axum::routing::post(aliases::add))
        .route(
            "/admin/api/aliases/{name}",
            axum::routing::put(aliases::set_route),
        )
        .route(
            "/admin/api/providers/test",
            axum::routing::post(providers::test),
        )
        .route(
            "/admin/api/providers/{name}/unload",
            axum::routing::post(state::unload),
        )
        .route(
            "/admin/api/providers/{name}/probe",
            axum::routing::post(state::probe),
        )
        .route("/ui", get(super::ui::root))
        .route("/ui/", get(super::ui::index))
        .route("/ui/{*path}", get(super::ui::asset))
        .layer(axum::middleware::from_fn_with_state(state, local_only))
}

/// Prometheus text format. Behind the same guard: it names models and projects (a remote
/// scraper's host goes in `server.allowed_hosts`).
async fn metrics(State(s): State<Arc<AppState>>) -> Response {
    if !s.metrics.enabled() {
        return (
            StatusCode::NOT_FOUND,
            "metrics are off (`metrics.enabled: false` in the config)\n",
        )
            .into_response();
    }
    s.metrics.set_cache_size(&s.cache.stats());
    s.metrics.set_circuits(&s.breakers.snapshot());
    for (host, g) in s.gpu.all() {
        s.metrics.set_gpus(&host, std::slice::from_ref(&g));
    }
    (
        [(axum::http::header::CONTENT_TYPE, OPENMETRICS)],
        s.metrics.render(),
    )
        .into_response()
}

/// What prometheus-client writes: OpenMetrics text (`_total` counters, `# UNIT`, `# EOF`).
pub(crate) const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

async fn cache_stats(State(s): State<Arc<AppState>>) -> Response {
    let c = s.cache.clone();
    let stats = tokio::task::spawn_blocking(move || c.stats())
        .await
        .unwrap_or_default();
    let cfg = s.cache.config();
    Json(json!({
        "stats": stats,
        "config": {
            "mode": cfg.mode,
            "ttl_s": cfg.ttl.as_secs(),
            "memory_bytes": cfg.memory_bytes,
            "disk_bytes": cfg.disk_bytes,
            "coalesce": cfg.coalesce,
        },
    }))
    .into_response()
}

#[derive(Debug, Deserialize)]
struct ClearQuery {
    project: Option<String>,
}

async fn cache_clear(State(s): State<Arc<AppState>>, q: Query<ClearQuery>) -> Response {
    let c = s.cache.clone();
    let project = q.project.clone();
    let _ = tokio::task::spawn_blocking(move || c.clear(project.as_deref())).await;
    Json(json!({"cleared": true, "project": q.project})).into_response()
}

/// Whether `host` (a `Host` header value or an `Origin`'s host, port allowed) is this machine.
pub(crate) fn is_local_host(host: &str, allowed: &[String]) -> bool {
    let h = host.trim();
    let name = if let Some(v6) = h.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        h.rsplit_once(':')
            .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
            .map_or(h, |(n, _)| n)
    };
    let name = name.to_ascii_lowercase();
    if name == "localhost" || name.ends_with(".localhost") {
        return true;
    }
    if allowed.iter().any(|a| a.eq_ignore_ascii_case(&name)) {
        return true;
    }
    name.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

async fn local_only(State(s): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let allowed = &s.config.server.allowed_hosts;
    let host = req
        .headers()
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !is_local_host(host, allowed) {
        return forbidden(format!(
            "the admin API answers only requests addressed to this machine (Host `{host}` is \
             not local); add the name to `server.allowed_hosts` if you use it on purpose"
        ));
    }
    if let Some(origin) = req.headers().get("origin").and_then(|v| v.to_str().ok()) {
        let o = origin.split_once("://").map_or(origin, |(_, r)| r);
        let o = o.split('/').next().unwrap_or("");
        if origin != "null" && !is_local_host(o, allowed) {
            return forbidden(format!(
                "the admin API does not answer pages from other sites (Origin `{origin}`); add \
                 the host to `server.allowed_hosts` if it is yours"
            ));
        }
    }
    next.run(req).await
}

fn forbidden(message: String) -> Response {
    ApiError {
        status: StatusCode::FORBIDDEN,
        kind: "permission_error",
        code: Some("not_local"),
        param: None,
        message,
    }
    .into_response()
}

#[derive(Debug, Deserialize)]
struct Range {
    since: Option<String>,
    until: Option<String>,
    /// `today`, `week` or `month` (local calendar).
    period: Option<String>,
    group_by: Option<String>,
    bucket: Option<String>,
    project: Option<String>,
    limit: Option<u32>,
}

fn group_by(s: Option<&str>, default: GroupBy) -> Result<GroupBy, ApiError> {
    match s {
        None => Ok(default),
        Some(g) => GroupBy::parse(g).ok_or_else(|| {
            let mut e = ApiError::bad_request(format!(
                "unknown group_by `{g}`; use model, provider, project, alias or day"
            ));
            e.param = Some("group_by".into());
            e
        }),
    }
}

fn store_of(s: &AppState) -> Result<Arc<crate::store::Store>, ApiError> {
    s.ledger.store().cloned().ok_or_else(|| ApiError {
        status: StatusCode::SERVICE_UNAVAILABLE,
        kind: "storage_unavailable",
        code: Some("storage_unavailable"),
        param: None,
        message: s
            .storage_error
            .clone()
            .unwrap_or_else(|| "the database is not open".into()),
    })
}

fn internal(e: crate::store::StoreError) -> ApiError {
    ApiError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        kind: "internal_error",
        code: None,
        param: None,
        message: e.to_string(),
    }
}

async fn summary(State(s): State<Arc<AppState>>, q: Query<Range>) -> Result<Response, ApiError> {
    let (since, until) = resolve_range(
        q.since.as_deref(),
        q.until.as_deref(),
        q.period
            .as_deref()
            .or(Some("month"))
            .filter(|_| q.since.is_none()),
        30,
    )
    .map_err(ApiError::bad_request)?;
    let g = group_by(q.group_by.as_deref(), GroupBy::Model)?;
    let project = q.project.clone();
    let store = store_of(&s)?;
    let (out, local) = store
        .read(move |c| {
            let out = query::summary(c, since, until, g, project.as_deref())?;
            let (h0, h1) = query::hours(since, until);
            let local = savings::local_rows(c, h0, h1, project.as_deref())?;
            Ok((out, local))
        })
        .await
        .map_err(internal)?;
    let mut v = serde_json::to_value(out).unwrap_or_default();
    v["local_savings"] = json!(savings::price(&s, local));
    Ok(Json(v).into_response())
}

async fn timeseries(State(s): State<Arc<AppState>>, q: Query<Range>) -> Result<Response, ApiError> {
    let (since, until) = resolve_range(
        q.since.as_deref(),
        q.until.as_deref(),
        q.period.as_deref(),
        7,
    )
    .map_err(ApiError::bad_request)?;
    let bucket = match q.bucket.as_deref() {
        None | Some("day") => Bucket::Day,
        Some("hour") => Bucket::Hour,
        Some(b) => {
            return Err(ApiError::bad_request(format!(
                "unknown bucket `{b}`; use hour or day"
            )));
        }
    };
    let g = group_by(q.group_by.as_deref(), GroupBy::Model)?;
    let project = q.project.clone();
    let store = store_of(&s)?;
    let points = store
        .read(move |c| query::timeseries(c, since, until, bucket, g, project.as_deref()))
        .await
        .map_err(internal)?;
    Ok(Json(json!({
        "since_ms": since,
        "until_ms": until,
        "bucket": if bucket == Bucket::Hour { "hour" } else { "day" },
        "group_by": g,
        "points": points,
    }))
    .into_response())
}

async fn budgets(State(s): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let statuses = s.ledger.budgets().status();
    let store = s.ledger.store().cloned();
    let now = now_ms();
    // The recent daily rate: the last 7 days of spend (or since the period began, if less).
    let mut out = Vec::new();
    for b in statuses {
        let from = (now - 7 * 86_400_000).max(b.period_start_ms.min(now - 86_400_000));
        let days = (now - from) as f64 / 86_400_000.0;
        let project = b.project.clone();
        let recent = match &store {
            Some(st) => st
                .read(move |c| query::spent_hours(c, from, now + 1, project.as_deref()))
                .await
                .unwrap_or(0.0),
            None => 0.0,
        };
        let pace = query::pace(
            b.usd,
            b.spent_usd,
            b.period_start_ms,
            b.period_end_ms,
            now,
            recent / days,
            days,
        );
        out.push(json!({"budget": b, "pace": pace}));
    }
    Ok(Json(json!({ "budgets": out })).into_response())
}

async fn requests(State(s): State<Arc<AppState>>, q: Query<Range>) -> Result<Response, ApiError> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let project = q.project.clone();
    let store = store_of(&s)?;
    let rows = store
        .read(move |c| query::recent(c, limit, project.as_deref()))
        .await
        .map_err(internal)?;
    Ok(Json(json!({ "requests": rows })).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_hosts_pass() {
        let none: Vec<String> = Vec::new();
        for ok in [
            "127.0.0.1:8080",
            "localhost",
            "LOCALHOST:1",
            "[::1]:8080",
            "app.localhost",
        ] {
            assert!(is_local_host(ok, &none), "{ok}");
        }
        for bad in [
            "evil.example:8080",
            "192.168.1.5:8080",
            "127.0.0.1.evil.com",
            "",
        ] {
            assert!(!is_local_host(bad, &none), "{bad}");
        }
        assert!(is_local_host("gpu-box:8080", &["gpu-box".to_string()]));
    }
}
