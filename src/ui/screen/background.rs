//! Work that scans many entries (counting, selecting every match, planning a mass resync, CSV
//! export) runs on its own thread, never on the UI thread; results come back through a channel
//! the app drains when it handles a key, an engine event or a tick, or when the screen loop
//! wakes it through [`Background::signal`].

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::engine::ResyncPlan;
use crate::engine::health::HealthReport;
use crate::store::diagnostics::Diagnostics;
use crate::store::{CancelOutcome, CancelRequest, RunId, Store, SyncId, Trigger};

use crate::ui::views::connections::summary::Summary;

/// Which entries a resync plan was asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResyncScope {
    /// One entry, from its details.
    Entry(SyncId),
    /// The selected entries.
    Selection(usize),
    /// Every failed entry matching the report's filters.
    FailedInFilter,
}

/// What a background job reports.
#[derive(Debug)]
pub enum BackgroundResult {
    /// The report's two counts for the query of `generation`: the entries matching the filters
    /// and all entries in the window.
    Counted {
        generation: u64,
        counts: Result<(u64, u64), String>,
    },
    /// Every entry matching the filters, for "select all".
    AllMatching { ids: Result<Vec<SyncId>, String> },
    /// A resync plan, ready for the confirmation, with the health of each connection involved
    /// (checked before a mass resync; None when not checked).
    Planned {
        scope: ResyncScope,
        plan: Result<ResyncPlan, String>,
        health: Option<Vec<(String, Result<HealthReport, String>)>>,
    },
    /// Contracts and last runs of every connection, for the Connections view.
    Summarized {
        summaries: Result<HashMap<String, Summary>, String>,
    },
    /// One connection's health check (`H`), saved in the store.
    HealthChecked {
        connection: String,
        report: Result<HealthReport, String>,
    },
    /// What a Dry run planned per connection, for the apply confirmation: (connection, would
    /// update, would create).
    ApplyPlanned {
        run_id: RunId,
        counts: Result<Vec<(String, u64, u64)>, String>,
    },
    /// Entries each choice of a report picker would show, in the choices' order.
    PickerCounted {
        kind: crate::ui::overlays::picker::PickerKind,
        counts: Result<Vec<Option<u64>>, String>,
    },
    /// The diagnostics of one connection run, for its panel.
    Diagnosed {
        run_id: RunId,
        connection: String,
        result: Result<Diagnostics, String>,
    },
    /// Rows written so far and the total (not the end of the job).
    ExportProgress { written: u64, total: u64 },
    /// How the entries of a finished Resync run ended: (OK, still failed, other).
    ResyncChecked {
        run_id: RunId,
        counts: Result<(usize, usize, usize), String>,
    },
    Exported {
        path: PathBuf,
        result: Result<u64, String>,
    },
    /// A store write asked for by a key (kept off the UI thread: a write waits while the
    /// engine commits a batch). `result`: whether there was something to change.
    Stored {
        write: StoreWrite,
        result: Result<bool, String>,
    },
}

/// A small store write a key asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreWrite {
    /// `D`: a connection's dry-run override set to `value`, or removed (None); `text` tells the
    /// operator once it is done.
    DryRunOverride {
        key: String,
        value: Option<&'static str>,
        text: String,
    },
    /// `d`: one contract deleted.
    ContractDeleted {
        connection: String,
        origin_id: String,
    },
    /// `c` on a run of another process: a cancel request written for its owner to honour.
    CancelRequested { run_id: RunId },
}

impl StoreWrite {
    /// Does the write; true when something changed.
    pub fn apply(&self, store: &Store) -> Result<bool, String> {
        let done = match self {
            StoreWrite::DryRunOverride {
                key,
                value: Some(value),
                ..
            } => store.set_setting(key, value).map(|()| true),
            StoreWrite::DryRunOverride {
                key, value: None, ..
            } => store.remove_setting(key),
            StoreWrite::ContractDeleted {
                connection,
                origin_id,
            } => store.delete_contract(connection, origin_id),
            StoreWrite::CancelRequested { run_id } => {
                let request = CancelRequest::from_here(Trigger::console());
                store
                    .request_cancel(*run_id, &request)
                    .map(|outcome| matches!(outcome, CancelOutcome::Requested(_)))
            }
        };
        done.map_err(|e| e.to_string())
    }
}

impl BackgroundResult {
    /// True for the report a job ends with (progress reports are not).
    fn is_final(&self) -> bool {
        !matches!(self, BackgroundResult::ExportProgress { .. })
    }
}

/// Where a job sends its progress.
#[derive(Clone)]
pub struct Reporter {
    tx: Sender<BackgroundResult>,
    signal: Arc<Notify>,
}

impl Reporter {
    pub fn send(&self, done: BackgroundResult) {
        let _ = self.tx.send(done);
        self.signal.notify_one();
    }
}

/// The running jobs' channel.
pub struct Background {
    tx: Sender<BackgroundResult>,
    rx: Receiver<BackgroundResult>,
    signal: Arc<Notify>,
    /// Jobs started and not yet reported back.
    running: usize,
}

impl Default for Background {
    fn default() -> Self {
        let (tx, rx) = mpsc::channel();
        Background {
            tx,
            rx,
            signal: Arc::new(Notify::new()),
            running: 0,
        }
    }
}

impl Background {
    /// Runs `job` on a thread of its own; what it returns is its final report. A panic in the
    /// job is reported through `on_panic`'s report instead.
    pub fn spawn(
        &mut self,
        name: &str,
        job: impl FnOnce(&Reporter) -> BackgroundResult + Send + 'static,
        on_panic: impl FnOnce(String) -> BackgroundResult + Send + 'static,
    ) {
        let reporter = Reporter {
            tx: self.tx.clone(),
            signal: self.signal.clone(),
        };
        let spawned = std::thread::Builder::new()
            .name(format!("syncdeck-{name}"))
            .spawn(move || {
                let done = catch_unwind(AssertUnwindSafe(|| job(&reporter))).unwrap_or_else(|p| {
                    let text = crate::panics::payload_text(&*p)
                        .unwrap_or_else(|| "a background job panicked".into());
                    on_panic(text)
                });
                reporter.send(done);
            });
        if spawned.is_ok() {
            self.running += 1;
        }
    }

    /// Runs a small store write off the UI thread (a write waits while the engine commits a
    /// batch); [`BackgroundResult::Stored`] tells how it went.
    pub fn write(&mut self, store: &Store, write: StoreWrite) {
        let store = store.clone();
        let failed = write.clone();
        self.spawn(
            "store-write",
            move |_| {
                let result = write.apply(&store);
                BackgroundResult::Stored { write, result }
            },
            move |panic| BackgroundResult::Stored {
                write: failed,
                result: Err(panic),
            },
        );
    }

    /// Wakes whoever waits on it each time a job reports; the screen loop can wait on it to
    /// show results at once instead of at the next tick.
    pub fn signal(&self) -> Arc<Notify> {
        self.signal.clone()
    }

    /// True while some job has not reported its end.
    pub fn is_busy(&self) -> bool {
        self.running > 0
    }

    /// The next report, if one is waiting.
    pub fn try_next(&mut self) -> Option<BackgroundResult> {
        let done = self.rx.try_recv().ok()?;
        self.finished(&done);
        Some(done)
    }

    /// The next report, waiting until `deadline` at most.
    pub fn next_before(&mut self, deadline: Instant) -> Option<BackgroundResult> {
        let wait = deadline.saturating_duration_since(Instant::now());
        match self.rx.recv_timeout(wait.max(Duration::from_millis(1))) {
            Ok(done) => {
                self.finished(&done);
                Some(done)
            }
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => None,
        }
    }

    fn finished(&mut self, done: &BackgroundResult) {
        if done.is_final() {
            self.running = self.running.saturating_sub(1);
        }
    }
}
