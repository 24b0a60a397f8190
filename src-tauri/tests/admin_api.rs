//! The tray's view of a real engine: `AdminClient` against `Engine::start` on a free port
//! (no window, no tray): the snapshot reflects the config and the fake GPU file, and choosing
//! an alias or local-only in the tray changes the engine's routing switch — the same state
//! `lodestar use` and the UI change.

use std::sync::Arc;
use std::time::Duration;

use lodestar::config::{Config, ConfigOrigin};
use lodestar::{Engine, EngineHandle, EngineOptions, GpuSourceHandle};
use lodestar_desktop::api::AdminClient;
use lodestar_desktop::events::AppEvent;
use lodestar_desktop::gpu_file::FileGpuSource;
use lodestar_desktop::menu::{AppState, Connection, Entry, MenuModel};
use lodestar_desktop::notify::NoticeKind;
use lodestar_desktop::snapshot::Gpu;

const CONFIG: &str = r#"
server: { listen: "127.0.0.1:0" }
providers:
  up:
    kind: openai-compatible
    base_url: http://127.0.0.1:9/v1
    discover_models: false
    probe: false
models:
  alpha: { route: [up/model-alpha] }
  beta: { route: [up/model-beta] }
routing: { default: alpha }
budgets:
  daily: { period: day, usd: 5 }
gpu: { interval: 100ms }
"#;

fn no_env(_: &str) -> Option<String> {
    None
}

async fn engine(dir: &std::path::Path) -> EngineHandle {
    let cfg = match Config::from_yaml(CONFIG, ConfigOrigin::Embedded, &no_env) {
        Ok(c) => c,
        Err(e) => panic!("config: {e}"),
    };
    let gpu = dir.join("gpu.json");
    let sample = r#"[{"index":0,"name":"Fake","utilization_pct":90,
        "memory_used_bytes":8589934592,"memory_total_bytes":17179869184,
        "temperature_c":null,"power_w":null,"processes":[]}]"#;
    if let Err(e) = std::fs::write(&gpu, sample) {
        panic!("{e}");
    }
    let opts = EngineOptions {
        database: Some(dir.join("lodestar.db")),
        gpu_source: Some(GpuSourceHandle(Arc::new(FileGpuSource::new(gpu)))),
        ..EngineOptions::default()
    };
    match Engine::start(cfg, opts).await {
        Ok(h) => h,
        Err(e) => panic!("engine: {e}"),
    }
}

fn checked(m: &MenuModel) -> Vec<String> {
    m.flat()
        .iter()
        .filter_map(|e| match e {
            Entry::Check {
                action,
                checked: true,
                ..
            } => Some(action.id()),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tray_reads_and_switches_a_real_engine() {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    };
    let h = engine(dir.path()).await;
    let mut events = h.subscribe();
    let api = match AdminClient::new(h.local_addr()) {
        Ok(a) => a,
        Err(e) => panic!("{e}"),
    };

    // The GPU sampler reads the fake file within its interval.
    let mut snap = None;
    for _ in 0..50 {
        match api.snapshot().await {
            Ok(s) if matches!(s.gpu, Gpu::Some { .. }) => {
                snap = Some(s);
                break;
            }
            Ok(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(e) => panic!("snapshot: {e}"),
        }
    }
    let Some(s) = snap else {
        panic!("the fake GPU never showed")
    };
    assert_eq!(
        s.aliases
            .iter()
            .map(|a| a.name.as_str())
            .collect::<Vec<_>>(),
        ["alpha", "beta"]
    );
    assert_eq!(s.default.as_deref(), Some("alpha"));
    assert!(
        matches!(
            s.gpu,
            Gpu::Some {
                utilization_pct: 90,
                ..
            }
        ),
        "{:?}",
        s.gpu
    );
    assert_eq!(s.spend.as_ref().map(|sp| sp.today_usd), Some(0.0));
    assert_eq!(
        s.top_budget.as_ref().map(|b| b.name.as_str()),
        Some("daily")
    );

    let app = AppState {
        connection: Connection::InProcess {
            addr: h.local_addr().to_string(),
        },
        api_error: None,
        window_open: false,
        autostart: None,
        notices_on: NoticeKind::ALL.to_vec(),
    };
    assert!(checked(&MenuModel::build(&app, Some(&s))).contains(&"alias:alpha".to_string()));

    // Choosing `beta` in the tray is the engine's quick switch.
    if let Err(e) = api.set_default("beta").await {
        panic!("{e}");
    }
    assert_eq!(h.switch().state().default.as_deref(), Some("beta"));
    assert_eq!(h.switch().state().default_source, "switched");
    let s = match api.snapshot().await {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    let c = checked(&MenuModel::build(&app, Some(&s)));
    assert!(c.contains(&"alias:beta".to_string()) && !c.contains(&"alias:alpha".to_string()));

    // The routing event reaches the tray's event path with the SSE stream's shape.
    let ev = loop {
        match tokio::time::timeout(Duration::from_secs(5), events.recv()).await {
            Ok(Ok(ev)) => {
                let a = AppEvent::from_engine(&ev);
                if a.kind == "routing" {
                    break a;
                }
            }
            other => panic!("no routing event: {other:?}"),
        }
    };
    assert_eq!(ev.data["default"], "beta");

    match api.toggle_local_only().await {
        Ok(r) => assert!(r.local_only && r.default.as_deref() == Some("beta")),
        Err(e) => panic!("{e}"),
    }
    assert!(h.switch().state().local_only);
    match api.toggle_local_only().await {
        Ok(r) => assert!(!r.local_only),
        Err(e) => panic!("{e}"),
    }
    let err = api.set_default("nosuch").await;
    assert!(
        err.as_ref().is_err_and(|e| e.contains("is not an alias")),
        "{err:?}"
    );
    h.shutdown().await;
}
