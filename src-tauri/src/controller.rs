//! The tray app's state and behaviour: where the engine is, the last snapshot of its state,
//! what the menu and icon show, and what each click does. One `Controller` per app, shared as
//! `Arc` between the main thread (menu clicks, drawing) and async tasks (the 2 s refresh, the
//! engine's events, HTTP calls).
//!
//! Refresh: every `REFRESH` and after each engine event (at most once per `MIN_GAP`), read a
//! `Snapshot` from the admin API, build the menu model and the icon spec, and touch the native
//! tray only where they changed.
//! Owns the app's state and the order of things at start and quit; must not draw (`tray`,
//! `icon`) or word (`menu`) anything itself.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tauri::tray::TrayIcon;
use tauri::{AppHandle, Wry};
use tokio::sync::{Notify, mpsc};

use crate::api::{AdminClient, Routing, connect_addr};
use crate::events::{self, AppEvent};
use crate::host::{self, Started};
use crate::icon::IconSpec;
use crate::menu::{Action, AppState, Connection, MenuModel};
use crate::notify::{self, Gate, Notice, Verdict};
use crate::prefs::Prefs;
use crate::snapshot::Snapshot;
use crate::tray::{self, Rendered};
use crate::window::WindowProcess;

/// How often the tray re-reads the engine's state with nothing happening.
pub const REFRESH: Duration = Duration::from_secs(2);
/// The least time between two refreshes (a burst of requests is one refresh).
pub const MIN_GAP: Duration = Duration::from_millis(500);

#[derive(Default)]
struct Inner {
    connection: Option<Connection>,
    api: Option<Arc<AdminClient>>,
    snapshot: Option<Snapshot>,
    api_error: Option<String>,
    tray: Option<TrayIcon<Wry>>,
    rendered: Option<Rendered>,
    icon: Option<IconSpec>,
    force_checks: bool,
    /// The tasks that follow the engine's events (stopped when the engine is started again).
    pumps: Vec<tauri::async_runtime::JoinHandle<()>>,
}

pub struct Controller {
    app: AppHandle,
    prefs: Prefs,
    inner: Mutex<Inner>,
    wake: Notify,
    window: WindowProcess,
    engine: tokio::sync::Mutex<Option<host::InProcess>>,
    quitting: AtomicBool,
    gate: Mutex<Gate>,
    clipboard: Mutex<Option<arboard::Clipboard>>,
}

impl Controller {
    pub fn new(app: AppHandle) -> Arc<Controller> {
        Arc::new(Controller {
            prefs: Prefs::open(&app),
            app,
            inner: Mutex::new(Inner {
                connection: Some(Connection::Starting),
                ..Inner::default()
            }),
            wake: Notify::new(),
            window: WindowProcess::default(),
            engine: tokio::sync::Mutex::new(None),
            quitting: AtomicBool::new(false),
            gate: Mutex::new(Gate::default()),
            clipboard: Mutex::new(None),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn app_state(&self, inner: &Inner) -> AppState {
        AppState {
            connection: inner.connection.clone().unwrap_or(Connection::Starting),
            api_error: inner.api_error.clone(),
            window_open: self.window.is_open(),
            autostart: self.prefs.autostart(&self.app),
            notices_on: self.prefs.notices_on(),
        }
    }

    /// Create the tray (main thread, in `setup`). Its menu is never empty: "starting" + Quit.
    pub fn create_tray(self: &Arc<Self>) -> tauri::Result<()> {
        let mut inner = self.lock();
        let model = MenuModel::build(&self.app_state(&inner), None);
        let spec = IconSpec::of(None);
        let me = self.clone();
        let (tray, rendered) = tray::create(&self.app, &model, &spec, move |_, id| {
            me.clicked(&id);
        })?;
        inner.tray = Some(tray);
        inner.rendered = Some(rendered);
        inner.icon = Some(spec);
        Ok(())
    }

    /// Redraw what changed, on the main thread.
    pub fn render(self: &Arc<Self>) {
        let me = self.clone();
        let _ = self.app.run_on_main_thread(move || me.render_now());
    }

    fn render_now(&self) {
        let mut inner = self.lock();
        let state = self.app_state(&inner);
        let model = MenuModel::build(&state, inner.snapshot.as_ref());
        let spec = IconSpec::of(inner.snapshot.as_ref());
        let tooltip = crate::menu::tooltip(&state.connection, inner.snapshot.as_ref());
        let force = std::mem::take(&mut inner.force_checks);
        let Inner {
            tray,
            rendered,
            icon,
            ..
        } = &mut *inner;
        let Some(tray) = tray.as_ref() else { return };
        if let Some(r) = rendered.as_mut()
            && (r.model() != &model || force)
        {
            if let Err(e) = r.show(&self.app, tray, &model, force) {
                tracing::warn!("cannot update the tray menu: {e}");
            }
            let _ = tray.set_tooltip(Some(&tooltip));
        }
        if icon.as_ref() != Some(&spec) {
            match tray::set_icon(tray, &spec) {
                Ok(()) => *icon = Some(spec),
                Err(e) => tracing::warn!("cannot set the tray icon: {e}"),
            }
        }
    }

    /// Start (or attach to) the engine, then follow its events.
    pub async fn start_engine(self: Arc<Self>) {
        {
            let mut inner = self.lock();
            inner.connection = Some(Connection::Starting);
            inner.api_error = None;
            inner.api = None;
            inner.snapshot = None;
            for p in inner.pumps.drain(..) {
                p.abort();
            }
        }
        self.render();
        let (tx, rx) = mpsc::channel::<AppEvent>(256);
        let mut pumps = Vec::new();
        let (connection, api) = match host::start().await {
            Started::InProcess(h) => {
                let addr = connect_addr(h.handle.local_addr());
                pumps.push(tauri::async_runtime::spawn(events::pump_engine(
                    h.handle.subscribe(),
                    tx,
                )));
                *self.engine.lock().await = Some(h);
                (
                    Connection::InProcess {
                        addr: addr.to_string(),
                    },
                    AdminClient::new(addr).ok(),
                )
            }
            Started::Attached(addr) => {
                let addr = connect_addr(addr);
                let api = AdminClient::new(addr).ok();
                if let Ok(http) = crate::api::http_client(None) {
                    let base = format!("http://{addr}");
                    pumps.push(tauri::async_runtime::spawn(events::pump_sse(
                        http, base, tx,
                    )));
                }
                (
                    Connection::Attached {
                        addr: addr.to_string(),
                    },
                    api,
                )
            }
            Started::Failed(message) => {
                tracing::error!("{message}");
                let body = message.clone();
                tauri::async_runtime::spawn_blocking(move || {
                    let n = Notice {
                        kind: notify::NoticeKind::ProviderHealth,
                        key: String::new(),
                        summary: "Lodestar could not start".into(),
                        body,
                    };
                    if let Err(e) = notify::show(&n) {
                        tracing::warn!("cannot show a notification: {e}");
                    }
                });
                (Connection::Failed { message }, None)
            }
        };
        let api = api.map(Arc::new);
        if let Some(a) = &api {
            self.sync_preferences(a).await;
        }
        {
            let mut inner = self.lock();
            inner.connection = Some(connection);
            inner.api = api;
            pumps.push(tauri::async_runtime::spawn(self.clone().consume_events(rx)));
            inner.pumps = pumps;
        }
        self.wake.notify_one();
    }

    /// Agree with the engine on the preferences: take its own once it has any (the UI may have
    /// changed them), else give it this app's (the first start with this engine).
    async fn sync_preferences(&self, api: &AdminClient) {
        match api.preferences().await {
            Ok(engine) if engine["saved"] == true => self.prefs.adopt(&self.app, &engine),
            Ok(_) => {
                if let Err(e) = api.set_preferences(self.prefs.as_change(&self.app)).await {
                    tracing::warn!("cannot save the preferences in the engine: {e}");
                }
            }
            Err(e) => tracing::warn!("cannot read the engine's preferences: {e}"),
        }
    }

    /// Refresh every `REFRESH`, or sooner when woken.
    pub async fn refresh_loop(self: Arc<Self>) {
        let mut last = Instant::now() - MIN_GAP;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(REFRESH) => {}
                _ = self.wake.notified() => {}
            }
            let gap = MIN_GAP.saturating_sub(last.elapsed());
            if !gap.is_zero() {
                tokio::time::sleep(gap).await;
            }
            last = Instant::now();
            if self.quitting.load(Ordering::SeqCst) {
                return;
            }
            self.refresh().await;
        }
    }

    async fn refresh(self: &Arc<Self>) {
        let api = self.lock().api.clone();
        if let Some(api) = api {
            let r = api.snapshot().await;
            let mut inner = self.lock();
            match r {
                Ok(s) => {
                    inner.snapshot = Some(s);
                    inner.api_error = None;
                }
                Err(e) => {
                    tracing::debug!("refresh failed: {e}");
                    inner.api_error = Some(e);
                }
            }
        }
        self.render();
    }

    async fn consume_events(self: Arc<Self>, mut rx: mpsc::Receiver<AppEvent>) {
        while let Some(ev) = rx.recv().await {
            if matches!(
                ev.kind.as_str(),
                "requests" | "budget_threshold" | "budget_limit"
            ) && let Some(api) = self.lock().api.clone()
            {
                api.mark_spend_dirty();
            }
            if ev.kind == "preferences" {
                self.prefs.adopt(&self.app, &ev.data);
            }
            if let Some(n) = Notice::from_event(&ev.kind, &ev.data) {
                self.show_notice(n);
            }
            if ev.kind != "listening" {
                self.wake.notify_one();
            }
        }
    }

    /// Show `n` unless muted, a duplicate or over the rate limit.
    fn show_notice(&self, n: Notice) {
        let muted = !self.prefs.notice_on(n.kind);
        let verdict =
            self.gate
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .admit(&n, muted, Instant::now());
        if verdict != Verdict::Show {
            tracing::debug!(summary = %n.summary, ?verdict, "notification not shown");
            return;
        }
        tauri::async_runtime::spawn_blocking(move || match notify::show(&n) {
            Ok(id) => tracing::info!(id, summary = %n.summary, "notification shown"),
            Err(e) => tracing::warn!(summary = %n.summary, "cannot show a notification: {e}"),
        });
    }

    /// A menu item was clicked (main thread).
    pub fn clicked(self: &Arc<Self>, id: &str) {
        let Some(action) = Action::parse(id) else {
            return;
        };
        tracing::info!(item = id, "tray menu");
        let (api, snapshot, addr) = {
            let mut inner = self.lock();
            // A check item flips its own mark on click; the model decides what it shows.
            inner.force_checks = true;
            let addr = inner
                .connection
                .as_ref()
                .and_then(|c| c.addr().map(str::to_string));
            (inner.api.clone(), inner.snapshot.clone(), addr)
        };
        let me = self.clone();
        match action {
            Action::SelectAlias(alias) => self.call(api, move |a| async move {
                a.set_default(&alias).await.map(Some)
            }),
            Action::ToggleLocalOnly => self.call(api, move |a| async move {
                a.toggle_local_only().await.map(Some)
            }),
            Action::TogglePause => {
                self.call(
                    api,
                    move |a| async move { a.toggle_paused().await.map(Some) },
                )
            }
            Action::Unload { provider, model } => {
                let base = snapshot.and_then(|s| {
                    s.loaded
                        .into_iter()
                        .find(|m| m.provider == provider && m.name == model)
                        .map(|m| m.base_url)
                });
                if let Some(base) = base {
                    self.call(api, move |a| async move {
                        a.unload(&base, &model).await.map(|()| None)
                    });
                }
            }
            Action::OpenWindow => {
                if let Some(addr) = addr {
                    let url = format!("http://{addr}/ui/");
                    let after = self.clone();
                    if let Err(e) = self.window.open(&url, move || after.render()) {
                        tracing::error!("{e}");
                    }
                }
            }
            Action::CloseWindow => self.window.close(),
            Action::CopyOpenAi | Action::CopyAnthropic => {
                if let Some(addr) = addr {
                    let url = if action == Action::CopyOpenAi {
                        format!("http://{addr}/v1")
                    } else {
                        format!("http://{addr}")
                    };
                    self.copy(url);
                }
            }
            Action::ToggleAutostart => match self.prefs.toggle_autostart(&self.app) {
                Ok(on) => self.call(api, move |a| async move {
                    a.set_preferences(serde_json::json!({ "autostart": on }))
                        .await
                        .map(|()| None)
                }),
                Err(e) => tracing::error!("{e}"),
            },
            Action::ToggleNotice(k) => {
                let on = self.prefs.toggle_notice(k);
                self.call(api, move |a| async move {
                    a.set_preferences(serde_json::json!({ "notifications": { k.key(): on } }))
                        .await
                        .map(|()| None)
                });
            }
            Action::Retry => {
                tauri::async_runtime::spawn(me.start_engine());
            }
            Action::Quit => {
                tauri::async_runtime::spawn(async move { me.quit().await });
            }
        }
        self.render();
    }

    /// Run an admin API call, then refresh; a failure shows in the menu. A switch's answer
    /// is shown at once, before the next refresh.
    fn call<F, Fut>(self: &Arc<Self>, api: Option<Arc<AdminClient>>, f: F)
    where
        F: FnOnce(Arc<AdminClient>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<Option<Routing>, String>> + Send,
    {
        let Some(api) = api else { return };
        let me = self.clone();
        tauri::async_runtime::spawn(async move {
            match f(api).await {
                Ok(Some(r)) => {
                    if let Some(s) = me.lock().snapshot.as_mut() {
                        s.default = r.default;
                        s.local_only = r.local_only;
                        s.paused = r.paused;
                    }
                    me.render();
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::error!("{e}");
                    me.lock().api_error = Some(e);
                }
            }
            me.wake.notify_one();
        });
    }

    fn copy(&self, text: String) {
        let mut cb = self.clipboard.lock().unwrap_or_else(|e| e.into_inner());
        if cb.is_none() {
            match arboard::Clipboard::new() {
                Ok(c) => *cb = Some(c),
                Err(e) => {
                    tracing::error!("cannot open the clipboard: {e}");
                    return;
                }
            }
        }
        if let Some(c) = cb.as_mut() {
            match c.set_text(text.clone()) {
                Ok(()) => tracing::info!("copied {text}"),
                Err(e) => tracing::error!("cannot copy to the clipboard: {e}"),
            }
        }
    }

    /// Open the settings window (a second launch of the app does this too).
    pub fn open_window(self: &Arc<Self>) {
        self.clicked(&Action::OpenWindow.id());
    }

    /// Close the window, shut the engine down (in-flight answers finish or are cut, the ledger
    /// is flushed), then exit 0. Attached: the other server keeps running.
    pub async fn quit(self: Arc<Self>) {
        if self.quitting.swap(true, Ordering::SeqCst) {
            return;
        }
        self.window.close();
        self.shutdown_engine().await;
        self.app.exit(0);
    }

    /// Stop the in-process engine if it runs (idempotent).
    pub async fn shutdown_engine(&self) {
        if let Some(h) = self.engine.lock().await.take() {
            tracing::info!("shutting down: finishing in-flight requests, flushing the ledger");
            h.shutdown().await;
        }
    }
}
