//! The demo systems served from the test process, their configuration, and a store beside them.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use syncdeck::config::{self, Config, Environment};
use syncdeck::demo::{self, DemoOptions, DemoServer};
use syncdeck::store::{Store, StoreOptions};

/// The demo systems on a free loopback port, with `fleet_size` devices made from `seed`.
pub async fn start(fleet_size: usize, seed: u64) -> DemoServer {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    demo::start(addr, DemoOptions { fleet_size, seed })
        .await
        .unwrap()
}

/// The demo systems on a runtime of their own (for tests that are not async), kept by the test.
pub fn start_blocking(fleet_size: usize, seed: u64) -> (tokio::runtime::Runtime, DemoServer) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime.block_on(start(fleet_size, seed));
    (runtime, server)
}

/// An environment where the demo's secrets are set, as `syncdeck demo` sets them.
pub fn env() -> Environment {
    Environment::with_fallbacks(demo::demo_secrets().iter().copied())
}

/// `text` read as the demo's config file, with the demo's secrets.
pub fn parse_config(text: &str) -> Config {
    config::parse(text, Path::new("/demo/config.toml"), &env()).unwrap()
}

/// The demo configuration for demo systems at `addr` (screens use `127.0.0.1:7300`).
pub fn config_at(addr: &str) -> Arc<Config> {
    Arc::new(parse_config(&demo::config_for(addr.parse().unwrap())))
}

/// The demo systems, their configuration and a store open in a temp dir (`store.redb`).
pub struct Demo {
    pub server: DemoServer,
    pub config: Arc<Config>,
    pub store: Store,
    pub dir: tempfile::TempDir,
}

impl Demo {
    /// Starts the demo systems (`fleet_size` devices made from `seed`) and opens a fresh store.
    pub async fn start(fleet_size: usize, seed: u64) -> Demo {
        let server = start(fleet_size, seed).await;
        let config = Arc::new(parse_config(&demo::config_for(server.addr())));
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("store.redb"), StoreOptions::default()).unwrap();
        Demo {
            server,
            config,
            store,
            dir,
        }
    }
}
