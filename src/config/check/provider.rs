//! Checking one provider: its address, its key (env or keyring, never echoed), timeouts, pool
//! and extra CA certificates.

use super::super::raw::{self, RawProvider};
use super::super::{Pool, ProviderConfig, Secret, Timeouts};
use super::Checker;
use crate::providers::ProviderKind;

impl Checker<'_> {
    pub(super) fn provider(
        &mut self,
        name: String,
        mut raw: RawProvider,
    ) -> Option<ProviderConfig> {
        let key = format!("providers.{name}");
        let base_url = match raw
            .base_url
            .clone()
            .or_else(|| raw.kind.default_base_url().map(String::from))
        {
            Some(u) => match check_url(&u) {
                Ok(u) => u,
                Err(msg) => {
                    self.error(&format!("{key}.base_url"), &msg);
                    return None;
                }
            },
            None => {
                self.error(
                    &format!("{key}.base_url"),
                    &format!(
                        "kind `{}` has no default address; set `base_url`, e.g. `http://127.0.0.1:8000/v1`",
                        raw.kind
                    ),
                );
                return None;
            }
        };
        let (api_key, key_source) = self.api_key(&key, &raw);
        if raw.kind == ProviderKind::Anthropic
            && raw.responses_api == Some(raw::MessagesApi::Native)
        {
            self.error(
                &format!("{key}.responses_api"),
                "Anthropic has no Responses API; its requests are translated to Messages. \
                 Remove `responses_api`",
            );
        }
        if raw.kind == ProviderKind::Anthropic
            && raw.messages_api == Some(raw::MessagesApi::Translate)
        {
            self.error(
                &format!("{key}.messages_api"),
                "Anthropic speaks the Messages API itself, so its requests are never translated; \
                 remove `messages_api`",
            );
        }
        if api_key.is_none()
            && raw.kind.requires_key()
            && !raw.pass_client_key
            && !self
                .errors
                .iter()
                .any(|e| e.key == key || e.key.starts_with(&format!("{key}.")))
        {
            self.error(
                &key,
                &format!(
                    "kind `{}` needs an API key: add `api_key_env: VAR` (an environment variable \
                     that holds it) or `api_key_keyring: NAME` (an OS keyring entry)",
                    raw.kind
                ),
            );
        }
        let d = Timeouts::default();
        let timeouts = Timeouts {
            connect: raw.timeouts.connect.unwrap_or(d.connect),
            first_byte: raw.timeouts.first_byte.unwrap_or(d.first_byte),
            idle: raw.timeouts.idle.unwrap_or(d.idle),
            total: raw.timeouts.total.unwrap_or(d.total),
        };
        for (k, t) in [
            ("connect", timeouts.connect),
            ("first_byte", timeouts.first_byte),
            ("idle", timeouts.idle),
            ("total", timeouts.total),
        ] {
            if t.is_zero() {
                self.error(
                    &format!("{key}.timeouts.{k}"),
                    "must be longer than 0s; leave it out for the default",
                );
            }
        }
        let ca_cert = raw.ca_cert.as_ref().and_then(|path| {
            let at = format!("{key}.ca_cert");
            match std::fs::read(path) {
                Ok(pem) => match reqwest::Certificate::from_pem_bundle(&pem) {
                    Ok(certs) if !certs.is_empty() => Some((path.into(), pem)),
                    _ => {
                        self.error(
                            &at,
                            &format!("`{path}` holds no PEM certificate (-----BEGIN CERTIFICATE-----)"),
                        );
                        None
                    }
                },
                Err(e) => {
                    self.error(&at, &format!("cannot read `{path}`: {e}"));
                    None
                }
            }
        });
        let dp = Pool::default();
        if let Some(t) = &raw.price_table
            && !crate::ledger::prices::SHIPPED_VENDOR_NAMES.contains(&t.as_str())
        {
            self.error(
                &format!("{key}.price_table"),
                &format!(
                    "unknown price table `{t}`; valid tables are {}",
                    crate::ledger::prices::SHIPPED_VENDOR_NAMES.join(", ")
                ),
            );
        }
        if raw
            .cost_per_hour
            .is_some_and(|c| !(c >= 0.0 && c.is_finite()))
        {
            self.error(
                &format!("{key}.cost_per_hour"),
                "must be a non-negative number of USD per hour",
            );
        }
        for (model, r) in &raw.prices {
            let rates = [
                Some(r.input),
                Some(r.output),
                r.cache_read,
                r.cache_write_5m,
                r.cache_write_1h,
                r.reasoning,
            ];
            if rates
                .iter()
                .flatten()
                .any(|v| !(*v >= 0.0 && v.is_finite()))
            {
                self.error(
                    &format!("{key}.prices.{model}"),
                    "prices are non-negative USD per million tokens",
                );
            }
        }
        for (model, n) in &raw.context_window {
            if *n == 0 {
                self.error(
                    &format!("{key}.context_window.{model}"),
                    "a context window is a number of tokens, 1 or more",
                );
            }
        }
        let probe = self.probe(&key, raw.kind, &base_url, raw.probe.take());
        let on_down = self.on_down(&key, raw.on_down.take());
        Some(ProviderConfig {
            local: ProviderConfig::local_at(raw.kind, &base_url),
            probe,
            on_down,
            ca_cert,
            kind: raw.kind,
            base_url,
            api_key,
            key_source,
            headers: raw.headers.into_iter().collect(),
            models: raw.models,
            discover_models: raw.discover_models.unwrap_or(true),
            timeouts,
            pool: Pool {
                max_idle_per_host: raw.pool.max_idle_per_host.unwrap_or(dp.max_idle_per_host),
                idle_timeout: raw.pool.idle_timeout.unwrap_or(dp.idle_timeout),
            },
            pricing: crate::config::Pricing {
                prices: raw.prices.into_iter().collect(),
                cost_per_hour: raw.cost_per_hour,
                table: raw.price_table,
            },
            context_window: raw.context_window.clone().into_iter().collect(),
            default_max_tokens: raw.default_max_tokens.unwrap_or(4096),
            pass_client_key: raw.pass_client_key,
            responses_native: match (raw.kind, raw.responses_api) {
                (ProviderKind::Anthropic, _) => false,
                (_, Some(raw::MessagesApi::Native)) => true,
                (ProviderKind::OpenAi, None) => true,
                (_, _) => false,
            },
            messages_native: match (raw.kind, raw.messages_api) {
                (ProviderKind::Anthropic, _) => true,
                (_, Some(raw::MessagesApi::Native)) => true,
                (_, _) => false,
            },
            name,
        })
    }

    /// Resolve the key from env or keyring. Error text names the variable or entry, never a value.
    fn api_key(&mut self, key: &str, raw: &RawProvider) -> (Option<Secret>, Option<String>) {
        let set = [
            raw.api_key_env.is_some(),
            raw.api_key_keyring.is_some(),
            raw.api_key.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if set > 1 {
            self.error(
                key,
                "set only one of `api_key_env`, `api_key_keyring` and `api_key`",
            );
            return (None, None);
        }
        let env_var = match (&raw.api_key_env, &raw.api_key) {
            (Some(v), _) => Some((v.clone(), format!("{key}.api_key_env"))),
            (None, Some(literal)) => match literal.strip_prefix("os.environ/") {
                Some(v) => Some((v.to_string(), format!("{key}.api_key"))),
                None => {
                    self.error(
                        &format!("{key}.api_key"),
                        "API keys are not read from the config file (it gets copied, shared and \
                         committed); put the key in an environment variable and write \
                         `api_key_env: VAR`, or store it in the OS keyring and write \
                         `api_key_keyring: NAME`",
                    );
                    return (None, None);
                }
            },
            (None, None) => None,
        };
        if let Some((var, at)) = env_var {
            return match (self.env)(&var) {
                Some(v) => (Some(Secret::new(v)), Some(format!("env {var}"))),
                None => {
                    self.error(
                        &at,
                        &format!(
                            "environment variable `{var}` is not set or empty; export it before \
                             starting Lodestar (`export {var}=...`) or remove this provider"
                        ),
                    );
                    (None, None)
                }
            };
        }
        if let Some(entry) = &raw.api_key_keyring {
            return match crate::secrets::keyring_get(entry) {
                Ok(v) => (Some(Secret::new(v)), Some(format!("keyring {entry}"))),
                Err(msg) => {
                    self.error(&format!("{key}.api_key_keyring"), &msg);
                    (None, None)
                }
            };
        }
        (None, None)
    }
}

pub(super) fn check_url(u: &str) -> Result<String, String> {
    match reqwest::Url::parse(u) {
        // Credentials in a URL end up in logs, banners and error text: keys belong in
        // api_key_env / api_key_keyring.
        Ok(url)
            if !url.username().is_empty() || url.password().is_some() || url.query().is_some() =>
        {
            Err(
                "must not carry credentials or a query string (they would show in logs and \
                 errors); put the key in `api_key_env` or `api_key_keyring`, other parameters in \
                 `headers`"
                    .to_string(),
            )
        }
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
            Ok(u.trim_end_matches('/').to_string())
        }
        Ok(_) => Err(format!(
            "`{u}` must be an http:// or https:// URL with a host"
        )),
        Err(e) => Err(format!(
            "`{u}` is not a valid URL ({e}); write e.g. `http://127.0.0.1:11434`"
        )),
    }
}

impl ProviderKind {
    fn default_base_url(self) -> Option<&'static str> {
        match self {
            ProviderKind::OpenAi => Some("https://api.openai.com/v1"),
            ProviderKind::Anthropic => Some("https://api.anthropic.com"),
            ProviderKind::Ollama => Some("http://127.0.0.1:11434"),
            ProviderKind::OpenAiCompatible => None,
        }
    }

    fn requires_key(self) -> bool {
        match self {
            ProviderKind::OpenAi | ProviderKind::Anthropic => true,
            ProviderKind::Ollama | ProviderKind::OpenAiCompatible => false,
        }
    }
}
