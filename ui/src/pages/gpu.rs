//! GPU: each local GPU's utilisation, memory, temperature, power and processes, read every
//! 2 s while the page is open (with the last two minutes drawn as a line), the models
//! Ollama holds loaded, and the recent model switches (requests that waited for Ollama to load
//! their model) with each model's median switch time; or, where no GPU can be read, why.

use std::collections::BTreeMap;

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api;
use crate::components::{ErrorNote, Loading, Meter, Sparkline, Stat};
use crate::format;
use crate::hooks::{local_datetime, now_ms, offset_min, page_hidden, use_interval};
use crate::types::{ApiError, GpuSample, GpuStatus, ModelSwitch, ProviderStatus, switch_medians};

/// Samples kept per GPU for the lines: two minutes at one every 2 s.
const HISTORY: usize = 60;

#[derive(Debug, Clone, Default, PartialEq)]
struct History {
    util: Vec<f64>,
    mem: Vec<f64>,
}

#[component]
pub fn GpuPage() -> impl IntoView {
    let latest = RwSignal::new(None::<Result<GpuStatus, ApiError>>);
    let read_at = RwSignal::new(None::<i64>);
    let history = RwSignal::new(BTreeMap::<u32, History>::new());
    let ollama = RwSignal::new(None::<Result<Vec<ProviderStatus>, ApiError>>);
    // The switches as last read: None until a read succeeds; Some(None) from an engine that
    // does not report them. Kept apart from `latest` so the table only redraws on a change.
    let switches = RwSignal::new(None::<Option<Vec<ModelSwitch>>>);
    let busy = StoredValue::new(false);
    let ticks = StoredValue::new(0u64);

    let poll = move || {
        if busy.get_value() {
            return;
        }
        busy.set_value(true);
        let n = ticks.get_value();
        ticks.set_value(n + 1);
        spawn_local(async move {
            let r = api::gpu().await.map(|report| {
                if switches.with_untracked(|s| s.as_ref() != Some(&report.switches)) {
                    switches.set(Some(report.switches));
                }
                report.gpu
            });
            if let Ok(GpuStatus::Ok { gpus }) = &r {
                history.update(|h| {
                    for g in gpus {
                        let e = h.entry(g.index).or_default();
                        e.util.push(f64::from(g.utilization_pct));
                        e.mem.push(g.memory_fraction() * 100.0);
                        if e.util.len() > HISTORY {
                            e.util.remove(0);
                            e.mem.remove(0);
                        }
                    }
                });
            }
            latest.set(Some(r));
            read_at.set(Some(now_ms()));
            // The loaded models (status asks Ollama): every 6 s is enough.
            if n.is_multiple_of(3) {
                let s = api::status().await.map(|s| {
                    s.providers
                        .into_iter()
                        .filter(|p| p.loaded.is_some() || p.loaded_error.is_some())
                        .collect()
                });
                ollama.set(Some(s));
            }
            busy.set_value(false);
        });
    };
    poll();
    use_interval(2_000, move || {
        if !page_hidden() {
            poll();
        }
    });

    let body = move || {
        match latest.get() {
        None => view! { <Loading what="Reading GPUs…" /> }.into_any(),
        Some(Err(e)) => view! { <ErrorNote err=e /> }.into_any(),
        Some(Ok(GpuStatus::Starting)) => view! { <Loading what="The engine has not read its GPUs yet…" /> }.into_any(),
        Some(Ok(GpuStatus::None { reason })) => view! {
            <div class="callout info" data-testid="gpu-none">
                <strong>"No GPU: " {reason.clone()}</strong>
                <p class="muted">
                    "Local models still run on the CPU. On a machine with an NVIDIA GPU the engine reads it through the driver's NVML library."
                </p>
            </div>
        }
        .into_any(),
        Some(Ok(GpuStatus::Ok { gpus })) if gpus.is_empty() => view! {
            <div class="callout info" data-testid="gpu-none"><strong>"No GPU: the driver lists none"</strong></div>
        }
        .into_any(),
        Some(Ok(GpuStatus::Ok { gpus })) => gpus
            .into_iter()
            .map(|g| {
                let h = history.with(|h| h.get(&g.index).cloned().unwrap_or_default());
                view! { <GpuCard g h /> }
            })
            .collect_view()
            .into_any(),
    }
    };

    view! {
        <section class="page gpu-page" data-testid="page-gpu">
            <header class="page-head">
                <h1>"GPU"</h1>
                <p class="muted" aria-live="off">
                    "Live, every 2 s. "
                    {move || read_at.get().map(|t| format!("Last read {}.", local_datetime(t)))}
                </p>
            </header>
            <div class="grid cards">{body}</div>
            <LoadedModels ollama />
            <Switches switches />
        </section>
    }
}

#[component]
fn GpuCard(g: GpuSample, h: History) -> impl IntoView {
    let mem = g.memory_fraction();
    let procs = if g.processes.is_empty() {
        view! { <p class="muted small">"No process holds GPU memory."</p> }.into_any()
    } else {
        let rows = g
            .processes
            .iter()
            .map(|p| {
                view! {
                    <tr>
                        <td class="num mono">{p.pid}</td>
                        <td class="num">{p.memory_bytes.map_or_else(|| "not reported".to_string(), format::bytes)}</td>
                    </tr>
                }
            })
            .collect_view();
        view! {
            <div class="table-wrap">
                <table class="table compact">
                    <thead>
                        <tr>
                            <th scope="col" class="num">"PID"</th>
                            <th scope="col" class="num">"Memory"</th>
                        </tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
        }
        .into_any()
    };
    view! {
        <article class="card gpu" data-testid=format!("gpu-card-{}", g.index)>
            <header class="card-head">
                <h2>{format!("GPU {}", g.index)}</h2>
                <span class="muted">{g.name.clone()}</span>
            </header>
            <div class="gpu-row">
                <div class="gpu-metric">
                    <div class="stat-label">"Utilisation"</div>
                    <div class="stat-value" data-testid="gpu-util">{format::pct(f64::from(g.utilization_pct))}</div>
                    <Meter fraction=f64::from(g.utilization_pct) / 100.0 label="GPU utilisation" />
                    <Sparkline values=h.util max=100.0 label="utilisation over the last two minutes" />
                </div>
                <div class="gpu-metric">
                    <div class="stat-label">"Memory"</div>
                    <div class="stat-value" data-testid="gpu-mem">
                        {format::bytes(g.memory_used_bytes)}
                        <span class="of">{format!(" of {}", format::bytes(g.memory_total_bytes))}</span>
                    </div>
                    <Meter fraction=mem label="GPU memory used" />
                    <Sparkline values=h.mem max=100.0 label="memory used over the last two minutes" />
                </div>
            </div>
            <div class="stats three">
                <Stat label="Temperature" value=g.temperature_c.map_or_else(|| "—".to_string(), |t| format!("{t} °C")) />
                <Stat label="Power" value=g.power_w.map_or_else(|| "—".to_string(), |w| format!("{w:.0} W")) />
                <Stat label="Processes" value=g.processes.len().to_string() />
            </div>
            {procs}
        </article>
    }
}

#[component]
fn LoadedModels(ollama: RwSignal<Option<Result<Vec<ProviderStatus>, ApiError>>>) -> impl IntoView {
    let body = move || {
        match ollama.get() {
        None => view! { <Loading /> }.into_any(),
        Some(Err(e)) => view! { <ErrorNote err=e /> }.into_any(),
        Some(Ok(ps)) if ps.is_empty() => view! {
            <p class="muted">"No Ollama provider is configured, so no loaded models to show."</p>
        }
        .into_any(),
        Some(Ok(ps)) => ps
            .into_iter()
            .map(|p| {
                let inner = match (p.loaded, p.loaded_error) {
                    (_, Some(e)) => view! { <p class="error-text">{e}</p> }.into_any(),
                    (Some(ms), None) if !ms.is_empty() => {
                        let provider = p.name.clone();
                        let rows = ms
                            .into_iter()
                            .map(|m| {
                                let (prov, model) = (provider.clone(), m.name.clone());
                                let note = RwSignal::new(None::<Result<String, String>>);
                                let unload = move |_| {
                                    let (prov, model) = (prov.clone(), model.clone());
                                    note.set(Some(Ok("Unloading…".into())));
                                    leptos::task::spawn_local(async move {
                                        let r = crate::api::unload(&prov, &model).await;
                                        note.set(Some(r.map(|_| "Unloaded".into()).map_err(|e| e.message)));
                                    });
                                };
                                let testid = format!("unload-{}", m.name);
                                view! {
                                    <tr>
                                        <td class="mono">{m.name}</td>
                                        <td class="num">{format::bytes(m.vram_bytes)}</td>
                                        <td class="num">{format::bytes(m.size_bytes)}</td>
                                        <td class="muted small">{m.expires_at.unwrap_or_default()}</td>
                                        <td>
                                            <button class="btn small" type="button" data-testid=testid on:click=unload>"Unload"</button>
                                            {move || note.get().map(|r| match r {
                                                Ok(t) => view! { <span class="field-note ok" role="status">" "{t}</span> }.into_any(),
                                                Err(e) => view! { <span class="field-note bad" role="alert">" "{e}</span> }.into_any(),
                                            })}
                                        </td>
                                    </tr>
                                }
                            })
                            .collect_view();
                        view! {
                            <div class="table-wrap">
                                <table class="table compact">
                                    <thead>
                                        <tr>
                                            <th scope="col">"Model"</th>
                                            <th scope="col" class="num">"VRAM"</th>
                                            <th scope="col" class="num">"Size"</th>
                                            <th scope="col">"Unloads at"</th>
                                            <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                                        </tr>
                                    </thead>
                                    <tbody>{rows}</tbody>
                                </table>
                            </div>
                        }
                        .into_any()
                    }
                    _ => view! { <p class="muted">"No model is loaded."</p> }.into_any(),
                };
                view! {
                    <div class="sub">
                        <h3 class="mono">{p.name}</h3>
                        {inner}
                    </div>
                }
            })
            .collect_view()
            .into_any(),
    }
    };
    view! {
        <section class="card" data-testid="gpu-loaded">
            <header class="card-head">
                <h2>"Loaded models (Ollama)"</h2>
            </header>
            {body}
        </section>
    }
}

#[component]
fn Switches(switches: RwSignal<Option<Option<Vec<ModelSwitch>>>>) -> impl IntoView {
    let body = move || {
        match switches.get() {
        None => view! { <Loading /> }.into_any(),
        Some(None) => view! {
            <p class="muted" data-testid="switches-unsupported">"This engine does not report model switches."</p>
        }
        .into_any(),
        Some(Some(list)) if list.is_empty() => view! {
            <p class="muted" data-testid="switches-empty">
                "A switch is a request that had to wait for Ollama to load its model; none seen since Lodestar started."
            </p>
        }
        .into_any(),
        Some(Some(list)) => {
            let now = now_ms();
            let medians = switch_medians(&list);
            // Medians say something once a model has switched more than once.
            let summary = medians.iter().any(|m| m.switches > 1).then(|| {
                let rows = medians
                    .into_iter()
                    .map(|m| {
                        view! {
                            <tr>
                                <td class="mono">{format!("{}/{}", m.provider, m.model)}</td>
                                <td class="num">{format::millis(m.median_ms)}</td>
                                <td class="num">{m.switches}</td>
                            </tr>
                        }
                    })
                    .collect_view();
                view! {
                    <div class="sub table-wrap">
                        <h3>"Median per model"</h3>
                        <table class="table compact" data-testid="switch-medians">
                            <thead>
                                <tr>
                                    <th scope="col">"Model"</th>
                                    <th scope="col" class="num">"Median to first byte"</th>
                                    <th scope="col" class="num">"Switches"</th>
                                </tr>
                            </thead>
                            <tbody>{rows}</tbody>
                        </table>
                    </div>
                }
            });
            let rows = list
                .into_iter()
                .map(|s| {
                    let evicted = if s.unloaded.is_empty() {
                        view! { <span class="muted" title="No model was seen evicted">"—"</span> }.into_any()
                    } else {
                        view! { <span class="mono">{s.unloaded.join(", ")}</span> }.into_any()
                    };
                    view! {
                        <tr data-testid="switch-row">
                            <td class="nowrap" title=local_datetime(s.at_ms)>{format::short_time(s.at_ms, now, offset_min(s.at_ms))}</td>
                            <td class="mono">{format!("{}/{}", s.provider, s.model)}</td>
                            <td class="num" data-testid="switch-took">{format::millis(s.took_ms)}</td>
                            <td>{evicted}</td>
                        </tr>
                    }
                })
                .collect_view();
            view! {
                <div class="table-wrap">
                    <table class="table compact" data-testid="switch-table">
                        <thead>
                            <tr>
                                <th scope="col">"When"</th>
                                <th scope="col">"Model"</th>
                                <th scope="col" class="num">"To first byte (incl. loading)"</th>
                                <th scope="col">"Evicted"</th>
                            </tr>
                        </thead>
                        <tbody>{rows}</tbody>
                    </table>
                </div>
                {summary}
            }
            .into_any()
        }
    }
    };
    view! {
        <section class="card" data-testid="gpu-switches">
            <header class="card-head">
                <h2>"Model switches"</h2>
                <span class="muted small">"Requests Ollama answered only after loading their model, newest first"</span>
            </header>
            {body}
        </section>
    }
}
