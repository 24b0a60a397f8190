//! Chart geometry, free of any drawing: nice axis ticks, linear scales, the bucket axis of a
//! time series, stacking of series per bucket (the largest first, the tail merged into
//! "other"), sparkline paths and budget bars. The SVG components only place what these
//! functions computed.

use std::collections::HashMap;

use crate::types::Point;

/// At most this many series get their own colour; the rest are summed as "other".
pub const MAX_SERIES: usize = 8;
/// The name of the merged tail.
pub const OTHER: &str = "other";

/// Colour slots (CSS classes `s0`..`s8`); `s8` is always "other".
pub fn series_class(i: usize, key: &str) -> String {
    if key == OTHER {
        "s8".into()
    } else {
        format!("s{}", i % MAX_SERIES)
    }
}

/// Ticks from 0 to a "nice" maximum at or above `max`: steps of 1, 2, 2.5 or 5 times a power
/// of ten, about `target` steps. An empty or zero range gets `[0, 1]`.
pub fn nice_ticks(max: f64, target: usize) -> Vec<f64> {
    let target = target.max(1) as f64;
    if !max.is_finite() || max <= 0.0 {
        return vec![0.0, 1.0];
    }
    let raw = max / target;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw * 0.999_999)
        .unwrap_or(10.0 * mag);
    let n = (max / step - 1e-9).ceil().max(1.0) as usize;
    (0..=n).map(|i| round_to(i as f64 * step, step)).collect()
}

/// Rounds away float noise so 0.1 * 3 prints as 0.3.
fn round_to(v: f64, step: f64) -> f64 {
    let decimals = (-step.log10()).ceil().max(0.0) as i32 + 2;
    let f = 10f64.powi(decimals);
    (v * f).round() / f
}

/// Maps a domain onto a range linearly (a range may run backwards, as SVG's y does).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Linear {
    pub d0: f64,
    pub d1: f64,
    pub r0: f64,
    pub r1: f64,
}

impl Linear {
    pub fn new(domain: (f64, f64), range: (f64, f64)) -> Self {
        Self {
            d0: domain.0,
            d1: domain.1,
            r0: range.0,
            r1: range.1,
        }
    }

    pub fn map(&self, v: f64) -> f64 {
        let span = self.d1 - self.d0;
        if span == 0.0 {
            return self.r0;
        }
        self.r0 + (v - self.d0) / span * (self.r1 - self.r0)
    }
}

/// Bucket width of a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    Hour,
    Day,
}

impl Bucket {
    pub fn parse(s: &str) -> Bucket {
        if s == "hour" {
            Bucket::Hour
        } else {
            Bucket::Day
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::Hour => "hour",
            Bucket::Day => "day",
        }
    }

    pub fn ms(self) -> i64 {
        match self {
            Bucket::Hour => 3_600_000,
            Bucket::Day => 86_400_000,
        }
    }

    /// The start of the bucket holding `t`: the hour, or local midnight (`offset_min` east
    /// of UTC).
    pub fn floor(self, t: i64, offset_min: i32) -> i64 {
        match self {
            Bucket::Hour => t.div_euclid(3_600_000) * 3_600_000,
            Bucket::Day => {
                let off = i64::from(offset_min) * 60_000;
                (t + off).div_euclid(86_400_000) * 86_400_000 - off
            }
        }
    }
}

/// Every bucket start from the one holding `since` to the one holding `until - 1`, so empty
/// buckets show as gaps, not as a squeezed axis. Capped at `max` buckets (the newest kept).
pub fn bucket_starts(
    since: i64,
    until: i64,
    bucket: Bucket,
    offset_min: i32,
    max: usize,
) -> Vec<i64> {
    if until <= since {
        return Vec::new();
    }
    let first = bucket.floor(since, offset_min);
    let last = bucket.floor(until - 1, offset_min);
    let n = ((last - first) / bucket.ms()) as usize + 1;
    let skip = n.saturating_sub(max);
    (skip..n).map(|i| first + i as i64 * bucket.ms()).collect()
}

/// One series of a stacked chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub key: String,
    /// Sum over every bucket.
    pub total: f64,
    /// One value per bucket.
    pub values: Vec<f64>,
}

/// A stacked chart's data: buckets on x, series stacked in order (the largest at the bottom).
#[derive(Debug, Clone, PartialEq)]
pub struct Stacked {
    pub starts: Vec<i64>,
    pub bucket_ms: i64,
    pub series: Vec<Series>,
    /// The sum of every series per bucket.
    pub totals: Vec<f64>,
}

impl Stacked {
    /// The highest stack.
    pub fn max_total(&self) -> f64 {
        self.totals.iter().copied().fold(0.0, f64::max)
    }

    /// `(y0, y1)` of series `s` in bucket `b`: where its band starts and ends.
    pub fn band(&self, s: usize, b: usize) -> (f64, f64) {
        let y0: f64 = self.series[..s].iter().map(|x| x.values[b]).sum();
        (y0, y0 + self.series[s].values[b])
    }
}

/// Stacks `points` (one value per bucket and key, as `value` reads it) onto the `starts`
/// axis. A point lands in the bucket nearest its time, which absorbs the hour a daylight
/// saving change adds to or takes from a day; points outside the axis are dropped. Series are
/// ordered by total, largest first; past `max_series` the rest are summed as "other".
pub fn stack(
    points: &[Point],
    starts: &[i64],
    bucket_ms: i64,
    max_series: usize,
    value: impl Fn(&Point) -> f64,
) -> Stacked {
    let nb = starts.len();
    let mut by_key: HashMap<&str, Vec<f64>> = HashMap::new();
    if let Some(&first) = starts.first() {
        for p in points {
            let idx = ((p.t_ms - first) as f64 / bucket_ms as f64).round();
            if idx < 0.0 || idx >= nb as f64 {
                continue;
            }
            let v = value(p);
            if !v.is_finite() {
                continue;
            }
            by_key
                .entry(p.key.as_str())
                .or_insert_with(|| vec![0.0; nb])[idx as usize] += v;
        }
    }
    let mut series: Vec<Series> = by_key
        .into_iter()
        .map(|(k, values)| Series {
            key: k.to_string(),
            total: values.iter().sum(),
            values,
        })
        .collect();
    series.sort_by(|a, b| b.total.total_cmp(&a.total).then_with(|| a.key.cmp(&b.key)));
    if series.len() > max_series.max(1) {
        let keep = max_series.max(1) - 1;
        let tail = series.split_off(keep);
        let mut other = Series {
            key: OTHER.to_string(),
            total: 0.0,
            values: vec![0.0; nb],
        };
        for s in tail {
            other.total += s.total;
            for (o, v) in other.values.iter_mut().zip(s.values) {
                *o += v;
            }
        }
        series.push(other);
    }
    let totals = (0..nb)
        .map(|b| series.iter().map(|s| s.values[b]).sum())
        .collect();
    Stacked {
        starts: starts.to_vec(),
        bucket_ms,
        series,
        totals,
    }
}

/// Which bucket indexes get an x-axis label: about `max_labels`, evenly spaced, always
/// including the first.
pub fn label_every(n: usize, max_labels: usize) -> usize {
    if n == 0 {
        return 1;
    }
    n.div_ceil(max_labels.max(1)).max(1)
}

/// Hours between labels on an hourly axis of `n` buckets: a step that divides a day (or a
/// whole number of days), so labels fall on 00:00, 06:00, 12:00 ... and read as times.
pub fn hour_label_step(n: usize, max_labels: usize) -> usize {
    let want = n.div_ceil(max_labels.max(1)).max(1);
    [1, 2, 3, 4, 6, 12, 24, 48, 72, 168]
        .into_iter()
        .find(|s| *s >= want)
        .unwrap_or(want.div_ceil(24) * 24)
}

/// Whether the bucket starting at `t` gets a label on an hourly axis with `step` hours
/// between labels (local time, `offset_min` east of UTC).
pub fn hour_labelled(t: i64, offset_min: i32, step: usize) -> bool {
    let local_h = (t + i64::from(offset_min) * 60_000).div_euclid(3_600_000);
    local_h.rem_euclid(step as i64) == 0
}

/// An SVG path (`M x y L x y ...`) through `values`, scaled into `w` × `h` with `max` at
/// the top; empty for no values.
pub fn sparkline(values: &[f64], w: f64, h: f64, max: f64) -> String {
    if values.is_empty() {
        return String::new();
    }
    let x = Linear::new((0.0, (values.len().max(2) - 1) as f64), (0.0, w));
    let y = Linear::new((0.0, if max > 0.0 { max } else { 1.0 }), (h, 0.0));
    let mut d = String::new();
    for (i, v) in values.iter().enumerate() {
        let cmd = if i == 0 { 'M' } else { 'L' };
        d.push_str(&format!(
            "{cmd}{:.1} {:.1} ",
            x.map(i as f64),
            y.map(v.clamp(0.0, max.max(1e-12)))
        ));
    }
    d.trim_end().to_string()
}

/// Where things sit on a budget's bar, in percent of its width.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetBar {
    /// The bar spans 0..`scale_usd`: the budget, or more when spend, the hard limit or the
    /// projection go past it.
    pub scale_usd: f64,
    pub spent_pct: f64,
    pub reserved_pct: f64,
    /// Where 100% of the budget is.
    pub budget_pct: f64,
    pub hard_limit_pct: Option<f64>,
    pub projected_pct: f64,
    /// The soft thresholds: (their percent of the budget, position, fired).
    pub thresholds: Vec<(f64, f64, bool)>,
    /// Spend as a share of the budget (may pass 100).
    pub used_of_budget_pct: f64,
}

pub fn budget_bar(
    usd: f64,
    spent: f64,
    reserved: f64,
    hard_limit: Option<f64>,
    projected: f64,
    thresholds: &[f64],
    fired: &[f64],
) -> BudgetBar {
    let scale = [usd, spent + reserved, hard_limit.unwrap_or(0.0), projected]
        .into_iter()
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let scale = if scale > 0.0 { scale } else { 1.0 };
    let at = |v: f64| (v / scale * 100.0).clamp(0.0, 100.0);
    BudgetBar {
        scale_usd: scale,
        spent_pct: at(spent),
        reserved_pct: at(spent + reserved) - at(spent),
        budget_pct: at(usd),
        hard_limit_pct: hard_limit.map(at),
        projected_pct: at(projected),
        thresholds: thresholds
            .iter()
            .map(|t| {
                let was = fired.iter().any(|f| (f - t).abs() < 1e-9);
                (*t, at(usd * t / 100.0), was)
            })
            .collect(),
        used_of_budget_pct: if usd > 0.0 { spent / usd * 100.0 } else { 0.0 },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(t: i64, key: &str, cost: f64) -> Point {
        Point {
            t_ms: t,
            key: key.into(),
            requests: 1,
            tokens: 10,
            cost_usd: cost,
            unpriced_requests: 0,
        }
    }

    #[test]
    fn ticks_are_round_and_cover_the_maximum() {
        assert_eq!(nice_ticks(0.0, 4), vec![0.0, 1.0]);
        assert_eq!(nice_ticks(9.3, 4), vec![0.0, 2.5, 5.0, 7.5, 10.0]);
        assert_eq!(nice_ticks(100.0, 4), vec![0.0, 25.0, 50.0, 75.0, 100.0]);
        assert_eq!(nice_ticks(0.034, 4), vec![0.0, 0.01, 0.02, 0.03, 0.04]);
        assert_eq!(nice_ticks(0.3, 3), vec![0.0, 0.1, 0.2, 0.3]);
        assert_eq!(nice_ticks(1.0, 5), vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        let t = nice_ticks(1234.0, 5);
        assert!(*t.last().unwrap() >= 1234.0 && t.len() <= 7, "{t:?}");
    }

    #[test]
    fn linear_scales_run_either_way() {
        let y = Linear::new((0.0, 10.0), (200.0, 0.0));
        assert_eq!(y.map(0.0), 200.0);
        assert_eq!(y.map(10.0), 0.0);
        assert_eq!(y.map(2.5), 150.0);
        assert_eq!(Linear::new((5.0, 5.0), (0.0, 1.0)).map(7.0), 0.0);
    }

    #[test]
    fn buckets_cover_the_range_in_local_days() {
        let h = 3_600_000;
        let day = 24 * h;
        // UTC+2: local midnight is 22:00 UTC the day before.
        let off = 120;
        let since = 10 * day + 5 * h; // 07:00 local
        let until = 12 * day + 23 * h; // 01:00 local, day 13
        let s = bucket_starts(since, until, Bucket::Day, off, 100);
        assert_eq!(
            s,
            vec![
                10 * day - 2 * h,
                11 * day - 2 * h,
                12 * day - 2 * h,
                13 * day - 2 * h
            ]
        );
        let s = bucket_starts(5 * h + 10, 8 * h, Bucket::Hour, 0, 100);
        assert_eq!(s, vec![5 * h, 6 * h, 7 * h]);
        let s = bucket_starts(0, 10 * h, Bucket::Hour, 0, 4);
        assert_eq!(s, vec![6 * h, 7 * h, 8 * h, 9 * h]);
        assert!(bucket_starts(5, 5, Bucket::Hour, 0, 10).is_empty());
    }

    #[test]
    fn series_stack_largest_first_and_buckets_fill_gaps() {
        let h = 3_600_000;
        let starts = vec![0, h, 2 * h];
        let pts = vec![
            pt(0, "a", 1.0),
            pt(0, "b", 2.0),
            pt(2 * h, "a", 0.5),
            pt(2 * h, "b", 0.25),
        ];
        let st = stack(&pts, &starts, h, 8, |p| p.cost_usd);
        assert_eq!(st.series.len(), 2);
        assert_eq!(st.series[0].key, "b");
        assert_eq!(st.series[0].values, vec![2.0, 0.0, 0.25]);
        assert_eq!(st.series[1].values, vec![1.0, 0.0, 0.5]);
        assert_eq!(st.totals, vec![3.0, 0.0, 0.75]);
        assert_eq!(st.band(1, 0), (2.0, 3.0));
        assert_eq!(st.max_total(), 3.0);
    }

    #[test]
    fn a_day_shortened_by_daylight_saving_lands_in_its_bucket() {
        let day = 86_400_000;
        let starts = vec![0, day, 2 * day];
        // The third day starts an hour early (clocks went forward).
        let pts = vec![pt(2 * day - 3_600_000, "a", 1.0), pt(-5 * day, "a", 9.0)];
        let st = stack(&pts, &starts, day, 8, |p| p.cost_usd);
        assert_eq!(st.series[0].values, vec![0.0, 0.0, 1.0]);
    }

    #[test]
    fn the_tail_of_many_series_is_merged_into_other() {
        let pts: Vec<Point> = (0..12)
            .map(|i| pt(0, &format!("m{i:02}"), f64::from(i + 1)))
            .collect();
        let st = stack(&pts, &[0], 3_600_000, 4, |p| p.cost_usd);
        let keys: Vec<&str> = st.series.iter().map(|s| s.key.as_str()).collect();
        assert_eq!(keys, vec!["m11", "m10", "m09", OTHER]);
        // 1 + 2 + ... + 9
        assert_eq!(st.series[3].total, 45.0);
        assert_eq!(st.totals, vec![78.0]);
        assert_eq!(series_class(3, OTHER), "s8");
        assert_eq!(series_class(3, "m09"), "s3");
    }

    #[test]
    fn labels_thin_out_on_long_axes() {
        assert_eq!(label_every(7, 8), 1);
        assert_eq!(label_every(24, 8), 3);
        assert_eq!(label_every(168, 8), 21);
        assert_eq!(label_every(0, 8), 1);
    }

    #[test]
    fn hourly_labels_fall_on_round_hours() {
        assert_eq!(hour_label_step(24, 12), 2);
        assert_eq!(hour_label_step(168, 12), 24);
        assert_eq!(hour_label_step(48, 12), 4);
        assert_eq!(hour_label_step(720, 12), 72);
        assert_eq!(hour_label_step(5, 12), 1);
        let h = 3_600_000;
        // UTC+2: 22:00 UTC is local midnight.
        assert!(hour_labelled(22 * h, 120, 24));
        assert!(!hour_labelled(0, 120, 24));
        assert!(hour_labelled(4 * h, 120, 6));
        assert!(!hour_labelled(5 * h, 120, 6));
    }

    #[test]
    fn sparkline_paths_fit_their_box() {
        assert_eq!(sparkline(&[], 100.0, 20.0, 100.0), "");
        assert_eq!(
            sparkline(&[0.0, 50.0, 100.0], 100.0, 20.0, 100.0),
            "M0.0 20.0 L50.0 10.0 L100.0 0.0"
        );
        assert_eq!(sparkline(&[50.0], 100.0, 20.0, 100.0), "M0.0 10.0");
    }

    #[test]
    fn budget_bars_place_marks_on_one_scale() {
        let b = budget_bar(100.0, 40.0, 10.0, Some(120.0), 90.0, &[50.0, 80.0], &[50.0]);
        assert_eq!(b.scale_usd, 120.0);
        assert!((b.spent_pct - 33.333).abs() < 0.01);
        assert!((b.reserved_pct - 8.333).abs() < 0.01);
        assert!((b.budget_pct - 83.333).abs() < 0.01);
        assert_eq!(b.hard_limit_pct, Some(100.0));
        assert!((b.projected_pct - 75.0).abs() < 0.01);
        assert_eq!(b.thresholds.len(), 2);
        assert!((b.thresholds[0].1 - 41.667).abs() < 0.01 && b.thresholds[0].2);
        assert!(!b.thresholds[1].2);
        assert!((b.used_of_budget_pct - 40.0).abs() < 1e-9);
        let z = budget_bar(0.0, 0.0, 0.0, None, 0.0, &[], &[]);
        assert_eq!(z.scale_usd, 1.0);
        assert_eq!(z.used_of_budget_pct, 0.0);
    }
}
