//! The records syncdeck keeps: runs, connection runs, report entries and sync contracts.
//!
//! Names follow SPEC sections 2–4. Every type here is plain data (serde), so the engine can build
//! them, the store can persist them and the screens can show them without knowing about redb.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::owner::Liveness;
pub use super::owner::{RunOwner, Trigger, TriggerKind};

/// Identifier of a run; increases with every run started on a store.
pub type RunId = u64;
/// Identifier of a report entry ("sync id"); increases with every entry recorded on a store.
pub type SyncId = u64;

/// Full (every record in scope), Single (one serial) or Resync (chosen report entries).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunType {
    Full,
    Single,
    Resync,
    /// Live over exactly the records a Dry run planned to change (SPEC: plan and apply).
    Apply,
}

/// Dry runs write nothing to any destination; Live runs do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunMode {
    Dry,
    Live,
}

/// Status of a run or of a connection run (SPEC section 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Still processing (or, found on open, left behind by a process that died).
    Running,
    /// Finished without a terminal error, even with failed records.
    Completed,
    /// A terminal request, contract or payload error stopped it.
    Failed,
    /// The operator canceled it.
    Canceled,
    /// The source listing ended early; unseen records are not reported missing.
    Incomplete,
    /// The process died or was killed while it ran; set on the next open.
    Interrupted,
}

impl RunStatus {
    /// True once nothing will change the run any more.
    pub fn is_finished(self) -> bool {
        self != RunStatus::Running
    }

    /// Lower-case name, as used in JSON output and on screen.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
            RunStatus::Canceled => "canceled",
            RunStatus::Incomplete => "incomplete",
            RunStatus::Interrupted => "interrupted",
        }
    }
}

/// Status of one report entry (SPEC section 3): OK, Sent, Pending, Failed for live runs; Dry for
/// dry runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryStatus {
    Ok,
    Sent,
    Pending,
    Failed,
    Dry,
}

impl EntryStatus {
    pub const ALL: [EntryStatus; 5] = [
        EntryStatus::Ok,
        EntryStatus::Sent,
        EntryStatus::Pending,
        EntryStatus::Failed,
        EntryStatus::Dry,
    ];

    /// One byte that orders the status index; stable across versions of the store.
    pub fn code(self) -> u8 {
        match self {
            EntryStatus::Ok => 0,
            EntryStatus::Sent => 1,
            EntryStatus::Pending => 2,
            EntryStatus::Failed => 3,
            EntryStatus::Dry => 4,
        }
    }

    /// Inverse of [`EntryStatus::code`].
    pub fn from_code(code: u8) -> Option<EntryStatus> {
        EntryStatus::ALL.into_iter().find(|s| s.code() == code)
    }

    /// Lower-case name, as used in JSON/CSV output and filters.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryStatus::Ok => "ok",
            EntryStatus::Sent => "sent",
            EntryStatus::Pending => "pending",
            EntryStatus::Failed => "failed",
            EntryStatus::Dry => "dry",
        }
    }

    /// Parses the lower- or upper-case name (`ok`, `OK`, `failed`, ...).
    pub fn parse(text: &str) -> Option<EntryStatus> {
        let lower = text.trim().to_ascii_lowercase();
        EntryStatus::ALL.into_iter().find(|s| s.as_str() == lower)
    }
}

/// What happened (or, in a dry run, would happen) to one record on one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Updated,
    Created,
    WouldUpdate,
    WouldCreate,
    Skipped,
    MissingSource,
    MissingDestination,
    Error,
}

impl Outcome {
    /// Snake-case name, as used in JSON/CSV output and filters.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Updated => "updated",
            Outcome::Created => "created",
            Outcome::WouldUpdate => "would_update",
            Outcome::WouldCreate => "would_create",
            Outcome::Skipped => "skipped",
            Outcome::MissingSource => "missing_source",
            Outcome::MissingDestination => "missing_destination",
            Outcome::Error => "error",
        }
    }

    /// Words for the screen: "would update", "missing destination".
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Updated => "updated",
            Outcome::Created => "created",
            Outcome::WouldUpdate => "would update",
            Outcome::WouldCreate => "would create",
            Outcome::Skipped => "skipped",
            Outcome::MissingSource => "missing source",
            Outcome::MissingDestination => "missing destination",
            Outcome::Error => "error",
        }
    }
}

/// What kind of failure a Failed entry is (SPEC section 4, issue 15): one a retry may fix, or one
/// no retry can fix until the data or the configuration changes.
///
/// **Fixable**: 5xx, 429, 408, 409, 423, 425 (the destination is down, busy or briefly in
/// conflict), timeouts and connection errors (no HTTP status), a write whose outcome is unknown,
/// a verification that failed, a source that could not be read, an interrupted run, a store that
/// stopped recording, and 401 / 403: a credential rotated or fixed outside the configuration
/// makes the same request succeed, so a resync after the credential fix is the way out.
///
/// **Not syncable**: missing source, missing destination, drifted from an applied plan, rule and
/// format errors (a value the formatter or the body cannot carry, an ambiguous destination, a
/// serial that is not one, a record no longer in the source), and the 4xx a retry of the same
/// request cannot change: 400 (mapping or data), 404 (wrong path or the record is gone), 405
/// (wrong method), 410, 413, 414, 415 (wrong format), 422 and any other 4xx not named above.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    /// A retry (a resync) may fix it.
    Fixable,
    /// No retry can fix it: the source record, the destination or the configuration must change.
    NotSyncable,
}

impl FailureClass {
    /// Reason codes of Failed entries no retry can fix, whatever their HTTP status.
    const NOT_SYNCABLE_REASONS: [&'static str; 9] = [
        "missing_source",
        "missing_destination",
        "drifted",
        "rule",
        "format_error",
        "unsendable_value",
        "ambiguous_destination",
        "serial_too_long",
        "not_in_source",
    ];

    /// The class of an entry with these columns; None unless `status` is Failed.
    pub fn of(
        status: EntryStatus,
        outcome: Outcome,
        reason: Option<&str>,
        http_status: Option<u16>,
    ) -> Option<FailureClass> {
        if status != EntryStatus::Failed {
            return None;
        }
        if matches!(
            outcome,
            Outcome::MissingSource | Outcome::MissingDestination | Outcome::Skipped
        ) || reason.is_some_and(|reason| FailureClass::NOT_SYNCABLE_REASONS.contains(&reason))
        {
            return Some(FailureClass::NotSyncable);
        }
        Some(match http_status {
            None => FailureClass::Fixable,
            Some(401 | 403 | 408 | 409 | 423 | 425 | 429) => FailureClass::Fixable,
            Some(status) if status >= 500 => FailureClass::Fixable,
            Some(status) if (400..500).contains(&status) => FailureClass::NotSyncable,
            // 1xx/2xx/3xx on a Failed entry: a redirect refused, an answer not understood.
            Some(_) => FailureClass::Fixable,
        })
    }

    /// Snake-case name, as on the command line and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureClass::Fixable => "fixable",
            FailureClass::NotSyncable => "not_syncable",
        }
    }

    /// Words for the screen: "fixable", "not syncable".
    pub fn label(self) -> &'static str {
        match self {
            FailureClass::Fixable => "fixable",
            FailureClass::NotSyncable => "not syncable",
        }
    }
}

/// The counters of a connection run (SPEC section 3): the dry-run diagnostics and the live
/// counters, plus the test-style totals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    pub would_update: u64,
    pub updated: u64,
    pub created: u64,
    pub skipped: u64,
    pub missing_source: u64,
    pub missing_destination: u64,
    pub failed: u64,
    pub pending: u64,
    pub errors: u64,
    /// Source records seen.
    pub fetched: u64,
    /// Records with no sync contract yet.
    pub new: u64,
    /// Records whose hash differs from their contract's.
    pub changed: u64,
    /// Records whose hash matches their contract's.
    pub unchanged: u64,
    /// Entries recorded Failed that a retry may fix ([`FailureClass::Fixable`]).
    #[serde(default)]
    pub fixable: u64,
    /// Entries recorded Failed that no retry can fix ([`FailureClass::NotSyncable`]):
    /// `fixable + not_syncable` is the number of the connection run's Failed entries.
    #[serde(default)]
    pub not_syncable: u64,
}

/// What a run's counters hold of one entry: its status, outcome and failure class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryTally {
    pub status: EntryStatus,
    pub outcome: Outcome,
    pub class: Option<FailureClass>,
}

impl EntryTally {
    pub fn of(entry: &ReportEntry) -> EntryTally {
        EntryTally {
            status: entry.status,
            outcome: entry.outcome,
            class: entry.failure_class(),
        }
    }
}

impl Counters {
    /// Counts one entry as its run's counters hold it: its outcome (a Failed skip counts as
    /// failed, a Dry error as an error) and, when Failed, its [`FailureClass`].
    pub fn count_entry(&mut self, entry: &ReportEntry) {
        self.tally(EntryTally::of(entry), |n| *n += 1);
    }

    /// Counts a tally (see [`Counters::count_entry`]).
    pub fn count(&mut self, tally: EntryTally) {
        self.tally(tally, |n| *n += 1);
    }

    /// Takes one entry's count back: an entry a resync changed in place moves from what it
    /// was to what it is now ([`crate::store::WriteBatch::recounts`]).
    pub fn uncount(&mut self, tally: EntryTally) {
        self.tally(tally, |n| *n = n.saturating_sub(1));
    }

    fn tally(&mut self, entry: EntryTally, change: impl Fn(&mut u64)) {
        let dry = entry.status == EntryStatus::Dry;
        change(match entry.outcome {
            Outcome::WouldUpdate | Outcome::WouldCreate => &mut self.would_update,
            Outcome::Updated => &mut self.updated,
            Outcome::Created => &mut self.created,
            // Not written because it drifted from its plan: a failure, as its status says.
            Outcome::Skipped if entry.status == EntryStatus::Failed => &mut self.failed,
            Outcome::Skipped => &mut self.skipped,
            Outcome::MissingSource => &mut self.missing_source,
            Outcome::MissingDestination => &mut self.missing_destination,
            Outcome::Error if dry => &mut self.errors,
            Outcome::Error => &mut self.failed,
        });
        // Every Failed entry, whatever its outcome, in exactly one of the two.
        match entry.class {
            Some(FailureClass::Fixable) => change(&mut self.fixable),
            Some(FailureClass::NotSyncable) => change(&mut self.not_syncable),
            None => {}
        }
    }
}

/// A terminal error that stopped a connection run, with the hint of SPEC section 4.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunError {
    pub message: String,
    pub hint: Option<String>,
}

/// One execution over one or more connections.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    pub id: RunId,
    pub run_type: RunType,
    pub mode: RunMode,
    pub status: RunStatus,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The serial of a Single run.
    pub serial: Option<String>,
    /// Connection names in execution order.
    pub connections: Vec<String>,
    /// Names of the credential contexts the connections use (never their values).
    pub credential_contexts: Vec<String>,
    /// Why the run ended as it did ("1,204 of 2,000 processed", "interrupted"), if it says more
    /// than its status.
    pub note: Option<String>,
    /// The process that runs it (SPEC section 8); None in runs recorded before owners were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<RunOwner>,
    /// What started it: a console, a headless command, a scheduler; None in runs recorded
    /// before triggers were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<Trigger>,
}

/// One connection inside a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionRun {
    pub run_id: RunId,
    /// Execution order within the run, from 0.
    pub position: u32,
    pub connection: String,
    pub system: String,
    pub credential: Option<String>,
    pub mode: RunMode,
    pub status: RunStatus,
    /// Records in scope ("N" of the "X of N" gauge); 0 until the listing knows.
    pub total: u64,
    /// Records done ("X").
    pub processed: u64,
    pub counters: Counters,
    pub error: Option<RunError>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Hash of the connection's configuration when it ran, for the Full Live safety gate.
    pub config_hash: String,
    pub note: Option<String>,
}

/// One try at writing a record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub at: DateTime<Utc>,
    pub http_status: Option<u16>,
    /// What went wrong, if anything (already redacted).
    pub error: Option<String>,
}

/// The error details kept with a failed entry (SPEC section 4). Every string is redacted before
/// it gets here.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryError {
    pub http_status: Option<u16>,
    /// The destination's error code, e.g. `INVALID_CONTENT`.
    pub code: Option<String>,
    pub message: String,
    pub hint: Option<String>,
    pub method: Option<String>,
    pub url: Option<String>,
    /// At most 4 KiB of the response body.
    pub response_excerpt: Option<String>,
}

/// One field's change: the destination's value before and the value syncdeck writes (or would).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldChange {
    pub field: String,
    /// None: the destination had no such field; `Some(Null)`: it held null.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub old: Option<serde_json::Value>,
    /// None: nothing is written; `Some(Null)`: the field is cleared.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub new: Option<serde_json::Value>,
}

/// A key that is present holds a value, null included (serde would read null as None).
fn present<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(deserializer).map(Some)
}

/// The outcome for one record on one connection in one run: a sync report row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportEntry {
    /// Assigned by the store when the entry is first recorded; 0 before.
    pub sync_id: SyncId,
    pub run_id: RunId,
    pub connection: String,
    pub system: String,
    /// The record's serial.
    pub reference: String,
    pub source_id: Option<String>,
    pub target_id: Option<String>,
    pub status: EntryStatus,
    pub outcome: Outcome,
    /// Reason code of a skip or an error ("no_change", "rule", "ambiguous_destination", ...).
    pub reason: Option<String>,
    pub time: DateTime<Utc>,
    pub attempts: Vec<Attempt>,
    pub error: Option<EntryError>,
    pub diff: Vec<FieldChange>,
    /// The connection's contract hash for this serial before and after this entry (after: what
    /// a dry run would have written). None in entries recorded before hashes were kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hashes: Option<ContractHashes>,
}

impl ReportEntry {
    /// The entry's [`FailureClass`]; None unless it is Failed.
    pub fn failure_class(&self) -> Option<FailureClass> {
        FailureClass::of(
            self.status,
            self.outcome,
            self.reason.as_deref(),
            self.error.as_ref().and_then(|error| error.http_status),
        )
    }
}

/// A contract's last hash before and after one entry: equal when nothing changed, `before`
/// None for a record without a contract, `after` None when nothing was (or would be) written.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContractHashes {
    pub before: Option<String>,
    pub after: Option<String>,
}

/// What a contract's last write did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContractAction {
    Created,
    Updated,
    Unchanged,
}

/// What syncdeck knows about one record on one connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncContract {
    pub connection: String,
    /// The serial.
    pub origin_id: String,
    pub target_id: Option<String>,
    /// blake3 hex of what was last written.
    pub last_hash: String,
    pub last_seen: DateTime<Utc>,
    pub last_synced: Option<DateTime<Utc>>,
    pub last_action: ContractAction,
}

/// The run that holds a connection another run asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseHolder {
    pub connection: String,
    pub run: Run,
}

impl std::fmt::Display for LeaseHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let run = &self.run;
        write!(
            f,
            "connection {} is held by run #{} ({:?} {:?}, started {} UTC",
            self.connection,
            run.id,
            run.run_type,
            run.mode,
            run.started_at.format("%Y-%m-%d %H:%M:%S")
        )?;
        if let Some(trigger) = &run.trigger {
            write!(f, ", {}", trigger.label())?;
        }
        write!(f, ")")?;
        if let Some(owner) = &run.owner {
            write!(f, " of {}", owner.describe())?;
            if let Liveness::Unknown(why) = owner.liveness() {
                write!(f, " on {why}, which cannot be checked from here")?;
            }
        }
        write!(
            f,
            ": wait for it to end, or cancel it (syncdeck cancel {})",
            run.id
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cleared_field_survives_a_round_trip() {
        let changes = vec![
            FieldChange {
                field: "owner".into(),
                old: None,
                new: Some(serde_json::Value::Null),
            },
            FieldChange {
                field: "ram".into(),
                old: Some(serde_json::Value::Null),
                new: Some(16.into()),
            },
        ];
        let text = serde_json::to_string(&changes).unwrap();
        let back: Vec<FieldChange> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, changes);
    }
}

/// What a prune deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PruneStats {
    /// Report entries deleted.
    pub entries: u64,
    /// Finished runs deleted.
    pub runs: u64,
    /// Connection runs deleted with those runs.
    pub connection_runs: u64,
}
