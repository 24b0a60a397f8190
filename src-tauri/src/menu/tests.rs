//! The tray menu model's tests: what the menu says and checks for a given engine state.

use super::*;
use crate::snapshot::tests::snapshot;

fn app() -> AppState {
    AppState {
        connection: Connection::InProcess {
            addr: "127.0.0.1:8080".into(),
        },
        api_error: None,
        window_open: false,
        autostart: Some(false),
        notices_on: NoticeKind::ALL.to_vec(),
    }
}

fn texts(m: &MenuModel) -> Vec<String> {
    m.flat()
        .iter()
        .filter_map(|e| match e {
            Entry::Info { text, .. }
            | Entry::Item { text, .. }
            | Entry::Check { text, .. }
            | Entry::Submenu { text, .. } => Some(text.clone()),
            Entry::Separator => None,
        })
        .collect()
}

fn checked(m: &MenuModel) -> Vec<String> {
    m.flat()
        .iter()
        .filter_map(|e| match e {
            Entry::Check {
                action,
                checked: true,
                ..
            } => Some(action.id()),
            _ => None,
        })
        .collect()
}

#[test]
fn action_ids_round_trip() {
    let all = [
        Action::SelectAlias("fast".into()),
        Action::ToggleLocalOnly,
        Action::TogglePause,
        Action::Unload {
            provider: "local".into(),
            model: "hf.co/org/model:Q4".into(),
        },
        Action::OpenWindow,
        Action::CloseWindow,
        Action::CopyOpenAi,
        Action::CopyAnthropic,
        Action::ToggleAutostart,
        Action::ToggleNotice(NoticeKind::ProviderHealth),
        Action::Retry,
        Action::Quit,
    ];
    for a in all {
        assert_eq!(Action::parse(&a.id()), Some(a.clone()), "{}", a.id());
    }
    assert_eq!(Action::parse("info:header"), None);
    assert_eq!(Action::parse("notice:nosuch"), None);
}

#[test]
fn aliases_are_a_radio_list_with_the_default_checked() {
    let m = MenuModel::build(&app(), Some(&snapshot()));
    let t = texts(&m);
    assert!(
        t.contains(&"fast — local/qwen → openai/gpt-4o-mini".to_string()),
        "{t:?}"
    );
    assert!(t.contains(&"smart — claude/sonnet".to_string()));
    let c = checked(&m);
    assert!(c.contains(&"alias:fast".to_string()));
    assert!(!c.contains(&"alias:smart".to_string()));
    assert!(!c.contains(&"local-only".to_string()));

    let mut s = snapshot();
    s.default = Some("smart".into());
    s.local_only = true;
    let c = checked(&MenuModel::build(&app(), Some(&s)));
    assert!(c.contains(&"alias:smart".to_string()));
    assert!(!c.contains(&"alias:fast".to_string()));
    assert!(c.contains(&"local-only".to_string()));
}

#[test]
fn loaded_models_spend_budget_and_providers() {
    let t = texts(&MenuModel::build(&app(), Some(&snapshot())));
    assert!(
        t.contains(&"qwen — 5.0 GiB VRAM (local)".to_string()),
        "{t:?}"
    );
    assert!(t.contains(&"Unload qwen".to_string()));
    assert!(t.contains(&"Spend: $0.12 today · $3.40 this month".to_string()));
    assert!(
        t.contains(&"Budget monthly (month): $30.00 of $40.00 (75%) · 3.0 days early".to_string()),
        "{t:?}"
    );
    assert!(t.contains(&"Providers: 1 up / 1 down / 1 unknown".to_string()));
    assert!(t.contains(&"Down: openai (connection refused)".to_string()));
    assert!(t.contains(&"GPU 42% · VRAM 6.0 GiB / 24.0 GiB".to_string()));
}

#[test]
fn no_loaded_models_and_no_ledger_are_said() {
    let mut s = snapshot();
    s.loaded.clear();
    s.spend = None;
    s.top_budget = None;
    let t = texts(&MenuModel::build(&app(), Some(&s)));
    assert!(t.contains(&"No local model loaded".to_string()));
    assert!(t.contains(&"Spend: the ledger is off".to_string()));
    s.has_ollama = false;
    let t = texts(&MenuModel::build(&app(), Some(&s)));
    assert!(!t.iter().any(|x| x.contains("local model")), "{t:?}");
}

#[test]
fn never_empty_even_before_the_engine_answers() {
    let mut a = app();
    a.connection = Connection::Starting;
    let m = MenuModel::build(&a, None);
    let t = texts(&m);
    assert_eq!(t.first().map(String::as_str), Some("Lodestar: starting…"));
    assert!(t.contains(&"Quit Lodestar".to_string()));
    assert!(
        !t.contains(&"Open Lodestar".to_string()),
        "nothing to open yet"
    );

    a.connection = Connection::Attached {
        addr: "127.0.0.1:8080".into(),
    };
    a.api_error = Some("connection refused".into());
    let t = texts(&MenuModel::build(&a, None));
    assert!(
        t.contains(&"Try again".to_string()),
        "the attached server is gone: {t:?}"
    );
    a.api_error = None;

    a.connection = Connection::Failed {
        message: "cannot listen on 127.0.0.1:8080: address in use".into(),
    };
    let t = texts(&MenuModel::build(&a, None));
    assert!(t[0].starts_with("Lodestar is not running: cannot listen"));
    assert!(t.contains(&"Try again".to_string()));
}

#[test]
fn window_endpoint_and_attach_wording() {
    let mut a = app();
    let t = texts(&MenuModel::build(&a, Some(&snapshot())));
    assert!(t.contains(&"Open Lodestar".to_string()));
    assert!(t.contains(&"OpenAI: http://127.0.0.1:8080/v1".to_string()));
    assert!(t.contains(&"Anthropic: http://127.0.0.1:8080".to_string()));
    a.window_open = true;
    a.connection = Connection::Attached {
        addr: "127.0.0.1:8080".into(),
    };
    let t = texts(&MenuModel::build(&a, Some(&snapshot())));
    assert!(t.contains(&"Close Lodestar window".to_string()));
    assert!(t[0].contains("attached to `lodestar serve`"));
    assert!(t.contains(&"Quit (the attached server keeps running)".to_string()));
}

#[test]
fn pause_and_resume_keep_the_shape() {
    let mut s = snapshot();
    let running = MenuModel::build(&app(), Some(&s));
    s.paused = true;
    let paused = MenuModel::build(&app(), Some(&s));
    let t = texts(&paused);
    assert_eq!(t[0], "Lodestar on 127.0.0.1:8080 — paused");
    assert!(t.contains(&"Resume proxy (paused: model requests get 503)".to_string()));
    assert!(texts(&running).contains(&"Pause proxy".to_string()));
    assert_eq!(running.shape(), paused.shape(), "updated in place");
}

#[test]
fn preferences_show_as_check_marks() {
    let mut a = app();
    a.notices_on = vec![NoticeKind::BudgetLimit];
    a.autostart = Some(true);
    let c = checked(&MenuModel::build(&a, None));
    assert!(c.contains(&"notice:budget_limit".to_string()));
    assert!(!c.contains(&"notice:budget_threshold".to_string()));
    assert!(c.contains(&"autostart".to_string()));
    a.autostart = None;
    let t = texts(&MenuModel::build(&a, None));
    assert!(!t.contains(&"Start at login".to_string()));
}

#[test]
fn shape_ignores_texts_and_checks_but_not_items() {
    let a = MenuModel::build(&app(), Some(&snapshot()));
    let mut s = snapshot();
    s.default = Some("smart".into());
    s.spend = s.spend.map(|mut sp| {
        sp.today_usd = 9.0;
        sp
    });
    let b = MenuModel::build(&app(), Some(&s));
    assert_ne!(a, b);
    assert_eq!(a.shape(), b.shape());
    s.loaded.clear();
    let c = MenuModel::build(&app(), Some(&s));
    assert_ne!(a.shape(), c.shape());
}

#[test]
fn money_and_sizes() {
    assert_eq!(usd(0.0), "$0.00");
    assert_eq!(usd(0.004), "$0.0040");
    assert_eq!(usd(12.5), "$12.50");
    assert_eq!(bytes(512 << 20), "512 MiB");
    assert_eq!(bytes(5 << 30), "5.0 GiB");
    let s = snapshot();
    let conn = Connection::InProcess {
        addr: "127.0.0.1:8080".into(),
    };
    assert_eq!(
        tooltip(&conn, Some(&s)),
        "Lodestar · GPU 42% · VRAM 6.0 GiB / 24.0 GiB · $0.12 today · default: fast"
    );
}
