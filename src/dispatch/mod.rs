//! Dispatch: walks a `RouteDecision`. Owns per-attempt timeouts, fallback and `Retry-After`
//! waits before the first byte, and the stream relay after it. Must not read config files,
//! touch SQLite or decide routes.
//!
//! The fallback boundary is one line: an attempt succeeds when the upstream's first body chunk
//! (streams) or whole body (JSON) is in hand. Before that, a retryable failure moves on to the
//! next entry; after it, the answer belongs to the client and a failure ends the stream with an
//! error event.
//!
//! Retryable (the entry is at fault, the next may work): connect errors, timeouts, 5xx, 429,
//! 408, and 401/403/404 (a bad key or a model this provider lacks). Not retryable (the request
//! is at fault, every entry would refuse it): other 4xx, answered to the client as the
//! upstream wrote it.

mod attempt;
pub(crate) mod stream;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::config::Target;
use crate::health::{Admission, Breakers, LoadFailures, Monitor};
use crate::providers::{Endpoint, Providers};
use crate::translate::{Conversation, Format, OnUnsupported, TranslateError};
use reqwest::header::HeaderMap;
use std::sync::OnceLock;

pub(crate) use stream::{ClientStream, Ended, StreamEnd, StreamOutcome, UsageStrip};

/// One client request, ready to send to any target.
pub(crate) struct ProxyCall {
    pub endpoint: Endpoint,
    /// The body as the client sent it, in the endpoint's format.
    pub body: Bytes,
    /// Where its `model` value is, so each attempt splices in its own model.
    pub model_span: Option<std::ops::Range<usize>>,
    pub stream: bool,
    /// The client's own key; forwarded only to providers with `pass_client_key`.
    pub client_key: Option<crate::providers::ClientKey>,
    /// The client's request headers (a native Messages upstream gets some of them).
    pub client_headers: HeaderMap,
    /// What translation does with a feature the target lacks.
    pub on_unsupported: OnUnsupported,
    /// The body read into the hub, once, by the first attempt that translates.
    pub conv: OnceLock<Result<Arc<Conversation>, TranslateError>>,
    /// Responses: the id a translated answer carries (Lodestar's own, unique).
    pub response_id: Option<String>,
}

impl ProxyCall {
    /// What a native Messages upstream gets from the client: its API version (ours when it
    /// sent none) and its beta flags. Built only for such attempts.
    pub(crate) fn native_headers(&self) -> HeaderMap {
        let mut out = HeaderMap::new();
        let version = self
            .client_headers
            .get("anthropic-version")
            .cloned()
            .unwrap_or(reqwest::header::HeaderValue::from_static(
                crate::providers::ANTHROPIC_VERSION,
            ));
        out.insert("anthropic-version", version);
        for v in self.client_headers.get_all("anthropic-beta") {
            out.append("anthropic-beta", v.clone());
        }
        out
    }

    /// The request as a hub conversation (parsed on first use; fallbacks reuse it).
    pub(crate) fn conversation(&self, format: Format) -> Result<Arc<Conversation>, TranslateError> {
        self.conv
            .get_or_init(|| format.parse_request(&self.body).map(Arc::new))
            .clone()
    }
}

/// The answer from the target that succeeded.
pub(crate) enum Answer {
    Full {
        status: u16,
        headers: reqwest::header::HeaderMap,
        body: Bytes,
        /// The usage the upstream reported in it.
        tap: Box<crate::ledger::UsageTap>,
    },
    /// `make` builds the client's body once the caller supplies its end-of-stream callback.
    Stream {
        status: u16,
        headers: reqwest::header::HeaderMap,
        make: Box<dyn FnOnce(StreamEnd) -> ClientStream + Send>,
    },
}

/// One try of one target.
#[derive(Debug, Clone)]
pub(crate) struct AttemptRecord {
    pub target: Target,
    /// What went wrong, in words (`503: overloaded`, `timed out waiting for the first byte`).
    pub failure: String,
}

pub(crate) struct Dispatched {
    pub target: Target,
    pub answer: Answer,
    /// Failed tries before the one that answered.
    pub failed: Vec<AttemptRecord>,
    pub ttfb: Duration,
    /// Features translation left out (`x-lodestar-dropped`).
    pub dropped: Vec<String>,
    /// The answer was translated from another format (not passed through).
    pub translated: bool,
}

#[derive(Debug)]
pub(crate) enum DispatchError {
    /// Every target failed before sending a byte.
    AllFailed {
        attempts: Vec<AttemptRecord>,
        /// Entries not tried: their circuit is open, or they are cooling down after a 429.
        skipped: Vec<AttemptRecord>,
        /// The status to answer with: 429 when every failure was a rate limit, 504 when every
        /// one was a timeout, else 502.
        status: u16,
    },
    /// The upstream refused the request itself (a 4xx that no other entry would accept).
    Refused {
        target: Target,
        status: u16,
        /// Already in the client's dialect.
        body: Bytes,
        failed: Vec<AttemptRecord>,
    },
    /// The request cannot be expressed for the target's wire format.
    Translate(TranslateError),
}

/// Why one attempt did not produce an answer.
pub(crate) enum Failure {
    Retryable {
        why: String,
        retry_after: Option<Duration>,
        kind: FailureKind,
    },
    Refused {
        status: u16,
        body: Bytes,
    },
    Translate(TranslateError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FailureKind {
    RateLimited,
    Timeout,
    /// 404: the provider answered, but does not have this model (the entry is broken, the
    /// provider is up).
    NotFound,
    Other,
}

/// The shortest wait honoured for a `Retry-After` (0 would make a busy loop).
const MIN_RETRY_WAIT: Duration = Duration::from_millis(250);
/// How many times the rate-limited entries are tried again after the first pass.
const MAX_RETRY_ROUNDS: u32 = 2;

pub(crate) struct Dispatcher {
    providers: Arc<Providers>,
    max_retry_wait: Duration,
    breakers: Arc<Breakers>,
    monitor: Arc<Monitor>,
    load_failures: LoadFailures,
    residency: Arc<crate::providers::Residency>,
}

impl Dispatcher {
    pub(crate) fn new(
        providers: Arc<Providers>,
        max_retry_wait: Duration,
        breakers: Arc<Breakers>,
        monitor: Arc<Monitor>,
        load_failures: LoadFailures,
        residency: Arc<crate::providers::Residency>,
    ) -> Self {
        Self {
            providers,
            max_retry_wait,
            breakers,
            monitor,
            load_failures,
            residency,
        }
    }

    /// A streamed answer from `target` ended: its health counts only now (a stream cut
    /// mid-way is the upstream's failure; a client leaving is not).
    pub(crate) fn stream_ended(&self, target: &Target, outcome: &StreamOutcome, ttfb: Duration) {
        match outcome {
            StreamOutcome::Failed(why) => {
                self.breakers.failure(target, why);
                self.monitor.observe(target, false, None, Some(why));
            }
            StreamOutcome::Complete | StreamOutcome::ClientGone => {
                self.breakers.success(target);
                self.monitor.observe(target, true, Some(ttfb), None);
            }
        }
    }

    /// Try `targets` in order; then, while the retry budget lasts, the rate-limited ones again
    /// once their `Retry-After` has passed.
    pub(crate) async fn dispatch(
        &self,
        call: &ProxyCall,
        targets: &[Target],
    ) -> Result<Dispatched, DispatchError> {
        let start = Instant::now();
        let mut failed: Vec<AttemptRecord> = Vec::new();
        let mut kinds: Vec<FailureKind> = Vec::new();
        let mut waited = Duration::ZERO;
        let mut rounds = 0;
        let mut untranslatable: Option<TranslateError> = None;
        let mut skipped: Vec<AttemptRecord> = Vec::new();
        let mut round: Vec<&Target> = targets.iter().collect();
        let mut first_round = true;
        while !round.is_empty() {
            let mut again: Vec<(&Target, Duration)> = Vec::new();
            for target in round {
                // New requests skip entries known to be down; a retry after Retry-After does
                // not ask (it waited for exactly that).
                if first_round && let Admission::Skip(why) = self.breakers.admit(target) {
                    skipped.push(AttemptRecord {
                        target: target.clone(),
                        failure: why,
                    });
                    continue;
                }
                let Some(provider) = self.providers.get(&target.provider) else {
                    failed.push(AttemptRecord {
                        target: target.clone(),
                        failure: "provider is not configured".into(),
                    });
                    continue;
                };
                let attempt_started = Instant::now();
                match Box::pin(attempt::run(provider, target, call)).await {
                    Ok(attempt::Attempted {
                        answer,
                        dropped,
                        translated,
                    }) => {
                        if provider.kind() == crate::providers::ProviderKind::Ollama {
                            self.residency
                                .answered(provider, target, attempt_started.elapsed());
                        }
                        // A stream's health is judged when it ends (`stream_ended`).
                        if matches!(answer, Answer::Full { .. }) {
                            self.breakers.success(target);
                            self.monitor.observe(
                                target,
                                true,
                                Some(attempt_started.elapsed()),
                                None,
                            );
                        }
                        return Ok(Dispatched {
                            target: target.clone(),
                            answer,
                            failed,
                            ttfb: start.elapsed(),
                            dropped,
                            translated,
                        });
                    }
                    Err(Failure::Retryable {
                        why,
                        retry_after,
                        kind,
                    }) => {
                        tracing::debug!(target = %target, why = %why, "attempt failed");
                        if kind == FailureKind::RateLimited {
                            self.breakers.rate_limited(target, retry_after);
                        } else {
                            self.breakers.failure(target, &why);
                            if kind == FailureKind::NotFound {
                                self.monitor.observe_model_failure(target, &why);
                            } else {
                                self.monitor.observe(target, false, None, Some(&why));
                            }
                            self.load_failures.failed(target, &why);
                        }
                        failed.push(AttemptRecord {
                            target: target.clone(),
                            failure: why,
                        });
                        kinds.push(kind);
                        if let Some(ra) = retry_after {
                            again.push((target, ra));
                        }
                    }
                    Err(Failure::Refused { status, body }) => {
                        // The entry is up: it answered, refusing the request itself.
                        self.breakers.success(target);
                        self.monitor
                            .observe(target, true, Some(attempt_started.elapsed()), None);
                        return Err(DispatchError::Refused {
                            target: target.clone(),
                            status,
                            body,
                            failed,
                        });
                    }
                    // This entry cannot carry the request; a later one may.
                    Err(Failure::Translate(e)) => {
                        failed.push(AttemptRecord {
                            target: target.clone(),
                            failure: format!("cannot be translated for this provider: {e}"),
                        });
                        untranslatable.get_or_insert(e);
                    }
                }
            }
            // Honour Retry-After within the budget: wait for the soonest, retry those ready.
            // A floor keeps `Retry-After: 0` from becoming a busy loop; the rounds are capped.
            let Some(wait) = again.iter().map(|(_, d)| *d).min() else {
                break;
            };
            let wait = wait.max(MIN_RETRY_WAIT);
            first_round = false;
            rounds += 1;
            if rounds > MAX_RETRY_ROUNDS || waited + wait > self.max_retry_wait {
                break;
            }
            tokio::time::sleep(wait).await;
            waited += wait;
            round = again
                .iter()
                .filter(|(_, d)| *d <= wait)
                .map(|(t, _)| *t)
                .collect();
        }
        // Nothing was even sent: the request itself is the problem.
        if let (true, Some(e)) = (kinds.is_empty(), untranslatable) {
            return Err(DispatchError::Translate(e));
        }
        let status = if kinds.is_empty() && failed.is_empty() && !skipped.is_empty() {
            // Nothing was tried: every entry is known to be down or cooling down.
            503
        } else if !kinds.is_empty() && kinds.iter().all(|k| *k == FailureKind::RateLimited) {
            429
        } else if !kinds.is_empty() && kinds.iter().all(|k| *k == FailureKind::Timeout) {
            504
        } else {
            502
        };
        Err(DispatchError::AllFailed {
            attempts: failed,
            skipped,
            status,
        })
    }
}

/// A reqwest error in words, without the URL's query string or anything the request carried.
pub(crate) fn describe_reqwest(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut msg = if e.is_connect() {
        "connection failed".to_string()
    } else if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_body() || e.is_decode() {
        "error reading the body".to_string()
    } else {
        "request failed".to_string()
    };
    let mut src = e.source();
    let mut depth = 0;
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
        depth += 1;
        if depth == 3 {
            break;
        }
    }
    msg
}
