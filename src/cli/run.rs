//! `lodestar run "PROMPT" [--model M]`: one prompt through the routing (an in-process engine on
//! a free loopback port, so it takes exactly the path a client's request takes), the answer
//! streamed to the terminal, then the route and usage.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;

use futures_util::StreamExt;
use serde_json::{Value, json};

use super::{init_logging, load_config, output, runtime};
use crate::translate::sse::SseReader;
use crate::{Engine, EngineOptions};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The prompt to send.
    prompt: String,
    /// An alias, `auto`, `provider/model`, or a model name a provider lists.
    #[arg(long, short, default_value = "auto")]
    model: String,
    /// A system prompt.
    #[arg(long)]
    system: Option<String>,
}

pub(crate) fn run(config: Option<&Path>, args: Args) -> Result<ExitCode, String> {
    let (cfg, _) = load_config(config)?;
    let _log = init_logging("warn");
    let rt = runtime(&cfg)?;
    rt.block_on(async move {
        let handle = Engine::start(
            cfg,
            EngineOptions {
                listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
                log_bodies: false,
                database: None,
                gpu_source: None,
            },
        )
        .await
        .map_err(|e| e.to_string())?;
        let result = ask(&handle.base_url(), &args).await;
        handle.shutdown().await;
        result
    })
}

async fn ask(base: &str, args: &Args) -> Result<ExitCode, String> {
    let mut messages = Vec::new();
    if let Some(s) = &args.system {
        messages.push(json!({"role": "system", "content": s}));
    }
    messages.push(json!({"role": "user", "content": args.prompt}));
    let body = json!({
        "model": args.model,
        "messages": messages,
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    let resp = reqwest::Client::new()
        .post(format!("{base}/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| format!("the in-process proxy did not answer: {e}"))?;
    let route = resp
        .headers()
        .get("x-lodestar-route")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_string();
    if !resp.status().is_success() {
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let msg = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(String::from))
            .unwrap_or(text);
        return Err(format!("{status}: {msg}"));
    }
    let mut reader = SseReader::default();
    let mut usage = Value::Null;
    let mut stream = resp.bytes_stream();
    let mut done = false;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| format!("the answer broke off: {e}"))?;
        for ev in reader.push(&chunk) {
            if ev.data == "[DONE]" {
                done = true;
                continue;
            }
            let Ok(v) = serde_json::from_str::<Value>(&ev.data) else {
                continue;
            };
            if let Some(err) = v.get("error") {
                output::chunk("\n");
                return Err(format!(
                    "the answer broke off: {}",
                    err["message"].as_str().unwrap_or("unknown error")
                ));
            }
            if let Some(t) = v["choices"][0]["delta"]["content"].as_str() {
                output::chunk(t);
            }
            if !v["usage"].is_null() {
                usage = v["usage"].clone();
            }
        }
    }
    output::chunk("\n");
    let u = |k: &str| usage[k].as_u64().map_or("?".to_string(), |n| n.to_string());
    output::note(format!(
        "route: {route}  usage: {} prompt (cached {}), {} completion tokens{}",
        u("prompt_tokens"),
        usage["prompt_tokens_details"]["cached_tokens"]
            .as_u64()
            .unwrap_or(0),
        u("completion_tokens"),
        if done {
            ""
        } else {
            "  (stream ended without [DONE])"
        }
    ));
    Ok(ExitCode::SUCCESS)
}
