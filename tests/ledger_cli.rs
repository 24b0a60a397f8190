//! The ledger through the `lodestar` binary: SIGTERM in the middle of a load loses no row,
//! `lodestar costs` (table, JSON, CSV) and `lodestar budget` read what `serve` wrote,
//! `lodestar prices import` reads LiteLLM's price file and `prices show` uses it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;
use support::bin::{lodestar, serve, terminate};
use support::proxy::chat_body;
use support::upstream::TestUpstream;

fn config(up: &str, db: &std::path::Path) -> String {
    format!(
        r#"
storage: {{ path: "{db}" }}
providers:
  priced:
    kind: openai-compatible
    base_url: "{up}/v1"
    discover_models: false
    prices: {{ "*": {{ input: 3, output: 15, cache_read: 0.3 }} }}
  openai: {{ kind: openai, base_url: "{up}/v1", api_key_env: TEST_CLI_OPENAI_KEY, discover_models: false }}
models:
  priced: {{ route: [priced/m+usage_openai+slow_first_byte_20] }}
budgets:
  monthly: {{ period: month, usd: 10, thresholds: [50, 80, 100] }}
"#,
        db = db.display()
    )
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_mid_load_loses_no_ledger_row() {
    let up = TestUpstream::start().await;
    let home = support::temp_dir("ledger-sigterm");
    let db = home.join("data").join("lodestar.db");
    let cfg = support::write_config(&home, &config(&up.url(), &db));
    let mut cmd = lodestar(&home);
    cmd.arg("--config").arg(&cfg);
    let (mut child, url, printed) = serve(&mut cmd, &home.join("err.log"), &[]);
    assert!(
        printed
            .iter()
            .any(|l| l == &format!("ledger: {}", db.display())),
        "{printed:?}"
    );

    // Eight clients send requests back to back until the server goes away.
    let answered = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for i in 0..8 {
        let (url, answered) = (url.clone(), answered.clone());
        #[allow(clippy::disallowed_methods)]
        clients.push(tokio::spawn(async move {
            let client = support::http_client();
            let mut body = chat_body("priced", "hello there");
            body["stream"] = Value::Bool(i % 2 == 0);
            loop {
                let Ok(r) = client
                    .post(format!("{url}/v1/chat/completions"))
                    .json(&body)
                    .send()
                    .await
                else {
                    break;
                };
                if r.status() != 200 || r.bytes().await.is_err() {
                    break;
                }
                answered.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    while answered.load(Ordering::SeqCst) < 40 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let status = tokio::task::spawn_blocking(move || terminate(&mut child))
        .await
        .unwrap();
    assert!(status.success(), "{status:?}");
    for c in clients {
        c.await.unwrap();
    }

    let conn = rusqlite::Connection::open(&db).unwrap();
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM requests", [], |r| r.get(0))
        .unwrap();
    let (rows, answered_n) = (rows as usize, answered.load(Ordering::SeqCst));
    let ok_rows: i64 = conn
        .query_row(
            "SELECT count(*) FROM requests WHERE status = 200 AND outcome = 'ok'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    // Every request that reached the upstream is a row; every answer a client got is an ok row.
    assert_eq!(rows, up.calls(), "rows vs upstream calls");
    assert!(
        ok_rows as usize >= answered_n,
        "{ok_rows} ok rows < {answered_n} answered"
    );
    let rollup: i64 = conn
        .query_row("SELECT SUM(requests) FROM rollup_hour", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rollup as usize, rows, "the hourly rollup counts every row");
}

#[tokio::test(flavor = "multi_thread")]
async fn costs_and_budget_read_what_serve_recorded() {
    let up = TestUpstream::start().await;
    let home = support::temp_dir("ledger-costs");
    let db = home.join("lodestar.db");
    let cfg = support::write_config(&home, &config(&up.url(), &db));
    let mut cmd = lodestar(&home);
    cmd.arg("--config").arg(&cfg);
    let (mut child, url, _) = serve(&mut cmd, &home.join("err.log"), &[]);
    let client = support::http_client();
    for _ in 0..2 {
        let r = client
            .post(format!("{url}/v1/chat/completions"))
            .json(&chat_body("priced", "hello there"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.bytes().await.unwrap();
    }
    assert!(terminate(&mut child).success());

    let costs = |args: &[&str]| {
        let mut c = lodestar(&home);
        c.arg("--config").arg(&cfg).arg("costs").args(args);
        run(&mut c)
    };
    let json: Value = serde_json::from_str(&costs(&["--period", "today", "--json"])).unwrap();
    assert_eq!(json["total"]["requests"], 2);
    assert!((json["total"]["cost_usd"].as_f64().unwrap() - 2.0 * 0.00588).abs() < 1e-12);
    assert_eq!(
        json["groups"][0]["key"],
        "priced/m+usage_openai+slow_first_byte_20"
    );
    let table = costs(&["--by", "provider"]);
    assert!(
        table.contains("priced") && table.contains("$0.0118"),
        "{table}"
    );
    let csv = costs(&["--by", "provider", "--csv"]);
    let mut lines = csv.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("key,requests,errors,input,output")
    );
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("priced,2,0,800,600,1200,"),
        "{csv}"
    );

    let mut c = lodestar(&home);
    c.arg("--config").arg(&cfg).args(["budget", "--json"]);
    let b: Value = serde_json::from_str(&run(&mut c)).unwrap();
    assert_eq!(b[0]["name"], "monthly");
    assert!((b[0]["spent_usd"].as_f64().unwrap() - 2.0 * 0.00588).abs() < 1e-12);
    assert!(b[0]["pace"]["projected_usd"].as_f64().unwrap() >= 2.0 * 0.00588);
    let mut c = lodestar(&home);
    c.arg("--config").arg(&cfg).arg("budget");
    let text = run(&mut c);
    assert!(
        text.contains("monthly") && text.contains("$10.00"),
        "{text}"
    );

    let mut c = lodestar(&home);
    c.arg("--config")
        .arg(&cfg)
        .args(["costs", "--by", "colour"]);
    let out = c.output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("use model, provider, project, alias or day")
    );
}

#[test]
fn prices_import_reads_litellms_file_and_show_uses_it() {
    let up_url = "http://127.0.0.1:9";
    let home = support::temp_dir("ledger-prices");
    let db = home.join("lodestar.db");
    let cfg = support::write_config(&home, &config(up_url, &db));
    let show = |target: &str| {
        let mut c = lodestar(&home);
        c.arg("--config").arg(&cfg).args(["prices", "show", target]);
        run(&mut c)
    };
    // The shipped table prices gpt-4o-mini; `m` has no price anywhere.
    assert!(show("openai/gpt-4o-mini").contains("USD per million tokens"));
    assert!(show("openai/text-embedding-3-small").contains("\"input\""));
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/prices/litellm_sample.json"
    );
    let mut c = lodestar(&home);
    c.arg("--config")
        .arg(&cfg)
        .args(["prices", "import", fixture]);
    let out = run(&mut c);
    assert!(
        out.contains("imported") && out.contains("anthropic: 1"),
        "{out}"
    );
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(home.join("prices.imported.json")).unwrap())
            .unwrap();
    // LiteLLM's per-token figures become per-million ones, 1-hour writes apart.
    let sonnet = &saved["anthropic"]["models"]["claude-sonnet-4-5"];
    assert_eq!(sonnet["input"], 3.0);
    assert_eq!(sonnet["cache_write_5m"], 3.75);
    assert_eq!(sonnet["cache_write_1h"], 6.0);
    assert_eq!(
        saved["openrouter"]["models"]["anthropic/claude-sonnet-4.5"]["output"],
        15.0
    );
    let mut c = lodestar(&home);
    c.arg("--config")
        .arg(&cfg)
        .args(["prices", "import", "/nonexistent.json"]);
    let out = c.output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent.json"));
}

#[tokio::test(flavor = "multi_thread")]
async fn cache_stats_and_clear_work_with_and_without_a_running_server() {
    let up = TestUpstream::start().await;
    let home = support::temp_dir("cache-cli");
    let db = home.join("lodestar.db");
    let listen = support::bin::free_listen();
    let yaml = format!(
        "server: {{ listen: \"{listen}\" }}\n{}",
        config(&up.url(), &db)
    );
    let cfg = support::write_config(&home, &yaml);
    let mut cmd = lodestar(&home);
    cmd.arg("--config").arg(&cfg);
    let (mut child, url, _) = support::bin::serve_on(&mut cmd, &home.join("err.log"), &listen, &[]);
    let client = support::http_client();
    let body = serde_json::json!({"model": "priced", "temperature": 0,
                                  "messages": [{"role": "user", "content": "cache me"}]});
    for _ in 0..2 {
        let r = client
            .post(format!("{url}/v1/chat/completions"))
            .json(&body)
            .send()
            .await
            .unwrap();
        r.bytes().await.unwrap();
    }
    let stats = || {
        let mut c = lodestar(&home);
        c.arg("--config")
            .arg(&cfg)
            .args(["cache", "stats", "--json"]);
        serde_json::from_str::<Value>(&run(&mut c)).unwrap()
    };
    // The running server answers: its memory tier and counters.
    let live = stats();
    assert_eq!(live["memory_entries"], 1, "{live}");
    assert_eq!(live["hits"], 1, "{live}");
    let mut c = lodestar(&home);
    c.arg("--config").arg(&cfg).args(["cache", "clear"]);
    assert!(run(&mut c).contains("in the running server"));
    assert_eq!(stats()["memory_entries"], 0);
    let r = client
        .post(format!("{url}/v1/chat/completions"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-lodestar-cache"], "miss", "cleared");
    r.bytes().await.unwrap();
    assert!(terminate(&mut child).success());
    // With the server gone, the numbers come from the database: its disk entry, and the hit
    // in the ledger with what it saved.
    let offline = stats();
    assert_eq!(offline["disk_entries"], 1, "{offline}");
    assert_eq!(offline["hits"], 1, "{offline}");
    assert!((offline["saved_usd"].as_f64().unwrap() - 0.00588).abs() < 1e-12);
    let mut c = lodestar(&home);
    c.arg("--config").arg(&cfg).args(["cache", "clear"]);
    assert!(run(&mut c).contains("cleared the disk tier"));
    assert_eq!(stats()["disk_entries"], 0);
}
