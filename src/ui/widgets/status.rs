//! What each status means for the operator: its mark, its word and the next action
//! (the Status Semantics table of the Outbound Sync Jobs guide).

use crate::store::{EntryStatus, Outcome, Run, RunMode, RunStatus, RunType, TriggerKind};

use crate::ui::widgets::format;

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

/// Who and what started a run, in at most `width` columns: `by alice@jump1 · console`,
/// `nightly · scheduled on jump1`, shortened step by step (`alice@jump1 · console`,
/// `nightly · scheduled`) and then cut; "" for a run recorded before owners were, or no room.
pub fn origin(run: &Run, width: usize) -> String {
    let full = crate::store::origin(run.owner.as_ref(), run.trigger.as_ref());
    if format::width(&full) <= width || width == 0 {
        return if width == 0 { String::new() } else { full };
    }
    let shorter = match (&run.owner, &run.trigger) {
        (Some(_), Some(trigger)) if trigger.kind == TriggerKind::Scheduled => match &trigger.name {
            Some(name) => vec![
                format!("{name} · scheduled"),
                format!("{name}·scheduled"),
                name.clone(),
            ],
            None => vec!["scheduled".to_string()],
        },
        (Some(owner), Some(trigger)) => vec![
            format!("{} · {}", owner.user_at_host(), trigger.label()),
            format!("{}·{}", owner.user_at_host(), trigger.label()),
        ],
        _ => Vec::new(),
    };
    shorter
        .into_iter()
        .find(|text| format::width(text) <= width)
        .unwrap_or_else(|| format::fit(&full, width))
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
