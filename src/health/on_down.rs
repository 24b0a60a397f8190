//! A provider's `on_down` command (e.g. `systemctl --user restart ollama`): run once per outage
//! when the provider goes down, never twice within its backoff (which doubles, up to 30
//! minutes, while outages keep coming back, and resets after a quiet spell). Its outcome is
//! logged and sent on the event channel.
//!
//! Owns the runs and their backoff; must not decide whether a provider is down (`monitor.rs`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::broadcast;
use tokio_util::task::TaskTracker;

use crate::config::{Config, OnDown};
use crate::events::{Event, OnDownRun};
use crate::store::lock;

const MAX_BACKOFF: Duration = Duration::from_secs(30 * 60);
/// The most output kept for the event and the log.
const OUTPUT_TAIL: usize = 2000;

#[derive(Debug)]
struct Runs {
    /// It ran during the current outage.
    ran: bool,
    /// Not again before this.
    next: Option<Instant>,
    backoff: Duration,
}

pub(crate) struct OnDownRunner {
    commands: HashMap<String, OnDown>,
    runs: Mutex<HashMap<String, Runs>>,
    tracker: TaskTracker,
    events: broadcast::Sender<Event>,
}

impl OnDownRunner {
    pub(crate) fn new(
        config: &Config,
        tracker: TaskTracker,
        events: broadcast::Sender<Event>,
    ) -> Self {
        let commands: HashMap<String, OnDown> = config
            .providers
            .iter()
            .filter_map(|p| Some((p.name.clone(), p.on_down.clone()?)))
            .collect();
        let runs = commands
            .iter()
            .map(|(name, c)| {
                (
                    name.clone(),
                    Runs {
                        ran: false,
                        next: None,
                        backoff: c.backoff,
                    },
                )
            })
            .collect();
        Self {
            commands,
            runs: Mutex::new(runs),
            tracker,
            events,
        }
    }

    pub(crate) fn provider_down(&self, provider: &str) {
        let Some(cmd) = self.commands.get(provider) else {
            return;
        };
        let now = Instant::now();
        {
            let mut runs = lock(&self.runs);
            let Some(r) = runs.get_mut(provider) else {
                return;
            };
            if r.ran {
                return;
            }
            if let Some(next) = r.next
                && now < next
            {
                tracing::info!(
                    provider,
                    wait_s = (next - now).as_secs(),
                    "provider down again; on_down not run (backoff)"
                );
                return;
            }
            r.ran = true;
            r.next = Some(now + r.backoff);
            r.backoff = (r.backoff * 2).min(MAX_BACKOFF);
        }
        let (provider, cmd, events) = (provider.to_string(), cmd.clone(), self.events.clone());
        self.tracker.spawn(async move {
            let run = run(&provider, &cmd).await;
            if run.ok {
                tracing::info!(provider = %run.provider, command = %run.command, took_ms = run.took_ms, "on_down ran");
            } else {
                tracing::warn!(provider = %run.provider, command = %run.command, exit_code = ?run.exit_code, output = %run.output, "on_down failed");
            }
            let _ = events.send(Event::OnDown(run));
        });
    }

    pub(crate) fn provider_up(&self, provider: &str) {
        let Some(cmd) = self.commands.get(provider) else {
            return;
        };
        let mut runs = lock(&self.runs);
        if let Some(r) = runs.get_mut(provider) {
            r.ran = false;
            // Quiet for a whole backoff after the last run allowed another: start over.
            if r.next.is_some_and(|n| Instant::now() > n + r.backoff) {
                r.backoff = cmd.backoff;
            }
        }
    }
}

async fn run(provider: &str, cmd: &OnDown) -> OnDownRun {
    let started = Instant::now();
    let mut c = if cfg!(windows) {
        let mut c = tokio::process::Command::new("cmd");
        c.arg("/C").arg(&cmd.command);
        c
    } else {
        let mut c = tokio::process::Command::new("sh");
        c.arg("-c").arg(&cmd.command);
        c
    };
    c.stdin(std::process::Stdio::null()).kill_on_drop(true);
    let (ok, exit_code, output) = match tokio::time::timeout(cmd.timeout, c.output()).await {
        Ok(Ok(out)) => {
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&out.stderr));
            (out.status.success(), out.status.code(), tail(&text))
        }
        Ok(Err(e)) => (false, None, format!("could not start: {e}")),
        Err(_) => (
            false,
            None,
            format!(
                "killed after {} (on_down.timeout)",
                humantime::format_duration(cmd.timeout)
            ),
        ),
    };
    OnDownRun {
        provider: provider.to_string(),
        command: cmd.command.clone(),
        ok,
        exit_code,
        output,
        took_ms: started.elapsed().as_millis() as u64,
    }
}

fn tail(s: &str) -> String {
    let s = s.trim_end();
    let mut start = s.len().saturating_sub(OUTPUT_TAIL);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    s[start..].to_string()
}
