//! Fixed-size tallies kept per route entry and per provider on the request path: outcomes over
//! a sliding time window (slots, no allocation per request) and the latest latencies.

use std::time::{Duration, Instant};

const SLOTS: u64 = 10;

/// Successes and failures over the last `window`, in `SLOTS` slices of it.
#[derive(Debug, Clone)]
pub(crate) struct OutcomeWindow {
    epoch: u64,
    slots: [[u32; 2]; SLOTS as usize],
}

impl Default for OutcomeWindow {
    fn default() -> Self {
        Self {
            epoch: 0,
            slots: [[0; 2]; SLOTS as usize],
        }
    }
}

/// Which slice of time `now` falls in, counted from `base` in slices of `window / SLOTS`.
pub(crate) fn epoch(base: Instant, now: Instant, window: Duration) -> u64 {
    let slice = (window.as_nanos() / u128::from(SLOTS)).max(1);
    (now.saturating_duration_since(base).as_nanos() / slice) as u64
}

impl OutcomeWindow {
    fn advance(&mut self, e: u64) {
        if e <= self.epoch {
            return;
        }
        for i in 1..=(e - self.epoch).min(SLOTS) {
            self.slots[((self.epoch + i) % SLOTS) as usize] = [0, 0];
        }
        self.epoch = e;
    }

    pub(crate) fn record(&mut self, e: u64, ok: bool) {
        self.advance(e);
        self.slots[(e % SLOTS) as usize][usize::from(ok)] += 1;
    }

    /// (failures, total) within the window ending at epoch `e`.
    pub(crate) fn counts(&mut self, e: u64) -> (u32, u32) {
        self.advance(e);
        let failed: u32 = self.slots.iter().map(|s| s[0]).sum();
        let ok: u32 = self.slots.iter().map(|s| s[1]).sum();
        (failed, failed + ok)
    }

    pub(crate) fn clear(&mut self) {
        self.slots = [[0; 2]; SLOTS as usize];
    }
}

/// The last `N` latencies, for percentiles.
#[derive(Debug, Clone, Default)]
pub(crate) struct LatencyRing {
    ms: Vec<f32>,
    next: usize,
}

const RING: usize = 128;

impl LatencyRing {
    pub(crate) fn push(&mut self, d: Duration) {
        let v = d.as_secs_f32() * 1000.0;
        if self.ms.len() < RING {
            self.ms.push(v);
        } else {
            self.ms[self.next] = v;
        }
        self.next = (self.next + 1) % RING;
    }

    /// p50, p95, p99 in milliseconds (nearest rank); None with no samples.
    pub(crate) fn percentiles(&self) -> Option<Percentiles> {
        if self.ms.is_empty() {
            return None;
        }
        let mut v = self.ms.clone();
        v.sort_by(f32::total_cmp);
        let at = |p: f64| {
            let rank = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len());
            f64::from(v[rank - 1])
        };
        Some(Percentiles {
            p50: at(0.50),
            p95: at(0.95),
            p99: at(0.99),
            samples: v.len(),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub samples: usize,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_window_forgets_what_is_older_than_it() {
        let mut w = OutcomeWindow::default();
        w.record(0, false);
        w.record(3, true);
        w.record(9, false);
        assert_eq!(w.counts(9), (2, 3));
        // Slot 0 leaves the window at epoch 10.
        assert_eq!(w.counts(10), (1, 2));
        assert_eq!(w.counts(25), (0, 0));
    }

    #[test]
    fn percentiles_are_nearest_rank_over_the_last_samples() {
        let mut r = LatencyRing::default();
        for ms in 1..=200u64 {
            r.push(Duration::from_millis(ms));
        }
        // The ring holds 73..=200.
        let p = r.percentiles().unwrap();
        assert_eq!(p.samples, 128);
        assert_eq!(p.p50, 136.0);
        assert_eq!(p.p99, 199.0);
    }
}
