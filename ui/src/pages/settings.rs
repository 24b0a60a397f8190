//! Settings: where the engine's config came from and what it says about listening, storage,
//! the cache and health; "Reload" reads the file again (the engine checks it first and keeps
//! the running config when it has errors, which are shown with file, line and key). The UI never
//! writes the file itself: the engine does, for the forms that edit it (Providers).
//!
//! "Desktop app": the preferences the tray app follows (which desktop notifications it shows,
//! whether it starts at login), kept by the engine (`/admin/api/preferences`). Each checkbox
//! sends only its own field and then shows what the engine answered; the tray's own changes
//! show up on the next read (every 10 s).

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::Value;

use crate::api;
use crate::components::{ErrorNote, Loading, or_error};
use crate::hooks::{page_hidden, use_interval};
use crate::types::{ApiError, NOTIFICATION_KINDS, Preferences, PreferencesChange};

#[derive(Debug, Clone, PartialEq)]
enum Reload {
    Idle,
    Busy,
    Done(Value),
    Failed(ApiError),
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "—".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[component]
pub fn SettingsPage() -> impl IntoView {
    let config = LocalResource::new(api::config);
    let reload = RwSignal::new(Reload::Idle);
    let do_reload = move |_| {
        reload.set(Reload::Busy);
        spawn_local(async move {
            match api::reload().await {
                Ok(v) => {
                    reload.set(Reload::Done(v));
                    config.refetch();
                }
                Err(e) => reload.set(Reload::Failed(e)),
            }
        });
    };
    let outcome = move || {
        match reload.get() {
        Reload::Idle => view! { <span data-testid="reload-note"></span> }.into_any(),
        Reload::Busy => view! { <span class="field-note muted" data-testid="reload-note">"Reloading…"</span> }.into_any(),
        Reload::Done(v) => {
            let restart: Vec<String> = v["outcome"]["needs_restart"]
                .as_array()
                .into_iter()
                .flatten()
                .map(text)
                .collect();
            let msg = if restart.is_empty() {
                "Reloaded: new requests use the file as it is now.".to_string()
            } else {
                format!("Reloaded; restart Lodestar to apply: {}.", restart.join(", "))
            };
            view! { <span class="field-note ok" role="status" data-testid="reload-done">{msg}</span> }.into_any()
        }
        Reload::Failed(e) => view! { <span class="field-note bad" role="alert" data-testid="reload-error">{e.message}</span> }.into_any(),
    }
    };
    view! {
        <section class="page" data-testid="page-settings">
            <header class="page-head">
                <h1>"Settings"</h1>
                <p class="muted">"The engine's config, as it runs now: edit the file, then reload. Below it, the desktop app's notifications and start at login."</p>
            </header>
            <section class="card">
                <header class="card-head"><h2>"Config file"</h2></header>
                <Transition fallback=|| view! { <Loading /> }>
                    {move || Suspend::new(async move { or_error(config.await.map(|c| view! { <ConfigFacts c /> })) })}
                </Transition>
                <div class="field-row">
                    <button class="btn primary" type="button" data-testid="reload" on:click=do_reload>"Reload config"</button>
                    {outcome}
                </div>
            </section>
            <DesktopPrefs />
        </section>
    }
}

/// Where a change to one preference stands.
#[derive(Debug, Clone, PartialEq)]
enum Save {
    Idle,
    Saving,
    Saved(String),
    Failed(ApiError),
}

fn save_note(s: Save, testid: String) -> impl IntoView {
    match s {
        Save::Idle => view! { <span class="field-note" data-testid=testid></span> }.into_any(),
        Save::Saving => view! { <span class="field-note muted" data-testid=testid>"Saving…"</span> }.into_any(),
        Save::Saved(m) => view! { <span class="field-note ok" data-testid=testid role="status">{m}</span> }.into_any(),
        Save::Failed(e) => view! { <span class="field-note bad" data-testid=testid role="alert">{e.message}</span> }.into_any(),
    }
}

/// The key of the autostart checkbox among the notification kinds.
const AUTOSTART: &str = "autostart";

/// What the note by a checkbox says once the engine has answered.
fn saved_text(key: &str, p: &Preferences) -> String {
    if key == AUTOSTART {
        match p.autostart {
            Some(true) => "Starts at login".into(),
            Some(false) => "Does not start at login".into(),
            None => "Not chosen yet".into(),
        }
    } else if p.notification(key) {
        "Shown".into()
    } else {
        "Muted".into()
    }
}

/// The desktop (tray) app's preferences: a checkbox per notification kind, and start at login.
#[component]
fn DesktopPrefs() -> impl IntoView {
    // None until the first answer.
    let prefs = RwSignal::new(None::<Result<Preferences, ApiError>>);
    // Bumped when a change is refused: the checkboxes go back to what the engine has.
    let revert = RwSignal::new(0u32);
    // Requests sent (reads and changes) and changes not answered yet: an answer is shown only
    // when nothing was sent after it, and a read only when no change is on its way.
    let sent = StoredValue::new(0u64);
    let pending = StoredValue::new(0u32);
    let saves: Vec<(&'static str, RwSignal<Save>)> = NOTIFICATION_KINDS
        .iter()
        .map(|(k, _)| *k)
        .chain([AUTOSTART])
        .map(|k| (k, RwSignal::new(Save::Idle)))
        .collect();
    let all_saves = StoredValue::new(saves.iter().map(|(_, s)| *s).collect::<Vec<_>>());
    let load = move || {
        sent.update_value(|n| *n += 1);
        let me = sent.get_value();
        spawn_local(async move {
            let r = api::preferences().await;
            if sent.get_value() != me || pending.get_value() != 0 {
                return;
            }
            // Changed elsewhere (the tray menu): a "Muted" or "Shown" from before is stale.
            let changed = prefs.with_untracked(|p| match (p, &r) {
                (Some(Ok(old)), Ok(new)) => old != new,
                _ => false,
            });
            if changed {
                all_saves.with_value(|v| {
                    v.iter()
                        .filter(|s| matches!(s.get_untracked(), Save::Saved(_)))
                        .for_each(|s| s.set(Save::Idle))
                });
            }
            prefs.set(Some(r));
        });
    };
    load();
    // The tray app changes them too.
    use_interval(10_000, move || {
        if !page_hidden() && pending.get_value() == 0 {
            load();
        }
    });
    let save_of = {
        let saves = saves.clone();
        move |key: &str| {
            saves
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, s)| *s)
                .unwrap_or_else(|| RwSignal::new(Save::Idle))
        }
    };
    let change = move |key: &'static str, save: RwSignal<Save>, body: PreferencesChange| {
        save.set(Save::Saving);
        sent.update_value(|n| *n += 1);
        pending.update_value(|n| *n += 1);
        let me = sent.get_value();
        spawn_local(async move {
            let r = api::set_preferences(&body).await;
            pending.update_value(|n| *n -= 1);
            let latest = sent.get_value() == me;
            match r {
                Ok(p) => {
                    save.set(Save::Saved(saved_text(key, &p)));
                    if latest {
                        prefs.set(Some(Ok(p)));
                    }
                }
                Err(e) => {
                    save.set(Save::Failed(e));
                    revert.update(|n| *n += 1);
                    if latest {
                        load();
                    }
                }
            }
        });
    };
    // Whether the preferences are loaded (changes only when that does: the checkboxes are
    // not rebuilt, and keep the focus, when new preferences arrive).
    let state = Memo::new(move |_| {
        prefs.with(|p| {
            p.as_ref()
                .map(|r| r.as_ref().map(|_| ()).map_err(Clone::clone))
        })
    });
    let current = move || {
        revert.track();
        prefs.with(|p| p.as_ref().and_then(|r| r.as_ref().ok()).cloned())
    };
    let body = move || match state.get() {
        None => view! { <Loading /> }.into_any(),
        Some(Err(err)) => view! { <ErrorNote err /> }.into_any(),
        Some(Ok(())) => {
            let toggles = NOTIFICATION_KINDS
                .iter()
                .map(|&(kind, label)| {
                    let save = save_of(kind);
                    let id = format!("pref-{kind}");
                    let note_id = format!("pref-{kind}-note");
                    view! {
                        <div class="pref-row">
                            <label class="check" for=id.clone()>
                                <input
                                    id=id.clone()
                                    type="checkbox"
                                    data-testid=id.clone()
                                    prop:checked=move || current().is_none_or(|p| p.notification(kind))
                                    aria-describedby=note_id.clone()
                                    aria-busy=move || (save.get() == Save::Saving).then_some("true")
                                    on:change=move |ev| {
                                        change(kind, save, PreferencesChange::notification(kind, event_target_checked(&ev)))
                                    }
                                />
                                <span>{label}</span>
                            </label>
                            <span id=note_id>{move || save_note(save.get(), format!("pref-{kind}-status"))}</span>
                        </div>
                    }
                })
                .collect_view();
            let save = save_of(AUTOSTART);
            let unset = move || {
                current()
                    .is_some_and(|p| p.autostart.is_none())
                    .then(|| view! { <span class="field-note muted" data-testid="autostart-unset">"not chosen yet"</span> })
            };
            view! {
                <fieldset class="prefs" data-testid="pref-notifications">
                    <legend>"Desktop notifications"</legend>
                    {toggles}
                </fieldset>
                <fieldset class="prefs">
                    <legend>"Start at login"</legend>
                    <div class="pref-row">
                        <label class="check" for="pref-autostart">
                            <input
                                id="pref-autostart"
                                type="checkbox"
                                data-testid="pref-autostart"
                                prop:checked=move || current().is_some_and(|p| p.autostart == Some(true))
                                aria-describedby="pref-autostart-note"
                                aria-busy=move || (save.get() == Save::Saving).then_some("true")
                                on:change=move |ev| change(AUTOSTART, save, PreferencesChange::autostart(event_target_checked(&ev)))
                            />
                            <span>"Start the desktop app at login"</span>
                        </label>
                        <span id="pref-autostart-note">
                            {unset}
                            {move || save_note(save.get(), "pref-autostart-status".to_string())}
                        </span>
                    </div>
                </fieldset>
            }
            .into_any()
        }
    };
    view! {
        <section class="card" data-testid="desktop-prefs" aria-labelledby="desktop-prefs-title">
            <header class="card-head"><h2 id="desktop-prefs-title">"Desktop app"</h2></header>
            <p class="hint">
                "These apply to the Lodestar desktop app (tray), which follows them at once; a headless "
                <code>"lodestar serve"</code>
                " only keeps them. The tray menu changes the same settings."
            </p>
            {body}
        </section>
    }
}

#[component]
fn ConfigFacts(c: Value) -> impl IntoView {
    let origin = if c["file"] == true {
        text(&c["origin"])
    } else {
        "the embedded default (no config file): write one to change anything".into()
    };
    let rows: Vec<(&str, String)> = vec![
        ("File", origin),
        ("Listens on", text(&c["listen"])),
        (
            "Also answers to",
            c["allowed_hosts"]
                .as_array()
                .filter(|a| !a.is_empty())
                .map_or("localhost only".into(), |a| {
                    a.iter().map(text).collect::<Vec<_>>().join(", ")
                }),
        ),
        (
            "Database",
            c["database"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| format!("off ({})", text(&c["storage_error"]))),
        ),
        (
            "Cache",
            format!(
                "{}, entries kept {} s",
                text(&c["cache"]["mode"]),
                text(&c["cache"]["ttl_s"])
            ),
        ),
        (
            "Health",
            if c["health"]["enabled"] == true {
                format!(
                    "probes every {} s; a circuit opens after {} failures in a row",
                    text(&c["health"]["probe_interval_s"]),
                    text(&c["health"]["failures"])
                )
            } else {
                "off".into()
            },
        ),
    ];
    let providers = c["providers"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|p| {
            view! {
                <tr>
                    <td class="mono">{text(&p["name"])}</td>
                    <td>{text(&p["kind"])}</td>
                    <td class="mono wrap">{text(&p["base_url"])}</td>
                    <td class="muted">{p["key"].as_str().map_or("no key".to_string(), |k| format!("from {k}"))}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <dl class="facts" data-testid="config-facts">
            {rows.into_iter().map(|(k, v)| view! { <dt>{k}</dt><dd class="wrap">{v}</dd> }).collect_view()}
        </dl>
        <div class="table-wrap">
            <table class="table compact" data-testid="config-providers">
                <thead><tr><th scope="col">"Provider"</th><th scope="col">"Kind"</th><th scope="col">"Address"</th><th scope="col">"Key"</th></tr></thead>
                <tbody>{providers}</tbody>
            </table>
        </div>
    }
}
