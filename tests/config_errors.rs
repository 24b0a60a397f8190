//! Config loading: the example and the embedded default load; each kind of mistake gives a
//! message with file, line, key and what would be valid (one valid sample, one key changed).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use lodestar::config::{Config, ConfigError, ConfigOrigin, EMBEDDED_DEFAULT};

const VALID: &str = "\
server:
  listen: 127.0.0.1:8080
providers:
  local:  { kind: ollama, base_url: http://127.0.0.1:11434 }
  openai: { kind: openai, api_key_env: OPENAI_API_KEY }
  claude: { kind: anthropic, api_key_env: ANTHROPIC_API_KEY }
  groq:   { kind: openai-compatible, base_url: https://api.groq.com/openai/v1, api_key_env: GROQ_API_KEY }
models:
  fast:  { route: [local/qwen2.5-coder:7b, openai/gpt-4o-mini] }
  smart: { route: [claude/claude-sonnet-4-5, openai/gpt-5] }
routing:
  default: fast
  rules:
    - { when: { prompt_tokens_over: 12000 }, use: smart }
    - { when: { has_tools: true }, use: smart }
";

fn env(name: &str) -> Option<String> {
    match name {
        "OPENAI_API_KEY" => Some("sk-test-openai-SECRET".into()),
        "ANTHROPIC_API_KEY" => Some("sk-ant-test-SECRET".into()),
        "GROQ_API_KEY" => Some("gsk-test-SECRET".into()),
        _ => None,
    }
}

fn load(text: &str) -> Result<Config, Vec<ConfigError>> {
    Config::from_yaml(text, ConfigOrigin::File("cfg.yml".into()), &env).map_err(|e| e.0)
}

/// Load `text`, expect exactly one error, return it.
fn one_error(text: &str) -> ConfigError {
    let errs = load(text).expect_err("config should be rejected");
    assert_eq!(errs.len(), 1, "expected one error, got {errs:#?}");
    errs.into_iter().next().unwrap()
}

#[test]
fn the_issue_sample_loads() {
    let c = load(VALID).unwrap();
    assert_eq!(c.providers.len(), 4);
    assert_eq!(
        c.alias("fast").unwrap().route[1].to_string(),
        "openai/gpt-4o-mini"
    );
    assert_eq!(c.routing.rules.len(), 2);
    assert_eq!(
        c.provider("openai").unwrap().base_url,
        "https://api.openai.com/v1"
    );
    assert_eq!(c.source_of("models.fast.route"), "cfg.yml:9");
    assert_eq!(c.source_of("routing.max_retry_wait"), "default");
}

#[test]
fn the_example_file_documents_a_valid_config() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/lodestar.example.yaml");
    let c = Config::from_path(std::path::Path::new(path), &env).unwrap_or_else(|e| panic!("{e}"));
    assert!(c.provider("claude").is_some());
    assert_eq!(c.routing.default.as_deref(), Some("fast"));
    assert!(c.routing.rules.len() >= 3);
    let acme = c.project("acme").unwrap();
    assert_eq!(acme.default.as_deref(), Some("smart"));
    assert_eq!(acme.quotas.requests_per_day, Some(2000));
}

#[test]
fn project_mistakes_name_the_key_and_what_would_be_valid() {
    let with = |p: &str| format!("{VALID}projects:\n{p}\n");
    let e = one_error(&with("  acme: { default: nope }"));
    assert_eq!(e.key, "projects.acme.default");
    assert_eq!(e.line, Some(17));
    assert!(
        e.msg
            .contains("alias `nope` is not defined under `models:` (defined: fast, smart)"),
        "{}",
        e.msg
    );
    let e = one_error(&with("  acme: { quotas: { requests_per_day: 0 } }"));
    assert_eq!(e.key, "projects.acme.quotas.requests_per_day");
    assert!(e.msg.contains("1 or more"), "{}", e.msg);
    let e = one_error(&with("  \"bad name\": { local_only: true }"));
    assert_eq!(e.key, "projects.bad name");
    assert!(e.msg.contains("x-lodestar-project"), "{}", e.msg);
    let e = one_error(&with("  acme: { budget: 5 }"));
    assert!(e.key.starts_with("projects.acme"), "{e:?}");
}

#[test]
fn the_embedded_default_is_one_local_ollama_on_loopback() {
    let c = Config::from_yaml(EMBEDDED_DEFAULT, ConfigOrigin::Embedded, &|_| None).unwrap();
    assert_eq!(c.providers.len(), 1);
    assert_eq!(c.providers[0].name, "ollama");
    assert_eq!(c.providers[0].base_url, "http://127.0.0.1:11434");
    assert_eq!(c.server.listen.to_string(), "127.0.0.1:8080");
}

#[test]
fn unknown_provider_in_a_route_names_the_defined_ones() {
    let e = one_error(&VALID.replace("openai/gpt-4o-mini", "nosuch/gpt-4o-mini"));
    assert_eq!(e.key, "models.fast.route[1]");
    assert_eq!(e.line, Some(9));
    assert_eq!(
        e.msg,
        "provider `nosuch` is not defined under `providers:` (defined: local, openai, claude, groq)"
    );
    assert_eq!(
        e.to_string(),
        "cfg.yml:9: `models.fast.route[1]`: provider `nosuch` is not defined under `providers:` \
         (defined: local, openai, claude, groq)"
    );
}

#[test]
fn unknown_kind_lists_the_valid_kinds() {
    let e = one_error(&VALID.replace("kind: ollama", "kind: olama"));
    assert_eq!(e.key, "providers.local.kind");
    assert_eq!(e.line, Some(4));
    assert!(e.msg.contains("unknown variant `olama`"), "{}", e.msg);
    assert!(e.msg.contains("`openai-compatible`") && e.msg.contains("`anthropic`"));
}

#[test]
fn duplicate_alias_names_both_lines() {
    let text = VALID.replace(
        "  smart: { route: [claude/claude-sonnet-4-5, openai/gpt-5] }\n",
        "  smart: { route: [claude/claude-sonnet-4-5, openai/gpt-5] }\n  fast: { route: [openai/gpt-5] }\n",
    );
    let e = one_error(&text);
    assert_eq!(e.key, "models.fast");
    assert_eq!(e.line, Some(11));
    assert!(
        e.msg.contains("appears twice") && e.msg.contains("first on line 9"),
        "{}",
        e.msg
    );
}

#[test]
fn bad_url_says_what_a_good_one_looks_like() {
    let e = one_error(&VALID.replace("https://api.groq.com/openai/v1", "api.groq.com"));
    assert_eq!(e.key, "providers.groq.base_url");
    assert_eq!(e.line, Some(7));
    assert!(
        e.msg.contains("`api.groq.com` is not a valid URL"),
        "{}",
        e.msg
    );
    let e = one_error(&VALID.replace("http://127.0.0.1:11434", "ftp://127.0.0.1:11434"));
    assert!(
        e.msg.contains("must be an http:// or https:// URL"),
        "{}",
        e.msg
    );
}

#[test]
fn missing_env_var_names_the_variable_and_never_a_value() {
    let e = one_error(&VALID.replace("GROQ_API_KEY", "GROQ_KEY_UNSET"));
    assert_eq!(e.key, "providers.groq.api_key_env");
    assert_eq!(e.line, Some(7));
    assert!(e.msg.contains("`GROQ_KEY_UNSET` is not set"), "{}", e.msg);
    assert!(e.msg.contains("export GROQ_KEY_UNSET="), "{}", e.msg);
}

#[test]
fn a_key_written_in_the_file_is_refused_without_echoing_it() {
    let e = one_error(&VALID.replace(
        "api_key_env: GROQ_API_KEY",
        "api_key: gsk-literal-do-not-echo",
    ));
    assert_eq!(e.key, "providers.groq.api_key");
    assert!(!e.msg.contains("gsk-literal-do-not-echo"));
    assert!(e.msg.contains("api_key_env"), "{}", e.msg);
}

#[test]
fn litellm_env_form_of_api_key_is_accepted() {
    let c = load(&VALID.replace(
        "api_key_env: GROQ_API_KEY",
        "api_key: os.environ/GROQ_API_KEY",
    ))
    .unwrap();
    assert_eq!(
        c.provider("groq").unwrap().key_source.as_deref(),
        Some("env GROQ_API_KEY")
    );
}

#[test]
fn cloud_kinds_without_a_key_are_refused() {
    let e = one_error(&VALID.replace(
        "openai: { kind: openai, api_key_env: OPENAI_API_KEY }",
        "openai: { kind: openai }",
    ));
    assert_eq!(e.key, "providers.openai");
    assert!(e.msg.contains("needs an API key"), "{}", e.msg);
}

#[test]
fn keys_never_show_in_debug_output() {
    let c = load(VALID).unwrap();
    let dbg = format!("{c:?}");
    assert!(!dbg.contains("SECRET"), "{dbg}");
}

#[test]
fn unknown_keys_point_to_ours() {
    let e = one_error(&VALID.replace(
        "fast:  { route: [local/qwen2.5-coder:7b, openai/gpt-4o-mini] }",
        "fast:  { route: [local/qwen2.5-coder:7b], fallbacks: [openai/gpt-4o-mini] }",
    ));
    assert_eq!(e.key, "models.fast.fallbacks");
    assert_eq!(e.line, Some(9));
    assert!(e.msg.contains("list every entry in `route:`"), "{}", e.msg);
    let e = one_error(&format!("{VALID}model_list: []\n"));
    assert_eq!(e.key, "model_list");
    assert!(
        e.msg
            .contains("valid keys are server, providers, models, routing")
    );
}

#[test]
fn routing_references_must_be_aliases() {
    let e = one_error(&VALID.replace("default: fast", "default: fasst"));
    assert_eq!(e.key, "routing.default");
    assert_eq!(e.line, Some(12));
    assert_eq!(
        e.msg,
        "`fasst` is not an alias under `models:` (aliases: fast, smart)"
    );
    let e = one_error(&VALID.replace(
        "has_tools: true }, use: smart",
        "has_tools: true }, use: smrt",
    ));
    assert_eq!(e.key, "routing.rules[1].use");
    assert_eq!(e.line, Some(15));
}

#[test]
fn bad_listen_address_and_durations() {
    let e = one_error(&VALID.replace("listen: 127.0.0.1:8080", "listen: 8080"));
    assert_eq!(e.key, "server.listen");
    assert_eq!(e.line, Some(2));
    assert!(e.msg.contains("`host:port`"), "{}", e.msg);
    let e = one_error(&VALID.replace(
        "local:  { kind: ollama, base_url: http://127.0.0.1:11434 }",
        "local:  { kind: ollama, timeouts: { connect: soon } }",
    ));
    assert_eq!(e.key, "providers.local.timeouts.connect");
    assert_eq!(e.line, Some(4));
}

#[test]
fn reserved_and_malformed_alias_entries() {
    let e = one_error(
        &VALID
            .replace("smart: {", "auto: {")
            .replace("use: smart", "use: fast"),
    );
    assert_eq!(e.key, "models.auto");
    assert!(e.msg.contains("reserved"));
    let e = one_error(&VALID.replace("openai/gpt-5]", "gpt-5]"));
    assert_eq!(e.key, "models.smart.route[1]");
    assert!(e.msg.contains("not of the form `provider/model`"));
}

#[test]
fn every_error_is_reported_at_once() {
    let text = VALID
        .replace("kind: ollama", "kind: olama")
        .replace("GROQ_API_KEY", "GROQ_KEY_UNSET")
        .replace("default: fast", "default: nope")
        .replace("listen: 127.0.0.1:8080", "listen: nowhere");
    let errs = load(&text).unwrap_err();
    let keys: Vec<&str> = errs.iter().map(|e| e.key.as_str()).collect();
    assert!(keys.contains(&"providers.local.kind"), "{keys:?}");
    assert!(keys.contains(&"providers.groq.api_key_env"), "{keys:?}");
    assert!(keys.contains(&"routing.default"), "{keys:?}");
    assert!(keys.contains(&"server.listen"), "{keys:?}");
}

#[test]
fn yaml_syntax_errors_have_a_line() {
    let errs = load("providers:\n  local: { kind: ollama\n").unwrap_err();
    assert_eq!(errs.len(), 1);
    assert!(errs[0].line.is_some());
    assert!(
        errs[0].msg.starts_with("YAML syntax error"),
        "{}",
        errs[0].msg
    );
}

#[test]
fn an_unavailable_keyring_is_a_located_error_that_suggests_env() {
    // No Secret Service runs in the test environment: the error must say so, not hang or panic.
    let text = VALID.replace(
        "api_key_env: GROQ_API_KEY",
        "api_key_keyring: lodestar-test-no-such-entry",
    );
    let e = one_error(&text);
    assert_eq!(e.key, "providers.groq.api_key_keyring");
    assert_eq!(e.line, Some(7));
    assert!(e.msg.contains("lodestar-test-no-such-entry"), "{}", e.msg);
    assert!(e.msg.contains("api_key_env"), "{}", e.msg);
}

#[test]
fn credentials_in_a_base_url_are_refused() {
    let e = one_error(&VALID.replace(
        "https://api.groq.com/openai/v1",
        "https://user:sk-secret@api.groq.com/openai/v1",
    ));
    assert_eq!(e.key, "providers.groq.base_url");
    assert!(e.msg.contains("must not carry credentials"), "{}", e.msg);
    assert!(!e.msg.contains("sk-secret"), "{}", e.msg);
    let e = one_error(&VALID.replace(
        "https://api.groq.com/openai/v1",
        "https://api.groq.com/v1?key=x",
    ));
    assert!(e.msg.contains("query string"), "{}", e.msg);
}

#[test]
fn errors_of_similarly_named_providers_are_all_reported() {
    let text = VALID.replace(
        "  openai: { kind: openai, api_key_env: OPENAI_API_KEY }\n",
        "  oa: { kind: openai }\n  oa2: { kind: openai-compatible, base_url: nope }\n  openai: { kind: openai, api_key_env: OPENAI_API_KEY }\n",
    );
    let errs = load(&text).unwrap_err();
    let keys: Vec<&str> = errs.iter().map(|e| e.key.as_str()).collect();
    assert!(keys.contains(&"providers.oa"), "{keys:?}");
    assert!(keys.contains(&"providers.oa2.base_url"), "{keys:?}");
}

#[test]
fn every_client_page_config_is_valid_and_shown_on_its_page() {
    let dir = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/clients"));
    let mut checked = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|x| x != "yaml") {
            continue;
        }
        let c = Config::from_path(&path, &env).unwrap_or_else(|e| panic!("{e}"));
        assert!(!c.aliases.is_empty(), "{}: no aliases", path.display());
        let yaml = std::fs::read_to_string(&path).unwrap();
        let page = std::fs::read_to_string(path.with_extension("md")).unwrap();
        assert!(
            page.contains(yaml.trim()),
            "{} does not show its config exactly",
            path.with_extension("md").display()
        );
        checked.push(path.file_stem().unwrap().to_string_lossy().into_owned());
    }
    checked.sort();
    assert_eq!(
        checked,
        ["aider", "claude-code", "codex", "continue", "cursor", "zed"]
    );
    // Claude Code's own model names land on the aliases the page says.
    let c = Config::from_path(&dir.join("claude-code.yaml"), &env).unwrap();
    assert_eq!(
        c.alias("claude-haiku-4-5-20251001").unwrap().name,
        "background"
    );
    assert_eq!(c.alias("claude-sonnet-4-5").unwrap().name, "main");
    assert!(c.provider("local").is_some_and(|p| !p.messages_native));
    assert!(c.provider("claude").is_some_and(|p| p.messages_native));
}

#[test]
fn messages_api_and_match_are_checked() {
    let base = |extra: &str| {
        format!(
            "providers:\n  claude: {{ kind: anthropic, api_key_env: ANTHROPIC_API_KEY{extra} }}\nmodels:\n  m: {{ route: [claude/x], match: [\"a/b\"] }}\ntranslation:\n  on_unsupported: sometimes\n"
        )
    };
    let errs = Config::from_yaml(
        &base(", messages_api: translate"),
        ConfigOrigin::File("c.yml".into()),
        &env,
    )
    .unwrap_err()
    .to_string();
    assert!(errs.contains("providers.claude.messages_api"), "{errs}");
    assert!(errs.contains("models.m.match[0]"), "{errs}");
    assert!(errs.contains("translation.on_unsupported"), "{errs}");
}

#[test]
fn health_probes_on_down_and_gpu_agents_are_checked() {
    let c = load(&format!(
        "{VALID}health: {{ error_rate: 0.3, probe_interval: 10s }}\ngpus:\n  - {{ agent_url: http://gpu-box.lan:9091 }}\n"
    ))
    .unwrap();
    assert_eq!(c.health.breaker.error_rate, 0.3);
    assert_eq!(
        c.health.probe_interval,
        Some(std::time::Duration::from_secs(10))
    );
    assert_eq!(c.gpus[0].name, "gpu-box.lan");
    // The default probe is the kind's model list; `probe: false` turns it off.
    assert_eq!(
        c.provider("local").unwrap().probe.as_deref(),
        Some("http://127.0.0.1:11434/api/tags")
    );
    let off = load(&VALID.replace(
        "kind: ollama, base_url: http://127.0.0.1:11434",
        "kind: ollama, base_url: http://127.0.0.1:11434, probe: false, on_down: \"systemctl --user restart ollama\"",
    ))
    .unwrap();
    assert_eq!(off.provider("local").unwrap().probe, None);
    assert_eq!(
        off.provider("local")
            .unwrap()
            .on_down
            .as_ref()
            .unwrap()
            .command,
        "systemctl --user restart ollama"
    );

    let e = one_error(&format!("{VALID}health: {{ error_rate: 50 }}\n"));
    assert_eq!(e.key, "health.error_rate");
    assert!(e.msg.contains("between 0 and 1"), "{}", e.msg);
    let e = one_error(&format!(
        "{VALID}gpus:\n  - {{ agent_url: gpu-box:9091 }}\n"
    ));
    assert_eq!(e.key, "gpus[0].agent_url");
    assert!(e.msg.contains("lodestar agent"), "{}", e.msg);
    let e = one_error(&VALID.replace(
        "kind: ollama, base_url: http://127.0.0.1:11434",
        "kind: ollama, base_url: http://127.0.0.1:11434, on_down: \" \"",
    ));
    assert_eq!(e.key, "providers.local.on_down");
}
