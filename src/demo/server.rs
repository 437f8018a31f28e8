//! The demo HTTP server: one axum app on loopback, each system under its own path prefix.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::cmdb::{self, CmdbState};
use super::fleet::Fleet;
use super::guard::guard;
use super::mdm::{self, MdmState};
use super::options::{DemoOptions, MAX_FLEET_SIZE};
use super::registry::{self, RegistryState};
use super::reply::ErrorFormat;
use super::source;
use super::state::{DemoState, Shared};
use super::stats::{Counters, DemoStats, System};

/// How long [`DemoServer::shutdown`] waits for open connections before cutting them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

fn app(state: Shared) -> Router {
    let system = |router: Router<Shared>, system: System| {
        router.layer(from_fn_with_state((state.clone(), system), guard))
    };
    Router::new()
        .nest("/fleet", system(source::router(), System::Fleet))
        .nest("/cmdb", system(cmdb::router(), System::Cmdb))
        .nest("/registry", system(registry::router(), System::Registry))
        .nest("/mdm", system(mdm::router(), System::Mdm))
        .route("/", get(index))
        .route("/_demo/stats", get(stats))
        .fallback(|| async { ErrorFormat::Json.not_found("no such demo endpoint") })
        .with_state(state)
}

/// What is served where: a health check of the base URL gets a 200 and a map of the systems.
async fn index(State(state): State<Shared>) -> Response {
    Json(serde_json::json!({
        "name": "syncdeck demo systems",
        "fleet_size": state.fleet.len(),
        "systems": {
            "fleet": "/fleet/api/devices",
            "cmdb": "/cmdb/api/assets",
            "registry": "/registry/devices",
            "mdm": "/mdm/v1/devices",
            "stats": "/_demo/stats",
        },
    }))
    .into_response()
}

async fn stats(State(state): State<Shared>) -> Response {
    Json(state.counters.snapshot()).into_response()
}

/// A running demo server; dropping it stops the server too.
pub struct DemoServer {
    addr: SocketAddr,
    state: Shared,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<io::Result<()>>>,
}

impl DemoServer {
    /// The address it listens on (the real port when started on port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, the base every system's prefix hangs off.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Requests and write requests received so far, per system.
    pub fn stats(&self) -> DemoStats {
        self.state.counters.snapshot()
    }

    /// The source fleet it serves.
    pub fn fleet(&self) -> &Fleet {
        &self.state.fleet
    }

    /// The CMDB's record for `serial` as it stands now (written or as generated); None when the
    /// CMDB has none.
    pub fn cmdb_record(&self, serial: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
        let index = self.state.fleet.index_of(serial)?;
        self.state.cmdb.record(&self.state.fleet, index)
    }

    /// Whether the CMDB's record for `serial` holds what the demo mapping writes (fields whose
    /// source is null left out); None when the CMDB has no record for it.
    pub fn cmdb_holds_mapping(&self, serial: &str) -> Option<bool> {
        let index = self.state.fleet.index_of(serial)?;
        self.state.cmdb.holds_mapping(&self.state.fleet, index)
    }

    /// Writes the CMDB applied per serial since the server started; serials never written are
    /// absent. Tests use it to prove a record is not written more often than needed.
    pub fn cmdb_write_counts(&self) -> std::collections::BTreeMap<String, u64> {
        self.state
            .cmdb
            .write_counts()
            .into_iter()
            .map(|(index, count)| (Fleet::serial(index), count))
            .collect()
    }

    /// Stops accepting connections, lets requests in flight finish (at most a few seconds).
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(SHUTDOWN_GRACE, &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
    }
}

impl Drop for DemoServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl std::fmt::Debug for DemoServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoServer")
            .field("addr", &self.addr)
            .field("fleet_size", &self.state.fleet.len())
            .finish_non_exhaustive()
    }
}

pub(crate) async fn start(addr: SocketAddr, opts: DemoOptions) -> io::Result<DemoServer> {
    if !addr.ip().is_loopback() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("the demo systems listen on loopback only, not {addr}"),
        ));
    }
    if opts.fleet_size > MAX_FLEET_SIZE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "a demo fleet holds at most {MAX_FLEET_SIZE} devices, not {}",
                opts.fleet_size
            ),
        ));
    }
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let fleet = Fleet::new(opts.fleet_size, opts.seed);
    let state = Arc::new(DemoState {
        cmdb: CmdbState::new(&fleet),
        registry: RegistryState::new(),
        mdm: MdmState::new(),
        counters: Counters::default(),
        fleet,
    });
    let (stop, stopped) = oneshot::channel::<()>();
    let app = app(state.clone());
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    tracing::info!(%addr, fleet_size = state.fleet.len(), "demo systems listening");
    Ok(DemoServer {
        addr,
        state,
        stop: Some(stop),
        task: Some(task),
    })
}
