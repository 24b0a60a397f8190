//! The database's tables, created and upgraded in order by `PRAGMA user_version`. A migration
//! is appended, never edited: a user's file may be at any earlier version.

/// Each entry moves the schema from version `i` to `i + 1`.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: the ledger, its hourly rollup, fired budget alerts, stored Responses.
    r#"
    CREATE TABLE requests (
        id INTEGER PRIMARY KEY,
        ts_ms INTEGER NOT NULL,
        request_id TEXT NOT NULL,
        project TEXT NOT NULL,
        client_api TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        alias TEXT NOT NULL,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        rule TEXT NOT NULL,
        status INTEGER NOT NULL,
        outcome TEXT NOT NULL,
        stream INTEGER NOT NULL,
        input_tokens INTEGER NOT NULL,
        output_tokens INTEGER NOT NULL,
        cache_read_tokens INTEGER NOT NULL,
        cache_write_5m_tokens INTEGER NOT NULL,
        cache_write_1h_tokens INTEGER NOT NULL,
        reasoning_tokens INTEGER NOT NULL,
        tokens_estimated INTEGER NOT NULL,
        cost_usd REAL,
        saved_usd REAL NOT NULL,
        latency_ms REAL NOT NULL,
        ttfb_ms REAL,
        cache_hit INTEGER NOT NULL,
        fallbacks INTEGER NOT NULL
    );
    CREATE INDEX requests_ts ON requests(ts_ms, cost_usd);
    CREATE INDEX requests_project_ts ON requests(project, ts_ms);
    CREATE TABLE rollup_hour (
        hour INTEGER NOT NULL,
        project TEXT NOT NULL,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        alias TEXT NOT NULL,
        requests INTEGER NOT NULL,
        errors INTEGER NOT NULL,
        input_tokens INTEGER NOT NULL,
        output_tokens INTEGER NOT NULL,
        cache_read_tokens INTEGER NOT NULL,
        cache_write_5m_tokens INTEGER NOT NULL,
        cache_write_1h_tokens INTEGER NOT NULL,
        reasoning_tokens INTEGER NOT NULL,
        cost_usd REAL NOT NULL,
        unpriced INTEGER NOT NULL,
        cache_hits INTEGER NOT NULL,
        saved_usd REAL NOT NULL,
        PRIMARY KEY (hour, project, provider, model, alias)
    ) WITHOUT ROWID;
    CREATE TABLE budget_alerts (
        budget TEXT NOT NULL,
        period_start_ms INTEGER NOT NULL,
        threshold REAL NOT NULL,
        ts_ms INTEGER NOT NULL,
        PRIMARY KEY (budget, period_start_ms, threshold)
    ) WITHOUT ROWID;
    CREATE TABLE responses (
        id TEXT PRIMARY KEY,
        created_ms INTEGER NOT NULL,
        project TEXT NOT NULL,
        bytes INTEGER NOT NULL,
        body BLOB NOT NULL
    );
    CREATE INDEX responses_created ON responses(created_ms);
    "#,
    // 2: the response cache's disk tier.
    r#"
    CREATE TABLE cache_entries (
        key BLOB PRIMARY KEY,
        project TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        expires_ms INTEGER NOT NULL,
        bytes INTEGER NOT NULL,
        body BLOB NOT NULL
    );
    CREATE INDEX cache_entries_created ON cache_entries(created_ms);
    CREATE INDEX cache_entries_project ON cache_entries(project);
    "#,
    // 3: provider probes (uptime history) and engine settings changed at run time (the quick
    // switch of the default alias, local-only).
    r#"
    CREATE TABLE probes (
        id INTEGER PRIMARY KEY,
        provider TEXT NOT NULL,
        ts_ms INTEGER NOT NULL,
        ok INTEGER NOT NULL,
        latency_ms REAL NOT NULL,
        error TEXT
    );
    CREATE INDEX probes_ts ON probes(ts_ms);
    CREATE TABLE settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID;
    "#,
    // 4: the per-project index keeps only rows that have a project. Most requests carry none,
    // and every index costs each recorded request one more B-tree insert (~4k instructions of
    // the ~20k a ledger row costs); queries for a named project add `project != ''` so that
    // SQLite uses this index.
    r#"
    DROP INDEX requests_project_ts;
    CREATE INDEX requests_project_ts ON requests(project, ts_ms) WHERE project != '';
    "#,
];

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use rusqlite::Connection;

    /// A file at version 3 (before the partial per-project index) upgrades with its rows
    /// intact, and a named project's queries use the new index.
    #[test]
    fn version_3_upgrades_to_the_partial_project_index() {
        let mut conn = Connection::open_in_memory().unwrap();
        for m in &super::MIGRATIONS[..3] {
            conn.execute_batch(m).unwrap();
        }
        conn.pragma_update(None, "user_version", 3).unwrap();
        let row = |project: &str, ts: i64| {
            format!(
                "INSERT INTO requests (ts_ms, request_id, project, client_api, endpoint, alias, \
                 provider, model, rule, status, outcome, stream, input_tokens, output_tokens, \
                 cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, \
                 reasoning_tokens, tokens_estimated, cost_usd, saved_usd, latency_ms, ttfb_ms, \
                 cache_hit, fallbacks) VALUES ({ts}, 'r{ts}', '{project}', 'openai', 'chat', \
                 'a', 'p', 'm', '', 200, 'ok', 0, 1, 1, 0, 0, 0, 0, 0, 0.5, 0, 1, 1, 0, 0)"
            )
        };
        conn.execute_batch(&row("", 1)).unwrap();
        conn.execute_batch(&row("web", 2)).unwrap();
        super::super::migrate(&mut conn).unwrap();

        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version as usize, super::MIGRATIONS.len());
        let sql: String = conn
            .query_row(
                "SELECT sql FROM sqlite_master WHERE name = 'requests_project_ts'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(sql.contains("WHERE project != ''"), "{sql}");
        let n: i64 = conn
            .query_row("SELECT count(*) FROM requests", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 2);
        let plan: String = conn
            .query_row(
                "EXPLAIN QUERY PLAN SELECT COALESCE(SUM(cost_usd), 0) FROM requests \
                 WHERE project = ?1 AND project != '' AND ts_ms >= ?2",
                ("web", 0),
                |r| r.get(3),
            )
            .unwrap();
        assert!(plan.contains("requests_project_ts"), "{plan}");
        let spent: f64 = crate::ledger::query::spent(&conn, 0, 10, Some("web")).unwrap();
        assert_eq!(spent, 0.5);
        let none: f64 = crate::ledger::query::spent(&conn, 0, 10, Some("")).unwrap();
        assert_eq!(none, 0.5);
    }
}
