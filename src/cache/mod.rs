//! The response cache: exact-match answers by a hash of the normalised request (`key`), in a
//! memory tier (moka, bounded in bytes) over an optional disk tier (the engine's SQLite
//! database, its own size limit, survives restarts), with single-flight for identical
//! requests in flight. Stores only complete answers: never errors, cut or cancelled streams.
//!
//! Owns: keys, tiers, expiry, coalescing, the cache's numbers. Must not route, price or talk to
//! upstreams; the request path (server/proxy.rs) decides when to look up and when to store.

pub(crate) mod entry;
pub(crate) mod key;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

pub(crate) use entry::Entry;
pub use key::Key;

use crate::store::{Store, Write, lock, now_ms};

/// Which requests are cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheMode {
    /// Only requests that ask for one answer: temperature 0, or a `seed`.
    Deterministic,
    /// Every request.
    All,
    Off,
}

/// `cache:` in the config.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    pub mode: CacheMode,
    pub ttl: Duration,
    /// The memory tier's limit, in bytes of cached answers.
    pub memory_bytes: u64,
    /// The disk tier's limit; 0: no disk tier.
    pub disk_bytes: u64,
    /// Identical requests in flight wait for the first one's answer instead of each going
    /// upstream.
    pub coalesce: bool,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            mode: CacheMode::Deterministic,
            ttl: Duration::from_secs(3600),
            memory_bytes: 64 << 20,
            disk_bytes: 512 << 20,
            coalesce: true,
        }
    }
}

/// An alias's own `cache:` (over the global one).
#[derive(Debug, Clone, Copy, Default)]
pub struct CachePolicy {
    pub mode: Option<CacheMode>,
    pub ttl: Option<Duration>,
}

/// The largest answer cached (bigger ones are served, not kept).
const ENTRY_MAX: usize = 8 << 20;
/// How long a request waits for an identical one in flight before going upstream itself.
const COALESCE_WAIT: Duration = Duration::from_secs(300);

/// The cache's numbers (`lodestar cache stats`, `/admin/api/cache`, `/metrics`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct CacheStats {
    pub memory_entries: u64,
    pub memory_bytes: u64,
    pub disk_entries: u64,
    pub disk_bytes: u64,
    pub hits: u64,
    pub misses: u64,
    pub bypassed: u64,
    pub stored: u64,
    /// hits / (hits + misses), since the process started.
    pub hit_rate: f64,
    /// What the hits would have cost, since the process started.
    pub saved_usd: f64,
}

pub struct Cache {
    cfg: CacheConfig,
    memory: moka::sync::Cache<Key, Arc<Entry>>,
    /// The disk tier (None: no database, or `disk_mb: 0`).
    disk: Option<Arc<Store>>,
    inflight: Mutex<HashMap<Key, Arc<Notify>>>,
    hits: AtomicU64,
    misses: AtomicU64,
    bypassed: AtomicU64,
    stored: AtomicU64,
    saved_nano_usd: AtomicU64,
}

/// Each entry leaves the memory tier when its own TTL (its alias's, or the global one) ends.
struct UntilExpiry;

impl moka::Expiry<Key, Arc<Entry>> for UntilExpiry {
    fn expire_after_create(
        &self,
        _key: &Key,
        value: &Arc<Entry>,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        let left = value.meta.expires_ms - now_ms();
        Some(Duration::from_millis(left.max(0) as u64))
    }
}

/// The leader of a set of identical requests: dropping it (answer stored or not) wakes the
/// followers, who then look again.
pub(crate) struct Flight {
    cache: Arc<Cache>,
    key: Key,
}

impl Drop for Flight {
    fn drop(&mut self) {
        if let Some(n) = lock(&self.cache.inflight).remove(&self.key) {
            n.notify_waiters();
        }
    }
}

/// What a lookup found.
pub(crate) enum Lookup {
    Hit(Arc<Entry>),
    /// Not cached: go upstream (holding the flight, if coalescing).
    Miss(Option<Flight>),
}

impl Cache {
    pub fn new(cfg: CacheConfig, store: Option<Arc<Store>>) -> Arc<Cache> {
        let memory = moka::sync::Cache::builder()
            .weigher(|_k: &Key, v: &Arc<Entry>| v.weight())
            .max_capacity(cfg.memory_bytes)
            // Least recently used goes first: a new answer is always admitted (TinyLFU, the
            // default, may refuse a one-off entry in favour of frequent ones).
            .eviction_policy(moka::policy::EvictionPolicy::lru())
            .expire_after(UntilExpiry)
            .support_invalidation_closures()
            .build();
        Arc::new(Cache {
            disk: store.filter(|_| cfg.disk_bytes > 0),
            cfg,
            memory,
            inflight: Mutex::new(HashMap::new()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            bypassed: AtomicU64::new(0),
            stored: AtomicU64::new(0),
            saved_nano_usd: AtomicU64::new(0),
        })
    }

    pub fn config(&self) -> &CacheConfig {
        &self.cfg
    }

    /// The mode and TTL that apply under an alias's policy.
    pub(crate) fn policy(&self, alias: Option<CachePolicy>) -> (CacheMode, Duration) {
        let p = alias.unwrap_or_default();
        (
            p.mode.unwrap_or(self.cfg.mode),
            p.ttl.unwrap_or(self.cfg.ttl),
        )
    }

    pub(crate) fn count_bypass(&self) {
        self.bypassed.fetch_add(1, Ordering::Relaxed);
    }

    /// Look `key` up (memory, then disk). On a miss with coalescing, either become the flight's
    /// leader or wait for the leader's answer and look again.
    pub(crate) async fn lookup(self: &Arc<Self>, key: Key) -> Lookup {
        if let Some(e) = self.get(&key).await {
            return self.hit(e);
        }
        if !self.cfg.coalesce {
            self.misses.fetch_add(1, Ordering::Relaxed);
            return Lookup::Miss(None);
        }
        loop {
            let waiting = {
                let mut inflight = lock(&self.inflight);
                match inflight.get(&key) {
                    Some(n) => n.clone(),
                    None => {
                        inflight.insert(key, Arc::new(Notify::new()));
                        self.misses.fetch_add(1, Ordering::Relaxed);
                        return Lookup::Miss(Some(Flight {
                            cache: self.clone(),
                            key,
                        }));
                    }
                }
            };
            let notified = waiting.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            // The leader may have finished between the map read and `enable`.
            if lock(&self.inflight)
                .get(&key)
                .is_some_and(|n| Arc::ptr_eq(n, &waiting))
            {
                let _ = tokio::time::timeout(COALESCE_WAIT, notified).await;
            }
            if let Some(e) = self.get(&key).await {
                return self.hit(e);
            }
            // The leader stored nothing (an error, a cut stream): one of us goes upstream.
        }
    }

    fn hit(&self, e: Arc<Entry>) -> Lookup {
        Lookup::Hit(e)
    }

    /// A found entry answered the request (counted only then: an entry that cannot serve a
    /// request, e.g. a stream without the usage chunk a client asks for, is a miss).
    pub(crate) fn served(&self, e: &Entry) {
        self.hits.fetch_add(1, Ordering::Relaxed);
        if let Some(c) = e.meta.cost_usd {
            self.saved_nano_usd
                .fetch_add((c * 1e9).round() as u64, Ordering::Relaxed);
        }
    }

    /// A found entry could not answer the request: it goes upstream as a miss.
    pub(crate) fn unserved(&self) {
        self.misses.fetch_add(1, Ordering::Relaxed);
    }

    async fn get(&self, key: &Key) -> Option<Arc<Entry>> {
        let now = now_ms();
        if let Some(e) = self.memory.get(key) {
            if e.meta.expires_ms > now {
                return Some(e);
            }
            self.memory.invalidate(key);
        }
        let disk = self.disk.clone()?;
        let k = *key;
        let found = tokio::task::spawn_blocking(move || disk.get_cached(&k, now))
            .await
            .ok()
            .flatten()
            .and_then(|bytes| Entry::decode(&bytes))
            .map(Arc::new)?;
        self.memory.insert(*key, found.clone());
        Some(found)
    }

    /// Keep a complete answer.
    pub(crate) fn put(&self, key: Key, entry: Entry) {
        if entry.body.len() > ENTRY_MAX {
            return;
        }
        self.stored.fetch_add(1, Ordering::Relaxed);
        if let Some(disk) = &self.disk {
            disk.send(Write::CachePut(Box::new(crate::store::CachePut {
                key: key.to_vec(),
                project: entry.meta.project.clone(),
                created_ms: entry.meta.created_ms,
                expires_ms: entry.meta.expires_ms,
                body: entry.encode(),
                max_bytes: self.cfg.disk_bytes,
            })));
        }
        self.memory.insert(key, Arc::new(entry));
    }

    /// Forget every entry (of one project).
    pub(crate) fn clear(&self, project: Option<&str>) {
        match project {
            None => self.memory.invalidate_all(),
            Some(p) => {
                let p = p.to_string();
                let _ = self
                    .memory
                    .invalidate_entries_if(move |_, e| e.meta.project == p);
            }
        }
        if let Some(disk) = &self.disk {
            disk.send(Write::CacheClear {
                project: project.map(str::to_string),
            });
            disk.flush_blocking();
        }
        self.memory.run_pending_tasks();
    }

    pub fn stats(&self) -> CacheStats {
        self.memory.run_pending_tasks();
        let (disk_entries, disk_bytes) = self
            .disk
            .as_ref()
            .and_then(|d| d.cache_size().ok())
            .unwrap_or((0, 0));
        let (hits, misses) = (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        );
        CacheStats {
            memory_entries: self.memory.entry_count(),
            memory_bytes: self.memory.weighted_size(),
            disk_entries,
            disk_bytes,
            hits,
            misses,
            bypassed: self.bypassed.load(Ordering::Relaxed),
            stored: self.stored.load(Ordering::Relaxed),
            hit_rate: if hits + misses == 0 {
                0.0
            } else {
                hits as f64 / (hits + misses) as f64
            },
            saved_usd: self.saved_nano_usd.load(Ordering::Relaxed) as f64 / 1e9,
        }
    }
}
