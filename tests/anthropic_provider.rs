//! OpenAI-format chat routed to an Anthropic provider: translated to the Messages API and back,
//! JSON and streaming, with Anthropic's auth headers and usage rules.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::{Value, json};
use support::proxy::{Proxy, chat_body, route_of, sse_data};
use support::upstream::TestUpstream;

async fn setup() -> (TestUpstream, Proxy) {
    let up = TestUpstream::start().await;
    let u = up.url();
    let yaml = format!(
        r#"
providers:
  claude: {{ kind: anthropic, base_url: "{u}", api_key_env: TEST_ANTHROPIC_KEY, discover_models: false, default_max_tokens: 777 }}
  backup: {{ kind: openai-compatible, base_url: "{u}/v1", discover_models: false }}
models:
  sonnet: {{ route: [claude/claude-sonnet-4-5] }}
  careful: {{ route: [claude/c+fail_529, backup/b] }}
  cut: {{ route: [claude/c+drop_mid_stream] }}
  mixed: {{ route: [claude/c, backup/b] }}
"#
    );
    let proxy = Proxy::start(&yaml).await;
    (up, proxy)
}

#[tokio::test]
async fn chat_json_is_translated_to_messages_and_back() {
    let (up, proxy) = setup().await;
    let body = json!({"model": "sonnet", "messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": [{"type": "text", "text": "second question"}]}
    ], "temperature": 0.5, "stop": ["END"]});
    let r = proxy.chat(body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(route_of(&r), "claude/claude-sonnet-4-5");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "echo: second question"
    );
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    let u = &v["usage"];
    assert!(u["prompt_tokens"].as_u64().unwrap() > 0);
    assert_eq!(
        u["total_tokens"].as_u64().unwrap(),
        u["prompt_tokens"].as_u64().unwrap() + u["completion_tokens"].as_u64().unwrap()
    );

    let sent = up.last_request().unwrap();
    assert_eq!(sent.path, "/v1/messages");
    assert_eq!(sent.header("x-api-key"), Some("sk-ant-test-NEVER-LOG-5678"));
    assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(sent.header("authorization"), None);
    assert_eq!(sent.body["model"], "claude-sonnet-4-5");
    assert_eq!(sent.body["system"], "be brief");
    assert_eq!(sent.body["max_tokens"], 777);
    assert_eq!(sent.body["temperature"], 0.5);
    assert_eq!(sent.body["stop_sequences"], json!(["END"]));
    assert_eq!(sent.body["messages"].as_array().unwrap().len(), 3);
    assert_eq!(
        sent.body["messages"][2]["content"][0]["text"],
        "second question"
    );
}

#[tokio::test]
async fn chat_streams_are_translated_event_by_event() {
    let (_up, proxy) = setup().await;
    let mut body = chat_body("sonnet", "alpha beta gamma");
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let r = proxy.chat(body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let events = sse_data(r).await;
    assert_eq!(events.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "echo: alpha beta gamma");
    let finish = chunks
        .iter()
        .find(|c| !c["choices"][0]["finish_reason"].is_null())
        .unwrap();
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    let usage = &chunks.last().unwrap()["usage"];
    assert!(usage["completion_tokens"].as_u64().unwrap() >= 4, "{usage}");
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk")
    );
}

#[tokio::test]
async fn an_overloaded_anthropic_falls_back_to_the_next_entry() {
    let (up, proxy) = setup().await;
    let r = proxy.chat(chat_body("careful", "hi")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(route_of(&r), "backup/b");
    assert_eq!(up.calls(), 2);
}

#[tokio::test]
async fn a_cut_anthropic_stream_ends_with_an_error_event() {
    let (_up, proxy) = setup().await;
    let mut body = chat_body("cut", "one two three four");
    body["stream"] = json!(true);
    let events = sse_data(proxy.chat(body).await).await;
    assert!(!events.iter().any(|e| e == "[DONE]"));
    let last: Value = serde_json::from_str(events.last().unwrap()).unwrap();
    assert_eq!(last["error"]["code"], "stream_interrupted");
}

#[tokio::test]
async fn anthropic_refusals_come_back_as_openai_errors() {
    let (_up, proxy) = setup().await;
    let r = proxy.chat(chat_body("claude/c+fail_400", "hi")).await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("forced 400")
    );
}

#[tokio::test]
async fn content_anthropic_cannot_carry_is_refused_clearly() {
    let (up, proxy) = setup().await;
    let body = json!({"model": "sonnet", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "what is this?"},
        {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}
    ]}]});
    let r = proxy.chat(body).await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["param"], "messages[0].content[1]");
    assert_eq!(v["error"]["code"], "untranslatable");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("input_audio")
    );
    assert_eq!(up.calls(), 0);
}

#[tokio::test]
async fn content_one_entry_cannot_carry_goes_to_the_next_entry() {
    let (up, proxy) = setup().await;
    let body = json!({"model": "mixed", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "what is this?"},
        {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}
    ]}]});
    let r = proxy.chat(body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(route_of(&r), "backup/b");
    assert_eq!(
        up.calls(),
        1,
        "nothing was sent to the entry that cannot carry audio"
    );
}
