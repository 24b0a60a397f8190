//! The official OpenAI Python SDK's Responses API (`client.responses.*`) drives the proxy's
//! `/v1/responses`, translated to a chat-only (Ollama) upstream and to an Anthropic one: text
//! with instructions, multi-turn input items, `previous_response_id` chains expanded, tool calls and
//! their outputs (single, parallel, streamed and reassembled by the SDK), reasoning, structured
//! output, a hosted tool dropped and named, usage with cached tokens, and errors as the SDK's
//! typed exceptions. The script checks what the SDK sees; this harness what reached the
//! upstream: the translated shapes per target, and that the client's key never left the proxy.
//! Needs `python3` with the packages in tests/sdk/requirements.txt (`.ci/run` installs them).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::{Value, json};
use support::proxy::{Proxy, TEST_KEYS};
use support::upstream::{Recorded, TestUpstream};

const CLIENT_KEY: &str = "client-key-not-forwarded";
const CHAT: &str = "/v1/chat/completions";
const MESSAGES: &str = "/v1/messages";

/// The two route families the script runs every case on: (name in the markers, upstream path).
const TARGETS: [(&str, &str); 2] = [("chat", CHAT), ("anthropic", MESSAGES)];

fn python() -> String {
    support::sdk::python("openai")
}

fn config(u: &str) -> String {
    let mut yaml = format!(
        r#"
providers:
  local: {{ kind: ollama, base_url: "{u}", discover_models: false }}
  claude: {{ kind: anthropic, base_url: "{u}", api_key_env: TEST_ANTHROPIC_KEY, discover_models: false }}
models:
  fast: {{ route: [local/qwen2.5-coder:7b] }}
  sonnet: {{ route: [claude/claude-sonnet-4-5] }}
"#
    );
    // The same knobs on both route families: `fast-…` chat-only, `sonnet-…` Anthropic.
    for (suffix, knobs) in [
        ("think", "think"),
        ("cached", "cached_7"),
        ("bad", "fail_400"),
        ("broken", "drop_mid_stream+chunks_6"),
        ("overloaded", "error_mid_stream+chunks_6"),
    ] {
        yaml.push_str(&format!(
            "  fast-{suffix}: {{ route: [local/m+{knobs}] }}\n  sonnet-{suffix}: {{ route: [claude/m+{knobs}] }}\n"
        ));
    }
    yaml
}

#[tokio::test(flavor = "multi_thread")]
async fn the_official_openai_python_sdk_responses_api_works_unchanged() {
    let python = python();
    let up = TestUpstream::start().await;
    let proxy = Proxy::start(&config(&up.url())).await;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/sdk/test_responses_sdk.py"
    );
    let out = tokio::process::Command::new(&python)
        .arg(script)
        .env("LODESTAR_BASE_URL", format!("{}/v1", proxy.url))
        .env_remove("OPENAI_BASE_URL")
        .env_remove("OPENAI_API_KEY")
        .output()
        .await
        .unwrap();
    let report = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "SDK tests failed:\n{report}\nstdout:\n{stdout}"
    );
    assert!(report.contains("OK"), "{report}");
    // Shown when a check below fails.
    eprintln!("{report}");

    client_key_never_reaches_an_upstream(&up);
    markers_stay_on_their_route(&up);
    text_and_instructions(&up);
    multi_turn_items(&up);
    previous_response_id_never_leaves(&up);
    tool_round_trips(&up);
    parallel_tool_round_trips(&up);
    hosted_tools_are_left_out(&up);
    reasoning_round_trips(&up);
    streams_ask_for_streams(&up);
    structured_output(&up);
}

// -- helpers ----------------------------------------------------------------------------------

/// `resp-<what>-<target>-marker`, as the script writes it.
fn marker(what: &str, target: &str) -> String {
    format!("resp-{what}-{target}-marker")
}

/// The requests to `path` whose raw body contains `marker`, oldest first.
fn with_marker(up: &TestUpstream, path: &str, marker: &str) -> Vec<Recorded> {
    up.requests()
        .into_iter()
        .filter(|r| r.path == path && String::from_utf8_lossy(&r.raw).contains(marker))
        .collect()
}

/// Exactly `N` requests to `path` carry `marker`.
fn n_with_marker<const N: usize>(up: &TestUpstream, path: &str, marker: &str) -> [Recorded; N] {
    <[Recorded; N]>::try_from(with_marker(up, path, marker))
        .unwrap_or_else(|v| panic!("{N} requests to {path} carrying {marker} expected: {v:#?}"))
}

fn messages_of(r: &Recorded) -> &Vec<Value> {
    r.body["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("no messages in {}", r.body))
}

fn roles(r: &Recorded) -> Vec<&str> {
    messages_of(r)
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect()
}

/// A message `content`'s text: the string, or its text parts joined.
fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter(|p| p["type"] == "text")
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

/// The names of the tools a request declared, in either target's shape.
fn tool_names(r: &Recorded) -> Vec<String> {
    r.body["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("no tools in {}", r.body))
        .iter()
        .map(|t| {
            t.pointer("/function/name")
                .or_else(|| t.get("name"))
                .and_then(Value::as_str)
                .unwrap()
                .to_string()
        })
        .collect()
}

/// The tool calls of an assistant message as (id, name, arguments object), in either shape.
fn calls_in(path: &str, assistant: &Value) -> Vec<(String, String, Value)> {
    assert_eq!(assistant["role"], "assistant", "{assistant}");
    if path == CHAT {
        assistant["tool_calls"]
            .as_array()
            .unwrap_or_else(|| panic!("no tool_calls in {assistant}"))
            .iter()
            .map(|c| {
                assert_eq!(c["type"], "function", "{c}");
                let args = c["function"]["arguments"].as_str().unwrap();
                (
                    c["id"].as_str().unwrap().to_string(),
                    c["function"]["name"].as_str().unwrap().to_string(),
                    serde_json::from_str(args).unwrap(),
                )
            })
            .collect()
    } else {
        assistant["content"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["type"] == "tool_use")
            .map(|b| {
                (
                    b["id"].as_str().unwrap().to_string(),
                    b["name"].as_str().unwrap().to_string(),
                    b["input"].clone(),
                )
            })
            .collect()
    }
}

/// The tool results a request ends with as (call id, text), in either shape.
fn results_at_end(path: &str, r: &Recorded) -> Vec<(String, String)> {
    let msgs = messages_of(r);
    if path == CHAT {
        let trailing = msgs
            .iter()
            .rev()
            .take_while(|m| m["role"] == "tool")
            .count();
        msgs[msgs.len() - trailing..]
            .iter()
            .map(|m| {
                (
                    m["tool_call_id"].as_str().unwrap().to_string(),
                    text_of(&m["content"]),
                )
            })
            .collect()
    } else {
        let last = msgs.last().unwrap();
        assert_eq!(last["role"], "user");
        last["content"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                assert_eq!(b["type"], "tool_result", "{last}");
                (
                    b["tool_use_id"].as_str().unwrap().to_string(),
                    text_of(&b["content"]),
                )
            })
            .collect()
    }
}

// -- checks -----------------------------------------------------------------------------------

/// The SDK sends `Authorization: Bearer client-key-not-forwarded`: no header or body upstream has
/// it; Anthropic requests carry the provider's key instead, chat (Ollama) ones none.
fn client_key_never_reaches_an_upstream(up: &TestUpstream) {
    let requests = up.requests();
    assert!(requests.len() > 40, "{} upstream requests", requests.len());
    for r in &requests {
        for (name, value) in &r.headers {
            assert!(
                !value.contains(CLIENT_KEY),
                "the client's key reached {} in `{name}`",
                r.path
            );
        }
        assert!(!String::from_utf8_lossy(&r.raw).contains(CLIENT_KEY));
        assert_eq!(r.header("authorization"), None, "{}", r.path);
        match r.path.as_str() {
            CHAT => assert_eq!(r.header("x-api-key"), None),
            MESSAGES => {
                assert_eq!(r.header("x-api-key"), Some(TEST_KEYS[1].1));
                assert!(r.header("anthropic-version").is_some());
            }
            other => panic!("unexpected upstream path {other}"),
        }
    }
}

/// Each family's requests went to its own upstream dialect only.
fn markers_stay_on_their_route(up: &TestUpstream) {
    for r in up.requests() {
        let raw = String::from_utf8_lossy(&r.raw);
        for (target, path) in TARGETS {
            if raw.contains(&format!("-{target}-marker")) {
                assert_eq!(r.path, path, "{raw}");
            }
        }
    }
}

/// `instructions` → the system prompt; `max_output_tokens` → `max_tokens`; `input` string → one
/// user message.
fn text_and_instructions(up: &TestUpstream) {
    for (target, path) in TARGETS {
        let mk = marker("text", target);
        let [r] = n_with_marker(up, path, &mk);
        assert_eq!(r.body["max_tokens"], 64, "{target}");
        assert!(r.body.get("stream").is_none_or(|s| s == false), "{target}");
        let msgs = messages_of(&r);
        if path == CHAT {
            assert_eq!(r.model(), Some("qwen2.5-coder:7b"));
            assert_eq!(
                msgs[0],
                json!({"role": "system", "content": "answer briefly"})
            );
            assert_eq!(msgs.len(), 2, "{msgs:#?}");
        } else {
            assert_eq!(r.model(), Some("claude-sonnet-4-5"));
            assert_eq!(text_of(&r.body["system"]), "answer briefly");
            assert_eq!(msgs.len(), 1, "{msgs:#?}");
        }
        let last = msgs.last().unwrap();
        assert_eq!(last["role"], "user");
        assert_eq!(text_of(&last["content"]), format!("hello {mk}"));
    }
}

/// Explicit input items, then the SDK's own output items sent back: one message per turn.
fn multi_turn_items(up: &TestUpstream) {
    for (target, path) in TARGETS {
        let mk = marker("multi", target);
        let [first, second] = n_with_marker(up, path, &mk);
        assert_eq!(roles(&first), ["user", "assistant", "user"], "{target}");
        assert_eq!(
            roles(&second),
            ["user", "assistant", "user", "assistant", "user"],
            "{target}"
        );
        let texts: Vec<String> = messages_of(&second)
            .iter()
            .map(|m| text_of(&m["content"]))
            .collect();
        assert_eq!(
            texts,
            [
                format!("my name is Ada {mk}"),
                "nice to meet you, Ada".into(),
                "what is my name?".into(),
                "echo: what is my name?".into(),
                "say it once more".into(),
            ],
            "{target}"
        );
    }
}

/// The refused request never reached an upstream (only the turn before it did).
/// Each turn chained by `previous_response_id` reached the upstream as the whole conversation
/// (the field itself never leaves): turn n carries every earlier question and answer.
fn previous_response_id_never_leaves(up: &TestUpstream) {
    for (target, path) in TARGETS {
        let mk = marker("previous", target);
        let asked = [
            format!("remember this {mk}"),
            "and now this".to_string(),
            "and finally this".to_string(),
            "streamed turn".to_string(),
            "after the stream".to_string(),
        ];
        let turns = with_marker(up, path, &mk);
        assert_eq!(turns.len(), 5, "{target}: {turns:#?}");
        for (n, r) in turns.iter().enumerate() {
            assert!(!String::from_utf8_lossy(&r.raw).contains("previous_response_id"));
            let texts: Vec<String> = messages_of(r)
                .iter()
                .filter(|m| m["role"] != "system")
                .map(|m| text_of(&m["content"]))
                .collect();
            let mut expected = Vec::new();
            for q in &asked[..n] {
                expected.push(q.clone());
                expected.push(format!("echo: {q}"));
            }
            expected.push(asked[n].clone());
            assert_eq!(texts, expected, "{target} turn {n}");
        }
    }
}

/// Function tools in each target's shape; the call and its output paired by the call id.
fn tool_round_trips(up: &TestUpstream) {
    for (target, path) in TARGETS {
        let [call, result] = n_with_marker(up, path, &marker("tool", target));
        let tools = call.body["tools"].as_array().unwrap();
        assert_eq!(tools.len(), 2, "{target}");
        let parameters = json!({"type": "object", "properties": {"city": {"type": "string"}},
                                "required": ["city"], "additionalProperties": false});
        if path == CHAT {
            assert_eq!(tools[0]["type"], "function");
            assert_eq!(tools[0]["function"]["name"], "get_weather");
            assert_eq!(
                tools[0]["function"]["description"],
                "Current weather in a city"
            );
            assert_eq!(tools[0]["function"]["parameters"], parameters);
            assert_eq!(roles(&result), ["user", "assistant", "tool"]);
        } else {
            assert_eq!(tools[0]["name"], "get_weather");
            assert_eq!(tools[0]["description"], "Current weather in a city");
            assert_eq!(tools[0]["input_schema"], parameters);
            assert!(tools[0].get("function").is_none());
            assert!(call.body["max_tokens"].as_u64().unwrap() > 0);
            assert_eq!(roles(&result), ["user", "assistant", "user"]);
        }
        let calls = calls_in(path, &messages_of(&result)[1]);
        assert_eq!(calls.len(), 1, "{target}: {calls:?}");
        let (id, name, args) = &calls[0];
        assert_eq!(name, "get_weather");
        assert_eq!(args, &json!({"city": "Paris"}));
        assert_eq!(
            results_at_end(path, &result),
            [(id.clone(), "sunny, 21C".to_string())],
            "{target}"
        );
    }
}

/// `tool_choice: required`; two calls in one assistant turn; both outputs in one tool turn.
fn parallel_tool_round_trips(up: &TestUpstream) {
    for (target, path) in TARGETS {
        let [call, results] = n_with_marker(up, path, &marker("parallel", target));
        if path == CHAT {
            assert_eq!(call.body["tool_choice"], "required");
            assert_eq!(roles(&results), ["user", "assistant", "tool", "tool"]);
        } else {
            assert_eq!(call.body["tool_choice"]["type"], "any");
            assert_eq!(roles(&results), ["user", "assistant", "user"]);
        }
        assert!(results.body.get("tool_choice").is_none(), "{target}");
        let calls = calls_in(path, &messages_of(&results)[1]);
        let names: Vec<&str> = calls.iter().map(|(_, n, _)| n.as_str()).collect();
        assert_eq!(names, ["get_weather", "get_time"], "{target}");
        assert_eq!(calls[1].2, json!({"city": "Tokyo", "format": "24h"}));
        assert_eq!(
            results_at_end(path, &results),
            [
                (calls[0].0.clone(), "sunny".to_string()),
                (calls[1].0.clone(), "09:00".to_string())
            ],
            "{target}"
        );
    }
}

/// `web_search` never reaches an upstream; the function tool beside it does.
fn hosted_tools_are_left_out(up: &TestUpstream) {
    for (target, path) in TARGETS {
        let [r] = n_with_marker(up, path, &marker("hosted", target));
        assert_eq!(tool_names(&r), ["get_weather"], "{target}");
        assert!(!String::from_utf8_lossy(&r.raw).contains("web_search"));
    }
}

/// `reasoning.effort: low` → `reasoning_effort` / a 2048-token thinking budget. The reasoning
/// item sent back has only its summary (no signature), so the Anthropic follow-up turns
/// thinking off rather than send an unsigned thinking block before the tool call.
fn reasoning_round_trips(up: &TestUpstream) {
    for (target, path) in TARGETS {
        let [first, second] = n_with_marker(up, path, &marker("reasoning", target));
        let assistant = &messages_of(&second)[1];
        assert_eq!(calls_in(path, assistant).len(), 1, "{target}");
        if path == CHAT {
            assert_eq!(first.body["reasoning_effort"], "low");
            assert_eq!(second.body["reasoning_effort"], "low");
            assert_eq!(roles(&second), ["user", "assistant", "tool"]);
        } else {
            assert_eq!(
                first.body["thinking"],
                json!({"type": "enabled", "budget_tokens": 2048}),
                "{}",
                first.body
            );
            assert!(second.body.get("thinking").is_none(), "{}", second.body);
            let blocks = assistant["content"].as_array().unwrap();
            assert!(
                blocks.iter().all(|b| b["type"] == "tool_use"),
                "{assistant}"
            );
            assert_eq!(roles(&second), ["user", "assistant", "user"]);
        }
        for r in [&first, &second] {
            assert_eq!(r.model(), Some("m+think"));
        }
    }
}

/// Streams are streamed upstream too (chat ones asking for the usage chunk); the streamed tool
/// round trip pairs its outputs with the calls it streamed.
fn streams_ask_for_streams(up: &TestUpstream) {
    for (target, path) in TARGETS {
        let mut streamed = Vec::new();
        for what in ["stream-text", "stream-create", "stream-reasoning"] {
            let [r] = n_with_marker(up, path, &marker(what, target));
            streamed.push(r);
        }
        let [call, results] = n_with_marker(up, path, &marker("stream-tools", target));
        for r in streamed.iter().chain([&call, &results]) {
            assert_eq!(r.body["stream"], true, "{target}: {}", r.body);
            if path == CHAT {
                assert_eq!(r.body["stream_options"]["include_usage"], true);
            }
        }
        assert_eq!(tool_names(&call), ["get_weather", "get_time"], "{target}");
        let calls = calls_in(path, &messages_of(&results)[1]);
        assert_eq!(calls[0].2, json!({"city": "Lima"}));
        assert_eq!(calls[1].2, json!({"city": "Quito", "format": "12h"}));
        let paired: Vec<String> = results_at_end(path, &results)
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        let ids: Vec<String> = calls.into_iter().map(|(id, _, _)| id).collect();
        assert_eq!(paired, ids, "{target}");
        // The text stream's instructions arrived as the system prompt.
        let text = &streamed[0];
        if path == CHAT {
            assert_eq!(messages_of(text)[0]["content"], "be brief");
        } else {
            assert_eq!(text_of(&text.body["system"]), "be brief");
        }
    }
}

/// `text.format` json_schema → chat `response_format`; refused before any Anthropic request.
fn structured_output(up: &TestUpstream) {
    let [r] = n_with_marker(up, CHAT, &marker("structured", "chat"));
    assert_eq!(
        r.body["response_format"],
        json!({"type": "json_schema", "json_schema": {
            "name": "x",
            "schema": {"type": "object", "properties": {"answer": {"type": "string"}},
                       "required": ["answer"], "additionalProperties": false},
            "strict": true,
        }})
    );
    assert!(with_marker(up, MESSAGES, &marker("structured", "anthropic")).is_empty());
    assert!(with_marker(up, CHAT, &marker("structured", "anthropic")).is_empty());
}
