//! Analytics over the ledger: totals by model / provider / project / alias / day, time series
//! by hour or day, the recent requests log, and pace against a budget. Totals and series read
//! the hourly rollup (one row per hour and model, however many requests), so they stay fast
//! over millions of rows; their time bounds are therefore to the hour. The request log reads
//! the newest rows by primary key.

use std::collections::BTreeMap;

use chrono::{Local, NaiveDate, Offset, TimeZone};
use rusqlite::{Connection, params};
use serde::Serialize;

/// What totals are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// `provider/model`.
    Model,
    Provider,
    Project,
    Alias,
    /// Local calendar day.
    Day,
}

impl GroupBy {
    pub fn parse(s: &str) -> Option<GroupBy> {
        Some(match s {
            "model" => GroupBy::Model,
            "provider" => GroupBy::Provider,
            "project" => GroupBy::Project,
            "alias" => GroupBy::Alias,
            "day" => GroupBy::Day,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    Hour,
    Day,
}

/// Sums over a set of requests.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Totals {
    pub requests: i64,
    pub errors: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_read_tokens: i64,
    pub cache_write_5m_tokens: i64,
    pub cache_write_1h_tokens: i64,
    pub reasoning_tokens: i64,
    /// Spend on priced requests.
    pub cost_usd: f64,
    /// Requests whose cost is unknown (no price for the model): not in `cost_usd`.
    pub unpriced_requests: i64,
    pub cache_hits: i64,
    pub saved_usd: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Group {
    pub key: String,
    #[serde(flatten)]
    pub totals: Totals,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    pub since_ms: i64,
    pub until_ms: i64,
    pub group_by: GroupBy,
    pub total: Totals,
    pub groups: Vec<Group>,
}

const SUMS: &str = "SUM(requests), SUM(errors), SUM(input_tokens), SUM(output_tokens), \
    SUM(cache_read_tokens), SUM(cache_write_5m_tokens), SUM(cache_write_1h_tokens), \
    SUM(reasoning_tokens), SUM(cost_usd), SUM(unpriced), SUM(cache_hits), SUM(saved_usd)";

fn totals_at(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Totals> {
    let i = |k: usize| {
        r.get::<_, Option<i64>>(at + k)
            .map(Option::unwrap_or_default)
    };
    let f = |k: usize| {
        r.get::<_, Option<f64>>(at + k)
            .map(Option::unwrap_or_default)
    };
    Ok(Totals {
        requests: i(0)?,
        errors: i(1)?,
        input_tokens: i(2)?,
        output_tokens: i(3)?,
        cache_read_tokens: i(4)?,
        cache_write_5m_tokens: i(5)?,
        cache_write_1h_tokens: i(6)?,
        reasoning_tokens: i(7)?,
        cost_usd: f(8)?,
        unpriced_requests: i(9)?,
        cache_hits: i(10)?,
        saved_usd: f(11)?,
    })
}

/// Seconds east of UTC now (day buckets use today's offset for the whole range).
fn local_offset_s() -> i64 {
    i64::from(Local::now().offset().fix().local_minus_utc())
}

/// SQL for the group key of a rollup row.
fn key_sql(g: GroupBy) -> String {
    match g {
        GroupBy::Model => "provider || '/' || model".into(),
        GroupBy::Provider => "provider".into(),
        GroupBy::Project => "project".into(),
        GroupBy::Alias => "alias".into(),
        GroupBy::Day => format!(
            "strftime('%Y-%m-%d', ((hour * 3600 + {}) / 86400) * 86400, 'unixepoch')",
            local_offset_s()
        ),
    }
}

/// The hours `[since, until)` cover, rounded out to whole hours.
pub fn hours(since_ms: i64, until_ms: i64) -> (i64, i64) {
    (
        since_ms.div_euclid(3_600_000),
        (until_ms + 3_599_999).div_euclid(3_600_000),
    )
}

pub fn summary(
    c: &Connection,
    since_ms: i64,
    until_ms: i64,
    group_by: GroupBy,
    project: Option<&str>,
) -> rusqlite::Result<Summary> {
    let (h0, h1) = hours(since_ms, until_ms);
    let filter = if project.is_some() {
        "AND project = ?3"
    } else {
        "AND ?3 IS NULL"
    };
    let sql = format!(
        "SELECT {k}, {SUMS} FROM rollup_hour WHERE hour >= ?1 AND hour < ?2 {filter} \
         GROUP BY 1 ORDER BY SUM(cost_usd) DESC, 1",
        k = key_sql(group_by)
    );
    let mut st = c.prepare_cached(&sql)?;
    let groups = st
        .query_map(params![h0, h1, project], |r| {
            Ok(Group {
                key: r.get(0)?,
                totals: totals_at(r, 1)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut total = Totals::default();
    for g in &groups {
        add(&mut total, &g.totals);
    }
    Ok(Summary {
        since_ms,
        until_ms,
        group_by,
        total,
        groups,
    })
}

fn add(a: &mut Totals, b: &Totals) {
    a.requests += b.requests;
    a.errors += b.errors;
    a.input_tokens += b.input_tokens;
    a.output_tokens += b.output_tokens;
    a.cache_read_tokens += b.cache_read_tokens;
    a.cache_write_5m_tokens += b.cache_write_5m_tokens;
    a.cache_write_1h_tokens += b.cache_write_1h_tokens;
    a.reasoning_tokens += b.reasoning_tokens;
    a.cost_usd += b.cost_usd;
    a.unpriced_requests += b.unpriced_requests;
    a.cache_hits += b.cache_hits;
    a.saved_usd += b.saved_usd;
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Point {
    /// The bucket's start (ms since the epoch).
    pub t_ms: i64,
    pub key: String,
    pub requests: i64,
    pub tokens: i64,
    pub cost_usd: f64,
    pub unpriced_requests: i64,
}

/// Spend per bucket and group, oldest first (buckets without requests are absent).
pub fn timeseries(
    c: &Connection,
    since_ms: i64,
    until_ms: i64,
    bucket: Bucket,
    group_by: GroupBy,
    project: Option<&str>,
) -> rusqlite::Result<Vec<Point>> {
    let (h0, h1) = hours(since_ms, until_ms);
    let off = local_offset_s();
    let t = match bucket {
        Bucket::Hour => "hour * 3600000".to_string(),
        Bucket::Day => format!("(((hour * 3600 + {off}) / 86400) * 86400 - {off}) * 1000"),
    };
    let sql = format!(
        "SELECT {t} AS t, {k}, SUM(requests), \
         SUM(input_tokens + output_tokens + cache_read_tokens + cache_write_5m_tokens + cache_write_1h_tokens), \
         SUM(cost_usd), SUM(unpriced) FROM rollup_hour WHERE hour >= ?1 AND hour < ?2 \
         AND (?3 IS NULL OR project = ?3) GROUP BY 1, 2 ORDER BY 1, 2",
        k = key_sql(group_by)
    );
    let mut st = c.prepare_cached(&sql)?;
    st.query_map(params![h0, h1, project], |r| {
        Ok(Point {
            t_ms: r.get(0)?,
            key: r.get(1)?,
            requests: r.get(2)?,
            tokens: r.get(3)?,
            cost_usd: r.get(4)?,
            unpriced_requests: r.get(5)?,
        })
    })?
    .collect()
}

/// One row of the request log.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LoggedRequest {
    pub ts_ms: i64,
    pub request_id: String,
    pub project: String,
    pub client_api: String,
    pub endpoint: String,
    pub alias: String,
    pub provider: String,
    pub model: String,
    pub rule: String,
    pub status: i64,
    pub outcome: String,
    pub stream: bool,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_read_tokens: i64,
    pub cache_write_5m_tokens: i64,
    pub cache_write_1h_tokens: i64,
    pub reasoning_tokens: i64,
    pub tokens_estimated: bool,
    pub cost_usd: Option<f64>,
    pub saved_usd: f64,
    pub latency_ms: f64,
    pub ttfb_ms: Option<f64>,
    pub cache_hit: bool,
    pub fallbacks: i64,
}

/// The newest `limit` requests, newest first, optionally of one project.
pub fn recent(
    c: &Connection,
    limit: u32,
    project: Option<&str>,
) -> rusqlite::Result<Vec<LoggedRequest>> {
    // `project != ''` lets SQLite use the per-project index, which holds only rows that have
    // a project (schema migration 4).
    let filter = match project {
        Some("") => "WHERE project = ?2",
        Some(_) => "WHERE project = ?2 AND project != ''",
        None => "WHERE ?2 IS NULL",
    };
    let sql = format!(
        "SELECT ts_ms, request_id, project, client_api, endpoint, alias, provider, model, rule, \
         status, outcome, stream, input_tokens, output_tokens, cache_read_tokens, \
         cache_write_5m_tokens, cache_write_1h_tokens, reasoning_tokens, tokens_estimated, \
         cost_usd, saved_usd, latency_ms, ttfb_ms, cache_hit, fallbacks FROM requests {filter} \
         ORDER BY ts_ms DESC, id DESC LIMIT ?1"
    );
    let mut st = c.prepare_cached(&sql)?;
    st.query_map(params![limit, project], |r| {
        Ok(LoggedRequest {
            ts_ms: r.get(0)?,
            request_id: r.get(1)?,
            project: r.get(2)?,
            client_api: r.get(3)?,
            endpoint: r.get(4)?,
            alias: r.get(5)?,
            provider: r.get(6)?,
            model: r.get(7)?,
            rule: r.get(8)?,
            status: r.get(9)?,
            outcome: r.get(10)?,
            stream: r.get(11)?,
            input_tokens: r.get(12)?,
            output_tokens: r.get(13)?,
            cache_read_tokens: r.get(14)?,
            cache_write_5m_tokens: r.get(15)?,
            cache_write_1h_tokens: r.get(16)?,
            reasoning_tokens: r.get(17)?,
            tokens_estimated: r.get(18)?,
            cost_usd: r.get(19)?,
            saved_usd: r.get(20)?,
            latency_ms: r.get(21)?,
            ttfb_ms: r.get(22)?,
            cache_hit: r.get(23)?,
            fallbacks: r.get(24)?,
        })
    })?
    .collect()
}

/// Spend of the requests in `[since, until)` (exact, from the request rows), optionally of
/// one project.
pub fn spent(
    c: &Connection,
    since_ms: i64,
    until_ms: i64,
    project: Option<&str>,
) -> rusqlite::Result<f64> {
    match project {
        Some(p) => c.query_row(
            if p.is_empty() {
                "SELECT COALESCE(SUM(cost_usd), 0) FROM requests \
                 WHERE project = ?1 AND ts_ms >= ?2 AND ts_ms < ?3"
            } else {
                "SELECT COALESCE(SUM(cost_usd), 0) FROM requests \
                 WHERE project = ?1 AND project != '' AND ts_ms >= ?2 AND ts_ms < ?3"
            },
            params![p, since_ms, until_ms],
            |r| r.get(0),
        ),
        None => c.query_row(
            "SELECT COALESCE(SUM(cost_usd), 0) FROM requests WHERE ts_ms >= ?1 AND ts_ms < ?2",
            params![since_ms, until_ms],
            |r| r.get(0),
        ),
    }
}

/// Spend in the hours `[since, until)` cover, from the hourly rollup (fast over any range; to
/// the hour), optionally of one project.
pub fn spent_hours(
    c: &Connection,
    since_ms: i64,
    until_ms: i64,
    project: Option<&str>,
) -> rusqlite::Result<f64> {
    let (h0, h1) = hours(since_ms, until_ms);
    c.query_row(
        "SELECT COALESCE(SUM(cost_usd), 0) FROM rollup_hour \
         WHERE hour >= ?1 AND hour < ?2 AND (?3 IS NULL OR project = ?3)",
        params![h0, h1, project],
        |r| r.get(0),
    )
}

/// Where a budget is heading.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Pace {
    /// Spend rate so far this period.
    pub usd_per_hour: f64,
    pub usd_per_day: f64,
    /// The daily rate that would use the budget exactly by the period's end.
    pub budget_usd_per_day: f64,
    /// Spend at the period's end if the recent daily rate holds.
    pub projected_usd: f64,
    /// How `projected_usd` was computed.
    pub method: String,
    /// `on pace`, `under pace` or `N days early` (the budget runs out N days before the end).
    pub verdict: String,
}

const DAY_MS: f64 = 86_400_000.0;

/// Pace and projection of a budget of `usd` over `[start, end)` with `spent` so far at `now`;
/// `recent_daily` is the average daily spend over the last `recent_days` days.
pub fn pace(
    usd: f64,
    spent: f64,
    start_ms: i64,
    end_ms: i64,
    now_ms: i64,
    recent_daily: f64,
    recent_days: f64,
) -> Pace {
    let elapsed = ((now_ms - start_ms) as f64).max(60_000.0);
    let remaining = ((end_ms - now_ms) as f64).max(0.0);
    let per_day = spent / (elapsed / DAY_MS);
    let budget_per_day = usd / ((end_ms - start_ms) as f64 / DAY_MS);
    let projected = spent + recent_daily * remaining / DAY_MS;
    let verdict = if spent >= usd {
        "used up".to_string()
    } else if per_day <= 0.0 {
        "under pace".to_string()
    } else {
        let runs_out = now_ms as f64 + (usd - spent) / per_day * DAY_MS;
        let early = (end_ms as f64 - runs_out) / DAY_MS;
        if early >= 0.05 {
            format!("{early:.1} days early")
        } else if per_day < budget_per_day * 0.9 {
            "under pace".to_string()
        } else {
            "on pace".to_string()
        }
    };
    Pace {
        usd_per_hour: per_day / 24.0,
        usd_per_day: per_day,
        budget_usd_per_day: budget_per_day,
        projected_usd: projected,
        method: format!(
            "spend so far plus the average daily spend of the last {recent_days:.1} days times the days left"
        ),
        verdict,
    }
}

/// Group points by key (for charts and CSV).
pub fn by_key(points: &[Point]) -> BTreeMap<String, Vec<&Point>> {
    let mut m: BTreeMap<String, Vec<&Point>> = BTreeMap::new();
    for p in points {
        m.entry(p.key.clone()).or_default().push(p);
    }
    m
}

/// Local midnight today, the start of this week (Monday) and of this month, in ms.
pub fn period_start(period: super::Period) -> (i64, i64) {
    period.bounds(Local::now())
}

/// A time bound: ms since the epoch, `YYYY-MM-DD` (local midnight) or RFC 3339.
pub(crate) fn parse_time(s: &str) -> Result<i64, String> {
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        let naive = d.and_hms_opt(0, 0, 0).unwrap_or_default();
        if let Some(t) = Local.from_local_datetime(&naive).earliest() {
            return Ok(t.timestamp_millis());
        }
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp_millis())
        .map_err(|_| {
            format!("`{s}` is not a time; use YYYY-MM-DD, RFC 3339 or milliseconds since 1970")
        })
}

/// `[since, until)` from `since`/`until` or `period`, else the last `default_days` days.
pub(crate) fn resolve_range(
    since: Option<&str>,
    until: Option<&str>,
    period: Option<&str>,
    default_days: i64,
) -> Result<(i64, i64), String> {
    let now = crate::store::now_ms();
    if let Some(p) = period {
        let per = match p {
            "today" | "day" => super::Period::Day,
            "week" => super::Period::Week,
            "month" => super::Period::Month,
            other => {
                return Err(format!(
                    "unknown period `{other}`; use today, week or month"
                ));
            }
        };
        let (start, _) = per.bounds(Local::now());
        return Ok((start, now + 1));
    }
    let until = until.map(parse_time).transpose()?.unwrap_or(now + 1);
    let since = since
        .map(parse_time)
        .transpose()?
        .unwrap_or(until - default_days * 86_400_000);
    if since >= until {
        return Err("`since` must be before `until`".into());
    }
    Ok((since, until))
}

/// Local time of `ms`, for tables.
pub fn local_time(ms: i64) -> String {
    Local
        .timestamp_millis_opt(ms)
        .single()
        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pace_says_how_early_a_budget_runs_out() {
        let day = 86_400_000;
        // 10 days into a 30-day period, $50 of $100 spent: $5/day runs out on day 20.
        let p = pace(100.0, 50.0, 0, 30 * day, 10 * day, 5.0, 7.0);
        assert_eq!(p.verdict, "10.0 days early");
        assert!((p.projected_usd - 150.0).abs() < 1e-9);
        assert!((p.budget_usd_per_day - 100.0 / 30.0).abs() < 1e-9);
        let p = pace(100.0, 30.0, 0, 30 * day, 10 * day, 3.0, 7.0);
        assert_eq!(p.verdict, "on pace");
        let p = pace(100.0, 10.0, 0, 30 * day, 10 * day, 1.0, 7.0);
        assert_eq!(p.verdict, "under pace");
    }
}
