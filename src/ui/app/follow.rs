//! Following the other processes on the store (SPEC section 10): a run started by any syncdeck
//! process — another console, a headless or scheduled run — appears here within a second, its
//! rows, gauges and counters move as its batches commit, and its end shows.
//!
//! A task looks at the store's change counter: one small read, four times a second while a run
//! of another process goes and twice a second otherwise. Only when the counter moved does it
//! read more: the runs going now, those started since its last look, and those that were going
//! then (to see how they ended). Nothing else is read and nothing is drawn while all is quiet.
//! While runs of other processes go, it also checks that their processes live: one killed
//! commits nothing, so its run is settled (Interrupted) here, as the next open would.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::store::{
    CancelRequest, ConnectionRun, Run, RunId, RunOwner, RunStatus, Store, StoreError,
};

/// How often the counter is read while a run of another process goes.
pub const BUSY_POLL: Duration = Duration::from_millis(250);
/// How often it is read otherwise: a run started elsewhere shows within a second.
pub const IDLE_POLL: Duration = Duration::from_millis(500);
/// The most runs one look reads that started since the last one.
const NEW_RUNS_PER_LOOK: usize = 200;

/// A run of another process as the store has it now.
#[derive(Clone, Debug)]
pub struct FollowedRun {
    pub run: Run,
    pub rows: Vec<ConnectionRun>,
    /// A cancel request written for it and not yet honoured.
    pub cancel: Option<CancelRequest>,
}

/// What one look found after the store changed: the runs of other processes that are going,
/// started, or ended since the last look (maybe none: then something else changed, such as
/// entries of a resync, contracts or settings).
#[derive(Clone, Debug, Default)]
pub struct Followed {
    pub runs: Vec<FollowedRun>,
}

/// What the follower knows between looks.
#[derive(Debug, Default)]
struct Watch {
    count: Option<u64>,
    newest: RunId,
    going: BTreeSet<RunId>,
    /// The owners of the runs going, to notice one dying (which commits nothing).
    owners: BTreeMap<RunId, RunOwner>,
}

impl Watch {
    /// Reads what changed, if the counter moved. A run whose owner died since the last look
    /// (killed, so it committed nothing) is settled first, as the next open would, so that it
    /// shows Interrupted now rather than Running until some process opens the store.
    fn look(&mut self, store: &Store) -> Result<Option<Followed>, StoreError> {
        if self.owners.values().any(RunOwner::is_gone) {
            let settled = store.settle_dead_runs()?;
            if !settled.is_empty() {
                tracing::warn!(
                    "a run's process ended while this console watched: {}",
                    settled.summary().unwrap_or_default()
                );
            }
        }
        let count = store.change_count()?;
        if self.count == Some(count) {
            return Ok(None);
        }
        self.count = Some(count);
        let mut runs: BTreeMap<RunId, Run> = BTreeMap::new();
        for run in store.running_runs()? {
            runs.insert(run.id, run);
        }
        for run in store.runs_after(self.newest, NEW_RUNS_PER_LOOK)? {
            runs.insert(run.id, run);
        }
        for &id in &self.going {
            if !runs.contains_key(&id)
                && let Some(run) = store.get_run(id)?
            {
                runs.insert(id, run);
            }
        }
        self.newest = runs
            .keys()
            .next_back()
            .copied()
            .unwrap_or(0)
            .max(self.newest);
        // This process's own runs reach its screen through its engine's events.
        runs.retain(|_, run| !run.owner.as_ref().is_some_and(|o| o.is_current()));
        self.going = runs
            .values()
            .filter(|run| run.status == RunStatus::Running)
            .map(|run| run.id)
            .collect();
        self.owners = runs
            .values()
            .filter(|run| run.status == RunStatus::Running)
            .filter_map(|run| Some((run.id, run.owner.clone()?)))
            .collect();
        let mut followed = Followed::default();
        for (id, run) in runs {
            let cancel = match run.status {
                RunStatus::Running => store.cancel_request(id)?,
                _ => None,
            };
            followed.runs.push(FollowedRun {
                rows: store.connection_runs(id)?,
                run,
                cancel,
            });
        }
        Ok(Some(followed))
    }
}

/// Starts following `store`; runs up to `newest` are already on screen. What each look finds
/// comes through the receiver; the task ends when the receiver is dropped.
pub fn spawn(store: Store, newest: RunId) -> (mpsc::UnboundedReceiver<Followed>, JoinHandle<()>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        let mut watch = Watch {
            newest,
            ..Watch::default()
        };
        let mut failed = false;
        loop {
            let pause = if watch.going.is_empty() {
                IDLE_POLL
            } else {
                BUSY_POLL
            };
            tokio::time::sleep(pause).await;
            if tx.is_closed() {
                return;
            }
            let store = store.clone();
            let looked = tokio::task::spawn_blocking(move || {
                let found = watch.look(&store);
                (watch, found)
            })
            .await;
            let Ok((back, found)) = looked else {
                return;
            };
            watch = back;
            match found {
                Ok(Some(followed)) => {
                    failed = false;
                    if tx.send(followed).is_err() {
                        return;
                    }
                }
                Ok(None) => failed = false,
                // Said once, not twice a second; the next look tries again.
                Err(e) if !failed => {
                    failed = true;
                    tracing::warn!("cannot follow the store: {e}");
                }
                Err(_) => {}
            }
        }
    });
    (rx, task)
}
