//! What the ledger and budget tests share: a config whose providers are priced at known
//! rates, requests, and reading rows back.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};

use super::proxy::{Proxy, chat_body};

/// Rates (USD per million tokens) the test providers are priced at.
pub const IN: f64 = 3.0;
pub const OUT: f64 = 15.0;
pub const CR: f64 = 0.3;
pub const W5: f64 = 3.75;
pub const W1: f64 = 6.0;

pub fn config(u: &str, extra: &str) -> String {
    format!(
        r#"
providers:
  priced:
    kind: openai-compatible
    base_url: "{u}/v1"
    discover_models: false
    prices: {{ "*": {{ input: {IN}, output: {OUT}, cache_read: {CR}, cache_write_5m: {W5}, cache_write_1h: {W1} }} }}
  claude:
    kind: anthropic
    base_url: "{u}"
    api_key_env: TEST_ANTHROPIC_KEY
    discover_models: false
    prices: {{ "*": {{ input: {IN}, output: {OUT}, cache_read: {CR}, cache_write_5m: {W5}, cache_write_1h: {W1} }} }}
  local: {{ kind: ollama, base_url: "{u}", discover_models: false }}
  billed: {{ kind: openai-compatible, base_url: "{u}/v1", discover_models: false, price_table: openai }}
models:
  mixed: {{ route: [priced/m+usage_openai, local/m] }}
  priced-only: {{ route: [priced/m+usage_openai] }}
  cheap: {{ route: [local/cheap] }}
{extra}"#
    )
}

pub async fn get_json(p: &Proxy, path: &str) -> Value {
    let r = p.get(path).await;
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.unwrap()
}

pub async fn rows(p: &Proxy, n: usize) -> Vec<Value> {
    p.ledger_rows(n).await
}

pub fn tokens(row: &Value) -> [i64; 6] {
    [
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_5m_tokens",
        "cache_write_1h_tokens",
        "reasoning_tokens",
    ]
    .map(|k| row[k].as_i64().unwrap())
}

pub fn cost(t: [i64; 6]) -> f64 {
    let [i, o, cr, w5, w1, _] = t.map(|x| x as f64);
    (i * IN + o * OUT + cr * CR + w5 * W5 + w1 * W1) / 1e6
}

pub fn assert_cost(row: &Value, expected: f64) {
    let got = row["cost_usd"]
        .as_f64()
        .unwrap_or_else(|| panic!("no cost: {row}"));
    assert!(
        (got - expected).abs() < 1e-12,
        "cost {got} != {expected}: {row}"
    );
}

pub async fn messages(p: &Proxy, model: &str, stream: bool) -> reqwest::Response {
    p.client
        .post(format!("{}/v1/messages", p.url))
        .header("anthropic-version", "2023-06-01")
        .json(&json!({"model": model, "max_tokens": 64, "stream": stream,
                      "messages": [{"role": "user", "content": "hello there"}]}))
        .send()
        .await
        .unwrap()
}

pub async fn chat(p: &Proxy, model: &str, stream: bool) -> reqwest::Response {
    let mut body = chat_body(model, "hello there");
    body["stream"] = json!(stream);
    p.chat(body).await
}

pub fn budget(extra: &str) -> String {
    format!("budgets:\n  daily:\n    period: day\n    usd: 0.01\n{extra}")
}
