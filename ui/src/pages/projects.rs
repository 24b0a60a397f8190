//! Projects: every project the config names or the ledger has seen (requests carrying
//! `x-lodestar-project: NAME`), with its default alias, local-only setting, its own budget
//! setting, spend today and this month, its daily quotas' use and its budgets; and per project
//! a form that sets those (`PUT /admin/api/projects/{name}`: the engine writes the config file
//! and applies it). The engine's refusals show next to the field they name; a quota or budget
//! amount that is not a number (or a budget period without an amount) is refused here, by its
//! field, without asking the engine.

use leptos::html;
use leptos::prelude::*;

use super::project_edit::ProjectEditor;
use crate::api;
use crate::chart;
use crate::components::{BudgetBar, Loading, Meter, Stat, or_error};
use crate::format;
use crate::hooks::{page_hidden, use_interval};
use crate::types::{ApiError, BudgetEntry, Project, QuotaKind};

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
