//! `POST /v1/messages` and `/v1/messages/count_tokens` over real TCP: native pass-through to an
//! Anthropic-format upstream (byte for byte), translation to an OpenAI-format one, errors in
//! Anthropic's format, streams that break, Claude Code's model names, and client keys.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};
use support::proxy::{Proxy, TEST_KEYS, route_of, sse_events as events};
use support::upstream::TestUpstream;

const SESSION: &str = include_str!("fixtures/claude-code/session.json");

fn config(u: &str) -> String {
    format!(
        r#"
health: {{ probe_interval: 0s }}
providers:
  claude: {{ kind: anthropic, base_url: "{u}", api_key_env: TEST_ANTHROPIC_KEY, discover_models: false }}
  local: {{ kind: ollama, base_url: "{u}", discover_models: false }}
  native-local: {{ kind: ollama, base_url: "{u}", messages_api: native, discover_models: false }}
models:
  sonnet:
    route: [claude/claude-sonnet-4-5]
    match: ["claude-sonnet-*", "claude-opus-*"]
  background:
    route: [local/qwen2.5-coder:7b]
    match: ["claude-haiku-*"]
  local: {{ route: [local/qwen2.5-coder:7b] }}
  local-native: {{ route: [native-local/qwen2.5-coder:7b] }}
  broken: {{ route: [local/m+drop_mid_stream+chunks_6] }}
  slow: {{ route: [local/m+slow_stream_400+chunks_3] }}
  bad-request: {{ route: [local/m+fail_400] }}
  down: {{ route: [local/m+fail_500] }}
"#
    )
}

/// POST a raw body to the proxy with Claude Code's headers.
async fn send(proxy: &Proxy, path: &str, body: String) -> reqwest::Response {
    proxy
        .client
        .post(format!("{}{path}", proxy.url))
        .header("content-type", "application/json")
        .header("authorization", "Bearer client-token-not-forwarded")
        .header("anthropic-version", "2023-06-01")
        .header(
            "anthropic-beta",
            "claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27",
        )
        .body(body)
        .send()
        .await
        .unwrap()
}

fn text_of(events: &[(String, Value)]) -> String {
    events
        .iter()
        .filter(|(n, _)| n == "content_block_delta")
        .filter_map(|(_, d)| d.pointer("/delta/text").and_then(Value::as_str))
        .collect()
}

#[tokio::test]
async fn a_claude_code_request_reaches_a_native_upstream_byte_for_byte() {
    let up = TestUpstream::start().await;
    let proxy = Proxy::start(&config(&up.url())).await;
    let r = send(&proxy, "/v1/messages?beta=true", SESSION.to_string()).await;
    assert_eq!(r.status(), 200);
    assert_eq!(route_of(&r), "claude/claude-sonnet-4-5");
    let evs = events(r).await;
    assert_eq!(evs.first().unwrap().0, "message_start");
    assert_eq!(evs.last().unwrap().0, "message_stop");

    let rec = up.last_request().unwrap();
    assert_eq!(rec.path, "/v1/messages");
    assert_eq!(
        std::str::from_utf8(&rec.raw).unwrap(),
        SESSION,
        "the body must arrive unchanged"
    );
    assert_eq!(
        rec.header("anthropic-beta"),
        Some("claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27")
    );
    assert_eq!(rec.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(rec.header("x-api-key"), Some(TEST_KEYS[1].1));
    assert_eq!(
        rec.header("authorization"),
        None,
        "the client's token leaked"
    );
}

#[tokio::test]
async fn a_claude_code_request_on_a_translated_route_arrives_as_a_valid_chat_request() {
    let up = TestUpstream::start().await;
    let proxy = Proxy::start(&config(&up.url())).await;
    let body = SESSION.replace("\"claude-sonnet-4-5\"", "\"local\"");
    let r = send(&proxy, "/v1/messages?beta=true", body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(route_of(&r), "local/qwen2.5-coder:7b");
    let evs = events(r).await;

    let rec = up.last_request().unwrap();
    assert_eq!(rec.path, "/v1/chat/completions");
    assert_eq!(
        rec.header("authorization"),
        None,
        "the client's token leaked"
    );
    let b = &rec.body;
    for anthropic_only in [
        "system",
        "thinking",
        "context_management",
        "output_config",
        "metadata",
        "stop_sequences",
    ] {
        assert!(b.get(anthropic_only).is_none(), "{anthropic_only} was sent");
    }
    assert_eq!(b["model"], "qwen2.5-coder:7b");
    assert_eq!(b["max_tokens"], 32000);
    assert_eq!(b["stream"], true);
    assert_eq!(b["stream_options"]["include_usage"], true);
    let msgs = b["messages"].as_array().unwrap();
    let roles: Vec<&str> = msgs.iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(
        roles,
        ["system", "user", "assistant", "tool", "tool", "user"]
    );
    let system = msgs[0]["content"].as_str().unwrap();
    assert!(system.contains("You are a coding agent") && system.contains("# Environment"));
    let calls = msgs[2]["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 2);
    assert_eq!(msgs[2]["content"], "Let me look at the file.");
    // Each result answers the call with its id, in order.
    for (call, result) in calls.iter().zip(&msgs[3..5]) {
        assert_eq!(call["id"], result["tool_call_id"]);
        let args: Value =
            serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
        assert!(args.is_object());
    }
    assert_eq!(calls[0]["function"]["name"], "Read");
    assert!(
        msgs[4]["content"]
            .as_str()
            .unwrap()
            .starts_with("[tool error]")
    );
    let tools = b["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 3);
    assert!(tools.iter().all(|t| t["type"] == "function"
        && t["function"]["parameters"]["type"] == "object"
        && t.get("defer_loading").is_none()));

    // The answer comes back as Anthropic events, with an input count up front.
    assert_eq!(evs[0].0, "message_start");
    let input = evs[0].1["message"]["usage"]["input_tokens"]
        .as_u64()
        .unwrap();
    assert!(input > 100, "estimated input tokens: {input}");
    assert_eq!(evs.last().unwrap().0, "message_stop");
    // The turn's last message is the user's text after the tool results: the upstream echoes it.
    assert!(
        text_of(&evs).starts_with("echo: <system-reminder>"),
        "{evs:?}"
    );
    let delta = evs.iter().find(|(n, _)| n == "message_delta").unwrap();
    assert_eq!(delta.1["delta"]["stop_reason"], "end_turn");
    assert!(delta.1["usage"]["output_tokens"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn json_messages_are_translated_both_ways() {
    let up = TestUpstream::start().await;
    let proxy = Proxy::start(&config(&up.url())).await;
    let r = proxy
        .post(
            "/v1/messages",
            &json!({"model": "local", "max_tokens": 100, "system": "be brief",
                    "messages": [{"role": "user", "content": "hello there"}]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["type"], "message");
    assert_eq!(v["role"], "assistant");
    assert!(v["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(v["content"][0]["type"], "text");
    assert_eq!(v["content"][0]["text"], "echo: hello there");
    assert_eq!(v["stop_reason"], "end_turn");
    assert!(v["usage"]["input_tokens"].as_u64().unwrap() > 0);
    assert!(v["usage"]["output_tokens"].as_u64().unwrap() > 0);
    let sent = up.last_request().unwrap().body;
    assert_eq!(
        sent["messages"][0],
        json!({"role": "system", "content": "be brief"})
    );
    assert_eq!(sent["max_tokens"], 100);
}

#[tokio::test]
async fn claude_code_model_names_select_aliases_by_match_patterns() {
    let up = TestUpstream::start().await;
    let proxy = Proxy::start(&config(&up.url())).await;
    for (model, route) in [
        ("claude-haiku-4-5-20251001", "local/qwen2.5-coder:7b"),
        ("claude-sonnet-4-5-20250929", "claude/claude-sonnet-4-5"),
        ("claude-opus-4-1", "claude/claude-sonnet-4-5"),
    ] {
        let r = proxy
            .post(
                "/v1/messages",
                &json!({"model": model, "max_tokens": 10,
                        "messages": [{"role": "user", "content": "hi"}]}),
            )
            .await;
        assert_eq!(r.status(), 200, "{model}");
        assert_eq!(route_of(&r), route, "{model}");
    }
}

#[tokio::test]
async fn errors_answer_in_anthropic_format() {
    let up = TestUpstream::start().await;
    let proxy = Proxy::start(&config(&up.url())).await;
    let ask = |model: &str| json!({"model": model, "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]});
    let r = proxy.post("/v1/messages", &ask("no-such-model")).await;
    assert_eq!(r.status(), 404);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "not_found_error");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no-such-model")
    );

    // The upstream refused the request: its message, its status, Anthropic's shape.
    let r = proxy.post("/v1/messages", &ask("bad-request")).await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "invalid_request_error");

    let r = proxy.post("/v1/messages", &ask("down")).await;
    assert_eq!(r.status(), 502);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "api_error");
    assert!(v["error"]["message"].as_str().unwrap().contains("500"));

    // A body that is not JSON.
    let r = proxy
        .client
        .post(format!("{}/v1/messages", proxy.url))
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["type"], "invalid_request_error");
}

#[tokio::test]
async fn a_stream_that_breaks_ends_with_an_error_event_not_message_stop() {
    let up = TestUpstream::start().await;
    let proxy = Proxy::start(&config(&up.url())).await;
    let r = proxy
        .post(
            "/v1/messages",
            &json!({"model": "broken", "max_tokens": 50, "stream": true,
                    "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let evs = events(r).await;
    assert_eq!(evs[0].0, "message_start");
    assert!(!text_of(&evs).is_empty(), "the first chunks should arrive");
    let last = evs.last().unwrap();
    assert_eq!(last.0, "error", "{evs:?}");
    assert_eq!(last.1["type"], "error");
    assert!(evs.iter().all(|(n, _)| n != "message_stop"));
}

#[tokio::test]
async fn the_first_translated_event_arrives_before_the_upstream_finishes() {
    let up = TestUpstream::start().await;
    let proxy = Proxy::start(&config(&up.url())).await;
    let r = proxy
        .post(
            "/v1/messages",
            &json!({"model": "slow", "max_tokens": 50, "stream": true,
                    "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    let mut body = r.bytes_stream();
    let mut seen = String::new();
    while !seen.contains("text_delta") {
        let chunk = tokio::time::timeout(Duration::from_secs(5), body.next())
            .await
            .expect("no first delta within 5 s")
            .unwrap()
            .unwrap();
        seen.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    // 3 chunks, 400 ms apart: the upstream is still sending.
    assert_eq!(
        up.streams_completed(),
        0,
        "the upstream had already finished"
    );
    while let Some(c) = body.next().await {
        seen.push_str(std::str::from_utf8(&c.unwrap()).unwrap());
    }
    assert!(seen.contains("message_stop"));
}

#[tokio::test]
async fn count_tokens_asks_anthropic_and_estimates_elsewhere() {
    let up = TestUpstream::start().await;
    let proxy = Proxy::start(&config(&up.url())).await;
    let body = |model: &str| {
        json!({"model": model, "system": "You are terse.",
               "messages": [{"role": "user", "content": "Count the tokens in this sentence, please."}],
               "tools": [{"name": "Read", "description": "Read a file",
                          "input_schema": {"type": "object", "properties": {"file_path": {"type": "string"}}}}]})
    };
    // Native: the upstream's own count, passed on.
    let r = send(
        &proxy,
        "/v1/messages/count_tokens",
        body("sonnet").to_string(),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-lodestar-count"], "upstream");
    let native: Value = r.json().await.unwrap();
    let rec = up.last_request().unwrap();
    assert_eq!(rec.path, "/v1/messages/count_tokens");
    assert_eq!(rec.body["model"], "claude-sonnet-4-5");
    assert!(native["input_tokens"].as_u64().unwrap() > 0);

    // Translated: a tokenizer estimate, never a fake 0.
    let calls = up.calls();
    let r = send(
        &proxy,
        "/v1/messages/count_tokens",
        body("local").to_string(),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-lodestar-count"], "estimate");
    let est: Value = r.json().await.unwrap();
    let n = est["input_tokens"].as_u64().unwrap();
    assert!((20..200).contains(&n), "estimate {n}");
    assert_eq!(up.calls(), calls, "an estimate needs no upstream call");

    // A large prompt is counted off the runtime thread, with the same tokenizer.
    let long = json!({"model": "local", "messages": [{"role": "user", "content": "lodestar routes ".repeat(4000)}]});
    let r = send(&proxy, "/v1/messages/count_tokens", long.to_string()).await;
    let n = r.json::<Value>().await.unwrap()["input_tokens"]
        .as_u64()
        .unwrap();
    // cl100k: "lodestar" is two tokens, " routes" one.
    assert!(
        (11_500..12_500).contains(&n),
        "estimate {n} for 4000 × 3 tokens"
    );

    // An image cannot be estimated: an error, so the client counts itself.
    let img = json!({"model": "local", "messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}]}]});
    let r = send(&proxy, "/v1/messages/count_tokens", img.to_string()).await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["type"], "error");
}

#[tokio::test]
async fn both_client_key_headers_are_accepted_and_neither_is_forwarded() {
    let up = TestUpstream::start().await;
    up.anthropic_key_optional();
    let proxy = Proxy::start(&config(&up.url())).await;
    let body = json!({"model": "local-native", "max_tokens": 10,
                      "messages": [{"role": "user", "content": "hi"}]})
    .to_string();
    for (name, value) in [
        ("x-api-key", "sk-client-1"),
        ("authorization", "Bearer sk-client-2"),
    ] {
        let r = proxy
            .client
            .post(format!("{}/v1/messages", proxy.url))
            .header(name, value)
            .header("anthropic-version", "2023-06-01")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{name}");
        assert_eq!(route_of(&r), "native-local/qwen2.5-coder:7b");
        let rec = up.last_request().unwrap();
        // `messages_api: native` on an Ollama provider: its own /v1/messages, untranslated.
        assert_eq!(rec.path, "/v1/messages");
        assert_eq!(rec.header("x-api-key"), None);
        assert_eq!(rec.header("authorization"), None);
        assert_eq!(rec.header("anthropic-version"), Some("2023-06-01"));
    }
}

#[tokio::test]
async fn translated_streams_return_their_upstream_connection_to_the_pool() {
    let up = TestUpstream::start().await;
    let proxy = Proxy::start(&config(&up.url())).await;
    for _ in 0..3 {
        let r = proxy
            .post(
                "/v1/messages",
                &json!({"model": "local", "max_tokens": 20, "stream": true,
                        "messages": [{"role": "user", "content": "hi"}]}),
            )
            .await;
        let evs = events(r).await;
        assert_eq!(evs.last().unwrap().0, "message_stop");
    }
    // The answer ends at the upstream's [DONE]; its body is still read to the end, so the
    // keep-alive connection is reused rather than dropped half-read.
    assert_eq!(up.connections(), 1);
}

#[tokio::test]
async fn what_the_target_cannot_carry_is_refused_by_name_or_dropped_by_config() {
    let up = TestUpstream::start().await;
    let ask = json!({"model": "local", "max_tokens": 20,
        "tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
                  {"name": "Read", "input_schema": {"type": "object", "properties": {}}}],
        "messages": [{"role": "user", "content": "hi"}]});

    let proxy = Proxy::start(&config(&up.url())).await;
    let r = proxy.post("/v1/messages", &ask).await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "invalid_request_error");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("web_search_20250305") && msg.contains("on_unsupported"),
        "{msg}"
    );
    assert_eq!(up.calls(), 0, "nothing should reach the upstream");

    let lenient = format!(
        "{}translation:\n  on_unsupported: drop\n",
        config(&up.url())
    );
    let proxy = Proxy::start(&lenient).await;
    let r = proxy.post("/v1/messages", &ask).await;
    assert_eq!(r.status(), 200);
    let dropped = r.headers()["x-lodestar-dropped"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(dropped.contains("web_search_20250305"), "{dropped}");
    let sent = up.last_request().unwrap().body;
    let tools = sent["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 1);
    assert_eq!(tools[0]["function"]["name"], "Read");
}

#[tokio::test]
async fn a_passed_through_bearer_token_reaches_anthropic_as_a_bearer_token() {
    let up = TestUpstream::start().await;
    up.anthropic_key_optional();
    let u = up.url();
    let proxy = Proxy::start(&format!(
        r#"
providers:
  sub: {{ kind: anthropic, base_url: "{u}", pass_client_key: true, discover_models: false }}
models:
  claude: {{ route: [sub/claude-sonnet-4-5] }}
"#
    ))
    .await;
    let body = json!({"model": "claude", "max_tokens": 10,
                      "messages": [{"role": "user", "content": "hi"}]})
    .to_string();
    // A Claude subscription's OAuth token (Claude Code sends it as a Bearer token) stays one;
    // an API key sent as x-api-key stays one.
    for (name, value, expect_auth, expect_key) in [
        (
            "authorization",
            "Bearer sk-ant-oat01-client",
            Some("Bearer sk-ant-oat01-client"),
            None,
        ),
        (
            "x-api-key",
            "sk-ant-api03-client",
            None,
            Some("sk-ant-api03-client"),
        ),
    ] {
        let r = proxy
            .client
            .post(format!("{}/v1/messages", proxy.url))
            .header(name, value)
            .header("anthropic-beta", "oauth-2025-04-20")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{name}");
        let rec = up.last_request().unwrap();
        assert_eq!(rec.header("authorization"), expect_auth, "{name}");
        assert_eq!(rec.header("x-api-key"), expect_key, "{name}");
        assert_eq!(rec.header("anthropic-beta"), Some("oauth-2025-04-20"));
    }
}
