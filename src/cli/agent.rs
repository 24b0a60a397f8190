//! `lodestar agent`: serve this machine's GPU readings for a Lodestar elsewhere.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use super::{init_logging, output};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Where to listen. Loopback by default; to serve the LAN, e.g. `--listen 0.0.0.0:9091`.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:9091")]
    listen: SocketAddr,
    /// How often the GPUs are read, e.g. `1s`, `500ms`.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "1s")]
    interval: Duration,
}

pub(crate) fn run(args: Args) -> Result<ExitCode, String> {
    let _log = init_logging("info");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| {
                format!(
                    "cannot listen on {}: {e}; choose another address with --listen",
                    args.listen
                )
            })?;
        let source = Arc::new(crate::health::gpu::Nvml::new());
        let handle = crate::agent::start(listener, source, args.interval)
            .map_err(|e| e.to_string())?;
        let addr = handle.local_addr();
        if !addr.ip().is_loopback() {
            output::note(format!(
                "serving GPU readings to the network on {addr} (read-only: utilization, memory, \
                 temperature, power, process ids)"
            ));
        }
        output::line(format!(
            "lodestar agent on http://{addr}  (add `gpus: [{{ agent_url: http://<this host>:{} }}]` to the Lodestar config that should show these GPUs)",
            addr.port()
        ));
        super::serve::shutdown_signal().await;
        handle.shutdown().await;
        Ok(ExitCode::SUCCESS)
    })
}
