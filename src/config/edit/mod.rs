//! Edits to the user's config file that keep everything else in it — comments, order, blank
//! lines, quoting — byte for byte: a change is a line inserted into the text, never a
//! re-serialisation of parsed YAML (which would drop every comment). The edited text is checked
//! with the real loader before anything is written, and written atomically (a temporary file
//! renamed over the old one).
//!
//! Owns text edits of the config file; must not apply them (the engine reloads).

use std::path::Path;

mod project;
pub use project::{ProjectSettings, set_project};

use crate::providers::ProviderKind;

/// A provider to add (`POST /admin/api/providers`).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewProvider {
    pub name: String,
    pub kind: ProviderKind,
    /// None: the kind's default address (openai, anthropic, ollama).
    pub base_url: Option<String>,
    /// The keyring entry that holds its key (`api_key_keyring`), if it has one.
    #[serde(skip)]
    pub keyring: Option<String>,
}

/// Why an edit was refused, and which field it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditError {
    /// `name`, `kind`, `base_url`, `api_key`, or None for the file as a whole.
    pub field: Option<&'static str>,
    pub message: String,
}

impl EditError {
    fn on(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field: Some(field),
            message: message.into(),
        }
    }

    fn file(message: impl Into<String>) -> Self {
        Self {
            field: None,
            message: message.into(),
        }
    }
}

fn yaml_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

/// The provider as one flow-style line: `name: { kind: ..., base_url: "..." }`.
fn provider_line(p: &NewProvider) -> String {
    let mut fields = vec![format!("kind: {}", p.kind)];
    if let Some(u) = &p.base_url {
        fields.push(format!("base_url: {}", yaml_string(u)));
    }
    if let Some(k) = &p.keyring {
        fields.push(format!("api_key_keyring: {}", yaml_string(k)));
    }
    format!("{}: {{ {} }}", p.name, fields.join(", "))
}

/// `text` with `p` added at the end of its `providers:` block (created at the end of the file
/// when there is none). The name must be new; the block must be a block mapping.
pub fn add_provider(text: &str, p: &NewProvider) -> Result<String, EditError> {
    if p.name.is_empty()
        || !p
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(EditError::on(
            "name",
            "use letters, digits, `-` and `_` only (it is the `provider` in `provider/model`)",
        ));
    }
    let lines: Vec<&str> = text.lines().collect();
    let top = |l: &str| !l.is_empty() && !l.starts_with([' ', '\t', '#']);
    let Some(start) = lines
        .iter()
        .position(|l| top(l) && l.trim_end().starts_with("providers:"))
    else {
        let mut out = text.to_string();
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&format!("providers:\n  {}\n", provider_line(p)));
        return Ok(out);
    };
    let rest = lines[start].trim_end()["providers:".len()..].trim();
    if !(rest.is_empty() || rest.starts_with('#')) {
        return Err(EditError::file(format!(
            "`providers:` on line {} is written inline; Lodestar adds providers only to a \
             block (one provider per line under `providers:`); edit the file by hand",
            start + 1
        )));
    }
    // The block: the lines after `providers:` up to the next top-level key.
    let end = lines[start + 1..]
        .iter()
        .position(|l| top(l))
        .map_or(lines.len(), |i| start + 1 + i);
    let children: Vec<(usize, &str)> = (start + 1..end)
        .map(|i| (i, lines[i]))
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .collect();
    let indent = children
        .first()
        .map(|(_, l)| l.len() - l.trim_start().len())
        .unwrap_or(2);
    let name_key = format!("{}:", p.name);
    if children.iter().any(|(_, l)| {
        l.len() - l.trim_start().len() == indent && l.trim_start().starts_with(&name_key)
    }) {
        return Err(EditError::on(
            "name",
            format!("a provider `{}` is already configured", p.name),
        ));
    }
    // After the block's last content line (its trailing comments and blank lines stay below).
    let at = children.last().map_or(start + 1, |(i, _)| i + 1);
    let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    out.insert(at, format!("{}{}", " ".repeat(indent), provider_line(p)));
    let mut s = out.join("\n");
    if text.ends_with('\n') || text.is_empty() {
        s.push('\n');
    }
    Ok(s)
}

/// An alias's route, written as a flow sequence: `[a/x, "b/y:7b"]`.
fn route_text(route: &[String]) -> String {
    let items: Vec<String> = route
        .iter()
        .map(|t| {
            if t.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./+".contains(c))
            {
                t.clone()
            } else {
                yaml_string(t)
            }
        })
        .collect();
    format!("[{}]", items.join(", "))
}

fn indent_of(l: &str) -> usize {
    l.len() - l.trim_start().len()
}

/// The `models:` block: (its line, the first line after it).
fn models_block(lines: &[&str]) -> Option<(usize, usize)> {
    top_block(lines, "models")
}

/// The entries of a top-level section written as a block mapping.
pub(super) struct Entries {
    /// The section's own line.
    pub start: usize,
    /// The first line after the section.
    pub end: usize,
    /// The lines of its entries' keys and contents (not blank, not comments).
    pub children: Vec<usize>,
    /// The entries' indentation.
    pub indent: usize,
}

/// The entries of top-level `section`; None when there is no such section. A section written
/// inline (`models: {...}`) is not edited.
pub(super) fn entries(lines: &[&str], section: &str) -> Result<Option<Entries>, EditError> {
    let Some((start, end)) = top_block(lines, section) else {
        return Ok(None);
    };
    let rest = lines[start].trim_end()[section.len() + 1..].trim();
    if !(rest.is_empty() || rest.starts_with('#')) {
        return Err(EditError::file(format!(
            "`{section}:` on line {} is written inline; edit the file by hand",
            start + 1
        )));
    }
    let children: Vec<usize> = (start + 1..end)
        .filter(|i| !lines[*i].trim().is_empty() && !lines[*i].trim_start().starts_with('#'))
        .collect();
    let indent = children.first().map_or(2, |i| indent_of(lines[*i]));
    Ok(Some(Entries {
        start,
        end,
        children,
        indent,
    }))
}

/// `text` with a new `section:` at its end holding the one entry `line`.
pub(super) fn with_new_section(text: &str, section: &str, line: &str) -> String {
    let mut out = text.to_string();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&format!("{section}:\n  {line}\n"));
    out
}

/// A top-level section's block: (its line, the first line after it).
fn top_block(lines: &[&str], section: &str) -> Option<(usize, usize)> {
    let top = |l: &str| !l.is_empty() && !l.starts_with([' ', '\t', '#']);
    let head = format!("{section}:");
    let start = lines
        .iter()
        .position(|l| top(l) && l.trim_end().starts_with(&head))?;
    let end = lines[start + 1..]
        .iter()
        .position(|l| top(l))
        .map_or(lines.len(), |i| start + 1 + i);
    Some((start, end))
}

fn join(lines: Vec<String>, original: &str) -> String {
    let mut s = lines.join("\n");
    if original.ends_with('\n') || original.is_empty() {
        s.push('\n');
    }
    s
}

/// `text` with alias `name` added (`name: { route: [...] }` at the end of the `models:` block,
/// created when there is none). The name must be new.
pub fn add_alias(text: &str, name: &str, route: &[String]) -> Result<String, EditError> {
    if name.is_empty()
        || name == "auto"
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
    {
        return Err(EditError::on(
            "name",
            "use letters, digits, `-`, `_`, `.` and `:` (not `auto`, which means the routing \
             rules)",
        ));
    }
    let line = format!("{name}: {{ route: {} }}", route_text(route));
    let lines: Vec<&str> = text.lines().collect();
    let Some(Entries {
        start,
        children,
        indent,
        ..
    }) = entries(&lines, "models")?
    else {
        return Ok(with_new_section(text, "models", &line));
    };
    if children.iter().any(|i| {
        indent_of(lines[*i]) == indent && lines[*i].trim_start().starts_with(&format!("{name}:"))
    }) {
        return Err(EditError::on(
            "name",
            format!("an alias `{name}` already exists"),
        ));
    }
    let at = children.last().map_or(start + 1, |i| i + 1);
    let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    out.insert(at, format!("{}{line}", " ".repeat(indent)));
    Ok(join(out, text))
}

/// `text` with alias `name`'s route replaced by `route` — in a one-line `name: { route: [...] }`
/// or in a block's `route:` line (a block sequence under it becomes one flow line) — and
/// nothing else touched.
pub fn set_alias_route(text: &str, name: &str, route: &[String]) -> Result<String, EditError> {
    let lines: Vec<&str> = text.lines().collect();
    let not_found = || {
        EditError::on(
            "name",
            format!("no alias `{name}` under `models:` in the file"),
        )
    };
    let (start, end) = models_block(&lines).ok_or_else(not_found)?;
    let children: Vec<usize> = (start + 1..end)
        .filter(|i| !lines[*i].trim().is_empty() && !lines[*i].trim_start().starts_with('#'))
        .collect();
    let indent = children.first().map_or(2, |i| indent_of(lines[*i]));
    let key = format!("{name}:");
    let at = *children
        .iter()
        .find(|i| indent_of(lines[**i]) == indent && lines[**i].trim_start().starts_with(&key))
        .ok_or_else(not_found)?;
    let new_route = route_text(route);
    let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    let after_key = lines[at].trim_start()[key.len()..].trim_start();
    if after_key.starts_with('{') {
        // One line: replace the `route: [...]` inside it.
        let l = lines[at];
        let Some(r) = l.find("route:") else {
            return Err(EditError::file(format!(
                "alias `{name}` on line {} has no `route:`",
                at + 1
            )));
        };
        let open = l[r..].find('[').map(|i| r + i);
        let close = open.and_then(|o| l[o..].find(']').map(|i| o + i));
        let (Some(open), Some(close)) = (open, close) else {
            return Err(EditError::file(format!(
                "alias `{name}` on line {} writes its route in a way Lodestar does not edit; \
                 edit the file by hand",
                at + 1
            )));
        };
        out[at] = format!("{}{}{}", &l[..open], new_route, &l[close + 1..]);
        return Ok(join(out, text));
    }
    // A block: its lines are the deeper-indented ones after it.
    let block_end = (at + 1..end)
        .find(|i| {
            let l = lines[*i];
            !l.trim().is_empty() && !l.trim_start().starts_with('#') && indent_of(l) <= indent
        })
        .unwrap_or(end);
    let Some(r) = (at + 1..block_end).find(|i| lines[*i].trim_start().starts_with("route:")) else {
        return Err(EditError::file(format!(
            "alias `{name}` (line {}) has no `route:`",
            at + 1
        )));
    };
    let route_indent = indent_of(lines[r]);
    let value = lines[r].trim_start()["route:".len()..].trim();
    // The sequence's own lines when it is a block sequence under `route:`.
    let mut last = r;
    if value.is_empty() || value.starts_with('#') {
        for (i, l) in lines.iter().enumerate().take(block_end).skip(r + 1) {
            if l.trim().is_empty() || l.trim_start().starts_with('#') {
                continue;
            }
            if indent_of(l) >= route_indent && l.trim_start().starts_with('-') {
                last = i;
            } else {
                break;
            }
        }
    } else if !value.starts_with('[') || !value.contains(']') {
        return Err(EditError::file(format!(
            "alias `{name}`'s route (line {}) is written in a way Lodestar does not edit; edit \
             the file by hand",
            r + 1
        )));
    }
    let comment = value
        .find(']')
        .map(|i| value[i + 1..].trim())
        .filter(|c| c.starts_with('#'))
        .map(|c| format!("  {c}"))
        .unwrap_or_default();
    let replacement = format!("{}route: {new_route}{comment}", " ".repeat(route_indent));
    out.splice(r..=last, [replacement]);
    Ok(join(out, text))
}

/// Write `text` to `path` atomically, keeping the file's permissions.
pub fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("yml.lodestar-tmp");
    std::fs::write(&tmp, text)?;
    if let Ok(meta) = std::fs::metadata(path) {
        let _ = std::fs::set_permissions(&tmp, meta.permissions());
    }
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn r(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn an_alias_route_is_replaced_in_place_in_every_style() {
        let text = "models:\n  # fast ones\n  fast: { route: [a/x, b/y], description: quick }  # mine\n  smart:\n    description: big\n    route:\n      - a/big   # first\n      - b/big\n    fallback_alias: fast\n  other:\n    route: [a/o]  # note\nrouting: {}\n";
        let out = set_alias_route(text, "fast", &r(&["b/y", "a/x"])).unwrap();
        assert_eq!(
            out.lines().nth(2),
            Some("  fast: { route: [b/y, a/x], description: quick }  # mine")
        );
        let out = set_alias_route(&out, "smart", &r(&["b/big", "c/qwen2.5:7b"])).unwrap();
        assert!(out.contains("    description: big\n    route: [b/big, \"c/qwen2.5:7b\"]\n    fallback_alias: fast\n"), "{out}");
        let out = set_alias_route(&out, "other", &r(&["a/p"])).unwrap();
        assert!(
            out.contains("    route: [a/p]  # note\nrouting: {}\n"),
            "{out}"
        );
        assert!(out.starts_with("models:\n  # fast ones\n"));
        assert_eq!(
            set_alias_route(text, "nosuch", &r(&["a/x"]))
                .unwrap_err()
                .field,
            Some("name")
        );
    }

    #[test]
    fn an_alias_is_added_at_the_end_of_models() {
        let text = "models:\n  fast: { route: [a/x] }\n\n# rules\nrouting: {}\n";
        let out = add_alias(text, "cheap", &r(&["a/small"])).unwrap();
        assert_eq!(
            out,
            "models:\n  fast: { route: [a/x] }\n  cheap: { route: [a/small] }\n\n# rules\nrouting: {}\n"
        );
        assert_eq!(
            add_alias(text, "fast", &r(&["a/x"])).unwrap_err().field,
            Some("name")
        );
        assert_eq!(
            add_alias(text, "auto", &r(&["a/x"])).unwrap_err().field,
            Some("name")
        );
    }

    fn p(name: &str) -> NewProvider {
        NewProvider {
            name: name.into(),
            kind: ProviderKind::OpenAiCompatible,
            base_url: Some("http://gpu-box.lan:8000/v1".into()),
            keyring: None,
        }
    }

    #[test]
    fn a_provider_goes_at_the_end_of_the_block_and_nothing_else_moves() {
        let text = "# my config\nproviders:\n  # the laptop's ollama\n  local: { kind: ollama }   # keep me\n\n  # spare\n\nmodels:\n  fast: { route: [local/x] }\n";
        let out = add_provider(text, &p("vllm")).unwrap();
        assert_eq!(
            out,
            "# my config\nproviders:\n  # the laptop's ollama\n  local: { kind: ollama }   # keep me\n  vllm: { kind: openai-compatible, base_url: \"http://gpu-box.lan:8000/v1\" }\n\n  # spare\n\nmodels:\n  fast: { route: [local/x] }\n"
        );
    }

    #[test]
    fn the_blocks_indentation_is_kept_and_a_missing_block_is_created() {
        let text = "providers:\n    a:\n      kind: ollama\nrouting: {}\n";
        let out = add_provider(text, &p("b")).unwrap();
        assert!(out.contains("      kind: ollama\n    b: { kind"), "{out}");
        let out = add_provider("server: { listen: 127.0.0.1:8080 }", &p("b")).unwrap();
        assert!(out.ends_with("\nproviders:\n  b: { kind: openai-compatible, base_url: \"http://gpu-box.lan:8000/v1\" }\n"), "{out}");
    }

    #[test]
    fn names_that_exist_or_are_malformed_and_inline_blocks_are_refused() {
        let text = "providers:\n  local: { kind: ollama }\n";
        assert_eq!(
            add_provider(text, &p("local")).unwrap_err().field,
            Some("name")
        );
        assert_eq!(
            add_provider(text, &p("a/b")).unwrap_err().field,
            Some("name")
        );
        let e = add_provider("providers: { local: { kind: ollama } }\n", &p("x")).unwrap_err();
        assert_eq!(e.field, None);
        assert!(e.message.contains("inline"), "{}", e.message);
    }
}
