//! Projects (`/admin/api/projects`): each project's settings (its own budget among them), its
//! spend today and this month, its daily quota use and its budgets; and the edit form turned
//! into the body of `PUT /admin/api/projects/{name}`.

use serde::{Deserialize, Serialize};

use super::BudgetEntry;
use crate::format;

/// A project's daily limits (`config::Quotas`); `None`: no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct Quotas {
    #[serde(default)]
    pub requests_per_day: Option<u64>,
    /// Input + output tokens.
    #[serde(default)]
    pub tokens_per_day: Option<u64>,
}

/// A project's own budget setting (`config::ProjectBudget`, `projects.NAME.budget`): the
/// engine makes it the budget `NAME (project)`, whose status is among the project's `budgets`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ProjectBudget {
    /// `day`, `week` or `month` (kept as text: a newer engine's period still reads).
    pub period: String,
    pub usd: f64,
    /// Where priced requests are refused; None: alerts only.
    #[serde(default)]
    pub hard_limit_usd: Option<f64>,
}

/// The periods a project's budget can have, as the form offers them.
pub const BUDGET_PERIODS: [&str; 3] = ["day", "week", "month"];

impl ProjectBudget {
    /// `$50 / month, hard limit $60`, or `$25 / month, no hard limit`.
    pub fn text(&self) -> String {
        let limit = match self.hard_limit_usd {
            Some(h) => format!("hard limit {}", usd_setting(h)),
            None => "no hard limit".into(),
        };
        format!("{} / {}, {limit}", usd_setting(self.usd), self.period)
    }
}

/// A dollar amount someone set, as set: `$50`, `$12.50`, `$1,200`, `$0.50`, `$0.000001`.
pub fn usd_setting(v: f64) -> String {
    if !v.is_finite() {
        return format::usd(v);
    }
    if v.abs() >= 1.0 {
        let s = format::usd(v);
        return s.strip_suffix(".00").map(str::to_string).unwrap_or(s);
    }
    // Below a dollar, every digit typed (the shortest text that reads back as `v`), at least
    // cents.
    let s = format!("{}", v.abs());
    let s = match s.split_once('.') {
        Some((_, frac)) if frac.len() >= 2 => s.clone(),
        Some((_, frac)) => format!("{s}{}", "0".repeat(2 - frac.len())),
        None => format!("{s}.00"),
    };
    format!("{}${s}", if v < 0.0 { "-" } else { "" })
}

/// What today's requests used of the quotas.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct QuotaUse {
    pub requests: i64,
    pub tokens: i64,
}

/// Requests, tokens and spend over a period.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Usage {
    pub requests: i64,
    pub tokens: i64,
    pub cost_usd: f64,
}

/// One project: configured under `projects:`, or only seen in the ledger.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Project {
    pub name: String,
    /// False: requests carried its name, but the config has no settings for it.
    #[serde(default)]
    pub configured: bool,
    /// What the alias `auto` means for this project (None: `routing.default`).
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub local_only: bool,
    #[serde(default)]
    pub quotas: Quotas,
    /// Its own budget setting (None: none, or an engine that predates project budgets).
    #[serde(default)]
    pub budget: Option<ProjectBudget>,
    /// Today's use, sent when the project has quotas.
    #[serde(default)]
    pub quota_use: Option<QuotaUse>,
    #[serde(default)]
    pub today: Usage,
    #[serde(default)]
    pub month: Usage,
    /// The budgets scoped to this project (their `pace` where the engine sends it).
    #[serde(default)]
    pub budgets: Vec<BudgetEntry>,
}

/// `GET /admin/api/projects`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Projects {
    #[serde(default)]
    pub projects: Vec<Project>,
}

/// The body of `PUT /admin/api/projects/{name}`: every setting, since it replaces them
/// (`null` where there is none: `"budget": null` removes the project's budget).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProjectSettings {
    pub default: Option<String>,
    pub local_only: bool,
    pub quotas: Quotas,
    #[serde(default)]
    pub budget: Option<ProjectBudget>,
}

/// What `PUT /admin/api/projects/{name}` answers.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ProjectSaved {
    #[serde(default)]
    pub project: String,
    /// The config file written.
    #[serde(default)]
    pub config: String,
}

/// Which quota a line is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaKind {
    Requests,
    Tokens,
}

impl QuotaKind {
    /// The request field the engine names when it refuses this quota.
    pub fn param(self) -> &'static str {
        match self {
            QuotaKind::Requests => "quotas.requests_per_day",
            QuotaKind::Tokens => "quotas.tokens_per_day",
        }
    }
}

/// One quota as shown: `12 / 500 requests today`, and how much of it is used (may pass 1).
#[derive(Debug, Clone, PartialEq)]
pub struct QuotaLine {
    pub kind: QuotaKind,
    pub text: String,
    pub fraction: f64,
}

/// The line for a quota of `limit` of which `used` went today; None without a limit.
pub fn quota_line(kind: QuotaKind, used: i64, limit: Option<u64>) -> Option<QuotaLine> {
    let limit = limit?;
    let fraction = if limit == 0 {
        if used > 0 { 1.0 } else { 0.0 }
    } else {
        used.max(0) as f64 / limit as f64
    };
    let text = match kind {
        QuotaKind::Requests => format!(
            "{} / {} {} today",
            format::count(used),
            format::count(limit as i64),
            if limit == 1 { "request" } else { "requests" }
        ),
        QuotaKind::Tokens => format!(
            "{} / {} tokens today",
            format::tokens(used),
            format::tokens(limit as i64)
        ),
    };
    Some(QuotaLine {
        kind,
        text,
        fraction,
    })
}

impl Project {
    /// Its quotas with today's use (from `quota_use`, else today's totals), requests first.
    pub fn quota_lines(&self) -> Vec<QuotaLine> {
        let used = self.quota_use.unwrap_or(QuotaUse {
            requests: self.today.requests,
            tokens: self.today.tokens,
        });
        [
            quota_line(
                QuotaKind::Requests,
                used.requests,
                self.quotas.requests_per_day,
            ),
            quota_line(QuotaKind::Tokens, used.tokens, self.quotas.tokens_per_day),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

/// A sample of `GET /admin/api/projects` for the tests here and in `project_form`.
#[cfg(test)]
pub(super) const SAMPLE: &str = r#"{"projects":[
        {"name":"acme","configured":true,"default":"smart","local_only":false,
         "quotas":{"requests_per_day":500,"tokens_per_day":2000000},
         "budget":{"period":"month","usd":50.0,"hard_limit_usd":60.0},
         "quota_use":{"requests":12,"tokens":3400},
         "today":{"requests":12,"tokens":3400,"cost_usd":0.12},
         "month":{"requests":200,"tokens":50000,"cost_usd":2.5},
         "budgets":[{"budget":{"name":"acme-month","period":"month","project":"acme","usd":10.0,
            "hard_limit_usd":null,"spent_usd":2.5,"reserved_usd":0.0,"period_start_ms":1,
            "period_end_ms":2,"thresholds":[80.0],"fired":[]}}]},
        {"name":"private","configured":true,"default":null,"local_only":true,
         "quotas":{"requests_per_day":null,"tokens_per_day":null},"budget":null,"quota_use":null,
         "today":{"requests":0,"tokens":0,"cost_usd":0.0},
         "month":{"requests":3,"tokens":90,"cost_usd":0.0},"budgets":[]},
        {"name":"adhoc","configured":false,"default":null,"local_only":false,
         "quotas":{"requests_per_day":null,"tokens_per_day":null},"quota_use":null,
         "today":{"requests":1,"tokens":20,"cost_usd":0.0004},
         "month":{"requests":1,"tokens":20,"cost_usd":0.0004},"budgets":[]}
    ]}"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{ProjectForm, parse_usd};

    #[test]
    fn projects_read_the_engines_list() {
        let p: Projects = serde_json::from_str(SAMPLE).unwrap();
        assert_eq!(p.projects.len(), 3);
        let acme = &p.projects[0];
        assert!(acme.configured);
        assert_eq!(acme.default.as_deref(), Some("smart"));
        assert_eq!(acme.quotas.requests_per_day, Some(500));
        assert_eq!(acme.quotas.tokens_per_day, Some(2_000_000));
        assert_eq!(
            acme.quota_use,
            Some(QuotaUse {
                requests: 12,
                tokens: 3400
            })
        );
        assert_eq!(acme.month.cost_usd, 2.5);
        assert_eq!(
            acme.budget,
            Some(ProjectBudget {
                period: "month".into(),
                usd: 50.0,
                hard_limit_usd: Some(60.0)
            })
        );
        let b = &acme.budgets[0];
        assert_eq!(b.budget.name, "acme-month");
        assert_eq!(b.budget.hard_limit_usd, None);
        // No pace sent: the empty one.
        assert_eq!(b.pace.verdict, "");

        let private = &p.projects[1];
        assert_eq!(private.default, None);
        assert!(private.local_only);
        assert_eq!(private.quotas, Quotas::default());
        assert_eq!(private.quota_use, None);
        assert_eq!(private.budget, None);
        assert!(private.quota_lines().is_empty());

        let adhoc = &p.projects[2];
        assert!(!adhoc.configured);
        // No `budget` key (an engine before project budgets): none.
        assert_eq!(adhoc.budget, None);
        assert_eq!(adhoc.today.requests, 1);
        assert!(adhoc.budgets.is_empty());
    }

    #[test]
    fn missing_fields_have_defaults() {
        let p: Projects = serde_json::from_str(r#"{"projects":[{"name":"x"}]}"#).unwrap();
        let x = &p.projects[0];
        assert!(!x.configured);
        assert_eq!(x.budget, None);
        assert_eq!(x.today, Usage::default());
        let empty: Projects = serde_json::from_str("{}").unwrap();
        assert!(empty.projects.is_empty());
    }

    #[test]
    fn quota_lines_say_use_of_limit() {
        let p: Projects = serde_json::from_str(SAMPLE).unwrap();
        let lines = p.projects[0].quota_lines();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].text, "12 / 500 requests today");
        assert!((lines[0].fraction - 0.024).abs() < 1e-12);
        assert_eq!(lines[1].kind, QuotaKind::Tokens);
        assert_eq!(lines[1].text, "3.4k / 2M tokens today");
        assert!((lines[1].fraction - 0.0017).abs() < 1e-12);

        assert_eq!(quota_line(QuotaKind::Requests, 5, None), None);
        let one = quota_line(QuotaKind::Requests, 3, Some(1)).unwrap();
        assert_eq!(one.text, "3 / 1 request today");
        assert_eq!(one.fraction, 3.0);
        let big = quota_line(QuotaKind::Requests, 1234, Some(10_000)).unwrap();
        assert_eq!(big.text, "1,234 / 10,000 requests today");
        assert_eq!(
            quota_line(QuotaKind::Tokens, 0, Some(0)).unwrap().fraction,
            0.0
        );
    }

    #[test]
    fn quota_use_falls_back_to_todays_totals() {
        let p: Projects = serde_json::from_str(
            r#"{"projects":[{"name":"m","quotas":{"requests_per_day":2},
               "today":{"requests":1,"tokens":10,"cost_usd":0.0}}]}"#,
        )
        .unwrap();
        let lines = p.projects[0].quota_lines();
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].text, "1 / 2 requests today");
        assert_eq!(lines[0].fraction, 0.5);
    }

    #[test]
    fn the_card_says_the_budget_setting() {
        let b = |usd: f64, hard: Option<f64>| ProjectBudget {
            period: "month".into(),
            usd,
            hard_limit_usd: hard,
        };
        assert_eq!(b(50.0, Some(60.0)).text(), "$50 / month, hard limit $60");
        assert_eq!(b(25.0, None).text(), "$25 / month, no hard limit");
        assert_eq!(
            b(12.5, Some(1200.0)).text(),
            "$12.50 / month, hard limit $1,200"
        );
        assert_eq!(usd_setting(0.5), "$0.50");
        assert_eq!(usd_setting(0.05), "$0.05");
        assert_eq!(usd_setting(0.000001), "$0.000001");
        assert_eq!(usd_setting(0.125), "$0.125");
        assert_eq!(usd_setting(1.999), "$2");
        // The form opens with text that reads back as the same amounts.
        for v in [50.0, 12.5, 0.1, 0.000001, 1234.56] {
            let text = ProjectForm::of(&Project {
                budget: Some(b(v, Some(v))),
                ..serde_json::from_str(r#"{"name":"x"}"#).unwrap()
            });
            assert_eq!(
                parse_usd(&text.budget_usd, "budget.usd", "the budget").unwrap(),
                Some(v)
            );
            assert_eq!(
                parse_usd(&text.budget_hard_limit, "budget.usd", "the budget").unwrap(),
                Some(v)
            );
        }
    }
}
