//! Editing aliases on the Models page: a route's entries reordered, removed or added
//! (`PUT /admin/api/aliases/{name}`), and a new alias (`POST /admin/api/aliases`). The engine
//! edits the config file (comments kept) and reloads; its refusals show next to the field.

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::{Value, json};

use crate::api;
use crate::types::ApiError;

#[derive(Debug, Clone, PartialEq)]
enum Save {
    Idle,
    Busy,
    Failed(ApiError),
}

fn note(save: RwSignal<Save>, field: &'static str, testid: &'static str) -> impl IntoView {
    move || {
        match save.get() {
        Save::Busy => Some(view! { <span class="field-note muted">"Saving…"</span> }.into_any()),
        Save::Failed(e) if e.param.as_deref() == Some(field) || e.param.is_none() => Some(
            view! { <span class="field-note bad" role="alert" data-testid=testid>{e.message}</span> }
                .into_any(),
        ),
        _ => None,
    }
    }
}

/// The route of alias `name`, editable; `on_saved` after the engine applied it.
#[component]
pub fn RouteEditor(
    name: String,
    route: Vec<String>,
    on_done: impl Fn(bool) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let entries = RwSignal::new(route);
    let adding = RwSignal::new(String::new());
    let save = RwSignal::new(Save::Idle);
    let move_by = move |i: usize, up: bool| {
        entries.update(|v| {
            let j = if up { i.checked_sub(1) } else { Some(i + 1) };
            if let Some(j) = j.filter(|j| *j < v.len()) {
                v.swap(i, j);
            }
        })
    };
    let add = move |_| {
        let t = adding.get_untracked().trim().to_string();
        if !t.is_empty() {
            entries.update(|v| v.push(t));
            adding.set(String::new());
        }
    };
    let submit = {
        let name = name.clone();
        move |_| {
            save.set(Save::Busy);
            let (name, route) = (name.clone(), entries.get_untracked());
            spawn_local(async move {
                let r: Result<Value, ApiError> = api::put(
                    &format!("/admin/api/aliases/{name}"),
                    &json!({ "route": route }),
                )
                .await;
                match r {
                    Ok(_) => {
                        save.set(Save::Idle);
                        on_done(true);
                    }
                    Err(e) => save.set(Save::Failed(e)),
                }
            });
        }
    };
    let list = move || {
        let v = entries.get();
        let n = v.len();
        v.into_iter()
            .enumerate()
            .map(|(i, t)| {
                view! {
                    <li class="field-row">
                        <span class="num muted">{i + 1}</span>
                        <span class="mono grow">{t.clone()}</span>
                        <button class="btn small" type="button" aria-label=format!("Move {t} up") disabled=i == 0 on:click=move |_| move_by(i, true)>"↑"</button>
                        <button class="btn small" type="button" aria-label=format!("Move {t} down") disabled=i + 1 == n on:click=move |_| move_by(i, false)>"↓"</button>
                        <button class="btn small" type="button" aria-label=format!("Remove {t}") on:click=move |_| entries.update(|v| { v.remove(i); })>"Remove"</button>
                    </li>
                }
            })
            .collect_view()
    };
    view! {
        <div class="sub route-editor" data-testid=format!("route-editor-{name}")>
            <h3>"Route, in fallback order"</h3>
            <ol class="plain" data-testid="route-entries">{list}</ol>
            <div class="field-row">
                <input type="text" placeholder="provider/model" data-testid="route-add-input"
                    prop:value=move || adding.get() on:input=move |ev| adding.set(event_target_value(&ev)) />
                <button class="btn small" type="button" data-testid="route-add" on:click=add>"Add entry"</button>
            </div>
            <div class="field-row">
                <button class="btn primary" type="button" data-testid="route-save" on:click=submit>"Save route"</button>
                <button class="btn" type="button" on:click=move |_| on_done(false)>"Cancel"</button>
                {note(save, "route", "route-error")}
            </div>
        </div>
    }
}

/// A new alias: its name and route (entries separated by commas, in fallback order).
#[component]
pub fn AddAlias(on_saved: impl Fn() + Copy + Send + Sync + 'static) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let route = RwSignal::new(String::new());
    let save = RwSignal::new(Save::Idle);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        save.set(Save::Busy);
        let n = name.get_untracked().trim().to_string();
        let r: Vec<String> = route
            .get_untracked()
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        spawn_local(async move {
            let res: Result<Value, ApiError> =
                api::post("/admin/api/aliases", &json!({ "name": n, "route": r })).await;
            match res {
                Ok(_) => {
                    save.set(Save::Idle);
                    name.set(String::new());
                    route.set(String::new());
                    on_saved();
                }
                Err(e) => save.set(Save::Failed(e)),
            }
        });
    };
    view! {
        <section class="card" data-testid="add-alias">
            <header class="card-head">
                <h2>"Add an alias"</h2>
                <span class="muted small">"A name clients ask for, and the entries it tries in order."</span>
            </header>
            <form class="toolbar" on:submit=submit aria-label="Add an alias">
                <label>"Name"
                    <input type="text" data-testid="aa-name" placeholder="cheap" required
                        prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev)) />
                    {note(save, "name", "aa-error-name")}
                </label>
                <label class="grow">"Route (comma-separated, first tried first)"
                    <input type="text" data-testid="aa-route" placeholder="local/qwen2.5-coder:7b, openai/gpt-4o-mini"
                        prop:value=move || route.get() on:input=move |ev| route.set(event_target_value(&ev)) />
                </label>
                <div class="field-row">
                    <button class="btn primary" type="submit" data-testid="aa-add">"Add alias"</button>
                    {note(save, "route", "aa-error-route")}
                </div>
            </form>
        </section>
    }
}
