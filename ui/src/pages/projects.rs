//! Projects: every project the config names or the ledger has seen (requests carrying
//! `x-lodestar-project: NAME`), with its default alias, local-only setting, its own budget
//! setting, spend today and this month, its daily quotas' use and its budgets; and per project
//! a form that sets those (`PUT /admin/api/projects/{name}`: the engine writes the config file
//! and applies it). The engine's refusals show next to the field they name; a quota or budget
//! amount that is not a number (or a budget period without an amount) is refused here, by its
//! field, without asking the engine.

use leptos::html;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api;
use crate::chart;
use crate::components::{BudgetBar, Loading, Meter, Stat, or_error};
use crate::format;
use crate::hooks::{page_hidden, use_interval};
use crate::types::{
    ApiError, BUDGET_PERIODS, BudgetEntry, Project, ProjectForm, QuotaKind, project_field,
};

/// Where a form's save stands.
#[derive(Debug, Clone, PartialEq)]
enum Save {
    Idle,
    Busy,
    Failed(ApiError),
}

#[component]
pub fn ProjectsPage() -> impl IntoView {
    // The project whose form is open (one at a time). Polling waits while a form is open, so a
    // refresh does not throw away what is being typed.
    let editing = RwSignal::new(None::<String>);
    let poll = RwSignal::new(0u64);
    use_interval(30_000, move || {
        if editing.get_untracked().is_none() && !page_hidden() {
            poll.update(|n| *n += 1);
        }
    });
    let projects = LocalResource::new(move || {
        poll.track();
        api::projects()
    });
    // The aliases the default picker offers.
    let models = LocalResource::new(api::models);
    let saved = RwSignal::new(None::<String>);
    let on_saved = move |msg: String| {
        saved.set(Some(msg));
        editing.set(None);
        projects.refetch();
    };
    let on_edit = move |name: Option<String>| {
        saved.set(None);
        editing.set(name);
    };
    view! {
        <section class="page" data-testid="page-projects">
            <header class="page-head">
                <h1>"Projects"</h1>
                <p class="muted">
                    "Requests carrying the header " <code>"x-lodestar-project: NAME"</code>
                    " belong to project NAME: its own default alias, local-only setting, daily quotas and budget apply to them, and their spend is counted apart."
                </p>
            </header>
            {move || saved.get().map(|m| view! { <p class="field-note ok" role="status" data-testid="project-saved">{m}</p> })}
            <Transition fallback=|| view! { <Loading /> }>
                {move || Suspend::new(async move {
                    let list = projects.await;
                    let aliases = models
                        .await
                        .map(|m| m.aliases.into_iter().map(|a| a.name).collect::<Vec<_>>());
                    or_error(list.map(|p| view! { <ProjectList projects=p.projects aliases editing on_edit on_saved /> }))
                })}
            </Transition>
        </section>
    }
}

/// How a request gets a project, for the empty state and the foot of the list.
fn how_to() -> impl IntoView {
    view! {
        <ul class="howto">
            <li>
                "Any client: send the header " <code>"x-lodestar-project: NAME"</code>
                " with its requests (1 to 64 letters, digits, " <code>"."</code> ", " <code>"_"</code> " or " <code>"-"</code>
                "). The project shows here after its first request."
            </li>
            <li>
                "Claude Code: start it with "
                <code>"ANTHROPIC_CUSTOM_HEADERS=\"x-lodestar-project: NAME\""</code> "."
            </li>
            <li>
                "Settings of its own: name it under " <code>"projects:"</code>
                " in the config (or save a seen project's form here, which writes it there):"
                <pre class="code">
                    "projects:\n  acme:\n    default: smart\n    local_only: false\n    quotas: { requests_per_day: 500, tokens_per_day: 2000000 }\n    budget: { period: month, usd: 50, hard_limit_usd: 60 }"
                </pre>
            </li>
        </ul>
    }
}

#[component]
fn ProjectList(
    projects: Vec<Project>,
    aliases: Result<Vec<String>, ApiError>,
    editing: RwSignal<Option<String>>,
    on_edit: impl Fn(Option<String>) + Copy + Send + Sync + 'static,
    on_saved: impl Fn(String) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    if projects.is_empty() {
        return view! {
            <div class="callout info" data-testid="projects-empty">
                <strong>"No projects yet"</strong>
                <p>"No request has named a project, and the config names none. A request gets a project like this:"</p>
                {how_to()}
            </div>
        }
        .into_any();
    }
    let cards = projects
        .into_iter()
        .map(|p| view! { <ProjectCard p aliases=aliases.clone() editing on_edit on_saved /> })
        .collect_view();
    view! {
        <div class="project-list" data-testid="projects-list">{cards}</div>
        <details class="card">
            <summary>"How requests get a project"</summary>
            {how_to()}
        </details>
    }
    .into_any()
}

#[component]
fn ProjectCard(
    p: Project,
    aliases: Result<Vec<String>, ApiError>,
    editing: RwSignal<Option<String>>,
    on_edit: impl Fn(Option<String>) + Copy + Send + Sync + 'static,
    on_saved: impl Fn(String) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let name = p.name.clone();
    let open = {
        let n = name.clone();
        Memo::new(move |_| editing.with(|e| e.as_deref() == Some(n.as_str())))
    };
    let edit_button = NodeRef::<html::Button>::new();
    let toggle = {
        let n = name.clone();
        move |_| on_edit((!open.get_untracked()).then(|| n.clone()))
    };
    let form_id = format!("project-form-{name}");
    let editor = {
        let p = p.clone();
        move || {
            open.get().then(|| {
                let on_done = move |msg: Option<String>| match msg {
                    Some(m) => on_saved(m),
                    None => {
                        on_edit(None);
                        if let Some(b) = edit_button.get_untracked() {
                            let _ = b.focus();
                        }
                    }
                };
                view! { <ProjectEditor project=p.clone() aliases=aliases.clone() on_done /> }
            })
        }
    };
    let status = if p.configured {
        view! { <span class="badge ok" data-testid="project-configured">"configured"</span> }
            .into_any()
    } else {
        view! { <span class="badge" data-testid="project-seen-only">"seen only"</span> }.into_any()
    };
    let default = match p.default.clone() {
        Some(a) => view! { <b class="mono" data-testid=format!("project-default-{name}")>{a}</b> }.into_any(),
        None => view! {
            <span class="muted" data-testid=format!("project-default-{name}")>"none of its own, so routing.default"</span>
        }
        .into_any(),
    };
    let budget_setting = match &p.budget {
        Some(b) => view! { <b>{b.text()}</b> }.into_any(),
        None => view! { <span class="muted">"none of its own"</span> }.into_any(),
    };
    let quotas = p.quota_lines();
    let quota_view = if quotas.is_empty() {
        view! { <p class="muted small">"No daily quotas."</p> }.into_any()
    } else {
        quotas
            .into_iter()
            .map(|q| {
                let which = match q.kind {
                    QuotaKind::Requests => "requests",
                    QuotaKind::Tokens => "tokens",
                };
                let label = q.text.clone();
                let over = q.fraction >= 1.0;
                view! {
                    <div class="quota" data-testid=format!("project-quota-{which}")>
                        <span class:bad=over>{q.text}</span>
                        <Meter fraction=q.fraction label />
                    </div>
                }
            })
            .collect_view()
            .into_any()
    };
    let budgets = (!p.budgets.is_empty()).then(|| {
        let list = p.budgets.iter().cloned().map(budget_view).collect_view();
        view! {
            <div class="project-budgets">
                <h3>"Budgets"</h3>
                {list}
            </div>
        }
    });
    let t = &p.today;
    view! {
        <article class="card project" data-testid=format!("project-card-{name}")>
            <header class="card-head">
                <h2 class="mono">{name.clone()}</h2>
                {status}
                {p.local_only.then(|| view! { <span class="badge local">"local only"</span> })}
                <span class="spacer"></span>
                <button
                    class="btn small"
                    type="button"
                    node_ref=edit_button
                    data-testid=format!("edit-project-{name}")
                    aria-expanded=move || if open.get() { "true" } else { "false" }
                    aria-controls=form_id
                    aria-label=format!("Edit project {name}")
                    on:click=toggle
                >
                    "Edit"
                </button>
            </header>
            <p class="project-default">"Default alias (what " <code>"auto"</code> " means for its requests): " {default}</p>
            <p class="project-budget-setting" data-testid=format!("project-budget-setting-{name}")>"Budget: " {budget_setting}</p>
            {(!p.configured).then(|| view! {
                <p class="muted small">"Seen in requests only: the config has no settings for it. Saving its form adds it under " <code>"projects:"</code> "."</p>
            })}
            <div class="stats">
                <Stat label="Requests today" value=format::count(t.requests) testid=format!("project-requests-{name}") />
                <Stat label="Tokens today" value=format::tokens(t.tokens) />
                <Stat label="Spend today" value=format::usd(t.cost_usd) testid=format!("project-spend-{name}") />
                <Stat
                    label="Spend this month"
                    value=format::usd(p.month.cost_usd)
                    note=format!("{} · {} tokens", format::plural(p.month.requests, "request", "requests"), format::tokens(p.month.tokens))
                />
            </div>
            <div class="quotas">{quota_view}</div>
            {budgets}
            {editor}
        </article>
    }
}

/// One of the project's budgets: spend of the budget, with its bar (projected where the
/// engine sent a pace).
fn budget_view(e: BudgetEntry) -> impl IntoView {
    let b = e.budget;
    let pace = e.pace;
    let has_pace = !pace.verdict.is_empty() || !pace.method.is_empty();
    let projected = if has_pace {
        pace.projected_usd
    } else {
        b.spent_usd
    };
    let bar = chart::budget_bar(
        b.usd,
        b.spent_usd,
        b.reserved_usd,
        b.hard_limit_usd,
        projected,
        &b.thresholds,
        &b.fired,
    );
    let verdict = has_pace.then(|| {
        let class = if pace.verdict.contains("early") || pace.verdict == "used up" {
            "badge bad"
        } else if pace.verdict == "on pace" {
            "badge warn"
        } else {
            "badge ok"
        };
        view! { <span class=class title=pace.method.clone()>{pace.verdict.clone()}</span> }
    });
    let hard = b
        .hard_limit_usd
        .map(|h| format!(" · hard limit {}", format::usd(h)))
        .unwrap_or_default();
    view! {
        <div class="budget" data-testid=format!("project-budget-{}", b.name)>
            <div class="budget-head">
                <b class="mono">{b.name.clone()}</b>
                <span class="muted small">{format!("per {}", b.period)}</span>
                <span class="spacer"></span>
                {verdict}
            </div>
            <p class="budget-figures">
                <b>{format::usd(b.spent_usd)}</b>
                {format!(" of {} ({}){hard}", format::usd(b.usd), format::pct(bar.used_of_budget_pct))}
                {(b.reserved_usd > 0.0).then(|| format!(" · {} reserved in flight", format::usd(b.reserved_usd)))}
            </p>
            <BudgetBar bar projected=has_pace />
        </div>
    }
}

/// The settings of one project, editable. `on_done(Some(note))` after the engine saved them;
/// `on_done(None)` on Cancel or Escape.
#[component]
fn ProjectEditor(
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
