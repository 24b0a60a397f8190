//! Circuit breakers. An entry is `Closed` until `failures` consecutive retryable failures
//! (connect errors, timeouts, 5xx, garbage, a stream cut mid-way) open it, or until
//! `error_rate` of its requests failed over `window` (with at least `min_requests` of them); while `Open` it is skipped without a request; after
//! `open_for` one request is let through as a trial (`HalfOpen`): success closes it, failure
//! opens it again. A 429 does not count as a failure: the entry cools down for its
//! `Retry-After` (skipped by new requests until then) and is otherwise healthy.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::broadcast;

use super::window::{self, OutcomeWindow};
use crate::config::Target;
use crate::events::{CircuitChange, Event};
use crate::store::lock;

/// `health.breaker` in the config.
#[derive(Debug, Clone, Copy)]
pub struct BreakerConfig {
    /// Consecutive failures that open an entry's circuit (0: breakers off).
    pub failures: u32,
    /// How long an open circuit skips its entry before a trial request.
    pub open_for: Duration,
    /// The share of failed requests over `window` that opens a circuit.
    pub error_rate: f64,
    pub window: Duration,
    /// Requests needed in `window` before `error_rate` applies.
    pub min_requests: u32,
    /// At most one "circuit opened" event per entry per this long (`health.notify_every`): a
    /// flapping entry does not flood the tray; its "closed" event follows only an announced
    /// opening.
    pub notify_every: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failures: 5,
            open_for: Duration::from_secs(30),
            error_rate: 0.5,
            window: Duration::from_secs(60),
            min_requests: 10,
            notify_every: Duration::from_secs(300),
        }
    }
}

/// What an entry's breaker says now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
    /// Rate limited: skipped until its `Retry-After` has passed.
    CoolingDown,
}

#[derive(Debug, Clone)]
struct Entry {
    state: BreakerState,
    failures: u32,
    /// Open: when the trial may go; cooling down: when it ends.
    until: Option<Instant>,
    /// A half-open trial is in flight.
    trial: bool,
    last_error: Option<String>,
    /// Outcomes over `window`, for `error_rate`.
    recent: OutcomeWindow,
    /// It has failed or been rate limited at least once (shown in snapshots from then on).
    troubled: bool,
    /// When its last "opened" event went out, and whether this outage's opening was announced.
    last_open_event: Option<Instant>,
    announced: bool,
}

impl Default for Entry {
    fn default() -> Self {
        Self {
            state: BreakerState::Closed,
            failures: 0,
            until: None,
            trial: false,
            last_error: None,
            recent: OutcomeWindow::default(),
            troubled: false,
            last_open_event: None,
            announced: false,
        }
    }
}

/// One entry's health, for the admin API and errors.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EntryHealth {
    pub target: String,
    pub state: BreakerState,
    pub consecutive_failures: u32,
    pub last_error: Option<String>,
    /// Seconds until an open entry's trial or a cool-down's end.
    pub retry_in_s: Option<f64>,
}

/// Whether an attempt at an entry may go now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    Go,
    /// Skipped, and why (for the error if every entry is skipped).
    Skip(String),
}

pub struct Breakers {
    cfg: BreakerConfig,
    /// Time zero of the outcome windows.
    base: Instant,
    entries: Mutex<HashMap<Target, Entry>>,
    events: broadcast::Sender<Event>,
}

impl Breakers {
    pub fn new(cfg: BreakerConfig, events: broadcast::Sender<Event>) -> Breakers {
        Breakers {
            cfg,
            base: Instant::now(),
            entries: Mutex::new(HashMap::new()),
            events,
        }
    }

    /// Before an attempt: go, or skip an open (or cooling) entry.
    pub fn admit(&self, t: &Target) -> Admission {
        if self.cfg.failures == 0 {
            return Admission::Go;
        }
        let mut map = lock(&self.entries);
        let Some(e) = map.get_mut(t) else {
            return Admission::Go;
        };
        let now = Instant::now();
        match e.state {
            BreakerState::Closed => Admission::Go,
            BreakerState::CoolingDown => match e.until {
                Some(u) if now < u => Admission::Skip(format!(
                    "rate limited, cooling down for {:.1}s more (Retry-After)",
                    (u - now).as_secs_f64()
                )),
                _ => {
                    e.state = BreakerState::Closed;
                    e.until = None;
                    Admission::Go
                }
            },
            BreakerState::Open => match e.until {
                Some(u) if now < u => Admission::Skip(format!(
                    "circuit open after {} failures in a row (last: {}); next try in {:.1}s",
                    e.failures,
                    e.last_error.as_deref().unwrap_or("-"),
                    (u - now).as_secs_f64()
                )),
                _ => {
                    e.state = BreakerState::HalfOpen;
                    e.trial = true;
                    Admission::Go
                }
            },
            BreakerState::HalfOpen if e.trial => Admission::Skip(format!(
                "circuit half-open: a trial request is in flight (last error: {})",
                e.last_error.as_deref().unwrap_or("-")
            )),
            BreakerState::HalfOpen => {
                e.trial = true;
                Admission::Go
            }
        }
    }

    /// The entry answered (or refused the request itself: it is up).
    pub fn success(&self, t: &Target) {
        if self.cfg.failures == 0 {
            return;
        }
        let now = self.epoch();
        let mut map = lock(&self.entries);
        let Some(e) = map.get_mut(t) else {
            let mut e = Entry::default();
            e.recent.record(now, true);
            map.insert(t.clone(), e);
            return;
        };
        let was = e.state;
        e.state = BreakerState::Closed;
        e.failures = 0;
        e.until = None;
        e.trial = false;
        e.last_error = None;
        e.recent.record(now, true);
        let announced = std::mem::take(&mut e.announced);
        drop(map);
        if matches!(was, BreakerState::Open | BreakerState::HalfOpen) {
            tracing::info!(target = %t, "circuit closed: the entry answered again");
            if announced {
                let _ = self.events.send(Event::Circuit(CircuitChange {
                    target: t.to_string(),
                    state: BreakerState::Closed,
                    last_error: None,
                }));
            }
        }
    }

    /// The entry failed in a way the next entry may not (connect, timeout, 5xx, …).
    pub fn failure(&self, t: &Target, why: &str) {
        if self.cfg.failures == 0 {
            return;
        }
        let now = self.epoch();
        let mut map = lock(&self.entries);
        let e = map.entry(t.clone()).or_default();
        e.failures += 1;
        e.troubled = true;
        e.last_error = Some(why.chars().take(300).collect());
        e.trial = false;
        e.recent.record(now, false);
        let (failed, total) = e.recent.counts(now);
        let opens = match e.state {
            BreakerState::HalfOpen => true,
            BreakerState::Open => false,
            _ => {
                e.failures >= self.cfg.failures
                    || (total >= self.cfg.min_requests
                        && f64::from(failed) >= self.cfg.error_rate * f64::from(total))
            }
        };
        if !opens {
            return;
        }
        e.recent.clear();
        let first = e.state != BreakerState::HalfOpen;
        e.state = BreakerState::Open;
        e.until = Some(Instant::now() + self.cfg.open_for);
        let last_error = e.last_error.clone();
        // One event per outage (a failed trial re-opens quietly), and none for an outage that
        // follows an announced one within `notify_every`.
        let announce = first
            && e.last_open_event
                .is_none_or(|at| at.elapsed() >= self.cfg.notify_every);
        if announce {
            e.last_open_event = Some(Instant::now());
            e.announced = true;
        }
        drop(map);
        if first {
            tracing::warn!(target = %t, error = last_error.as_deref().unwrap_or("-"), "circuit opened");
        }
        if announce {
            let _ = self.events.send(Event::Circuit(CircuitChange {
                target: t.to_string(),
                state: BreakerState::Open,
                last_error,
            }));
        }
    }

    /// A 429: skipped by new requests for `retry_after` (or `open_for` without one); not a
    /// failure.
    pub fn rate_limited(&self, t: &Target, retry_after: Option<Duration>) {
        if self.cfg.failures == 0 {
            return;
        }
        let mut map = lock(&self.entries);
        let e = map.entry(t.clone()).or_default();
        e.troubled = true;
        if e.state == BreakerState::Closed {
            e.state = BreakerState::CoolingDown;
            e.until = Some(Instant::now() + retry_after.unwrap_or(self.cfg.open_for));
            e.last_error = Some("429 rate limited".into());
        }
    }

    fn epoch(&self) -> u64 {
        window::epoch(self.base, Instant::now(), self.cfg.window)
    }

    /// A trial that neither succeeded nor failed (the client left mid-stream): let the next
    /// request try.
    pub fn release(&self, t: &Target) {
        if let Some(e) = lock(&self.entries).get_mut(t) {
            e.trial = false;
        }
    }

    /// An entry's state now (`Closed` for one never seen).
    pub fn state_of(&self, t: &Target) -> BreakerState {
        lock(&self.entries)
            .get(t)
            .map_or(BreakerState::Closed, |e| e.state)
    }

    /// Every entry that has failed or been rate limited since the start, with its state now.
    pub fn snapshot(&self) -> Vec<EntryHealth> {
        let now = Instant::now();
        let map = lock(&self.entries);
        let mut out: Vec<EntryHealth> = map
            .iter()
            .filter(|(_, e)| e.troubled)
            .map(|(t, e)| EntryHealth {
                target: t.to_string(),
                state: e.state,
                consecutive_failures: e.failures,
                last_error: e.last_error.clone(),
                retry_in_s: e
                    .until
                    .filter(|u| *u > now)
                    .map(|u| (u - now).as_secs_f64()),
            })
            .collect();
        out.sort_by(|a, b| a.target.cmp(&b.target));
        out
    }
}
