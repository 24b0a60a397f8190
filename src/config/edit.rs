//! Edits to the user's config file that keep everything else in it — comments, order, blank
//! lines, quoting — byte for byte: a change is a line inserted into the text, never a
//! re-serialisation of parsed YAML (which would drop every comment). The edited text is checked
//! with the real loader before anything is written, and written atomically (a temporary file
//! renamed over the old one).
//!
//! Owns text edits of the config file; must not apply them (the engine reloads).

use std::path::Path;

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
