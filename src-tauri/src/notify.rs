//! Desktop notifications from the engine's events: which events become a notification
//! (`Notice::from_event`), the gate that keeps them few (`Gate`: the same news at most once per
//! `DEDUP`, at most `BURST` per `WINDOW` in all, muted kinds never), and showing one through
//! the desktop's notification server (notify-rust, a blocking D-Bus call, so off the async
//! runtime).
//!
//! The engine already sends each budget threshold once per period and each provider outage at
//! most once per `health.notify_every`; the gate is the app's own guard on top (an app that
//! re-attaches, or a flapping provider, must not flood the desktop).
//! Owns the wording and the rate limits; must not decide what the engine considers an event.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The same news (same key) is shown at most once per this long.
pub const DEDUP: Duration = Duration::from_secs(600);
/// At most `BURST` notifications per `WINDOW`, of every kind together.
pub const BURST: usize = 4;
pub const WINDOW: Duration = Duration::from_secs(60);

/// Kinds a user can mute one by one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NoticeKind {
    BudgetThreshold,
    BudgetLimit,
    /// A provider down, and recovered.
    ProviderHealth,
    /// A local model could not be loaded (out of memory, runner crashed, not pulled).
    ModelLoad,
    /// A provider's `on_down` command failed.
    OnDownFailed,
}

impl NoticeKind {
    pub const ALL: [NoticeKind; 5] = [
        NoticeKind::BudgetThreshold,
        NoticeKind::BudgetLimit,
        NoticeKind::ProviderHealth,
        NoticeKind::ModelLoad,
        NoticeKind::OnDownFailed,
    ];

    /// The preference key and menu id part.
    pub fn key(self) -> &'static str {
        match self {
            NoticeKind::BudgetThreshold => "budget_threshold",
            NoticeKind::BudgetLimit => "budget_limit",
            NoticeKind::ProviderHealth => "provider",
            NoticeKind::ModelLoad => "model_load",
            NoticeKind::OnDownFailed => "on_down",
        }
    }

    pub fn from_key(k: &str) -> Option<NoticeKind> {
        NoticeKind::ALL.into_iter().find(|n| n.key() == k)
    }

    /// The menu's words.
    pub fn label(self) -> &'static str {
        match self {
            NoticeKind::BudgetThreshold => "Budget thresholds crossed",
            NoticeKind::BudgetLimit => "Budget hard limit reached",
            NoticeKind::ProviderHealth => "Provider down / recovered",
            NoticeKind::ModelLoad => "Local model failed to load",
            NoticeKind::OnDownFailed => "on_down command failed",
        }
    }
}

/// One notification to show.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub kind: NoticeKind,
    /// What makes two notices the same news.
    pub key: String,
    pub summary: String,
    pub body: String,
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or("")
}

fn money(v: &Value, k: &str) -> String {
    crate::menu::usd(v[k].as_f64().unwrap_or(0.0))
}

impl Notice {
    /// The notice for an engine event (`type` and `data` as on `/admin/api/events`), if any.
    pub fn from_event(kind: &str, data: &Value) -> Option<Notice> {
        match kind {
            "budget_threshold" => {
                let pct = data["threshold_pct"].as_f64().unwrap_or(0.0);
                Some(Notice {
                    kind: NoticeKind::BudgetThreshold,
                    key: format!(
                        "threshold:{}:{pct}:{}",
                        s(data, "budget"),
                        data["resets_at_ms"]
                    ),
                    summary: format!("Budget {}: {pct:.0}% used", s(data, "budget")),
                    body: format!(
                        "{} spent of {} this {}. Lodestar keeps routing; see the spend in the tray menu.",
                        money(data, "spent_usd"),
                        money(data, "usd"),
                        s(data, "period")
                    ),
                })
            }
            "budget_limit" => Some(Notice {
                kind: NoticeKind::BudgetLimit,
                key: format!("limit:{}:{}", s(data, "budget"), data["resets_at_ms"]),
                summary: format!("Budget {}: hard limit reached", s(data, "budget")),
                body: format!(
                    "{} spent of {} this {}: priced requests are refused (or downgraded, as \
                     configured) until the period ends. Local models keep working.",
                    money(data, "spent_usd"),
                    money(data, "usd"),
                    s(data, "period")
                ),
            }),
            "provider" => {
                let name = s(data, "provider");
                match (s(data, "state"), s(data, "previous")) {
                    ("down", _) => Some(Notice {
                        kind: NoticeKind::ProviderHealth,
                        key: format!("provider:{name}:down"),
                        summary: format!("Provider {name} is down"),
                        body: match data["last_error"].as_str() {
                            Some(e) => format!("{e}. Routes fall back to their next entry."),
                            None => "Routes fall back to their next entry.".into(),
                        },
                    }),
                    ("up", "down") => Some(Notice {
                        kind: NoticeKind::ProviderHealth,
                        key: format!("provider:{name}:up"),
                        summary: format!("Provider {name} recovered"),
                        body: "It answers again; routes use it as configured.".into(),
                    }),
                    _ => None,
                }
            }
            "model_load_failed" => {
                let target = format!("{}/{}", s(data, "provider"), s(data, "model"));
                Some(Notice {
                    kind: NoticeKind::ModelLoad,
                    key: format!("model_load:{target}"),
                    summary: format!("Local model {target} failed to load"),
                    body: format!(
                        "{}. Requests fall back to the route's next entry.",
                        s(data, "error")
                    ),
                })
            }
            "on_down" if data["ok"] == Value::Bool(false) => {
                let name = s(data, "provider");
                let code = match data["exit_code"].as_i64() {
                    Some(c) => format!("exited {c}"),
                    None => "did not finish".into(),
                };
                let output = s(data, "output").trim();
                let tail: String = output
                    .chars()
                    .rev()
                    .take(200)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                Some(Notice {
                    kind: NoticeKind::OnDownFailed,
                    key: format!("on_down:{name}"),
                    summary: format!("on_down for {name} failed ({code})"),
                    body: format!("`{}`: {tail}", s(data, "command")),
                })
            }
            _ => None,
        }
    }
}

/// Decides which notices are shown: muted kinds never, the same key once per `DEDUP`, and no
/// more than `BURST` per `WINDOW`.
#[derive(Debug, Default)]
pub struct Gate {
    last_by_key: HashMap<String, Instant>,
    shown: VecDeque<Instant>,
}

/// Why a notice was not shown (for the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Show,
    Muted,
    Duplicate,
    RateLimited,
}

impl Gate {
    pub fn admit(&mut self, n: &Notice, muted: bool, now: Instant) -> Verdict {
        if muted {
            return Verdict::Muted;
        }
        if let Some(t) = self.last_by_key.get(&n.key)
            && now.duration_since(*t) < DEDUP
        {
            return Verdict::Duplicate;
        }
        while let Some(t) = self.shown.front() {
            if now.duration_since(*t) >= WINDOW {
                self.shown.pop_front();
            } else {
                break;
            }
        }
        if self.shown.len() >= BURST {
            return Verdict::RateLimited;
        }
        self.shown.push_back(now);
        self.last_by_key.insert(n.key.clone(), now);
        self.last_by_key
            .retain(|_, t| now.duration_since(*t) < DEDUP);
        Verdict::Show
    }
}

/// Show `n` on the desktop. Blocking (a D-Bus round trip): call it on a blocking thread.
/// Returns the server's id, or why it failed (no notification server, ...).
pub fn show(n: &Notice) -> Result<u32, String> {
    notify_rust::Notification::new()
        .appname("Lodestar")
        .icon("lodestar-desktop")
        .summary(&n.summary)
        .body(&n.body)
        .show()
        .map(|h| h.id())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn threshold(pct: f64) -> Notice {
        let data = json!({"budget": "daily", "project": null, "period": "day",
            "threshold_pct": pct, "spent_usd": 2.6, "usd": 5.0, "resets_at_ms": 1000});
        match Notice::from_event("budget_threshold", &data) {
            Some(n) => n,
            None => panic!("no notice"),
        }
    }

    #[test]
    fn events_become_notices() {
        let n = threshold(50.0);
        assert_eq!(n.kind, NoticeKind::BudgetThreshold);
        assert_eq!(n.summary, "Budget daily: 50% used");
        assert!(
            n.body.starts_with("$2.60 spent of $5.00 this day"),
            "{}",
            n.body
        );

        let limit = Notice::from_event(
            "budget_limit",
            &json!({"budget": "daily", "period": "day", "threshold_pct": 160.0,
                    "spent_usd": 8.0, "usd": 5.0, "resets_at_ms": 1000}),
        );
        assert_eq!(limit.map(|n| n.kind), Some(NoticeKind::BudgetLimit));

        let down = Notice::from_event(
            "provider",
            &json!({"provider": "openai", "state": "down", "previous": "up",
                    "last_error": "connection refused"}),
        );
        assert_eq!(
            down.as_ref().map(|n| n.summary.as_str()),
            Some("Provider openai is down")
        );
        let up = Notice::from_event(
            "provider",
            &json!({"provider": "openai", "state": "up", "previous": "down"}),
        );
        assert_eq!(
            up.map(|n| n.summary),
            Some("Provider openai recovered".to_string())
        );
        // Degraded, and recovering from degraded, are not worth a notification.
        for (state, previous) in [("degraded", "up"), ("up", "degraded")] {
            let ev = json!({"provider": "x", "state": state, "previous": previous});
            assert_eq!(Notice::from_event("provider", &ev), None);
        }

        let load = Notice::from_event(
            "model_load_failed",
            &json!({"provider": "local", "model": "qwen3:32b",
                    "error": "500: model requires more system memory (21 GiB) than is available (15 GiB)"}),
        );
        assert_eq!(load.as_ref().map(|n| n.kind), Some(NoticeKind::ModelLoad));
        assert_eq!(
            load.as_ref().map(|n| n.summary.as_str()),
            Some("Local model local/qwen3:32b failed to load")
        );
        assert!(
            load.is_some_and(|n| n.body.contains("requires more system memory")
                && n.body.ends_with("next entry.")),
        );

        let failed = Notice::from_event(
            "on_down",
            &json!({"provider": "local", "command": "systemctl --user restart ollama",
                    "ok": false, "exit_code": 5, "output": "Unit not found.", "took_ms": 9}),
        );
        assert_eq!(
            failed.map(|n| n.summary),
            Some("on_down for local failed (exited 5)".to_string())
        );
        let ok = json!({"provider": "local", "command": "true", "ok": true, "exit_code": 0,
                        "output": "", "took_ms": 1});
        assert_eq!(Notice::from_event("on_down", &ok), None);
        assert_eq!(
            Notice::from_event("requests", &json!({"finished": 3})),
            None
        );
        assert_eq!(Notice::from_event("routing", &json!({})), None);
    }

    #[test]
    fn the_same_news_is_shown_once() {
        let mut g = Gate::default();
        let t0 = Instant::now();
        assert_eq!(g.admit(&threshold(50.0), false, t0), Verdict::Show);
        assert_eq!(
            g.admit(&threshold(50.0), false, t0 + Duration::from_secs(5)),
            Verdict::Duplicate
        );
        assert_eq!(
            g.admit(&threshold(80.0), false, t0 + Duration::from_secs(6)),
            Verdict::Show,
            "another threshold is other news"
        );
        assert_eq!(
            g.admit(&threshold(50.0), false, t0 + DEDUP + Duration::from_secs(1)),
            Verdict::Show
        );
    }

    #[test]
    fn bursts_are_cut_and_muted_kinds_never_show() {
        let mut g = Gate::default();
        let t0 = Instant::now();
        for pct in 0..BURST {
            assert_eq!(g.admit(&threshold(pct as f64), false, t0), Verdict::Show);
        }
        assert_eq!(g.admit(&threshold(99.0), false, t0), Verdict::RateLimited);
        assert_eq!(
            g.admit(&threshold(99.0), false, t0 + WINDOW),
            Verdict::Show,
            "the window moved on"
        );
        assert_eq!(g.admit(&threshold(98.0), true, t0 + WINDOW), Verdict::Muted);
    }

    #[test]
    fn kinds_round_trip_through_their_keys() {
        for k in NoticeKind::ALL {
            assert_eq!(NoticeKind::from_key(k.key()), Some(k));
        }
    }
}
