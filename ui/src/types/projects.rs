//! Projects (`/admin/api/projects`): each project's settings, its spend today and this month,
//! its daily quota use and its budgets; and the edit form turned into the body of
//! `PUT /admin/api/projects/{name}`.

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
/// (`null` where there is none).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectSettings {
    pub default: Option<String>,
    pub local_only: bool,
    pub quotas: Quotas,
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

/// The fields of the edit form the engine can blame (`param`), in the order they show.
pub const PROJECT_FIELDS: [&str; 4] = [
    "name",
    "default",
    "quotas.requests_per_day",
    "quotas.tokens_per_day",
];

/// The form field an error belongs next to; None: the form's general note (no `param`, or
/// one the form has no field for).
pub fn project_field(param: Option<&str>) -> Option<&'static str> {
    let p = param?;
    PROJECT_FIELDS.iter().copied().find(|f| *f == p)
}

/// A value the form cannot send, and the field to show it by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub param: &'static str,
    pub message: String,
}

/// The edit form as typed: the default alias (empty: none of its own), local only, and the
/// two quotas as text (empty: no limit).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectForm {
    pub default: String,
    pub local_only: bool,
    pub requests_per_day: String,
    pub tokens_per_day: String,
}

impl ProjectForm {
    /// The form filled with what the project has now.
    pub fn of(p: &Project) -> ProjectForm {
        ProjectForm {
            default: p.default.clone().unwrap_or_default(),
            local_only: p.local_only,
            requests_per_day: p
                .quotas
                .requests_per_day
                .map_or_else(String::new, |n| n.to_string()),
            tokens_per_day: p
                .quotas
                .tokens_per_day
                .map_or_else(String::new, |n| n.to_string()),
        }
    }

    /// The PUT body, or the first field that does not hold a valid value.
    pub fn settings(&self) -> Result<ProjectSettings, FieldError> {
        let default = self.default.trim();
        Ok(ProjectSettings {
            default: (!default.is_empty()).then(|| default.to_string()),
            local_only: self.local_only,
            quotas: Quotas {
                requests_per_day: parse_limit(&self.requests_per_day, QuotaKind::Requests)?,
                tokens_per_day: parse_limit(&self.tokens_per_day, QuotaKind::Tokens)?,
            },
        })
    }
}

/// A daily limit as typed: empty is no limit; else a whole number from 1, with optional
/// thousands separators (`2,000,000`, `2_000_000`, `2 000 000`) or a `k`/`M`/`B` suffix
/// (`500k`, `1.5M`).
pub fn parse_limit(text: &str, kind: QuotaKind) -> Result<Option<u64>, FieldError> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    let what = match kind {
        QuotaKind::Requests => "requests per day",
        QuotaKind::Tokens => "tokens per day",
    };
    let bad = || FieldError {
        param: kind.param(),
        message: format!(
            "{what} must be a whole number of at least 1 (like 500, 2,000,000 or 2M), or empty for no limit; `{t}` is not"
        ),
    };
    let plain: String = t
        .chars()
        .filter(|c| !matches!(c, ',' | '_' | ' '))
        .collect();
    let (digits, scale) = match plain.char_indices().last() {
        Some((i, 'k' | 'K')) => (&plain[..i], 1_000u64),
        Some((i, 'm' | 'M')) => (&plain[..i], 1_000_000),
        Some((i, 'b' | 'B')) => (&plain[..i], 1_000_000_000),
        _ => (plain.as_str(), 1),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(bad());
    }
    let n = if scale == 1 {
        // No decimals without a suffix.
        digits.parse::<u64>().map_err(|_| bad())?
    } else {
        // `1.5M`: whole thousands or millions of a decimal, kept exact by scaling the text.
        let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
        let places = frac.len() as u32;
        if (whole.is_empty() && frac.is_empty()) || places > scale.ilog10() {
            return Err(bad());
        }
        let whole: u64 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| bad())?
        };
        let frac: u64 = if frac.is_empty() {
            0
        } else {
            frac.parse().map_err(|_| bad())?
        };
        whole
            .checked_mul(scale)
            .and_then(|w| w.checked_add(frac * (scale / 10u64.pow(places))))
            .ok_or_else(bad)?
    };
    if n == 0 {
        return Err(FieldError {
            param: kind.param(),
            message: format!("{what} must be at least 1; leave it empty for no limit"),
        });
    }
    Ok(Some(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{"projects":[
        {"name":"acme","configured":true,"default":"smart","local_only":false,
         "quotas":{"requests_per_day":500,"tokens_per_day":2000000},
         "quota_use":{"requests":12,"tokens":3400},
         "today":{"requests":12,"tokens":3400,"cost_usd":0.12},
         "month":{"requests":200,"tokens":50000,"cost_usd":2.5},
         "budgets":[{"budget":{"name":"acme-month","period":"month","project":"acme","usd":10.0,
            "hard_limit_usd":null,"spent_usd":2.5,"reserved_usd":0.0,"period_start_ms":1,
            "period_end_ms":2,"thresholds":[80.0],"fired":[]}}]},
        {"name":"private","configured":true,"default":null,"local_only":true,
         "quotas":{"requests_per_day":null,"tokens_per_day":null},"quota_use":null,
         "today":{"requests":0,"tokens":0,"cost_usd":0.0},
         "month":{"requests":3,"tokens":90,"cost_usd":0.0},"budgets":[]},
        {"name":"adhoc","configured":false,"default":null,"local_only":false,
         "quotas":{"requests_per_day":null,"tokens_per_day":null},"quota_use":null,
         "today":{"requests":1,"tokens":20,"cost_usd":0.0004},
         "month":{"requests":1,"tokens":20,"cost_usd":0.0004},"budgets":[]}
    ]}"#;

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
        assert!(private.quota_lines().is_empty());

        let adhoc = &p.projects[2];
        assert!(!adhoc.configured);
        assert_eq!(adhoc.today.requests, 1);
        assert!(adhoc.budgets.is_empty());
    }

    #[test]
    fn missing_fields_have_defaults() {
        let p: Projects = serde_json::from_str(r#"{"projects":[{"name":"x"}]}"#).unwrap();
        let x = &p.projects[0];
        assert!(!x.configured);
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
    fn errors_go_next_to_their_field() {
        assert_eq!(project_field(Some("default")), Some("default"));
        assert_eq!(
            project_field(Some("quotas.tokens_per_day")),
            Some("quotas.tokens_per_day")
        );
        assert_eq!(project_field(Some("name")), Some("name"));
        assert_eq!(project_field(Some("local_only")), None);
        assert_eq!(project_field(None), None);
    }

    #[test]
    fn the_form_fills_from_the_project_and_turns_into_the_put_body() {
        let p: Projects = serde_json::from_str(SAMPLE).unwrap();
        let form = ProjectForm::of(&p.projects[0]);
        assert_eq!(
            form,
            ProjectForm {
                default: "smart".into(),
                local_only: false,
                requests_per_day: "500".into(),
                tokens_per_day: "2000000".into(),
            }
        );
        let body = serde_json::to_value(form.settings().unwrap()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"default": "smart", "local_only": false,
                "quotas": {"requests_per_day": 500, "tokens_per_day": 2000000}})
        );

        // Empty inputs are nulls, sent as such (the PUT replaces every setting).
        let form = ProjectForm::of(&p.projects[2]);
        assert_eq!(form, ProjectForm::default());
        let body = serde_json::to_string(
            &ProjectForm {
                local_only: true,
                requests_per_day: "  ".into(),
                ..form
            }
            .settings()
            .unwrap(),
        )
        .unwrap();
        assert_eq!(
            body,
            r#"{"default":null,"local_only":true,"quotas":{"requests_per_day":null,"tokens_per_day":null}}"#
        );
    }

    #[test]
    fn an_invalid_number_names_its_field_and_sends_nothing() {
        let form = ProjectForm {
            default: "fast".into(),
            requests_per_day: "12".into(),
            tokens_per_day: "lots".into(),
            ..Default::default()
        };
        let e = form.settings().unwrap_err();
        assert_eq!(e.param, "quotas.tokens_per_day");
        assert!(e.message.contains("`lots`"), "{}", e.message);
        let form = ProjectForm {
            requests_per_day: "-3".into(),
            tokens_per_day: "lots".into(),
            ..Default::default()
        };
        assert_eq!(
            form.settings().unwrap_err().param,
            "quotas.requests_per_day"
        );
        for bad in [
            "1.5",
            "0",
            "00",
            "1e6",
            "k",
            ".",
            "1.2345k",
            "12x",
            "99999999999999999999",
        ] {
            let e = parse_limit(bad, QuotaKind::Requests).unwrap_err();
            assert_eq!(e.param, "quotas.requests_per_day", "{bad}");
        }
        assert!(
            parse_limit("0", QuotaKind::Tokens)
                .unwrap_err()
                .message
                .contains("at least 1")
        );
    }

    #[test]
    fn limits_read_the_way_people_type_them() {
        let ok = |s: &str| parse_limit(s, QuotaKind::Tokens).unwrap();
        assert_eq!(ok(""), None);
        assert_eq!(ok("   "), None);
        assert_eq!(ok("500"), Some(500));
        assert_eq!(ok(" 2,000,000 "), Some(2_000_000));
        assert_eq!(ok("2_000_000"), Some(2_000_000));
        assert_eq!(ok("2 000 000"), Some(2_000_000));
        assert_eq!(ok("500k"), Some(500_000));
        assert_eq!(ok("2M"), Some(2_000_000));
        assert_eq!(ok("1.5m"), Some(1_500_000));
        assert_eq!(ok(".5k"), Some(500));
        assert_eq!(ok("1.25B"), Some(1_250_000_000));
    }
}
