//! The Projects page's edit form as data: the fields the engine can blame, the form filled
//! from a project, and the user's text read into the `PUT /admin/api/projects/{name}` body
//! (quota limits and USD amounts parsed here, each error on its own field).

use super::projects::{Project, ProjectBudget, ProjectSettings, QuotaKind, Quotas};

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
    use super::super::projects::{Projects, SAMPLE};
    use super::*;

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
