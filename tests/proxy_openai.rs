//! The OpenAI-compatible endpoints over real TCP: pass-through, streaming, routing by alias,
//! rule, bare model name and explicit provider/model, and the error a client gets for an
//! unknown model.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use futures_util::StreamExt;
use serde_json::{Value, json};
use support::proxy::{Proxy, chat_body, route_of, sse_data};
use support::upstream::TestUpstream;

fn config(up: &str) -> String {
    format!(
        r#"
providers:
  local:  {{ kind: ollama, base_url: "{up}" }}
  cloud:  {{ kind: openai, base_url: "{up}/v1", api_key_env: TEST_OPENAI_KEY, discover_models: false }}
  claude: {{ kind: anthropic, base_url: "{up}", api_key_env: TEST_ANTHROPIC_KEY, discover_models: false }}
models:
  fast:  {{ route: [local/qwen2.5-coder:7b, cloud/gpt-4o-mini] }}
  smart: {{ route: [cloud/gpt-5] }}
  sonnet: {{ route: [claude/claude-sonnet-4-5] }}
routing:
  default: fast
  rules:
    - {{ name: tools, when: {{ has_tools: true }}, use: smart }}
    - {{ name: long, when: {{ prompt_tokens_over: 1000 }}, use: smart }}
"#
    )
}

async fn setup() -> (TestUpstream, Proxy) {
    let up = TestUpstream::start().await;
    let proxy = Proxy::start(&config(&up.url())).await;
    (up, proxy)
}

#[tokio::test]
async fn chat_json_passes_unknown_fields_through_and_rewrites_only_the_model() {
    let (up, proxy) = setup().await;
    let mut body = chat_body("fast", "hello there");
    body["x_vendor_field"] = json!({"keep": [1, 2, 3]});
    body["temperature"] = json!(0.25);
    let r = proxy.chat(body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(route_of(&r), "local/qwen2.5-coder:7b");
    assert!(r.headers().get("x-request-id").is_some());
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "echo: hello there");
    assert_eq!(v["object"], "chat.completion");
    let sent = up.last_request().unwrap();
    assert_eq!(sent.path, "/v1/chat/completions");
    assert_eq!(sent.body["model"], "qwen2.5-coder:7b");
    assert_eq!(sent.body["x_vendor_field"], json!({"keep": [1, 2, 3]}));
    assert_eq!(sent.body["temperature"], json!(0.25));
}

#[tokio::test]
async fn the_clients_request_id_is_kept_and_its_key_is_not_forwarded() {
    let (up, proxy) = setup().await;
    let r = proxy
        .client
        .post(format!("{}/v1/chat/completions", proxy.url))
        .header("authorization", "Bearer client-own-key")
        .header("x-request-id", "my-trace-42")
        .body(chat_body("smart", "hi").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-request-id"], "my-trace-42");
    let sent = up.last_request().unwrap();
    assert_eq!(
        sent.header("authorization"),
        Some("Bearer sk-test-openai-NEVER-LOG-1234"),
        "the provider's own key is used"
    );
    // A keyless local provider gets no Authorization at all, not the client's.
    proxy.chat(chat_body("fast", "hi")).await;
    let sent = up.last_request().unwrap();
    assert_eq!(sent.header("authorization"), None);
}

#[tokio::test]
async fn the_first_chunk_reaches_the_client_before_the_upstream_finishes() {
    let (up, proxy) = setup().await;
    let mut body = chat_body("cloud/m+chunks_5+slow_stream_300", "x");
    body["stream"] = json!(true);
    let r = proxy.chat(body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let mut stream = r.bytes_stream();
    let first = stream.next().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).starts_with("data: "));
    assert_eq!(
        up.streams_completed(),
        0,
        "the client got a chunk while the upstream was still streaming"
    );
    let mut rest = first.to_vec();
    while let Some(c) = stream.next().await {
        rest.extend_from_slice(&c.unwrap());
    }
    let text = String::from_utf8(rest).unwrap();
    let contents: Vec<String> = text
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(String::from)
        })
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(contents, vec!["c0", " c1", " c2", " c3", " c4"]);
    assert!(text.trim_end().ends_with("data: [DONE]"));
}

#[tokio::test]
async fn completions_and_embeddings_are_proxied() {
    let (up, proxy) = setup().await;
    let r = proxy
        .post(
            "/v1/completions",
            &json!({"model": "fast", "prompt": "say hi"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["choices"][0]["text"], "echo: say hi");
    assert_eq!(up.last_request().unwrap().path, "/v1/completions");

    let r = proxy
        .post(
            "/v1/embeddings",
            &json!({"model": "cloud/text-embedding-3-small", "input": ["a", "b"]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(route_of(&r), "cloud/text-embedding-3-small");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn embeddings_on_an_anthropic_only_alias_say_why_not() {
    let (_up, proxy) = setup().await;
    let r = proxy
        .post("/v1/embeddings", &json!({"model": "sonnet", "input": "a"}))
        .await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "endpoint_unsupported");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains("Anthropic has no embeddings API"), "{msg}");
}

#[tokio::test]
async fn models_lists_aliases_and_provider_models() {
    let (_up, proxy) = setup().await;
    let v: Value = proxy.get("/v1/models").await.json().await.unwrap();
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    for want in [
        "auto",
        "fast",
        "smart",
        "local/llama3:8b",
        "local/qwen2.5-coder:7b",
        "cloud/gpt-4o-mini",
    ] {
        assert!(ids.contains(&want), "{want} missing from {ids:?}");
    }
    let r = proxy.get("/v1/models/local/llama3:8b").await;
    assert_eq!(r.status(), 200);
    assert_eq!(proxy.get("/v1/models/nope").await.status(), 404);
    let h: Value = proxy.get("/health").await.json().await.unwrap();
    assert_eq!(h["status"], "ok");
}

#[tokio::test]
async fn an_unknown_model_is_an_openai_error_naming_what_could_be_used() {
    let (up, proxy) = setup().await;
    let r = proxy.chat(chat_body("gpt-9000", "hi")).await;
    assert_eq!(r.status(), 404);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "model_not_found");
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert_eq!(v["error"]["param"], "model");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains("`gpt-9000`"), "{msg}");
    assert!(msg.contains("fast, smart, sonnet"), "{msg}");
    assert!(
        msg.contains("local/<model>, cloud/<model>, claude/<model>"),
        "{msg}"
    );
    assert_eq!(up.calls(), 0);
}

#[tokio::test]
async fn routing_by_bare_name_auto_rules_and_explicit_model() {
    let (_up, proxy) = setup().await;
    // A bare name the Ollama provider lists.
    let r = proxy.chat(chat_body("llama3:8b", "hi")).await;
    assert_eq!(route_of(&r), "local/llama3:8b");
    // auto → routing.default.
    let r = proxy.chat(chat_body("auto", "hi")).await;
    assert_eq!(route_of(&r), "local/qwen2.5-coder:7b");
    // No model at all is auto too.
    let r = proxy
        .chat(json!({"messages": [{"role": "user", "content": "hi"}]}))
        .await;
    assert_eq!(route_of(&r), "local/qwen2.5-coder:7b");
    // Rule: tools → smart.
    let mut tools = chat_body("auto", "hi");
    tools["tools"] = json!([{"type": "function", "function": {"name": "f", "parameters": {}}}]);
    let r = proxy.chat(tools.clone()).await;
    assert_eq!(route_of(&r), "cloud/gpt-5");
    // Rule: a long prompt → smart.
    let r = proxy.chat(chat_body("auto", &"word ".repeat(1000))).await;
    assert_eq!(route_of(&r), "cloud/gpt-5");
    // An alias the rules do not opt into keeps its own route, tools or not.
    tools["model"] = json!("fast");
    let r = proxy.chat(tools.clone()).await;
    assert_eq!(route_of(&r), "local/qwen2.5-coder:7b");
    // Explicit provider/model bypasses everything.
    tools["model"] = json!("local/llama3:8b");
    let r = proxy.chat(tools).await;
    assert_eq!(route_of(&r), "local/llama3:8b");
}

#[tokio::test]
async fn paths_without_v1_work_and_bad_requests_are_explained() {
    let (_up, proxy) = setup().await;
    let r = proxy
        .post("/chat/completions", &chat_body("fast", "hi"))
        .await;
    assert_eq!(r.status(), 200);
    let r = proxy
        .client
        .post(format!("{}/v1/chat/completions", proxy.url))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not valid JSON")
    );
    let r = proxy.get("/v1/nothing-here").await;
    assert_eq!(r.status(), 404);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/v1/chat/completions")
    );
}

#[tokio::test]
async fn a_streamed_answer_is_relayed_byte_for_byte() {
    let (up, proxy) = setup().await;
    let mut body = chat_body("fast", "one two three");
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let direct = support::http_client()
        .post(format!("{}/v1/chat/completions", up.url()))
        .body(json!({"model": "qwen2.5-coder:7b", "messages": body["messages"], "stream": true, "stream_options": {"include_usage": true}}).to_string())
        .send()
        .await
        .unwrap();
    let direct = sse_data(direct).await;
    let via = sse_data(proxy.chat(body).await).await;
    // Same events (ids and timestamps aside): content, finish, usage, [DONE].
    let strip = |d: &Vec<String>| -> Vec<Value> {
        d.iter()
            .map(|s| {
                let mut v: Value = serde_json::from_str(s).unwrap_or(Value::String(s.clone()));
                if let Some(o) = v.as_object_mut() {
                    o.remove("id");
                    o.remove("created");
                }
                v
            })
            .collect()
    };
    assert_eq!(strip(&via), strip(&direct));
    assert_eq!(via.last().unwrap(), "[DONE]");
}

#[tokio::test]
async fn a_provider_may_pass_the_clients_own_key_through() {
    let up = TestUpstream::start().await;
    let yaml = format!(
        "providers:\n  mine: {{ kind: openai-compatible, base_url: \"{}/v1\", pass_client_key: true, discover_models: false }}\n",
        up.url()
    );
    let proxy = Proxy::start(&yaml).await;
    let r = proxy
        .client
        .post(format!("{}/v1/chat/completions", proxy.url))
        .header("authorization", "Bearer users-own-key")
        .body(chat_body("mine/m", "hi").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        up.last_request().unwrap().header("authorization"),
        Some("Bearer users-own-key")
    );
}
