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
];
