//! Settings: where the engine's config came from and what it says about listening, storage,
//! the cache and health; "Reload" reads the file again (the engine checks it first and keeps
//! the running config when it has errors, which are shown with file, line and key). The UI never
//! writes the file itself: the engine does, for the forms that edit it (Providers).

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::Value;

use crate::api;
use crate::components::{Loading, or_error};
use crate::types::ApiError;

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
                <p class="muted">"The engine's config, as it runs now. Edit the file, then reload; notifications and start-at-login live in the desktop app's tray menu."</p>
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
