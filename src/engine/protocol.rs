//! What front ends say to the engine (`Command`) and what it tells them (`Event`).

use std::path::PathBuf;
use std::time::Duration;

use crate::store::{ConnectionRun, Counters, LeaseHolder, Run, RunId, RunMode, SyncId};

/// Full (every record in scope) or Single (one serial).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunScope {
    Full,
    Single(String),
}

/// A run to start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunRequest {
    pub scope: RunScope,
    /// Connection names in the order to run them; empty = every connection in config order.
    pub connections: Vec<String>,
    /// Dry or Live for every connection; None = each connection's own `dry_run` setting (or its
    /// override in the store).
    pub mode: Option<RunMode>,
    /// Run a Full Live run even where the safety gate would refuse it.
    pub force: bool,
}

/// Commands into the engine.
#[derive(Clone, Debug)]
pub enum Command {
    /// Start a run; refused (with an `Event::Refused`) while another run is going.
    StartRun(RunRequest),
    /// Start a Resync run (Live) over these report entries: one connection run per connection
    /// involved, in config order; entries [`super::resync::plan_resync`] refuses are left out
    /// (and logged). Refused as a whole while another run is going or when nothing is left.
    Resync { entries: Vec<SyncId> },
    /// Apply a Dry run's plan: a Live run (type Apply) over exactly the records that Dry run
    /// `run_id` planned to change (outcome would_update / would_create) on these connections
    /// (empty = every connection of that run). Each record is re-evaluated first: one whose
    /// source or destination changed since the plan is reported "drifted" and not written.
    Apply {
        run_id: RunId,
        connections: Vec<String>,
    },
    /// Cancel a running run: dispatching stops at once, in-flight requests finish.
    Cancel { run_id: RunId },
    /// Cancel what runs and stop the engine.
    Shutdown,
}

/// Events out of the engine, in order.
#[derive(Clone, Debug)]
pub enum Event {
    /// A start was refused (another run is going, a gate, an unknown connection).
    Refused {
        reason: String,
    },
    /// A start was refused because a Live, Apply or Resync run of another process holds one of
    /// its connections (SPEC section 8); its `Display` names the run and its owner.
    ConnectionHeld {
        holder: LeaseHolder,
    },
    RunStarted {
        run: Run,
    },
    ConnectionStarted {
        connection_run: ConnectionRun,
    },
    /// Coalesced: at most a few per second per connection run.
    Progress {
        run_id: RunId,
        position: u32,
        processed: u64,
        total: u64,
        counters: Counters,
    },
    /// A connection with `concurrency = "auto"` allows this many requests in flight now.
    Concurrency {
        run_id: RunId,
        position: u32,
        concurrency: usize,
    },
    /// A batch of entries was committed to the store.
    EntriesRecorded {
        run_id: RunId,
        position: u32,
        count: usize,
    },
    /// A write will be retried after `delay`; its entry is Pending meanwhile.
    RetryScheduled {
        run_id: RunId,
        position: u32,
        reference: String,
        attempt: u32,
        delay: Duration,
        reason: String,
    },
    ConnectionFinished {
        connection_run: ConnectionRun,
    },
    /// The store could not record (a full disk, an I/O error): the run stopped dispatching
    /// (or, with no `run_id`, never started). Sent before the run's `RunFinished`.
    RecordingFailed {
        run_id: Option<RunId>,
        failure: RecordingFailure,
    },
    RunFinished {
        run: Run,
    },
    /// A line for the logs view (already redacted).
    Log {
        level: LogLevel,
        message: String,
    },
}

/// What the operator is told when the store could not record a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordingFailure {
    /// "the store could not record: PATH: No space left on device (os error 28)".
    pub message: String,
    pub hint: String,
    /// Where what the run did is kept until the next open imports it, when the store did not
    /// take it on a retry.
    pub kept: Option<PathBuf>,
    pub entries_kept: u64,
    /// Entries neither the store nor the recovery file could take (named in the log).
    pub entries_lost: u64,
}

impl RecordingFailure {
    /// The lines for stderr or a log: the message, where the run's records are, the hint.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = vec![self.message.clone()];
        if let Some(kept) = &self.kept {
            lines.push(format!(
                "{} entr{} of this run kept in {}: the next syncdeck to open the store imports \
                 them",
                self.entries_kept,
                if self.entries_kept == 1 { "y" } else { "ies" },
                kept.display()
            ));
        }
        if self.entries_lost > 0 {
            lines.push(format!(
                "{} entr{} could not be kept anywhere: the log names each",
                self.entries_lost,
                if self.entries_lost == 1 { "y" } else { "ies" }
            ));
        }
        lines.push(format!("hint: {}", self.hint));
        lines
    }
}

/// Severity of a log event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Info,
    Warn,
    Error,
}
