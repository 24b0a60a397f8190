//! How numbers read on screen: money, token counts, durations, bytes, percentages and local
//! times. One function per kind of value, so every page shows a value the same way (and the
//! e2e test can format an expected value by the same rule).

/// Dollars: `$1,234.56` from one dollar up, `$0.0123` below (four decimals, like the CLI),
/// `<$0.0001` for a tiny positive amount, `$0.00` for nothing.
pub fn usd(v: f64) -> String {
    if !v.is_finite() {
        return "—".into();
    }
    if v < 0.0 {
        return format!("-{}", usd(-v));
    }
    if v == 0.0 {
        "$0.00".into()
    } else if v >= 1.0 {
        let cents = (v * 100.0).round() as u64;
        format!("${}.{:02}", group_thousands(cents / 100), cents % 100)
    } else if v < 0.000_05 {
        "<$0.0001".into()
    } else {
        let s = format!("${v:.4}");
        // 0.99996 rounds to 1.0000: say it the way amounts from a dollar up are said.
        if s == "$1.0000" { "$1.00".into() } else { s }
    }
}

/// Short dollars for chart axes: `$0`, `$0.05`, `$1.5`, `$120`, `$1.2k`.
pub fn usd_axis(v: f64) -> String {
    let a = v.abs();
    let sign = if v < 0.0 { "-" } else { "" };
    if a == 0.0 {
        "$0".into()
    } else if a >= 1000.0 {
        format!("{sign}${}k", trim_zeros(&format!("{:.1}", a / 1000.0)))
    } else if a >= 10.0 {
        format!("{sign}${a:.0}")
    } else if a >= 1.0 {
        format!("{sign}${}", trim_zeros(&format!("{a:.2}")))
    } else {
        // Enough decimals to tell ticks apart: 0.05, 0.005, 0.0005 ...
        let decimals = ((-a.log10()).ceil() as usize + 1).clamp(2, 6);
        format!("{sign}${}", trim_zeros(&format!("{a:.decimals$}")))
    }
}

/// Rates in the `per` unit: `$0.15/M tok`.
pub fn usd_per_mtok(v: Option<f64>) -> String {
    match v {
        None => "no price".into(),
        Some(0.0) => "free".into(),
        Some(p) => format!("{}/M", usd_plain(p)),
    }
}

/// Dollars with only the decimals that say something: `$3`, `$0.15`, `$2.5`.
fn usd_plain(v: f64) -> String {
    format!("${}", trim_zeros(&format!("{v:.4}")))
}

/// Token counts: `950`, `12.3k`, `4.56M`, `1.2B`.
pub fn tokens(n: i64) -> String {
    let a = n.unsigned_abs() as f64;
    let sign = if n < 0 { "-" } else { "" };
    if a < 1000.0 {
        format!("{n}")
    } else if a < 1e6 {
        format!("{sign}{}k", sig3(a / 1e3))
    } else if a < 1e9 {
        format!("{sign}{}M", sig3(a / 1e6))
    } else {
        format!("{sign}{}B", sig3(a / 1e9))
    }
}

/// A context window, compact: `4K`, `32K`, `128K`, `200K`, `1M`, `1.5K`, `512`.
///
/// The rule: a size that is a multiple of 1024 is counted in binary thousands (K = 1,024,
/// M = 1,048,576), as model cards say "32K" for 32,768 and "128K" for 131,072; any other size
/// in decimal ones (K = 1,000, M = 1,000,000: 200,000 is "200K", 8,000 "8K"). Below one K the
/// exact number. One decimal below 10 (`1.5K`, `1.5M`), whole numbers from 10 (`12K` for
/// 12,345), trailing `.0` dropped; a size that would read 1000K or more is said in M.
/// The exact count belongs in a tooltip next to it.
pub fn context_size(n: u64) -> String {
    let base: u64 = if n > 0 && n.is_multiple_of(1024) {
        1024
    } else {
        1000
    };
    if n < base {
        return n.to_string();
    }
    let short = |v: f64| {
        if v < 9.95 {
            trim_zeros(&format!("{v:.1}"))
        } else {
            format!("{v:.0}")
        }
    };
    let b = base as f64;
    let k = n as f64 / b;
    if k.round() < 1000.0 {
        format!("{}K", short(k))
    } else {
        format!("{}M", short(n as f64 / (b * b)))
    }
}

/// Whole counts with thousands separators: `12,345`.
pub fn count(n: i64) -> String {
    let s = group_thousands(n.unsigned_abs());
    if n < 0 { format!("-{s}") } else { s }
}

/// A count with its noun: `1 cache hit`, `3 cache hits`, `1,204 errors`.
pub fn plural(n: i64, one: &str, many: &str) -> String {
    format!("{} {}", count(n), if n == 1 { one } else { many })
}

/// Milliseconds for latencies: `85 ms`, `1.25 s`, `2m 05s`.
pub fn millis(ms: f64) -> String {
    if !ms.is_finite() || ms < 0.0 {
        return "—".into();
    }
    if ms < 10.0 {
        format!("{} ms", trim_zeros(&format!("{ms:.1}")))
    } else if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else if ms < 60_000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else {
        let s = (ms / 1000.0).round() as u64;
        format!("{}m {:02}s", s / 60, s % 60)
    }
}

/// Seconds for uptimes and countdowns: `45s`, `12m 03s`, `5h 12m`, `3d 4h`.
pub fn seconds(s: f64) -> String {
    if !s.is_finite() || s < 0.0 {
        return "—".into();
    }
    let s = s.round() as u64;
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else if s < 86_400 {
        format!("{}h {:02}m", s / 3600, (s % 3600) / 60)
    } else {
        format!("{}d {}h", s / 86_400, (s % 86_400) / 3600)
    }
}

/// Bytes in binary units: `512 B`, `3.4 KiB`, `7.8 GiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    format!("{} {}", sig3(v), UNITS[u])
}

/// A fraction (0..1) as a percentage: `99.2%`, `100%`, `0%`.
pub fn fraction_pct(f: f64) -> String {
    if !f.is_finite() {
        return "—".into();
    }
    pct(f * 100.0)
}

/// A percentage: `42%`, `99.2%`, `0.5%`.
pub fn pct(p: f64) -> String {
    if !p.is_finite() {
        return "—".into();
    }
    if p == 0.0 || p >= 100.0 || (p - p.round()).abs() < 0.05 {
        format!("{p:.0}%")
    } else {
        format!("{p:.1}%")
    }
}

/// A local time: `2026-11-25 14:03:07`. `offset_min` is minutes east of UTC at that instant.
pub fn datetime(ms: i64, offset_min: i32) -> String {
    let c = civil(ms, offset_min);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// A local time to the minute: `2026-11-25 14:03` (CSV rows, chart tooltips).
pub fn datetime_min(ms: i64, offset_min: i32) -> String {
    let c = civil(ms, offset_min);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        c.year, c.month, c.day, c.hour, c.minute
    )
}

/// Clock time: `14:03:07`.
pub fn clock(ms: i64, offset_min: i32) -> String {
    let c = civil(ms, offset_min);
    format!("{:02}:{:02}:{:02}", c.hour, c.minute, c.second)
}

/// A time for tables: the clock alone today (`14:03:07`), else with the day
/// (`Nov 24 14:03`), and with the year when it is another year (`2025-11-24 14:03`).
pub fn short_time(ms: i64, now_ms: i64, offset_min: i32) -> String {
    let (c, n) = (civil(ms, offset_min), civil(now_ms, offset_min));
    if (c.year, c.month, c.day) == (n.year, n.month, n.day) {
        clock(ms, offset_min)
    } else if c.year == n.year {
        format!(
            "{} {:02}:{:02}",
            day_label(ms, offset_min),
            c.hour,
            c.minute
        )
    } else {
        datetime_min(ms, offset_min)
    }
}

/// A day for axes: `Nov 25`.
pub fn day_label(ms: i64, offset_min: i32) -> String {
    let c = civil(ms, offset_min);
    format!("{} {}", MONTHS[(c.month - 1) as usize], c.day)
}

/// An hour for axes: `14:00`.
pub fn hour_label(ms: i64, offset_min: i32) -> String {
    let c = civil(ms, offset_min);
    format!("{:02}:00", c.hour)
}

/// How long ago, for "updated" notes: `just now`, `12 s ago`, `5 min ago`, `3 h ago`.
pub fn ago(ms: i64, now_ms: i64) -> String {
    let s = (now_ms - ms).max(0) / 1000;
    if s < 3 {
        "just now".into()
    } else if s < 60 {
        format!("{s} s ago")
    } else if s < 3600 {
        format!("{} min ago", s / 60)
    } else if s < 86_400 {
        format!("{} h ago", s / 3600)
    } else {
        format!("{} d ago", s / 86_400)
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

/// The calendar date and time of `ms` at `offset_min` east of UTC (proleptic Gregorian;
/// Howard Hinnant's days-from-civil inverse).
pub fn civil(ms: i64, offset_min: i32) -> Civil {
    let secs = ms.div_euclid(1000) + i64::from(offset_min) * 60;
    let days = secs.div_euclid(86_400);
    let tod = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    Civil {
        year,
        month,
        day,
        hour: (tod / 3600) as u32,
        minute: ((tod % 3600) / 60) as u32,
        second: (tod % 60) as u32,
    }
}

fn group_thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// Three significant figures, trailing zeros dropped: 1.5, 12.3, 456.
fn sig3(v: f64) -> String {
    let s = if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    };
    trim_zeros(&s)
}

fn trim_zeros(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollars_read_like_the_cli() {
        assert_eq!(usd(0.0), "$0.00");
        assert_eq!(usd(0.0123), "$0.0123");
        assert_eq!(usd(0.000_12), "$0.0001");
        assert_eq!(usd(0.000_01), "<$0.0001");
        assert_eq!(usd(1.0), "$1.00");
        assert_eq!(usd(0.999_99), "$1.00");
        assert_eq!(usd(12.345), "$12.35");
        assert_eq!(usd(1234.5), "$1,234.50");
        assert_eq!(usd(1_234_567.891), "$1,234,567.89");
        assert_eq!(usd(-2.5), "-$2.50");
        assert_eq!(usd(f64::NAN), "—");
    }

    #[test]
    fn axis_dollars_are_short_and_distinct() {
        assert_eq!(usd_axis(0.0), "$0");
        assert_eq!(usd_axis(0.05), "$0.05");
        assert_eq!(usd_axis(0.005), "$0.005");
        assert_eq!(usd_axis(0.0025), "$0.0025");
        assert_eq!(usd_axis(1.5), "$1.5");
        assert_eq!(usd_axis(2.0), "$2");
        assert_eq!(usd_axis(120.0), "$120");
        assert_eq!(usd_axis(1500.0), "$1.5k");
    }

    #[test]
    fn prices_per_million_tokens() {
        assert_eq!(usd_per_mtok(None), "no price");
        assert_eq!(usd_per_mtok(Some(0.0)), "free");
        assert_eq!(usd_per_mtok(Some(0.15)), "$0.15/M");
        assert_eq!(usd_per_mtok(Some(3.0)), "$3/M");
    }

    #[test]
    fn token_counts_are_compact() {
        assert_eq!(tokens(0), "0");
        assert_eq!(tokens(950), "950");
        assert_eq!(tokens(1000), "1k");
        assert_eq!(tokens(12_345), "12.3k");
        assert_eq!(tokens(4_560_000), "4.56M");
        assert_eq!(tokens(1_200_000_000), "1.2B");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(count(-1000), "-1,000");
        assert_eq!(plural(1, "cache hit", "cache hits"), "1 cache hit");
        assert_eq!(plural(0, "error", "errors"), "0 errors");
        assert_eq!(plural(1200, "error", "errors"), "1,200 errors");
    }

    #[test]
    fn context_sizes_read_like_model_cards() {
        // Multiples of 1024: binary K and M.
        assert_eq!(context_size(4096), "4K");
        assert_eq!(context_size(32_768), "32K");
        assert_eq!(context_size(131_072), "128K");
        assert_eq!(context_size(1_048_576), "1M");
        assert_eq!(context_size(1_572_864), "1.5M");
        assert_eq!(context_size(2_097_152), "2M");
        assert_eq!(context_size(1024), "1K");
        // Anything else: decimal.
        assert_eq!(context_size(1_000_000), "1M");
        assert_eq!(context_size(200_000), "200K");
        assert_eq!(context_size(8000), "8K");
        assert_eq!(context_size(1500), "1.5K");
        assert_eq!(context_size(12_345), "12K");
        assert_eq!(context_size(9_960), "10K");
        assert_eq!(context_size(999_999), "1M");
        // Below one K: the number itself.
        assert_eq!(context_size(512), "512");
        assert_eq!(context_size(0), "0");
    }

    #[test]
    fn durations_pick_their_unit() {
        assert_eq!(millis(3.26), "3.3 ms");
        assert_eq!(millis(85.4), "85 ms");
        assert_eq!(millis(1250.0), "1.25 s");
        // Model switch times.
        assert_eq!(millis(2350.4), "2.35 s");
        assert_eq!(millis(850.0), "850 ms");
        assert_eq!(millis(125_000.0), "2m 05s");
        assert_eq!(seconds(45.0), "45s");
        assert_eq!(seconds(723.0), "12m 03s");
        assert_eq!(seconds(5.0 * 3600.0 + 12.0 * 60.0), "5h 12m");
        assert_eq!(seconds(3.0 * 86_400.0 + 4.0 * 3600.0 + 5.0), "3d 4h");
    }

    #[test]
    fn bytes_and_percentages() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(3482), "3.4 KiB");
        assert_eq!(bytes(8 * 1024 * 1024 * 1024), "8 GiB");
        assert_eq!(bytes(24_146_608_128), "22.5 GiB");
        assert_eq!(pct(42.0), "42%");
        assert_eq!(pct(99.24), "99.2%");
        assert_eq!(fraction_pct(0.5), "50%");
        assert_eq!(fraction_pct(0.9926), "99.3%");
        assert_eq!(pct(0.0), "0%");
    }

    #[test]
    fn local_times_from_milliseconds() {
        // 2026-11-25T13:03:07Z
        let ms = 1_795_611_787_000;
        assert_eq!(datetime(ms, 0), "2026-11-25 13:03:07");
        assert_eq!(datetime(ms, 60), "2026-11-25 14:03:07");
        assert_eq!(datetime(ms, -14 * 60), "2026-11-24 23:03:07");
        assert_eq!(datetime_min(ms, 0), "2026-11-25 13:03");
        assert_eq!(clock(ms, 0), "13:03:07");
        assert_eq!(day_label(ms, 0), "Nov 25");
        assert_eq!(hour_label(ms, 330), "18:00");
        assert_eq!(datetime(0, 0), "1970-01-01 00:00:00");
        // A leap day.
        assert_eq!(datetime(1_709_164_800_000, 0), "2024-02-29 00:00:00");
        assert_eq!(datetime(-1000, 0), "1969-12-31 23:59:59");
    }

    #[test]
    fn table_times_drop_what_is_obvious() {
        let now = 1_795_611_787_000; // 2026-11-25 13:03:07 UTC
        assert_eq!(short_time(now - 3_600_000, now, 0), "12:03:07");
        assert_eq!(short_time(now - 86_400_000, now, 0), "Nov 24 13:03");
        assert_eq!(
            short_time(now - 400 * 86_400_000, now, 0),
            "2025-10-21 13:03"
        );
    }

    #[test]
    fn ago_rounds_down() {
        assert_eq!(ago(10_000, 11_000), "just now");
        assert_eq!(ago(0, 42_000), "42 s ago");
        assert_eq!(ago(0, 5 * 60_000 + 1), "5 min ago");
        assert_eq!(ago(0, 3 * 3_600_000), "3 h ago");
    }
}
