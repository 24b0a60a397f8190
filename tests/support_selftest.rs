//! Tests of the fake upstream in `tests/support/` itself, over real TCP with reqwest: if these
//! fail, every proxy test that leans on the upstream's shapes, knobs or counters is suspect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;
// Tools, thinking, caching, images and count_tokens: the translation-hub behaviours.
#[path = "support/selftest_hub.rs"]
mod hub;

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};
use support::{http_client, upstream::TestUpstream};

const WAIT: Duration = Duration::from_secs(5);

async fn post(up: &TestUpstream, path: &str, body: Value) -> reqwest::Response {
    http_client()
        .post(format!("{}{path}", up.url()))
        .header("content-type", "application/json")
        .header("authorization", "Bearer sk-test")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

async fn post_anthropic(up: &TestUpstream, body: Value) -> reqwest::Response {
    http_client()
        .post(format!("{}/v1/messages", up.url()))
        .header("content-type", "application/json")
        .header("x-api-key", "sk-ant-test")
        .header("anthropic-version", "2023-06-01")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

async fn json_of(response: reqwest::Response) -> Value {
    serde_json::from_str(&response.text().await.unwrap()).unwrap()
}

async fn get_json(up: &TestUpstream, path: &str) -> Value {
    json_of(
        http_client()
            .get(format!("{}{path}", up.url()))
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// SSE events as (event name, data) pairs.
fn sse_events(text: &str) -> Vec<(Option<String>, String)> {
    text.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let field = |name: &str| {
                block
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(|v| v.trim_start().to_string())
            };
            (field("event:"), field("data:").unwrap_or_default())
        })
        .collect()
}

fn chat(model: &str, text: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": text}]})
}

#[tokio::test]
async fn chat_json_echoes_last_user_message_with_word_usage() {
    let up = TestUpstream::start().await;
    let body = json!({"model": "llama3:8b", "messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "x"},
        {"role": "user", "content": [{"type": "text", "text": "hello there"}]},
    ]});
    let response = post(&up, "/v1/chat/completions", body).await;
    assert_eq!(response.status(), 200);
    let answer = json_of(response).await;
    assert_eq!(answer["object"], "chat.completion");
    assert_eq!(answer["model"], "llama3:8b");
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        "echo: hello there"
    );
    assert_eq!(answer["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        answer["usage"],
        json!({"prompt_tokens": 6, "completion_tokens": 3, "total_tokens": 9})
    );
    assert_eq!((up.calls(), up.calls_for("llama3:8b")), (1, 1));
    let recorded = up.last_request().unwrap();
    assert_eq!(recorded.path, "/v1/chat/completions");
    assert_eq!(recorded.header("Authorization"), Some("Bearer sk-test"));
    assert_eq!(recorded.model(), Some("llama3:8b"));
}

#[tokio::test]
async fn chat_stream_sends_role_then_words_then_stop_usage_and_done() {
    let up = TestUpstream::start().await;
    let mut body = chat("m", "one two", true);
    body["stream_options"] = json!({"include_usage": true});
    let response = post(&up, "/v1/chat/completions", body).await;
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let events = sse_events(&response.text().await.unwrap());
    let (last, chunks) = events.split_last().unwrap();
    assert_eq!(last.1, "[DONE]");
    let chunks: Vec<Value> = chunks
        .iter()
        .map(|(_, d)| serde_json::from_str(d).unwrap())
        .collect();
    for chunk in &chunks {
        assert_eq!(chunk["object"], "chat.completion.chunk");
        assert_eq!(chunk["model"], "m");
        assert!(chunk["id"].is_string() && chunk["created"].is_u64());
    }
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": ""})
    );
    let text: String = chunks[1..4]
        .iter()
        .map(|c| c["choices"][0]["delta"]["content"].as_str().unwrap())
        .collect();
    assert_eq!(text, "echo: one two");
    assert_eq!(chunks[4]["choices"][0]["delta"], json!({}));
    assert_eq!(chunks[4]["choices"][0]["finish_reason"], "stop");
    assert_eq!(chunks[5]["choices"], json!([]));
    assert_eq!(chunks[5]["usage"]["completion_tokens"], 3);
    assert_eq!(chunks.len(), 6);
    assert!(up.wait_completed(1, WAIT).await);
    assert_eq!(up.streams_cancelled(), 0);
}

#[tokio::test]
async fn slow_stream_spaces_out_exactly_n_chunks() {
    let up = TestUpstream::start().await;
    let started = Instant::now();
    let response = post(
        &up,
        "/v1/chat/completions",
        chat("m+chunks_3+slow_stream_50", "x", true),
    )
    .await;
    let events = sse_events(&response.text().await.unwrap());
    // role, c0, c1, c2, closing (finish + [DONE]): 4 gaps of 50 ms.
    assert!(started.elapsed() >= Duration::from_millis(200));
    let content: Vec<String> = events[1..4]
        .iter()
        .map(|(_, d)| serde_json::from_str::<Value>(d).unwrap())
        .map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(content, ["c0", " c1", " c2"]);
    assert_eq!(events.len(), 6);
}

#[tokio::test]
async fn completions_embeddings_and_model_lists() {
    let up = TestUpstream::start_with_models(vec!["a".into(), "b".into()]).await;
    let done = json_of(
        post(
            &up,
            "/v1/completions",
            json!({"model": "m", "prompt": "hi"}),
        )
        .await,
    )
    .await;
    assert_eq!(done["object"], "text_completion");
    assert_eq!(done["choices"][0]["text"], "echo: hi");

    let streamed = post(
        &up,
        "/v1/completions",
        json!({"model": "m", "prompt": "hi", "stream": true}),
    );
    let events = sse_events(&streamed.await.text().await.unwrap());
    let texts: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|(_, d)| serde_json::from_str::<Value>(d).unwrap()["choices"][0]["text"].clone())
        .collect();
    assert_eq!(texts, [json!("echo:"), json!(" hi"), json!("")]);

    let input = json!({"model": "e", "input": ["a b", "c"]});
    let first = json_of(post(&up, "/v1/embeddings", input.clone()).await).await;
    let again = json_of(post(&up, "/v1/embeddings", input).await).await;
    assert_eq!(first, again);
    assert_eq!(first["data"][1]["index"], 1);
    assert_eq!(first["data"][0]["embedding"].as_array().unwrap().len(), 8);
    assert_ne!(first["data"][0]["embedding"], first["data"][1]["embedding"]);
    assert_eq!(
        first["usage"],
        json!({"prompt_tokens": 3, "total_tokens": 3})
    );

    assert_eq!(get_json(&up, "/v1/models").await["data"][1]["id"], "b");
    assert_eq!(get_json(&up, "/api/tags").await["models"][0]["name"], "a");
    // Every listed model is loaded, 1 GiB of VRAM each.
    let ps = get_json(&up, "/api/ps").await;
    assert_eq!(ps["models"][1]["name"], "b");
    assert_eq!(ps["models"][0]["size_vram"], 1u64 << 30);
    assert_eq!((up.get_calls("/v1/models"), up.calls()), (1, 4));
}

#[tokio::test]
async fn anthropic_json_has_exact_shape_and_requires_key_and_version() {
    let up = TestUpstream::start().await;
    let body = json!({"model": "claude", "max_tokens": 10, "system": "sys",
                      "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]});
    let answer = json_of(post_anthropic(&up, body.clone()).await).await;
    assert!(answer["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(answer["type"], "message");
    assert_eq!(
        answer["content"],
        json!([{"type": "text", "text": "echo: hi"}])
    );
    assert_eq!(answer["stop_reason"], "end_turn");
    assert_eq!(answer["usage"]["input_tokens"], 2);
    assert_eq!(answer["usage"]["output_tokens"], 2);

    let no_key = post(&up, "/v1/messages", body).await;
    assert_eq!(no_key.status(), 401);
    let error = json_of(no_key).await;
    assert_eq!(error["type"], "error");
    assert_eq!(error["error"]["type"], "authentication_error");
}

#[tokio::test]
async fn anthropic_stream_sends_events_in_order() {
    let up = TestUpstream::start().await;
    let body = json!({"model": "claude", "stream": true, "max_tokens": 10,
                      "messages": [{"role": "user", "content": "a b"}]});
    let events = sse_events(&post_anthropic(&up, body).await.text().await.unwrap());
    let names: Vec<&str> = events.iter().map(|(e, _)| e.as_deref().unwrap()).collect();
    let expected = [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ];
    assert_eq!(names, expected);
    let data: Vec<Value> = events
        .iter()
        .map(|(_, d)| serde_json::from_str(d).unwrap())
        .collect();
    for (name, d) in names.iter().zip(&data) {
        assert_eq!(d["type"], *name);
    }
    assert_eq!(data[0]["message"]["content"], json!([]));
    assert_eq!(data[0]["message"]["usage"]["input_tokens"], 2);
    let text: String = data[3..6]
        .iter()
        .map(|d| d["delta"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(text, "echo: a b");
    assert_eq!(
        data[7],
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
               "usage": {"output_tokens": 3}})
    );
}

#[tokio::test]
async fn forced_failures_use_the_endpoint_dialect_and_retry_after() {
    let up = TestUpstream::start().await;
    let limited = post(&up, "/v1/chat/completions", chat("m+fail_429", "x", false)).await;
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.headers()["retry-after"], "1");
    assert_eq!(json_of(limited).await["error"]["type"], "rate_limit_error");

    let now = post(
        &up,
        "/v1/chat/completions",
        chat("m+fail_429_ra0", "x", false),
    )
    .await;
    assert_eq!(now.headers()["retry-after"], "0");

    let broken = post(&up, "/v1/chat/completions", chat("fail_500", "x", true)).await;
    assert_eq!(broken.status(), 500);
    let error = json_of(broken).await;
    assert_eq!(error["error"]["message"], "test upstream: forced 500");
    assert_eq!(error["error"]["type"], "server_error");

    let anthropic = post_anthropic(&up, chat("fail_503", "x", false)).await;
    assert_eq!(anthropic.status(), 503);
    assert_eq!(json_of(anthropic).await["error"]["type"], "api_error");

    let missing = post(&up, "/v1/chat/completions", chat("x+no_model", "x", false)).await;
    assert_eq!(missing.status(), 404);
    assert_eq!(json_of(missing).await["error"]["code"], "model_not_found");
}

#[tokio::test]
async fn fail_500_once_fails_only_the_first_request() {
    let up = TestUpstream::start().await;
    let body = chat("m+fail_500_once", "x", false);
    let first = post(&up, "/v1/chat/completions", body.clone()).await;
    let second = post(&up, "/v1/chat/completions", body).await;
    assert_eq!(
        (first.status().as_u16(), second.status().as_u16()),
        (500, 200)
    );
    assert_eq!(up.calls_for("m+fail_500_once"), 2);
}

#[tokio::test]
async fn drop_mid_stream_cuts_the_connection_after_two_chunks() {
    let up = TestUpstream::start().await;
    let response = post(
        &up,
        "/v1/chat/completions",
        chat("m+drop_mid_stream", "a b c d", true),
    )
    .await;
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let mut received = Vec::new();
    let error = loop {
        match body.next().await {
            Some(Ok(bytes)) => received.extend_from_slice(&bytes),
            Some(Err(error)) => break error,
            None => panic!("stream ended cleanly; expected a cut connection"),
        }
    };
    assert!(error.is_body() || error.is_decode(), "{error:?}");
    let text = String::from_utf8(received).unwrap();
    assert_eq!(
        sse_events(&text).len(),
        3,
        "role chunk + 2 content chunks: {text}"
    );
    assert!(!text.contains("[DONE]"));
    assert_eq!((up.streams_completed(), up.streams_cancelled()), (0, 0));
}

#[tokio::test]
async fn client_dropping_a_slow_stream_counts_as_cancelled() {
    let up = TestUpstream::start().await;
    let response = post(
        &up,
        "/v1/chat/completions",
        chat("m+slow_stream_10000", "a b", true),
    )
    .await;
    let mut body = response.bytes_stream();
    let first = body.next().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("\"role\":\"assistant\""));
    drop(body);
    assert!(up.wait_cancelled(1, WAIT).await);
    assert_eq!(up.streams_completed(), 0);
}

#[tokio::test]
async fn client_dropping_a_hanging_request_counts_as_cancelled() {
    let up = TestUpstream::start().await;
    let request = http_client()
        .post(format!("{}/v1/chat/completions", up.url()))
        .timeout(Duration::from_millis(200))
        .body(chat("hang", "x", false).to_string())
        .send();
    assert!(request.await.unwrap_err().is_timeout());
    assert!(up.wait_cancelled(1, WAIT).await);
}

#[tokio::test]
async fn stop_closes_the_port() {
    let up = TestUpstream::start().await;
    let addr = up.addr();
    up.stop().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
