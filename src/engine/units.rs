//! What a connection run's workers are handed, one record at a time: a listed record, or a
//! chosen one to resync or apply with the plan a Dry run made for it. Shared by the feed
//! (resync), the dispatcher, the record code and the apply planner, below all of them.

use super::refetch::Unavailable;
use super::source::SourceRecord;
use crate::store::{FieldChange, Outcome, ReportEntry, RunId};

/// One record's worth of work for a worker.
pub(crate) enum Unit {
    /// A record the source listing delivered.
    Listed(SourceRecord),
    /// A record to resync, with the entries it updates (or, in an Apply run, its plan).
    Resync(Target),
}

impl From<SourceRecord> for Unit {
    fn from(record: SourceRecord) -> Unit {
        Unit::Listed(record)
    }
}

impl Unit {
    /// The serial of the record it is about.
    pub(crate) fn serial(&self) -> &str {
        match self {
            Unit::Listed(record) => &record.serial,
            Unit::Resync(target) => &target.serial,
        }
    }

    /// How many entries it accounts for in the "X of N" gauge.
    pub(crate) fn weight(&self) -> u64 {
        match self {
            Unit::Listed(_) => 1,
            Unit::Resync(target) => target.weight(),
        }
    }

    /// Takes out the entries a resync updates (none for a listed record).
    pub(crate) fn take_originals(&mut self) -> Vec<ReportEntry> {
        match self {
            Unit::Listed(_) => Vec::new(),
            Unit::Resync(target) => std::mem::take(&mut target.originals),
        }
    }
}

/// One record to resync on one connection: its serial, the chosen entries of it (usually one;
/// several when it failed in several runs) and where its source record comes from. In an Apply
/// run: no originals (the run records new entries) and the change the Dry run planned.
pub(crate) struct Target {
    pub serial: String,
    pub originals: Vec<ReportEntry>,
    pub source: TargetSource,
    pub plan: Option<Planned>,
}

impl Target {
    /// How many entries it accounts for in the "X of N" gauge: its originals, or itself.
    pub(crate) fn weight(&self) -> u64 {
        self.originals.len().max(1) as u64
    }
}

/// Where a resync target's source record comes from.
pub(crate) enum TargetSource {
    /// Fetched by the worker, as a Single run would (`single_query` or a filtered listing).
    Fetch,
    /// Already found by a listing of the whole source.
    Listed(SourceRecord),
    /// It cannot be had: the entries are updated with this error.
    Unavailable(Unavailable),
}

/// What a Dry run planned for one record: the change it showed the operator.
#[derive(Clone, Debug)]
pub(crate) struct Planned {
    /// The Dry run that planned it.
    pub run_id: RunId,
    /// `WouldUpdate` or `WouldCreate`.
    pub outcome: Outcome,
    pub diff: Vec<FieldChange>,
}

/// Reason code of an entry not written because it no longer matches the plan.
pub(crate) const DRIFTED: &str = "drifted";

/// What an operator does about a drifted record.
pub(crate) const DRIFT_HINT: &str = "run a Dry run again to see the new plan, then apply it";
