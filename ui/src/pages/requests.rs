//! Requests: the newest requests from the ledger, filtered in the page by project, alias,
//! status or any text; a row opens its details (route, alias, fallbacks, tokens, cost,
//! timings). Refreshed every 5 s while "Live" is on.

use std::collections::BTreeSet;

use leptos::prelude::*;

use crate::api;
use crate::components::{Loading, or_error};
use crate::format;
use crate::hooks::{local_datetime, now_ms, offset_min, use_tick};
use crate::types::LoggedRequest;

const LIMIT: u32 = 500;

#[component]
pub fn RequestsPage() -> impl IntoView {
    let live = RwSignal::new(true);
    let tick = use_tick(5_000);
    let requests = LocalResource::new(move || {
        if live.get() {
            tick.track();
        }
        api::requests(LIMIT)
    });
    let project = RwSignal::new(String::new());
    let alias = RwSignal::new(String::new());
    let status = RwSignal::new(String::new());
    let text = RwSignal::new(String::new());
    let selected = RwSignal::new(None::<String>);

    view! {
        <section class="page" data-testid="page-requests">
            <header class="page-head">
                <h1>"Requests"</h1>
                <p class="muted">{format!("The newest {LIMIT} requests in the ledger, newest first.")}</p>
            </header>
            <Transition fallback=|| view! { <Loading /> }>
                    {move || Suspend::new(async move {
                        or_error(requests.await.map(|r| {
                            view! { <RequestLog rows=r.requests project alias status text live selected /> }
                        }))
                    })}
            </Transition>
        </section>
    }
}

fn distinct(rows: &[LoggedRequest], f: impl Fn(&LoggedRequest) -> String) -> Vec<String> {
    rows.iter()
        .map(f)
        .filter(|s| !s.is_empty())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

fn status_matches(r: &LoggedRequest, want: &str) -> bool {
    match want {
        "" => true,
        "ok" => r.ok(),
        "error" => !r.ok(),
        code => r.status.to_string() == code,
    }
}

#[component]
fn RequestLog(
    rows: Vec<LoggedRequest>,
    project: RwSignal<String>,
    alias: RwSignal<String>,
    status: RwSignal<String>,
    text: RwSignal<String>,
    live: RwSignal<bool>,
    selected: RwSignal<Option<String>>,
) -> impl IntoView {
    let projects = distinct(&rows, |r| r.project.clone());
    let aliases = distinct(&rows, |r| r.alias.clone());
    let codes = distinct(&rows, |r| r.status.to_string());
    let rows = StoredValue::new(rows);
    let shown = Memo::new(move |_| {
        let (p, a, s, t) = (project.get(), alias.get(), status.get(), text.get());
        rows.with_value(|rows| {
            rows.iter()
                .filter(|r| {
                    (p.is_empty() || r.project == p)
                        && (a.is_empty() || r.alias == a)
                        && status_matches(r, &s)
                        && r.matches(&t)
                })
                .cloned()
                .collect::<Vec<_>>()
        })
    });
    let total = rows.with_value(Vec::len);
    let options = |values: Vec<String>, current: RwSignal<String>| {
        values
            .into_iter()
            .map(|v| {
                let v2 = v.clone();
                let v3 = v.clone();
                let selected = move || current.get() == v3;
                view! { <option value=v.clone() selected=selected>{v2}</option> }
            })
            .collect_view()
    };
    let table_rows = move || {
        let now = now_ms();
        shown
            .get()
            .into_iter()
            .map(|r| {
                let id = r.request_id.clone();
                let id2 = id.clone();
                let id3 = id.clone();
                let is_sel = move || selected.get().as_deref() == Some(id.as_str());
                let open = move || {
                    selected.update(|s| {
                        *s = if s.as_deref() == Some(id2.as_str()) { None } else { Some(id2.clone()) };
                    })
                };
                let open2 = open.clone();
                let route = if r.provider.is_empty() { "—".to_string() } else { format!("{}/{}", r.provider, r.model) };
                view! {
                    <tr
                        class="clickable"
                        class:selected=is_sel.clone()
                        class:failed=!r.ok()
                        tabindex="0"
                        aria-selected=move || if is_sel() { "true" } else { "false" }
                        data-testid="request-row"
                        data-request-id=id3
                        on:click=move |_| open()
                        on:keydown=move |ev| {
                            if ev.key() == "Enter" || ev.key() == " " {
                                ev.prevent_default();
                                open2();
                            }
                        }
                    >
                        <td class="nowrap" title=local_datetime(r.ts_ms)>{format::short_time(r.ts_ms, now, offset_min(r.ts_ms))}</td>
                        <td>{if r.project.is_empty() { "—".to_string() } else { r.project.clone() }}</td>
                        <td class="mono">{r.alias.clone()}</td>
                        <td class="mono">{route}{(r.fallbacks > 0).then(|| view! { <span class="badge warn" title="fallbacks before this entry answered">{format!("+{} fb", r.fallbacks)}</span> })}</td>
                        <td class="num"><span class=if r.ok() { "ok" } else { "bad" }>{r.status}</span></td>
                        <td class="num">{format!("{} / {}", format::tokens(r.input_tokens), format::tokens(r.output_tokens))}</td>
                        <td class="num">{r.cost_usd.map_or_else(|| "—".to_string(), format::usd)}</td>
                        <td class="num">{format::millis(r.latency_ms)}</td>
                        <td>{r.cache_hit.then(|| view! { <span class="badge ok">"cache"</span> })}{r.stream.then(|| view! { <span class="badge">"stream"</span> })}</td>
                    </tr>
                }
            })
            .collect_view()
    };
    let detail = move || {
        let id = selected.get()?;
        let r = rows.with_value(|rows| rows.iter().find(|r| r.request_id == id).cloned())?;
        Some(view! { <RequestDetail r selected /> })
    };
    view! {
        <form class="toolbar" on:submit=|ev| ev.prevent_default() aria-label="Filter requests">
            <label>
                <span>"Project"</span>
                <select data-testid="filter-project" on:change=move |ev| project.set(event_target_value(&ev))>
                    <option value="">"all"</option>
                    {options(projects, project)}
                </select>
            </label>
            <label>
                <span>"Alias"</span>
                <select data-testid="filter-alias" on:change=move |ev| alias.set(event_target_value(&ev))>
                    <option value="">"all"</option>
                    {options(aliases, alias)}
                </select>
            </label>
            <label>
                <span>"Status"</span>
                <select data-testid="filter-status" on:change=move |ev| status.set(event_target_value(&ev))>
                    <option value="" selected=move || status.get().is_empty()>"any"</option>
                    <option value="ok" selected=move || status.get() == "ok">"2xx"</option>
                    <option value="error" selected=move || status.get() == "error">"errors"</option>
                    {options(codes, status)}
                </select>
            </label>
            <label class="grow">
                <span>"Search"</span>
                <input
                    type="search"
                    placeholder="model, outcome, request id…"
                    data-testid="filter-text"
                    prop:value=move || text.get()
                    on:input=move |ev| text.set(event_target_value(&ev))
                />
            </label>
            <label class="check">
                <input type="checkbox" prop:checked=move || live.get() on:change=move |ev| live.set(event_target_checked(&ev)) data-testid="live" />
                <span>"Live"</span>
            </label>
        </form>
        <p class="muted small" aria-live="polite">{move || format!("{} of {} shown", shown.with(Vec::len), total)}</p>
        <div class="split">
            <div class="table-wrap">
                {if total == 0 {
                    view! { <p class="muted empty" data-testid="requests-empty">"No requests yet: send one through the proxy and it shows here."</p> }.into_any()
                } else {
                    view! {
                        <table class="table requests" data-testid="requests-table">
                            <thead>
                                <tr>
                                    <th scope="col">"Time"</th>
                                    <th scope="col">"Project"</th>
                                    <th scope="col">"Alias"</th>
                                    <th scope="col">"Answered by"</th>
                                    <th scope="col" class="num">"Status"</th>
                                    <th scope="col" class="num">"Tokens in / out"</th>
                                    <th scope="col" class="num">"Cost"</th>
                                    <th scope="col" class="num">"Latency"</th>
                                    <th scope="col"></th>
                                </tr>
                            </thead>
                            <tbody>{table_rows}</tbody>
                        </table>
                    }
                    .into_any()
                }}
            </div>
            {detail}
        </div>
    }
}

fn dash(s: &str) -> String {
    if s.is_empty() {
        "—".into()
    } else {
        s.to_string()
    }
}

#[component]
fn RequestDetail(r: LoggedRequest, selected: RwSignal<Option<String>>) -> impl IntoView {
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    let opt_ms = |v: Option<f64>| v.map_or_else(|| "—".to_string(), format::millis);
    let route = if r.provider.is_empty() {
        "— (not routed)".to_string()
    } else {
        format!("{}/{}", r.provider, r.model)
    };
    let fallbacks = match r.fallbacks {
        0 => "none: the first entry answered".to_string(),
        1 => "1 entry failed before this one answered".to_string(),
        n => format!("{n} entries failed before this one answered"),
    };
    let facts: Vec<(&str, String)> = vec![
        ("Time", local_datetime(r.ts_ms)),
        ("Request id", r.request_id.clone()),
        ("Project", dash(&r.project)),
        ("Client API", format!("{} ({})", r.client_api, r.endpoint)),
        ("Alias asked for", dash(&r.alias)),
        ("Routing rule", dash(&r.rule)),
        ("Answered by", route),
        ("Fallbacks", fallbacks),
        ("Status", format!("{} · {}", r.status, r.outcome)),
        ("Streamed", yes_no(r.stream).into()),
        ("Cache hit", yes_no(r.cache_hit).into()),
        (
            "Input tokens",
            format!(
                "{}{}",
                format::count(r.input_tokens),
                if r.tokens_estimated {
                    " (estimated)"
                } else {
                    ""
                }
            ),
        ),
        ("Output tokens", format::count(r.output_tokens)),
        ("Cached read tokens", format::count(r.cache_read_tokens)),
        (
            "Cache write tokens",
            format!(
                "{} (5 min) · {} (1 h)",
                format::count(r.cache_write_5m_tokens),
                format::count(r.cache_write_1h_tokens)
            ),
        ),
        ("Reasoning tokens", format::count(r.reasoning_tokens)),
        (
            "Cost",
            r.cost_usd
                .map_or_else(|| "unpriced".to_string(), format::usd),
        ),
        ("Saved by cache", format::usd(r.saved_usd)),
        ("Latency", format::millis(r.latency_ms)),
        ("Time to first byte", opt_ms(r.ttfb_ms)),
    ];
    let items = facts
        .into_iter()
        .map(|(k, v)| view! { <dt>{k}</dt><dd class="wrap">{v}</dd> })
        .collect_view();
    view! {
        <aside
            class="card detail"
            data-testid="request-detail"
            aria-label="Request details"
            on:keydown=move |ev| {
                if ev.key() == "Escape" {
                    selected.set(None);
                }
            }
        >
            <header class="card-head">
                <h2>"Request"</h2>
                <span class="spacer"></span>
                <button class="btn small" type="button" on:click=move |_| selected.set(None) aria-label="Close details">"Close"</button>
            </header>
            <dl class="facts">{items}</dl>
        </aside>
    }
}
