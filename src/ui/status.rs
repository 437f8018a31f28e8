//! What each status means for the operator: its mark, its word and the next action
//! (the Status Semantics table of the Outbound Sync Jobs guide).

use crate::store::{EntryStatus, Outcome, RunMode, RunStatus, RunType};

/// A one-column mark that reads without colour.
pub fn mark(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Running => "▶",
        RunStatus::Completed => "✔",
        RunStatus::Failed => "✖",
        RunStatus::Canceled => "⊘",
        RunStatus::Incomplete => "◐",
        RunStatus::Interrupted => "↯",
    }
}

/// `✔ completed`.
pub fn label(status: RunStatus) -> String {
    format!("{} {}", mark(status), status.as_str())
}

/// The next action for a connection run in this status.
pub fn next_action(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Running => "monitor progress and logs",
        RunStatus::Completed => "review update/skip diagnostics",
        RunStatus::Failed => "open error details and logs",
        RunStatus::Canceled => "rerun Single first, then Full",
        RunStatus::Incomplete => "read why the listing ended early, then rerun",
        RunStatus::Interrupted => "the process ended mid-run: rerun Single first, then Full",
    }
}

pub fn run_type(run_type: RunType) -> &'static str {
    match run_type {
        RunType::Full => "Full",
        RunType::Single => "Single",
        RunType::Resync => "Resync",
        RunType::Apply => "Apply",
    }
}

pub fn mode(mode: RunMode) -> &'static str {
    match mode {
        RunMode::Dry => "Dry",
        RunMode::Live => "Live",
    }
}

/// The statuses `f` cycles through after "all".
pub const FILTER_CYCLE: [RunStatus; 6] = [
    RunStatus::Running,
    RunStatus::Completed,
    RunStatus::Failed,
    RunStatus::Canceled,
    RunStatus::Incomplete,
    RunStatus::Interrupted,
];

/// Statuses "show only failures" keeps.
pub fn is_failure(status: RunStatus) -> bool {
    matches!(
        status,
        RunStatus::Failed | RunStatus::Incomplete | RunStatus::Interrupted
    )
}

/// A one-column mark for a report entry's status that reads without colour.
pub fn entry_mark(status: EntryStatus) -> &'static str {
    match status {
        EntryStatus::Ok => "✔",
        EntryStatus::Sent => "↗",
        EntryStatus::Pending => "…",
        EntryStatus::Failed => "✖",
        EntryStatus::Dry => "○",
    }
}

/// `✖ failed`.
pub fn entry_label(status: EntryStatus) -> String {
    format!("{} {}", entry_mark(status), status.as_str())
}

/// An outcome in at most 12 columns, for narrow tables.
pub fn outcome_short(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::MissingSource => "miss. source",
        Outcome::MissingDestination => "miss. dest.",
        other => other.label(),
    }
}
