//! The run's ledger: every commit of a run goes through it, so that nothing a run did goes
//! unrecorded when the store stops taking writes (a full disk, an I/O error, the file gone).
//!
//! At the first failed commit the ledger breaks: from then on batches are kept in memory, in
//! order; every connection run stops dispatching (see [`Ledger::is_broken`]), requests in
//! flight finish and their results join the kept batches, and connections not started do not
//! start. When the run ends, [`Ledger::settle`] retries the kept batches into the store
//! (reopened: redb refuses everything after a failed write) with backoff for a bounded time,
//! and failing that writes them to the recovery file whose space was reserved when the run
//! started ([`crate::store::recovery_file`]); the next open imports it.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;

use super::protocol::{Event, LogLevel, RecordingFailure};
use super::sink::EventSink;
use crate::store::recovery_file::{self, Kept, Reservation};
use crate::store::{RunId, Store, StoreError, WriteBatch};

/// The waits between attempts to commit the kept batches again: 7.5 s in all, enough for a
/// log rotation or a cleanup to free the disk, short enough for a run (and the operator
/// waiting on it) to end.
const RETRY_DELAYS: [Duration; 4] = [
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
];

/// What to do when the store cannot record.
pub const FREE_DISK_HINT: &str = "free disk space where the store lives (or fix the disk), then open \
     syncdeck again: what the run did is imported from its recovery file; resync the failed \
     entries";

/// Why the store could not record, for the operator.
pub fn recording_message(store: &Store, error: &StoreError) -> String {
    let cause = match error {
        StoreError::Gone { .. } => crate::store::GONE.to_string(),
        other => root_cause(other),
    };
    format!(
        "the store could not record: {}: {cause}",
        store.path().display()
    )
}

/// The innermost cause of a store error ("No space left on device (os error 28)"), which
/// names the disk's problem better than redb's wrapping.
fn root_cause(error: &StoreError) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text = cause.to_string();
        source = cause.source();
    }
    text.strip_prefix("I/O error: ")
        .unwrap_or(&text)
        .to_string()
}

/// How a run's recording ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Settlement {
    /// Every commit went through.
    Clean,
    /// Commits failed, and the kept batches went into the store on a retry.
    Recorded { message: String },
    /// Commits failed for good: the kept batches are in the recovery file.
    Kept { message: String, kept: Kept },
    /// Commits failed for good and the recovery file could not be written either.
    Lost {
        message: String,
        entries: u64,
        why: String,
    },
}

struct Held {
    /// The first failed commit's message ("the store could not record: …").
    failure: Option<String>,
    batches: Vec<WriteBatch>,
    reservation: Option<Reservation>,
}

/// One run's ledger; shared by its connection runs (see the module documentation).
pub(crate) struct Ledger {
    store: Store,
    run_id: RunId,
    broken: AtomicBool,
    signal: watch::Sender<bool>,
    held: Mutex<Held>,
}

impl Ledger {
    /// The ledger of run `run_id`, with the space reserved for its recovery file (None: a Dry
    /// run, which writes nowhere but the store, reserves none).
    pub(crate) fn new(store: Store, run_id: RunId, reservation: Option<Reservation>) -> Ledger {
        Ledger {
            store,
            run_id,
            broken: AtomicBool::new(false),
            signal: watch::Sender::new(false),
            held: Mutex::new(Held {
                failure: None,
                batches: Vec::new(),
                reservation,
            }),
        }
    }

    /// True once a commit failed: nothing more may be dispatched.
    pub(crate) fn is_broken(&self) -> bool {
        self.broken.load(Ordering::Acquire)
    }

    /// Resolves once the ledger breaks (never, while it holds).
    pub(crate) async fn broke(&self) {
        let mut signal = self.signal.subscribe();
        let _ = signal.wait_for(|broken| *broken).await;
    }

    /// The message of the first failed commit, once there was one.
    pub(crate) fn failure(&self) -> Option<String> {
        self.lock().failure.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Commits `batch` in one transaction (blocking: call it off the async threads); once a
    /// commit has failed, keeps it in memory instead, after the ones kept before. True when
    /// it went into the store.
    pub(crate) fn record(&self, mut batch: WriteBatch) -> bool {
        if batch.is_empty() {
            return true;
        }
        // Held across the commit: batches reach the store (or the kept list) in order.
        let mut held = self.lock();
        if held.failure.is_none() {
            match self.store.commit(&mut batch) {
                Ok(_) => return true,
                Err(error) => {
                    let message = recording_message(&self.store, &error);
                    tracing::error!("run {}: {message}", self.run_id);
                    held.failure = Some(message);
                    self.broken.store(true, Ordering::Release);
                    self.signal.send_replace(true);
                }
            }
        }
        held.batches.push(batch);
        false
    }

    /// Ends the run's recording: gives the reserved space back when every commit went
    /// through; otherwise retries the kept batches into the reopened store for a while, and
    /// failing that writes them to the recovery file.
    pub(crate) async fn settle(&self) -> Settlement {
        let (failure, mut batches, reservation) = {
            let mut held = self.lock();
            (
                held.failure.clone(),
                std::mem::take(&mut held.batches),
                held.reservation.take(),
            )
        };
        let Some(message) = failure else {
            if let Some(reservation) = reservation {
                reservation.release();
            }
            return Settlement::Clean;
        };
        for delay in RETRY_DELAYS {
            tokio::time::sleep(delay).await;
            let store = self.store.clone();
            let attempt = tokio::task::spawn_blocking(move || {
                let result = store
                    .reopen()
                    .and_then(|()| commit_all(&store, &mut batches));
                (result, batches)
            })
            .await;
            let Ok((result, back)) = attempt else {
                return Settlement::Lost {
                    message,
                    entries: 0,
                    why: "the retry stopped".to_string(),
                };
            };
            batches = back;
            match result {
                Ok(()) => {
                    tracing::warn!("run {}: recorded on a retry after: {message}", self.run_id);
                    if let Some(reservation) = reservation {
                        reservation.release();
                    }
                    return Settlement::Recorded { message };
                }
                Err(error) => {
                    tracing::warn!("run {}: the store still refuses: {error}", self.run_id);
                }
            }
        }
        let entries: u64 = batches.iter().map(|b| b.entries.len() as u64).sum();
        let store_path: PathBuf = self.store.path().to_path_buf();
        let run_id = self.run_id;
        let reason = message.clone();
        let written = tokio::task::spawn_blocking(move || {
            let kept = match reservation {
                Some(reservation) => reservation.keep(run_id, &reason, &batches),
                None => recovery_file::keep_unreserved(&store_path, run_id, &reason, &batches),
            };
            // What neither the store nor the file took goes to the log, entry by entry: the
            // last record of it (the log lives under the state directory, often another disk).
            let from = kept.as_ref().map_or(0, |kept| kept.batches);
            log_unkept(run_id, &batches[from.min(batches.len())..]);
            kept
        })
        .await;
        match written {
            Ok(Ok(kept)) => {
                tracing::error!(
                    "run {}: {} entries kept in {} until the next open",
                    self.run_id,
                    kept.entries,
                    kept.path.display()
                );
                Settlement::Kept { message, kept }
            }
            Ok(Err(error)) => Settlement::Lost {
                message,
                entries,
                why: error.to_string(),
            },
            Err(_) => Settlement::Lost {
                message,
                entries,
                why: "writing the recovery file stopped".to_string(),
            },
        }
    }
}

/// Logs each entry of `batches`: what a run did that nothing else could keep.
fn log_unkept(run_id: RunId, batches: &[WriteBatch]) {
    for entry in batches.iter().flat_map(|batch| &batch.entries) {
        tracing::error!(
            run_id,
            connection = %entry.connection,
            serial = %entry.reference,
            status = entry.status.as_str(),
            outcome = entry.outcome.as_str(),
            attempts = entry.attempts.len(),
            http_status = ?entry.error.as_ref().and_then(|e| e.http_status),
            "not recorded: neither the store nor the recovery file could take this entry"
        );
    }
}

/// Reserves the space of a run's recovery file beside the store. A run that `writes` to
/// destinations does not start without it (Err: the reason, the operator told through a
/// `RecordingFailed`); a Dry run goes on without, a file written if it comes to that.
pub(crate) async fn reserve(
    store: &Store,
    writes: bool,
    events: &EventSink,
) -> Result<Option<Reservation>, String> {
    let reserved = {
        let path = store.path().to_path_buf();
        tokio::task::spawn_blocking(move || Reservation::create(&path))
            .await
            .map_err(crate::panics::panic_text)?
    };
    match reserved {
        Ok(reservation) => Ok(Some(reservation)),
        Err(error) if !writes => {
            events.log(
                LogLevel::Warn,
                format!("no room reserved for a recovery file beside the store: {error}"),
            );
            Ok(None)
        }
        Err(error) => {
            let message = format!(
                "the store could not record: no room beside {} for the run's recovery file ({} \
                 MiB): {error}",
                store.path().display(),
                recovery_file::RESERVED_BYTES >> 20
            );
            refuse(events, message.clone());
            Err(format!(
                "{message}; a run that writes to destinations does not start without it"
            ))
        }
    }
}

/// Tells the front end a run does not start because the store could not record.
pub(crate) fn refuse(events: &EventSink, message: String) {
    events.send(Event::RecordingFailed {
        run_id: None,
        failure: RecordingFailure {
            message,
            hint: FREE_DISK_HINT.to_string(),
            kept: None,
            entries_kept: 0,
            entries_lost: 0,
        },
    });
}

impl Ledger {
    /// [`Ledger::settle`]s and, when the store could not record, says where what the run did
    /// went: the log, and a `RecordingFailed` event before the run's end.
    pub(crate) async fn settle_and_tell(&self, events: &EventSink) {
        let run_id = self.run_id;
        let failure = match self.settle().await {
            Settlement::Clean => return,
            Settlement::Recorded { message } => RecordingFailure {
                message,
                hint: FREE_DISK_HINT.to_string(),
                kept: None,
                entries_kept: 0,
                entries_lost: 0,
            },
            Settlement::Kept { message, kept } => RecordingFailure {
                message,
                hint: FREE_DISK_HINT.to_string(),
                kept: Some(kept.path),
                entries_kept: kept.entries,
                entries_lost: kept.entries_left_out,
            },
            Settlement::Lost {
                message,
                entries,
                why,
            } => {
                events.log(
                    LogLevel::Error,
                    format!("run {run_id}: the recovery file could not be written either: {why}"),
                );
                RecordingFailure {
                    message,
                    hint: FREE_DISK_HINT.to_string(),
                    kept: None,
                    entries_kept: 0,
                    entries_lost: entries,
                }
            }
        };
        for line in failure.lines() {
            events.log(LogLevel::Error, format!("run {run_id}: {line}"));
        }
        events.send(Event::RecordingFailed {
            run_id: Some(run_id),
            failure,
        });
    }
}

/// Commits the batches in order, dropping each that went in, so a failure part-way leaves
/// only the rest to retry.
fn commit_all(store: &Store, batches: &mut Vec<WriteBatch>) -> Result<(), StoreError> {
    while let Some(batch) = batches.first_mut() {
        store.commit(batch)?;
        batches.remove(0);
    }
    Ok(())
}
