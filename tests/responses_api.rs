//! `POST /v1/responses` over real TCP, translated to a chat-only upstream and to an Anthropic
//! one: answers and streams in the Responses shapes, tool calls and their outputs paired by
//! `call_id`, Codex's hosted tools dropped and named, and what cannot be served refused clearly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::{Value, json};
use support::proxy::{Proxy, route_of, sse_events as events};
use support::upstream::TestUpstream;

fn config(u: &str) -> String {
    format!(
        r#"
providers:
  local: {{ kind: ollama, base_url: "{u}", discover_models: false }}
  claude: {{ kind: anthropic, base_url: "{u}", api_key_env: TEST_ANTHROPIC_KEY, discover_models: false }}
  native: {{ kind: openai-compatible, base_url: "{u}/v1", responses_api: native, discover_models: false }}
models:
  local: {{ route: [local/qwen2.5-coder:7b] }}
  local-think: {{ route: [local/qwen2.5-coder:7b+think] }}
  claude: {{ route: [claude/claude-sonnet-4-5] }}
  native: {{ route: [native/gpt-5] }}
  broken: {{ route: [local/m+drop_mid_stream+chunks_6] }}
"#
    )
}

#[tokio::test]
async fn a_text_answer_comes_back_as_a_response_object() {
    let up = TestUpstream::start().await;
    let proxy = Proxy::start(&config(&up.url())).await;
    for (model, path) in [
        ("local", "/v1/chat/completions"),
        ("claude", "/v1/messages"),
    ] {
        let r = proxy
            .post(
                "/v1/responses",
                &json!({"model": model, "instructions": "be brief", "input": "hello there",
                        "max_output_tokens": 50}),
            )
            .await;
        assert_eq!(r.status(), 200, "{model}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["object"], "response");
        assert!(v["id"].as_str().unwrap().starts_with("resp_"));
        assert_eq!(v["status"], "completed");
        let msg = &v["output"][0];
        assert_eq!(msg["type"], "message");
        assert_eq!(msg["content"][0]["type"], "output_text");
        assert_eq!(msg["content"][0]["text"], "echo: hello there");
        assert!(v["usage"]["input_tokens"].as_u64().unwrap() > 0);
        let sent = up.last_request().unwrap();
        assert_eq!(sent.path, path);
        let b = &sent.body;
        if model == "local" {
            assert_eq!(
                b["messages"][0],
                json!({"role": "system", "content": "be brief"})
            );
            assert_eq!(b["max_tokens"], 50);
        } else {
            assert_eq!(b["system"], "be brief");
            assert_eq!(b["max_tokens"], 50);
        }
    }
}

#[tokio::test]
async fn a_stream_is_the_responses_event_sequence() {
    let up = TestUpstream::start().await;
    let proxy = Proxy::start(&config(&up.url())).await;
    let r = proxy
        .post(
            "/v1/responses",
            &json!({"model": "local-think", "input": "hello there", "stream": true}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(route_of(&r), "local/qwen2.5-coder:7b+think");
    let evs = events(r).await;
    let names: Vec<&str> = evs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names[..2], ["response.created", "response.in_progress"]);
    assert_eq!(*names.last().unwrap(), "response.completed");
    // Each event's type matches its name, and sequence numbers count up from 0.
    for (i, (name, data)) in evs.iter().enumerate() {
        assert_eq!(data["type"], name.as_str());
        assert_eq!(data["sequence_number"], i as u64, "{name}");
    }
    // Reasoning comes first as a summary, then the message.
    let first_added = evs
        .iter()
        .find(|(n, _)| n == "response.output_item.added")
        .unwrap();
    assert_eq!(first_added.1["item"]["type"], "reasoning");
    assert!(names.contains(&"response.reasoning_summary_text.delta"));
    let text: String = evs
        .iter()
        .filter(|(n, _)| n == "response.output_text.delta")
        .map(|(_, d)| d["delta"].as_str().unwrap())
        .collect();
    assert_eq!(text, "echo: hello there");
    let done = &evs.last().unwrap().1["response"];
    assert_eq!(done["status"], "completed");
    assert_eq!(done["output"][1]["content"][0]["text"], "echo: hello there");
    assert!(done["usage"]["output_tokens"].as_u64().unwrap() > 0);
    // Item ids are the same in added, deltas and done.
    let msg_id = done["output"][1]["id"].as_str().unwrap();
    assert!(
        evs.iter()
            .filter(|(n, _)| n == "response.output_text.delta")
            .all(|(_, d)| d["item_id"] == msg_id)
    );
}

#[tokio::test]
async fn a_tool_call_and_its_output_are_paired_by_call_id() {
    let up = TestUpstream::start().await;
    let proxy = Proxy::start(&config(&up.url())).await;
    let tools = json!([
        {"type": "function", "name": "shell", "description": "run a command",
         "parameters": {"type": "object", "properties": {"command": {"type": "array", "items": {"type": "string"}}}}},
        {"type": "web_search"},
        {"type": "namespace", "name": "mcp__docs", "tools": [
            {"type": "function", "name": "search", "parameters": {"type": "object", "properties": {}}}]}
    ]);
    for model in ["local", "claude"] {
        let first = json!({"model": model, "stream": true, "tools": tools, "store": false,
            "include": ["reasoning.encrypted_content"],
            "input": [
                {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "you are codex"}]},
                {"type": "message", "role": "user", "content": [{"type": "input_text",
                 "text": "call: shell {\"command\":[\"echo\",\"hi\"]}"}]}]});
        let r = proxy.post("/v1/responses", &first).await;
        assert_eq!(r.status(), 200, "{model}");
        assert_eq!(r.headers()["x-lodestar-dropped"], "tool type `web_search`");
        let evs = events(r).await;
        let done = &evs.last().unwrap().1["response"];
        let call = done["output"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["type"] == "function_call")
            .unwrap_or_else(|| panic!("{model}: no call in {done:#}"))
            .clone();
        assert_eq!(call["name"], "shell");
        let args: Value = serde_json::from_str(call["arguments"].as_str().unwrap()).unwrap();
        assert_eq!(args, json!({"command": ["echo", "hi"]}));
        let streamed: String = evs
            .iter()
            .filter(|(n, _)| n == "response.function_call_arguments.delta")
            .map(|(_, d)| d["delta"].as_str().unwrap())
            .collect();
        assert_eq!(streamed, call["arguments"].as_str().unwrap());

        // The upstream got the function tools (the namespace flattened), not the hosted one.
        let sent = up.last_request().unwrap().body;
        let names: Vec<String> = sent["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                t.pointer("/function/name")
                    .or_else(|| t.get("name"))
                    .and_then(Value::as_str)
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(names, ["shell", "mcp__docs__search"], "{model}");

        // Codex replays the history with the call's output.
        let second = json!({"model": model, "tools": tools, "input": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "run it"}]},
            {"type": "function_call", "id": call["id"], "call_id": call["call_id"], "name": "shell",
             "arguments": call["arguments"]},
            {"type": "function_call_output", "call_id": call["call_id"], "output": "hi\n"}]});
        let r = proxy.post("/v1/responses", &second).await;
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        let text = v["output"][0]["content"][0]["text"].as_str().unwrap();
        let cid = call["call_id"].as_str().unwrap();
        assert!(
            text.starts_with(&format!("tool results: {cid}=hi")),
            "{model}: {text}"
        );
    }
}

#[tokio::test]
async fn a_native_upstream_gets_the_request_untouched() {
    let up = TestUpstream::start().await;
    let proxy = Proxy::start(&config(&up.url())).await;
    let body = r#"{"model":"native","input":"hi","store":false,"prompt_cache_key":"k1","client_metadata":{"a":1}}"#;
    let r = proxy
        .client
        .post(format!("{}/v1/responses", proxy.url))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    // (The test upstream has no /v1/responses: what matters is what reached it.)
    drop(r);
    let rec = up.last_request().unwrap();
    assert_eq!(rec.path, "/v1/responses");
    assert_eq!(
        std::str::from_utf8(&rec.raw).unwrap(),
        body.replace("\"native\"", "\"gpt-5\"")
    );
}

#[tokio::test]
async fn what_cannot_be_served_is_refused_in_the_openai_error_shape() {
    let up = TestUpstream::start().await;
    let proxy = Proxy::start(&config(&up.url())).await;
    // Forcing a hosted tool the target lacks.
    let r = proxy
        .post(
            "/v1/responses",
            &json!({"model": "local", "input": "hi", "tools": [{"type": "web_search"}],
                    "tool_choice": {"type": "web_search"}}),
        )
        .await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["param"], "tool_choice");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("web_search")
    );
    // A response Lodestar never stored: 404 in the Responses error shape.
    let r = proxy
        .post(
            "/v1/responses",
            &json!({"model": "local", "input": "hi", "previous_response_id": "resp_x"}),
        )
        .await;
    assert_eq!(r.status(), 404);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["param"], "previous_response_id");
    assert_eq!(v["error"]["code"], "previous_response_not_found");
    assert_eq!(up.calls(), 0);
}

#[tokio::test]
async fn a_broken_stream_ends_in_response_failed() {
    let up = TestUpstream::start().await;
    let proxy = Proxy::start(&config(&up.url())).await;
    let r = proxy
        .post(
            "/v1/responses",
            &json!({"model": "broken", "input": "hi", "stream": true}),
        )
        .await;
    let evs = events(r).await;
    let last = evs.last().unwrap();
    assert_eq!(last.0, "response.failed", "{evs:?}");
    assert_eq!(last.1["response"]["status"], "failed");
    assert!(evs.iter().all(|(n, _)| n != "response.completed"));
    for (i, (_, d)) in evs.iter().enumerate() {
        assert_eq!(d["sequence_number"], i as u64);
    }
}

#[tokio::test]
async fn a_namespaced_tool_is_called_back_under_its_namespace() {
    let up = TestUpstream::start().await;
    let proxy = Proxy::start(&config(&up.url())).await;
    let tools = json!([{"type": "namespace", "name": "multi_agent_v1", "tools": [
        {"type": "function", "name": "spawn_agent", "parameters": {"type": "object", "properties": {}}}]}]);
    for stream in [false, true] {
        let r = proxy
            .post(
                "/v1/responses",
                &json!({"model": "local", "stream": stream, "tools": tools, "input": [
                    {"role": "user", "content": "call: multi_agent_v1__spawn_agent {\"task\":\"x\"}"}]}),
            )
            .await;
        let output = if stream {
            events(r).await.last().unwrap().1["response"]["output"].clone()
        } else {
            r.json::<Value>().await.unwrap()["output"].clone()
        };
        let call = &output[0];
        assert_eq!(call["type"], "function_call", "{output:#}");
        assert_eq!(call["name"], "spawn_agent");
        assert_eq!(call["namespace"], "multi_agent_v1");
        // Replayed as the client has it, it reaches the upstream flattened again.
        let r = proxy
            .post(
                "/v1/responses",
                &json!({"model": "local", "tools": tools, "input": [
                    {"role": "user", "content": "go"},
                    {"type": "function_call", "call_id": call["call_id"], "name": "spawn_agent",
                     "namespace": "multi_agent_v1", "arguments": call["arguments"]},
                    {"type": "function_call_output", "call_id": call["call_id"], "output": "ok"}]}),
            )
            .await;
        assert_eq!(r.status(), 200);
        let sent = up.last_request().unwrap().body;
        let replayed = sent["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find_map(|m| m["tool_calls"].as_array().map(|c| c[0].clone()))
            .unwrap();
        assert_eq!(replayed["function"]["name"], "multi_agent_v1__spawn_agent");
    }
}

async fn respond(proxy: &Proxy, project: &str, body: Value) -> reqwest::Response {
    proxy
        .client
        .post(format!("{}/v1/responses", proxy.url))
        .header("x-lodestar-project", project)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn previous_response_id_expands_the_chain_for_a_chat_only_upstream() {
    let up = TestUpstream::start().await;
    let proxy = Proxy::start(&config(&up.url())).await;
    let first: Value = respond(&proxy, "", json!({"model": "local", "input": "one"}))
        .await
        .json()
        .await
        .unwrap();
    let id = first["id"].as_str().unwrap();
    // A streamed second turn: its id comes in response.created and response.completed.
    let r = respond(
        &proxy,
        "",
        json!({"model": "local", "input": "two", "previous_response_id": id, "stream": true}),
    )
    .await;
    let evs = events(r).await;
    let (kind, done) = evs.last().unwrap();
    assert_eq!(kind, "response.completed");
    let second = done["response"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        evs[0].1["response"]["id"],
        second.as_str(),
        "one id for the whole stream"
    );
    assert_ne!(second, id);
    let r = respond(
        &proxy,
        "",
        json!({"model": "local", "input": [{"role": "user", "content": "three"}],
               "previous_response_id": second}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let msgs = up.last_request().unwrap().body["messages"].clone();
    let said: Vec<(&str, &str)> = msgs
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap(),
                m["content"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        said,
        [
            ("user", "one"),
            ("assistant", "echo: one"),
            ("user", "two"),
            ("assistant", "echo: two"),
            ("user", "three")
        ]
    );
}

#[tokio::test]
async fn stored_responses_belong_to_their_project_and_expire() {
    let up = TestUpstream::start().await;
    let yaml = format!(
        "{}storage: {{ responses: {{ max_age: 300ms }} }}\n",
        config(&up.url())
    );
    let proxy = Proxy::start(&yaml).await;
    let first: Value = respond(&proxy, "alpha", json!({"model": "local", "input": "one"}))
        .await
        .json()
        .await
        .unwrap();
    let id = first["id"].as_str().unwrap();
    let next = json!({"model": "local", "input": "two", "previous_response_id": id});
    let r = respond(&proxy, "beta", next.clone()).await;
    assert_eq!(r.status(), 404, "another project's response is not there");
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "previous_response_not_found");
    assert_eq!(e["error"]["param"], "previous_response_id");
    let got = proxy
        .client
        .get(format!("{}/v1/responses/{id}", proxy.url))
        .header("x-lodestar-project", "alpha")
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(respond(&proxy, "alpha", next.clone()).await.status(), 200);
    // Past `max_age` it is gone.
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(respond(&proxy, "alpha", next).await.status(), 404);
}

#[tokio::test]
async fn the_response_store_is_bounded_by_size() {
    let up = TestUpstream::start().await;
    let yaml = format!(
        "{}storage: {{ responses: {{ max_mb: 0 }} }}\n",
        config(&up.url())
    );
    let proxy = Proxy::start(&yaml).await;
    let first: Value = respond(&proxy, "", json!({"model": "local", "input": "one"}))
        .await
        .json()
        .await
        .unwrap();
    // Committed, then pruned to the (zero) size limit by the writer.
    proxy.handle.ledger().store().unwrap().flush().await;
    let r = proxy
        .get(&format!("/v1/responses/{}", first["id"].as_str().unwrap()))
        .await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn custom_tools_go_out_as_functions_and_come_back_as_custom_tool_calls() {
    let up = TestUpstream::start().await;
    let proxy = Proxy::start(&config(&up.url())).await;
    let patch = "*** Begin Patch\n*** Add File: a.txt\n+hi\n*** End Patch";
    let call = json!({ "input": patch }).to_string();
    let tool = json!({"type": "custom", "name": "apply_patch", "description": "Edit files.",
                      "format": {"type": "grammar", "syntax": "lark", "definition": "start: /.+/"}});
    for stream in [false, true] {
        let body = json!({"model": "local", "instructions": "be brief", "temperature": 0.5,
            "tools": [tool], "stream": stream,
            "input": format!("edit it\ncall: apply_patch {call}")});
        let r = proxy.post("/v1/responses", &body).await;
        assert_eq!(r.status(), 200);
        let response = if stream {
            let evs = events(r).await;
            let kinds: Vec<&str> = evs.iter().map(|(k, _)| k.as_str()).collect();
            assert!(
                kinds.contains(&"response.custom_tool_call_input.done"),
                "{kinds:?}"
            );
            assert_eq!(
                evs[0].1["response"]["instructions"], "be brief",
                "echoed from the start"
            );
            evs.last().unwrap().1["response"].clone()
        } else {
            r.json::<Value>().await.unwrap()
        };
        let item = &response["output"][0];
        assert_eq!(item["type"], "custom_tool_call", "{response}");
        assert_eq!(item["name"], "apply_patch");
        assert_eq!(item["input"], patch);
        assert_eq!(
            response["tools"][0]["type"], "custom",
            "the request's tools are echoed"
        );
        assert_eq!(response["temperature"], 0.5);
        // The upstream saw a function with one string argument, the grammar in its description.
        let sent = up.last_request().unwrap().body;
        let f = &sent["tools"][0]["function"];
        assert_eq!(f["name"], "apply_patch");
        assert_eq!(f["parameters"]["required"], json!(["input"]));
        assert!(f["description"].as_str().unwrap().contains("start: /.+/"));
    }
    // The call and its output, replayed: an assistant tool call and a tool message.
    let body = json!({"model": "local", "tools": [tool], "input": [
        {"role": "user", "content": "edit it"},
        {"type": "custom_tool_call", "call_id": "call_9", "name": "apply_patch", "input": patch},
        {"type": "custom_tool_call_output", "call_id": "call_9", "output": "Done!"}]});
    let r = proxy.post("/v1/responses", &body).await;
    assert_eq!(r.status(), 200);
    let msgs = up.last_request().unwrap().body["messages"].clone();
    assert_eq!(msgs[1]["tool_calls"][0]["function"]["arguments"], call);
    assert_eq!(
        msgs[2],
        json!({"role": "tool", "tool_call_id": "call_9", "content": "Done!"})
    );
}
