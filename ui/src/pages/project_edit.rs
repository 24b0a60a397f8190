//! The Projects page's edit form for one project: default alias, local-only, daily quotas and
//! its own budget, sent as `PUT /admin/api/projects/{name}`. A quota or budget amount that is
//! not a number (or a budget period without an amount) is refused here, by its field, without
//! asking the engine; the engine's refusals show next to the field they name.

use leptos::html;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api;
use crate::types::{ApiError, BUDGET_PERIODS, Project, ProjectForm, project_field};

/// Where a form's save stands.
#[derive(Debug, Clone, PartialEq)]
enum Save {
    Idle,
    Busy,
    Failed(ApiError),
}

/// The settings of one project, editable. `on_done(Some(note))` after the engine saved them;
/// `on_done(None)` on Cancel or Escape.
#[component]
pub(super) fn ProjectEditor(
    project: Project,
    aliases: Result<Vec<String>, ApiError>,
    on_done: impl Fn(Option<String>) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let name = project.name.clone();
    let initial = ProjectForm::of(&project);
    let default = RwSignal::new(initial.default.clone());
    let local_only = RwSignal::new(initial.local_only);
    let requests = RwSignal::new(initial.requests_per_day.clone());
    let tokens = RwSignal::new(initial.tokens_per_day.clone());
    let period = RwSignal::new(initial.budget_period.clone());
    let budget_usd = RwSignal::new(initial.budget_usd.clone());
    let hard_limit = RwSignal::new(initial.budget_hard_limit.clone());
    // Without a period there is no budget: its amounts wait, greyed, and are not sent.
    let no_budget = move || period.with(|p| p.trim().is_empty());
    let save = RwSignal::new(Save::Idle);
    let busy = move || save.get() == Save::Busy;
    // Editing a field takes back the complaint about the last try.
    let edited = move || {
        if matches!(save.get_untracked(), Save::Failed(_)) {
            save.set(Save::Idle);
        }
    };

    let select_ref = NodeRef::<html::Select>::new();
    let requests_ref = NodeRef::<html::Input>::new();
    let tokens_ref = NodeRef::<html::Input>::new();
    let period_ref = NodeRef::<html::Select>::new();
    let usd_ref = NodeRef::<html::Input>::new();
    let hard_ref = NodeRef::<html::Input>::new();
    // Keyboard users land in the form when it opens.
    select_ref.on_load(|el| {
        let _ = el.focus();
    });
    let focus_field = move |field: Option<&str>| {
        let _ = match field {
            Some("default") => select_ref.get_untracked().map(|e| e.focus()),
            Some("quotas.requests_per_day") => requests_ref.get_untracked().map(|e| e.focus()),
            Some("quotas.tokens_per_day") => tokens_ref.get_untracked().map(|e| e.focus()),
            Some("budget") => period_ref.get_untracked().map(|e| e.focus()),
            Some("budget.usd") => usd_ref.get_untracked().map(|e| e.focus()),
            Some("budget.hard_limit_usd") => hard_ref.get_untracked().map(|e| e.focus()),
            _ => None,
        };
    };

    // Ids for this project's controls (project names are letters, digits, `.`, `_`, `-`).
    let id = {
        let n = name.clone();
        move |what: &str| format!("project-{n}-{what}")
    };
    let error_id = {
        let id = id.clone();
        move |field: Option<&str>| {
            id(&format!(
                "error-{}",
                field.unwrap_or("form").replace('.', "-")
            ))
        }
    };
    // The engine's (or the form's) message by the field it names; the rest by the buttons.
    let failed_on = move |field: Option<&'static str>| move || matches!(save.get(), Save::Failed(e) if project_field(e.param.as_deref()) == field);
    let note = {
        let error_id = error_id.clone();
        move |field: Option<&'static str>, testid: String| {
            let eid = error_id(field);
            move || match save.get() {
                Save::Failed(e) if project_field(e.param.as_deref()) == field => Some(view! {
                    <span class="field-note bad" role="alert" id=eid.clone() data-testid=testid.clone()>{e.message}</span>
                }),
                _ => None,
            }
        }
    };

    let submit = {
        let name = name.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            if save.get_untracked() == Save::Busy {
                return;
            }
            let form = ProjectForm {
                default: default.get_untracked(),
                local_only: local_only.get_untracked(),
                requests_per_day: requests.get_untracked(),
                tokens_per_day: tokens.get_untracked(),
                budget_period: period.get_untracked(),
                budget_usd: budget_usd.get_untracked(),
                budget_hard_limit: hard_limit.get_untracked(),
            };
            let body = match form.settings() {
                Ok(b) => b,
                Err(fe) => {
                    // Not sent: said by its field.
                    save.set(Save::Failed(ApiError {
                        status: None,
                        message: fe.message,
                        param: Some(fe.param.to_string()),
                        path: String::new(),
                    }));
                    focus_field(Some(fe.param));
                    return;
                }
            };
            save.set(Save::Busy);
            let name = name.clone();
            spawn_local(async move {
                match api::save_project(&name, &body).await {
                    Ok(r) => {
                        save.set(Save::Idle);
                        let msg = if r.config.is_empty() {
                            format!("Saved project {name}; new requests use its settings now.")
                        } else {
                            format!(
                                "Saved project {name} to {}; new requests use its settings now.",
                                r.config
                            )
                        };
                        on_done(Some(msg));
                    }
                    Err(e) => {
                        let field = project_field(e.param.as_deref());
                        save.set(Save::Failed(e));
                        focus_field(field);
                    }
                }
            });
        }
    };
    let on_key = move |ev: leptos::ev::KeyboardEvent| {
        if ev.key() == "Escape" {
            ev.prevent_default();
            on_done(None);
        }
    };

    // The picker: none (the config's routing.default), then every alias; a default the
    // models list lacks (removed since) stays offered so that saving does not change it.
    let current = initial.default.clone();
    let (mut names, alias_error) = match aliases {
        Ok(a) => (a, None),
        Err(e) => (Vec::new(), Some(e.message)),
    };
    if !current.is_empty() && !names.contains(&current) {
        names.push(current.clone());
    }
    let options = names
        .into_iter()
        .map(|a| {
            let selected = a == current;
            view! { <option value=a.clone() selected=selected>{a.clone()}</option> }
        })
        .collect_view();
    let alias_note = alias_error.map(|m| {
        view! { <span class="field-note bad">{format!("Could not list the aliases: {m}")}</span> }
    });

    let (sel_id, req_id, tok_id, lo_id) = (
        id("default"),
        id("requests"),
        id("tokens"),
        id("local-only"),
    );
    let (sel_for, req_for, tok_for, lo_for) = (
        sel_id.clone(),
        req_id.clone(),
        tok_id.clone(),
        lo_id.clone(),
    );
    let (e_default, e_req, e_tok) = (
        error_id(Some("default")),
        error_id(Some("quotas.requests_per_day")),
        error_id(Some("quotas.tokens_per_day")),
    );

    // The budget's period: none, then the engine's periods; one the engine sent that this
    // list lacks stays offered so that saving does not change it.
    let current_period = initial.budget_period.clone();
    let mut periods: Vec<String> = BUDGET_PERIODS.iter().map(|p| p.to_string()).collect();
    if !current_period.is_empty() && !periods.contains(&current_period) {
        periods.push(current_period.clone());
    }
    let period_options = periods
        .into_iter()
        .map(|p| {
            let selected = p == current_period;
            view! { <option value=p.clone() selected=selected>{format!("per {p}")}</option> }
        })
        .collect_view();
    let (per_id, usd_id, hard_id) = (
        id("budget-period"),
        id("budget-usd"),
        id("budget-hard-limit"),
    );
    let (per_for, usd_for, hard_for) = (per_id.clone(), usd_id.clone(), hard_id.clone());
    let (e_per, e_usd, e_hard) = (
        error_id(Some("budget")),
        error_id(Some("budget.usd")),
        error_id(Some("budget.hard_limit_usd")),
    );
    view! {
        <form
            class="sub project-form"
            id=format!("project-form-{name}")
            data-testid=format!("project-form-{name}")
            aria-label=format!("Settings of project {name}")
            on:submit=submit
            on:keydown=on_key
        >
            <h3>"Settings"</h3>
            {note(Some("name"), "project-error-name".into())}
            <div class="toolbar">
                <div class="field-col">
                    <label for=sel_for>"Default alias"</label>
                    <select
                        id=sel_id
                        node_ref=select_ref
                        data-testid="project-default-select"
                        aria-describedby=e_default
                        aria-invalid=move || if failed_on(Some("default"))() { "true" } else { "false" }
                        on:change=move |ev| {
                            default.set(event_target_value(&ev));
                            edited();
                        }
                    >
                        <option value="" selected=current.is_empty()>"none: routing.default"</option>
                        {options}
                    </select>
                    {alias_note}
                    {note(Some("default"), "project-error-default".into())}
                </div>
                <div class="field-col">
                    <label for=req_for>"Requests per day"</label>
                    <input
                        type="text"
                        inputmode="numeric"
                        autocomplete="off"
                        id=req_id
                        node_ref=requests_ref
                        placeholder="no limit"
                        data-testid="project-requests-input"
                        aria-describedby=e_req
                        aria-invalid=move || if failed_on(Some("quotas.requests_per_day"))() { "true" } else { "false" }
                        prop:value=move || requests.get()
                        on:input=move |ev| {
                            requests.set(event_target_value(&ev));
                            edited();
                        }
                    />
                    {note(Some("quotas.requests_per_day"), "project-error-requests".into())}
                </div>
                <div class="field-col">
                    <label for=tok_for>"Tokens per day"</label>
                    <input
                        type="text"
                        inputmode="numeric"
                        autocomplete="off"
                        id=tok_id
                        node_ref=tokens_ref
                        placeholder="no limit"
                        data-testid="project-tokens-input"
                        aria-describedby=e_tok
                        aria-invalid=move || if failed_on(Some("quotas.tokens_per_day"))() { "true" } else { "false" }
                        prop:value=move || tokens.get()
                        on:input=move |ev| {
                            tokens.set(event_target_value(&ev));
                            edited();
                        }
                    />
                    {note(Some("quotas.tokens_per_day"), "project-error-tokens".into())}
                </div>
                <label class="check" for=lo_for>
                    <input
                        type="checkbox"
                        id=lo_id
                        data-testid="project-local-only"
                        prop:checked=move || local_only.get()
                        on:change=move |ev| {
                            local_only.set(event_target_checked(&ev));
                            edited();
                        }
                    />
                    "Local only"
                </label>
            </div>
            <div class="toolbar" role="group" aria-label="Budget">
                <div class="field-col">
                    <label for=per_for>"Budget"</label>
                    <select
                        id=per_id
                        node_ref=period_ref
                        data-testid="project-budget-period"
                        aria-describedby=e_per
                        aria-invalid=move || if failed_on(Some("budget"))() { "true" } else { "false" }
                        on:change=move |ev| {
                            period.set(event_target_value(&ev));
                            edited();
                        }
                    >
                        <option value="" selected=current_period.is_empty()>"none"</option>
                        {period_options}
                    </select>
                    {note(Some("budget"), "project-error-budget".into())}
                </div>
                <div class="field-col">
                    <label for=usd_for>"Amount (USD)"</label>
                    <input
                        type="text"
                        inputmode="decimal"
                        autocomplete="off"
                        id=usd_id
                        node_ref=usd_ref
                        placeholder="like 50"
                        data-testid="project-budget-usd"
                        disabled=no_budget
                        aria-describedby=e_usd
                        aria-invalid=move || if failed_on(Some("budget.usd"))() { "true" } else { "false" }
                        prop:value=move || budget_usd.get()
                        on:input=move |ev| {
                            budget_usd.set(event_target_value(&ev));
                            edited();
                        }
                    />
                    {note(Some("budget.usd"), "project-error-budget-usd".into())}
                </div>
                <div class="field-col">
                    <label for=hard_for>"Hard limit (USD, optional)"</label>
                    <input
                        type="text"
                        inputmode="decimal"
                        autocomplete="off"
                        id=hard_id
                        node_ref=hard_ref
                        placeholder="none: alerts only"
                        data-testid="project-budget-hard-limit"
                        disabled=no_budget
                        aria-describedby=e_hard
                        aria-invalid=move || if failed_on(Some("budget.hard_limit_usd"))() { "true" } else { "false" }
                        prop:value=move || hard_limit.get()
                        on:input=move |ev| {
                            hard_limit.set(event_target_value(&ev));
                            edited();
                        }
                    />
                    {note(Some("budget.hard_limit_usd"), "project-error-budget-hard-limit".into())}
                </div>
            </div>
            <p class="hint">
                "Quotas count input and output tokens and requests per local calendar day; empty means no limit (500, 2,000,000 or 2M all work). Local only skips cloud entries in every route for this project's requests. The budget (listed as "
                <code>{format!("{name} (project)")}</code>
                ") alerts at 50, 80 and 100 % of its amount per calendar day, week or month; at the hard limit, if set, this project's priced requests are refused (402)."
            </p>
            <div class="field-row">
                <button class="btn primary" type="submit" data-testid="project-save" disabled=busy>"Save"</button>
                <button class="btn" type="button" data-testid="project-cancel" on:click=move |_| on_done(None)>"Cancel"</button>
                {move || busy().then(|| view! { <span class="field-note muted" role="status">"Saving…"</span> })}
                {note(None, "project-error".into())}
            </div>
        </form>
    }
}
