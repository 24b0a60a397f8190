//! The app's own preferences, kept with tauri-plugin-store in `preferences.json` under the
//! app's data directory (`~/.local/share/dev.lodestar.desktop/` on Linux): which notification
//! kinds are shown, and the user's "Start at login" choice. Engine settings (routing, budgets)
//! are never kept here: they live in the engine's config and database, shared with the CLI.
//!
//! Owns preference keys and defaults; must not decide when notifications fire.

use std::sync::Arc;

use tauri::{AppHandle, Manager, Wry};
use tauri_plugin_autostart::ManagerExt;
use tauri_plugin_store::{Store, StoreExt};

use crate::notify::NoticeKind;

const FILE: &str = "preferences.json";
const AUTOSTART: &str = "autostart";

fn notice_key(k: NoticeKind) -> String {
    format!("notifications.{}", k.key())
}

pub struct Prefs {
    store: Option<Arc<Store<Wry>>>,
}

impl Prefs {
    /// Open (or create) the preferences; without a store every default holds.
    pub fn open(app: &AppHandle) -> Prefs {
        let store = match app.store(FILE) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!("cannot open the app's preferences ({e}); using defaults");
                None
            }
        };
        Prefs { store }
    }

    fn get_bool(&self, key: &str) -> Option<bool> {
        self.store.as_ref()?.get(key)?.as_bool()
    }

    fn set_bool(&self, key: &str, v: bool) {
        if let Some(s) = &self.store {
            s.set(key, v);
            if let Err(e) = s.save() {
                tracing::warn!("cannot save the app's preferences: {e}");
            }
        }
    }

    /// Whether notifications of `k` are shown (default: yes).
    pub fn notice_on(&self, k: NoticeKind) -> bool {
        self.get_bool(&notice_key(k)).unwrap_or(true)
    }

    pub fn notices_on(&self) -> Vec<NoticeKind> {
        NoticeKind::ALL
            .into_iter()
            .filter(|k| self.notice_on(*k))
            .collect()
    }

    /// Flip `k`; returns whether it is shown now.
    pub fn toggle_notice(&self, k: NoticeKind) -> bool {
        let on = !self.notice_on(k);
        self.set_bool(&notice_key(k), on);
        on
    }

    /// Take the engine's preferences (`GET /admin/api/preferences`: the UI and other faces
    /// change them there): the notification mutes, and start at login once it was chosen.
    pub fn adopt(&self, app: &AppHandle, engine: &serde_json::Value) {
        for k in NoticeKind::ALL {
            if let Some(on) = engine["notifications"][k.key()].as_bool()
                && on != self.notice_on(k)
            {
                self.set_bool(&notice_key(k), on);
            }
        }
        if let Some(want) = engine["autostart"].as_bool()
            && self.autostart(app).is_some_and(|now| now != want)
        {
            let al = app.autolaunch();
            let r = if want { al.enable() } else { al.disable() };
            match r {
                Ok(()) => self.set_bool(AUTOSTART, want),
                Err(e) => tracing::warn!("cannot change start at login: {e}"),
            }
        }
    }

    /// What this app holds that the engine should keep (for an engine that never heard of
    /// preferences: the first start after an update, or a fresh database).
    pub fn as_change(&self, app: &AppHandle) -> serde_json::Value {
        let notifications: serde_json::Map<String, serde_json::Value> = NoticeKind::ALL
            .into_iter()
            .map(|k| {
                (
                    k.key().to_string(),
                    serde_json::Value::Bool(self.notice_on(k)),
                )
            })
            .collect();
        let mut v = serde_json::json!({ "notifications": notifications });
        if let Some(on) = self.autostart(app) {
            v["autostart"] = serde_json::Value::Bool(on);
        }
        v
    }

    /// Whether the app starts at login: what the OS says (the autostart entry exists), or
    /// None where autostart is not available.
    pub fn autostart(&self, app: &AppHandle) -> Option<bool> {
        app.try_state::<tauri_plugin_autostart::AutoLaunchManager>()?;
        app.autolaunch().is_enabled().ok()
    }

    /// Turn starting at login on or off, and remember the choice.
    pub fn toggle_autostart(&self, app: &AppHandle) -> Result<bool, String> {
        let on = !self.autostart(app).unwrap_or(false);
        let al = app.autolaunch();
        let r = if on { al.enable() } else { al.disable() };
        r.map_err(|e| format!("cannot change start at login: {e}"))?;
        self.set_bool(AUTOSTART, on);
        Ok(on)
    }
}
