//! The engine's admin HTTP API on loopback, as the tray uses it: one `Snapshot` per refresh,
//! the quick switch (`PUT /admin/api/routing`, the same switch as `lodestar use` and the UI),
//! and unloading an Ollama model. The same calls work against the in-process engine and an
//! attached `lodestar serve`, so both modes share one code path.
//!
//! Spend and budgets read the ledger (SQLite), so they are fetched only after a request
//! finished or a budget event (`mark_spend_dirty`), and at least every `SPEND_EVERY`; the rest
//! is in memory in the engine and cheap to ask every 2 s.
//! Owns HTTP to the engine and to Ollama; must not decide what the menu shows.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;

use crate::snapshot::{BudgetsJson, ModelsJson, Snapshot, Spend, StatusJson, SummaryJson};

/// Spend is re-read at least this often (a day or month rolls over with no request).
pub const SPEND_EVERY: Duration = Duration::from_secs(30);

/// The address to reach a server listening on `listen` from this machine (an unspecified
/// address such as 0.0.0.0 is reached on loopback: the admin API answers only loopback hosts).
pub fn connect_addr(listen: SocketAddr) -> SocketAddr {
    let mut a = listen;
    if a.ip().is_unspecified() {
        a.set_ip(match a.ip() {
            std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    a
}

/// An HTTP client for loopback calls: no proxy from the environment, short timeouts.
pub fn http_client(total: Option<Duration>) -> Result<reqwest::Client, String> {
    let mut b = reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(Duration::from_secs(2));
    if let Some(t) = total {
        b = b.timeout(t);
    }
    b.build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))
}

/// Whether a Lodestar answers `GET /health` at `addr` (the check before attaching).
pub async fn is_lodestar(addr: SocketAddr) -> bool {
    let Ok(http) = http_client(Some(Duration::from_secs(3))) else {
        return false;
    };
    let url = format!("http://{}/health", connect_addr(addr));
    match http.get(url).send().await {
        Ok(r) if r.status().is_success() => r
            .bytes()
            .await
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .is_some_and(|v| v["service"] == "lodestar"),
        _ => false,
    }
}

/// The quick switch's state (`GET`/`PUT /admin/api/routing`).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct Routing {
    pub default: Option<String>,
    pub local_only: bool,
    pub paused: bool,
}

#[derive(Default)]
struct SpendCache {
    spend: Option<Spend>,
    budgets: Option<BudgetsJson>,
    fetched: Option<Instant>,
    dirty: bool,
}

pub struct AdminClient {
    http: reqwest::Client,
    base: String,
    spend: std::sync::Mutex<SpendCache>,
}

impl AdminClient {
    pub fn new(addr: SocketAddr) -> Result<AdminClient, String> {
        Ok(AdminClient {
            http: http_client(Some(Duration::from_secs(10)))?,
            base: format!("http://{}", connect_addr(addr)),
            spend: std::sync::Mutex::new(SpendCache::default()),
        })
    }

    /// `http://ADDR`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Re-read spend and budgets at the next refresh.
    pub fn mark_spend_dirty(&self) {
        self.spend.lock().unwrap_or_else(|e| e.into_inner()).dirty = true;
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, String> {
        let url = format!("{}{path}", self.base);
        let resp = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| format!("{url}: {e}"))?;
        if !status.is_success() {
            return Err(format!(
                "{url} answered {status}: {}",
                String::from_utf8_lossy(&body).trim()
            ));
        }
        serde_json::from_slice(&body).map_err(|e| format!("{url}: unexpected answer: {e}"))
    }

    async fn send_json(
        &self,
        method: reqwest::Method,
        url: &str,
        body: String,
    ) -> Result<Vec<u8>, String> {
        let resp = self
            .http
            .request(method, url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| format!("{url}: {e}"))?;
        if status.is_success() {
            return Ok(body.to_vec());
        }
        Err(format!(
            "{url} answered {status}: {}",
            String::from_utf8_lossy(&body).trim()
        ))
    }

    /// Everything the tray shows, now.
    pub async fn snapshot(&self) -> Result<Snapshot, String> {
        let (models, status) = tokio::try_join!(
            self.get::<ModelsJson>("/admin/api/models"),
            self.get::<StatusJson>("/admin/api/status"),
        )?;
        let (spend, budgets) = self.spend().await;
        Ok(Snapshot::from_parts(models, status, spend, budgets))
    }

    async fn spend(&self) -> (Option<Spend>, Option<BudgetsJson>) {
        let due = {
            let c = self.spend.lock().unwrap_or_else(|e| e.into_inner());
            c.dirty || c.fetched.is_none_or(|t| t.elapsed() >= SPEND_EVERY)
        };
        if due {
            let (today, month, budgets) = tokio::join!(
                self.get::<SummaryJson>("/admin/api/costs/summary?period=today"),
                self.get::<SummaryJson>("/admin/api/costs/summary?period=month"),
                self.get::<BudgetsJson>("/admin/api/budgets"),
            );
            let spend = match (today, month) {
                (Ok(t), Ok(m)) => Some(Spend {
                    today_usd: t.total.cost_usd,
                    month_usd: m.total.cost_usd,
                    unpriced_month: m.total.unpriced_requests,
                }),
                // 503 storage_unavailable: the ledger is off.
                _ => None,
            };
            let mut c = self.spend.lock().unwrap_or_else(|e| e.into_inner());
            c.spend = spend;
            c.budgets = budgets.ok();
            c.fetched = Some(Instant::now());
            c.dirty = false;
        }
        let c = self.spend.lock().unwrap_or_else(|e| e.into_inner());
        (c.spend.clone(), c.budgets.clone())
    }

    /// The quick switch: `alias` becomes the default route for new requests (fallbacks are
    /// untouched: each alias keeps its own route). Returns the switch's new state.
    pub async fn set_default(&self, alias: &str) -> Result<Routing, String> {
        self.switch(serde_json::json!({ "default": alias })).await
    }

    /// Flip local-only mode from what the engine says now (not from a possibly stale
    /// snapshot: two quick clicks must end where they started).
    pub async fn toggle_local_only(&self) -> Result<Routing, String> {
        let now: Routing = self.get("/admin/api/routing").await?;
        self.switch(serde_json::json!({ "local_only": !now.local_only }))
            .await
    }

    /// Pause the proxy (model requests get 503 `paused`; the admin API keeps working), or
    /// resume it — from what the engine says now.
    pub async fn toggle_paused(&self) -> Result<Routing, String> {
        let now: Routing = self.get("/admin/api/routing").await?;
        self.switch(serde_json::json!({ "paused": !now.paused }))
            .await
    }

    async fn switch(&self, change: serde_json::Value) -> Result<Routing, String> {
        let url = format!("{}/admin/api/routing", self.base);
        let body = self
            .send_json(reqwest::Method::PUT, &url, change.to_string())
            .await?;
        serde_json::from_slice(&body).map_err(|e| format!("{url}: unexpected answer: {e}"))
    }

    /// The faces' preferences the engine keeps (notification mutes, start at login).
    pub async fn preferences(&self) -> Result<serde_json::Value, String> {
        self.get("/admin/api/preferences").await
    }

    /// Change some of the engine's preferences (`{"notifications": {KIND: bool}}`,
    /// `{"autostart": bool}`).
    pub async fn set_preferences(&self, change: serde_json::Value) -> Result<(), String> {
        let url = format!("{}/admin/api/preferences", self.base);
        self.send_json(reqwest::Method::PUT, &url, change.to_string())
            .await
            .map(drop)
    }

    /// Ask Ollama at `base_url` to unload `model` now (`keep_alive: 0`).
    pub async fn unload(&self, base_url: &str, model: &str) -> Result<(), String> {
        let url = format!("{}/api/generate", base_url.trim_end_matches('/'));
        let body = serde_json::json!({ "model": model, "keep_alive": 0 }).to_string();
        self.send_json(reqwest::Method::POST, &url, body)
            .await
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unspecified_listen_addresses_are_reached_on_loopback() {
        let a: SocketAddr = ([0, 0, 0, 0], 8080).into();
        assert_eq!(connect_addr(a).to_string(), "127.0.0.1:8080");
        let v6: SocketAddr = "[::]:9000".parse().unwrap_or(a);
        assert_eq!(connect_addr(v6).to_string(), "[::1]:9000");
        let lo: SocketAddr = ([127, 0, 0, 1], 1).into();
        assert_eq!(connect_addr(lo), lo);
    }
}
