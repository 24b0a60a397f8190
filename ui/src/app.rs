//! The app's frame: the router, the top bar with the page links and the engine's version,
//! and one route per page (`pages`).

use leptos::prelude::*;
use leptos_router::components::{Route, Router, Routes};
use leptos_router::hooks::use_location;
use leptos_router::path;

use crate::hooks::use_tick;
use crate::pages::{
    CostsPage, GpuPage, ModelsPage, NotFound, ProjectsPage, ProvidersPage, RequestsPage,
    SettingsPage,
};
use crate::{api, format};

/// The pages in the nav, in order: (path under /ui, label).
const PAGES: [(&str, &str); 7] = [
    ("models", "Models"),
    ("providers", "Providers"),
    ("gpu", "GPU"),
    ("costs", "Costs"),
    ("projects", "Projects"),
    ("requests", "Requests"),
    ("settings", "Settings"),
];

#[component]
pub fn App() -> impl IntoView {
    view! {
        <Router>
            <a class="skip" href="#main">"Skip to content"</a>
            <header class="topbar">
                <a class="brand" href="/ui/models" aria-label="Lodestar, models">
                    <svg class="logo" viewBox="0 0 24 24" aria-hidden="true">
                        <path d="M12 2 L14.2 9.8 L22 12 L14.2 14.2 L12 22 L9.8 14.2 L2 12 L9.8 9.8 Z"></path>
                    </svg>
                    <span>"Lodestar"</span>
                </a>
                <Nav />
                <EngineInfo />
            </header>
            <main id="main" tabindex="-1">
                <Routes fallback=NotFound>
                    <Route path=path!("/ui") view=ModelsPage />
                    <Route path=path!("/ui/models") view=ModelsPage />
                    <Route path=path!("/ui/providers") view=ProvidersPage />
                    <Route path=path!("/ui/gpu") view=GpuPage />
                    <Route path=path!("/ui/costs") view=CostsPage />
                    <Route path=path!("/ui/projects") view=ProjectsPage />
                    <Route path=path!("/ui/requests") view=RequestsPage />
                    <Route path=path!("/ui/settings") view=SettingsPage />
                </Routes>
            </main>
        </Router>
    }
}

/// Plain links (the router handles their clicks), the current page marked with
/// `aria-current`.
#[component]
fn Nav() -> impl IntoView {
    let location = use_location();
    let current = move || {
        let p = location.pathname.get();
        let rest = p.trim_start_matches("/ui").trim_matches('/').to_string();
        if rest.is_empty() {
            "models".to_string()
        } else {
            rest
        }
    };
    let links = PAGES
        .iter()
        .map(|(slug, label)| {
            let here = move || (current() == *slug).then_some("page");
            view! {
                <a href=format!("/ui/{slug}") aria-current=here data-testid=format!("nav-{slug}")>
                    {*label}
                </a>
            }
        })
        .collect_view();
    view! { <nav class="nav" aria-label="Pages" data-testid="nav">{links}</nav> }
}

/// The engine's version and uptime, or that it cannot be reached (checked every 15 s).
#[component]
fn EngineInfo() -> impl IntoView {
    let tick = use_tick(15_000);
    let status = LocalResource::new(move || {
        tick.track();
        api::status()
    });
    let text = move || match status.get() {
        None => view! { <span class="muted">"connecting…"</span> }.into_any(),
        Some(Ok(s)) => view! {
            <span class="dot ok" aria-hidden="true"></span>
            <span>{format!("v{} · up {}", s.version, format::seconds(s.uptime_s as f64))}</span>
        }
        .into_any(),
        Some(Err(e)) => view! {
            <span class="dot bad" aria-hidden="true"></span>
            <span title=e.message.clone()>"engine unreachable"</span>
        }
        .into_any(),
    };
    view! { <div class="engine" data-testid="engine-info" aria-live="polite">{text}</div> }
}
