//! The Providers page's "Add a provider" form: name, kind, address and an optional API key
//! (sent once, stored by the engine in the OS keyring, never shown again). "Test connection"
//! probes it as configured without saving; "Add provider" has the engine write one line into
//! the config file (comments kept) and reload. The engine's refusals land next to the field
//! they name.

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde::{Deserialize, Serialize};

use crate::api;
use crate::format;
use crate::types::ApiError;

const KINDS: [(&str, &str); 4] = [
    (
        "openai-compatible",
        "OpenAI-compatible (vLLM, llama.cpp, LM Studio, Groq, OpenRouter…)",
    ),
    ("ollama", "Ollama"),
    ("openai", "OpenAI"),
    ("anthropic", "Anthropic"),
];
const FIELDS: [&str; 4] = ["name", "kind", "base_url", "api_key"];

#[derive(Debug, Clone, Serialize)]
struct ProviderForm {
    name: String,
    kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    base_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    api_key: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct Probe {
    ok: bool,
    latency_ms: f64,
    error: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct Tested {
    probe: Probe,
}

#[derive(Debug, Clone, Deserialize)]
struct Added {
    added: String,
    config: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Idle,
    Busy(&'static str),
    Tested { ok: bool, text: String },
    Added(String),
    Failed(ApiError),
}

fn opt(s: String) -> Option<String> {
    let t = s.trim().to_string();
    (!t.is_empty()).then_some(t)
}

/// `on_added` runs after the engine reloaded with the new provider.
#[component]
pub fn AddProvider(on_added: impl Fn() + Copy + Send + Sync + 'static) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let kind = RwSignal::new(KINDS[0].0.to_string());
    let url = RwSignal::new(String::new());
    let key = RwSignal::new(String::new());
    let outcome = RwSignal::new(Outcome::Idle);
    let form = move || ProviderForm {
        name: name.get_untracked().trim().to_string(),
        kind: kind.get_untracked(),
        base_url: opt(url.get_untracked()),
        api_key: opt(key.get_untracked()),
    };
    let error_for = move |field: &'static str| {
        move || match outcome.get() {
            Outcome::Failed(e) if e.param.as_deref() == Some(field) => Some(view! {
                <span class="field-note bad" role="alert" data-testid=format!("ap-error-{field}")>{e.message}</span>
            }),
            _ => None,
        }
    };
    let test = move |_| {
        outcome.set(Outcome::Busy("Testing…"));
        let f = form();
        spawn_local(async move {
            let r: Result<Tested, ApiError> = api::post("/admin/api/providers/test", &f).await;
            outcome.set(match r {
                Ok(t) if t.probe.ok => Outcome::Tested {
                    ok: true,
                    text: format!("Answered in {}", format::millis(t.probe.latency_ms)),
                },
                Ok(t) => Outcome::Tested {
                    ok: false,
                    text: t.probe.error.unwrap_or_else(|| "it did not answer".into()),
                },
                Err(e) => Outcome::Failed(e),
            });
        });
    };
    let add = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        outcome.set(Outcome::Busy("Adding…"));
        let f = form();
        spawn_local(async move {
            let r: Result<Added, ApiError> = api::post("/admin/api/providers", &f).await;
            match r {
                Ok(a) => {
                    outcome.set(Outcome::Added(format!(
                        "Added {} to {}; the engine uses it now.",
                        a.added, a.config
                    )));
                    name.set(String::new());
                    url.set(String::new());
                    key.set(String::new());
                    on_added();
                }
                Err(e) => outcome.set(Outcome::Failed(e)),
            }
        });
    };
    let note = move || {
        match outcome.get() {
        Outcome::Idle => view! { <span class="field-note" data-testid="ap-note"></span> }.into_any(),
        Outcome::Busy(what) => view! { <span class="field-note muted" data-testid="ap-note">{what}</span> }.into_any(),
        Outcome::Tested { ok, text } => view! {
            <span class=if ok { "field-note ok" } else { "field-note bad" } role="status" data-testid="ap-test-result" data-ok=ok.to_string()>{text}</span>
        }
        .into_any(),
        Outcome::Added(text) => view! { <span class="field-note ok" role="status" data-testid="ap-added">{text}</span> }.into_any(),
        // An error on no field of the form: shown here.
        Outcome::Failed(e) if !e.param.as_deref().is_some_and(|p| FIELDS.contains(&p)) => {
            view! { <span class="field-note bad" role="alert" data-testid="ap-error">{e.message}</span> }.into_any()
        }
        Outcome::Failed(_) => view! { <span class="field-note" data-testid="ap-note"></span> }.into_any(),
    }
    };
    view! {
        <section class="card" data-testid="add-provider">
            <header class="card-head">
                <h2>"Add a provider"</h2>
                <span class="muted small">"Written into your config file (your comments stay), then applied at once."</span>
            </header>
            <form class="toolbar" on:submit=add aria-label="Add a provider">
                <label class="grow">"Name"
                    <input type="text" data-testid="ap-name" placeholder="gpu-box" required
                        prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev)) />
                    {error_for("name")}
                </label>
                <label>"Kind"
                    <select data-testid="ap-kind" on:change=move |ev| kind.set(event_target_value(&ev)) prop:value=move || kind.get()>
                        {KINDS.iter().map(|(v, l)| view! { <option value=*v>{*l}</option> }).collect_view()}
                    </select>
                    {error_for("kind")}
                </label>
                <label class="grow">"Address (base URL)"
                    <input type="text" data-testid="ap-url" placeholder="http://gpu-box.lan:8000/v1"
                        prop:value=move || url.get() on:input=move |ev| url.set(event_target_value(&ev)) />
                    {error_for("base_url")}
                </label>
                <label class="grow">"API key (optional; kept in the OS keyring)"
                    <input type="password" data-testid="ap-key" autocomplete="off"
                        prop:value=move || key.get() on:input=move |ev| key.set(event_target_value(&ev)) />
                    {error_for("api_key")}
                </label>
                <div class="field-row">
                    <button class="btn" type="button" data-testid="ap-test" on:click=test>"Test connection"</button>
                    <button class="btn primary" type="submit" data-testid="ap-add">"Add provider"</button>
                    {note}
                </div>
            </form>
        </section>
    }
}
