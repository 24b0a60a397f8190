//! Prices: the table shipped with Lodestar (`prices.yaml`, USD per million tokens, with the
//! page and date each provider's figures were read from), prices imported with
//! `lodestar prices import` (LiteLLM's `model_prices_and_context_window.json` format), and the
//! config's per-provider `prices:` / `cost_per_hour:`, in rising precedence.
//!
//! A model with no known price costs `None` (unknown), never 0. Local providers (kind
//! `ollama`, or a base URL on this machine or the LAN) are free unless `cost_per_hour` says
//! what their GPU time costs.

use std::collections::HashMap;
use std::path::Path;
use std::sync::LazyLock;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::usage::Tokens;
use crate::config::ProviderConfig;
use crate::providers::ProviderKind;

/// USD per million tokens. Missing cache/reasoning rates fall back as `cost` documents.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Rates {
    pub input: f64,
    pub output: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_5m: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_1h: Option<f64>,
    /// Only where reasoning is priced apart from output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<f64>,
}

impl Rates {
    /// The cost of `t` in USD. A rate the provider does not list is taken as the input rate
    /// (cache read/write) or the output rate (reasoning): the tokens are never free by
    /// omission. Reasoning is part of output and is not billed twice.
    pub fn cost(&self, t: &Tokens) -> f64 {
        let plain_out = t.output.saturating_sub(t.reasoning);
        let per = |n: u64, rate: f64| n as f64 * rate;
        (per(t.input, self.input)
            + per(t.cache_read, self.cache_read.unwrap_or(self.input))
            + per(t.cache_write_5m, self.cache_write_5m.unwrap_or(self.input))
            + per(t.cache_write_1h, self.cache_write_1h.unwrap_or(self.input))
            + per(plain_out, self.output)
            + per(t.reasoning, self.reasoning.unwrap_or(self.output)))
            / 1e6
    }
}

/// What one `provider/model` costs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Price {
    Free,
    Tokens(Rates),
    /// USD per hour of the request's duration (a local GPU's running cost).
    PerHour(f64),
    Unknown,
}

impl Price {
    /// USD for one request; None when the price is unknown.
    pub fn cost(&self, t: &Tokens, latency: Duration) -> Option<f64> {
        match self {
            Price::Free => Some(0.0),
            Price::Tokens(r) => Some(r.cost(t)),
            Price::PerHour(usd) => Some(usd * latency.as_secs_f64() / 3600.0),
            Price::Unknown => None,
        }
    }

    /// Whether a money budget can ever be spent by this model.
    pub fn is_free(&self) -> bool {
        match self {
            Price::Free => true,
            Price::Tokens(r) => [
                Some(r.input),
                Some(r.output),
                r.cache_read,
                r.cache_write_5m,
                r.cache_write_1h,
                r.reasoning,
            ]
            .iter()
            .flatten()
            .all(|v| *v == 0.0),
            Price::PerHour(usd) => *usd == 0.0,
            Price::Unknown => false,
        }
    }
}

/// One provider's block in a price table.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct VendorPrices {
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub read: String,
    pub models: HashMap<String, Rates>,
}

/// Prices by vendor (`openai`, `anthropic`, `gemini`, `groq`, `mistral`, `deepseek`,
/// `openrouter`), then by model name as that vendor's API spells it.
#[derive(Debug, Clone, Default)]
pub struct PriceTable {
    pub vendors: HashMap<String, VendorPrices>,
}

/// The table shipped with Lodestar.
pub const SHIPPED: &str = include_str!("prices.yaml");

static SHIPPED_TABLE: LazyLock<PriceTable> =
    LazyLock::new(|| PriceTable::parse_yaml(SHIPPED).unwrap_or_default());

impl PriceTable {
    pub fn shipped() -> &'static PriceTable {
        &SHIPPED_TABLE
    }

    pub fn parse_yaml(text: &str) -> Result<PriceTable, String> {
        let doc = crate::config::parse_yaml_value(text)?;
        let vendors: HashMap<String, VendorPrices> =
            serde_json::from_value(doc).map_err(|e| e.to_string())?;
        Ok(PriceTable { vendors })
    }

    /// `other`'s entries over this table's.
    pub fn layered(&self, other: &PriceTable) -> PriceTable {
        let mut out = self.clone();
        for (v, p) in &other.vendors {
            let e = out.vendors.entry(v.clone()).or_default();
            if !p.source.is_empty() {
                e.source = p.source.clone();
                e.read = p.read.clone();
            }
            e.models
                .extend(p.models.iter().map(|(k, r)| (k.clone(), *r)));
        }
        out
    }

    /// A vendor's rates for `model`: the exact name, else without a date suffix
    /// (`-20250929`, `-2024-08-06`) or `-latest`. A `-latest` alias is not priced as the
    /// newest dated entry: it may already point at a model the table does not have.
    pub fn lookup(&self, vendor: &str, model: &str) -> Option<Rates> {
        let v = self.vendors.get(vendor)?;
        if let Some(r) = v.models.get(model) {
            return Some(*r);
        }
        let model = model.strip_prefix("models/").unwrap_or(model);
        if let Some(r) = v.models.get(model) {
            return Some(*r);
        }
        let base = undated(model);
        if let Some(r) = v.models.get(base) {
            return Some(*r);
        }
        None
    }

    /// Read LiteLLM's `model_prices_and_context_window.json`: per-token USD costs keyed by
    /// model, `litellm_provider` saying whose. Entries for vendors Lodestar does not price,
    /// and entries without both an input and an output cost, are skipped (counted).
    pub fn from_litellm(json: &Value) -> Result<(PriceTable, usize), String> {
        let Some(map) = json.as_object() else {
            return Err("expected a JSON object of model entries".into());
        };
        let mut t = PriceTable::default();
        let mut skipped = 0;
        for (key, e) in map {
            let provider = e.get("litellm_provider").and_then(Value::as_str);
            let vendor = match provider {
                Some("openai" | "text-completion-openai") => "openai",
                Some("anthropic") => "anthropic",
                Some("gemini") => "gemini",
                Some("groq") => "groq",
                Some("mistral" | "codestral") => "mistral",
                Some("deepseek") => "deepseek",
                Some("openrouter") => "openrouter",
                _ => {
                    skipped += 1;
                    continue;
                }
            };
            let per_m = |k: &str| e.get(k).and_then(Value::as_f64).map(|v| round9(v * 1e6));
            let (Some(input), Some(output)) = (
                per_m("input_cost_per_token"),
                per_m("output_cost_per_token"),
            ) else {
                skipped += 1;
                continue;
            };
            let rates = Rates {
                input,
                output,
                cache_read: per_m("cache_read_input_token_cost"),
                cache_write_5m: per_m("cache_creation_input_token_cost"),
                cache_write_1h: per_m("cache_creation_input_token_cost_above_1hr"),
                reasoning: per_m("output_cost_per_reasoning_token"),
            };
            let prefix = format!("{}/", provider.unwrap_or(vendor));
            let model = key.strip_prefix(&prefix).unwrap_or(key);
            t.vendors
                .entry(vendor.to_string())
                .or_insert_with(|| VendorPrices {
                    source: "lodestar prices import".into(),
                    ..Default::default()
                })
                .models
                .insert(model.to_string(), rates);
        }
        Ok((t, skipped))
    }

    pub fn to_yaml_json(&self) -> Value {
        serde_json::to_value(&self.vendors).unwrap_or(Value::Null)
    }

    /// Read a table saved by `prices import` (JSON in our own shape).
    pub fn load_json(path: &Path) -> Result<PriceTable, String> {
        let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
        let vendors = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        Ok(PriceTable { vendors })
    }
}

/// Float noise from per-token × 1e6 (3e-7 × 1e6 = 0.30000000000000004) rounded away.
fn round9(v: f64) -> f64 {
    (v * 1e9).round() / 1e9
}

/// `model` without a trailing date (`-20250929`, `-2024-08-06`) or `-latest`.
fn undated(model: &str) -> &str {
    if let Some(s) = model.strip_suffix("-latest") {
        return s;
    }
    let b = model.as_bytes();
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    let n = b.len();
    if n > 9 && b[n - 9] == b'-' && digits(&b[n - 8..]) {
        return &model[..n - 9];
    }
    if n > 11
        && b[n - 11] == b'-'
        && digits(&b[n - 10..n - 6])
        && b[n - 6] == b'-'
        && digits(&b[n - 5..n - 3])
        && b[n - 3] == b'-'
        && digits(&b[n - 2..])
    {
        return &model[..n - 11];
    }
    model
}

/// Which shipped vendor table prices a provider, from its kind and host.
pub fn vendor_of(p: &ProviderConfig) -> Option<&'static str> {
    if let Some(v) = &p.pricing.table {
        return SHIPPED_VENDOR_NAMES
            .iter()
            .find(|n| **n == v.as_str())
            .copied();
    }
    let host = host_of(&p.base_url);
    let by_host = [
        ("api.openai.com", "openai"),
        ("api.anthropic.com", "anthropic"),
        ("generativelanguage.googleapis.com", "gemini"),
        ("api.groq.com", "groq"),
        ("api.mistral.ai", "mistral"),
        ("codestral.mistral.ai", "mistral"),
        ("api.deepseek.com", "deepseek"),
        ("openrouter.ai", "openrouter"),
    ];
    if let Some((_, v)) = by_host.iter().find(|(h, _)| host == *h) {
        return Some(v);
    }
    match p.kind {
        ProviderKind::OpenAi => Some("openai"),
        ProviderKind::Anthropic => Some("anthropic"),
        ProviderKind::OpenAiCompatible | ProviderKind::Ollama => None,
    }
}

/// The vendor names a provider's `price_table:` may name.
pub const SHIPPED_VENDOR_NAMES: &[&str] = &[
    "openai",
    "anthropic",
    "gemini",
    "groq",
    "mistral",
    "deepseek",
    "openrouter",
];

pub(crate) fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let hostport = rest.split('/').next().unwrap_or("");
    let hostport = hostport.rsplit_once('@').map_or(hostport, |(_, h)| h);
    if let Some(v6) = hostport.strip_prefix('[') {
        return v6.split(']').next().unwrap_or("");
    }
    hostport.split(':').next().unwrap_or("")
}

/// Whether a provider runs on this machine or the local network (free unless priced).
pub fn is_local(p: &ProviderConfig) -> bool {
    p.is_local()
}

/// Resolves the price of any `provider/model`, built once per config.
#[derive(Debug, Clone, Default)]
pub struct Pricer {
    table: PriceTable,
    providers: HashMap<String, ProviderPricing>,
}

#[derive(Debug, Clone)]
struct ProviderPricing {
    vendor: Option<&'static str>,
    local: bool,
    cost_per_hour: Option<f64>,
    overrides: HashMap<String, Rates>,
}

impl Pricer {
    /// `imported` (from `prices import`) over the shipped table; config overrides over both.
    pub fn new(providers: &[ProviderConfig], imported: Option<&PriceTable>) -> Pricer {
        let table = match imported {
            Some(i) => PriceTable::shipped().layered(i),
            None => PriceTable::shipped().clone(),
        };
        let providers = providers
            .iter()
            .map(|p| {
                (
                    p.name.clone(),
                    ProviderPricing {
                        vendor: vendor_of(p),
                        // An explicit `price_table` says the provider is billed, wherever it is.
                        local: is_local(p) && p.pricing.table.is_none(),
                        cost_per_hour: p.pricing.cost_per_hour,
                        overrides: p.pricing.prices.clone(),
                    },
                )
            })
            .collect();
        Pricer { table, providers }
    }

    pub fn price(&self, provider: &str, model: &str) -> Price {
        let Some(p) = self.providers.get(provider) else {
            return Price::Unknown;
        };
        if let Some(r) = p.overrides.get(model).or_else(|| p.overrides.get("*")) {
            return Price::Tokens(*r);
        }
        if let Some(usd) = p.cost_per_hour {
            return Price::PerHour(usd);
        }
        if p.local {
            return Price::Free;
        }
        if p.vendor == Some("openrouter") && model.ends_with(":free") {
            return Price::Free;
        }
        match p.vendor.and_then(|v| self.table.lookup(v, model)) {
            Some(r) => Price::Tokens(r),
            None => Price::Unknown,
        }
    }

    pub fn table(&self) -> &PriceTable {
        &self.table
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_latest_are_stripped() {
        assert_eq!(undated("claude-sonnet-4-5-20250929"), "claude-sonnet-4-5");
        assert_eq!(undated("gpt-4o-2024-08-06"), "gpt-4o");
        assert_eq!(undated("mistral-large-latest"), "mistral-large");
        assert_eq!(undated("gpt-4o"), "gpt-4o");
        assert_eq!(undated("o3"), "o3");
    }

    #[test]
    fn shipped_table_parses_and_is_dated() {
        let t = match PriceTable::parse_yaml(SHIPPED) {
            Ok(t) => t,
            Err(e) => panic!("prices.yaml does not parse: {e}"),
        };
        for name in SHIPPED_VENDOR_NAMES {
            let v = t
                .vendors
                .get(*name)
                .unwrap_or_else(|| panic!("{name} missing"));
            assert!(
                !v.source.is_empty() && !v.read.is_empty(),
                "{name}: source/read"
            );
            assert!(!v.models.is_empty(), "{name}: no models");
        }
    }

    #[test]
    fn hosts() {
        assert_eq!(host_of("https://api.groq.com/openai/v1"), "api.groq.com");
        assert_eq!(host_of("http://[::1]:8080/v1"), "::1");
        assert_eq!(host_of("http://user@10.0.0.5:11434"), "10.0.0.5");
    }
}
