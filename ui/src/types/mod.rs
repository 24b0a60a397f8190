//! The admin API's JSON, as the UI reads it. Field names follow the engine's types
//! (`ledger::query`, `ledger::budget`, `health::gpu`, `health::breaker`, `cache`, the admin
//! handlers); every field the UI can do without has a default, so an older or newer engine
//! still renders what it sends.

use serde::Deserialize;

/// Sums over a set of requests (`ledger::query::Totals`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Totals {
    pub requests: i64,
    pub errors: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_read_tokens: i64,
    pub cache_write_5m_tokens: i64,
    pub cache_write_1h_tokens: i64,
    pub reasoning_tokens: i64,
    pub cost_usd: f64,
    pub unpriced_requests: i64,
    pub cache_hits: i64,
    pub saved_usd: f64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Group {
    pub key: String,
    #[serde(flatten)]
    pub totals: Totals,
}

/// `GET /admin/api/costs/summary`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Summary {
    pub since_ms: i64,
    pub until_ms: i64,
    #[serde(default)]
    pub group_by: String,
    #[serde(default)]
    pub total: Totals,
    #[serde(default)]
    pub groups: Vec<Group>,
    /// What routing to local models saved (absent from older engines).
    #[serde(default)]
    pub local_savings: LocalSavings,
}

/// Local answers priced as their alias's first priced cloud entry.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct LocalSavings {
    pub saved_usd: f64,
    pub requests: i64,
    pub by_alias: Vec<AliasSaving>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct AliasSaving {
    pub alias: String,
    pub priced_as: String,
    pub requests: i64,
    pub saved_usd: f64,
}

/// One bucket of one group (`ledger::query::Point`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Point {
    pub t_ms: i64,
    pub key: String,
    #[serde(default)]
    pub requests: i64,
    #[serde(default)]
    pub tokens: i64,
    #[serde(default)]
    pub cost_usd: f64,
    #[serde(default)]
    pub unpriced_requests: i64,
}

/// `GET /admin/api/costs/timeseries`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Timeseries {
    pub since_ms: i64,
    pub until_ms: i64,
    #[serde(default)]
    pub bucket: String,
    #[serde(default)]
    pub group_by: String,
    #[serde(default)]
    pub points: Vec<Point>,
}

/// `ledger::budget::BudgetStatus`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Budget {
    pub name: String,
    pub period: String,
    #[serde(default)]
    pub project: Option<String>,
    pub usd: f64,
    #[serde(default)]
    pub hard_limit_usd: Option<f64>,
    #[serde(default)]
    pub spent_usd: f64,
    #[serde(default)]
    pub reserved_usd: f64,
    #[serde(default)]
    pub period_start_ms: i64,
    #[serde(default)]
    pub period_end_ms: i64,
    #[serde(default)]
    pub thresholds: Vec<f64>,
    #[serde(default)]
    pub fired: Vec<f64>,
}

/// `ledger::query::Pace`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Pace {
    pub usd_per_hour: f64,
    pub usd_per_day: f64,
    pub budget_usd_per_day: f64,
    pub projected_usd: f64,
    pub method: String,
    pub verdict: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BudgetEntry {
    pub budget: Budget,
    #[serde(default)]
    pub pace: Pace,
}

/// `GET /admin/api/budgets`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Budgets {
    #[serde(default)]
    pub budgets: Vec<BudgetEntry>,
}

/// One row of the request log (`ledger::query::LoggedRequest`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct LoggedRequest {
    pub ts_ms: i64,
    pub request_id: String,
    pub project: String,
    pub client_api: String,
    pub endpoint: String,
    pub alias: String,
    pub provider: String,
    pub model: String,
    pub rule: String,
    pub status: i64,
    pub outcome: String,
    pub stream: bool,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_read_tokens: i64,
    pub cache_write_5m_tokens: i64,
    pub cache_write_1h_tokens: i64,
    pub reasoning_tokens: i64,
    pub tokens_estimated: bool,
    pub cost_usd: Option<f64>,
    pub saved_usd: f64,
    pub latency_ms: f64,
    pub ttfb_ms: Option<f64>,
    pub cache_hit: bool,
    pub fallbacks: i64,
}

impl LoggedRequest {
    /// Whether a filter's text appears in the fields people search by (case-insensitive):
    /// project, alias, provider/model, status code, outcome, request id, client API.
    pub fn matches(&self, needle: &str) -> bool {
        let n = needle.trim().to_lowercase();
        if n.is_empty() {
            return true;
        }
        [
            self.project.as_str(),
            self.alias.as_str(),
            self.provider.as_str(),
            self.model.as_str(),
            self.outcome.as_str(),
            self.request_id.as_str(),
            self.client_api.as_str(),
            self.rule.as_str(),
        ]
        .iter()
        .any(|f| f.to_lowercase().contains(&n))
            || self.status.to_string().starts_with(&n)
            || format!("{}/{}", self.provider, self.model)
                .to_lowercase()
                .contains(&n)
    }

    /// 2xx and not marked as an error.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// `GET /admin/api/requests`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Requests {
    #[serde(default)]
    pub requests: Vec<LoggedRequest>,
}

mod error;
mod health;
mod models;
mod prefs;
mod project_form;
mod projects;

pub use error::*;
pub use health::*;
pub use models::*;
pub use prefs::*;
pub use project_form::*;
pub use projects::*;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_reads_flattened_group_totals() {
        let s: Summary = serde_json::from_str(
            r#"{"since_ms":1,"until_ms":2,"group_by":"model",
                "total":{"requests":3,"errors":0,"input_tokens":30,"output_tokens":12,
                  "cache_read_tokens":0,"cache_write_5m_tokens":0,"cache_write_1h_tokens":0,
                  "reasoning_tokens":0,"cost_usd":0.0123,"unpriced_requests":1,"cache_hits":1,"saved_usd":0.002},
                "groups":[{"key":"openai/gpt-4o-mini","requests":3,"cost_usd":0.0123,"input_tokens":30}]}"#,
        )
        .unwrap();
        assert_eq!(s.total.requests, 3);
        assert_eq!(s.groups[0].key, "openai/gpt-4o-mini");
        assert_eq!(s.groups[0].totals.input_tokens, 30);
        assert_eq!(s.groups[0].totals.saved_usd, 0.0);
        assert_eq!(s.local_savings, LocalSavings::default(), "absent: none");
        let s: Summary = serde_json::from_str(
            r#"{"since_ms":1,"until_ms":2,"local_savings":{"saved_usd":0.5,"requests":7,
                "by_alias":[{"alias":"fast","priced_as":"openai/gpt-4o-mini","requests":7,"saved_usd":0.5}]}}"#,
        )
        .unwrap();
        assert_eq!(s.local_savings.requests, 7);
        assert_eq!(s.local_savings.by_alias[0].priced_as, "openai/gpt-4o-mini");
    }

    #[test]
    fn gpu_status_is_tagged() {
        let none: GpuStatus =
            serde_json::from_str(r#"{"status":"none","reason":"no NVIDIA driver"}"#).unwrap();
        assert_eq!(
            none,
            GpuStatus::None {
                reason: "no NVIDIA driver".into()
            }
        );
        let starting: GpuStatus = serde_json::from_str(r#"{"status":"starting"}"#).unwrap();
        assert_eq!(starting, GpuStatus::Starting);
        let ok: GpuStatus = serde_json::from_str(
            r#"{"status":"ok","gpus":[{"index":0,"name":"NVIDIA H100","utilization_pct":37,
               "memory_used_bytes":1073741824,"memory_total_bytes":4294967296,"temperature_c":51,
               "power_w":123.4,"processes":[{"pid":42,"memory_bytes":null}]}]}"#,
        )
        .unwrap();
        let GpuStatus::Ok { gpus } = ok else { panic!() };
        assert_eq!(gpus[0].memory_fraction(), 0.25);
        assert_eq!(gpus[0].processes[0].memory_bytes, None);
    }

    #[test]
    fn gpu_report_carries_the_model_switches() {
        let r: GpuReport = serde_json::from_str(
            r#"{"status":"none","reason":"no NVIDIA driver","remote":[],
               "switches":[{"provider":"local","model":"qwen3:8b","took_ms":2350.4,
                 "at_ms":1795000000000,"unloaded":["llama3:8b"]},
                {"provider":"local","model":"llama3:8b","took_ms":850.0,"at_ms":1794999990000}]}"#,
        )
        .unwrap();
        assert_eq!(
            r.gpu,
            GpuStatus::None {
                reason: "no NVIDIA driver".into()
            }
        );
        let s = r.switches.unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].model, "qwen3:8b");
        assert_eq!(s[0].took_ms, 2350.4);
        assert_eq!(s[0].at_ms, 1_795_000_000_000);
        assert_eq!(s[0].unloaded, vec!["llama3:8b".to_string()]);
        assert!(s[1].unloaded.is_empty());

        // With GPUs, and from an engine that does not report switches.
        let r: GpuReport = serde_json::from_str(
            r#"{"status":"ok","gpus":[{"index":0,"name":"NVIDIA H100","utilization_pct":37,
               "memory_used_bytes":1,"memory_total_bytes":4}]}"#,
        )
        .unwrap();
        let GpuStatus::Ok { gpus } = r.gpu else {
            panic!()
        };
        assert_eq!(gpus[0].utilization_pct, 37);
        assert_eq!(r.switches, None);
        let r: GpuReport = serde_json::from_str(r#"{"status":"starting","switches":[]}"#).unwrap();
        assert_eq!(r.gpu, GpuStatus::Starting);
        assert_eq!(r.switches, Some(vec![]));
    }

    #[test]
    fn switch_medians_per_model() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0]), Some(3.0));
        assert_eq!(median(&[5.0, 1.0, 3.0]), Some(3.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[f64::NAN, 2.0]), Some(2.0));
        let sw = |model: &str, took_ms: f64| ModelSwitch {
            provider: "local".into(),
            model: model.into(),
            took_ms,
            ..Default::default()
        };
        let m = switch_medians(&[
            sw("a", 1000.0),
            sw("b", 4000.0),
            sw("a", 3000.0),
            sw("a", 2000.0),
            sw("b", 100.0),
        ]);
        assert_eq!(m.len(), 2);
        assert_eq!(
            (m[0].model.as_str(), m[0].switches, m[0].median_ms),
            ("b", 2, 2050.0)
        );
        assert_eq!(
            (m[1].model.as_str(), m[1].switches, m[1].median_ms),
            ("a", 3, 2000.0)
        );
        assert!(switch_medians(&[]).is_empty());
    }

    #[test]
    fn route_entries_say_their_context_window() {
        let m: Models = serde_json::from_str(
            r#"{"aliases":[{"name":"fast","route":[
                 {"target":"local/qwen3:8b","context_tokens":32768,"context_source":"loaded"},
                 {"target":"or/x","context_tokens":200000,"context_source":"listing"},
                 {"target":"or/y","context_tokens":131072,"context_source":"config"},
                 {"target":"or/z","context_tokens":4096,"context_source":"something-new"},
                 {"target":"or/w","context_tokens":null,"context_source":null},
                 {"target":"old/engine"}]}]}"#,
        )
        .unwrap();
        let labels: Vec<_> = m.aliases[0]
            .route
            .iter()
            .map(|e| e.context_label())
            .collect();
        let l = |a: &str, b: &str| Some((a.to_string(), b.to_string()));
        assert_eq!(
            labels[0],
            l(
                "32K",
                "32,768 tokens — the context Ollama loaded the model with"
            )
        );
        assert_eq!(
            labels[1],
            l("200K", "200,000 tokens — from the provider's model list")
        );
        assert_eq!(
            labels[2],
            l(
                "128K",
                "131,072 tokens — set by context_window in the config"
            )
        );
        assert_eq!(labels[3], l("4K", "4,096 tokens"));
        assert_eq!(labels[4], None);
        assert_eq!(labels[5], None);
    }

    #[test]
    fn status_reads_the_engines_provider_health() {
        let p: ProviderStatus = serde_json::from_str(
            r#"{"name":"local","kind":"ollama","base_url":"http://x","local":true,"models_listed":1,
               "listing_error":null,"health":{"provider":"local","state":"down","since_ms":5,
               "last_error":"connection refused","last_probe":{"ok":false,"latency_ms":1.5,"error":"refused","at_ms":9},
               "latency_ms":{"p50":10.0,"p95":20.0,"p99":30.0,"samples":4},
               "models":[{"model":"qwen","state":"up","last_error":null,"latency_ms":null,"requests_in_window":3,"failures_in_window":0}],
               "uptime":{"1h":0.5,"24h":null,"7d":null,"probes":2}}}"#,
        )
        .unwrap();
        let h = p.health.unwrap();
        assert_eq!(h.last_probe_at(), Some(9));
        assert_eq!(h.latency_ms.unwrap().p99, Some(30.0));
        assert_eq!(h.models[0].requests_in_window, 3);
        assert_eq!(p.local, Some(true));
    }

    #[test]
    fn status_providers_with_and_without_health() {
        let s: Status = serde_json::from_str(
            r#"{"version":"0.1.0","uptime_s":5,"providers":[
                 {"name":"local","kind":"ollama","base_url":"http://127.0.0.1:11434","models_listed":2,
                  "listing_error":null,"loaded":[{"name":"qwen","size_bytes":5,"vram_bytes":4,"expires_at":null}],
                  "health":{"state":"up","latency_ms":{"p50":12.0,"p95":40.5},"uptime":{"1h":0.99,"24h":null,"7d":1.0},
                            "last_error":null,"last_probe_ms":1000}},
                 {"name":"openai","kind":"openai","base_url":"https://x","models_listed":0,"listing_error":"401"}],
               "circuits":[{"target":"openai/gpt-4o","state":"open","consecutive_failures":3,"last_error":"500","retry_in_s":12.5},
                           {"target":"openaix/m","state":"half_open","consecutive_failures":1,"last_error":null,"retry_in_s":null}],
               "gpu":{"status":"none","reason":"no driver"}}"#,
        )
        .unwrap();
        let h = s.providers[0].health.as_ref().unwrap();
        assert_eq!(h.uptime.as_ref().unwrap().h1, Some(0.99));
        assert_eq!(h.uptime.as_ref().unwrap().h24, None);
        assert_eq!(h.latency_ms.as_ref().unwrap().p95, Some(40.5));
        assert!(s.providers[1].health.is_none());
        assert_eq!(s.providers[0].loaded.as_ref().unwrap()[0].vram_bytes, 4);
        assert_eq!(s.circuits_of("openai").len(), 1);
        assert_eq!(s.circuits_of("openaix").len(), 1);
    }

    #[test]
    fn models_and_routing_change() {
        let m: Models = serde_json::from_str(
            r#"{"default":"fast","local_only":false,"aliases":[{"name":"fast","fallback_alias":null,
               "route":[{"target":"local/qwen2.5-coder:7b","provider":"local","model":"qwen2.5-coder:7b",
               "local":true,"circuit":"closed","input_usd_per_mtok":0.0,"output_usd_per_mtok":null}]}]}"#,
        )
        .unwrap();
        assert_eq!(m.default.as_deref(), Some("fast"));
        assert_eq!(m.aliases[0].route[0].output_usd_per_mtok, None);
        let body = serde_json::to_string(&RoutingChange {
            default: Some(Some("smart".into())),
            local_only: None,
        })
        .unwrap();
        assert_eq!(body, r#"{"default":"smart"}"#);
        let body = serde_json::to_string(&RoutingChange {
            default: Some(None),
            local_only: None,
        })
        .unwrap();
        assert_eq!(body, r#"{"default":null}"#);
        let body = serde_json::to_string(&RoutingChange {
            default: None,
            local_only: Some(true),
        })
        .unwrap();
        assert_eq!(body, r#"{"local_only":true}"#);
    }

    #[test]
    fn errors_carry_the_engines_message_and_param() {
        let e = ApiError::from_response(
            "/admin/api/routing",
            400,
            r#"{"error":{"message":"no alias `nosuch`; defined: fast, smart","type":"invalid_request_error","param":"default","code":null}}"#,
        );
        assert_eq!(e.message, "no alias `nosuch`; defined: fast, smart");
        assert_eq!(e.param.as_deref(), Some("default"));
        let e = ApiError::from_response(
            "/admin/api/models",
            404,
            r#"{"error":{"message":"no endpoint at /admin/api/models"}}"#,
        );
        assert!(
            e.message.contains("not offered by this engine"),
            "{}",
            e.message
        );
        let e = ApiError::from_response("/x", 502, "bad gateway");
        assert_eq!(e.message, "/x answered HTTP 502: bad gateway");
        assert!(
            ApiError::from_response(
                "/x",
                503,
                r#"{"error":{"message":"the database is not open"}}"#
            )
            .storage_unavailable()
        );
    }

    #[test]
    fn request_filter_searches_the_fields_people_type() {
        let r = LoggedRequest {
            project: "webapp".into(),
            alias: "fast".into(),
            provider: "local".into(),
            model: "qwen".into(),
            status: 502,
            outcome: "upstream_error".into(),
            ..Default::default()
        };
        assert!(r.matches(""));
        assert!(r.matches("WEB"));
        assert!(r.matches("fast"));
        assert!(r.matches("local/qw"));
        assert!(r.matches("50"));
        assert!(r.matches("upstream"));
        assert!(!r.matches("200"));
        assert!(!r.ok());
    }

    #[test]
    fn logged_requests_read_the_engines_rows() {
        let r: Requests = serde_json::from_str(
            r#"{"requests":[{"ts_ms":1,"request_id":"r1","project":"default","client_api":"openai",
               "endpoint":"/v1/chat/completions","alias":"fast","provider":"local","model":"m","rule":"alias",
               "status":200,"outcome":"ok","stream":false,"input_tokens":3,"output_tokens":4,
               "cache_read_tokens":0,"cache_write_5m_tokens":0,"cache_write_1h_tokens":0,"reasoning_tokens":0,
               "tokens_estimated":false,"cost_usd":null,"saved_usd":0.0,"latency_ms":12.5,"ttfb_ms":null,
               "cache_hit":false,"fallbacks":1}]}"#,
        )
        .unwrap();
        assert_eq!(r.requests[0].fallbacks, 1);
        assert_eq!(r.requests[0].cost_usd, None);
    }

    #[test]
    fn budgets_with_pace() {
        let b: Budgets = serde_json::from_str(
            r#"{"budgets":[{"budget":{"name":"monthly","period":"month","project":null,"usd":50.0,
               "hard_limit_usd":60.0,"spent_usd":12.5,"reserved_usd":0.0,"period_start_ms":0,"period_end_ms":10,
               "thresholds":[50.0,80.0],"fired":[]},
               "pace":{"usd_per_hour":0.1,"usd_per_day":2.4,"budget_usd_per_day":1.6,"projected_usd":70.0,
               "method":"m","verdict":"3.0 days early"}}]}"#,
        )
        .unwrap();
        assert_eq!(b.budgets[0].budget.hard_limit_usd, Some(60.0));
        assert_eq!(b.budgets[0].pace.verdict, "3.0 days early");
    }
}
