//! The desktop app's preferences (`/admin/api/preferences`): which desktop notifications it
//! shows, and whether it starts at login. The engine keeps them; the tray app applies them and
//! changes them from its own menu too. A change sends only the field it changes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The notification kinds, in the order the Settings page lists them, with their labels
/// (the engine's `prefs::NOTIFICATION_KINDS`).
pub const NOTIFICATION_KINDS: [(&str, &str); 5] = [
    ("budget_threshold", "Budget thresholds crossed"),
    ("budget_limit", "Budget hard limit reached"),
    ("provider", "Provider down / recovered"),
    ("model_load", "Local model failed to load"),
    ("on_down", "on_down command failed"),
];

/// `GET /admin/api/preferences`, and the answer to a `PUT`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Preferences {
    /// Each kind: shown (true) or muted (false).
    pub notifications: BTreeMap<String, bool>,
    /// Start the desktop app at login; None: never chosen (the app leaves the OS as it is).
    pub autostart: Option<bool>,
    /// Whether anything was ever set (false: the defaults).
    pub saved: bool,
}

impl Preferences {
    /// Whether notifications of `kind` are shown; a kind the engine did not send is shown
    /// (the engine's default).
    pub fn notification(&self, kind: &str) -> bool {
        self.notifications.get(kind).copied().unwrap_or(true)
    }
}

/// The body of `PUT /admin/api/preferences`: only the fields given change.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PreferencesChange {
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub notifications: BTreeMap<String, bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub autostart: Option<bool>,
}

impl PreferencesChange {
    /// Show (`on`) or mute notifications of `kind`.
    pub fn notification(kind: &str, on: bool) -> Self {
        Self {
            notifications: BTreeMap::from([(kind.to_string(), on)]),
            autostart: None,
        }
    }

    /// Start the desktop app at login, or not.
    pub fn autostart(on: bool) -> Self {
        Self {
            notifications: BTreeMap::new(),
            autostart: Some(on),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_engines_preferences() {
        let p: Preferences = serde_json::from_str(
            r#"{"notifications": {"budget_threshold": true, "budget_limit": true,
                "provider": false, "model_load": true, "on_down": true},
               "autostart": null, "saved": false}"#,
        )
        .unwrap();
        assert_eq!(p.autostart, None);
        assert!(!p.saved);
        assert!(!p.notification("provider"));
        assert!(p.notification("budget_threshold"));
        // Every kind the page lists is one the engine sends.
        for (kind, _) in NOTIFICATION_KINDS {
            assert!(p.notifications.contains_key(kind), "{kind}");
        }
        let p: Preferences = serde_json::from_str(
            r#"{"notifications": {"provider": true}, "autostart": true, "saved": true}"#,
        )
        .unwrap();
        assert_eq!(p.autostart, Some(true));
        assert!(p.saved);
        // A kind this engine does not send: shown, as the engine defaults it.
        assert!(p.notification("model_load"));
        let p: Preferences = serde_json::from_str(r#"{"autostart": false}"#).unwrap();
        assert_eq!(p.autostart, Some(false));
        assert!(p.notifications.is_empty());
    }

    #[test]
    fn a_change_sends_only_its_field() {
        let body = serde_json::to_string(&PreferencesChange::notification("provider", false));
        assert_eq!(body.unwrap(), r#"{"notifications":{"provider":false}}"#);
        let body = serde_json::to_string(&PreferencesChange::notification("on_down", true));
        assert_eq!(body.unwrap(), r#"{"notifications":{"on_down":true}}"#);
        let body = serde_json::to_string(&PreferencesChange::autostart(true));
        assert_eq!(body.unwrap(), r#"{"autostart":true}"#);
        let body = serde_json::to_string(&PreferencesChange::autostart(false));
        assert_eq!(body.unwrap(), r#"{"autostart":false}"#);
    }
}
