//! The cache key: SHA-256 of the request normalised — the client's API, the `provider/model`
//! routing resolved it to, the project, and the body with object keys sorted (so field order
//! and whitespace do not matter), minus the fields that do not change the answer.

use serde_json::Value;
use sha2::{Digest, Sha256};

pub type Key = [u8; 32];

/// Top-level fields that do not change the answer: how it is delivered (`stream`,
/// `stream_options`: a JSON request may be served from a cached stream and the other way
/// round), who asks (`user`, `metadata`, `safety_identifier`), and bookkeeping (`store`,
/// `prompt_cache_key`, `service_tier`, `client_metadata`). `model` is replaced by the
/// resolved `provider/model`.
const IGNORED: &[&str] = &[
    "model",
    "stream",
    "stream_options",
    "user",
    "metadata",
    "safety_identifier",
    "store",
    "prompt_cache_key",
    "service_tier",
    "client_metadata",
];

/// The key of `body` (a request to `endpoint`, e.g. `chat.completions`) routed to `target`
/// for `project`; None when the body is not a JSON object.
pub(crate) fn key(endpoint: &str, target: &str, project: &str, body: &Value) -> Option<Key> {
    let obj = body.as_object()?;
    let mut h = Sha256::new();
    h.update(endpoint.as_bytes());
    h.update([0]);
    h.update(target.as_bytes());
    h.update([0]);
    h.update(project.as_bytes());
    h.update([0]);
    let mut fields: Vec<(&String, &Value)> = obj
        .iter()
        .filter(|(k, _)| !IGNORED.contains(&k.as_str()))
        .collect();
    fields.sort_by(|a, b| a.0.cmp(b.0));
    let mut buf = Vec::with_capacity(256);
    buf.push(b'{');
    for (i, (k, v)) in fields.into_iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        canonical(&Value::String(k.clone()), &mut buf);
        buf.push(b':');
        canonical(v, &mut buf);
    }
    buf.push(b'}');
    h.update(&buf);
    Some(h.finalize().into())
}

/// `v` serialised with every object's keys sorted, no whitespace.
fn canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical(&Value::String(k.clone()), out);
                out.push(b':');
                canonical(&m[k], out);
            }
            out.push(b'}');
        }
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical(x, out);
            }
            out.push(b']');
        }
        // Numbers keep their text (`0` and `0.0` are different requests to a strict reader,
        // but the same to every model server: normalise integral floats).
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e15 && !n.is_i64() && !n.is_u64() => {
                out.extend_from_slice((f as i64).to_string().as_bytes())
            }
            _ => out.extend_from_slice(n.to_string().as_bytes()),
        },
        other => out.extend_from_slice(other.to_string().as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn k(body: Value) -> Key {
        key("chat.completions", "p/m", "", &body).unwrap_or_default()
    }

    #[test]
    fn order_whitespace_and_delivery_do_not_matter() {
        let a = k(
            json!({"model": "x", "temperature": 0, "messages": [{"role": "user", "content": "hi"}]}),
        );
        let b: Value = serde_json::from_str(
            r#"{ "messages" : [ {"content":"hi","role":"user"} ], "temperature": 0.0,
                 "stream": true, "stream_options": {"include_usage": true}, "model": "y" }"#,
        )
        .unwrap_or_default();
        assert_eq!(a, k(b));
    }

    #[test]
    fn what_changes_the_answer_changes_the_key() {
        let base = json!({"temperature": 0, "messages": [{"role": "user", "content": "hi"}]});
        let mut t = base.clone();
        t["temperature"] = json!(0.5);
        let mut tools = base.clone();
        tools["tools"] = json!([{"type": "function", "function": {"name": "f"}}]);
        assert_ne!(k(base.clone()), k(t));
        assert_ne!(k(base.clone()), k(tools));
        let ck = |t: &str, p: &str| key("chat.completions", t, p, &base);
        assert_ne!(ck("p/m", ""), ck("p/m", "other-project"));
        assert_ne!(ck("p/m", ""), ck("p/m2", ""));
        assert_ne!(ck("p/m", ""), key("messages", "p/m", "", &base));
    }
}
