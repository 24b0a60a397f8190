//! The quick switch: the default alias, local-only mode and pause, changed while the engine runs (the
//! tray's radio list, the UI's Models page, `lodestar use`) — one state for all three. The
//! switch never edits the config file: it is an override on top of it, kept in the database's
//! `settings` table so it survives restarts (in memory only with `storage.enabled: false`).
//! Routing reads `current()`, the file's config with the overrides applied, so the router stays
//! a pure function of a config and `lodestar route --explain` shows the same decision.
//!
//! Owns the overrides; must not decide routes.

use std::sync::{Arc, RwLock};

use serde::Serialize;
use tokio::sync::broadcast;

use crate::config::Config;
use crate::events::Event;
use crate::store::{Store, Write};

const DEFAULT_KEY: &str = "routing.default";
const LOCAL_ONLY_KEY: &str = "routing.local_only";

/// What the switch says now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SwitchState {
    /// The alias `auto` (and unknown models, with `routing.unknown_model: default`) go to.
    pub default: Option<String>,
    /// `config` (the file's `routing.default`) or `switched` (changed at run time).
    pub default_source: &'static str,
    pub local_only: bool,
    /// The proxy answers 503 `paused` to every model request (the admin API keeps working).
    /// Not saved: a restart serves again.
    pub paused: bool,
}

/// A change asked for; `None` fields stay as they are.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchChange {
    /// An alias, or `null` to go back to the config file's `routing.default`.
    #[serde(default, with = "double_option")]
    pub default: Option<Option<String>>,
    pub local_only: Option<bool>,
    pub paused: Option<bool>,
}

mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<String>>, D::Error> {
        Option::<String>::deserialize(d).map(Some)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("`{alias}` is not an alias (aliases: {known})")]
pub struct UnknownAlias {
    pub alias: String,
    pub known: String,
}

struct Overrides {
    default: Option<String>,
    local_only: Option<bool>,
}

pub struct RoutingSwitch {
    paused: std::sync::atomic::AtomicBool,
    file: Arc<Config>,
    overrides: RwLock<Overrides>,
    current: RwLock<Arc<Config>>,
    store: Option<Arc<Store>>,
    events: broadcast::Sender<Event>,
}

/// The overrides saved in `store`, if any (for `lodestar route --explain` and the engine).
pub fn saved(store: &Store) -> (Option<String>, Option<bool>) {
    let read = store.read_blocking(|c| {
        let get = |k: &str| -> rusqlite::Result<Option<String>> {
            match c.query_row("SELECT value FROM settings WHERE key = ?1", [k], |r| {
                r.get(0)
            }) {
                Ok(v) => Ok(Some(v)),
                Err(rusqlite::Error::QueryReturnedNoRows) => Ok(None),
                Err(e) => Err(e),
            }
        };
        Ok((get(DEFAULT_KEY)?, get(LOCAL_ONLY_KEY)?))
    });
    match read {
        Ok((d, l)) => (d.filter(|d| !d.is_empty()), l.map(|l| l == "true")),
        Err(_) => (None, None),
    }
}

/// `cfg` with the overrides applied (an alias that no longer exists is ignored).
pub fn apply(cfg: &Config, default: Option<&str>, local_only: Option<bool>) -> Config {
    let mut c = cfg.clone();
    if let Some(d) = default
        && cfg.alias(d).is_some()
    {
        c.routing.default = Some(d.to_string());
    }
    if let Some(l) = local_only {
        c.routing.local_only = l;
    }
    c
}

impl RoutingSwitch {
    pub(crate) fn new(
        file: Arc<Config>,
        store: Option<Arc<Store>>,
        events: broadcast::Sender<Event>,
    ) -> Self {
        let (mut default, local_only) = store.as_deref().map(saved).unwrap_or((None, None));
        if let Some(d) = &default
            && file.alias(d).is_none()
        {
            tracing::warn!(
                alias = %d,
                "the default alias chosen with the quick switch is no longer in the config; \
                 using routing.default"
            );
            default = None;
        }
        let current = Arc::new(apply(&file, default.as_deref(), local_only));
        Self {
            paused: std::sync::atomic::AtomicBool::new(false),
            file,
            overrides: RwLock::new(Overrides {
                default,
                local_only,
            }),
            current: RwLock::new(current),
            store,
            events,
        }
    }

    /// The config routing uses now.
    pub fn current(&self) -> Arc<Config> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn state(&self) -> SwitchState {
        let o = self.overrides.read().unwrap_or_else(|e| e.into_inner());
        let c = self.current();
        SwitchState {
            default: c.routing.default.clone(),
            default_source: if o.default.is_some() {
                "switched"
            } else {
                "config"
            },
            local_only: c.routing.local_only,
            paused: self.paused(),
        }
    }

    /// Whether the proxy is paused (one atomic load: read on every request).
    pub fn paused(&self) -> bool {
        self.paused.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Apply `change`: at once for new requests, saved, and announced on the event channel.
    pub fn set(&self, change: SwitchChange) -> Result<SwitchState, UnknownAlias> {
        if let Some(Some(a)) = &change.default
            && self.file.alias(a).is_none()
        {
            return Err(UnknownAlias {
                alias: a.clone(),
                known: self
                    .file
                    .aliases
                    .iter()
                    .map(|a| a.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        {
            let mut o = self.overrides.write().unwrap_or_else(|e| e.into_inner());
            if let Some(d) = change.default {
                o.default = d;
                self.save(DEFAULT_KEY, o.default.clone().unwrap_or_default());
            }
            if let Some(l) = change.local_only {
                o.local_only = Some(l);
                self.save(LOCAL_ONLY_KEY, l.to_string());
            }
            if let Some(p) = change.paused {
                self.paused.store(p, std::sync::atomic::Ordering::Relaxed);
            }
            let next = Arc::new(apply(&self.file, o.default.as_deref(), o.local_only));
            *self.current.write().unwrap_or_else(|e| e.into_inner()) = next;
        }
        let state = self.state();
        tracing::info!(
            default = state.default.as_deref().unwrap_or("-"),
            local_only = state.local_only,
            paused = state.paused,
            "routing switched"
        );
        let _ = self.events.send(Event::Routing(state.clone()));
        Ok(state)
    }

    fn save(&self, key: &str, value: String) {
        if let Some(s) = &self.store {
            s.send(Write::Setting(Box::new(crate::store::Setting {
                key: key.to_string(),
                value,
            })));
        }
    }
}
