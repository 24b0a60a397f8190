//! Projects for the UI's Projects page: `GET /admin/api/projects` (every configured project and
//! every project seen in the ledger in the last 30 days: settings, today's and this month's
//! requests, tokens and spend, quota use, their budgets) and `PUT /admin/api/projects/{name}`
//! (`{default, local_only, quotas, budget}`: the project's settings, replacing what the file had; the
//! config file is edited line by line, comments kept, checked by the real loader, written,
//! and the engine reloads). Errors carry `param` = `name`, `default` or `quotas.*`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use rusqlite::params;
use serde_json::{Value, json};

use super::super::{ApiError, AppState};
use super::providers::{config_path, field_error, save_and_reload};
use crate::config::edit::{self, ProjectSettings};
use crate::config::{ConfigErrors, Quotas};
use crate::ledger::{Period, query};
use crate::store::now_ms;

const SEEN_DAYS: i64 = 30;

#[derive(Debug, Default, Clone, serde::Serialize)]
struct Use {
    requests: u64,
    tokens: u64,
    cost_usd: f64,
}

/// Per project: (today, this month, last seen) from the ledger. Today from the request rows
/// (few, by the ts index); the month and the last 30 days from the hourly rollup.
fn usage(
    c: &rusqlite::Connection,
    day_start: i64,
    month_start: i64,
    now: i64,
) -> rusqlite::Result<BTreeMap<String, (Use, Use)>> {
    let mut out: BTreeMap<String, (Use, Use)> = BTreeMap::new();
    let mut st = c.prepare(
        "SELECT project, COUNT(*), COALESCE(SUM(input_tokens + output_tokens), 0), \
         COALESCE(SUM(cost_usd), 0) FROM requests WHERE ts_ms >= ?1 AND project != '' \
         GROUP BY project",
    )?;
    for r in st.query_map([day_start], |r| {
        Ok((
            r.get::<_, String>(0)?,
            Use {
                requests: r.get::<_, i64>(1)?.max(0) as u64,
                tokens: r.get::<_, i64>(2)?.max(0) as u64,
                cost_usd: r.get(3)?,
            },
        ))
    })? {
        let (p, u) = r?;
        out.entry(p).or_default().0 = u;
    }
    let hour = |ms: i64| ms.div_euclid(3_600_000);
    let from = month_start.min(now - SEEN_DAYS * 86_400_000);
    let mut st = c.prepare(
        "SELECT project, hour, SUM(requests), SUM(input_tokens + output_tokens), SUM(cost_usd) \
         FROM rollup_hour WHERE hour >= ?1 AND project != '' GROUP BY project, hour",
    )?;
    for r in st.query_map(params![hour(from)], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, f64>(4)?,
        ))
    })? {
        let (p, h, requests, tokens, cost) = r?;
        let e = out.entry(p).or_default();
        if h >= hour(month_start) {
            e.1.requests += requests.max(0) as u64;
            e.1.tokens += tokens.max(0) as u64;
            e.1.cost_usd += cost;
        }
    }
    Ok(out)
}

pub(super) async fn list(State(s): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let now = now_ms();
    let (day_start, _) = query::period_start(Period::Day);
    let (month_start, _) = query::period_start(Period::Month);
    let used = match s.ledger.store() {
        Some(st) => st
            .read(move |c| usage(c, day_start, month_start, now))
            .await
            .map_err(|e| ApiError::bad_request(format!("cannot read the ledger: {e}")))?,
        None => BTreeMap::new(),
    };
    let budgets = s.ledger.budgets().status();
    let mut names: Vec<String> = s.config.projects.iter().map(|p| p.name.clone()).collect();
    for n in used.keys() {
        if !names.contains(n) {
            names.push(n.clone());
        }
    }
    let out: Vec<Value> = names
        .iter()
        .map(|name| {
            let cfg = s.config.project(name);
            let (today, month) = used.get(name).cloned().unwrap_or_default();
            let project_budgets: Vec<Value> = budgets
                .iter()
                .filter(|b| b.project.as_deref() == Some(name.as_str()))
                .map(|b| json!({ "budget": b }))
                .collect();
            json!({
                "name": name,
                "configured": cfg.is_some(),
                "default": cfg.and_then(|p| p.default.clone()),
                "local_only": cfg.is_some_and(|p| p.local_only),
                "quotas": cfg.map(|p| p.quotas).unwrap_or_default(),
                "budget": cfg.and_then(|p| p.budget),
                "quota_use": s.ledger.quotas().today_use(name),
                "today": today,
                "month": month,
                "budgets": project_budgets,
            })
        })
        .collect();
    Ok(Json(json!({ "projects": out })).into_response())
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    #[serde(default)]
    default: Option<String>,
    #[serde(default)]
    local_only: bool,
    #[serde(default)]
    quotas: BodyQuotas,
    #[serde(default)]
    budget: Option<crate::config::ProjectBudget>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct BodyQuotas {
    #[serde(default)]
    requests_per_day: Option<u64>,
    #[serde(default)]
    tokens_per_day: Option<u64>,
}

/// The loader's complaint about project `name`, on the field it is about.
fn project_error(name: &str, errors: &ConfigErrors) -> ApiError {
    let prefix = format!("projects.{name}");
    let Some(e) = errors
        .0
        .iter()
        .find(|e| e.key == prefix || e.key.starts_with(&format!("{prefix}.")))
    else {
        return ApiError::bad_request(format!(
            "the config file has other problems; fix them first: {errors}"
        ));
    };
    let field = match e.key[prefix.len()..].trim_start_matches('.') {
        "default" => "default",
        "quotas.requests_per_day" => "quotas.requests_per_day",
        "quotas.tokens_per_day" => "quotas.tokens_per_day",
        "budget.usd" => "budget.usd",
        "budget.hard_limit_usd" => "budget.hard_limit_usd",
        "budget" | "budget.period" => "budget",
        "local_only" => "local_only",
        _ => "name",
    };
    field_error(field, e.msg.clone())
}

pub(super) async fn set(
    State(s): State<Arc<AppState>>,
    Path(name): Path<String>,
    b: Bytes,
) -> Result<Response, ApiError> {
    let body: Body = serde_json::from_slice(&b).map_err(|e| {
        ApiError::bad_request(format!(
            "the body must be JSON like {{\"default\": \"smart\", \"local_only\": false, \
             \"quotas\": {{\"requests_per_day\": 500, \"tokens_per_day\": null}}}}: {e}"
        ))
    })?;
    if !crate::config::valid_project_name(&name) {
        return Err(field_error(
            "name",
            "a project name is 1 to 64 letters, digits, `.`, `_` or `-` (what the \
             `x-lodestar-project` header carries)",
        ));
    }
    let settings = ProjectSettings {
        default: body.default.filter(|d| !d.trim().is_empty()),
        local_only: body.local_only,
        quotas: Quotas {
            requests_per_day: body.quotas.requests_per_day,
            tokens_per_day: body.quotas.tokens_per_day,
        },
        budget: body.budget,
    };
    let path = config_path(&s)?;
    let text = std::fs::read_to_string(&path)
        .map_err(|e| ApiError::bad_request(format!("cannot read {}: {e}", path.display())))?;
    let edited = edit::set_project(&text, &name, &settings).map_err(|e| match e.field {
        Some(f) => field_error(f, e.message),
        None => ApiError::bad_request(e.message),
    })?;
    let config = save_and_reload(&s, &path, &text, &edited, |e| project_error(&name, e)).await?;
    Ok(Json(json!({"project": name, "settings": settings, "config": config})).into_response())
}
