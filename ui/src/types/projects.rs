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

/// The fields of the edit form the engine can blame (`param`), in the order they show
/// (`budget`: the budget's period).
pub const PROJECT_FIELDS: [&str; 7] = [
    "name",
    "default",
    "quotas.requests_per_day",
    "quotas.tokens_per_day",
    "budget",
    "budget.usd",
    "budget.hard_limit_usd",
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

/// The edit form as typed: the default alias (empty: none of its own), local only, the two
/// quotas as text (empty: no limit), and the budget: its period (empty: no budget), amount
/// and hard limit as text (empty hard limit: alerts only).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectForm {
    pub default: String,
    pub local_only: bool,
    pub requests_per_day: String,
    pub tokens_per_day: String,
    pub budget_period: String,
    pub budget_usd: String,
    pub budget_hard_limit: String,
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
            // The shortest text that reads back as the same number: saved unchanged, it
            // sends the same budget.
            budget_period: p
                .budget
                .as_ref()
                .map_or_else(String::new, |b| b.period.clone()),
            budget_usd: p
                .budget
                .as_ref()
                .map_or_else(String::new, |b| b.usd.to_string()),
            budget_hard_limit: p
                .budget
                .as_ref()
                .and_then(|b| b.hard_limit_usd)
                .map_or_else(String::new, |h| h.to_string()),
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
            budget: self.budget()?,
        })
    }

    /// The budget: None without a period (what is typed in its amounts is then not sent);
    /// with one, an amount is needed, a hard limit is optional.
    fn budget(&self) -> Result<Option<ProjectBudget>, FieldError> {
        let period = self.budget_period.trim();
        if period.is_empty() {
            return Ok(None);
        }
        let Some(usd) = parse_usd(&self.budget_usd, "budget.usd", "the budget")? else {
            return Err(FieldError {
                param: "budget.usd",
                message: format!(
                    "a budget per {period} needs an amount in USD (like 50 or 12.50); choose no budget to have none"
                ),
            });
        };
        Ok(Some(ProjectBudget {
            period: period.to_string(),
            usd,
            hard_limit_usd: parse_usd(
                &self.budget_hard_limit,
                "budget.hard_limit_usd",
                "the hard limit",
            )?,
        }))
    }
}

/// An amount of USD as typed: empty is none; else a positive number, with an optional `$`
/// and thousands separators (`50`, `$12.50`, `1,200`, `0.5`). `param`: the field to blame;
/// `what`: its name in the message.
pub fn parse_usd(text: &str, param: &'static str, what: &str) -> Result<Option<f64>, FieldError> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    let or_empty = if param == "budget.hard_limit_usd" {
        ", or empty for none"
    } else {
        ""
    };
    let bad = || FieldError {
        param,
        message: format!(
            "{what} must be a positive amount of USD (like 50 or 12.50){or_empty}; `{t}` is not"
        ),
    };
    let plain: String = t
        .strip_prefix('$')
        .unwrap_or(t)
        .chars()
        .filter(|c| !matches!(c, ',' | '_' | ' '))
        .collect();
    // Digits with at most one point: no sign, exponent, `inf` or `NaN`.
    if !plain.chars().any(|c| c.is_ascii_digit())
        || !plain.chars().all(|c| c.is_ascii_digit() || c == '.')
        || plain.matches('.').count() > 1
    {
        return Err(bad());
    }
    let v = decimal(&plain).ok_or_else(|| FieldError {
        param,
        message: format!("{what} has too many digits; `{t}` is more than 15"),
    })?;
    if !(v > 0.0 && v.is_finite()) {
        return Err(FieldError {
            param,
            message: format!("{what} must be more than $0{or_empty}"),
        });
    }
    Ok(Some(v))
}

/// Digits with at most one point (`12.50`, `.5`, `7.`) as the nearest f64; None past 15
/// significant digits. All the digits make an integer below 2^53 and the point a power of
/// ten up to 10^22, both exact in an f64, so their quotient is rounded once: the same number
/// `str::parse` gives, without the parser's tables in the wasm.
fn decimal(digits: &str) -> Option<f64> {
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let frac = frac.trim_end_matches('0');
    let all = format!("{whole}{frac}");
    let all = all.trim_start_matches('0');
    if all.len() > 15 || frac.len() > 22 {
        return None;
    }
    let n: u64 = if all.is_empty() { 0 } else { all.parse().ok()? };
    Some(n as f64 / 10f64.powi(frac.len() as i32))
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
    fn errors_go_next_to_their_field() {
        assert_eq!(project_field(Some("default")), Some("default"));
        assert_eq!(
            project_field(Some("quotas.tokens_per_day")),
            Some("quotas.tokens_per_day")
        );
        for f in ["budget", "budget.usd", "budget.hard_limit_usd"] {
            assert_eq!(project_field(Some(f)), Some(f));
        }
        assert_eq!(project_field(Some("budget.period")), None);
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
                budget_period: "month".into(),
                budget_usd: "50".into(),
                budget_hard_limit: "60".into(),
            }
        );
        // Saved as it opened: the budget is sent back as it was (the PUT replaces it).
        let body = serde_json::to_value(form.settings().unwrap()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"default": "smart", "local_only": false,
                "quotas": {"requests_per_day": 500, "tokens_per_day": 2000000},
                "budget": {"period": "month", "usd": 50.0, "hard_limit_usd": 60.0}})
        );
        assert_eq!(form.settings().unwrap().budget, p.projects[0].budget);
        // Period "none": `budget: null` removes it, whatever its amounts still say.
        let none = ProjectForm {
            budget_period: String::new(),
            ..form.clone()
        };
        let body = serde_json::to_value(none.settings().unwrap()).unwrap();
        assert_eq!(body["budget"], serde_json::Value::Null);
        assert!(body.as_object().unwrap().contains_key("budget"));
        // No hard limit: alerts only, sent as null.
        let soft = ProjectForm {
            budget_period: "week".into(),
            budget_usd: " $1,200.50 ".into(),
            budget_hard_limit: "  ".into(),
            ..form
        };
        assert_eq!(
            serde_json::to_value(soft.settings().unwrap()).unwrap()["budget"],
            serde_json::json!({"period": "week", "usd": 1200.5, "hard_limit_usd": null})
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
            r#"{"default":null,"local_only":true,"quotas":{"requests_per_day":null,"tokens_per_day":null},"budget":null}"#
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
    fn a_budget_with_a_period_needs_a_positive_amount_and_says_which_field() {
        let form = |usd: &str, hard: &str| ProjectForm {
            budget_period: "month".into(),
            budget_usd: usd.into(),
            budget_hard_limit: hard.into(),
            ..Default::default()
        };
        // A period chosen, no amount: refused on the amount's field.
        let e = form("", "").settings().unwrap_err();
        assert_eq!(e.param, "budget.usd");
        assert!(e.message.contains("per month"), "{}", e.message);
        let e = form("  ", "30").settings().unwrap_err();
        assert_eq!(e.param, "budget.usd");
        for bad in [
            "0", "0.00", "-5", "lots", "1e3", "inf", "NaN", "1.2.3", ".", "$", "5 USD",
        ] {
            let e = form(bad, "").settings().unwrap_err();
            assert_eq!(e.param, "budget.usd", "{bad}");
        }
        assert!(
            form("lots", "")
                .settings()
                .unwrap_err()
                .message
                .contains("`lots`")
        );
        assert!(
            form("0", "")
                .settings()
                .unwrap_err()
                .message
                .contains("more than $0")
        );
        for bad in ["0", "-1", "sixty", "1e2"] {
            let e = form("50", bad).settings().unwrap_err();
            assert_eq!(e.param, "budget.hard_limit_usd", "{bad}");
        }
        // A bad quota is named first: the fields in the order they show.
        let e = ProjectForm {
            tokens_per_day: "lots".into(),
            ..form("", "")
        }
        .settings()
        .unwrap_err();
        assert_eq!(e.param, "quotas.tokens_per_day");

        let ok = |s: &str| parse_usd(s, "budget.usd", "the budget").unwrap();
        assert_eq!(ok(""), None);
        assert_eq!(ok("25"), Some(25.0));
        assert_eq!(ok("$12.50"), Some(12.5));
        assert_eq!(ok("1,200"), Some(1200.0));
        assert_eq!(ok(".5"), Some(0.5));
        assert_eq!(ok("0.000001"), Some(0.000001));
        assert_eq!(ok("7."), Some(7.0));
        assert_eq!(ok("007.250"), Some(7.25));
        // The nearest f64, as the standard parser has it.
        for s in [
            "0.1",
            "0.3",
            "1234.56",
            "99999.99",
            "0.000000000000001",
            "123456789012345",
        ] {
            assert_eq!(ok(s), Some(s.parse::<f64>().unwrap()), "{s}");
        }
        let e = parse_usd("1234567890123456", "budget.usd", "the budget").unwrap_err();
        assert!(e.message.contains("too many digits"), "{}", e.message);
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
