//! Budgets: money limits per day / week / month (local time), global or per project.
//!
//! A request to a priced model reserves an estimate of its cost at its start and settles the
//! real cost at its end. It is admitted while `spent + reserved` is under the hard limit, so
//! under concurrency a budget is overshot by at most the requests already in flight. Soft
//! thresholds (percent of `usd`) fire one event each per period, remembered in the database
//! so a restart does not fire them again. Free models (local ones) never touch a budget.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Datelike, Days, Local, LocalResult, Months, NaiveDate, TimeZone};
use tokio::sync::broadcast;

use crate::events::{BudgetAlert, Event};
use crate::store::{AlertRow, Store, Write, lock, now_ms};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    Day,
    Week,
    Month,
}

impl Period {
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Week => "week",
            Period::Month => "month",
        }
    }

    /// The period holding `at`: its start and end, in ms since the epoch (local time; weeks
    /// start on Monday).
    pub fn bounds(self, at: DateTime<Local>) -> (i64, i64) {
        let d = at.date_naive();
        let start = match self {
            Period::Day => d,
            Period::Week => d - Days::new(u64::from(d.weekday().num_days_from_monday())),
            Period::Month => d.with_day(1).unwrap_or(d),
        };
        let end = match self {
            Period::Day => start + Days::new(1),
            Period::Week => start + Days::new(7),
            Period::Month => start + Months::new(1),
        };
        (local_midnight_ms(start), local_midnight_ms(end))
    }
}

/// The first instant of `d` in local time (DST gaps: the earliest valid instant).
fn local_midnight_ms(d: NaiveDate) -> i64 {
    let naive = d.and_hms_opt(0, 0, 0).unwrap_or_default();
    match Local.from_local_datetime(&naive) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.timestamp_millis(),
        LocalResult::None => Local
            .from_local_datetime(&(naive + chrono::Duration::hours(1)))
            .earliest()
            .map_or(naive.and_utc().timestamp_millis(), |t| t.timestamp_millis()),
    }
}

/// What happens when a hard limit is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnExceeded {
    /// Refuse priced requests until the period ends (free routes still answer).
    Reject,
    /// Route priced requests to this (cheaper) alias instead.
    Downgrade(String),
}

/// One budget from the config (`budgets.NAME`).
#[derive(Debug, Clone)]
pub struct BudgetConfig {
    pub name: String,
    pub period: Period,
    /// The budget the thresholds are percentages of.
    pub usd: f64,
    /// Percentages of `usd`, ascending.
    pub thresholds: Vec<f64>,
    /// Requests are stopped (or downgraded) at this spend; None: alerts only.
    pub hard_limit_usd: Option<f64>,
    pub on_exceeded: OnExceeded,
    /// Only requests of this project count; None: every request.
    pub project: Option<String>,
}

#[derive(Debug)]
struct State {
    start_ms: i64,
    end_ms: i64,
    spent: f64,
    reserved: f64,
    /// Thresholds fired this period, in hundredths of a percent.
    fired: BTreeSet<i64>,
    /// The hard limit was announced this period (one event per period).
    limit_announced: bool,
}

struct Budget {
    cfg: BudgetConfig,
    state: Mutex<State>,
}

/// Where a budget stands, for `lodestar budget`, the admin API and the UI.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BudgetStatus {
    pub name: String,
    pub period: Period,
    pub project: Option<String>,
    pub usd: f64,
    pub hard_limit_usd: Option<f64>,
    pub spent_usd: f64,
    pub reserved_usd: f64,
    pub period_start_ms: i64,
    pub period_end_ms: i64,
    pub thresholds: Vec<f64>,
    pub fired: Vec<f64>,
}

/// A request refused by a hard limit.
#[derive(Debug, Clone)]
pub struct Exceeded {
    pub budget: String,
    pub spent_usd: f64,
    pub limit_usd: f64,
    pub period: Period,
    pub resets_at_ms: i64,
    pub on_exceeded: OnExceeded,
}

impl Exceeded {
    pub fn message(&self) -> String {
        let resets = Local
            .timestamp_millis_opt(self.resets_at_ms)
            .single()
            .map(|t| t.format("%Y-%m-%d %H:%M %Z").to_string())
            .unwrap_or_default();
        format!(
            "budget `{}` is used up: {} spent of its {} hard limit this {}; it resets at \
             {resets}. Raise `budgets.{}.hard_limit_usd`, or ask for a free (local) model",
            self.budget,
            money(self.spent_usd),
            money(self.limit_usd),
            self.period.as_str(),
            self.budget
        )
    }
}

/// Dollars for people: cents above $1, four decimals below.
pub fn money(v: f64) -> String {
    if v.abs() >= 1.0 {
        format!("${v:.2}")
    } else {
        format!("${v:.4}")
    }
}

/// Amounts a request reserved, to be settled when it ends.
#[derive(Debug, Default)]
pub struct Reservation {
    parts: Vec<(usize, i64, f64)>,
}

pub struct Budgets {
    items: Vec<Budget>,
    events: broadcast::Sender<Event>,
    store: Option<Arc<Store>>,
}

impl Budgets {
    /// Budgets from the config, their spend so far this period read from the ledger.
    pub fn new(
        cfgs: &[BudgetConfig],
        events: broadcast::Sender<Event>,
        store: Option<Arc<Store>>,
    ) -> Budgets {
        let now = Local::now();
        let items = cfgs
            .iter()
            .map(|cfg| {
                let (start_ms, end_ms) = cfg.period.bounds(now);
                let (spent, fired) = store
                    .as_ref()
                    .and_then(|s| load(s, cfg, start_ms).ok())
                    .unwrap_or_default();
                Budget {
                    cfg: cfg.clone(),
                    state: Mutex::new(State {
                        start_ms,
                        end_ms,
                        spent,
                        reserved: 0.0,
                        fired,
                        limit_announced: false,
                    }),
                }
            })
            .collect();
        Budgets {
            items,
            events,
            store,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    fn applies(b: &Budget, project: &str) -> bool {
        b.cfg.project.as_deref().is_none_or(|p| p == project)
    }

    /// Admit a priced request of `project` whose cost is estimated at `estimate` USD: reserve
    /// it in every budget that applies, or refuse with the first budget whose hard limit is
    /// reached (nothing is reserved then).
    pub fn admit(&self, project: &str, estimate: f64) -> Result<Reservation, Exceeded> {
        let now = now_ms();
        let mut guards = Vec::new();
        for (i, b) in self.items.iter().enumerate() {
            if !Self::applies(b, project) {
                continue;
            }
            let mut st = lock(&b.state);
            roll(&b.cfg, &mut st, now);
            if let Some(limit) = b.cfg.hard_limit_usd
                && st.spent + st.reserved >= limit
            {
                if !st.limit_announced {
                    st.limit_announced = true;
                    let _ = self.events.send(Event::BudgetLimit(BudgetAlert {
                        budget: b.cfg.name.clone(),
                        project: b.cfg.project.clone(),
                        period: b.cfg.period.as_str(),
                        threshold_pct: limit / b.cfg.usd * 100.0,
                        spent_usd: st.spent,
                        usd: b.cfg.usd,
                        resets_at_ms: st.end_ms,
                    }));
                }
                return Err(Exceeded {
                    budget: b.cfg.name.clone(),
                    spent_usd: st.spent,
                    limit_usd: limit,
                    period: b.cfg.period,
                    resets_at_ms: st.end_ms,
                    on_exceeded: b.cfg.on_exceeded.clone(),
                });
            }
            guards.push((i, st));
        }
        let mut r = Reservation::default();
        for (i, mut st) in guards {
            st.reserved += estimate;
            r.parts.push((i, st.start_ms, estimate));
        }
        Ok(r)
    }

    /// A request ended having cost `cost` USD: release its reservation, add the cost, fire
    /// the thresholds it crossed.
    pub fn settle(&self, r: Reservation, project: &str, cost: f64) {
        let now = now_ms();
        let mut reserved: Vec<Option<(i64, f64)>> = vec![None; self.items.len()];
        for (i, start, amount) in r.parts {
            reserved[i] = Some((start, amount));
        }
        for (i, b) in self.items.iter().enumerate() {
            if reserved[i].is_none() && !Self::applies(b, project) {
                continue;
            }
            let mut st = lock(&b.state);
            roll(&b.cfg, &mut st, now);
            if let Some((start, amount)) = reserved[i]
                && start == st.start_ms
            {
                st.reserved = (st.reserved - amount).max(0.0);
            }
            if cost <= 0.0 {
                continue;
            }
            st.spent += cost;
            if b.cfg.usd <= 0.0 {
                continue;
            }
            for t in &b.cfg.thresholds {
                let key = (t * 100.0).round() as i64;
                // A relative tolerance: ten payments of $0.10 reach $1.00.
                let crossed = st.spent >= b.cfg.usd * t / 100.0 * (1.0 - 1e-9);
                if crossed && st.fired.insert(key) {
                    let alert = BudgetAlert {
                        budget: b.cfg.name.clone(),
                        project: b.cfg.project.clone(),
                        period: b.cfg.period.as_str(),
                        threshold_pct: *t,
                        spent_usd: st.spent,
                        usd: b.cfg.usd,
                        resets_at_ms: st.end_ms,
                    };
                    tracing::warn!(
                        budget = %alert.budget,
                        threshold = %t,
                        spent_usd = alert.spent_usd,
                        "budget threshold crossed"
                    );
                    if let Some(s) = &self.store {
                        s.send(Write::Alert(Box::new(AlertRow {
                            budget: b.cfg.name.clone(),
                            period_start_ms: st.start_ms,
                            threshold: *t,
                            ts_ms: now,
                        })));
                    }
                    let _ = self.events.send(Event::BudgetThreshold(alert));
                }
            }
        }
    }

    pub fn status(&self) -> Vec<BudgetStatus> {
        let now = now_ms();
        self.items
            .iter()
            .map(|b| {
                let mut st = lock(&b.state);
                roll(&b.cfg, &mut st, now);
                BudgetStatus {
                    name: b.cfg.name.clone(),
                    period: b.cfg.period,
                    project: b.cfg.project.clone(),
                    usd: b.cfg.usd,
                    hard_limit_usd: b.cfg.hard_limit_usd,
                    spent_usd: st.spent,
                    reserved_usd: st.reserved,
                    period_start_ms: st.start_ms,
                    period_end_ms: st.end_ms,
                    thresholds: b.cfg.thresholds.clone(),
                    fired: st.fired.iter().map(|k| *k as f64 / 100.0).collect(),
                }
            })
            .collect()
    }
}

/// A new period began: start from nothing (requests in flight keep their reservations in the
/// old period and settle their cost into the new one).
fn roll(cfg: &BudgetConfig, st: &mut State, now: i64) {
    if now < st.end_ms {
        return;
    }
    let at = Local
        .timestamp_millis_opt(now)
        .single()
        .unwrap_or_else(Local::now);
    let (start, end) = cfg.period.bounds(at);
    *st = State {
        start_ms: start,
        end_ms: end,
        spent: 0.0,
        reserved: 0.0,
        fired: BTreeSet::new(),
        limit_announced: false,
    };
}

/// Spend so far in the period and the thresholds already fired, from the database.
fn load(
    s: &Store,
    cfg: &BudgetConfig,
    start_ms: i64,
) -> Result<(f64, BTreeSet<i64>), crate::store::StoreError> {
    s.read_blocking(|c| {
        let spent: f64 = match &cfg.project {
            Some(p) => c.query_row(
                // Project names are never empty; `project != ''` lets SQLite use the
                // (partial) per-project index.
                "SELECT COALESCE(SUM(cost_usd), 0) FROM requests WHERE project = ?1 \
                 AND project != '' AND ts_ms >= ?2",
                (p, start_ms),
                |r| r.get(0),
            )?,
            None => c.query_row(
                "SELECT COALESCE(SUM(cost_usd), 0) FROM requests WHERE ts_ms >= ?1",
                [start_ms],
                |r| r.get(0),
            )?,
        };
        let mut st = c.prepare(
            "SELECT threshold FROM budget_alerts WHERE budget = ?1 AND period_start_ms = ?2",
        )?;
        let fired = st
            .query_map((&cfg.name, start_ms), |r| r.get::<_, f64>(0))?
            .filter_map(Result::ok)
            .map(|t| (t * 100.0).round() as i64)
            .collect();
        Ok((spent, fired))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_local_calendar_units() {
        let at = Local
            .with_ymd_and_hms(2026, 11, 25, 15, 30, 0)
            .single()
            .unwrap_or_else(Local::now);
        let (s, e) = Period::Week.bounds(at);
        let s = Local
            .timestamp_millis_opt(s)
            .single()
            .map(|t| t.date_naive());
        let e = Local
            .timestamp_millis_opt(e)
            .single()
            .map(|t| t.date_naive());
        assert_eq!(s, NaiveDate::from_ymd_opt(2026, 11, 23)); // a Monday
        assert_eq!(e, NaiveDate::from_ymd_opt(2026, 11, 30));
        let (s, e) = Period::Month.bounds(at);
        let e = Local
            .timestamp_millis_opt(e)
            .single()
            .map(|t| t.date_naive());
        assert_eq!(e, NaiveDate::from_ymd_opt(2026, 12, 1));
        assert!(s < e.map_or(0, |_| i64::MAX));
    }

    fn budget(limit: Option<f64>) -> Budgets {
        let (tx, _) = broadcast::channel(16);
        Budgets::new(
            &[BudgetConfig {
                name: "b".into(),
                period: Period::Day,
                usd: 1.0,
                thresholds: vec![50.0, 80.0, 100.0],
                hard_limit_usd: limit,
                on_exceeded: OnExceeded::Reject,
                project: None,
            }],
            tx,
            None,
        )
    }

    #[test]
    fn thresholds_fire_once_each() {
        let b = budget(None);
        let mut rx = b.events.subscribe();
        for _ in 0..10 {
            let r = b.admit("", 0.01).unwrap_or_default();
            b.settle(r, "", 0.1);
        }
        let mut fired = Vec::new();
        while let Ok(Event::BudgetThreshold(a)) = rx.try_recv() {
            fired.push(a.threshold_pct);
        }
        assert_eq!(fired, vec![50.0, 80.0, 100.0]);
    }

    #[test]
    fn hard_limit_counts_reservations_in_flight() {
        let b = budget(Some(1.0));
        let r1 = b.admit("", 0.6);
        let r2 = b.admit("", 0.6);
        assert!(r1.is_ok() && r2.is_ok(), "under the limit when admitted");
        let r3 = b.admit("", 0.1);
        assert!(r3.is_err(), "1.2 reserved >= 1.0");
        b.settle(r1.unwrap_or_default(), "", 0.2);
        b.settle(r2.unwrap_or_default(), "", 0.2);
        assert!(b.admit("", 0.1).is_ok(), "0.4 spent, nothing reserved");
    }
}
