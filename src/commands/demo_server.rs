//! `syncdeck demo-server`: the demo systems, headless, until Ctrl-C or SIGTERM.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};

use super::exit::{CommandError, Exit};
use crate::demo::{self, DemoOptions};

/// Serves the demo systems on 127.0.0.1:`port` and prints where.
pub fn run(port: u16, fleet_size: usize, seed: u64) -> Result<Exit, CommandError> {
    let runtime = tokio::runtime::Runtime::new().map_err(|source| CommandError::Io {
        context: "cannot start the async runtime".into(),
        source,
    })?;
    runtime.block_on(async move {
        // Listen for signals before printing the address: a caller may signal at once.
        let stop = stop_signal();
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let server = demo::start(addr, DemoOptions { fleet_size, seed })
            .await
            .map_err(|source| CommandError::Io {
                context: format!("cannot listen on {addr}"),
                source,
            })?;
        let base = format!("http://{}", server.addr());
        let banner = format!(
            "syncdeck demo systems listening on {base}\n\
             \x20 source fleet   {base}/fleet/api/devices ({fleet_size} devices, seed {seed})\n\
             \x20 JSON CMDB      {base}/cmdb/api/assets\n\
             \x20 XML registry   {base}/registry/devices\n\
             \x20 MDM            {base}/mdm/v1/devices\n\
             \x20 write counters {base}/_demo/stats\n\
             Ctrl-C or SIGTERM stops it.\n"
        );
        // A reader that went away (a closed pipe) must not stop the server.
        let mut stdout = std::io::stdout().lock();
        let _ = stdout
            .write_all(banner.as_bytes())
            .and_then(|()| stdout.flush());
        drop(stdout);
        tracing::info!(%base, fleet_size, seed, "demo server started");
        stop.await;
        server.shutdown().await;
        tracing::info!("demo server stopped");
        Ok(Exit::Success)
    })
}

/// Resolves on Ctrl-C, SIGTERM or SIGHUP; the handlers are installed when this is called.
fn stop_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    use tokio::signal::unix::{SignalKind, signal};
    #[cfg(unix)]
    let mut term = signal(SignalKind::terminate()).ok();
    #[cfg(unix)]
    let mut hup = signal(SignalKind::hangup()).ok();
    let ctrl_c = tokio::signal::ctrl_c();
    async move {
        #[cfg(unix)]
        {
            let term = async {
                match term.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending().await,
                }
            };
            let hup = async {
                match hup.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = ctrl_c => {}
                _ = term => {}
                _ = hup => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = ctrl_c.await;
        }
    }
}
