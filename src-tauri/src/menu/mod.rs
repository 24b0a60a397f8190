//! The tray menu as plain data: `MenuModel::build` turns a `Snapshot` (plus the app's own
//! state: connection, window, preferences) into entries, and every clickable entry carries an
//! `Action` whose string id round-trips through the native menu. On Linux the appindicator
//! tray delivers no clicks on the icon, so everything a user needs is in here, and the menu is
//! never empty (even before the engine answers, it offers Quit).
//!
//! Owns the menu's content and wording; must not touch Tauri (`tray` renders it) or do I/O.

use crate::notify::NoticeKind;
use crate::snapshot::{Gpu, Health, Snapshot};

/// What a click asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Make this alias the default route (`PUT /admin/api/routing {"default": ALIAS}`).
    SelectAlias(String),
    ToggleLocalOnly,
    /// Pause the proxy (503 `paused` to model requests) or resume it.
    TogglePause,
    /// Unload an Ollama model (`keep_alive: 0`).
    Unload {
        provider: String,
        model: String,
    },
    OpenWindow,
    CloseWindow,
    CopyOpenAi,
    CopyAnthropic,
    ToggleAutostart,
    /// Show or mute one kind of notification.
    ToggleNotice(NoticeKind),
    /// Try to start (or attach to) the engine again.
    Retry,
    Quit,
}

impl Action {
    /// The menu item id.
    pub fn id(&self) -> String {
        match self {
            Action::SelectAlias(a) => format!("alias:{a}"),
            Action::ToggleLocalOnly => "local-only".into(),
            Action::TogglePause => "pause".into(),
            Action::Unload { provider, model } => format!("unload:{provider}/{model}"),
            Action::OpenWindow => "window:open".into(),
            Action::CloseWindow => "window:close".into(),
            Action::CopyOpenAi => "copy:openai".into(),
            Action::CopyAnthropic => "copy:anthropic".into(),
            Action::ToggleAutostart => "autostart".into(),
            Action::ToggleNotice(k) => format!("notice:{}", k.key()),
            Action::Retry => "retry".into(),
            Action::Quit => "quit".into(),
        }
    }

    /// The action behind a menu item id (None: an informational item).
    pub fn parse(id: &str) -> Option<Action> {
        if let Some(a) = id.strip_prefix("alias:") {
            return Some(Action::SelectAlias(a.to_string()));
        }
        if let Some(rest) = id.strip_prefix("unload:") {
            // Provider names cannot contain `/`; model names can.
            let (provider, model) = rest.split_once('/')?;
            return Some(Action::Unload {
                provider: provider.to_string(),
                model: model.to_string(),
            });
        }
        if let Some(k) = id.strip_prefix("notice:") {
            return NoticeKind::from_key(k).map(Action::ToggleNotice);
        }
        Some(match id {
            "local-only" => Action::ToggleLocalOnly,
            "pause" => Action::TogglePause,
            "window:open" => Action::OpenWindow,
            "window:close" => Action::CloseWindow,
            "copy:openai" => Action::CopyOpenAi,
            "copy:anthropic" => Action::CopyAnthropic,
            "autostart" => Action::ToggleAutostart,
            "retry" => Action::Retry,
            "quit" => Action::Quit,
            _ => return None,
        })
    }
}

/// One menu entry.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    /// Text only (a disabled item).
    Info {
        id: String,
        text: String,
    },
    Item {
        action: Action,
        text: String,
    },
    Check {
        action: Action,
        text: String,
        checked: bool,
    },
    Submenu {
        id: String,
        text: String,
        entries: Vec<Entry>,
    },
    Separator,
}

impl Entry {
    fn info(id: impl Into<String>, text: impl Into<String>) -> Entry {
        Entry::Info {
            id: id.into(),
            text: text.into(),
        }
    }

    fn item(action: Action, text: impl Into<String>) -> Entry {
        Entry::Item {
            action,
            text: text.into(),
        }
    }

    fn check(action: Action, text: impl Into<String>, checked: bool) -> Entry {
        Entry::Check {
            action,
            text: text.into(),
            checked,
        }
    }

    /// The entry's menu id (separators have none).
    pub fn id(&self) -> Option<String> {
        match self {
            Entry::Info { id, .. } | Entry::Submenu { id, .. } => Some(id.clone()),
            Entry::Item { action, .. } | Entry::Check { action, .. } => Some(action.id()),
            Entry::Separator => None,
        }
    }
}

/// Where the engine is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    Starting,
    /// The engine runs inside this app.
    InProcess {
        addr: String,
    },
    /// Another Lodestar (`lodestar serve`) holds the address: the tray drives it over HTTP.
    Attached {
        addr: String,
    },
    /// Neither: why (config error, the port held by something else).
    Failed {
        message: String,
    },
}

impl Connection {
    pub fn addr(&self) -> Option<&str> {
        match self {
            Connection::InProcess { addr } | Connection::Attached { addr } => Some(addr),
            Connection::Starting | Connection::Failed { .. } => None,
        }
    }
}

/// The app's own state the menu shows, besides the engine's.
#[derive(Debug, Clone, PartialEq)]
pub struct AppState {
    pub connection: Connection,
    /// The last admin API error, if the last refresh failed.
    pub api_error: Option<String>,
    pub window_open: bool,
    /// None: autostart is not available here.
    pub autostart: Option<bool>,
    /// The notification kinds shown (the rest are muted).
    pub notices_on: Vec<NoticeKind>,
}

/// The whole menu.
#[derive(Debug, Clone, PartialEq)]
pub struct MenuModel {
    pub entries: Vec<Entry>,
}

const GIB: f64 = (1u64 << 30) as f64;

/// `5.0 GiB`, `512 MiB`.
pub fn bytes(b: u64) -> String {
    let b = b as f64;
    if b >= GIB {
        format!("{:.1} GiB", b / GIB)
    } else {
        format!("{:.0} MiB", b / (1u64 << 20) as f64)
    }
}

/// `$0.12`, `$12.50`, `$0.0004`: cents, or the first digits that are not zero.
pub fn usd(v: f64) -> String {
    if v == 0.0 || v.abs() >= 0.01 {
        format!("${v:.2}")
    } else {
        format!("${v:.4}")
    }
}

/// One line for GPU state (the menu's second line; the tooltip where a platform has one).
pub fn gpu_line(gpu: &Gpu) -> String {
    match gpu {
        Gpu::Starting => "GPU: reading…".into(),
        Gpu::None(reason) => format!("GPU: none ({})", shorten(reason, 60)),
        Gpu::Some {
            count,
            utilization_pct,
            memory_used_bytes,
            memory_total_bytes,
        } => {
            let label = if *count > 1 {
                format!("{count} GPUs")
            } else {
                "GPU".into()
            };
            format!(
                "{label} {utilization_pct}% · VRAM {} / {}",
                bytes(*memory_used_bytes),
                bytes(*memory_total_bytes)
            )
        }
    }
}

/// The tooltip: GPU %, VRAM used/total, today's spend, the current default model.
pub fn tooltip(conn: &Connection, s: Option<&Snapshot>) -> String {
    let Some(s) = s else {
        return match conn {
            Connection::Failed { message } => format!("Lodestar: {}", shorten(message, 120)),
            _ => "Lodestar: starting".into(),
        };
    };
    let spend = s.spend.as_ref().map_or("ledger off".to_string(), |sp| {
        format!("{} today", usd(sp.today_usd))
    });
    let default = s.default.as_deref().unwrap_or("none");
    format!(
        "Lodestar · {} · {spend} · default: {default}",
        gpu_line(&s.gpu)
    )
}

fn shorten(s: &str, max: usize) -> String {
    let line = s.lines().next().unwrap_or("");
    if line.chars().count() <= max {
        line.to_string()
    } else {
        let cut: String = line.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

impl MenuModel {
    pub fn build(app: &AppState, s: Option<&Snapshot>) -> MenuModel {
        let mut e = Vec::new();
        let header = match &app.connection {
            Connection::Starting => "Lodestar: starting…".to_string(),
            Connection::InProcess { addr } => format!("Lodestar on {addr}"),
            Connection::Attached { addr } => {
                format!("Lodestar: attached to `lodestar serve` on {addr}")
            }
            Connection::Failed { message } => {
                format!("Lodestar is not running: {}", shorten(message, 90))
            }
        };
        let paused = s.is_some_and(|s| s.paused);
        let header = if paused {
            format!("{header} — paused")
        } else {
            header
        };
        e.push(Entry::info("info:header", header));
        if let Some(err) = &app.api_error {
            e.push(Entry::info(
                "info:api-error",
                format!("Cannot read the engine's state: {}", shorten(err, 80)),
            ));
        }
        // Failed, or attached to a server that stopped answering: start here instead.
        let lost = matches!(app.connection, Connection::Attached { .. }) && app.api_error.is_some();
        if matches!(app.connection, Connection::Failed { .. }) || lost {
            e.push(Entry::item(Action::Retry, "Try again"));
        }
        if let Some(s) = s {
            e.push(Entry::info("info:gpu", gpu_line(&s.gpu)));
            e.push(Entry::Separator);
            routing(&mut e, s);
            loaded(&mut e, s);
            spend(&mut e, s);
            providers(&mut e, s);
        }
        e.push(Entry::Separator);
        match (app.window_open, app.connection.addr().is_some()) {
            (true, _) => e.push(Entry::item(Action::CloseWindow, "Close Lodestar window")),
            (false, true) => e.push(Entry::item(Action::OpenWindow, "Open Lodestar")),
            (false, false) => {}
        }
        if let Some(addr) = app.connection.addr() {
            e.push(Entry::Submenu {
                id: "menu:copy".into(),
                text: "Copy endpoint URL".into(),
                entries: vec![
                    Entry::item(Action::CopyOpenAi, format!("OpenAI: http://{addr}/v1")),
                    Entry::item(Action::CopyAnthropic, format!("Anthropic: http://{addr}")),
                ],
            });
        }
        if s.is_some() {
            e.push(Entry::item(
                Action::TogglePause,
                if paused {
                    "Resume proxy (paused: model requests get 503)"
                } else {
                    "Pause proxy"
                },
            ));
        }
        e.push(Entry::Submenu {
            id: "menu:notifications".into(),
            text: "Notifications".into(),
            entries: NoticeKind::ALL
                .iter()
                .map(|k| {
                    Entry::check(
                        Action::ToggleNotice(*k),
                        k.label(),
                        app.notices_on.contains(k),
                    )
                })
                .collect(),
        });
        if let Some(on) = app.autostart {
            e.push(Entry::check(Action::ToggleAutostart, "Start at login", on));
        }
        e.push(Entry::Separator);
        let quit = match app.connection {
            Connection::Attached { .. } => "Quit (the attached server keeps running)",
            _ => "Quit Lodestar",
        };
        e.push(Entry::item(Action::Quit, quit));
        MenuModel { entries: e }
    }

    /// The menu's shape: each entry's kind and id, in order. Two models with the same shape
    /// differ only in texts and check marks, which the tray updates in place.
    pub fn shape(&self) -> Vec<String> {
        fn walk(entries: &[Entry], out: &mut Vec<String>) {
            for e in entries {
                let kind = match e {
                    Entry::Info { .. } => "info",
                    Entry::Item { .. } => "item",
                    Entry::Check { .. } => "check",
                    Entry::Submenu { .. } => "sub",
                    Entry::Separator => "sep",
                };
                out.push(format!("{kind}:{}", e.id().unwrap_or_default()));
                if let Entry::Submenu { entries, .. } = e {
                    walk(entries, out);
                    out.push("end".into());
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.entries, &mut out);
        out
    }

    /// Every entry, depth first.
    pub fn flat(&self) -> Vec<&Entry> {
        fn walk<'a>(entries: &'a [Entry], out: &mut Vec<&'a Entry>) {
            for e in entries {
                out.push(e);
                if let Entry::Submenu { entries, .. } = e {
                    walk(entries, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.entries, &mut out);
        out
    }
}

fn routing(e: &mut Vec<Entry>, s: &Snapshot) {
    if s.aliases.is_empty() {
        e.push(Entry::info(
            "info:aliases",
            "No aliases in the config (add some under `models:`)",
        ));
    } else {
        e.push(Entry::info("info:aliases", "Default model for `auto`:"));
        for a in &s.aliases {
            let route = a.route.join(" → ");
            e.push(Entry::check(
                Action::SelectAlias(a.name.clone()),
                format!("{} — {}", a.name, shorten(&route, 70)),
                s.default.as_deref() == Some(a.name.as_str()),
            ));
        }
    }
    e.push(Entry::check(
        Action::ToggleLocalOnly,
        "Local only (local providers only)",
        s.local_only,
    ));
}

fn loaded(e: &mut Vec<Entry>, s: &Snapshot) {
    if !s.has_ollama {
        return;
    }
    e.push(Entry::Separator);
    if s.loaded.is_empty() {
        e.push(Entry::info("info:loaded", "No local model loaded"));
        return;
    }
    e.push(Entry::info("info:loaded", "Loaded local models:"));
    for m in &s.loaded {
        let unload = Action::Unload {
            provider: m.provider.clone(),
            model: m.name.clone(),
        };
        e.push(Entry::Submenu {
            id: format!("menu:{}", unload.id()),
            text: format!("{} — {} VRAM ({})", m.name, bytes(m.vram_bytes), m.provider),
            entries: vec![Entry::item(unload, format!("Unload {}", m.name))],
        });
    }
}

fn spend(e: &mut Vec<Entry>, s: &Snapshot) {
    e.push(Entry::Separator);
    let Some(sp) = &s.spend else {
        e.push(Entry::info("info:spend", "Spend: the ledger is off"));
        return;
    };
    let unpriced = if sp.unpriced_month > 0 {
        format!(" (+{} unpriced)", sp.unpriced_month)
    } else {
        String::new()
    };
    e.push(Entry::info(
        "info:spend",
        format!(
            "Spend: {} today · {} this month{unpriced}",
            usd(sp.today_usd),
            usd(sp.month_usd)
        ),
    ));
    if let Some(b) = &s.top_budget {
        let pct = if b.usd > 0.0 {
            b.spent_usd / b.usd * 100.0
        } else {
            0.0
        };
        e.push(Entry::info(
            "info:budget",
            format!(
                "Budget {} ({}): {} of {} ({pct:.0}%) · {}",
                b.name,
                b.period,
                usd(b.spent_usd),
                usd(b.usd),
                b.verdict
            ),
        ));
    }
}

fn providers(e: &mut Vec<Entry>, s: &Snapshot) {
    if s.providers.is_empty() {
        return;
    }
    e.push(Entry::Separator);
    let mut parts = vec![
        format!("{} up", s.count(Health::Up)),
        format!("{} down", s.count(Health::Down)),
    ];
    for (h, word) in [(Health::Degraded, "degraded"), (Health::Unknown, "unknown")] {
        let n = s.count(h);
        if n > 0 {
            parts.push(format!("{n} {word}"));
        }
    }
    e.push(Entry::info(
        "info:providers",
        format!("Providers: {}", parts.join(" / ")),
    ));
    for p in s.providers.iter().filter(|p| p.health == Health::Down) {
        let why = p
            .last_error
            .as_deref()
            .map(|w| format!(" ({})", shorten(w, 60)))
            .unwrap_or_default();
        e.push(Entry::info(
            format!("info:down:{}", p.name),
            format!("Down: {}{why}", p.name),
        ));
    }
}

#[cfg(test)]
mod tests;
