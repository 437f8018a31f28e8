//! Request and write counters per demo system, so tests can prove that a dry run wrote nothing.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// What one system has been asked since the server started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemStats {
    /// Every request that reached the system, whatever its answer.
    pub requests: u64,
    /// Requests with a writing method (POST, PUT, PATCH, DELETE), whatever their answer.
    pub writes: u64,
}

/// A snapshot of the counters, also served as JSON at `GET /_demo/stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemoStats {
    pub fleet: SystemStats,
    pub cmdb: SystemStats,
    pub registry: SystemStats,
    pub mdm: SystemStats,
}

impl DemoStats {
    /// Write requests received by the three destinations together.
    pub fn destination_writes(&self) -> u64 {
        self.cmdb.writes + self.registry.writes + self.mdm.writes
    }
}

#[derive(Debug, Default)]
struct SystemCounters {
    requests: AtomicU64,
    writes: AtomicU64,
}

impl SystemCounters {
    fn snapshot(&self) -> SystemStats {
        SystemStats {
            requests: self.requests.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
        }
    }
}

/// The demo systems that are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum System {
    Fleet,
    Cmdb,
    Registry,
    Mdm,
}

/// The live counters of one server.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    fleet: SystemCounters,
    cmdb: SystemCounters,
    registry: SystemCounters,
    mdm: SystemCounters,
}

impl Counters {
    pub(crate) fn count(&self, system: System, writing: bool) {
        let counters = match system {
            System::Fleet => &self.fleet,
            System::Cmdb => &self.cmdb,
            System::Registry => &self.registry,
            System::Mdm => &self.mdm,
        };
        counters.requests.fetch_add(1, Ordering::Relaxed);
        if writing {
            counters.writes.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn snapshot(&self) -> DemoStats {
        DemoStats {
            fleet: self.fleet.snapshot(),
            cmdb: self.cmdb.snapshot(),
            registry: self.registry.snapshot(),
            mdm: self.mdm.snapshot(),
        }
    }
}
