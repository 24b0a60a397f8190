//! Checking `storage:` and `budgets:`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

use super::super::Storage;
use super::super::raw::{RawBudget, RawCache, RawOnExceeded, RawStorage};
use super::Checker;
use crate::ledger::{BudgetConfig, OnExceeded};

impl Checker<'_> {
    pub(super) fn storage(&mut self, v: Value) -> Storage {
        let Some(raw) = self.de::<RawStorage>(v, "storage") else {
            return Storage::default();
        };
        let mut s = Storage {
            enabled: raw.enabled.unwrap_or(true),
            ..Storage::default()
        };
        if let Some(p) = raw.path {
            if p.trim().is_empty() {
                self.error(
                    "storage.path",
                    "must be a file path (or leave it out for the default)",
                );
            } else {
                s.path = Some(expand_home(&p));
            }
        }
        if let Some(age) = raw.responses.max_age {
            s.responses.max_age = age;
        }
        if let Some(mb) = raw.responses.max_mb {
            s.responses.max_bytes = mb << 20;
        }
        s
    }

    pub(super) fn cache(&mut self, v: Value) -> crate::cache::CacheConfig {
        let mut c = crate::cache::CacheConfig::default();
        let Some(raw) = self.de::<RawCache>(v, "cache") else {
            return c;
        };
        if let Some(m) = raw.mode {
            c.mode = m;
        }
        if let Some(t) = raw.ttl {
            if t.is_zero() {
                self.error(
                    "cache.ttl",
                    "must be longer than 0 (use `mode: off` to turn the cache off)",
                );
            }
            c.ttl = t;
        }
        for (key, mb, into) in [
            ("cache.memory_mb", raw.memory_mb, &mut c.memory_bytes),
            ("cache.disk_mb", raw.disk_mb, &mut c.disk_bytes),
        ] {
            match mb {
                Some(mb) if mb >= 0.0 && mb.is_finite() => *into = (mb * 1048576.0) as u64,
                Some(_) => self.error(key, "must be a size in MiB, 0 or more"),
                None => {}
            }
        }
        if let Some(b) = raw.coalesce {
            c.coalesce = b;
        }
        c
    }

    pub(super) fn budgets(&mut self, v: Value, declared_aliases: &[String]) -> Vec<BudgetConfig> {
        if v.is_null() {
            return Vec::new();
        }
        let Some(raw) = self.de::<BTreeMap<String, RawBudget>>(v, "budgets") else {
            return Vec::new();
        };
        // In file order (the map is sorted by name).
        let mut raw: Vec<(String, RawBudget)> = raw.into_iter().collect();
        raw.sort_by_key(|(name, _)| self.lines.get(&format!("budgets.{name}")).copied());
        let mut out = Vec::new();
        for (name, b) in raw {
            let key = format!("budgets.{name}");
            if !(b.usd > 0.0 && b.usd.is_finite()) {
                self.error(&format!("{key}.usd"), "must be a positive amount of USD");
                continue;
            }
            let mut thresholds = b.thresholds.unwrap_or_else(|| vec![50.0, 80.0, 100.0]);
            if thresholds.iter().any(|t| !(*t > 0.0 && t.is_finite())) {
                self.error(
                    &format!("{key}.thresholds"),
                    "thresholds are percentages of `usd`, e.g. [50, 80, 100]",
                );
                continue;
            }
            thresholds.sort_by(f64::total_cmp);
            thresholds.dedup();
            if let Some(h) = b.hard_limit_usd
                && !(h > 0.0 && h.is_finite())
            {
                self.error(
                    &format!("{key}.hard_limit_usd"),
                    "must be a positive amount of USD",
                );
                continue;
            }
            let on_exceeded = match (b.on_exceeded, b.downgrade_to) {
                (None | Some(RawOnExceeded::Reject), None) => OnExceeded::Reject,
                (None | Some(RawOnExceeded::Downgrade), Some(alias)) => {
                    if !declared_aliases.contains(&alias) {
                        self.error(
                            &format!("{key}.downgrade_to"),
                            &format!(
                                "alias `{alias}` is not defined under `models:` (defined: {})",
                                super::names(declared_aliases.iter().map(String::as_str))
                            ),
                        );
                        continue;
                    }
                    OnExceeded::Downgrade(alias)
                }
                (Some(RawOnExceeded::Downgrade), None) => {
                    self.error(
                        &format!("{key}.downgrade_to"),
                        "`on_exceeded: downgrade` needs `downgrade_to: ALIAS`, the cheaper alias to use",
                    );
                    continue;
                }
                (Some(RawOnExceeded::Reject), Some(_)) => {
                    self.error(
                        &format!("{key}.downgrade_to"),
                        "`downgrade_to` is only used with `on_exceeded: downgrade`",
                    );
                    continue;
                }
            };
            if b.hard_limit_usd.is_none() && matches!(on_exceeded, OnExceeded::Downgrade(_)) {
                self.error(
                    &format!("{key}.hard_limit_usd"),
                    "downgrading happens at the hard limit: set `hard_limit_usd`",
                );
                continue;
            }
            out.push(BudgetConfig {
                name,
                period: b.period,
                usd: b.usd,
                thresholds,
                hard_limit_usd: b.hard_limit_usd,
                on_exceeded,
                project: b.project,
            });
        }
        out
    }
}

/// `~/x` → the home directory's `x`.
fn expand_home(p: &str) -> PathBuf {
    if let Some(rest) = p.strip_prefix("~/")
        && let Some(home) = directories::BaseDirs::new()
    {
        return home.home_dir().join(rest);
    }
    PathBuf::from(p)
}
