//! Recovery on open: what a process that is gone left Running or Pending is settled, so nothing
//! stays in limbo and the operator is told. Runs of living processes — another console, a
//! scheduled run — are never touched: only a run whose owner is gone (see
//! [`super::owner::RunOwner::liveness`]) becomes Interrupted.

use std::collections::{BTreeSet, HashMap};

use redb::{
    Database, ReadTransaction, ReadableDatabase, ReadableTable, TableError, WriteTransaction,
};

use super::error::{StoreError, db};
use super::recovered::Recovery;
use super::rows::{
    forget_cancel_request, put_connection_run, put_entries, put_run, read_connection_runs,
};
use super::tables::*;
use super::types::{ConnectionRun, EntryError, EntryStatus, ReportEntry, Run, RunId, RunStatus};

/// The note on runs and connection runs found Running when the store was opened.
pub const INTERRUPTED_NOTE: &str = "interrupted: the process ended while the run was going";
/// The error message of entries found Pending when the store was opened.
pub const INTERRUPTED_MESSAGE: &str = "interrupted";
/// The hint of those entries.
const INTERRUPTED_HINT: &str =
    "the process ended before the write was confirmed; check the destination, then resync";

/// Settles what processes that are gone left behind. Most opens find nothing to settle: they
/// look in a read transaction and write nothing.
pub(crate) fn recover(database: &Database) -> Result<Recovery, StoreError> {
    {
        let read = database.begin_read().map_err(db("starting the recovery"))?;
        if Leftovers::find(&read)?.is_empty() {
            return Ok(Recovery::default());
        }
    }
    // Found again under the writer's turn: another process may have settled it, or started
    // runs, meanwhile.
    let txn = super::database::begin_write(database)?;
    let leftovers = Leftovers::find(&txn)?;
    let indexed = leftovers.indexed;
    let mut recovery = settle_runs(&txn, &leftovers.dead_runs)?;
    recovery.add(leftovers.settle_orphans(&txn)?);
    if !indexed {
        let mut meta = txn.open_table(META).map_err(db("opening meta"))?;
        meta.insert(RUNNING_INDEXED_KEY, 1)
            .map_err(db("writing meta"))?;
    }
    txn.commit().map_err(db("committing the recovery"))?;
    recovery.runs_interrupted.sort_unstable();
    Ok(recovery)
}

/// How runs that will not end by themselves are ended.
struct Ending<'a> {
    status: RunStatus,
    note: &'a str,
    /// Set on the run: the end of a run that stopped here is known, a dead process's is not.
    finished_at: Option<chrono::DateTime<chrono::Utc>>,
    entry_message: &'a str,
}

/// The end of a run whose owner is gone.
const INTERRUPTED: Ending<'static> = Ending {
    status: RunStatus::Interrupted,
    note: INTERRUPTED_NOTE,
    finished_at: None,
    entry_message: INTERRUPTED_MESSAGE,
};

/// Settles runs whose owner is gone: each Running run becomes Interrupted, with its Running
/// connection runs, and its Pending entries become Failed ("interrupted"); its leases and
/// cancel request go with it.
pub(crate) fn settle_runs(
    txn: &WriteTransaction,
    run_ids: &[RunId],
) -> Result<Recovery, StoreError> {
    end_runs(txn, run_ids, &INTERRUPTED)
}

fn end_runs(
    txn: &WriteTransaction,
    run_ids: &[RunId],
    ending: &Ending,
) -> Result<Recovery, StoreError> {
    let mut recovery = Recovery::default();
    if run_ids.is_empty() {
        return Ok(recovery);
    }
    for &run_id in run_ids {
        let Some(mut run) = read_run(txn, run_id)? else {
            continue;
        };
        if run.status == RunStatus::Running {
            run.status = ending.status;
            run.note = Some(ending.note.to_string());
            run.finished_at = ending.finished_at.or(run.finished_at);
            put_run(txn, &run)?;
            recovery.runs_interrupted.push(run_id);
        }
        for mut row in read_connection_runs(txn, run_id)? {
            if row.status == RunStatus::Running {
                row.status = ending.status;
                row.note = Some(ending.note.to_string());
                row.finished_at = ending.finished_at.or(row.finished_at);
                put_connection_run(txn, &row)?;
                recovery.connection_runs_interrupted += 1;
            }
        }
    }
    let runs: BTreeSet<RunId> = run_ids.iter().copied().collect();
    let mut pending: Vec<ReportEntry> = pending_in(txn)?
        .into_iter()
        .filter(|entry| runs.contains(&entry.run_id))
        .collect();
    fail_pending(txn, &mut pending, ending.entry_message)?;
    recovery.entries_failed = pending.len() as u64;
    Ok(recovery)
}

/// Pending entries become Failed (`message`), keeping what they knew.
fn fail_pending(
    txn: &WriteTransaction,
    entries: &mut [ReportEntry],
    message: &str,
) -> Result<(), StoreError> {
    for entry in entries.iter_mut() {
        entry.status = EntryStatus::Failed;
        let previous = entry.error.take().unwrap_or_default();
        entry.error = Some(EntryError {
            message: message.to_string(),
            hint: Some(INTERRUPTED_HINT.to_string()),
            ..previous
        });
    }
    put_entries(txn, entries)?;
    Ok(())
}

impl super::database::Store {
    /// Settles now what processes that died since the open left (as the open does): for a
    /// console that sees a run's owner go while it watches. A read-only store settles nothing.
    pub fn settle_dead_runs(&self) -> Result<Recovery, StoreError> {
        match &*self.handle()? {
            super::database::Handle::Shared(database) => recover(database),
            super::database::Handle::ReadOnly { .. } => Ok(Recovery::default()),
        }
    }

    /// Ends a run this process can no longer finish (its task panicked) as Failed with `note`:
    /// its Running connection runs too, its Pending entries Failed, its leases let go. Returns
    /// the run as ended, or None when it was not running.
    pub fn end_run_as_failed(&self, run_id: RunId, note: &str) -> Result<Option<Run>, StoreError> {
        let ending = Ending {
            status: RunStatus::Failed,
            note,
            finished_at: Some(chrono::Utc::now()),
            entry_message: note,
        };
        self.end_run(run_id, &ending)
    }

    /// Ends a run whose process an operator says is gone, though this process cannot check it
    /// (a pod killed outright, another host): Interrupted with `note`, its Pending entries
    /// Failed ("interrupted"), its leases let go. Returns the run as ended, or None when it was
    /// not running.
    pub fn abandon_run(&self, run_id: RunId, note: &str) -> Result<Option<Run>, StoreError> {
        let ending = Ending {
            status: RunStatus::Interrupted,
            note,
            finished_at: None,
            entry_message: INTERRUPTED_MESSAGE,
        };
        self.end_run(run_id, &ending)
    }

    fn end_run(&self, run_id: RunId, ending: &Ending) -> Result<Option<Run>, StoreError> {
        let txn = self.write()?;
        let ended = end_runs(&txn, &[run_id], ending)?;
        if ended.runs_interrupted.is_empty() {
            txn.abort().map_err(db("ending a run"))?;
            return Ok(None);
        }
        let run = read_run(&txn, run_id)?;
        txn.commit().map_err(db("committing the end of a run"))?;
        Ok(run)
    }
}

/// What an open may have to settle.
struct Leftovers {
    /// Running runs whose owner is gone.
    dead_runs: Vec<RunId>,
    /// Running connection runs (and index keys) of runs that are not running (any more, or at
    /// all).
    orphan_rows: Vec<(RunId, u32)>,
    /// Pending entries of runs that are not running.
    orphan_entries: Vec<ReportEntry>,
    /// Leases and cancel requests of runs that are not running.
    orphan_leases: Vec<String>,
    orphan_requests: Vec<RunId>,
    /// False in a store written before the running index was kept.
    indexed: bool,
}

/// What both kinds of transaction offer the search for leftovers.
trait Snapshot {
    fn open<K: redb::Key + 'static, V: redb::Value + 'static>(
        &self,
        table: redb::TableDefinition<K, V>,
    ) -> Result<Option<impl ReadableTable<K, V>>, StoreError>;
}

macro_rules! snapshot {
    ($txn:ty) => {
        impl Snapshot for $txn {
            fn open<K: redb::Key + 'static, V: redb::Value + 'static>(
                &self,
                table: redb::TableDefinition<K, V>,
            ) -> Result<Option<impl ReadableTable<K, V>>, StoreError> {
                match self.open_table(table) {
                    Ok(table) => Ok(Some(table)),
                    Err(TableError::TableDoesNotExist(_)) => Ok(None),
                    Err(error) => Err(db("opening a table for the recovery")(error)),
                }
            }
        }
    };
}
snapshot!(ReadTransaction);
snapshot!(WriteTransaction);

impl Leftovers {
    fn is_empty(&self) -> bool {
        self.indexed
            && self.dead_runs.is_empty()
            && self.orphan_rows.is_empty()
            && self.orphan_entries.is_empty()
            && self.orphan_leases.is_empty()
            && self.orphan_requests.is_empty()
    }

    fn find(txn: &impl Snapshot) -> Result<Leftovers, StoreError> {
        let indexed = match txn.open(META)? {
            Some(meta) => meta
                .get(RUNNING_INDEXED_KEY)
                .map_err(db("reading meta"))?
                .is_some(),
            None => true,
        };
        let running = if indexed {
            let mut keys = Vec::new();
            if let Some(table) = txn.open(RUNNING)? {
                for item in table.iter().map_err(db("reading the running index"))? {
                    keys.push(item.map_err(db("reading the running index"))?.0.value());
                }
            }
            keys
        } else {
            // A store written before the running index: find the rows the long way, once.
            scan_running(txn)?
        };
        let Some(runs) = txn.open(RUNS)? else {
            return Ok(Leftovers::none(indexed));
        };
        // Whether each run met is still going: Running and its owner not gone.
        let mut going: HashMap<RunId, bool> = HashMap::new();
        let mut dead_runs = Vec::new();
        let mut is_going = |run_id: RunId, dead_runs: &mut Vec<RunId>| {
            if let Some(&known) = going.get(&run_id) {
                return Ok::<bool, StoreError>(known);
            }
            let run: Option<Run> = runs
                .get(run_id)
                .map_err(db("reading a run"))?
                .map(|bytes| decode(bytes.value(), "decoding a run"))
                .transpose()?;
            let known = match run {
                Some(run) if run.status == RunStatus::Running => {
                    let gone = run.owner.as_ref().is_none_or(|owner| owner.is_gone());
                    if gone {
                        dead_runs.push(run_id);
                    }
                    !gone
                }
                _ => false,
            };
            going.insert(run_id, known);
            Ok(known)
        };
        let mut orphan_rows = Vec::new();
        for (run_id, position) in running {
            let run_going = is_going(run_id, &mut dead_runs)?;
            // A row left Running (or an index key left behind) by a run that is not going.
            if !run_going && !dead_runs.contains(&run_id) {
                orphan_rows.push((run_id, position));
            }
        }
        let mut orphan_entries = Vec::new();
        for entry in pending_in(txn)? {
            if !is_going(entry.run_id, &mut dead_runs)? && !dead_runs.contains(&entry.run_id) {
                orphan_entries.push(entry);
            }
        }
        let mut orphan_leases = Vec::new();
        if let Some(leases) = txn.open(LEASES)? {
            for item in leases.iter().map_err(db("reading leases"))? {
                let (connection, run_id) = item.map_err(db("reading leases"))?;
                let run_id = run_id.value();
                if !is_going(run_id, &mut dead_runs)? && !dead_runs.contains(&run_id) {
                    orphan_leases.push(connection.value().to_string());
                }
            }
        }
        let mut orphan_requests = Vec::new();
        if let Some(requests) = txn.open(CANCEL_REQUESTS)? {
            for item in requests.iter().map_err(db("reading cancel requests"))? {
                let run_id = item.map_err(db("reading cancel requests"))?.0.value();
                if !is_going(run_id, &mut dead_runs)? && !dead_runs.contains(&run_id) {
                    orphan_requests.push(run_id);
                }
            }
        }
        Ok(Leftovers {
            dead_runs,
            orphan_rows,
            orphan_entries,
            orphan_leases,
            orphan_requests,
            indexed,
        })
    }

    fn none(indexed: bool) -> Leftovers {
        Leftovers {
            dead_runs: Vec::new(),
            orphan_rows: Vec::new(),
            orphan_entries: Vec::new(),
            orphan_leases: Vec::new(),
            orphan_requests: Vec::new(),
            indexed,
        }
    }

    /// Settles what runs that ended left behind (rows, entries, leases, requests).
    fn settle_orphans(mut self, txn: &WriteTransaction) -> Result<Recovery, StoreError> {
        let mut recovery = Recovery::default();
        for (run_id, position) in self.orphan_rows {
            let Some(mut row) = read_connection_run(txn, run_id, position)? else {
                let mut index = txn
                    .open_table(RUNNING)
                    .map_err(db("opening the running index"))?;
                index
                    .remove((run_id, position))
                    .map_err(db("writing the running index"))?;
                continue;
            };
            if row.status == RunStatus::Running {
                row.status = RunStatus::Interrupted;
                row.note = Some(INTERRUPTED_NOTE.to_string());
                recovery.connection_runs_interrupted += 1;
            }
            put_connection_run(txn, &row)?;
        }
        fail_pending(txn, &mut self.orphan_entries, INTERRUPTED_MESSAGE)?;
        recovery.entries_failed = self.orphan_entries.len() as u64;
        {
            let mut leases = txn.open_table(LEASES).map_err(db("opening leases"))?;
            for connection in &self.orphan_leases {
                leases
                    .remove(connection.as_str())
                    .map_err(db("letting go of a lease"))?;
            }
        }
        for run_id in self.orphan_requests {
            forget_cancel_request(txn, run_id)?;
        }
        Ok(recovery)
    }
}

fn read_run(txn: &WriteTransaction, run_id: RunId) -> Result<Option<Run>, StoreError> {
    let runs = txn.open_table(RUNS).map_err(db("opening runs"))?;
    let found = runs.get(run_id).map_err(db("reading a run"))?;
    found
        .map(|bytes| decode(bytes.value(), "decoding a run"))
        .transpose()
}

fn read_connection_run(
    txn: &WriteTransaction,
    run_id: RunId,
    position: u32,
) -> Result<Option<ConnectionRun>, StoreError> {
    let table = txn
        .open_table(CONNECTION_RUNS)
        .map_err(db("opening connection runs"))?;
    let found = table
        .get((run_id, position))
        .map_err(db("reading a connection run"))?;
    found
        .map(|bytes| decode(bytes.value(), "decoding a connection run"))
        .transpose()
}

/// The keys of every Running run and connection run, by decoding each row (stores written
/// before the running index existed).
fn scan_running(txn: &impl Snapshot) -> Result<Vec<(u64, u32)>, StoreError> {
    let mut keys = Vec::new();
    if let Some(runs) = txn.open(RUNS)? {
        for item in runs.iter().map_err(db("reading runs"))? {
            let (_, bytes) = item.map_err(db("reading runs"))?;
            let run: Run = decode(bytes.value(), "decoding a run")?;
            if run.status == RunStatus::Running {
                keys.push((run.id, RUN_ROW));
            }
        }
    }
    if let Some(table) = txn.open(CONNECTION_RUNS)? {
        for item in table.iter().map_err(db("reading connection runs"))? {
            let (key, bytes) = item.map_err(db("reading connection runs"))?;
            let connection_run: ConnectionRun = decode(bytes.value(), "decoding a connection run")?;
            if connection_run.status == RunStatus::Running {
                keys.push(key.value());
            }
        }
    }
    Ok(keys)
}

/// Every Pending entry, found through the status index.
fn pending_in(txn: &impl Snapshot) -> Result<Vec<ReportEntry>, StoreError> {
    let (Some(by_status), Some(entries)) = (txn.open(ENTRIES_BY_STATUS)?, txn.open(ENTRIES)?)
    else {
        return Ok(Vec::new());
    };
    let code = EntryStatus::Pending.code();
    let low = status_key(code, i64::MIN, 0);
    let high = status_key(code, i64::MAX, u64::MAX);
    let names = match txn.open(super::entry_names::ENTRY_NAMES)? {
        Some(table) => super::entry_names::Names::from_table(&table)?,
        None => super::entry_names::Names::default(),
    };
    let mut pending = Vec::new();
    for item in by_status
        .range::<&[u8]>(&low[..]..=&high[..])
        .map_err(db("reading the status index"))?
    {
        let (key, _) = item.map_err(db("reading the status index"))?;
        let Some((_, sync_id)) = key_tail(key.value()) else {
            continue;
        };
        if let Some(bytes) = entries.get(sync_id).map_err(db("reading an entry"))? {
            pending.push(decode_entry(bytes.value(), &names, "decoding an entry")?);
        }
    }
    Ok(pending)
}
