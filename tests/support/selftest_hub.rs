//! Self-tests of the fake upstream's translation-hub behaviours — tool calls and results,
//! `think`, `cached_N`, `error_mid_stream`, images, `count_tokens`, optional Anthropic keys and
//! raw-body recording — in both dialects. Only `tests/support_selftest.rs` includes this file
//! (by `#[path]`); it is not part of `support`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};

use super::support::{http_client, upstream::TestUpstream};
use super::{WAIT, chat, json_of, post, post_anthropic, sse_events};

/// The JSON `data:` of each event (skipping `[DONE]`), with its event name if any.
fn sse_json(text: &str) -> Vec<(Option<String>, Value)> {
    sse_events(text)
        .into_iter()
        .filter(|(_, d)| d != "[DONE]")
        .map(|(e, d)| (e, serde_json::from_str(&d).unwrap()))
        .collect()
}

fn anthropic(model: &str, stream: bool, messages: Value) -> Value {
    json!({"model": model, "max_tokens": 10, "stream": stream, "messages": messages})
}

const CALLS: &str =
    "look it up\ncall: get_weather {\"city\": \"Paris\", \"days\": 2}\ncall: now {}";

#[tokio::test]
async fn openai_call_directives_become_tool_calls_in_json_and_stream() {
    let up = TestUpstream::start().await;
    let answer = json_of(post(&up, "/v1/chat/completions", chat("m", CALLS, false)).await).await;
    let choice = &answer["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(
        choice["message"],
        json!({"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_1_0", "type": "function",
             "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\",\"days\":2}"}},
            {"id": "call_1_1", "type": "function", "function": {"name": "now", "arguments": "{}"}},
        ]})
    );
    assert_eq!(answer["usage"]["completion_tokens"], 4);

    let mut body = chat("m", CALLS, true);
    body["stream_options"] = json!({"include_usage": true});
    let text = post(&up, "/v1/chat/completions", body)
        .await
        .text()
        .await
        .unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"));
    let deltas: Vec<Value> = sse_json(&text)
        .into_iter()
        .map(|(_, c)| c["choices"][0]["delta"].clone())
        .collect();
    // No separate role chunk: the first call's header names the role, as OpenAI sends it.
    assert_eq!(
        deltas[0],
        json!({"role": "assistant", "content": null, "tool_calls": [{"index": 0,
               "id": "call_2_0", "type": "function",
               "function": {"name": "get_weather", "arguments": ""}}]})
    );
    assert_eq!(
        deltas[4],
        json!({"tool_calls": [{"index": 1, "id": "call_2_1", "type": "function",
               "function": {"name": "now", "arguments": ""}}]})
    );
    let args = |range: std::ops::Range<usize>, index: usize| -> String {
        deltas[range]
            .iter()
            .map(|d| {
                assert_eq!(d["tool_calls"][0]["index"], index);
                assert!(d["tool_calls"][0].get("id").is_none());
                d["tool_calls"][0]["function"]["arguments"]
                    .as_str()
                    .unwrap()
            })
            .collect()
    };
    assert_eq!(args(1..4, 0), "{\"city\":\"Paris\",\"days\":2}");
    assert_eq!(args(5..8, 1), "{}");
    let chunks = sse_json(&text);
    assert_eq!(chunks[8].1["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(chunks[9].1["usage"]["completion_tokens"], 4);
    assert_eq!(chunks.len(), 10);
}

#[tokio::test]
async fn anthropic_call_directives_become_tool_use_blocks_in_json_and_stream() {
    let up = TestUpstream::start().await;
    let user = json!([{"role": "user", "content": [{"type": "text", "text": CALLS}]}]);
    let answer = json_of(post_anthropic(&up, anthropic("c", false, user.clone())).await).await;
    assert_eq!(answer["stop_reason"], "tool_use");
    assert_eq!(
        answer["content"],
        json!([
            {"type": "tool_use", "id": "toolu_1_0", "name": "get_weather",
             "input": {"city": "Paris", "days": 2}},
            {"type": "tool_use", "id": "toolu_1_1", "name": "now", "input": {}},
        ])
    );

    let text = post_anthropic(&up, anthropic("c", true, user))
        .await
        .text()
        .await
        .unwrap();
    let events = sse_json(&text);
    let names: Vec<&str> = events.iter().map(|(e, _)| e.as_deref().unwrap()).collect();
    let block = [
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
    ];
    let expected = [
        &["message_start", "content_block_start", "ping"][..],
        &block,
        &["content_block_start"],
        &block,
        &["message_delta", "message_stop"],
    ]
    .concat();
    assert_eq!(names, expected);
    assert_eq!(
        events[1].1["content_block"],
        json!({"type": "tool_use", "id": "toolu_2_0", "name": "get_weather", "input": {}})
    );
    assert_eq!(events[7].1["index"], 1);
    assert_eq!(events[7].1["content_block"]["id"], "toolu_2_1");
    let partial = |range: std::ops::Range<usize>| -> Value {
        let json: String = events[range]
            .iter()
            .map(|(_, d)| {
                assert_eq!(d["delta"]["type"], "input_json_delta");
                d["delta"]["partial_json"].as_str().unwrap()
            })
            .collect();
        serde_json::from_str(&json).unwrap()
    };
    assert_eq!(partial(3..6), json!({"city": "Paris", "days": 2}));
    assert_eq!(partial(8..11), json!({}));
    assert_eq!(events[12].1["delta"]["stop_reason"], "tool_use");
}

#[tokio::test]
async fn tool_results_are_answered_in_order_in_both_dialects() {
    let up = TestUpstream::start().await;
    let body = json!({"model": "m", "messages": [
        {"role": "user", "content": CALLS},
        {"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_1_0", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}},
            {"id": "call_1_1", "type": "function", "function": {"name": "now", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_1_0", "content": "sunny"},
        {"role": "tool", "tool_call_id": "call_1_1", "content": [{"type": "text", "text": "noon"}]},
    ]});
    let answer = json_of(post(&up, "/v1/chat/completions", body.clone()).await).await;
    let expected = "tool results: call_1_0=sunny; call_1_1=noon";
    assert_eq!(answer["choices"][0]["message"]["content"], expected);
    assert_eq!(answer["choices"][0]["finish_reason"], "stop");
    let mut streamed = body;
    streamed["stream"] = json!(true);
    let text = post(&up, "/v1/chat/completions", streamed)
        .await
        .text()
        .await
        .unwrap();
    let content: String = sse_json(&text)
        .iter()
        .filter_map(|(_, c)| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    assert_eq!(content, expected);

    let messages = json!([
        {"role": "user", "content": CALLS},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_a", "name": "get_weather", "input": {}},
            {"type": "tool_use", "id": "toolu_b", "name": "now", "input": {}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_a", "content": "sunny"},
            {"type": "tool_result", "tool_use_id": "toolu_b", "is_error": true,
             "content": [{"type": "text", "text": "clock"}, {"type": "text", "text": "broken"}]}]},
    ]);
    let answer = json_of(post_anthropic(&up, anthropic("c", false, messages)).await).await;
    assert_eq!(
        answer["content"],
        json!([{"type": "text", "text": "tool results: toolu_a=sunny; toolu_b=clock broken (error)"}])
    );
    assert_eq!(answer["stop_reason"], "end_turn");
}

#[tokio::test]
async fn anthropic_think_with_tool_calls_streams_thinking_then_tool_use() {
    let up = TestUpstream::start().await;
    let user = json!([{"role": "user", "content": "call: f {\"a\": 1}"}]);
    let text = post_anthropic(&up, anthropic("c+think", true, user.clone()))
        .await
        .text()
        .await
        .unwrap();
    let events = sse_json(&text);
    let names: Vec<&str> = events.iter().map(|(e, _)| e.as_deref().unwrap()).collect();
    let expected = [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ];
    assert_eq!(names, expected);
    let data: Vec<&Value> = events.iter().map(|(_, d)| d).collect();
    assert_eq!(
        data[1]["content_block"],
        json!({"type": "thinking", "thinking": "", "signature": ""})
    );
    let thinking: String = data[3..5]
        .iter()
        .map(|d| {
            assert_eq!(
                (d["index"].as_u64(), &d["delta"]["type"]),
                (Some(0), &json!("thinking_delta"))
            );
            d["delta"]["thinking"].as_str().unwrap()
        })
        .collect();
    assert_eq!(thinking, "thinking about: call: f {\"a\": 1}");
    // The signature arrives before the thinking block stops.
    assert_eq!(data[5]["delta"]["type"], "signature_delta");
    let signature = data[5]["delta"]["signature"].as_str().unwrap();
    assert!(
        signature.starts_with("sig-1-") && signature.len() == 46,
        "{signature}"
    );
    assert_eq!(*data[6], json!({"type": "content_block_stop", "index": 0}));
    assert_eq!(data[7]["index"], 1);
    assert_eq!(data[7]["content_block"]["type"], "tool_use");
    assert!(data[8..11].iter().all(|d| d["index"] == 1));
    assert_eq!(data[12]["delta"]["stop_reason"], "tool_use");

    let answer = json_of(post_anthropic(&up, anthropic("c+think", false, user)).await).await;
    let content = answer["content"].as_array().unwrap();
    assert_eq!(content[0]["type"], "thinking");
    assert_eq!(content[0]["thinking"], thinking);
    assert!(
        content[0]["signature"]
            .as_str()
            .unwrap()
            .starts_with("sig-2-")
    );
    assert_eq!(
        content[1],
        json!({"type": "tool_use", "id": "toolu_2_0", "name": "f", "input": {"a": 1}})
    );
}

#[tokio::test]
async fn openai_think_sends_reasoning_content_first() {
    let up = TestUpstream::start().await;
    let answer =
        json_of(post(&up, "/v1/chat/completions", chat("m+think", "a b", false)).await).await;
    let message = &answer["choices"][0]["message"];
    assert_eq!(message["content"], "echo: a b");
    assert_eq!(message["reasoning_content"], "thinking about: a b");
    assert_eq!(answer["usage"]["completion_tokens"], 7);
    assert_eq!(
        answer["usage"]["completion_tokens_details"]["reasoning_tokens"],
        4
    );

    let text = post(&up, "/v1/chat/completions", chat("m+think", "a b", true))
        .await
        .text()
        .await
        .unwrap();
    let deltas: Vec<Value> = sse_json(&text)
        .into_iter()
        .map(|(_, c)| c["choices"][0]["delta"].clone())
        .collect();
    assert_eq!(deltas[0]["role"], "assistant");
    assert_eq!(deltas[0]["content"], Value::Null);
    let reasoning = [&deltas[0], &deltas[1]].map(|d| d["reasoning_content"].as_str().unwrap());
    assert_eq!(reasoning.concat(), "thinking about: a b");
    assert_eq!(deltas[2], json!({"content": "echo:"}));
}

#[tokio::test]
async fn cached_n_reports_cached_prompt_tokens_per_dialect() {
    let up = TestUpstream::start().await;
    let answer = json_of(
        post(
            &up,
            "/v1/chat/completions",
            chat("m+cached_5", "a b", false),
        )
        .await,
    )
    .await;
    assert_eq!(
        answer["usage"],
        json!({"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10,
               "prompt_tokens_details": {"cached_tokens": 5}})
    );
    let user = json!([{"role": "user", "content": "a b"}]);
    let answer =
        json_of(post_anthropic(&up, anthropic("c+cached_5", false, user.clone())).await).await;
    assert_eq!(answer["usage"]["input_tokens"], 2);
    assert_eq!(answer["usage"]["cache_read_input_tokens"], 5);
    let text = post_anthropic(&up, anthropic("c+cached_5", true, user))
        .await
        .text()
        .await
        .unwrap();
    let start = &sse_json(&text)[0].1["message"]["usage"];
    assert_eq!(
        (
            start["input_tokens"].as_u64(),
            start["cache_read_input_tokens"].as_u64()
        ),
        (Some(2), Some(5))
    );
}

#[tokio::test]
async fn error_mid_stream_sends_two_chunks_then_an_in_band_error() {
    let up = TestUpstream::start().await;
    let text = post(
        &up,
        "/v1/chat/completions",
        chat("m+error_mid_stream", "a b c d", true),
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(!text.contains("[DONE]"));
    let chunks = sse_json(&text);
    assert_eq!(
        chunks.len(),
        4,
        "role chunk, 2 content chunks, error: {text}"
    );
    assert_eq!(
        chunks[3].1,
        json!({"error": {"message": "test upstream overloaded", "type": "server_error",
                         "param": null, "code": null}})
    );

    let user = json!([{"role": "user", "content": "a b c d"}]);
    let text = post_anthropic(&up, anthropic("c+error_mid_stream", true, user))
        .await
        .text()
        .await
        .unwrap();
    let events = sse_json(&text);
    let names: Vec<&str> = events.iter().map(|(e, _)| e.as_deref().unwrap()).collect();
    let expected = [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
        "error",
    ];
    assert_eq!(names, expected);
    assert_eq!(
        events[5].1,
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "test upstream overloaded"}})
    );
    assert!(up.wait_completed(2, WAIT).await);
}

#[tokio::test]
async fn image_parts_are_counted_in_the_echo() {
    let up = TestUpstream::start().await;
    let body = json!({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "look"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}]});
    let answer = json_of(post(&up, "/v1/chat/completions", body).await).await;
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        "echo: look [images: 2]"
    );
    let user = json!([{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
        {"type": "text", "text": "look"}]}]);
    let answer = json_of(post_anthropic(&up, anthropic("c", false, user)).await).await;
    assert_eq!(answer["content"][0]["text"], "echo: look [images: 2]");
}

#[tokio::test]
async fn count_tokens_matches_messages_and_key_can_be_made_optional() {
    let up = TestUpstream::start().await;
    let mut body = anthropic(
        "c",
        false,
        json!([
            {"role": "user", "content": "one two"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {"a": 1}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "three"}]},
        ]),
    );
    body["system"] = json!("be brief");
    body["tools"] = json!([{"name": "f", "description": "does f", "input_schema": {}}]);
    let answer = json_of(post_anthropic(&up, body.clone()).await).await;
    // one two | f {"a":1} | three | be brief | f does f
    assert_eq!(answer["usage"]["input_tokens"], 10);
    let count = |key: Option<&str>, version: bool| {
        let mut request = http_client()
            .post(format!("{}/v1/messages/count_tokens", up.url()))
            .body(body.to_string());
        if let Some(key) = key {
            request = request.header("x-api-key", key);
        }
        if version {
            request = request.header("anthropic-version", "2023-06-01");
        }
        request.send()
    };
    let counted = count(Some("k"), true).await.unwrap();
    assert_eq!(json_of(counted).await, json!({"input_tokens": 10}));
    assert_eq!(up.last_request().unwrap().path, "/v1/messages/count_tokens");
    assert_eq!(count(None, true).await.unwrap().status(), 401);

    up.anthropic_key_optional();
    assert_eq!(count(None, true).await.unwrap().status(), 200);
    assert_eq!(count(None, false).await.unwrap().status(), 401);
    let no_key = http_client()
        .post(format!("{}/v1/messages", up.url()))
        .header("anthropic-version", "2023-06-01")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(no_key.status(), 200);
    assert_eq!(up.calls(), 6);
}

#[tokio::test]
async fn requests_are_recorded_byte_for_byte() {
    let up = TestUpstream::start().await;
    let raw =
        "{ \"model\" : \"m\",\n  \"messages\": [{\"role\": \"user\", \"content\": \"\\u00e9\"}] }";
    http_client()
        .post(format!("{}/v1/chat/completions", up.url()))
        .body(raw)
        .send()
        .await
        .unwrap();
    let recorded = up.last_request().unwrap();
    assert_eq!(&recorded.raw[..], raw.as_bytes());
    assert_eq!(recorded.body["messages"][0]["content"], "é");
}
