//! What routing to local models saved, for the Costs page: the tokens each alias's local
//! entries answered, priced as the alias's first cloud entry with a known price would have
//! charged for them (the request would have gone there without the local model). Aliases
//! with no priced cloud entry save nothing that can be named, and are left out.

use rusqlite::params;
use serde::Serialize;

use super::super::AppState;
use crate::ledger::{Price, Tokens};

#[derive(Debug, Default, Serialize)]
pub(super) struct LocalSavings {
    pub saved_usd: f64,
    /// Requests answered locally that count (their alias has a priced cloud entry).
    pub requests: i64,
    pub by_alias: Vec<AliasSaving>,
}

#[derive(Debug, Serialize)]
pub(super) struct AliasSaving {
    pub alias: String,
    /// The cloud entry whose price was used (`provider/model`).
    pub priced_as: String,
    pub requests: i64,
    pub saved_usd: f64,
}

/// Local answers per (alias, provider) in the hours `[h0, h1)`, from the hourly rollup.
pub(super) fn local_rows(
    c: &rusqlite::Connection,
    h0: i64,
    h1: i64,
    project: Option<&str>,
) -> rusqlite::Result<Vec<(String, String, i64, Tokens)>> {
    let mut st = c.prepare_cached(
        "SELECT alias, provider, SUM(requests - cache_hits), SUM(input_tokens), \
         SUM(output_tokens), SUM(cache_read_tokens), SUM(cache_write_5m_tokens), \
         SUM(cache_write_1h_tokens), SUM(reasoning_tokens) FROM rollup_hour \
         WHERE hour >= ?1 AND hour < ?2 AND (?3 IS NULL OR project = ?3) AND alias != '' \
         GROUP BY alias, provider",
    )?;
    st.query_map(params![h0, h1, project], |r| {
        let n = |i: usize| r.get::<_, i64>(i).map(|v| v.max(0) as u64);
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            Tokens {
                input: n(3)?,
                output: n(4)?,
                cache_read: n(5)?,
                cache_write_5m: n(6)?,
                cache_write_1h: n(7)?,
                reasoning: n(8)?,
            },
        ))
    })?
    .collect()
}

/// Price the local rows of `rows` as each alias's first priced cloud entry.
pub(super) fn price(s: &AppState, rows: Vec<(String, String, i64, Tokens)>) -> LocalSavings {
    let mut out = LocalSavings::default();
    for (alias, provider, requests, tokens) in rows {
        let local = s.config.provider(&provider).is_some_and(|p| p.is_local());
        let Some(a) = s.config.alias(&alias).filter(|_| local) else {
            continue;
        };
        let reference = a.route.iter().find_map(|t| {
            let cloud = s
                .config
                .provider(&t.provider)
                .is_some_and(|p| !p.is_local());
            match s.ledger.pricer().price(&t.provider, &t.model) {
                Price::Tokens(r) if cloud => Some((t.to_string(), r)),
                _ => None,
            }
        });
        let Some((priced_as, rates)) = reference else {
            continue;
        };
        let saved = rates.cost(&tokens);
        out.saved_usd += saved;
        out.requests += requests;
        match out
            .by_alias
            .iter_mut()
            .find(|x| x.alias == alias && x.priced_as == priced_as)
        {
            Some(x) => {
                x.requests += requests;
                x.saved_usd += saved;
            }
            None => out.by_alias.push(AliasSaving {
                alias,
                priced_as,
                requests,
                saved_usd: saved,
            }),
        }
    }
    out.by_alias
        .sort_by(|a, b| b.saved_usd.total_cmp(&a.saved_usd));
    out
}
