//! Project quotas: at most N requests and N tokens (input + output) per local calendar day, per
//! project (`projects.NAME.quotas`). A request is counted when it is admitted (so concurrent
//! requests cannot all slip under the limit); its tokens when it is recorded. Counts start from
//! the database's rows of the day, so a restart does not reset them. Cache hits are not
//! counted (they reach no upstream).
//!
//! Owns the per-day counts and the quota verdict; must not build HTTP answers.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{Local, TimeZone};

use super::budget::Period;
use crate::config::{Project, Quotas};
use crate::store::{Store, lock, now_ms};

/// Which quota a request ran into.
#[derive(Debug, Clone, PartialEq)]
pub struct QuotaExceeded {
    pub project: String,
    /// `requests_per_day` or `tokens_per_day`.
    pub quota: &'static str,
    pub limit: u64,
    pub used: u64,
    /// When the day ends (ms since the epoch).
    pub resets_at_ms: i64,
}

impl std::fmt::Display for QuotaExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self.quota {
            "requests_per_day" => "requests",
            _ => "tokens",
        };
        let left = (self.resets_at_ms - now_ms()).max(0) / 1000;
        write!(
            f,
            "project `{}` has used its quota of {} {what} today ({} so far; \
             `projects.{}.quotas.{}`); it resets at local midnight, in {}h {:02}min. Raise the \
             quota in the config or the UI's Projects page",
            self.project,
            self.limit,
            self.used,
            self.project,
            self.quota,
            left / 3600,
            (left % 3600) / 60
        )
    }
}

#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct DayUse {
    pub requests: u64,
    pub tokens: u64,
    #[serde(skip)]
    day_end_ms: i64,
}

/// Every project's quotas and today's use.
pub struct ProjectQuotas {
    limits: HashMap<String, Quotas>,
    used: Mutex<HashMap<String, DayUse>>,
}

fn day_bounds(now: i64) -> (i64, i64) {
    let at = Local
        .timestamp_millis_opt(now)
        .single()
        .unwrap_or_else(Local::now);
    Period::Day.bounds(at)
}

impl ProjectQuotas {
    /// Quotas of `projects`; today's use so far read from `store` (blocking: at start-up).
    pub(crate) fn new(projects: &[Project], store: Option<&Store>) -> Self {
        let limits: HashMap<String, Quotas> = projects
            .iter()
            .filter(|p| p.quotas.requests_per_day.is_some() || p.quotas.tokens_per_day.is_some())
            .map(|p| (p.name.clone(), p.quotas))
            .collect();
        let (start, end) = day_bounds(now_ms());
        let mut used = HashMap::new();
        for name in limits.keys() {
            let (requests, tokens) = store
                .and_then(|s| {
                    let n = name.clone();
                    s.read_blocking(move |c| {
                        c.query_row(
                            "SELECT COUNT(*), COALESCE(SUM(input_tokens + output_tokens), 0) \
                             FROM requests WHERE project = ?1 AND project != '' AND ts_ms >= ?2 \
                             AND cache_hit = 0",
                            (&n, start),
                            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
                        )
                    })
                    .ok()
                })
                .unwrap_or((0, 0));
            used.insert(
                name.clone(),
                DayUse {
                    requests: requests.max(0) as u64,
                    tokens: tokens.max(0) as u64,
                    day_end_ms: end,
                },
            );
        }
        Self {
            limits,
            used: Mutex::new(used),
        }
    }

    fn today<'a>(used: &'a mut HashMap<String, DayUse>, project: &str, now: i64) -> &'a mut DayUse {
        let u = used.entry(project.to_string()).or_default();
        if now >= u.day_end_ms {
            *u = DayUse {
                day_end_ms: day_bounds(now).1,
                ..DayUse::default()
            };
        }
        u
    }

    /// Count a request of `project` unless one of its quotas is used up.
    pub fn admit(&self, project: &str) -> Result<(), QuotaExceeded> {
        let Some(q) = self.limits.get(project) else {
            return Ok(());
        };
        let now = now_ms();
        let mut used = lock(&self.used);
        let u = Self::today(&mut used, project, now);
        let over = |quota, limit: Option<u64>, used: u64| {
            limit.filter(|l| used >= *l).map(|limit| QuotaExceeded {
                project: project.to_string(),
                quota,
                limit,
                used,
                resets_at_ms: u.day_end_ms,
            })
        };
        if let Some(e) = over("requests_per_day", q.requests_per_day, u.requests)
            .or_else(|| over("tokens_per_day", q.tokens_per_day, u.tokens))
        {
            return Err(e);
        }
        u.requests += 1;
        Ok(())
    }

    /// A request of `project` used `tokens`.
    pub(crate) fn add_tokens(&self, project: &str, tokens: u64) {
        if !self.limits.contains_key(project) {
            return;
        }
        let mut used = lock(&self.used);
        Self::today(&mut used, project, now_ms()).tokens += tokens;
    }

    /// Today's use of `project`, if it has quotas.
    pub fn today_use(&self, project: &str) -> Option<DayUse> {
        self.limits.get(project)?;
        let mut used = lock(&self.used);
        Some(*Self::today(&mut used, project, now_ms()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn project(requests: Option<u64>, tokens: Option<u64>) -> Project {
        Project {
            name: "acme".into(),
            default: None,
            local_only: false,
            quotas: Quotas {
                requests_per_day: requests,
                tokens_per_day: tokens,
            },
            budget: None,
        }
    }

    #[test]
    fn the_request_quota_admits_exactly_n_a_day() {
        let q = ProjectQuotas::new(&[project(Some(2), None)], None);
        assert!(q.admit("acme").is_ok());
        assert!(q.admit("acme").is_ok());
        let e = q.admit("acme").unwrap_err();
        assert_eq!((e.quota, e.limit, e.used), ("requests_per_day", 2, 2));
        assert!(
            e.to_string()
                .contains("projects.acme.quotas.requests_per_day"),
            "{e}"
        );
        // Other projects, and requests with none, are not limited.
        assert!(q.admit("other").is_ok());
        assert!(q.admit("").is_ok());
    }

    #[test]
    fn the_token_quota_stops_requests_once_the_day_used_it() {
        let q = ProjectQuotas::new(&[project(None, Some(100))], None);
        assert!(q.admit("acme").is_ok());
        q.add_tokens("acme", 60);
        assert!(q.admit("acme").is_ok());
        q.add_tokens("acme", 60);
        let e = q.admit("acme").unwrap_err();
        assert_eq!((e.quota, e.used), ("tokens_per_day", 120));
        assert_eq!(q.today_use("acme").map(|u| u.requests), Some(2));
    }
}
