//! The demo systems: a source fleet and destinations that behave like real ones, on loopback.
//!
//! One axum server, each system under its own path prefix:
//!
//! - `/fleet`: the source, `GET /fleet/api/devices?page=N&per_page=M[&serial=X]` under a
//!   `data.items` envelope.
//! - `/cmdb`: a ServiceNow-like JSON CMDB with some serials missing; `PUT` answers 405.
//! - `/registry`: an XML asset registry that answers 415 to JSON and 400 `INVALID_CONTENT` to
//!   unknown fields and sites.
//! - `/mdm`: an MDM that answers 202, some 503s and one 429 with `Retry-After`. About 2% of the
//!   devices get one 503 that a retry fixes; about 0.5% ([`DeviceTraits::mdm_outage`]: in the
//!   MDM, with a stale record, not flaky) are caught in a maintenance outage that answers 503
//!   without `Retry-After` to their first [`MDM_OUTAGE_WRITES`] writes and accepts the later ones,
//!   so a live run (1 + `max_retries` = 5 attempts) ends them Failed with the "destination down"
//!   hint and a resync then turns them OK.
//! - `GET /_demo/stats`: request and write counters per system ([`DemoStats`]).
//!
//! The data are computed from blake3 of (seed, serial), so the same seed and size give the same
//! fleet and the same destination state; writes change that state in memory, so a second live
//! run finds less to do.

mod catalogue;
mod cmdb;
mod config;
mod dice;
mod fleet;
mod guard;
mod lock;
mod mdm;
mod options;
mod record;
mod registry;
mod reply;
mod server;
mod source;
mod state;
mod stats;
mod xml;

use std::net::SocketAddr;

pub use config::{DEMO_BASE_URL, DEMO_CONFIG, config_for, demo_secrets};
pub use fleet::{
    DestinationTraits, Device, DeviceTraits, Fleet, Hardware, MDM_OUTAGE_WRITES, MemoryGb,
    OperatingSystem,
};
pub use options::{DemoOptions, MAX_FLEET_SIZE};
pub use server::DemoServer;
pub use stats::{DemoStats, SystemStats};

/// The MDM write (counting valid writes from 1) that gets the server's one 429.
pub const MDM_THROTTLED_WRITE: u64 = mdm::THROTTLED_WRITE;

/// Starts the demo systems on `addr` (loopback only; port 0 picks a free port).
pub async fn start(addr: SocketAddr, opts: DemoOptions) -> std::io::Result<DemoServer> {
    server::start(addr, opts).await
}
