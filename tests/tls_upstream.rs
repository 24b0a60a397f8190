//! https upstreams (the path cloud providers take): chat JSON and streams through the TLS
//! client, a provider's extra CA (`ca_cert`), and an untrusted certificate handled as a failed
//! entry that falls back, not as an answer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::{Value, json};
use support::proxy::{Proxy, chat_body, route_of, sse_data};
use support::tls::TlsFront;
use support::upstream::TestUpstream;

async fn setup() -> (TestUpstream, TlsFront, Proxy) {
    let up = TestUpstream::start().await;
    let front = TlsFront::start(up.addr()).await;
    let dir = support::temp_dir(&format!("tls-{}", front.port));
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, &front.ca_pem).unwrap();
    let https = front.url();
    let yaml = format!(
        r#"
providers:
  cloud: {{ kind: openai, base_url: "{https}/v1", api_key_env: TEST_OPENAI_KEY, ca_cert: "{ca}", discover_models: false }}
  claude: {{ kind: anthropic, base_url: "{https}", api_key_env: TEST_ANTHROPIC_KEY, ca_cert: "{ca}", discover_models: false }}
  untrusted: {{ kind: openai-compatible, base_url: "{https}/v1", discover_models: false }}
  local: {{ kind: openai-compatible, base_url: "{plain}/v1", discover_models: false }}
models:
  gpt: {{ route: [cloud/gpt-4o-mini] }}
  sonnet: {{ route: [claude/claude-sonnet-4-5] }}
  guarded: {{ route: [untrusted/m, local/m] }}
"#,
        ca = ca.display(),
        plain = up.url(),
    );
    let proxy = Proxy::start(&yaml).await;
    (up, front, proxy)
}

#[tokio::test]
async fn chat_json_and_streams_go_through_tls_with_the_providers_key() {
    let (up, _front, proxy) = setup().await;
    let r = proxy.chat(chat_body("gpt", "over tls")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(route_of(&r), "cloud/gpt-4o-mini");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "echo: over tls");
    assert_eq!(
        up.last_request().unwrap().header("authorization"),
        Some("Bearer sk-test-openai-NEVER-LOG-1234")
    );
    let mut body = chat_body("gpt", "streamed over tls");
    body["stream"] = json!(true);
    let events = sse_data(proxy.chat(body).await).await;
    assert_eq!(events.last().unwrap(), "[DONE]");
}

#[tokio::test]
async fn anthropic_over_tls_is_translated() {
    let (up, _front, proxy) = setup().await;
    let r = proxy.chat(chat_body("sonnet", "hello claude")).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "echo: hello claude");
    assert_eq!(
        up.last_request().unwrap().header("x-api-key"),
        Some("sk-ant-test-NEVER-LOG-5678")
    );
}

#[tokio::test]
async fn an_untrusted_certificate_is_a_failed_entry_that_falls_back() {
    let (up, _front, proxy) = setup().await;
    let r = proxy.chat(chat_body("guarded", "hi")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(route_of(&r), "local/m");
    assert_eq!(
        up.calls(),
        1,
        "nothing reached the upstream through the untrusted front"
    );
}

#[test]
fn a_ca_cert_that_is_not_pem_is_a_config_error() {
    let dir = support::temp_dir("bad-ca");
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, "not a certificate").unwrap();
    let yaml = format!(
        "providers:\n  x: {{ kind: openai-compatible, base_url: \"https://example.test/v1\", ca_cert: \"{}\" }}\n",
        ca.display()
    );
    let err = lodestar::config::Config::from_yaml(
        &yaml,
        lodestar::config::ConfigOrigin::File("t.yml".into()),
        &|_| None,
    )
    .unwrap_err();
    assert_eq!(err.0[0].key, "providers.x.ca_cert");
    assert!(
        err.0[0].msg.contains("holds no PEM certificate"),
        "{}",
        err.0[0].msg
    );
}
