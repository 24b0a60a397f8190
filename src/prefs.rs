//! Preferences of the engine's faces that the UI edits and the desktop app applies: which
//! desktop notifications are shown, and whether the app starts at login. Kept in the
//! database's `settings` table (in memory with `storage.enabled: false`), so the tray menu, the
//! UI's Settings page and a restarted app agree; a change goes out as `Event::Preferences`.
//!
//! Owns the keys, their defaults and validation; must not show notifications or touch the OS
//! login items (the desktop app does).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::events::Event;
use crate::store::{Store, Write};

/// The notification kinds a user can mute (the engine events behind them).
pub const NOTIFICATION_KINDS: [&str; 5] = [
    "budget_threshold",
    "budget_limit",
    "provider",
    "model_load",
    "on_down",
];

const KEY: &str = "preferences";

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Preferences {
    /// Every kind in `NOTIFICATION_KINDS`: shown (true, the default) or muted.
    pub notifications: BTreeMap<String, bool>,
    /// Start the desktop app at login; None: never chosen (the app keeps the OS's state).
    pub autostart: Option<bool>,
    /// Whether anything was ever set (false: these are the defaults, and a face that kept its
    /// own preferences before should hand them over).
    pub saved: bool,
}

impl Default for Preferences {
    fn default() -> Self {
        Self {
            notifications: NOTIFICATION_KINDS
                .iter()
                .map(|k| (k.to_string(), true))
                .collect(),
            autostart: None,
            saved: false,
        }
    }
}

/// A change: only the fields given.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreferencesChange {
    #[serde(default)]
    pub notifications: BTreeMap<String, bool>,
    #[serde(default)]
    pub autostart: Option<bool>,
}

/// The saved form (tolerant: unknown kinds from another version are dropped).
#[derive(Debug, Default, Deserialize)]
struct Saved {
    #[serde(default)]
    notifications: BTreeMap<String, bool>,
    #[serde(default)]
    autostart: Option<bool>,
}

pub struct FacePrefs {
    current: RwLock<Preferences>,
    store: Option<Arc<Store>>,
    events: broadcast::Sender<Event>,
}

impl FacePrefs {
    /// The saved preferences (defaults where none).
    pub(crate) fn load(store: Option<Arc<Store>>, events: broadcast::Sender<Event>) -> Self {
        let mut p = Preferences::default();
        let saved = store.as_ref().and_then(|s| {
            s.read_blocking(|c| {
                match c.query_row("SELECT value FROM settings WHERE key = ?1", [KEY], |r| {
                    r.get::<_, String>(0)
                }) {
                    Ok(v) => Ok(Some(v)),
                    Err(rusqlite::Error::QueryReturnedNoRows) => Ok(None),
                    Err(e) => Err(e),
                }
            })
            .ok()
            .flatten()
        });
        if let Some(saved) = saved.and_then(|v| serde_json::from_str::<Saved>(&v).ok()) {
            for (k, on) in saved.notifications {
                if let Some(slot) = p.notifications.get_mut(&k) {
                    *slot = on;
                }
            }
            p.autostart = saved.autostart;
            p.saved = true;
        }
        Self {
            current: RwLock::new(p),
            store,
            events,
        }
    }

    pub fn get(&self) -> Preferences {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Apply `change`; an unknown notification kind is refused with the known ones named.
    pub fn set(&self, change: PreferencesChange) -> Result<Preferences, String> {
        if let Some(k) = change
            .notifications
            .keys()
            .find(|k| !NOTIFICATION_KINDS.contains(&k.as_str()))
        {
            return Err(format!(
                "unknown notification kind `{k}`; the kinds are {}",
                NOTIFICATION_KINDS.join(", ")
            ));
        }
        let p = {
            let mut cur = self.current.write().unwrap_or_else(|e| e.into_inner());
            cur.notifications.extend(change.notifications);
            if change.autostart.is_some() {
                cur.autostart = change.autostart;
            }
            cur.saved = true;
            cur.clone()
        };
        if let Some(s) = &self.store
            && let Ok(value) = serde_json::to_string(&p)
        {
            s.send(Write::Setting(Box::new(crate::store::Setting {
                key: KEY.to_string(),
                value,
            })));
        }
        let _ = self.events.send(Event::Preferences(p.clone()));
        Ok(p)
    }
}
