//! One page per file; each reads the admin API through `api` and shows only what it says.

mod add_provider;
mod alias_edit;
mod costs;
mod gpu;
mod models;
mod project_edit;
mod projects;
mod providers;
mod requests;
mod settings;

pub use costs::CostsPage;
pub use gpu::GpuPage;
pub use models::ModelsPage;
pub use projects::ProjectsPage;
pub use providers::ProvidersPage;
pub use requests::RequestsPage;
pub use settings::SettingsPage;

use leptos::prelude::*;

#[component]
pub fn NotFound() -> impl IntoView {
    view! {
        <section class="page">
            <h1>"Not found"</h1>
            <p>"There is no page here. " <a href="/ui/models">"Go to Models"</a> "."</p>
        </section>
    }
}
