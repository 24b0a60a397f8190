//! Costs: spend over time stacked by model, provider, project or alias, by hour or day over a
//! chosen range, with its totals and groups, the budgets with their pace, and what the cache
//! saved. The chart's series export as CSV, made in the page. The controls live in the URL
//! (`?range=7d&bucket=day&group=model&metric=cost`), so a view can be bookmarked or shared.

use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_navigate, use_query_map};

use crate::api;
use crate::chart::{self, Bucket};
use crate::components::{BudgetBar, Loading, Metric, StackedChart, Stat, or_error};
use crate::format;
use crate::hooks::{download, local_datetime, now_ms, offset_min, use_tick};
use crate::types::{ApiError, BudgetEntry, CacheInfo, Summary, Timeseries};

/// The ranges offered: (value, label, default bucket).
const RANGES: [(&str, &str, &str); 6] = [
    ("today", "Today", "hour"),
    ("24h", "Last 24 hours", "hour"),
    ("week", "This week", "day"),
    ("7d", "Last 7 days", "day"),
    ("month", "This month", "day"),
    ("30d", "Last 30 days", "day"),
];
const DEFAULT_RANGE: &str = "7d";
const GROUPS: [(&str, &str); 4] = [
    ("model", "Model"),
    ("provider", "Provider"),
    ("project", "Project"),
    ("alias", "Alias"),
];
const METRICS: [(&str, &str); 3] = [
    ("cost", "Spend"),
    ("requests", "Requests"),
    ("tokens", "Tokens"),
];

#[derive(Debug, Clone, PartialEq, Eq)]
struct View {
    range: String,
    bucket: Bucket,
    group: String,
    metric: Metric,
}

impl View {
    /// The range as query parameters: a calendar period, or `since` that many hours ago.
    fn range_params(&self, now: i64) -> Vec<(&'static str, String)> {
        let hours_ago = |h: i64| vec![("since", (now - h * 3_600_000).to_string())];
        match self.range.as_str() {
            "today" => vec![("period", "today".into())],
            "week" => vec![("period", "week".into())],
            "month" => vec![("period", "month".into())],
            "24h" => hours_ago(24),
            "30d" => hours_ago(30 * 24),
            _ => hours_ago(7 * 24),
        }
    }
}

struct CostData {
    summary: Summary,
    series: Timeseries,
}

async fn load(v: View) -> Result<(Summary, Timeseries), ApiError> {
    let mut p = v.range_params(now_ms());
    p.push(("group_by", v.group.clone()));
    let summary_q = api::query(&p);
    p.push(("bucket", v.bucket.as_str().to_string()));
    let series_q = api::query(&p);
    let summary = api::summary(&summary_q);
    let series = api::timeseries(&series_q);
    // Both at once.
    let (s, t) = futures::future::join(summary, series).await;
    Ok((s?, t?))
}

#[component]
pub fn CostsPage() -> impl IntoView {
    let query = use_query_map();
    let navigate = use_navigate();
    let view_now = Memo::new(move |_| {
        query.with(|q| {
            let range = q
                .get_str("range")
                .filter(|r| RANGES.iter().any(|(v, _, _)| v == r))
                .unwrap_or(DEFAULT_RANGE)
                .to_string();
            let default_bucket = RANGES
                .iter()
                .find(|(v, _, _)| *v == range)
                .map_or("day", |r| r.2);
            View {
                bucket: Bucket::parse(q.get_str("bucket").unwrap_or(default_bucket)),
                group: q
                    .get_str("group")
                    .filter(|g| GROUPS.iter().any(|(v, _)| v == g))
                    .unwrap_or("model")
                    .to_string(),
                metric: Metric::parse(q.get_str("metric").unwrap_or("cost")),
                range,
            }
        })
    });
    let set_view = move |v: View| {
        let url = format!(
            "/ui/costs?range={}&bucket={}&group={}&metric={}",
            v.range,
            v.bucket.as_str(),
            v.group,
            v.metric.as_str()
        );
        navigate(
            &url,
            NavigateOptions {
                replace: true,
                scroll: false,
                ..Default::default()
            },
        );
    };
    let tick = use_tick(30_000);
    // What the data depends on (the metric only changes the drawing).
    let fetch_key = Memo::new(move |_| {
        let v = view_now.get();
        View {
            metric: Metric::Cost,
            ..v
        }
    });
    let data = LocalResource::new(move || {
        tick.track();
        load(fetch_key.get())
    });
    let budgets = LocalResource::new(move || {
        tick.track();
        api::budgets()
    });
    let cache = LocalResource::new(move || {
        tick.track();
        api::cache()
    });

    let controls = {
        let set_view = set_view.clone();
        move || {
            let v = view_now.get();
            let (s1, s2, s3, s4) = (
                set_view.clone(),
                set_view.clone(),
                set_view.clone(),
                set_view.clone(),
            );
            let (v1, v2, v3, v4) = (v.clone(), v.clone(), v.clone(), v.clone());
            view! {
                <form class="toolbar" on:submit=|ev| ev.prevent_default() aria-label="What the chart shows">
                    <label>
                        <span>"Range"</span>
                        <select
                            data-testid="range-select"
                            on:change=move |ev| {
                                let range = event_target_value(&ev);
                                let bucket = RANGES.iter().find(|r| r.0 == range).map_or(v1.bucket, |r| Bucket::parse(r.2));
                                s1(View { range, bucket, ..v1.clone() });
                            }
                        >
                            {RANGES
                                .iter()
                                .map(|(val, label, _)| view! { <option value=*val selected=v.range == *val>{*label}</option> })
                                .collect_view()}
                        </select>
                    </label>
                    <fieldset class="segmented" data-testid="bucket-picker">
                        <legend>"Per"</legend>
                        {[Bucket::Hour, Bucket::Day]
                            .into_iter()
                            .map(|b| {
                                let (s, vv) = (s2.clone(), v2.clone());
                                view! {
                                    <label>
                                        <input
                                            type="radio"
                                            name="bucket"
                                            value=b.as_str()
                                            prop:checked=v.bucket == b
                                            on:change=move |_| s(View { bucket: b, ..vv.clone() })
                                        />
                                        <span>{if b == Bucket::Hour { "hour" } else { "day" }}</span>
                                    </label>
                                }
                            })
                            .collect_view()}
                    </fieldset>
                    <label>
                        <span>"Stack by"</span>
                        <select
                            data-testid="group-select"
                            on:change=move |ev| s3(View { group: event_target_value(&ev), ..v3.clone() })
                        >
                            {GROUPS
                                .iter()
                                .map(|(val, label)| view! { <option value=*val selected=v.group == *val>{*label}</option> })
                                .collect_view()}
                        </select>
                    </label>
                    <label>
                        <span>"Show"</span>
                        <select
                            data-testid="metric-select"
                            on:change=move |ev| s4(View { metric: Metric::parse(&event_target_value(&ev)), ..v4.clone() })
                        >
                            {METRICS
                                .iter()
                                .map(|(val, label)| view! { <option value=*val selected=v.metric.as_str() == *val>{*label}</option> })
                                .collect_view()}
                        </select>
                    </label>
                </form>
            }
        }
    };

    view! {
        <section class="page" data-testid="page-costs">
            <header class="page-head">
                <h1>"Costs"</h1>
                <p class="muted">"What requests through Lodestar cost, from the engine's ledger. Local models are free; requests to models without a price are counted as unpriced."</p>
            </header>
            {controls}
            <Transition fallback=|| view! { <Loading /> }>
                    {move || Suspend::new(async move {
                        let v = view_now.get();
                        or_error(data.await.map(|(summary, series)| view! { <CostBody data=CostData { summary, series } v /> }))
                    })}
            </Transition>
            <section class="card" data-testid="budgets">
                <header class="card-head"><h2>"Budgets"</h2></header>
                <Transition fallback=|| view! { <Loading /> }>
                        {move || Suspend::new(async move { or_error(budgets.await.map(|b| view! { <BudgetList items=b.budgets /> })) })}
                </Transition>
            </section>
            <section class="card" data-testid="cache">
                <header class="card-head"><h2>"Cache"</h2></header>
                <Transition fallback=|| view! { <Loading /> }>
                    {move || Suspend::new(async move {
                        or_error(cache.await.map(|c| view! { <CacheFacts c /> }))
                    })}
                </Transition>
            </section>
        </section>
    }
}

#[component]
fn CostBody(data: CostData, v: View) -> impl IntoView {
    let CostData { summary, series } = data;
    let t = &summary.total;
    let hourly = v.bucket == Bucket::Hour;
    let starts = chart::bucket_starts(
        series.since_ms,
        series.until_ms,
        v.bucket,
        offset_min(series.since_ms),
        // 31 days of hours at most.
        24 * 31 + 1,
    );
    let stacked = chart::stack(
        &series.points,
        &starts,
        v.bucket.ms(),
        chart::MAX_SERIES,
        |p| v.metric.value(p),
    );
    let range_note = format!(
        "{} – {}",
        local_datetime(summary.since_ms)
            .get(..16)
            .unwrap_or_default(),
        local_datetime(summary.until_ms.saturating_sub(1))
            .get(..16)
            .unwrap_or_default()
    );
    let points = series.points.clone();
    let group = v.group.clone();
    let bucket = v.bucket;
    let export = move |_| {
        let text = crate::csv::series_csv(&points, &group, offset_min);
        let now = now_ms();
        let name = crate::csv::file_name(&group, bucket.as_str(), now, offset_min(now));
        let _ = download(&name, "text/csv;charset=utf-8", &text);
    };
    let unpriced_note = (t.unpriced_requests > 0).then(|| {
        format!(
            "+ {} without a price",
            format::plural(t.unpriced_requests, "request", "requests")
        )
    });
    let chart_view = if series.points.is_empty() {
        view! {
            <div class="empty" data-testid="cost-chart-empty">
                <p>"No requests in this range."</p>
            </div>
        }
        .into_any()
    } else {
        view! { <StackedChart data=stacked metric=v.metric hourly /> }.into_any()
    };
    let group_label = GROUPS
        .iter()
        .find(|g| g.0 == v.group)
        .map_or("Group", |g| g.1);
    let total_cost = t.cost_usd;
    // What the local answers would have cost at each alias's cloud entry.
    let local = summary.local_savings.clone();
    let local_note = match local.by_alias.first() {
        Some(top) => format!(
            "{} answered locally; priced as {}{}",
            format::plural(local.requests, "request", "requests"),
            top.priced_as,
            if local.by_alias.len() > 1 {
                " and others"
            } else {
                ""
            }
        ),
        None => "no local answer on a route with a priced cloud entry".to_string(),
    };
    let rows = summary
        .groups
        .iter()
        .map(|g| {
            let share = if total_cost > 0.0 { g.totals.cost_usd / total_cost } else { 0.0 };
            view! {
                <tr>
                    <td class="mono">{g.key.clone()}</td>
                    <td class="num">{format::count(g.totals.requests)}</td>
                    <td class="num">{format::tokens(g.totals.input_tokens)}</td>
                    <td class="num">{format::tokens(g.totals.output_tokens)}</td>
                    <td class="num">{format::usd(g.totals.cost_usd)}</td>
                    <td class="num">{if total_cost > 0.0 { format::fraction_pct(share) } else { "—".into() }}</td>
                    <td class="num">{if g.totals.unpriced_requests > 0 { format::count(g.totals.unpriced_requests) } else { String::new() }}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class="stats big" data-testid="cost-totals">
            <Stat label="Spend" value=format::usd(t.cost_usd) note=unpriced_note.unwrap_or_default() testid="cost-total" />
            <Stat label="Requests" value=format::count(t.requests) note=format::plural(t.errors, "error", "errors") testid="cost-requests" />
            <Stat label="Input tokens" value=format::tokens(t.input_tokens) note=format!("{} cached reads", format::tokens(t.cache_read_tokens)) />
            <Stat label="Output tokens" value=format::tokens(t.output_tokens) note=format!("{} reasoning", format::tokens(t.reasoning_tokens)) />
            <Stat label="Cache saved" value=format::usd(t.saved_usd) note=format::plural(t.cache_hits, "cache hit", "cache hits") testid="cost-saved" />
            <Stat label="Local routing saved" value=format::usd(local.saved_usd) note=local_note testid="cost-local-saved" />
        </div>
        <section class="card">
            <header class="card-head">
                <h2>{format!("{} by {}", METRICS.iter().find(|m| m.0 == v.metric.as_str()).map_or("Spend", |m| m.1), group_label.to_lowercase())}</h2>
                <span class="muted small">{range_note}</span>
                <span class="spacer"></span>
                <button class="btn small" type="button" on:click=export data-testid="csv-export" disabled=series.points.is_empty()>
                    "Export CSV"
                </button>
            </header>
            {chart_view}
        </section>
        <section class="card">
            <header class="card-head"><h2>{format!("By {}", group_label.to_lowercase())}</h2></header>
            {if summary.groups.is_empty() {
                view! { <p class="muted">"No requests in this range."</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap">
                        <table class="table" data-testid="cost-groups">
                            <thead>
                                <tr>
                                    <th scope="col">{group_label}</th>
                                    <th scope="col" class="num">"Requests"</th>
                                    <th scope="col" class="num">"Input"</th>
                                    <th scope="col" class="num">"Output"</th>
                                    <th scope="col" class="num">"Spend"</th>
                                    <th scope="col" class="num">"Share"</th>
                                    <th scope="col" class="num">"Unpriced"</th>
                                </tr>
                            </thead>
                            <tbody>{rows}</tbody>
                        </table>
                    </div>
                }
                .into_any()
            }}
        </section>
    }
}

#[component]
fn BudgetList(items: Vec<BudgetEntry>) -> impl IntoView {
    if items.is_empty() {
        return view! {
            <p class="muted">"No budgets are set. Add one under " <code>"budgets:"</code> " in the config to get alerts and a hard limit."</p>
        }
        .into_any();
    }
    let list = items
        .into_iter()
        .map(|e| {
            let b = e.budget;
            let p = e.pace;
            let bar = chart::budget_bar(b.usd, b.spent_usd, b.reserved_usd, b.hard_limit_usd, p.projected_usd, &b.thresholds, &b.fired);
            let scope = b.project.clone().map_or_else(|| "all projects".to_string(), |p| format!("project {p}"));
            let verdict_class = if p.verdict.contains("early") || p.verdict == "used up" {
                "badge bad"
            } else if p.verdict == "on pace" {
                "badge warn"
            } else {
                "badge ok"
            };
            let period_end = b.period_end_ms;
            let hard = b.hard_limit_usd.map(|h| format!(" · hard limit {}", format::usd(h)));
            let thresholds = (!b.thresholds.is_empty()).then(|| {
                format!(
                    " · alerts at {}",
                    b.thresholds.iter().map(|t| format::pct(*t)).collect::<Vec<_>>().join(", ")
                )
            });
            view! {
                <article class="budget" data-testid=format!("budget-{}", b.name)>
                    <header class="budget-head">
                        <h3 class="mono">{b.name.clone()}</h3>
                        <span class="muted small">{format!("per {} · {}", b.period, scope)}</span>
                        <span class="spacer"></span>
                        <span class=verdict_class title=p.method.clone()>{p.verdict.clone()}</span>
                    </header>
                    <p class="budget-figures">
                        <b data-testid="budget-spent">{format::usd(b.spent_usd)}</b>
                        {format!(" of {} ({}){}{}", format::usd(b.usd), format::pct(bar.used_of_budget_pct), hard.unwrap_or_default(), thresholds.unwrap_or_default())}
                        {(b.reserved_usd > 0.0).then(|| format!(" · {} reserved in flight", format::usd(b.reserved_usd)))}
                    </p>
                    <BudgetBar bar />
                    <p class="muted small">
                        {format!(
                            "{}/day so far against {}/day to last the {}; projected {} by {}.",
                            format::usd(p.usd_per_day),
                            format::usd(p.budget_usd_per_day),
                            b.period,
                            format::usd(p.projected_usd),
                            local_datetime(period_end).get(..10).unwrap_or_default()
                        )}
                    </p>
                </article>
            }
        })
        .collect_view();
    view! {
        {list}
        <p class="budget-legend muted small" aria-hidden="true">
            <span><i class="key fill"></i>"spent"</span>
            <span><i class="key reserved"></i>"reserved in flight"</span>
            <span><i class="key threshold"></i>"alert threshold"</span>
            <span><i class="key full"></i>"100%"</span>
            <span><i class="key hard"></i>"hard limit"</span>
            <span><i class="key projected"></i>"projected at the period's end"</span>
        </p>
    }
    .into_any()
}

#[component]
fn CacheFacts(c: CacheInfo) -> impl IntoView {
    let s = c.stats;
    let cfg = c.config;
    let mode = match cfg.mode.as_str() {
        "off" => "off".to_string(),
        "all" => "every request".to_string(),
        "deterministic" => "deterministic requests (temperature 0 or a seed)".to_string(),
        other => other.to_string(),
    };
    view! {
        <div class="stats">
            <Stat label="Saved since start" value=format::usd(s.saved_usd) testid="cache-saved" />
            <Stat label="Hit rate" value=format::fraction_pct(s.hit_rate) note=format!("{} · {}", format::plural(s.hits as i64, "hit", "hits"), format::plural(s.misses as i64, "miss", "misses")) />
            <Stat label="Memory" value=format::bytes(s.memory_bytes) note=format!("{} of {}", format::plural(s.memory_entries as i64, "entry", "entries"), format::bytes(cfg.memory_bytes)) />
            <Stat label="Disk" value=format::bytes(s.disk_bytes) note=format!("{} of {}", format::plural(s.disk_entries as i64, "entry", "entries"), format::bytes(cfg.disk_bytes)) />
        </div>
        <p class="muted small">
            {format!(
                "Caches {mode}; answers live {}{}.",
                format::seconds(cfg.ttl_s as f64),
                if cfg.coalesce { "; identical requests in flight share one answer" } else { "" }
            )}
        </p>
    }
}
