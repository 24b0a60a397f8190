//! Providers: each upstream's kind and address, how many models its listing gave (or why it
//! failed), the models Ollama holds loaded now, its probed health where the engine reports
//! it, and the circuits of its route entries. Refreshed every 10 s.

use leptos::prelude::*;

use crate::api;
use crate::components::{Loading, StateBadge, or_error};
use crate::format;
use crate::hooks::{now_ms, use_tick};
use crate::types::{EntryHealth, ProviderHealth, ProviderStatus, Status};

#[component]
pub fn ProvidersPage() -> impl IntoView {
    let tick = use_tick(10_000);
    let status = LocalResource::new(move || {
        tick.track();
        api::status()
    });
    view! {
        <section class="page" data-testid="page-providers">
            <header class="page-head">
                <h1>"Providers"</h1>
                <p class="muted">"The upstreams in the config, as the engine sees them now."</p>
            </header>
            <Transition fallback=|| view! { <Loading /> }>
                    {move || Suspend::new(async move { or_error(status.await.map(|s| view! { <ProviderList status=s /> })) })}
            </Transition>
            <super::add_provider::AddProvider on_added=move || status.refetch() />
        </section>
    }
}

#[component]
fn ProviderList(status: Status) -> impl IntoView {
    let cards = if status.providers.is_empty() {
        view! {
            <div class="callout info">
                <strong>"No providers"</strong>
                <p>"The config defines no " <code>"providers:"</code> "."</p>
            </div>
        }
        .into_any()
    } else {
        status
            .providers
            .iter()
            .map(|p| {
                let circuits: Vec<EntryHealth> =
                    status.circuits_of(&p.name).into_iter().cloned().collect();
                view! { <ProviderCard p=p.clone() circuits /> }
            })
            .collect_view()
            .into_any()
    };
    view! {
        <div class="grid cards">{cards}</div>
        <section class="card" data-testid="circuits">
            <header class="card-head">
                <h2>"Circuits"</h2>
                <span class="muted small">"Route entries with failures or not closed; a closed circuit with failures is counting toward opening."</span>
            </header>
            <CircuitTable entries=status.circuits.clone() />
        </section>
    }
}

#[component]
fn ProviderCard(p: ProviderStatus, circuits: Vec<EntryHealth>) -> impl IntoView {
    let listing = match &p.listing_error {
        Some(e) => view! {
            <dd><span class="bad">"listing failed"</span><div class="error-text">{e.clone()}</div></dd>
        }
        .into_any(),
        None => view! { <dd>{format!("{} model{}", p.models_listed, if p.models_listed == 1 { "" } else { "s" })}</dd> }.into_any(),
    };
    let state = p.health.as_ref().map(|h| h.state.clone());
    let loaded = match (&p.loaded, &p.loaded_error) {
        (_, Some(e)) => Some(
            view! {
                <div class="sub">
                    <h3>"Loaded now"</h3>
                    <p class="error-text">{e.clone()}</p>
                </div>
            }
            .into_any(),
        ),
        (Some(models), None) if models.is_empty() => Some(
            view! {
                <div class="sub">
                    <h3>"Loaded now"</h3>
                    <p class="muted">"No model is loaded: the next request loads one."</p>
                </div>
            }
            .into_any(),
        ),
        (Some(models), None) => {
            let rows = models
                .iter()
                .map(|m| {
                    view! {
                        <tr>
                            <td class="mono">{m.name.clone()}</td>
                            <td class="num">{format::bytes(m.vram_bytes)}</td>
                            <td class="num">{format::bytes(m.size_bytes)}</td>
                            <td class="muted small">{m.expires_at.clone().unwrap_or_default()}</td>
                        </tr>
                    }
                })
                .collect_view();
            Some(
                view! {
                    <div class="sub">
                        <h3>"Loaded now"</h3>
                        <div class="table-wrap">
                            <table class="table compact">
                                <thead>
                                    <tr>
                                        <th scope="col">"Model"</th>
                                        <th scope="col" class="num">"VRAM"</th>
                                        <th scope="col" class="num">"Size"</th>
                                        <th scope="col">"Unloads at"</th>
                                    </tr>
                                </thead>
                                <tbody>{rows}</tbody>
                            </table>
                        </div>
                    </div>
                }
                .into_any(),
            )
        }
        (None, None) => None,
    };
    let circuits_view = (!circuits.is_empty()).then(|| {
        view! {
            <div class="sub">
                <h3>"Route entries that failed"</h3>
                <CircuitTable entries=circuits />
            </div>
        }
    });
    view! {
        <article class="card provider" data-testid=format!("provider-{}", p.name)>
            <header class="card-head">
                <h2 class="mono">{p.name.clone()}</h2>
                <span class="badge">{p.kind.clone()}</span>
                {(p.local == Some(true)).then(|| view! { <span class="badge local">"local"</span> })}
                <span class="spacer"></span>
                {state.map(|s| view! { <StateBadge state=s /> })}
            </header>
            <dl class="facts">
                <dt>"Address"</dt>
                <dd class="mono wrap">{p.base_url.clone()}</dd>
                <dt>"Listing"</dt>
                {listing}
            </dl>
            {p.health.clone().map(|h| view! { <HealthFacts h /> })}
            {loaded}
            {circuits_view}
        </article>
    }
}

#[component]
fn HealthFacts(h: ProviderHealth) -> impl IntoView {
    let up = |v: Option<f64>| v.map_or_else(|| "—".to_string(), format::fraction_pct);
    let ms = |v: Option<f64>| v.map_or_else(|| "—".to_string(), format::millis);
    let latency = h.latency_ms.clone().map(|l| {
        view! {
            <dt>"Latency"</dt>
            <dd>
                {format!("p50 {} · p95 {}", ms(l.p50), ms(l.p95))}
                {l.p99.map(|v| format!(" · p99 {}", format::millis(v)))}
                <span class="muted small">{l.samples.map(|n| format!(" ({n} requests)"))}</span>
            </dd>
        }
    });
    let hours = h.uptime_hours.clone();
    let uptime = h.uptime.clone().map(|u| {
        view! {
            <dt>"Uptime"</dt>
            <dd>
                {format!("1 h {} · 24 h {} · 7 d {}", up(u.h1), up(u.h24), up(u.d7))}
                <UptimeBars hours />
            </dd>
        }
    });
    let since = h.since_ms.map(|t| {
        view! {
            <dt>"State since"</dt>
            <dd title=crate::hooks::local_datetime(t)>{format::ago(t, now_ms())}</dd>
        }
    });
    let probe = h.last_probe_at().map(|t| {
        let what = match &h.last_probe {
            Some(p) if p.ok => format!("ok in {} · ", format::millis(p.latency_ms)),
            Some(p) => format!("failed{} · ", p.error.as_ref().map(|e| format!(": {e}")).unwrap_or_default()),
            None => String::new(),
        };
        view! {
            <dt>"Last probe"</dt>
            <dd title=crate::hooks::local_datetime(t)>{format!("{what}{}", format::ago(t, now_ms()))}</dd>
        }
    });
    let models = (!h.models.is_empty()).then(|| {
        let rows = h
            .models
            .iter()
            .map(|m| {
                view! {
                    <tr>
                        <td class="mono">{m.model.clone()}</td>
                        <td><StateBadge state=m.state.clone() /></td>
                        <td class="num">{format!("{} / {}", m.failures_in_window, m.requests_in_window)}</td>
                        <td class="num">{m.latency_ms.as_ref().and_then(|l| l.p50).map(format::millis).unwrap_or_default()}</td>
                        <td class="error-text">{m.last_error.clone().unwrap_or_default()}</td>
                    </tr>
                }
            })
            .collect_view();
        view! {
            <div class="sub">
                <h3>"Models in recent traffic"</h3>
                <div class="table-wrap">
                    <table class="table compact">
                        <thead>
                            <tr>
                                <th scope="col">"Model"</th>
                                <th scope="col">"State"</th>
                                <th scope="col" class="num">"Failed"</th>
                                <th scope="col" class="num">"p50"</th>
                                <th scope="col">"Last error"</th>
                            </tr>
                        </thead>
                        <tbody>{rows}</tbody>
                    </table>
                </div>
            </div>
        }
    });
    let err = h.last_error.clone().map(|e| {
        view! {
            <dt>"Last error"</dt>
            <dd class="error-text">{e}</dd>
        }
    });
    view! {
        <dl class="facts" data-testid="provider-health">{since}{latency}{uptime}{probe}{err}</dl>
        {models}
    }
}

#[component]
pub fn CircuitTable(entries: Vec<EntryHealth>) -> impl IntoView {
    if entries.is_empty() {
        return view! { <p class="muted" data-testid="circuits-empty">"No route entry has failed since the engine started: every circuit is closed."</p> }.into_any();
    }
    let rows = entries
        .into_iter()
        .map(|c| {
            view! {
                <tr>
                    <td class="mono">{c.target}</td>
                    <td><StateBadge state=c.state /></td>
                    <td class="num">{c.consecutive_failures}</td>
                    <td class="num">{c.retry_in_s.map(format::seconds).unwrap_or_default()}</td>
                    <td class="error-text">{c.last_error.unwrap_or_default()}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class="table-wrap">
            <table class="table compact">
                <thead>
                    <tr>
                        <th scope="col">"Entry"</th>
                        <th scope="col">"State"</th>
                        <th scope="col" class="num">"Failures"</th>
                        <th scope="col" class="num">"Retry in"</th>
                        <th scope="col">"Last error"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
    .into_any()
}

/// Probe results as bars: the last 24 hours one bar each, the last 7 days one bar a day. Green:
/// every probe passed; amber: some failed; red: all failed; grey: no probe then.
#[component]
fn UptimeBars(hours: Vec<crate::types::HourProbes>) -> impl IntoView {
    const HOUR: i64 = 3_600_000;
    let now_hour = now_ms().div_euclid(HOUR) * HOUR;
    let sum = |from: i64, to: i64| {
        hours
            .iter()
            .filter(|b| b.hour_ms >= from && b.hour_ms < to)
            .fold((0, 0), |(o, t), b| (o + b.ok, t + b.total))
    };
    let bar = |(ok, total): (i64, i64), label: String| {
        let class = if total == 0 {
            "bar none"
        } else if ok == total {
            "bar ok"
        } else if ok == 0 {
            "bar bad"
        } else {
            "bar warn"
        };
        let title = if total == 0 {
            format!("{label}: no probe")
        } else {
            format!("{label}: {ok} of {total} probes passed")
        };
        view! { <span class=class title=title.clone() aria-label=title></span> }
    };
    let day: Vec<_> = (0..24)
        .rev()
        .map(|i| {
            let start = now_hour - i * HOUR;
            bar(
                sum(start, start + HOUR),
                crate::hooks::local_datetime(start),
            )
        })
        .collect();
    let week: Vec<_> = (0..7)
        .rev()
        .map(|d| {
            let end = now_hour + HOUR - d * 24 * HOUR;
            bar(sum(end - 24 * HOUR, end), format!("{} day(s) ago", d))
        })
        .collect();
    view! {
        <div class="uptime-bars" data-testid="uptime-bars">
            <span class="muted small">"24 h"</span><span class="bars">{day}</span>
            <span class="muted small">"7 d"</span><span class="bars week">{week}</span>
        </div>
    }
}
