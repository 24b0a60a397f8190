//! The engine's one SQLite database (bundled SQLite, WAL): the cost ledger, its hourly rollup,
//! fired budget alerts and stored Responses. Owns the file, its schema and the one writer
//! thread; must not price, route or decide anything.
//!
//! Writes never block a request: they go over a bounded channel (`try_send`) to the writer
//! thread, which wakes on the first write after a quiet spell, gathers for `BATCH_WINDOW`
//! (100 ms) and commits everything queued in one transaction (`BATCH_MAX` writes each). A
//! process crash therefore loses at most the last batch window of requests (plus whatever a
//! stalled disk left queued, bounded by `CHANNEL_CAPACITY`). An OS crash or power cut can also
//! lose the commits since the WAL was last synced (`synchronous = NORMAL`). A flush and
//! shutdown (`close`) cut the window short: `close` drains the channel and commits before it
//! returns. A failed write (disk full, the file locked or made read-only) logs one warning
//! per minute and the writer goes on: the proxy keeps serving.

mod schema;
mod writer;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

pub(crate) use writer::{AlertRow, RequestRow, StoredResponse};

/// Responses handed to the writer and not yet committed, by id: `Some` a new one, `None` a
/// deletion (so that neither waits for the batch window to be seen).
type Pending = Arc<Mutex<HashMap<String, Option<Arc<StoredResponse>>>>>;

/// Writes queued before new ones are refused (and counted as lost).
const CHANNEL_CAPACITY: usize = 65_536;
/// The most rows one transaction takes.
const BATCH_MAX: usize = 4096;
/// How long the writer gathers writes after the first before it commits them: what a crash
/// can lose at most (besides a disk that stalls), and what keeps a busy proxy from paying a
/// commit and a thread wake-up per request.
const BATCH_WINDOW: Duration = Duration::from_millis(20);
/// How long a connection waits on a lock held by another process before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "cannot open the database {path}: {source}. Lodestar keeps serving without its ledger \
         and response store; {hint}"
    )]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
        hint: &'static str,
    },
    #[error(
        "cannot create the data directory {path} for the database: {source}. Lodestar keeps \
         serving without its ledger and response store; set `storage.path` to a writable place"
    )]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("database query failed: {0}")]
    Query(#[from] rusqlite::Error),
    #[error("the database worker stopped")]
    Gone,
}

/// One thing for the writer thread to do. Kept small (larger payloads boxed): the queue
/// (`CHANNEL_CAPACITY` slots) is allocated and touched up front, so each byte of `Write` is
/// 64 KiB of resident memory from the start (it was 16 MiB of the idle RSS).
pub(crate) enum Write {
    Request(Box<RequestRow>),
    Alert(Box<AlertRow>),
    Response(Arc<StoredResponse>),
    DeleteResponse(String),
    /// A cached answer for the disk tier (kept under `max_bytes` by evicting the oldest).
    CachePut(Box<CachePut>),
    /// Forget cached answers (of one project).
    CacheClear {
        project: Option<String>,
    },
    /// One provider probe's outcome (uptime history; kept `PROBE_HISTORY`).
    Probe(Box<ProbeRow>),
    /// A run-time setting (`settings` table), e.g. the quick-switched default alias.
    Setting(Box<Setting>),
    /// Answered once everything sent before it is committed.
    Flush(std::sync::mpsc::Sender<()>),
}

/// A cached answer for the disk tier.
pub(crate) struct CachePut {
    pub key: Vec<u8>,
    pub project: String,
    pub created_ms: i64,
    pub expires_ms: i64,
    pub body: Vec<u8>,
    pub max_bytes: u64,
}

/// A run-time setting.
pub(crate) struct Setting {
    pub key: String,
    pub value: String,
}

/// A provider probe's outcome.
#[derive(Debug, Clone)]
pub(crate) struct ProbeRow {
    pub provider: String,
    pub ts_ms: i64,
    pub ok: bool,
    pub latency_ms: f64,
    pub error: Option<String>,
}

/// How long probe outcomes are kept: the longest uptime window (7 days) and a day's margin.
pub(crate) const PROBE_HISTORY: Duration = Duration::from_secs(8 * 86_400);

/// Limits on stored Responses (`storage.responses`).
#[derive(Debug, Clone, Copy)]
pub struct ResponseLimits {
    pub max_age: Duration,
    pub max_bytes: u64,
}

impl Default for ResponseLimits {
    fn default() -> Self {
        Self {
            max_age: Duration::from_secs(30 * 86_400),
            max_bytes: 256 << 20,
        }
    }
}

/// The open database: a sender to the writer thread and connections for reading.
pub struct Store {
    path: PathBuf,
    tx: Mutex<Option<SyncSender<Write>>>,
    /// For analytics (may take milliseconds).
    reader: Mutex<Connection>,
    /// For point lookups, so that they never wait behind an analytics query.
    lookup: Mutex<Connection>,
    /// Responses sent to the writer but perhaps not yet committed: a client's next turn may
    /// name one a millisecond after the answer ended.
    pending: Pending,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Set (and the writer unparked) to end its batch window now.
    urgent: Arc<std::sync::atomic::AtomicBool>,
    lost: std::sync::atomic::AtomicU64,
}

impl Store {
    /// Open (creating if needed) the database at `path` and start its writer thread.
    pub fn open(path: &Path, limits: ResponseLimits) -> Result<Arc<Store>, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Dir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let open_err = |source: rusqlite::Error| {
            let hint = match source.sqlite_error_code() {
                Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt) => {
                    "the file is damaged or not a Lodestar database: move it aside (Lodestar \
                     creates a new one) or set `storage.path` to another file"
                }
                Some(rusqlite::ErrorCode::ReadOnly | rusqlite::ErrorCode::CannotOpen) => {
                    "make the file and its directory writable, or set `storage.path` to a \
                     writable location"
                }
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                    "another program holds the database locked; close it and restart"
                }
                _ => "check the file, or set `storage.path` to another location",
            };
            StoreError::Open {
                path: path.to_path_buf(),
                source,
                hint,
            }
        };
        let mut conn = Connection::open(path).map_err(open_err)?;
        setup(&conn).map_err(open_err)?;
        migrate(&mut conn).map_err(open_err)?;
        let ro = || {
            let c = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            c.busy_timeout(BUSY_TIMEOUT)?;
            Ok(c)
        };
        let reader = ro().map_err(open_err)?;
        let lookup = ro().map_err(open_err)?;
        let (tx, rx) = std::sync::mpsc::sync_channel(CHANNEL_CAPACITY);
        let pending: Pending = Arc::default();
        let p = pending.clone();
        let urgent: Arc<std::sync::atomic::AtomicBool> = Arc::default();
        let u = urgent.clone();
        let handle = std::thread::Builder::new()
            .name("lodestar-db".into())
            .spawn(move || writer::run(conn, rx, limits, p, u))
            .map_err(|e| StoreError::Dir {
                path: path.to_path_buf(),
                source: e,
            })?;
        Ok(Arc::new(Store {
            path: path.to_path_buf(),
            tx: Mutex::new(Some(tx)),
            reader: Mutex::new(reader),
            lookup: Mutex::new(lookup),
            pending,
            writer: Mutex::new(Some(handle)),
            urgent,
            lost: Default::default(),
        }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes refused because the writer was behind by `CHANNEL_CAPACITY` (or gone).
    pub fn lost_writes(&self) -> u64 {
        self.lost.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Queue a write; never waits. False when it was refused (queue full or store closed).
    pub(crate) fn send(&self, w: Write) -> bool {
        let tx = lock(&self.tx).clone();
        let Some(tx) = tx else {
            self.lost.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return false;
        };
        match tx.try_send(w) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                let n = self.lost.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n.is_power_of_two() {
                    tracing::warn!(
                        lost = n + 1,
                        "the ledger writer is behind; records are being dropped"
                    );
                }
                false
            }
        }
    }

    /// Keep a Response: readable at once, committed by the writer soon after.
    pub(crate) fn put_response(&self, r: StoredResponse) {
        let r = Arc::new(r);
        lock(&self.pending).insert(r.id.clone(), Some(r.clone()));
        if !self.send(Write::Response(r.clone())) {
            lock(&self.pending).remove(&r.id);
        }
    }

    /// Forget a stored Response.
    pub(crate) fn delete_response(&self, id: &str) {
        lock(&self.pending).insert(id.to_string(), None);
        if !self.send(Write::DeleteResponse(id.to_string())) {
            lock(&self.pending).remove(id);
        }
    }

    /// A stored Response by id (pending or committed), if it is not older than `max_age`.
    pub(crate) fn get_response(
        &self,
        id: &str,
        newer_than_ms: i64,
    ) -> Result<Option<Arc<StoredResponse>>, StoreError> {
        if let Some(r) = lock(&self.pending).get(id) {
            return Ok(r.clone());
        }
        let conn = lock(&self.lookup);
        let mut st = conn.prepare_cached(
            "SELECT id, created_ms, project, body FROM responses WHERE id = ?1 AND created_ms >= ?2",
        )?;
        let mut rows = st.query((id, newer_than_ms))?;
        match rows.next()? {
            Some(row) => Ok(Some(Arc::new(StoredResponse {
                id: row.get(0)?,
                created_ms: row.get(1)?,
                project: row.get(2)?,
                body: row.get(3)?,
            }))),
            None => Ok(None),
        }
    }

    /// A cached answer (the disk tier), if there is one that has not expired.
    pub(crate) fn get_cached(&self, key: &[u8], now_ms: i64) -> Option<Vec<u8>> {
        let conn = lock(&self.lookup);
        let mut st = conn
            .prepare_cached("SELECT body FROM cache_entries WHERE key = ?1 AND expires_ms > ?2")
            .ok()?;
        st.query_row((key, now_ms), |r| r.get(0)).ok()
    }

    /// Entries and bytes in the disk tier.
    pub(crate) fn cache_size(&self) -> Result<(u64, u64), StoreError> {
        self.read_blocking(|c| {
            c.query_row(
                "SELECT count(*), COALESCE(SUM(bytes), 0) FROM cache_entries",
                [],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
            )
        })
    }

    /// Run a read-only query on the analytics connection, off the async runtime.
    pub(crate) async fn read<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.read_blocking(f))
            .await
            .map_err(|_| StoreError::Gone)?
    }

    /// `read`, on the calling thread (CLI, startup).
    pub(crate) fn read_blocking<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let conn = lock(&self.reader);
        Ok(f(&conn)?)
    }

    /// Wait until every write sent so far is committed.
    pub async fn flush(self: &Arc<Self>) {
        let me = self.clone();
        let _ = tokio::task::spawn_blocking(move || me.flush_blocking()).await;
    }

    pub fn flush_blocking(&self) {
        let (tx, rx) = std::sync::mpsc::channel();
        if self.send(Write::Flush(tx)) {
            self.hurry();
            let _ = rx.recv();
        }
    }

    /// End the writer's batch window now.
    fn hurry(&self) {
        self.urgent
            .store(true, std::sync::atomic::Ordering::Release);
        if let Some(h) = lock(&self.writer).as_ref() {
            h.thread().unpark();
        }
    }

    /// Commit everything queued and stop the writer. Later writes are counted as lost.
    pub fn close(&self) {
        drop(lock(&self.tx).take());
        self.hurry();
        if let Some(h) = lock(&self.writer).take() {
            let _ = h.join();
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.close();
    }
}

/// A poisoned lock only means another thread panicked mid-use; the data is still usable.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn setup(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // WAL: readers never block the writer. NORMAL: a commit survives a process crash; only
    // an OS crash or power cut can lose the last commits since the WAL was synced.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Fails here, not at the first write, on a damaged or read-only file.
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))?;
    Ok(())
}

fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let version = usize::try_from(version).unwrap_or(0);
    if version > schema::MIGRATIONS.len() {
        tracing::warn!(
            version,
            "the database was written by a newer Lodestar; reading it as far as this one can"
        );
        return Ok(());
    }
    for (i, sql) in schema::MIGRATIONS.iter().enumerate().skip(version) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

/// The default database file: `<platform data dir>/lodestar.db`.
pub fn default_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "lodestar").map(|d| d.data_dir().join("lodestar.db"))
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
