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

use crate::engine::LogLevel;
use crate::store::{
    CancelRequest, ConnectionRun, Run, RunId, RunOwner, RunStatus, Store, StoreError,
};

use crate::ui::app::{App, View};

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

impl App {
    /// What the follower found: other processes' runs into the history and the card, and the
    /// views that read the store marked to read it again.
    pub fn handle_followed(&mut self, followed: Followed) {
        self.poll_background();
        self.store_changed = true;
        self.report_activity.stale = true;
        for FollowedRun { run, rows, cancel } in followed.runs {
            let id = run.id;
            let was_going = self.following.contains_key(&id);
            if run.status == RunStatus::Running {
                if !was_going && self.runs.run(id).is_none_or(|r| r.status.is_finished()) {
                    self.runs.expand_run(id);
                }
                self.following.insert(id, cancel);
            } else {
                self.following.remove(&id);
            }
            self.runs.upsert_run(run.clone());
            self.runs.replace_connection_runs(id, rows);
            if was_going && run.status.is_finished() {
                self.followed_run_ended(&run);
            }
            self.dirty = true;
        }
        // The jobs view and the card change with runs; the others at the next tick.
        self.dirty |= self.view == View::Jobs;
    }

    /// A run of another process ended while this console watched it.
    fn followed_run_ended(&mut self, run: &Run) {
        let origin = crate::store::origin(run.owner.as_ref(), run.trigger.as_ref());
        let asked = self.asked_cancel.remove(&run.id);
        let text = format!(
            "run #{} ({origin}) finished: {}{}",
            run.id,
            crate::ui::widgets::status::word_with(
                run.status,
                crate::ui::widgets::status::run_failed_entries(self.runs.connection_runs(run.id))
            ),
            run.note
                .as_ref()
                .map_or(String::new(), |n| format!(" ({n})"))
        );
        let level = if crate::ui::widgets::status::is_failure(run.status) {
            LogLevel::Warn
        } else {
            LogLevel::Info
        };
        self.log(level, text.clone());
        // Said on the message line when this console asked for it, or nothing of its own goes.
        if asked || self.live.is_none() {
            self.show_message(text, crate::ui::widgets::status::is_failure(run.status));
        }
    }

    /// Once a second after the store changed: the views that read it read it again.
    pub(super) fn refresh_after_store_change(&mut self) {
        if !std::mem::take(&mut self.store_changed) {
            return;
        }
        self.contracts.reload();
        self.connections.stale = true;
        match self.view {
            View::Connections => self.refresh_connections_if_stale(),
            View::Contracts => self.dirty = true,
            _ => {}
        }
    }

    /// A run of another process going now, the newest first.
    pub(super) fn followed_running(&self) -> Option<RunId> {
        self.following.keys().next_back().copied()
    }

    /// The cancel request of a run going in another process, if one was written.
    pub(super) fn cancel_requested(&self, run_id: RunId) -> Option<&CancelRequest> {
        self.following.get(&run_id).and_then(Option::as_ref)
    }
}
