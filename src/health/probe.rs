//! Background probes: every `health.probe_interval`, one cheap GET per provider (its model
//! list by default: `GET /models`, Ollama's `/api/tags`, Anthropic's `/v1/models`; or the
//! provider's `probe:`), all providers at once, each under `health.probe_timeout`. A probe
//! passes on a 2xx answer whose body is JSON (when it says it is), and on a 429 (rate limited
//! is alive); anything else — refused, timed out, 5xx, 401, garbage — fails with the reason.
//!
//! Owns sending probes; the verdict goes to the `Monitor`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::monitor::{Monitor, ProbeOutcome};
use crate::providers::{Provider, Providers};
use crate::store::now_ms;

/// Probe every provider now, then every `interval` until `stop`.
pub(crate) async fn run(
    providers: Arc<Providers>,
    monitor: Arc<Monitor>,
    interval: Duration,
    timeout: Duration,
    stop: tokio_util::sync::CancellationToken,
) {
    loop {
        probe_all(&providers, &monitor, timeout).await;
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

pub(crate) async fn probe_all(providers: &Providers, monitor: &Monitor, timeout: Duration) {
    let jobs = providers.iter().filter_map(|p| {
        let url = p.cfg.probe.clone()?;
        Some(async move {
            let outcome = probe(p, &url, timeout).await;
            monitor.probed(p.name(), outcome);
        })
    });
    futures_util::future::join_all(jobs).await;
}

/// One probe of `p` at `url`.
pub(crate) async fn probe(p: &Provider, url: &str, timeout: Duration) -> ProbeOutcome {
    let started = Instant::now();
    let result = check(p, url, timeout).await;
    ProbeOutcome {
        ok: result.is_ok(),
        latency_ms: started.elapsed().as_secs_f64() * 1000.0,
        error: result.err(),
        at_ms: now_ms(),
    }
}

async fn check(p: &Provider, url: &str, timeout: Duration) -> Result<(), String> {
    let work = async {
        let resp = p.get(url).send().await.map_err(|e| {
            format!(
                "cannot reach {url}: {}",
                crate::dispatch::describe_reqwest(&e)
            )
        })?;
        let status = resp.status();
        if status.as_u16() == 429 {
            return Ok(());
        }
        if status.as_u16() == 401 || status.as_u16() == 403 {
            return Err(format!(
                "{url} answered {status}: the API key was refused; check the provider's key"
            ));
        }
        if !status.is_success() {
            return Err(format!("{url} answered {status}"));
        }
        let json = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("json"));
        let body = resp
            .bytes()
            .await
            .map_err(|e| format!("{url} broke off its answer: {e}"))?;
        if json && serde_json::from_slice::<serde::de::IgnoredAny>(&body).is_err() {
            return Err(format!(
                "{url} answered {status} with a body that is not JSON"
            ));
        }
        Ok(())
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "{url} did not answer within {} (health.probe_timeout)",
            humantime::format_duration(timeout)
        )),
    }
}
