//! Which models each Ollama server holds in memory, as last seen (`/api/ps`), and the model
//! switches Lodestar saw: a request answered by a model that was not loaded. Its time to first
//! byte is the switch time (loading included) — what a user waits when a route moves to a
//! model that is not warm. Shown on the UI's GPU page and `GET /admin/api/gpu`.
//!
//! Nothing here is on the request path's critical section: a request only compares its model
//! with the last known set; reading `/api/ps` again after a switch runs in the background.
//!
//! Owns the last-seen loaded sets and the recent switches; must not load or unload models.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::{LoadedModel, Provider, loaded_models};
use crate::config::Target;
use crate::store::{lock, now_ms};

/// Switches kept (newest first in `recent`).
const KEEP: usize = 32;
/// A loaded set older than this is not trusted to call a request a switch (Ollama unloads
/// idle models after its keep_alive, 5 minutes by default, without telling anyone).
const FRESH_FOR: Duration = Duration::from_secs(240);

/// One model switch.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ModelSwitch {
    pub provider: String,
    pub model: String,
    /// Time to the first byte of the request that brought it in (loading included).
    pub took_ms: f64,
    pub at_ms: i64,
    /// Models that were loaded before and were gone after (evicted to make room), when known.
    pub unloaded: Vec<String>,
}

#[derive(Debug, Default)]
struct Seen {
    /// The loaded models (normalised names) and when that was read.
    loaded: Option<(Vec<String>, Instant)>,
    /// The context each model was last seen loaded with (`/api/ps` `context_length`).
    contexts: HashMap<String, u64>,
    /// A re-read is under way (one at a time).
    refreshing: bool,
}

#[derive(Debug, Default)]
pub struct Residency {
    seen: Mutex<HashMap<String, Seen>>,
    switches: Mutex<VecDeque<ModelSwitch>>,
}

/// Ollama's name for a model: `llama3` is `llama3:latest`.
fn normal(model: &str) -> String {
    if model.contains(':') {
        model.to_string()
    } else {
        format!("{model}:latest")
    }
}

impl Residency {
    /// What `/api/ps` of `provider` said just now.
    pub(crate) fn observe(&self, provider: &str, models: &[LoadedModel]) {
        let mut seen = lock(&self.seen);
        Self::note(seen.entry(provider.to_string()).or_default(), models);
    }

    fn note(s: &mut Seen, models: &[LoadedModel]) {
        s.loaded = Some((
            models.iter().map(|m| normal(&m.name)).collect(),
            Instant::now(),
        ));
        for m in models {
            if let Some(n) = m.context_length {
                s.contexts.insert(normal(&m.name), n);
            }
        }
    }

    /// The context `model` was last seen loaded with on `provider`.
    pub fn context(&self, provider: &str, model: &str) -> Option<u64> {
        lock(&self.seen)
            .get(provider)?
            .contexts
            .get(&normal(model))
            .copied()
    }

    /// The recent switches, newest first.
    pub fn recent(&self) -> Vec<ModelSwitch> {
        lock(&self.switches).iter().cloned().collect()
    }

    /// `provider` (an Ollama server) answered a request for `target` after `ttfb`. If the
    /// model was not among those last seen loaded (within `FRESH_FOR`), that was a switch:
    /// record it, then read `/api/ps` again (in the background) to learn what it evicted.
    pub(crate) fn answered(self: &Arc<Self>, provider: &Arc<Provider>, t: &Target, ttfb: Duration) {
        let model = normal(&t.model);
        let before = {
            let mut seen = lock(&self.seen);
            let s = seen.entry(t.provider.clone()).or_default();
            let fresh = s.loaded.as_ref().filter(|(_, at)| at.elapsed() < FRESH_FOR);
            match fresh {
                // Warm; or nothing fresh is known (no one read /api/ps lately: the status
                // screen, the tray and the UI do), so no call is made on the request's behalf.
                Some((names, _)) if names.contains(&model) => return,
                None => return,
                _ if s.refreshing => return,
                Some((names, _)) => {
                    s.refreshing = true;
                    names.clone()
                }
            }
        };
        tracing::info!(
            target = %t,
            took_ms = ttfb.as_secs_f64() * 1000.0,
            "model switch: the model was not loaded"
        );
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            lock(&self.seen)
                .entry(t.provider.clone())
                .or_default()
                .refreshing = false;
            return;
        };
        let (me, p, t) = (self.clone(), provider.clone(), t.clone());
        rt.spawn(async move {
            let now = loaded_models(&p).await;
            {
                let mut seen = lock(&me.seen);
                let s = seen.entry(t.provider.clone()).or_default();
                s.refreshing = false;
                if let Ok(models) = &now {
                    Self::note(s, models);
                }
            }
            let after: Vec<String> = match &now {
                Ok(models) => models.iter().map(|m| normal(&m.name)).collect(),
                Err(_) => before.clone(),
            };
            let mut switches = lock(&me.switches);
            switches.push_front(ModelSwitch {
                provider: t.provider.clone(),
                model: t.model.clone(),
                took_ms: ttfb.as_secs_f64() * 1000.0,
                at_ms: now_ms(),
                unloaded: before.into_iter().filter(|m| !after.contains(m)).collect(),
            });
            switches.truncate(KEEP);
        });
    }
}
