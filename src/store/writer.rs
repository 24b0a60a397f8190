//! The writer thread: takes everything queued, commits it in one transaction, answers
//! flushes, prunes stored Responses by age and size.

use std::collections::HashMap;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use rusqlite::{Connection, Transaction, params};

use super::{BATCH_MAX, BATCH_WINDOW, Pending, ResponseLimits, Write, lock, now_ms};

/// How often stored Responses older than their limit are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// Rows written between two yields of the CPU.
const YIELD_EVERY: usize = 16;
/// The shortest gap between two warnings about failed writes.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// One ledger row, priced and final.
#[derive(Debug, Clone, Default)]
pub(crate) struct RequestRow {
    pub ts_ms: i64,
    pub request_id: String,
    pub project: String,
    pub client_api: &'static str,
    pub endpoint: &'static str,
    pub alias: String,
    pub provider: String,
    pub model: String,
    pub rule: String,
    pub status: u16,
    pub outcome: String,
    pub stream: bool,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_5m_tokens: u64,
    pub cache_write_1h_tokens: u64,
    pub reasoning_tokens: u64,
    pub tokens_estimated: bool,
    /// None: no price is known for the model.
    pub cost_usd: Option<f64>,
    pub saved_usd: f64,
    pub latency_ms: f64,
    pub ttfb_ms: Option<f64>,
    pub cache_hit: bool,
    pub fallbacks: u32,
}

/// A budget threshold that fired in a period (so it fires once per period, across restarts).
#[derive(Debug, Clone)]
pub(crate) struct AlertRow {
    pub budget: String,
    pub period_start_ms: i64,
    pub threshold: f64,
    pub ts_ms: i64,
}

/// A Response Lodestar produced, kept for `previous_response_id`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredResponse {
    pub id: String,
    pub created_ms: i64,
    pub project: String,
    /// JSON: what the next turn needs to rebuild the conversation.
    pub body: Vec<u8>,
}

#[derive(Default)]
struct Rollup {
    requests: i64,
    errors: i64,
    input: u64,
    output: u64,
    cache_read: u64,
    cache_write_5m: u64,
    cache_write_1h: u64,
    reasoning: u64,
    cost: f64,
    unpriced: i64,
    cache_hits: i64,
    saved: f64,
}

type RollupKey = (i64, String, String, String, String);

pub(super) fn run(
    mut conn: Connection,
    rx: Receiver<Write>,
    limits: ResponseLimits,
    pending: Pending,
    urgent: std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    let mut last_warn: Option<Instant> = None;
    let mut stored_bytes: u64 = conn
        .query_row("SELECT COALESCE(SUM(bytes), 0) FROM responses", [], |r| {
            r.get::<_, i64>(0)
        })
        .map(|b| b as u64)
        .unwrap_or(0);
    let mut cache_bytes: u64 = conn
        .query_row(
            "SELECT COALESCE(SUM(bytes), 0) FROM cache_entries",
            [],
            |r| r.get::<_, i64>(0),
        )
        .map(|b| b as u64)
        .unwrap_or(0);
    let mut last_prune = Instant::now() - PRUNE_EVERY;
    let mut closing = false;
    while !closing {
        // Idle: block until something comes (the first write after a quiet spell wakes us).
        let Ok(first) = rx.recv() else {
            break;
        };
        // Then gather for the batch window, parked: writers hand rows over without waking
        // this thread, so a busy proxy pays no wake-up per request. A flush (or shutdown)
        // unparks it early.
        if !matches!(first, Write::Flush(_)) {
            let deadline = Instant::now() + BATCH_WINDOW;
            loop {
                if urgent.load(std::sync::atomic::Ordering::Acquire) {
                    break;
                }
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                std::thread::park_timeout(deadline - now);
            }
        }
        urgent.store(false, std::sync::atomic::Ordering::Release);
        let mut batch = vec![first];
        loop {
            match rx.try_recv() {
                Ok(w) => batch.push(w),
                Err(std::sync::mpsc::TryRecvError::Empty) => break,
                Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    closing = true;
                    break;
                }
            }
        }
        let mut flushes = Vec::new();
        for batch in chunks(batch) {
            flushes.extend(commit(
                &mut conn,
                batch,
                &pending,
                &mut stored_bytes,
                &mut cache_bytes,
                &mut last_warn,
            ));
        }
        if last_prune.elapsed() >= PRUNE_EVERY || stored_bytes > limits.max_bytes {
            last_prune = Instant::now();
            if let Err(e) = prune(&conn, limits, &mut stored_bytes, &mut cache_bytes) {
                tracing::debug!(error = %e, "pruning stored responses failed");
            }
        }
        // Answered last: a flush returns once everything before it is committed and pruned.
        for f in flushes {
            let _ = f.send(());
        }
    }
}

/// `batch` in transactions of at most `BATCH_MAX` writes.
fn chunks(mut batch: Vec<Write>) -> Vec<Vec<Write>> {
    let mut out = Vec::new();
    while batch.len() > BATCH_MAX {
        let rest = batch.split_off(BATCH_MAX);
        out.push(batch);
        batch = rest;
    }
    out.push(batch);
    out
}

/// Write one batch in one transaction; returns its flushes, to answer once the batch is done.
fn commit(
    conn: &mut Connection,
    batch: Vec<Write>,
    pending: &Pending,
    stored_bytes: &mut u64,
    cache_bytes: &mut u64,
    last_warn: &mut Option<Instant>,
) -> Vec<std::sync::mpsc::Sender<()>> {
    {
        let mut flushes = Vec::new();
        // Responses leave the pending map whether or not their write succeeds: a failed one
        // is lost like any failed write, not kept in memory for ever.
        let written: Vec<(String, bool)> = batch
            .iter()
            .filter_map(|w| match w {
                Write::Response(r) => Some((r.id.clone(), false)),
                Write::DeleteResponse(id) => Some((id.clone(), true)),
                _ => None,
            })
            .collect();
        let result = (|| -> rusqlite::Result<()> {
            let tx = conn.transaction()?;
            write_batch(&tx, batch, &mut flushes, stored_bytes, cache_bytes)?;
            tx.commit()
        })();
        if let Err(e) = result
            && last_warn.is_none_or(|t| t.elapsed() >= WARN_EVERY)
        {
            *last_warn = Some(Instant::now());
            tracing::warn!(
                error = %e,
                "cannot write to the database; these records are lost, Lodestar keeps \
                 serving (free disk space or fix the file's permissions)"
            );
        }
        {
            // An entry goes once the write it stands for is done: a later deletion's
            // tombstone stays until that deletion is committed too.
            let mut p = lock(pending);
            for (id, deletion) in &written {
                if p.get(id).is_some_and(|e| e.is_none() == *deletion) {
                    p.remove(id);
                }
            }
        }
        flushes
    }
}

fn write_batch(
    tx: &Transaction<'_>,
    batch: Vec<Write>,
    flushes: &mut Vec<std::sync::mpsc::Sender<()>>,
    stored_bytes: &mut u64,
    cache_bytes: &mut u64,
) -> rusqlite::Result<()> {
    let mut rollups: HashMap<RollupKey, Rollup> = HashMap::new();
    let mut insert = None;
    for (n, w) in batch.into_iter().enumerate() {
        // The writer may share a CPU with the proxy's runtime thread: handing the CPU back
        // every few rows keeps a request from waiting out a whole batch (measured at c=1 with
        // both on one CPU: +0.6 ms p99 without this).
        if n % YIELD_EVERY == YIELD_EVERY - 1 {
            std::thread::yield_now();
        }
        match w {
            Write::Request(r) => {
                insert_request(tx, &mut insert, &r)?;
                let key = (
                    r.ts_ms.div_euclid(3_600_000),
                    r.project.clone(),
                    r.provider.clone(),
                    r.model.clone(),
                    r.alias.clone(),
                );
                let a = rollups.entry(key).or_default();
                a.requests += 1;
                a.errors += i64::from(!(200..300).contains(&r.status) || r.outcome != "ok");
                a.input += r.input_tokens;
                a.output += r.output_tokens;
                a.cache_read += r.cache_read_tokens;
                a.cache_write_5m += r.cache_write_5m_tokens;
                a.cache_write_1h += r.cache_write_1h_tokens;
                a.reasoning += r.reasoning_tokens;
                match r.cost_usd {
                    Some(c) => a.cost += c,
                    None => a.unpriced += 1,
                }
                a.cache_hits += i64::from(r.cache_hit);
                a.saved += r.saved_usd;
            }
            Write::Alert(a) => {
                tx.prepare_cached(
                    "INSERT OR IGNORE INTO budget_alerts (budget, period_start_ms, threshold, ts_ms) \
                     VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![a.budget, a.period_start_ms, a.threshold, a.ts_ms])?;
            }
            Write::Response(r) => {
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO responses (id, created_ms, project, bytes, body) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![
                    r.id,
                    r.created_ms,
                    r.project,
                    r.body.len() as i64,
                    &r.body
                ])?;
                *stored_bytes += r.body.len() as u64;
            }
            Write::DeleteResponse(id) => {
                tx.prepare_cached("DELETE FROM responses WHERE id = ?1")?
                    .execute([&id])?;
            }
            Write::CachePut(put) => {
                let super::CachePut {
                    key,
                    project,
                    created_ms,
                    expires_ms,
                    body,
                    max_bytes,
                } = *put;
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO cache_entries (key, project, created_ms, expires_ms, \
                     bytes, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(params![
                    key,
                    project,
                    created_ms,
                    expires_ms,
                    body.len() as i64,
                    body
                ])?;
                *cache_bytes += body.len() as u64;
                evict_cache(tx, max_bytes, cache_bytes)?;
            }
            Write::CacheClear { project } => {
                match project {
                    Some(p) => tx.execute("DELETE FROM cache_entries WHERE project = ?1", [p])?,
                    None => tx.execute("DELETE FROM cache_entries", [])?,
                };
                *cache_bytes = tx.query_row(
                    "SELECT COALESCE(SUM(bytes), 0) FROM cache_entries",
                    [],
                    |r| r.get::<_, i64>(0),
                )? as u64;
            }
            Write::Probe(p) => {
                tx.prepare_cached(
                    "INSERT INTO probes (provider, ts_ms, ok, latency_ms, error) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![
                    p.provider,
                    p.ts_ms,
                    p.ok,
                    p.latency_ms,
                    p.error
                ])?;
            }
            Write::Setting(setting) => {
                let super::Setting { key, value } = *setting;
                tx.prepare_cached("INSERT OR REPLACE INTO settings (key, value) VALUES (?1, ?2)")?
                    .execute(params![key, value])?;
            }
            Write::Flush(f) => flushes.push(f),
        }
    }
    let mut up = tx.prepare_cached(
        "INSERT INTO rollup_hour (hour, project, provider, model, alias, requests, errors, \
         input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens, \
         cache_write_1h_tokens, reasoning_tokens, cost_usd, unpriced, cache_hits, saved_usd) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17) \
         ON CONFLICT (hour, project, provider, model, alias) DO UPDATE SET \
         requests = requests + excluded.requests, errors = errors + excluded.errors, \
         input_tokens = input_tokens + excluded.input_tokens, \
         output_tokens = output_tokens + excluded.output_tokens, \
         cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens, \
         cache_write_5m_tokens = cache_write_5m_tokens + excluded.cache_write_5m_tokens, \
         cache_write_1h_tokens = cache_write_1h_tokens + excluded.cache_write_1h_tokens, \
         reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens, \
         cost_usd = cost_usd + excluded.cost_usd, unpriced = unpriced + excluded.unpriced, \
         cache_hits = cache_hits + excluded.cache_hits, saved_usd = saved_usd + excluded.saved_usd",
    )?;
    for ((hour, project, provider, model, alias), a) in rollups {
        up.execute(params![
            hour,
            project,
            provider,
            model,
            alias,
            a.requests,
            a.errors,
            a.input as i64,
            a.output as i64,
            a.cache_read as i64,
            a.cache_write_5m as i64,
            a.cache_write_1h as i64,
            a.reasoning as i64,
            a.cost,
            a.unpriced,
            a.cache_hits,
            a.saved,
        ])?;
    }
    Ok(())
}

const INSERT_REQUEST: &str = "INSERT INTO requests (ts_ms, request_id, project, client_api, endpoint, alias, provider, \
     model, rule, status, outcome, stream, input_tokens, output_tokens, cache_read_tokens, \
     cache_write_5m_tokens, cache_write_1h_tokens, reasoning_tokens, tokens_estimated, \
     cost_usd, saved_usd, latency_ms, ttfb_ms, cache_hit, fallbacks) VALUES (?1, ?2, ?3, \
     ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, \
     ?22, ?23, ?24, ?25)";

/// The ledger row insert, prepared once per batch (a statement-cache lookup hashes the whole
/// SQL text: measurable at tens of thousands of rows a second).
fn insert_request<'t>(
    tx: &'t Transaction<'_>,
    st: &mut Option<rusqlite::CachedStatement<'t>>,
    r: &RequestRow,
) -> rusqlite::Result<()> {
    let st = match st {
        Some(st) => st,
        None => st.insert(tx.prepare_cached(INSERT_REQUEST)?),
    };
    st.execute(params![
        r.ts_ms,
        r.request_id,
        r.project,
        r.client_api,
        r.endpoint,
        r.alias,
        r.provider,
        r.model,
        r.rule,
        r.status,
        r.outcome,
        r.stream,
        r.input_tokens as i64,
        r.output_tokens as i64,
        r.cache_read_tokens as i64,
        r.cache_write_5m_tokens as i64,
        r.cache_write_1h_tokens as i64,
        r.reasoning_tokens as i64,
        r.tokens_estimated,
        r.cost_usd,
        r.saved_usd,
        r.latency_ms,
        r.ttfb_ms,
        r.cache_hit,
        r.fallbacks,
    ])?;
    Ok(())
}

/// The disk tier under `max_bytes`: expired entries first, then the oldest. `cache_bytes` is
/// the writer's running count (re-read from the table at every prune).
fn evict_cache(
    tx: &Transaction<'_>,
    max_bytes: u64,
    cache_bytes: &mut u64,
) -> rusqlite::Result<()> {
    if *cache_bytes <= max_bytes {
        return Ok(());
    }
    let freed = |sql: &str, arg: i64| -> rusqlite::Result<Vec<i64>> {
        let mut st = tx.prepare_cached(sql)?;
        st.query_map([arg], |r| r.get(0))?.collect()
    };
    let gone = freed(
        "DELETE FROM cache_entries WHERE expires_ms <= ?1 RETURNING bytes",
        now_ms(),
    )?;
    *cache_bytes = cache_bytes.saturating_sub(gone.iter().sum::<i64>() as u64);
    while *cache_bytes > max_bytes {
        let gone = freed(
            "DELETE FROM cache_entries WHERE key IN \
             (SELECT key FROM cache_entries ORDER BY created_ms LIMIT ?1) RETURNING bytes",
            64,
        )?;
        *cache_bytes = cache_bytes.saturating_sub(gone.iter().sum::<i64>() as u64);
        let n = gone.len();
        if n == 0 {
            *cache_bytes = 0;
            break;
        }
    }
    Ok(())
}

/// Delete stored Responses past their age, then the oldest until under the size limit.
fn prune(
    conn: &Connection,
    limits: ResponseLimits,
    stored_bytes: &mut u64,
    cache_bytes: &mut u64,
) -> rusqlite::Result<()> {
    let cutoff = now_ms() - limits.max_age.as_millis() as i64;
    conn.execute("DELETE FROM responses WHERE created_ms < ?1", [cutoff])?;
    conn.execute(
        "DELETE FROM probes WHERE ts_ms < ?1",
        [now_ms() - super::PROBE_HISTORY.as_millis() as i64],
    )?;
    conn.execute(
        "DELETE FROM cache_entries WHERE expires_ms <= ?1",
        [now_ms()],
    )?;
    *cache_bytes = conn
        .query_row(
            "SELECT COALESCE(SUM(bytes), 0) FROM cache_entries",
            [],
            |r| r.get::<_, i64>(0),
        )
        .map(|b| b as u64)?;
    let total = |c: &Connection| {
        c.query_row("SELECT COALESCE(SUM(bytes), 0) FROM responses", [], |r| {
            r.get::<_, i64>(0)
        })
        .map(|b| b as u64)
    };
    *stored_bytes = total(conn)?;
    while *stored_bytes > limits.max_bytes {
        let n = conn.execute(
            "DELETE FROM responses WHERE id IN \
             (SELECT id FROM responses ORDER BY created_ms LIMIT 256)",
            [],
        )?;
        *stored_bytes = total(conn)?;
        if n == 0 {
            break;
        }
    }
    Ok(())
}
