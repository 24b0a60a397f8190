//! Checking `projects:`.

use std::collections::BTreeMap;

use serde_json::Value;

use super::super::raw::RawProject;
use super::super::{Project, ProjectBudget, Quotas};
use crate::ledger::{BudgetConfig, OnExceeded};

/// The budget a project's `budget:` becomes (`NAME (project)`).
pub(crate) fn project_budget(p: &Project) -> Option<BudgetConfig> {
    let b = p.budget?;
    Some(BudgetConfig {
        name: format!("{} (project)", p.name),
        period: b.period,
        usd: b.usd,
        thresholds: vec![50.0, 80.0, 100.0],
        hard_limit_usd: b.hard_limit_usd,
        on_exceeded: OnExceeded::Reject,
        project: Some(p.name.clone()),
    })
}
use super::Checker;

/// What a project name may be (what `x-lodestar-project` accepts).
pub fn valid_project_name(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= 64
        && p.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl Checker<'_> {
    pub(super) fn projects(&mut self, v: Value, declared_aliases: &[String]) -> Vec<Project> {
        if v.is_null() {
            return Vec::new();
        }
        let Some(raw) = self.de::<BTreeMap<String, RawProject>>(v, "projects") else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (name, p) in raw {
            let key = format!("projects.{name}");
            if !valid_project_name(&name) {
                self.error(
                    &key,
                    "a project name is 1 to 64 letters, digits, `.`, `_` or `-` (what the \
                     `x-lodestar-project` header carries)",
                );
                continue;
            }
            if let Some(alias) = &p.default
                && !declared_aliases.contains(alias)
            {
                self.error(
                    &format!("{key}.default"),
                    &format!(
                        "alias `{alias}` is not defined under `models:` (defined: {})",
                        super::names(declared_aliases.iter().map(String::as_str))
                    ),
                );
                continue;
            }
            let mut bad = false;
            for (k, q) in [
                ("requests_per_day", p.quotas.requests_per_day),
                ("tokens_per_day", p.quotas.tokens_per_day),
            ] {
                if q == Some(0) {
                    self.error(
                        &format!("{key}.quotas.{k}"),
                        "must be 1 or more (leave it out for no quota)",
                    );
                    bad = true;
                }
            }
            if let Some(b) = &p.budget {
                if !(b.usd > 0.0 && b.usd.is_finite()) {
                    self.error(
                        &format!("{key}.budget.usd"),
                        "must be a positive amount of USD",
                    );
                    bad = true;
                }
                if b.hard_limit_usd
                    .is_some_and(|h| !(h > 0.0 && h.is_finite()))
                {
                    self.error(
                        &format!("{key}.budget.hard_limit_usd"),
                        "must be a positive amount of USD (leave it out for alerts only)",
                    );
                    bad = true;
                }
            }
            if bad {
                continue;
            }
            out.push(Project {
                name,
                default: p.default,
                local_only: p.local_only.unwrap_or(false),
                quotas: Quotas {
                    requests_per_day: p.quotas.requests_per_day,
                    tokens_per_day: p.quotas.tokens_per_day,
                },
                budget: p.budget.map(|b| ProjectBudget {
                    period: b.period,
                    usd: b.usd,
                    hard_limit_usd: b.hard_limit_usd,
                }),
            });
        }
        out
    }
}
