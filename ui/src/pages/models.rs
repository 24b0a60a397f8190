//! Models: every alias with its route (each entry's circuit, price and context window, where
//! the engine knows it), the default alias with a control to switch it, and the local-only
//! switch. Changes go to `PUT /admin/api/routing`; the engine's refusal is shown next to the
//! field it names.

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api;
use crate::components::{Loading, StateBadge, or_error};
use crate::format;
use crate::hooks::use_tick;
use crate::types::{Alias, ApiError, Models, RoutingChange};

/// Where a change to the routing stands.
#[derive(Debug, Clone, PartialEq)]
enum Save {
    Idle,
    Saving,
    Saved(String),
    Failed(ApiError),
}

#[component]
pub fn ModelsPage() -> impl IntoView {
    let tick = use_tick(10_000);
    let models = LocalResource::new(move || {
        tick.track();
        api::models()
    });
    // Bumped when a change is refused: the controls go back to what the engine has (a select
    // keeps what was picked unless told otherwise).
    let revert = RwSignal::new(0u32);
    let default_save = RwSignal::new(Save::Idle);
    let local_save = RwSignal::new(Save::Idle);

    let apply = move |change: RoutingChange, which: RwSignal<Save>, done: String| {
        which.set(Save::Saving);
        spawn_local(async move {
            match api::set_routing(&change).await {
                Ok(_) => {
                    which.set(Save::Saved(done));
                    models.refetch();
                }
                Err(e) => {
                    revert.update(|n| *n += 1);
                    // The engine names the field it refused; show it there.
                    let target = match e.param.as_deref() {
                        Some("local_only") => local_save,
                        Some("default") => default_save,
                        _ => which,
                    };
                    target.set(Save::Failed(e));
                }
            }
        });
    };
    let set_default = move |name: Option<String>| {
        let done = match &name {
            Some(n) => format!("Default is now {n}"),
            None => "Default is the config file's again".to_string(),
        };
        apply(
            RoutingChange {
                default: Some(name),
                local_only: None,
            },
            default_save,
            done,
        );
    };
    let set_local_only = move |on: bool| {
        apply(
            RoutingChange {
                default: None,
                local_only: Some(on),
            },
            local_save,
            if on {
                "Only local models will be used".into()
            } else {
                "Cloud models may be used again".into()
            },
        );
    };

    view! {
        <section class="page" data-testid="page-models">
            <header class="page-head">
                <h1>"Models"</h1>
                <p class="muted">
                    "Aliases clients ask for, and the route each one takes: the first entry whose circuit is closed answers; the next ones are its fallbacks."
                </p>
            </header>
            <Transition fallback=|| view! { <Loading /> }>
                    {move || Suspend::new(async move {
                        or_error(models
                            .await
                            .map(|m| {
                                let default = m.default.clone();
                                let local_only = m.local_only;
                                view! {
                                    <RoutingControls
                                        models=m.clone()
                                        default=default.clone()
                                        local_only
                                        revert
                                        default_save
                                        local_save
                                        set_default
                                        set_local_only
                                    />
                                    <AliasList models=m default set_default on_saved=move || models.refetch() />
                                    <super::alias_edit::AddAlias on_saved=move || models.refetch() />
                                }
                            }))
                    })}
            </Transition>
        </section>
    }
}

fn save_note(s: Save, testid: &'static str) -> impl IntoView {
    match s {
        Save::Idle => view! { <span class="field-note" data-testid=testid></span> }.into_any(),
        Save::Saving => view! { <span class="field-note muted" data-testid=testid>"Saving…"</span> }.into_any(),
        Save::Saved(m) => view! { <span class="field-note ok" data-testid=testid role="status">{m}</span> }.into_any(),
        Save::Failed(e) => view! { <span class="field-note bad" data-testid=testid role="alert">{e.message}</span> }.into_any(),
    }
}

#[component]
fn RoutingControls(
    models: Models,
    default: Option<String>,
    local_only: bool,
    revert: RwSignal<u32>,
    default_save: RwSignal<Save>,
    local_save: RwSignal<Save>,
    set_default: impl Fn(Option<String>) + Copy + 'static,
    set_local_only: impl Fn(bool) + Copy + 'static,
) -> impl IntoView {
    let switched = (models.default_source.as_deref() == Some("switched")).then(|| {
        let config_default = models.config_default.clone();
        view! {
            <p class="hint" data-testid="default-source">
                {format!(
                    "Switched at run time; the config file says {}. ",
                    config_default.as_deref().unwrap_or("none")
                )}
                <button class="btn small" type="button" on:click=move |_| set_default(None)>"Back to the config's"</button>
            </p>
        }
    });
    let none_option = default.is_none().then(|| {
        view! { <option value="" selected disabled>"— none —"</option> }
    });
    let fetched = default.clone();
    let current = move || {
        revert.track();
        fetched.clone().unwrap_or_default()
    };
    let checked = move || {
        revert.track();
        local_only
    };
    let options = models
        .aliases
        .iter()
        .map(|a| {
            let selected = default.as_deref() == Some(a.name.as_str());
            view! { <option value=a.name.clone() selected=selected>{a.name.clone()}</option> }
        })
        .collect_view();
    let busy = move || default_save.get() == Save::Saving;
    view! {
        <div class="card controls">
            <div class="field">
                <label for="default-alias">"Default alias"</label>
                <div class="field-row">
                    <select
                        id="default-alias"
                        data-testid="default-select"
                        prop:value=current
                        disabled=busy
                        aria-describedby="default-note"
                        on:change=move |ev| {
                            let v = event_target_value(&ev);
                            if !v.is_empty() {
                                set_default(Some(v));
                            }
                        }
                    >
                        {none_option}
                        {options}
                    </select>
                    <span id="default-note">{move || save_note(default_save.get(), "default-status")}</span>
                </div>
                <p class="hint">"Answers requests for the model \"auto\", and those naming no alias the engine knows when routing.unknown_model is default."</p>
                {switched}
            </div>
            <div class="field">
                <label class="switch" for="local-only">
                    <input
                        id="local-only"
                        type="checkbox"
                        role="switch"
                        data-testid="local-only"
                        prop:checked=checked
                        disabled=move || local_save.get() == Save::Saving
                        aria-describedby="local-note"
                        on:change=move |ev| set_local_only(event_target_checked(&ev))
                    />
                    <span class="switch-track" aria-hidden="true"></span>
                    <span>"Local only"</span>
                </label>
                <span id="local-note">{move || save_note(local_save.get(), "local-only-status")}</span>
                <p class="hint">"When on, cloud entries are skipped in every route: nothing leaves this machine and nothing is billed."</p>
            </div>
        </div>
    }
}

#[component]
fn AliasList(
    models: Models,
    default: Option<String>,
    set_default: impl Fn(Option<String>) + Copy + 'static,
    on_saved: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    if models.aliases.is_empty() {
        return view! {
            <div class="callout info">
                <strong>"No aliases"</strong>
                <p>"The config defines no " <code>"models:"</code> " yet: add an alias with a route to give clients a name to ask for."</p>
            </div>
        }
        .into_any();
    }
    let local_only = models.local_only;
    models
        .aliases
        .into_iter()
        .map(|a| {
            let is_default = default.as_deref() == Some(a.name.as_str());
            view! { <AliasCard alias=a is_default local_only set_default on_saved /> }
        })
        .collect_view()
        .into_any()
}

#[component]
fn AliasCard(
    alias: Alias,
    is_default: bool,
    local_only: bool,
    set_default: impl Fn(Option<String>) + Copy + 'static,
    on_saved: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let name = alias.name.clone();
    let editing = RwSignal::new(false);
    let targets: Vec<String> = alias.route.iter().map(|e| e.target.clone()).collect();
    // The context column only where some entry of this route has a known window.
    let with_context = alias.route.iter().any(|e| e.context_tokens.is_some());
    let editor = {
        let (name, targets) = (name.clone(), targets.clone());
        move || {
            editing.get().then(|| {
                let on_done = move |saved: bool| {
                    editing.set(false);
                    if saved {
                        on_saved();
                    }
                };
                view! { <super::alias_edit::RouteEditor name=name.clone() route=targets.clone() on_done /> }
            })
        }
    };
    let rows = alias
        .route
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let skipped = local_only && !e.local;
            view! {
                <tr class:skipped=skipped>
                    <td class="num muted">{i + 1}</td>
                    <td>
                        <span class="mono">{e.target.clone()}</span>
                        {skipped.then(|| view! { <span class="badge">"skipped: local only"</span> })}
                    </td>
                    <td>
                        {if e.local {
                            view! { <span class="badge local">"local"</span> }.into_any()
                        } else {
                            view! { <span class="badge cloud">"cloud"</span> }.into_any()
                        }}
                    </td>
                    <td><StateBadge state=e.circuit.clone() /></td>
                    <td>{e.provider_state.clone().map(|s| view! { <StateBadge state=s /> })}</td>
                    <td class="num">{format::usd_per_mtok(e.input_usd_per_mtok)}</td>
                    <td class="num">{format::usd_per_mtok(e.output_usd_per_mtok)}</td>
                    {with_context.then(|| view! {
                        <td class="num">
                            {e.context_label().map(|(short, title)| view! {
                                <abbr class="ctx" title=title data-testid="route-context">{short}</abbr>
                            })}
                        </td>
                    })}
                </tr>
            }
        })
        .collect_view();
    let fallback = alias.fallback_alias.clone().map(|f| {
        view! { <p class="muted small">"When every entry fails: alias " <b class="mono">{f}</b> "."</p> }
    });
    let make_default = (!is_default).then(|| {
        let n = name.clone();
        view! {
            <button class="btn small" type="button" on:click=move |_| set_default(Some(n.clone())) data-testid=format!("make-default-{name}")>
                "Make default"
            </button>
        }
    });
    view! {
        <article class="card alias" data-testid=format!("alias-{}", alias.name)>
            <header class="card-head">
                <h2 class="mono">{alias.name.clone()}</h2>
                {is_default.then(|| view! { <span class="badge accent" data-testid="default-badge">"default"</span> })}
                {alias.description.clone().map(|d| view! { <span class="muted small">{d}</span> })}
                <span class="spacer"></span>
                {make_default}
                <button class="btn small" type="button" data-testid=format!("edit-route-{}", alias.name) on:click=move |_| editing.update(|e| *e = !*e)>"Edit route"</button>
            </header>
            {if alias.route.is_empty() {
                view! { <p class="muted">"This alias has no route entries."</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap">
                        <table class="table">
                            <thead>
                                <tr>
                                    <th scope="col" class="num">"#"</th>
                                    <th scope="col">"Target"</th>
                                    <th scope="col">"Where"</th>
                                    <th scope="col">"Circuit"</th>
                                    <th scope="col">"Provider"</th>
                                    <th scope="col" class="num">"Input"</th>
                                    <th scope="col" class="num">"Output"</th>
                                    {with_context.then(|| view! { <th scope="col" class="num">"Context"</th> })}
                                </tr>
                            </thead>
                            <tbody>{rows}</tbody>
                        </table>
                    </div>
                }
                .into_any()
            }}
            {fallback}
            {editor}
        </article>
    }
}
