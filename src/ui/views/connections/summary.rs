//! What the Connections view reads in the background: each connection's contracts and last
//! run. A leaf: the background runner names [`Summary`] without depending on the view.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::store::{RunId, RunMode, RunStatus, RunType, Store, StoreError};

/// Runs read, newest first, looking for each connection's last run.
const HISTORY_SCAN: usize = 200;

/// A connection's last run, as its row shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LastRun {
    pub run_id: RunId,
    pub run_type: RunType,
    pub mode: RunMode,
    pub at: DateTime<Utc>,
    pub status: RunStatus,
    /// Its Failed entries ([`crate::ui::widgets::status::failed_entries`]).
    pub failed: u64,
}

/// What the view reads from the store in the background: contracts and the last run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub contracts: u64,
    pub last_run: Option<LastRun>,
}

/// Contracts counted and the last run found of every configured connection (runs older than the
/// last [`HISTORY_SCAN`] are not looked at). Scans contracts: run it off the UI thread.
pub fn summarize(config: &Config, store: &Store) -> Result<HashMap<String, Summary>, StoreError> {
    let mut out: HashMap<String, Summary> = HashMap::new();
    for connection in &config.connections {
        let contracts = store.count_contracts(&connection.name)?;
        out.insert(
            connection.name.clone(),
            Summary {
                contracts,
                last_run: None,
            },
        );
    }
    let mut missing: HashSet<&str> = config.connections.iter().map(|c| c.name.as_str()).collect();
    for run in store.list_runs(None, HISTORY_SCAN)? {
        if missing.is_empty() {
            break;
        }
        if !run.connections.iter().any(|c| missing.contains(c.as_str())) {
            continue;
        }
        for row in store.connection_runs(run.id)? {
            if !missing.remove(row.connection.as_str()) {
                continue;
            }
            if let Some(summary) = out.get_mut(&row.connection) {
                summary.last_run = Some(LastRun {
                    run_id: run.id,
                    run_type: run.run_type,
                    mode: row.mode,
                    at: row.started_at.unwrap_or(run.started_at),
                    status: row.status,
                    failed: crate::ui::widgets::status::failed_entries(row.mode, &row.counters),
                });
            }
        }
    }
    Ok(out)
}
