//! Editing a project's settings (`projects.NAME`) in the config text, comments kept.

use super::{EditError, Entries, entries, indent_of, join, with_new_section, yaml_string};

/// A project's settings as the admin API writes them (`projects.NAME`).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ProjectSettings {
    pub default: Option<String>,
    pub local_only: bool,
    pub quotas: crate::config::Quotas,
    pub budget: Option<crate::config::ProjectBudget>,
}

/// `s` as a plain scalar when it reads back as the same string (`fast`, `gpt-4o`), else quoted.
fn plain_or_quoted(s: &str) -> String {
    let plain = s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n"
        );
    if plain { s.to_string() } else { yaml_string(s) }
}

/// The project as one flow-style line: `name: { default: fast, local_only: true, quotas: {...} }`.
fn project_line(name: &str, p: &ProjectSettings) -> String {
    let mut parts = Vec::new();
    if let Some(d) = &p.default {
        parts.push(format!("default: {}", plain_or_quoted(d)));
    }
    if p.local_only {
        parts.push("local_only: true".into());
    }
    let mut q = Vec::new();
    if let Some(n) = p.quotas.requests_per_day {
        q.push(format!("requests_per_day: {n}"));
    }
    if let Some(n) = p.quotas.tokens_per_day {
        q.push(format!("tokens_per_day: {n}"));
    }
    if !q.is_empty() {
        parts.push(format!("quotas: {{ {} }}", q.join(", ")));
    }
    if let Some(b) = &p.budget {
        let limit = b
            .hard_limit_usd
            .map(|h| format!(", hard_limit_usd: {h}"))
            .unwrap_or_default();
        parts.push(format!(
            "budget: {{ period: {}, usd: {}{limit} }}",
            b.period.as_str(),
            b.usd
        ));
    }
    if parts.is_empty() {
        format!("{name}: {{}}")
    } else {
        format!("{name}: {{ {} }}", parts.join(", "))
    }
}

/// `text` with project `name`'s settings replaced by `p` (added at the end of `projects:`,
/// created when there is none). An entry written on one line keeps its trailing comment; one
/// written as a block becomes one line, its comment lines kept above it.
pub fn set_project(text: &str, name: &str, p: &ProjectSettings) -> Result<String, EditError> {
    let line = project_line(name, p);
    let lines: Vec<&str> = text.lines().collect();
    let Some(Entries {
        start,
        end,
        children,
        indent,
    }) = entries(&lines, "projects")?
    else {
        return Ok(with_new_section(text, "projects", &line));
    };
    let key = format!("{name}:");
    let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    let Some(&at) = children
        .iter()
        .find(|i| indent_of(lines[**i]) == indent && lines[**i].trim_start().starts_with(&key))
    else {
        let at = children.last().map_or(start + 1, |i| i + 1);
        out.insert(at, format!("{}{line}", " ".repeat(indent)));
        return Ok(join(out, text));
    };
    let after_key = lines[at].trim_start()[key.len()..].trim_start();
    let new = format!("{}{line}", " ".repeat(indent));
    if after_key.starts_with('{') {
        // One line: keep a trailing comment after its closing brace.
        let l = lines[at];
        let comment = l
            .rfind('}')
            .map(|i| l[i + 1..].trim())
            .filter(|c| c.starts_with('#'))
            .map(|c| format!("   {c}"))
            .unwrap_or_default();
        out[at] = format!("{new}{comment}");
        return Ok(join(out, text));
    }
    let block_end = (at + 1..end)
        .find(|i| {
            let l = lines[*i];
            !l.trim().is_empty() && !l.trim_start().starts_with('#') && indent_of(l) <= indent
        })
        .unwrap_or(end);
    let comments: Vec<String> = (at + 1..block_end)
        .filter(|i| lines[*i].trim_start().starts_with('#'))
        .map(|i| format!("{}{}", " ".repeat(indent), lines[i].trim_start()))
        .collect();
    let mut replacement = comments;
    replacement.push(new);
    out.splice(at..block_end, replacement);
    Ok(join(out, text))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::Quotas;

    fn local_only() -> ProjectSettings {
        ProjectSettings {
            local_only: true,
            ..ProjectSettings::default()
        }
    }

    #[test]
    fn a_block_entry_becomes_one_line_and_keeps_its_comments() {
        let text = "models:\n  fast: { route: [a/b] }\nprojects:\n  acme:\n    # why acme is special\n    default: fast\n  other: { local_only: true }\ncache: { ttl: 1h }\n";
        let p = ProjectSettings {
            default: Some("fast".into()),
            quotas: Quotas {
                requests_per_day: Some(5),
                tokens_per_day: None,
            },
            ..ProjectSettings::default()
        };
        let out = set_project(text, "acme", &p).unwrap();
        assert_eq!(
            out,
            "models:\n  fast: { route: [a/b] }\nprojects:\n  # why acme is special\n  acme: { default: fast, quotas: { requests_per_day: 5 } }\n  other: { local_only: true }\ncache: { ttl: 1h }\n"
        );
    }

    #[test]
    fn a_missing_section_or_entry_is_added_and_odd_names_are_quoted() {
        let out = set_project("models: {}\n", "acme", &local_only()).unwrap();
        assert_eq!(out, "models: {}\nprojects:\n  acme: { local_only: true }\n");
        let out = set_project(&out, "b", &ProjectSettings::default()).unwrap();
        assert!(
            out.ends_with("  acme: { local_only: true }\n  b: {}\n"),
            "{out}"
        );
        let p = ProjectSettings {
            default: Some("yes".into()),
            ..ProjectSettings::default()
        };
        assert!(
            set_project(&out, "b", &p)
                .unwrap()
                .contains("b: { default: \"yes\" }")
        );
        assert!(set_project("projects: { a: {} }\n", "a", &p).is_err());
    }
}
