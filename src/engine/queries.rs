//! The questions a front end asks the engine outside a run: what a resync of some entries would
//! re-run (and what it refuses), and how healthy connections are now. Runs go through
//! [`super::Command`] and [`super::Event`]; these are the only other ways in, so a front end
//! never reaches into `resync` or `health` itself. Both read the store (the health check also
//! calls the systems and keeps its result), so the console calls them from its background
//! threads, never its UI thread.

use std::sync::Arc;

use crate::config::Config;
use crate::store::{Store, StoreError, SyncId};

use super::health::{self, HealthReport};
use super::resync::{self, ResyncPlan};

/// Sorts `entries` into those a resync re-runs and those it refuses, with why. Writes nothing.
pub fn plan_resync(
    config: &Config,
    store: &Store,
    entries: &[SyncId],
) -> Result<ResyncPlan, StoreError> {
    resync::plan_resync(config, store, entries)
}

/// The last health check kept for `connection`, if any.
pub fn last_health(store: &Store, connection: &str) -> Result<Option<HealthReport>, StoreError> {
    health::load(store, connection)
}

/// Checks the health of `connections` at once, on a runtime of the calling (background)
/// thread, and keeps each result in the store (an unsaved result is still returned).
pub fn check_health_blocking(
    config: &Arc<Config>,
    store: &Store,
    connections: &[String],
) -> Vec<(String, Result<HealthReport, String>)> {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            return connections
                .iter()
                .map(|c| (c.clone(), Err(format!("cannot start the check: {e}"))))
                .collect();
        }
    };
    let results = runtime.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for (i, name) in connections.iter().enumerate() {
            let config = config.clone();
            let store = store.clone();
            let name = name.clone();
            set.spawn(async move {
                (
                    i,
                    health::check_connection(&config, Some(&store), &name).await,
                )
            });
        }
        let mut results: Vec<Option<Result<HealthReport, String>>> = vec![None; connections.len()];
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok((i, result)) => results[i] = Some(result),
                Err(e) => tracing::warn!("a health check ended: {e}"),
            }
        }
        results
    });
    connections
        .iter()
        .zip(results)
        .map(|(name, result)| {
            let result = result.unwrap_or_else(|| Err("the check stopped".to_string()));
            if let Ok(report) = &result
                && let Err(e) = health::save(store, report)
            {
                tracing::warn!("cannot keep the health of {name}: {e}");
            }
            (name.clone(), result)
        })
        .collect()
}
