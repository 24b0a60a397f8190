//! A local model that fails to load: Ollama, llama.cpp, LM Studio or llama-swap answering an
//! error that says the model could not be brought up (not enough memory, the runner crashed,
//! the model is not pulled). Routing already falls back; this makes it news once per
//! `provider/model` per `health.notify_every`, on the event channel (desktop notifications,
//! the UI), and in the log.
//!
//! Owns the wording match and its rate limit; must not decide routes or provider states.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::broadcast;

use crate::config::{Config, Target};
use crate::events::{Event, ModelLoadFailure};
use crate::store::lock;

/// What local model servers say when a model cannot be loaded (matched lowercase).
const LOAD_FAILURE_WORDS: &[&str] = &[
    // Ollama
    "requires more system memory",
    "llama runner process has terminated",
    "try pulling it first",
    "error loading model",
    "unable to load model",
    // llama.cpp server, LM Studio
    "failed to load",
    // CUDA / Metal allocation
    "out of memory",
    "cudamalloc failed",
    // llama-swap
    "upstream command exited",
    "unable to start process",
];

/// The failure `why` (`STATUS: message`) reads as a model that could not be loaded.
pub(crate) fn looks_like_load_failure(why: &str) -> bool {
    let lower = why.to_ascii_lowercase();
    LOAD_FAILURE_WORDS.iter().any(|w| lower.contains(w))
}

/// Announces load failures of local models, each `provider/model` at most once per
/// `notify_every`.
pub(crate) struct LoadFailures {
    local: HashSet<String>,
    notify_every: Duration,
    last: Mutex<HashMap<String, Instant>>,
    events: broadcast::Sender<Event>,
}

impl LoadFailures {
    pub(crate) fn new(config: &Config, events: broadcast::Sender<Event>) -> Self {
        Self {
            local: config
                .providers
                .iter()
                .filter(|p| p.is_local())
                .map(|p| p.name.clone())
                .collect(),
            notify_every: config.health.notify_every,
            last: Mutex::new(HashMap::new()),
            events,
        }
    }

    /// An attempt at `t` failed with `why`: if `t` is a local model that could not be loaded,
    /// log it and send the event (unless sent within `notify_every`). True when it was news.
    pub(crate) fn failed(&self, t: &Target, why: &str) -> bool {
        if !self.local.contains(&t.provider) || !looks_like_load_failure(why) {
            return false;
        }
        let key = t.to_string();
        let now = Instant::now();
        {
            let mut last = lock(&self.last);
            if last
                .get(&key)
                .is_some_and(|at| now.duration_since(*at) < self.notify_every)
            {
                return false;
            }
            last.insert(key, now);
        }
        tracing::warn!(target = %t, error = why, "local model failed to load");
        let _ = self.events.send(Event::ModelLoadFailed(ModelLoadFailure {
            provider: t.provider.clone(),
            model: t.model.clone(),
            error: why.chars().take(300).collect(),
        }));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::looks_like_load_failure;

    #[test]
    fn known_load_errors_match_and_ordinary_failures_do_not() {
        for why in [
            "500: model requires more system memory (5.6 GiB) than is available (3.1 GiB)",
            "500: llama runner process has terminated: exit status 2",
            "404: model \"qwen3:8b\" not found, try pulling it first",
            "500: Failed to load model \"x\"",
            "500: CUDA error: out of memory",
            "502: upstream command exited prematurely",
        ] {
            assert!(looks_like_load_failure(why), "{why}");
        }
        for why in [
            "503: overloaded",
            "connection failed: Connection refused",
            "404: The model `gpt-9` does not exist",
            "500: internal error",
            "no answer within 30s (timeouts.first_byte)",
        ] {
            assert!(!looks_like_load_failure(why), "{why}");
        }
    }
}
