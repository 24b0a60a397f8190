//! Pieces the pages share: loading and error notes, state badges, meters, the stacked SVG
//! chart, sparklines and budget bars. Geometry comes from `chart`; these only place it.

use leptos::prelude::*;

use crate::chart::{self, Linear, Stacked};
use crate::format;
use crate::hooks::offset_min;
use crate::types::ApiError;

#[component]
pub fn Loading(#[prop(into, default = "Loading…".into())] what: String) -> impl IntoView {
    view! { <p class="muted loading" role="status" aria-live="polite">{what}</p> }
}

/// A failed call, said plainly; a database that is not open is a note, not an error.
#[component]
pub fn ErrorNote(err: ApiError) -> impl IntoView {
    let storage = err.storage_unavailable();
    let (class, title) = if storage {
        ("callout info", "No ledger data")
    } else {
        ("callout error", "Could not load this")
    };
    let hint = storage.then(|| {
        view! {
            <p class="muted">
                "Costs and the request log need the engine's database: set "
                <code>"storage: { enabled: true }"</code>
                " in the config and restart."
            </p>
        }
    });
    view! {
        <div class=class role="alert" data-testid="error-note">
            <strong>{title}</strong>
            <p>{err.message}</p>
            {hint}
        </div>
    }
}

/// A loaded view, or the note saying why it could not load. Each resource's result is
/// rendered where it is read (rather than through an `ErrorBoundary`): a page with several
/// resources in flight then shows each error in its own place.
pub fn or_error<V: IntoView + 'static>(r: Result<V, ApiError>) -> AnyView {
    match r {
        Ok(v) => v.into_any(),
        Err(err) => view! { <ErrorNote err /> }.into_any(),
    }
}

/// A circuit breaker's or provider's state as a coloured word.
#[component]
pub fn StateBadge(#[prop(into)] state: String) -> impl IntoView {
    let (class, label) = match state.as_str() {
        "closed" => ("badge ok", "closed".to_string()),
        "up" => ("badge ok", "up".to_string()),
        "half_open" => ("badge warn", "half-open".to_string()),
        "cooling_down" => ("badge warn", "cooling down".to_string()),
        "degraded" => ("badge warn", "degraded".to_string()),
        "open" => ("badge bad", "open".to_string()),
        "down" => ("badge bad", "down".to_string()),
        "" | "unknown" => ("badge", "unknown".to_string()),
        other => ("badge", other.replace('_', " ")),
    };
    view! { <span class=class data-state=state.clone()>{label}</span> }
}

/// A number with its label, for the rows of totals at the top of a page.
#[component]
pub fn Stat(
    #[prop(into)] label: String,
    #[prop(into)] value: String,
    #[prop(into, optional)] note: Option<String>,
    #[prop(into, optional)] testid: Option<String>,
) -> impl IntoView {
    view! {
        <div class="stat">
            <div class="stat-label">{label}</div>
            <div class="stat-value" data-testid=testid>{value}</div>
            {note.map(|n| view! { <div class="stat-note">{n}</div> })}
        </div>
    }
}

/// A horizontal meter: `fraction` of it filled; warns from 80% and alarms from 95%.
#[component]
pub fn Meter(fraction: f64, #[prop(into)] label: String) -> impl IntoView {
    let f = if fraction.is_finite() {
        fraction.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let level = if f >= 0.95 {
        "bad"
    } else if f >= 0.8 {
        "warn"
    } else {
        "ok"
    };
    view! {
        <div
            class="meter"
            role="meter"
            aria-label=label
            aria-valuemin="0"
            aria-valuemax="100"
            aria-valuenow=format!("{:.0}", f * 100.0)
        >
            <div class=format!("meter-fill {level}") style=format!("width:{:.2}%", f * 100.0)></div>
        </div>
    }
}

/// A small line of recent values (`max` at the top).
#[component]
pub fn Sparkline(values: Vec<f64>, max: f64, #[prop(into)] label: String) -> impl IntoView {
    let d = chart::sparkline(&values, 120.0, 28.0, max);
    view! {
        <svg class="spark" viewBox="0 0 120 28" preserveAspectRatio="none" role="img" aria-label=label>
            <path d=d></path>
        </svg>
    }
}

/// What a stacked chart counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    Cost,
    Requests,
    Tokens,
}

impl Metric {
    pub fn parse(s: &str) -> Metric {
        match s {
            "requests" => Metric::Requests,
            "tokens" => Metric::Tokens,
            _ => Metric::Cost,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Cost => "cost",
            Metric::Requests => "requests",
            Metric::Tokens => "tokens",
        }
    }

    pub fn value(self, p: &crate::types::Point) -> f64 {
        match self {
            Metric::Cost => p.cost_usd,
            Metric::Requests => p.requests as f64,
            Metric::Tokens => p.tokens as f64,
        }
    }

    pub fn fmt(self, v: f64) -> String {
        match self {
            Metric::Cost => format::usd(v),
            Metric::Requests => format::count(v.round() as i64),
            Metric::Tokens => format::tokens(v.round() as i64),
        }
    }

    fn axis(self, v: f64) -> String {
        match self {
            Metric::Cost => format::usd_axis(v),
            Metric::Requests => format::count(v.round() as i64),
            Metric::Tokens => format::tokens(v.round() as i64),
        }
    }
}

const W: f64 = 960.0;
const H: f64 = 280.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;

/// Spend (or requests, or tokens) per bucket, one colour per group, stacked. Hover or focus
/// the chart and use the arrow keys to read a bucket.
#[component]
pub fn StackedChart(data: Stacked, metric: Metric, hourly: bool) -> impl IntoView {
    let n = data.starts.len();
    let ticks = chart::nice_ticks(data.max_total(), 4);
    let top = ticks.last().copied().unwrap_or(1.0);
    let y = Linear::new((0.0, top), (H - BOTTOM, TOP));
    let slot = (W - LEFT - RIGHT) / n.max(1) as f64;
    let gap = if slot > 6.0 {
        (slot * 0.18).min(6.0)
    } else {
        0.0
    };
    let selected = RwSignal::new(None::<usize>);

    let grid = ticks
        .iter()
        .map(|t| {
            let yy = y.map(*t);
            view! {
                <g class="tick">
                    <line x1=LEFT x2=W - RIGHT y1=yy y2=yy></line>
                    <text x=LEFT - 8.0 y=yy + 4.0 text-anchor="end">{metric.axis(*t)}</text>
                </g>
            }
        })
        .collect_view();

    let every = chart::label_every(n, 10);
    let hour_step = chart::hour_label_step(n, 12);
    let labels = data
        .starts
        .iter()
        .enumerate()
        .filter(|(i, t)| {
            if hourly {
                chart::hour_labelled(**t, offset_min(**t), hour_step)
            } else {
                i % every == 0
            }
        })
        .map(|(i, t)| {
            let off = offset_min(*t);
            let text = if hourly {
                let h = format::hour_label(*t, off);
                if h == "00:00" {
                    format::day_label(*t, off)
                } else {
                    h
                }
            } else {
                format::day_label(*t, off)
            };
            let x = LEFT + slot * (i as f64 + 0.5);
            view! { <text class="xlabel" x=x y=H - 8.0 text-anchor="middle">{text}</text> }
        })
        .collect_view();

    let mut bars = Vec::new();
    for b in 0..n {
        for s in 0..data.series.len() {
            let (y0, y1) = data.band(s, b);
            if y1 - y0 <= 0.0 {
                continue;
            }
            let top_px = y.map(y1);
            let h = (y.map(y0) - top_px).max(0.5);
            bars.push(view! {
                <rect
                    class=chart::series_class(s, &data.series[s].key)
                    x=LEFT + slot * b as f64 + gap / 2.0
                    y=top_px
                    width=(slot - gap).max(0.5)
                    height=h
                ></rect>
            });
        }
    }
    let hits = (0..n)
        .map(|b| {
            view! {
                <rect
                    class="hit"
                    class:on=move || selected.get() == Some(b)
                    x=LEFT + slot * b as f64
                    y=TOP
                    width=slot
                    height=H - TOP - BOTTOM
                    on:mouseenter=move |_| selected.set(Some(b))
                ></rect>
            }
        })
        .collect_view();

    let readout_data = data.clone();
    let readout = move || {
        let d = &readout_data;
        match selected.get() {
            Some(b) if b < d.starts.len() => {
                let t = d.starts[b];
                let when = if hourly {
                    crate::hooks::local_minute(t)
                } else {
                    format::day_label(t, offset_min(t))
                };
                let parts = d
                    .series
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| s.values[b] > 0.0)
                    .map(|(i, s)| {
                        view! {
                            <span class="readout-item">
                                <i class=format!("swatch {}", chart::series_class(i, &s.key))></i>
                                {s.key.clone()}
                                " "
                                <b>{metric.fmt(s.values[b])}</b>
                            </span>
                        }
                    })
                    .collect_view();
                view! {
                    <span class="readout-when">{when}</span>
                    <b class="readout-total">{metric.fmt(d.totals[b])}</b>
                    {parts}
                }
                .into_any()
            }
            _ => view! {
                <span class="muted">"Point at a bar, or focus the chart and use ← →, to read a bucket."</span>
            }
            .into_any(),
        }
    };

    let on_key = move |ev: leptos::ev::KeyboardEvent| {
        let last = n.saturating_sub(1);
        let cur = selected.get_untracked();
        let next = match ev.key().as_str() {
            "ArrowRight" => Some(cur.map_or(0, |c| (c + 1).min(last))),
            "ArrowLeft" => Some(cur.map_or(last, |c| c.saturating_sub(1))),
            "Home" => Some(0),
            "End" => Some(last),
            "Escape" => None,
            _ => return,
        };
        ev.prevent_default();
        selected.set(if n == 0 { None } else { next });
    };

    let legend = data
        .series
        .iter()
        .enumerate()
        .map(|(i, s)| {
            view! {
                <li>
                    <i class=format!("swatch {}", chart::series_class(i, &s.key))></i>
                    <span class="legend-key">{s.key.clone()}</span>
                    <span class="legend-val">{metric.fmt(s.total)}</span>
                </li>
            }
        })
        .collect_view();

    let label = format!(
        "Stacked {} per {}, {} groups",
        metric.as_str(),
        if hourly { "hour" } else { "day" },
        data.series.len()
    );
    let frame_label = label.clone();
    view! {
        <div class="chart" data-testid="cost-chart">
            <div
                class="chart-frame"
                tabindex="0"
                role="group"
                aria-label=frame_label
                on:keydown=on_key
                on:mouseleave=move |_| selected.set(None)
            >
                <svg viewBox=format!("0 0 {W} {H}") role="img" aria-label=label>
                    <g class="grid">{grid}</g>
                    <g class="hits">{hits}</g>
                    <g class="bars">{bars}</g>
                    <g class="xlabels">{labels}</g>
                    <line class="axis" x1=LEFT x2=W - RIGHT y1=H - BOTTOM y2=H - BOTTOM></line>
                </svg>
            </div>
            <div class="readout" aria-live="polite">{readout}</div>
            <ul class="legend">{legend}</ul>
        </div>
    }
}

/// A budget's bar: spend, what requests in flight reserved, its soft thresholds, 100%, the
/// hard limit and where the period is heading (`projected`: false where no pace is known).
#[component]
pub fn BudgetBar(bar: chart::BudgetBar, #[prop(default = true)] projected: bool) -> impl IntoView {
    let level = if bar.used_of_budget_pct >= 100.0 {
        "bad"
    } else if bar.thresholds.iter().any(|(_, _, fired)| *fired) {
        "warn"
    } else {
        "ok"
    };
    let marks = bar
        .thresholds
        .iter()
        .map(|(t, at, fired)| {
            let class = if *fired { "mark threshold fired" } else { "mark threshold" };
            let title = format!(
                "{}% threshold{}",
                format::pct(*t).trim_end_matches('%'),
                if *fired { " (crossed)" } else { "" }
            );
            view! { <span class=class style=format!("left:{at:.2}%") title=title.clone() aria-label=title></span> }
        })
        .collect_view();
    let hard = bar.hard_limit_pct.map(|at| {
        view! { <span class="mark hard" style=format!("left:{at:.2}%") title="hard limit"></span> }
    });
    view! {
        <div class="budget-bar" role="img" aria-label=format!("{:.0}% of the budget used", bar.used_of_budget_pct)>
            <div class=format!("fill {level}") style=format!("width:{:.2}%", bar.spent_pct)></div>
            <div
                class="reserved"
                style=format!("left:{:.2}%;width:{:.2}%", bar.spent_pct, bar.reserved_pct)
                title="reserved by requests in flight"
            ></div>
            {projected.then(|| view! {
                <span class="mark projected" style=format!("left:{:.2}%", bar.projected_pct) title="projected at the period's end"></span>
            })}
            <span class="mark full" style=format!("left:{:.2}%", bar.budget_pct) title="100% of the budget"></span>
            {marks}
            {hard}
        </div>
    }
}
