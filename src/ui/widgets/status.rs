//! What each status means for the operator: its mark, its word and the next action
//! (the Status Semantics table of the Outbound Sync Jobs guide).

use crate::store::{
    ConnectionRun, Counters, EntryStatus, Outcome, Run, RunMode, RunStatus, RunType, TriggerKind,
};

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
        RunStatus::Running => "2 follows its log · c cancel",
        RunStatus::Completed => "D diagnostics",
        RunStatus::Failed => "L shows why it stopped",
        RunStatus::Canceled => "r reruns it",
        RunStatus::Incomplete => "L shows why the listing ended early · r reruns it",
        RunStatus::Interrupted => "the process ended mid-run: r reruns it",
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

/// The statuses the jobs view's `f` picker offers after "any status".
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

/// The Failed entries a connection run recorded, as the report's `failed` filter finds them:
/// every Failed entry of a Live run (a retry may fix it or not: [`crate::store::FailureClass`]),
/// the errors of a Dry run (it writes nothing, so nothing else fails).
pub fn failed_entries(mode: RunMode, counters: &Counters) -> u64 {
    match mode {
        // A store older than the fixable / not-syncable split counted only `failed`.
        RunMode::Live => (counters.fixable + counters.not_syncable).max(counters.failed),
        RunMode::Dry => counters.errors,
    }
}

/// The Failed entries of a run: the sum over its connection runs.
pub fn run_failed_entries(rows: &[ConnectionRun]) -> u64 {
    rows.iter()
        .map(|r| failed_entries(r.mode, &r.counters))
        .sum()
}

/// Records a connection run never tried (canceled, interrupted, stopped by a terminal error, or
/// cut short): its total less what it processed; 0 while it runs or when it finished them all.
pub fn never_tried(row: &ConnectionRun) -> u64 {
    if row.status == RunStatus::Running || row.status == RunStatus::Completed {
        return 0;
    }
    row.total.saturating_sub(row.processed)
}

/// Records the connection runs of a run never tried.
pub fn run_never_tried(rows: &[ConnectionRun]) -> u64 {
    rows.iter().map(never_tried).sum()
}

/// True for a run or connection run that finished its work but left `failed` entries behind:
/// never shown as plain success (SPEC section 3).
pub fn completed_with_failures(status: RunStatus, failed: u64) -> bool {
    status == RunStatus::Completed && failed > 0
}

/// The mark of a status with its failed entries: `⚠` for a completion that left failures.
pub fn mark_with(status: RunStatus, failed: u64) -> &'static str {
    if completed_with_failures(status, failed) {
        "⚠"
    } else {
        mark(status)
    }
}

/// A status as the screens say it: `✔ completed`, `⚠ completed · 48 failed`, `✖ failed`.
pub fn label_with(status: RunStatus, failed: u64) -> String {
    if completed_with_failures(status, failed) {
        format!("⚠ completed · {} failed", format::count(failed))
    } else {
        label(status)
    }
}

/// A status in words, without its mark: `completed`, `completed · 48 failed`, `canceled`.
pub fn word_with(status: RunStatus, failed: u64) -> String {
    if completed_with_failures(status, failed) {
        format!("completed · {} failed", format::count(failed))
    } else {
        status.as_str().to_string()
    }
}

/// The same in at most `width` columns: `⚠ completed · 48 failed`, else `⚠ 48 failed`.
pub fn label_within(status: RunStatus, failed: u64, width: usize) -> String {
    let long = label_with(status, failed);
    if format::width(&long) <= width || !completed_with_failures(status, failed) {
        return format::fit(&long, width);
    }
    format::fit(&format!("⚠ {} failed", format::count(failed)), width)
}

/// The next action for a status with its failed entries: a completion with failures names the
/// key that opens them (`E opens the 48 failed`).
pub fn next_action_with(status: RunStatus, failed: u64) -> String {
    if completed_with_failures(status, failed) {
        format!("E opens the {} failed", format::count(failed))
    } else if status == RunStatus::Failed && failed > 0 {
        format!(
            "E opens the {} failed · L why it stopped",
            format::count(failed)
        )
    } else {
        next_action(status).to_string()
    }
}

/// The next action as the one-line card outside the jobs view says it: `E`, `L` and `2` work in
/// every view; a key only the jobs view has (D, r) is named with the way there.
pub fn next_action_outside_jobs(status: RunStatus, failed: u64) -> String {
    let next = next_action_with(status, failed);
    if ["E ", "L ", "2 "].iter().any(|key| next.starts_with(key)) {
        next
    } else {
        format!("1 jobs, then {next}")
    }
}

/// `1 entry`, `2,308 entries`: a count with its noun, singular or plural.
pub fn counted(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", format::count(n), if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_completion_with_failures_is_a_warning_that_names_the_key() {
        assert_eq!(label_with(RunStatus::Completed, 0), "✔ completed");
        assert_eq!(
            label_with(RunStatus::Completed, 1_204),
            "⚠ completed · 1,204 failed"
        );
        assert_eq!(label_with(RunStatus::Failed, 3), "✖ failed");
        assert_eq!(label_within(RunStatus::Completed, 48, 13), "⚠ 48 failed");
        assert_eq!(label_within(RunStatus::Completed, 0, 13), "✔ completed");
        assert_eq!(
            next_action_with(RunStatus::Completed, 8),
            "E opens the 8 failed"
        );
        assert_eq!(next_action_with(RunStatus::Completed, 0), "D diagnostics");
        assert_eq!(
            next_action_outside_jobs(RunStatus::Completed, 0),
            "1 jobs, then D diagnostics"
        );
        assert_eq!(
            next_action_outside_jobs(RunStatus::Completed, 4),
            "E opens the 4 failed"
        );
        assert_eq!(
            next_action_with(RunStatus::Failed, 3),
            "E opens the 3 failed · L why it stopped"
        );
        assert_eq!(next_action_with(RunStatus::Canceled, 0), "r reruns it");
    }

    #[test]
    fn failed_entries_count_every_failed_entry_of_a_live_run() {
        let split = Counters {
            failed: 50,
            missing_source: 48,
            missing_destination: 101,
            fixable: 50,
            not_syncable: 149,
            ..Counters::default()
        };
        assert_eq!(failed_entries(RunMode::Live, &split), 199);
        // A store from before the split.
        let old = Counters {
            failed: 7,
            ..Counters::default()
        };
        assert_eq!(failed_entries(RunMode::Live, &old), 7);
        let dry = Counters {
            errors: 3,
            failed: 9,
            ..Counters::default()
        };
        assert_eq!(failed_entries(RunMode::Dry, &dry), 3);
        assert_eq!(counted(1, "entry", "entries"), "1 entry");
        assert_eq!(counted(2_308, "entry", "entries"), "2,308 entries");
    }
}
