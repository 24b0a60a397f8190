//! Provider health: each provider's state (up / degraded / down / unknown), from background
//! probes and from real traffic (passively, per provider and per `provider/model`), with the
//! last error, latency percentiles, and uptime history (each probe's outcome goes to the
//! database, so uptime over 1 h / 24 h / 7 d survives restarts).
//!
//! The state, re-evaluated after every probe and every request outcome:
//! - **down**: the last 2 probes failed; or 3 requests in a row failed and no probe has
//!   succeeded since the first of them (probes off, or not due yet);
//! - **degraded**: the last probe failed (once); or the probes pass but 3 requests in a row
//!   failed, or more than a quarter of at least 4 requests over `health.window` did;
//! - **up**: a probe or a request succeeded, and none of the above;
//! - **unknown**: nothing heard yet.
//!
//! Transitions go out on the event channel, deduplicated and rate-limited: a new outage (down
//! or degraded) is announced unless another was within `health.notify_every` (flapping); within
//! an announced outage only the escalation degraded → down is news; a recovery is announced
//! only after an announced outage. Going down runs the provider's `on_down` command (`on_down.rs`).
//!
//! Owns provider states; must not send requests (`probe.rs` does) or decide routes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::broadcast;

use super::HealthConfig;
use super::on_down::OnDownRunner;
use super::window::{self, LatencyRing, OutcomeWindow, Percentiles};
use crate::config::{Config, Target};
use crate::events::{Event, ProviderChange};
use crate::metrics::Metrics;
use crate::store::{ProbeRow, Store, Write, lock, now_ms};

/// Failed probes in a row that make a provider down.
const PROBES_DOWN: u32 = 2;
/// Failed requests in a row that make a provider down (no probe says otherwise) or degraded.
const REQUESTS_DOWN: u32 = 3;
/// The error share over the window above which a provider is degraded.
const DEGRADED_RATE: f64 = 0.25;
const DEGRADED_MIN: u32 = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderState {
    Unknown,
    Up,
    Degraded,
    Down,
}

impl ProviderState {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderState::Unknown => "unknown",
            ProviderState::Up => "up",
            ProviderState::Degraded => "degraded",
            ProviderState::Down => "down",
        }
    }
}

/// One probe's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeOutcome {
    pub ok: bool,
    pub latency_ms: f64,
    /// What went wrong (redacted: URLs without credentials, no keys).
    pub error: Option<String>,
    pub at_ms: i64,
}

/// Real traffic to a provider or one of its models.
#[derive(Debug, Default)]
struct Traffic {
    recent: OutcomeWindow,
    in_a_row: u32,
    /// When the current run of failures began.
    streak_since_ms: Option<i64>,
    latency: LatencyRing,
    last_error: Option<String>,
    last_ok_ms: Option<i64>,
    last_failure_ms: Option<i64>,
}

impl Traffic {
    fn record(&mut self, epoch: u64, ok: bool, latency: Option<Duration>, error: Option<&str>) {
        let now = now_ms();
        self.recent.record(epoch, ok);
        if ok {
            self.in_a_row = 0;
            self.streak_since_ms = None;
            self.last_ok_ms = Some(now);
            if let Some(l) = latency {
                self.latency.push(l);
            }
        } else {
            self.in_a_row += 1;
            self.streak_since_ms.get_or_insert(now);
            self.last_failure_ms = Some(now);
            self.last_error = error.map(|e| e.chars().take(300).collect());
        }
    }
}

#[derive(Debug)]
struct Entry {
    state: ProviderState,
    since_ms: i64,
    traffic: Traffic,
    models: HashMap<String, Traffic>,
    last_probe: Option<ProbeOutcome>,
    probe_failures: u32,
    /// The trouble (down or degraded) announced for the current outage; None once a
    /// recovery was announced.
    announced: Option<ProviderState>,
    /// When the last trouble event went out.
    last_trouble_event: Option<Instant>,
}

impl Entry {
    fn new() -> Self {
        Self {
            state: ProviderState::Unknown,
            since_ms: now_ms(),
            traffic: Traffic::default(),
            models: HashMap::new(),
            last_probe: None,
            probe_failures: 0,
            announced: None,
            last_trouble_event: None,
        }
    }

    fn evaluate(&mut self, epoch: u64) -> ProviderState {
        let probe_ok_since_streak = match (&self.last_probe, self.traffic.streak_since_ms) {
            (Some(p), Some(since)) => p.ok && p.at_ms >= since,
            _ => false,
        };
        let (failed, total) = self.traffic.recent.counts(epoch);
        if self.probe_failures >= PROBES_DOWN
            || (self.traffic.in_a_row >= REQUESTS_DOWN && !probe_ok_since_streak)
        {
            ProviderState::Down
        } else if self.probe_failures == 1
            || self.traffic.in_a_row >= REQUESTS_DOWN
            || (total >= DEGRADED_MIN && f64::from(failed) > DEGRADED_RATE * f64::from(total))
        {
            ProviderState::Degraded
        } else if self.last_probe.as_ref().is_some_and(|p| p.ok)
            || self.traffic.last_ok_ms.is_some()
        {
            ProviderState::Up
        } else {
            ProviderState::Unknown
        }
    }

    fn last_error(&self) -> Option<String> {
        let probe = self
            .last_probe
            .as_ref()
            .filter(|p| !p.ok)
            .map(|p| (p.at_ms, p.error.clone()));
        let traffic = self
            .traffic
            .last_failure_ms
            .map(|t| (t, self.traffic.last_error.clone()));
        match (probe, traffic) {
            (Some(a), Some(b)) => (if a.0 >= b.0 { a } else { b }).1,
            (Some(a), None) => a.1,
            (None, Some(b)) => b.1,
            (None, None) => None,
        }
    }
}

/// One provider's health, for the admin API and `lodestar status`.
#[derive(Debug, Clone, Serialize)]
pub struct ProviderHealth {
    pub provider: String,
    pub state: ProviderState,
    /// Since when (ms since the epoch).
    pub since_ms: i64,
    pub last_error: Option<String>,
    pub last_probe: Option<ProbeOutcome>,
    /// Time to first byte of real requests (the last 128).
    pub latency_ms: Option<Percentiles>,
    pub models: Vec<ModelHealth>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelHealth {
    pub model: String,
    /// `up`, `degraded` (some recent requests failed) or `down` (the last 3 failed).
    pub state: ProviderState,
    pub last_error: Option<String>,
    pub latency_ms: Option<Percentiles>,
    pub requests_in_window: u32,
    pub failures_in_window: u32,
}

/// Every provider's health; fed by the probe task and the dispatcher.
pub struct Monitor {
    cfg: HealthConfig,
    base: Instant,
    entries: HashMap<String, Mutex<Entry>>,
    events: broadcast::Sender<Event>,
    store: Option<Arc<Store>>,
    metrics: Arc<Metrics>,
    on_down: OnDownRunner,
}

impl Monitor {
    pub(crate) fn new(
        config: &Config,
        events: broadcast::Sender<Event>,
        store: Option<Arc<Store>>,
        metrics: Arc<Metrics>,
        on_down: OnDownRunner,
    ) -> Monitor {
        Monitor {
            cfg: config.health,
            base: Instant::now(),
            entries: config
                .providers
                .iter()
                .map(|p| (p.name.clone(), Mutex::new(Entry::new())))
                .collect(),
            events,
            store,
            metrics,
            on_down,
        }
    }

    fn epoch(&self) -> u64 {
        window::epoch(self.base, Instant::now(), self.cfg.breaker.window)
    }

    /// A request's outcome at `t`: ok (with its time to first byte) or a failure that is the
    /// upstream's fault (connect, timeout, 5xx, garbage, a stream cut mid-way).
    pub(crate) fn observe(
        &self,
        t: &Target,
        ok: bool,
        ttfb: Option<Duration>,
        error: Option<&str>,
    ) {
        let Some(m) = self.entries.get(&t.provider) else {
            return;
        };
        let epoch = self.epoch();
        let mut e = lock(m);
        e.traffic.record(epoch, ok, ttfb, error);
        match e.models.get_mut(&t.model) {
            Some(tr) => tr.record(epoch, ok, ttfb, error),
            None => {
                let mut tr = Traffic::default();
                tr.record(epoch, ok, ttfb, error);
                e.models.insert(t.model.clone(), tr);
            }
        }
        self.settle(&t.provider, e, epoch);
    }

    /// The provider answered that it has no such model: the model's entry failed, the
    /// provider itself is up.
    pub(crate) fn observe_model_failure(&self, t: &Target, error: &str) {
        if !self.cfg.enabled {
            return;
        }
        let Some(m) = self.entries.get(&t.provider) else {
            return;
        };
        let epoch = self.epoch();
        let mut e = lock(m);
        e.traffic.record(epoch, true, None, None);
        e.models
            .entry(t.model.clone())
            .or_default()
            .record(epoch, false, None, Some(error));
        self.settle(&t.provider, e, epoch);
    }

    /// A probe's outcome; written to the uptime history.
    pub(crate) fn probed(&self, provider: &str, p: ProbeOutcome) {
        let Some(m) = self.entries.get(provider) else {
            return;
        };
        self.metrics.record_probe(
            provider,
            p.ok,
            Duration::from_secs_f64(p.latency_ms / 1000.0),
        );
        if let Some(store) = &self.store {
            store.send(Write::Probe(Box::new(ProbeRow {
                provider: provider.to_string(),
                ts_ms: p.at_ms,
                ok: p.ok,
                latency_ms: p.latency_ms,
                error: p.error.clone(),
            })));
        }
        let epoch = self.epoch();
        let mut e = lock(m);
        e.probe_failures = if p.ok { 0 } else { e.probe_failures + 1 };
        e.last_probe = Some(p);
        self.settle(provider, e, epoch);
    }

    /// Re-evaluate; on a change: metrics, the event (if due) and `on_down`.
    fn settle(&self, provider: &str, mut e: std::sync::MutexGuard<'_, Entry>, epoch: u64) {
        let state = e.evaluate(epoch);
        if state == e.state {
            return;
        }
        let previous = e.state;
        e.state = state;
        e.since_ms = now_ms();
        let last_error = e.last_error();
        let now = Instant::now();
        let announce = match (state, e.announced) {
            // Already told: down covers degraded; degraded → down is an escalation.
            (ProviderState::Down, Some(ProviderState::Down)) => false,
            (ProviderState::Degraded, Some(_)) => false,
            (ProviderState::Down, Some(_)) => true,
            // A new outage: unless one was announced within `notify_every` (flapping).
            (ProviderState::Down | ProviderState::Degraded, None) => e
                .last_trouble_event
                .is_none_or(|at| now.duration_since(at) >= self.cfg.notify_every),
            // A recovery is news only to whoever heard of the trouble.
            (ProviderState::Up, announced) => announced.is_some(),
            (ProviderState::Unknown, _) => false,
        };
        if announce {
            match state {
                ProviderState::Up | ProviderState::Unknown => e.announced = None,
                trouble => {
                    e.announced = Some(trouble);
                    e.last_trouble_event = Some(now);
                }
            }
        }
        drop(e);
        self.metrics.set_provider_state(provider, state);
        match state {
            ProviderState::Down => tracing::warn!(
                provider,
                error = last_error.as_deref().unwrap_or("-"),
                "provider down"
            ),
            ProviderState::Degraded => tracing::warn!(
                provider,
                error = last_error.as_deref().unwrap_or("-"),
                "provider degraded"
            ),
            ProviderState::Up if previous != ProviderState::Unknown => {
                tracing::info!(provider, "provider up again")
            }
            _ => {}
        }
        if announce {
            let _ = self.events.send(Event::Provider(ProviderChange {
                provider: provider.to_string(),
                state,
                previous,
                last_error: last_error.clone(),
            }));
        }
        if state == ProviderState::Down {
            self.on_down.provider_down(provider);
        } else if state == ProviderState::Up {
            self.on_down.provider_up(provider);
        }
    }

    /// One provider's state now.
    pub fn state(&self, provider: &str) -> ProviderState {
        self.entries
            .get(provider)
            .map_or(ProviderState::Unknown, |m| lock(m).state)
    }

    /// Every provider's health now, in config order of `names`.
    pub fn snapshot<'a>(&self, names: impl Iterator<Item = &'a str>) -> Vec<ProviderHealth> {
        let epoch = self.epoch();
        names
            .filter_map(|name| {
                let mut e = lock(self.entries.get(name)?);
                let mut models: Vec<ModelHealth> = e
                    .models
                    .iter_mut()
                    .map(|(model, t)| {
                        let (failed, total) = t.recent.counts(epoch);
                        ModelHealth {
                            model: model.clone(),
                            state: if t.in_a_row >= REQUESTS_DOWN {
                                ProviderState::Down
                            } else if failed > 0 {
                                ProviderState::Degraded
                            } else {
                                ProviderState::Up
                            },
                            last_error: t.last_error.clone(),
                            latency_ms: t.latency.percentiles(),
                            requests_in_window: total,
                            failures_in_window: failed,
                        }
                    })
                    .collect();
                models.sort_by(|a, b| a.model.cmp(&b.model));
                Some(ProviderHealth {
                    provider: name.to_string(),
                    state: e.state,
                    since_ms: e.since_ms,
                    last_error: e.last_error(),
                    last_probe: e.last_probe.clone(),
                    latency_ms: e.traffic.latency.percentiles(),
                    models,
                })
            })
            .collect()
    }
}

/// Uptime of each provider over the last hour, day and week: the share of its probes that
/// succeeded (None: no probe in that window).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Uptime {
    #[serde(rename = "1h")]
    pub h1: Option<f64>,
    #[serde(rename = "24h")]
    pub h24: Option<f64>,
    #[serde(rename = "7d")]
    pub d7: Option<f64>,
    /// Probes in the 7-day window.
    pub probes: i64,
}

/// Uptime by provider from the probe history.
pub(crate) fn uptime(
    c: &rusqlite::Connection,
    now_ms: i64,
) -> rusqlite::Result<HashMap<String, Uptime>> {
    let mut out: HashMap<String, Uptime> = HashMap::new();
    let mut q = c.prepare_cached(
        "SELECT provider, \
           SUM(CASE WHEN ts_ms >= ?2 THEN ok END), SUM(ts_ms >= ?2), \
           SUM(CASE WHEN ts_ms >= ?3 THEN ok END), SUM(ts_ms >= ?3), \
           SUM(ok), COUNT(*) \
         FROM probes WHERE ts_ms >= ?1 GROUP BY provider",
    )?;
    let rows = q.query_map(
        [
            now_ms - 7 * 86_400_000,
            now_ms - 3_600_000,
            now_ms - 86_400_000,
        ],
        |r| {
            let share =
                |ok: Option<i64>, n: i64| (n > 0).then(|| ok.unwrap_or(0) as f64 / n as f64);
            Ok((
                r.get::<_, String>(0)?,
                Uptime {
                    h1: share(r.get(1)?, r.get(2)?),
                    h24: share(r.get(3)?, r.get(4)?),
                    d7: share(r.get(5)?, r.get(6)?),
                    probes: r.get(6)?,
                },
            ))
        },
    )?;
    for row in rows {
        let (p, u) = row?;
        out.insert(p, u);
    }
    Ok(out)
}

/// Each `provider/model`'s availability from the ledger's hourly rollup: the share of its
/// requests that did not end in an error, over the current and previous hour ("1h"), the last
/// 24 hours and the last 7 days (None: no request in that window). Keyed by `provider/model`.
pub(crate) fn model_availability(
    c: &rusqlite::Connection,
    now_ms: i64,
) -> rusqlite::Result<HashMap<String, Uptime>> {
    let hour = now_ms.div_euclid(3_600_000);
    let mut q = c.prepare_cached(
        "SELECT provider, model, \
           SUM(CASE WHEN hour >= ?2 THEN requests - errors END), SUM(CASE WHEN hour >= ?2 THEN requests ELSE 0 END), \
           SUM(CASE WHEN hour >= ?3 THEN requests - errors END), SUM(CASE WHEN hour >= ?3 THEN requests ELSE 0 END), \
           SUM(requests - errors), SUM(requests) \
         FROM rollup_hour WHERE hour >= ?1 AND provider != '' GROUP BY provider, model",
    )?;
    let rows = q.query_map([hour - 167, hour - 1, hour - 23], |r| {
        let share = |ok: Option<i64>, n: i64| (n > 0).then(|| ok.unwrap_or(0) as f64 / n as f64);
        Ok((
            format!("{}/{}", r.get::<_, String>(0)?, r.get::<_, String>(1)?),
            Uptime {
                h1: share(r.get(2)?, r.get(3)?),
                h24: share(r.get(4)?, r.get(5)?),
                d7: share(r.get(6)?, r.get(7)?),
                probes: 0,
            },
        ))
    })?;
    rows.collect()
}

/// One hour of a provider's probes: how many passed of how many.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HourProbes {
    /// The hour's start (ms since the epoch).
    pub hour_ms: i64,
    pub ok: i64,
    pub total: i64,
}

/// Each provider's probes by hour over the last 7 days (hours without a probe left out), for
/// the UI's uptime bars.
pub(crate) fn uptime_hours(
    c: &rusqlite::Connection,
    now_ms: i64,
) -> rusqlite::Result<HashMap<String, Vec<HourProbes>>> {
    let mut q = c.prepare_cached(
        "SELECT provider, ts_ms / 3600000, SUM(ok), COUNT(*) FROM probes WHERE ts_ms >= ?1 \
         GROUP BY provider, ts_ms / 3600000 ORDER BY 1, 2",
    )?;
    let since = (now_ms.div_euclid(3_600_000) - 167) * 3_600_000;
    let rows = q.query_map([since], |r| {
        Ok((
            r.get::<_, String>(0)?,
            HourProbes {
                hour_ms: r.get::<_, i64>(1)? * 3_600_000,
                ok: r.get(2)?,
                total: r.get(3)?,
            },
        ))
    })?;
    let mut out: HashMap<String, Vec<HourProbes>> = HashMap::new();
    for row in rows {
        let (p, h) = row?;
        out.entry(p).or_default().push(h);
    }
    Ok(out)
}
