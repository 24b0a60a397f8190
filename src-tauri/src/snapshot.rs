//! What the tray shows, read from the engine's admin API: the admin API's JSON (only the
//! fields the tray uses, each with a default so an older or newer engine still parses) and
//! `Snapshot`, the one plain value the menu model and the icon are computed from.
//!
//! Owns the shapes of admin API answers and how they combine; must not do I/O (`api` fetches)
//! nor decide how anything is drawn (`menu`, `icon`).

use lodestar::health::gpu::GpuStatus;
use serde::Deserialize;

/// `GET /admin/api/models`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ModelsJson {
    pub default: Option<String>,
    pub default_source: String,
    pub config_default: Option<String>,
    pub local_only: bool,
    /// The proxy answers 503 `paused` to model requests (engines before pause: false).
    pub paused: bool,
    pub aliases: Vec<AliasJson>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct AliasJson {
    pub name: String,
    pub description: Option<String>,
    pub route: Vec<RouteEntryJson>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RouteEntryJson {
    pub target: String,
    pub provider: String,
    pub model: String,
    pub local: bool,
}

/// `GET /admin/api/status`.
#[derive(Debug, Clone, Deserialize)]
pub struct StatusJson {
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub providers: Vec<ProviderJson>,
    #[serde(default = "starting")]
    pub gpu: GpuStatus,
    #[serde(default)]
    pub remote_gpus: Vec<RemoteGpuJson>,
}

fn starting() -> GpuStatus {
    GpuStatus::Starting
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ProviderJson {
    pub name: String,
    pub kind: String,
    pub base_url: String,
    pub local: bool,
    pub health: Option<HealthJson>,
    /// Ollama only: the models loaded now.
    pub loaded: Option<Vec<LoadedJson>>,
    pub loaded_error: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct HealthJson {
    /// `up`, `degraded`, `down` or `unknown`.
    pub state: String,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct LoadedJson {
    pub name: String,
    pub size_bytes: u64,
    pub vram_bytes: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RemoteGpuJson {
    #[serde(default)]
    pub host: String,
    #[serde(flatten)]
    pub status: GpuStatus,
}

/// `GET /admin/api/costs/summary?period=...`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SummaryJson {
    pub total: TotalsJson,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct TotalsJson {
    pub requests: i64,
    pub cost_usd: f64,
    pub unpriced_requests: i64,
}

/// `GET /admin/api/budgets`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct BudgetsJson {
    pub budgets: Vec<BudgetEntryJson>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct BudgetEntryJson {
    pub budget: BudgetJson,
    pub pace: PaceJson,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct BudgetJson {
    pub name: String,
    pub period: String,
    pub usd: f64,
    pub spent_usd: f64,
    pub thresholds: Vec<f64>,
    pub fired: Vec<f64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PaceJson {
    pub verdict: String,
    pub projected_usd: f64,
}

/// A provider's state as the tray groups them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Up,
    Degraded,
    Down,
    Unknown,
}

impl Health {
    fn parse(s: &str) -> Health {
        match s {
            "up" => Health::Up,
            "degraded" => Health::Degraded,
            "down" => Health::Down,
            _ => Health::Unknown,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Alias {
    pub name: String,
    /// `provider/model` entries, in order.
    pub route: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Provider {
    pub name: String,
    pub health: Health,
    pub last_error: Option<String>,
}

/// A model an Ollama provider holds in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedModel {
    pub provider: String,
    /// The provider's base URL (where `keep_alive: 0` unloads it).
    pub base_url: String,
    pub name: String,
    pub vram_bytes: u64,
}

/// The GPUs as one reading for the icon: the busiest GPU's utilization and the memory of all.
#[derive(Debug, Clone, PartialEq)]
pub enum Gpu {
    /// Not read yet.
    Starting,
    /// None to read here, and why.
    None(String),
    Some {
        count: usize,
        utilization_pct: u32,
        memory_used_bytes: u64,
        memory_total_bytes: u64,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Spend {
    pub today_usd: f64,
    pub month_usd: f64,
    /// Requests this month whose price is unknown (their cost is not in the totals).
    pub unpriced_month: i64,
}

/// The budget closest to its limit.
#[derive(Debug, Clone, PartialEq)]
pub struct TopBudget {
    pub name: String,
    pub period: String,
    pub spent_usd: f64,
    pub usd: f64,
    /// The engine's pace verdict: `on pace`, `under pace`, `N days early`, `used up`.
    pub verdict: String,
}

/// Everything the tray shows, at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub version: String,
    pub aliases: Vec<Alias>,
    /// The alias `auto` goes to now.
    pub default: Option<String>,
    pub local_only: bool,
    pub paused: bool,
    pub providers: Vec<Provider>,
    /// Whether any provider is an Ollama (so "no model loaded" means something).
    pub has_ollama: bool,
    pub loaded: Vec<LoadedModel>,
    pub gpu: Gpu,
    /// None: the ledger is off or unreadable.
    pub spend: Option<Spend>,
    pub top_budget: Option<TopBudget>,
    /// Some budget passed one of its soft thresholds this period.
    pub budget_warning: bool,
}

impl Snapshot {
    /// Combine the admin API's answers. `spend` and `budgets` are None when the ledger is off.
    pub fn from_parts(
        models: ModelsJson,
        status: StatusJson,
        spend: Option<Spend>,
        budgets: Option<BudgetsJson>,
    ) -> Snapshot {
        let aliases = models
            .aliases
            .into_iter()
            .map(|a| Alias {
                name: a.name,
                route: a.route.into_iter().map(|r| r.target).collect(),
            })
            .collect();
        let mut loaded = Vec::new();
        let mut providers = Vec::new();
        let mut has_ollama = false;
        for p in status.providers {
            has_ollama |= p.kind == "ollama";
            for m in p.loaded.into_iter().flatten() {
                loaded.push(LoadedModel {
                    provider: p.name.clone(),
                    base_url: p.base_url.clone(),
                    name: m.name,
                    vram_bytes: m.vram_bytes,
                });
            }
            let (health, last_error) = match p.health {
                Some(h) => (Health::parse(&h.state), h.last_error),
                None => (Health::Unknown, None),
            };
            providers.push(Provider {
                name: p.name,
                health,
                last_error,
            });
        }
        let budgets = budgets.map(|b| b.budgets).unwrap_or_default();
        let budget_warning = budgets.iter().any(|b| passed_soft_threshold(&b.budget));
        let top_budget = budgets
            .into_iter()
            .filter(|b| b.budget.usd > 0.0)
            .max_by(|a, b| {
                let fa = a.budget.spent_usd / a.budget.usd;
                let fb = b.budget.spent_usd / b.budget.usd;
                fa.total_cmp(&fb)
            })
            .map(|b| TopBudget {
                name: b.budget.name,
                period: b.budget.period,
                spent_usd: b.budget.spent_usd,
                usd: b.budget.usd,
                verdict: b.pace.verdict,
            });
        Snapshot {
            version: status.version,
            aliases,
            default: models.default,
            local_only: models.local_only,
            paused: models.paused,
            providers,
            has_ollama,
            loaded,
            gpu: gpu_of(&status.gpu, &status.remote_gpus),
            spend,
            top_budget,
            budget_warning,
        }
    }

    pub fn count(&self, h: Health) -> usize {
        self.providers.iter().filter(|p| p.health == h).count()
    }
}

/// Spend passed the lowest threshold (or one has fired this period).
fn passed_soft_threshold(b: &BudgetJson) -> bool {
    if !b.fired.is_empty() {
        return true;
    }
    let lowest = b.thresholds.iter().copied().fold(f64::INFINITY, f64::min);
    b.usd > 0.0 && lowest.is_finite() && b.spent_usd * 100.0 >= b.usd * lowest
}

/// This machine's GPUs, else the remote agents' (a tray on a laptop driving a GPU box).
fn gpu_of(local: &GpuStatus, remote: &[RemoteGpuJson]) -> Gpu {
    let mut gpus = Vec::new();
    let mut starting = matches!(local, GpuStatus::Starting);
    let mut reason = match local {
        GpuStatus::Ok { gpus: g } => {
            gpus.extend(g.iter().cloned());
            None
        }
        GpuStatus::None { reason } | GpuStatus::Unreachable { reason } => Some(reason.clone()),
        GpuStatus::Starting => None,
    };
    if gpus.is_empty() {
        for r in remote {
            match &r.status {
                GpuStatus::Ok { gpus: g } => gpus.extend(g.iter().cloned()),
                GpuStatus::Starting => starting = true,
                GpuStatus::None { reason: why } | GpuStatus::Unreachable { reason: why } => {
                    reason.get_or_insert_with(|| format!("{}: {why}", r.host));
                }
            }
        }
    }
    if gpus.is_empty() {
        return match (starting, reason) {
            (true, _) => Gpu::Starting,
            (false, Some(r)) => Gpu::None(r),
            (false, None) => Gpu::None("no GPU reported".into()),
        };
    }
    Gpu::Some {
        count: gpus.len(),
        utilization_pct: gpus.iter().map(|g| g.utilization_pct).max().unwrap_or(0),
        memory_used_bytes: gpus.iter().map(|g| g.memory_used_bytes).sum(),
        memory_total_bytes: gpus.iter().map(|g| g.memory_total_bytes).sum(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn models_json() -> ModelsJson {
        serde_json::from_str(
            r#"{"default":"fast","default_source":"config","config_default":"fast",
                "local_only":false,"aliases":[
                {"name":"fast","description":null,"route":[
                  {"target":"local/qwen","provider":"local","model":"qwen","local":true,
                   "circuit":"closed","provider_state":"up"},
                  {"target":"openai/gpt-4o-mini","provider":"openai","model":"gpt-4o-mini",
                   "local":false}]},
                {"name":"smart","route":[{"target":"claude/sonnet","provider":"claude",
                  "model":"sonnet","local":false}]}]}"#,
        )
        .unwrap_or_default()
    }

    pub(crate) fn status_json() -> StatusJson {
        match serde_json::from_str(
            r#"{"version":"0.1.0","uptime_s":3,"providers":[
                {"name":"local","kind":"ollama","base_url":"http://127.0.0.1:11434",
                 "health":{"provider":"local","state":"up"},
                 "loaded":[{"name":"qwen","size_bytes":6000000000,"vram_bytes":5368709120}]},
                {"name":"openai","kind":"openai","base_url":"https://api.openai.com/v1",
                 "health":{"state":"down","last_error":"connection refused"}},
                {"name":"claude","kind":"anthropic","base_url":"https://api.anthropic.com",
                 "health":null}],
               "gpu":{"status":"ok","gpus":[{"index":0,"name":"RTX","utilization_pct":42,
                 "memory_used_bytes":6442450944,"memory_total_bytes":25769803776,
                 "temperature_c":50,"power_w":100.0,"processes":[]}]},
               "remote_gpus":[]}"#,
        ) {
            Ok(s) => s,
            Err(e) => panic!("status JSON: {e}"),
        }
    }

    pub(crate) fn snapshot() -> Snapshot {
        Snapshot::from_parts(
            models_json(),
            status_json(),
            Some(Spend {
                today_usd: 0.12,
                month_usd: 3.4,
                unpriced_month: 0,
            }),
            serde_json::from_str(
                r#"{"budgets":[
                  {"budget":{"name":"daily","period":"day","usd":5,"spent_usd":1,
                    "thresholds":[50,80,100],"fired":[]},"pace":{"verdict":"on pace"}},
                  {"budget":{"name":"monthly","period":"month","usd":40,"spent_usd":30,
                    "thresholds":[90],"fired":[]},"pace":{"verdict":"3.0 days early"}}]}"#,
            )
            .ok(),
        )
    }

    #[test]
    fn combines_the_admin_answers() {
        let s = snapshot();
        assert_eq!(s.default.as_deref(), Some("fast"));
        assert_eq!(s.aliases.len(), 2);
        assert_eq!(s.aliases[0].route, ["local/qwen", "openai/gpt-4o-mini"]);
        assert!(s.has_ollama);
        assert_eq!(s.loaded.len(), 1);
        assert_eq!(s.loaded[0].base_url, "http://127.0.0.1:11434");
        assert_eq!(s.count(Health::Up), 1);
        assert_eq!(s.count(Health::Down), 1);
        assert_eq!(s.count(Health::Unknown), 1);
        assert_eq!(
            s.gpu,
            Gpu::Some {
                count: 1,
                utilization_pct: 42,
                memory_used_bytes: 6442450944,
                memory_total_bytes: 25769803776
            }
        );
        let top = s.top_budget.as_ref().map(|b| b.name.as_str());
        assert_eq!(top, Some("monthly"), "75% beats 20%");
        assert!(!s.budget_warning, "below every threshold");
    }

    #[test]
    fn a_budget_past_its_lowest_threshold_warns() {
        let b = BudgetJson {
            usd: 5.0,
            spent_usd: 2.5,
            thresholds: vec![50.0, 80.0],
            ..BudgetJson::default()
        };
        assert!(passed_soft_threshold(&b));
        let fired = BudgetJson {
            fired: vec![50.0],
            ..BudgetJson::default()
        };
        assert!(passed_soft_threshold(&fired));
        let calm = BudgetJson {
            usd: 5.0,
            spent_usd: 2.0,
            thresholds: vec![50.0],
            ..BudgetJson::default()
        };
        assert!(!passed_soft_threshold(&calm));
    }

    #[test]
    fn no_local_gpu_falls_back_to_remote_then_says_why() {
        let none = GpuStatus::None {
            reason: "no driver".into(),
        };
        assert_eq!(gpu_of(&none, &[]), Gpu::None("no driver".into()));
        assert_eq!(gpu_of(&GpuStatus::Starting, &[]), Gpu::Starting);
        let remote: Vec<RemoteGpuJson> = match serde_json::from_str(
            r#"[{"host":"box","agent_url":"http://box:9091","status":"ok","gpus":[
                {"index":0,"name":"A","utilization_pct":10,"memory_used_bytes":1,
                 "memory_total_bytes":4,"temperature_c":null,"power_w":null,"processes":[]},
                {"index":1,"name":"B","utilization_pct":70,"memory_used_bytes":2,
                 "memory_total_bytes":4,"temperature_c":null,"power_w":null,"processes":[]}]}]"#,
        ) {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(
            gpu_of(&none, &remote),
            Gpu::Some {
                count: 2,
                utilization_pct: 70,
                memory_used_bytes: 3,
                memory_total_bytes: 8
            }
        );
    }
}
