//! The cost ledger: every request that reached an upstream becomes one priced row.
//!
//! Owns: usage normalisation (`usage`), prices (`prices`), budgets (`budget`), the analytics
//! queries (`query`) and turning a finished request into a row. Must not block the request
//! path: a row is priced in microseconds and handed to the store's writer thread; only a
//! request whose upstream reported no usage is counted with the tokenizer, on a blocking
//! thread. Must not route or talk to upstreams.

pub mod budget;
pub mod prices;
pub mod query;
pub mod quota;
pub(crate) mod usage;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio_util::task::TaskTracker;

use crate::config::Target;
use crate::metrics::Metrics;
use crate::providers::Endpoint;
use crate::store::{RequestRow, Store, Write};
use crate::translate::sse::SseReader;
use crate::translate::{Block, Format, StreamEvent, tokens};

pub use budget::{BudgetConfig, BudgetStatus, Budgets, Exceeded, OnExceeded, Period, Reservation};
pub use prices::{Price, PriceTable, Pricer, Rates};
pub use usage::Tokens;
pub(crate) use usage::{ReasoningReport, UsageTap};

/// The engine's ledger: prices, budgets and the store rows go to.
pub struct Ledger {
    store: Option<Arc<Store>>,
    pricer: Pricer,
    budgets: Budgets,
    quotas: quota::ProjectQuotas,
    metrics: Arc<Metrics>,
    tracker: TaskTracker,
}

/// The answer tokens assumed when reserving a request's cost.
const ESTIMATED_OUTPUT_TOKENS: u64 = 1024;

/// A budget check's verdict.
pub(crate) enum Admit {
    /// Send it; `only`: to these (free) entries of the route and no others.
    Go {
        only: Option<Vec<Target>>,
        reservation: Option<Reservation>,
    },
    /// A hard limit is reached: use this alias instead.
    Downgrade(String, Exceeded),
    Refuse(Exceeded),
}

/// What the request path knows when a request starts.
pub(crate) struct Opened {
    pub ts_ms: i64,
    pub started: Instant,
    pub request_id: String,
    pub project: String,
    pub endpoint: Endpoint,
    pub alias: String,
    pub rule: String,
    pub stream: bool,
    /// The client's body, for counting its tokens when the upstream reports none.
    pub body: Bytes,
    pub reservation: Option<Reservation>,
}

/// How it ended.
pub(crate) struct Closed {
    pub target: Target,
    pub status: u16,
    pub outcome: String,
    pub ttfb: Option<Duration>,
    pub fallbacks: u32,
    pub tap: UsageTap,
}

impl Ledger {
    pub(crate) fn new(
        store: Option<Arc<Store>>,
        pricer: Pricer,
        budgets: Budgets,
        quotas: quota::ProjectQuotas,
        metrics: Arc<Metrics>,
        tracker: TaskTracker,
    ) -> Self {
        Self {
            store,
            pricer,
            budgets,
            quotas,
            metrics,
            tracker,
        }
    }

    pub fn store(&self) -> Option<&Arc<Store>> {
        self.store.as_ref()
    }

    pub fn pricer(&self) -> &Pricer {
        &self.pricer
    }

    pub fn budgets(&self) -> &Budgets {
        &self.budgets
    }

    /// Per-project quotas and today's use.
    pub fn quotas(&self) -> &quota::ProjectQuotas {
        &self.quotas
    }

    /// What `tokens` at `provider/model` cost (for the cache: what a hit saved).
    pub(crate) fn price_of(
        &self,
        provider: &str,
        model: &str,
        tokens: &Tokens,
        latency: Duration,
    ) -> Option<f64> {
        self.pricer.price(provider, model).cost(tokens, latency)
    }

    /// Check the budgets before a request is sent to `targets`. Free targets never touch a
    /// budget; when a hard limit is reached, the route's free entries still answer.
    pub(crate) fn admit(&self, targets: &[Target], project: &str, prompt_tokens: u64) -> Admit {
        if self.budgets.is_empty() {
            return Admit::Go {
                only: None,
                reservation: None,
            };
        }
        let prices: Vec<Price> = targets
            .iter()
            .map(|t| self.pricer.price(&t.provider, &t.model))
            .collect();
        let Some(first) = prices.iter().find(|p| !p.is_free()) else {
            return Admit::Go {
                only: None,
                reservation: None,
            };
        };
        // What the request may cost: its prompt and a typical answer at the first priced
        // entry's rates (only in-flight admission depends on it; the real cost settles).
        let guess = Tokens {
            input: prompt_tokens,
            output: ESTIMATED_OUTPUT_TOKENS,
            ..Tokens::default()
        };
        let estimate = first.cost(&guess, Duration::ZERO).unwrap_or(0.0);
        match self.budgets.admit(project, estimate) {
            Ok(r) => Admit::Go {
                only: None,
                reservation: Some(r),
            },
            Err(ex) => {
                let free: Vec<Target> = targets
                    .iter()
                    .zip(&prices)
                    .filter(|(_, p)| p.is_free())
                    .map(|(t, _)| t.clone())
                    .collect();
                if !free.is_empty() {
                    return Admit::Go {
                        only: Some(free),
                        reservation: None,
                    };
                }
                match &ex.on_exceeded {
                    OnExceeded::Downgrade(alias) => Admit::Downgrade(alias.clone(), ex),
                    OnExceeded::Reject => Admit::Refuse(ex),
                }
            }
        }
    }

    /// A request that never reached an upstream gives back what it reserved.
    pub(crate) fn release(&self, o: Opened) {
        if let Some(r) = o.reservation {
            self.budgets.settle(r, &o.project, 0.0);
        }
    }

    /// Record a finished request. Never waits.
    pub(crate) fn record(self: &Arc<Self>, o: Opened, c: Closed) {
        // A 2xx answer without a usage report (a server that sends none, or a stream cut
        // before its usage came) is still billed upstream: count what passed.
        let answered = (200..300).contains(&c.status);
        match c.tap.tokens() {
            Some(t) => self.finish(o, c, t, false, None),
            None if answered && !c.tap.is_off() => {
                // Counted on a blocking thread: a long answer takes milliseconds to tokenize.
                let me = self.clone();
                let mut c = c;
                self.tracker.spawn_blocking(move || {
                    let t = estimate(&o, &mut c);
                    me.finish(o, c, t, true, None);
                });
            }
            None => self.finish(o, c, Tokens::default(), false, None),
        }
    }

    /// Record a request answered from the cache: the original tokens, cost 0, and what the
    /// original answer cost saved (None: its price was unknown).
    pub(crate) fn record_hit(&self, o: Opened, c: Closed, t: Tokens, saved: Option<f64>) {
        self.finish(o, c, t, false, Some(saved));
    }

    fn finish(&self, o: Opened, c: Closed, t: Tokens, estimated: bool, hit: Option<Option<f64>>) {
        let latency = o.started.elapsed();
        let cost = match hit {
            Some(_) => Some(0.0),
            None => self
                .pricer
                .price(&c.target.provider, &c.target.model)
                .cost(&t, latency),
        };
        self.budgets.settle(
            o.reservation.unwrap_or_default(),
            &o.project,
            cost.unwrap_or(0.0),
        );
        match hit {
            // Tokens and spend are what providers billed; a hit billed nothing.
            None => {
                self.quotas.add_tokens(&o.project, t.input + t.output);
                self.metrics
                    .record_usage(&c.target.provider, &c.target.model, &o.project, &t, cost)
            }
            Some(saved) => self.metrics.record_cache_hit(saved),
        }
        let Some(store) = &self.store else {
            return;
        };
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        store.send(Write::Request(Box::new(RequestRow {
            ts_ms: o.ts_ms,
            request_id: o.request_id,
            project: o.project,
            client_api: if o.endpoint.is_anthropic() {
                "anthropic"
            } else {
                "openai"
            },
            endpoint: o.endpoint.as_str(),
            alias: o.alias,
            provider: c.target.provider,
            model: c.target.model,
            rule: o.rule,
            status: c.status,
            outcome: c.outcome,
            stream: o.stream,
            input_tokens: t.input,
            output_tokens: t.output,
            cache_read_tokens: t.cache_read,
            cache_write_5m_tokens: t.cache_write_5m,
            cache_write_1h_tokens: t.cache_write_1h,
            reasoning_tokens: t.reasoning,
            tokens_estimated: estimated,
            cost_usd: cost,
            saved_usd: hit.flatten().unwrap_or(0.0),
            latency_ms: ms(latency),
            ttfb_ms: c.ttfb.map(ms),
            cache_hit: hit.is_some(),
            fallbacks: c.fallbacks,
        })));
    }
}

/// Tokens counted with the tokenizer: the client's request, and the answer as kept by the tap.
fn estimate(o: &Opened, c: &mut Closed) -> Tokens {
    let client = match o.endpoint {
        Endpoint::Messages | Endpoint::CountTokens => Format::Messages,
        Endpoint::Responses => Format::Responses,
        _ => Format::Chat,
    };
    let input = match client.parse_request(&o.body) {
        Ok(conv) => tokens::estimate(&conv).tokens,
        Err(_) => tokens::count_text(&String::from_utf8_lossy(&o.body)),
    };
    let upstream = c.tap.format();
    let kept = c.tap.take_kept();
    let mut text = String::new();
    if o.stream {
        if let Some(mut d) = upstream.decoder() {
            let mut reader = SseReader::default();
            let mut events = reader.push(&kept);
            events.extend(reader.finish());
            for ev in &events {
                for e in d.decode(ev) {
                    match e {
                        StreamEvent::TextDelta { text: t, .. }
                        | StreamEvent::ThinkingDelta { text: t, .. }
                        | StreamEvent::ToolArgsDelta { json: t, .. } => text.push_str(&t),
                        _ => {}
                    }
                }
            }
        }
    } else if let Some(reply) = upstream.parse_reply(&kept) {
        for b in &reply.content {
            match b {
                Block::Text(t) | Block::Thinking { text: t, .. } => text.push_str(t),
                Block::ToolCall {
                    name, arguments, ..
                } => {
                    text.push_str(name);
                    text.push_str(arguments);
                }
                _ => {}
            }
        }
    }
    Tokens {
        input,
        output: tokens::count_text(&text),
        ..Tokens::default()
    }
}
