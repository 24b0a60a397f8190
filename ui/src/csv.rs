//! The Costs page's CSV export, made in the browser from the series on screen: one row per
//! bucket and group, oldest first, times in local time with their UTC milliseconds beside
//! them so a spreadsheet can read either.

use crate::format;
use crate::types::Point;

/// A CSV field: quoted when it holds a comma, quote or line break (RFC 4180); a leading
/// `=`, `+`, `-` or `@` is prefixed with `'` so a spreadsheet does not run it as a formula.
pub fn field(s: &str) -> String {
    let s = match s.chars().next() {
        Some('=' | '+' | '-' | '@') => format!("'{s}"),
        _ => s.to_string(),
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// The series as CSV. `group_by` names the key column; `offset_of` gives the UTC offset in
/// minutes at an instant (the browser's time zone; a parameter so tests are exact).
pub fn series_csv(points: &[Point], group_by: &str, offset_of: impl Fn(i64) -> i32) -> String {
    let mut rows: Vec<&Point> = points.iter().collect();
    rows.sort_by(|a, b| a.t_ms.cmp(&b.t_ms).then_with(|| a.key.cmp(&b.key)));
    let group_col = if group_by.is_empty() {
        "group"
    } else {
        group_by
    };
    let mut out = format!(
        "bucket_start_local,bucket_start_ms,{},requests,tokens,cost_usd,unpriced_requests\r\n",
        field(group_col)
    );
    for p in rows {
        out.push_str(&format!(
            "{},{},{},{},{},{},{}\r\n",
            format::datetime_min(p.t_ms, offset_of(p.t_ms)),
            p.t_ms,
            field(&p.key),
            p.requests,
            p.tokens,
            cost(p.cost_usd),
            p.unpriced_requests
        ));
    }
    out
}

/// Full precision without float noise or exponents: 0.000123, 12.5.
fn cost(v: f64) -> String {
    let s = format!("{v:.10}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

/// The export's file name: `lodestar-costs-model-hour-2026-11-25.csv`.
pub fn file_name(group_by: &str, bucket: &str, now_ms: i64, offset_min: i32) -> String {
    let day = &format::datetime(now_ms, offset_min)[..10];
    format!("lodestar-costs-{group_by}-{bucket}-{day}.csv")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(t: i64, key: &str, cost: f64) -> Point {
        Point {
            t_ms: t,
            key: key.into(),
            requests: 2,
            tokens: 30,
            cost_usd: cost,
            unpriced_requests: 0,
        }
    }

    #[test]
    fn rows_are_sorted_and_quoted() {
        let pts = vec![
            pt(3_600_000, "b", 0.5),
            pt(0, "a,\"x\"", 0.000_123),
            pt(0, "=cmd", 0.0),
        ];
        let csv = series_csv(&pts, "model", |_| 60);
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert_eq!(
            lines[0],
            "bucket_start_local,bucket_start_ms,model,requests,tokens,cost_usd,unpriced_requests"
        );
        assert_eq!(lines[1], "1970-01-01 01:00,0,'=cmd,2,30,0,0");
        assert_eq!(
            lines[2],
            "1970-01-01 01:00,0,\"a,\"\"x\"\"\",2,30,0.000123,0"
        );
        assert_eq!(lines[3], "1970-01-01 02:00,3600000,b,2,30,0.5,0");
        assert_eq!(lines[4], "");
        assert_eq!(lines.len(), 5);
    }

    #[test]
    fn an_empty_series_is_just_the_header() {
        assert_eq!(series_csv(&[], "", |_| 0).lines().count(), 1);
        assert!(series_csv(&[], "", |_| 0).contains(",group,"));
    }

    #[test]
    fn file_names_say_what_and_when() {
        assert_eq!(
            file_name("model", "hour", 1_795_611_787_000, 0),
            "lodestar-costs-model-hour-2026-11-25.csv"
        );
    }
}
