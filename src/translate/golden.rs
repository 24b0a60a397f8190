//! Golden tests: every fixture in `tests/fixtures/translate/` is an input in one format and the
//! exact output expected in the other, written by hand from the public API references (not
//! produced by this code). See `tests/fixtures/translate/README.md` for the fixture format.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::sse::SseReader;
use super::{Format, Lossy, OnUnsupported, TargetInfo};

fn format(v: &Value) -> Format {
    match v.as_str() {
        Some("chat") => Format::Chat,
        Some("messages") => Format::Messages,
        Some("responses") => Format::Responses,
        other => panic!("unknown format {other:?}"),
    }
}

/// Removes every key named in `ignore`, at any depth.
fn scrub(v: &mut Value, ignore: &[String]) {
    match v {
        Value::Object(m) => {
            for k in ignore {
                m.remove(k);
            }
            for (_, x) in m.iter_mut() {
                scrub(x, ignore);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| scrub(x, ignore)),
        _ => {}
    }
}

/// SSE text for a list of `{event?, data}` objects (`data` a JSON value or a raw string).
fn sse_text(events: &[Value]) -> String {
    let mut out = String::new();
    for e in events {
        if let Some(name) = e.get("event").and_then(Value::as_str) {
            out.push_str(&format!("event: {name}\n"));
        }
        let data = match &e["data"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        out.push_str(&format!("data: {data}\n\n"));
    }
    out
}

/// SSE text back into `{event?, data}` objects (`data` parsed when it is JSON).
fn sse_events(text: &str) -> Vec<Value> {
    let mut reader = SseReader::default();
    reader
        .push(text.as_bytes())
        .into_iter()
        .map(|ev| {
            let mut o = Map::new();
            if let Some(name) = ev.event {
                o.insert("event".into(), name.into());
            }
            let data = serde_json::from_str::<Value>(&ev.data).unwrap_or(Value::String(ev.data));
            o.insert("data".into(), data);
            Value::Object(o)
        })
        .collect()
}

fn run(path: &Path) -> Result<(), String> {
    let fixture: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap())
        .map_err(|e| format!("not JSON: {e}"))?;
    let from = format(&fixture["from"]);
    let to = format(&fixture["to"]);
    let opts = &fixture["options"];
    let opt_bool = |k: &str| opts.get(k).and_then(Value::as_bool).unwrap_or(false);
    let ignore: Vec<String> = fixture
        .get("ignore")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_else(|| vec!["created".into()]);
    let mut expected = fixture["expected"].clone();
    // Reply and stream fixtures of Responses clients: the tools the request declared (how
    // namespaced and custom tools' calls are given back).
    let groups = match opts.get("request_tools") {
        Some(tools) => {
            let req = serde_json::json!({"model": "m", "input": "x", "tools": tools});
            let conv = Format::Responses
                .parse_request(req.to_string().as_bytes())
                .map_err(|e| e.to_string())?;
            super::ToolGroups::of(&conv)
        }
        None => super::ToolGroups::default(),
    };
    let mut got = match fixture["kind"].as_str() {
        Some("request") => {
            let input = fixture["input"]
                .as_object()
                .ok_or("input must be an object")?;
            let policy = match opts.get("on_unsupported").and_then(Value::as_str) {
                Some("drop") => OnUnsupported::Drop,
                _ => OnUnsupported::Error,
            };
            let mut lossy = Lossy::new(policy);
            let info = TargetInfo {
                strict_openai: opt_bool("strict_openai"),
                default_max_tokens: opts
                    .get("default_max_tokens")
                    .and_then(Value::as_u64)
                    .unwrap_or(4096) as u32,
            };
            let raw = serde_json::to_vec(input).map_err(|e| e.to_string())?;
            let built = from
                .parse_request(&raw)
                .and_then(|conv| to.build_request(&conv, "target-model", info, &mut lossy))
                .map(|s| serde_json::from_str::<Value>(&s).unwrap());
            match built {
                Ok(v) => {
                    if lossy.dropped.is_empty() {
                        v
                    } else {
                        serde_json::json!({"request": v, "dropped": lossy.dropped})
                    }
                }
                Err(e) => serde_json::json!({"error": {"param": e.param, "message": e.message}}),
            }
        }
        Some("reply") => {
            let input = fixture["input"].to_string();
            let reply = from
                .parse_reply(input.as_bytes())
                .ok_or("input is not a reply of its format")?;
            serde_json::from_str(&to.build_reply(&reply, &groups)).map_err(|e| e.to_string())?
        }
        Some("stream") => {
            let input = sse_text(fixture["input"].as_array().ok_or("input must be events")?);
            let mut reader = SseReader::default();
            let mut decoder = from.decoder().ok_or("no stream reader for this format")?;
            let mut encoder = to.encoder(
                opt_bool("include_usage"),
                opts.get("input_estimate")
                    .and_then(Value::as_u64)
                    .unwrap_or(0),
                groups,
            );
            let mut out = String::new();
            // Small reads, so events arrive split across them as they do over TCP.
            for piece in input.as_bytes().chunks(7) {
                for ev in reader.push(piece) {
                    for hub in decoder.decode(&ev) {
                        out.extend(encoder.encode(hub));
                    }
                }
            }
            if let Some(ev) = reader.finish() {
                for hub in decoder.decode(&ev) {
                    out.extend(encoder.encode(hub));
                }
            }
            for hub in decoder.end_of_body() {
                out.extend(encoder.encode(hub));
            }
            Value::Array(sse_events(&out))
        }
        other => return Err(format!("unknown kind {other:?}")),
    };
    // An expected error matches when its param is equal and its message contains the text.
    if let Some(want) = expected.pointer("/error/message_contains").cloned() {
        let param_ok = got.pointer("/error/param") == expected.pointer("/error/param");
        let msg = got
            .pointer("/error/message")
            .and_then(Value::as_str)
            .unwrap_or("");
        if param_ok && msg.contains(want.as_str().unwrap_or("")) {
            return Ok(());
        }
        return Err(format!(
            "expected error {expected:#}\n got {:#}",
            serde_json::to_string_pretty(&got).unwrap()
        ));
    }
    scrub(&mut got, &ignore);
    scrub(&mut expected, &ignore);
    if got == expected {
        Ok(())
    } else {
        Err(format!(
            "\nexpected: {}\n     got: {}",
            serde_json::to_string_pretty(&expected).unwrap(),
            serde_json::to_string_pretty(&got).unwrap()
        ))
    }
}

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/translate");
    let mut all: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    all.sort();
    all
}

#[test]
fn every_golden_fixture_translates_exactly() {
    let all = fixtures();
    assert!(all.len() >= 10, "fixtures missing: {}", all.len());
    let failures: Vec<String> = all
        .iter()
        .filter_map(|p| run(p).err().map(|e| format!("{}: {e}", p.display())))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} fixtures failed:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n\n")
    );
}

/// Tool-call arguments compacted, so raw client JSON and re-serialized JSON compare equal.
fn normalized(mut conv: super::Conversation) -> super::Conversation {
    fn fix(blocks: &mut [super::Block]) {
        for b in blocks {
            match b {
                super::Block::ToolCall { arguments, .. } => {
                    if let Ok(v) = serde_json::from_str::<Value>(arguments) {
                        *arguments = v.to_string();
                    }
                }
                super::Block::ToolResult { content, .. } => fix(content),
                _ => {}
            }
        }
    }
    for m in &mut conv.messages {
        fix(&mut m.content);
    }
    conv
}

#[test]
fn the_typed_messages_reader_agrees_with_the_tree_reader() {
    let mut inputs: Vec<Value> = fixtures()
        .iter()
        .map(|p| serde_json::from_str::<Value>(&std::fs::read_to_string(p).unwrap()).unwrap())
        .filter(|f| f["kind"] == "request" && f["from"] == "messages")
        .map(|f| f["input"].clone())
        .collect();
    let session =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/claude-code/session.json");
    inputs.push(serde_json::from_str(&std::fs::read_to_string(session).unwrap()).unwrap());
    let mut typed_read = 0;
    for input in &inputs {
        let raw = serde_json::to_vec(input).unwrap();
        let Some(typed) = super::messages::parse_request_typed(&raw) else {
            continue;
        };
        typed_read += 1;
        let tree = super::messages::parse_request(input.as_object().unwrap()).unwrap();
        assert_eq!(normalized(typed), normalized(tree), "{input:#}");
    }
    // Most requests take the typed path; the tree reader is the fallback.
    assert!(
        typed_read * 4 >= inputs.len() * 3,
        "{typed_read} of {}",
        inputs.len()
    );
}
