//! Writing rows inside an open write transaction: runs, connection runs and entries with the
//! indexes and sequences kept in step, and what a run lets go of when it ends (its leases, its
//! cancel request). Below every module that writes: the batches, the leases, the recovery.

use std::collections::BTreeSet;

use redb::{ReadableTable, Table, TableDefinition, WriteTransaction};

use super::entry_codec::decode_entry;
use super::entry_names::NameIds;
use super::error::{StoreError, db};
use super::tables::*;
use super::types::{ConnectionRun, ReportEntry, Run, RunId, RunStatus, SyncId};

/// Writes a run row, keeping [`RUNNING`] in step; a run written as finished lets go of its
/// connection leases and of any cancel request for it, whatever ended it.
pub(crate) fn put_run(txn: &WriteTransaction, run: &Run) -> Result<(), StoreError> {
    let mut runs = txn.open_table(RUNS).map_err(db("opening runs"))?;
    let bytes = encode(run, "encoding a run")?;
    runs.insert(run.id, bytes.as_slice())
        .map_err(db("writing a run"))?;
    let running = run.status == RunStatus::Running;
    mark_running(txn, (run.id, RUN_ROW), running)?;
    if !running {
        release_leases(txn, run.id)?;
        forget_cancel_request(txn, run.id)?;
    }
    Ok(())
}

/// The connection runs of a run, read inside a write transaction.
pub(crate) fn read_connection_runs(
    txn: &WriteTransaction,
    run_id: RunId,
) -> Result<Vec<ConnectionRun>, StoreError> {
    let table = txn
        .open_table(CONNECTION_RUNS)
        .map_err(db("opening connection runs"))?;
    let mut rows = Vec::new();
    for item in table
        .range((run_id, 0)..=(run_id, u32::MAX))
        .map_err(db("reading connection runs"))?
    {
        let (_, bytes) = item.map_err(db("reading connection runs"))?;
        rows.push(decode(bytes.value(), "decoding a connection run")?);
    }
    Ok(rows)
}

/// Writes a connection run row, keeping [`RUNNING`] in step.
pub(crate) fn put_connection_run(
    txn: &WriteTransaction,
    connection_run: &ConnectionRun,
) -> Result<(), StoreError> {
    let mut table = txn
        .open_table(CONNECTION_RUNS)
        .map_err(db("opening connection runs"))?;
    let bytes = encode(connection_run, "encoding a connection run")?;
    table
        .insert(
            (connection_run.run_id, connection_run.position),
            bytes.as_slice(),
        )
        .map_err(db("writing a connection run"))?;
    mark_running(
        txn,
        (connection_run.run_id, connection_run.position),
        connection_run.status == RunStatus::Running,
    )
}

/// Keeps [`RUNNING`] in step with a run or connection run row being written.
fn mark_running(txn: &WriteTransaction, key: (u64, u32), running: bool) -> Result<(), StoreError> {
    let mut table = txn
        .open_table(RUNNING)
        .map_err(db("opening the running index"))?;
    if running {
        table
            .insert(key, ())
            .map_err(db("writing the running index"))?;
    } else {
        table.remove(key).map_err(db("writing the running index"))?;
    }
    Ok(())
}

/// Index keys to remove and to insert, gathered over a whole batch so each index is written in
/// key order (sequential B-tree pages instead of random ones).
struct IndexDelta<K> {
    insert: BTreeSet<K>,
    remove: Vec<K>,
}

impl<K: Ord + AsRef<[u8]>> IndexDelta<K> {
    fn new() -> Self {
        IndexDelta {
            insert: BTreeSet::new(),
            remove: Vec::new(),
        }
    }

    fn remove(&mut self, key: K) {
        // A key inserted earlier in this batch (the same entry updated twice) is not on disk yet.
        if !self.insert.remove(&key) {
            self.remove.push(key);
        }
    }

    fn apply(
        self,
        txn: &WriteTransaction,
        definition: TableDefinition<&[u8], ()>,
        context: &'static str,
    ) -> Result<(), StoreError> {
        let mut table = txn.open_table(definition).map_err(db(context))?;
        for key in &self.remove {
            table.remove(key.as_ref()).map_err(db(context))?;
        }
        for key in &self.insert {
            table.insert(key.as_ref(), ()).map_err(db(context))?;
        }
        Ok(())
    }
}

/// Inserts new entries (sync id 0 gets the next id, in place) and updates existing ones,
/// keeping the four indexes in step. Returns each entry's sync id in order.
pub(crate) fn put_entries(
    txn: &WriteTransaction,
    entries: &mut [ReportEntry],
) -> Result<Vec<SyncId>, StoreError> {
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    let mut sequences = txn.open_table(SEQUENCES).map_err(db("opening sequences"))?;
    let new_count = entries.iter().filter(|e| e.sync_id == 0).count() as u64;
    let mut next_id = take_ids(&mut sequences, NEXT_SYNC_ID, new_count)?;
    let mut highest_given = 0;

    let mut table = txn.open_table(ENTRIES).map_err(db("opening entries"))?;
    let mut names = NameIds::open(txn)?;
    let mut by_time = IndexDelta::new();
    let mut by_status = IndexDelta::new();
    let mut by_reference = IndexDelta::new();
    let mut by_run = IndexDelta::new();
    let mut ids = Vec::with_capacity(entries.len());
    let mut bytes = Vec::with_capacity(1024);
    for entry in entries.iter_mut() {
        if entry.sync_id == 0 {
            entry.sync_id = next_id;
            next_id += 1;
        } else {
            highest_given = highest_given.max(entry.sync_id);
            let old = table
                .get(entry.sync_id)
                .map_err(db("reading an entry to update"))?
                .map(|old| decode_entry(old.value(), names.names(), "decoding an entry to update"))
                .transpose()?;
            if let Some(old) = old {
                let old = EntryKeys::of(&old);
                by_time.remove(old.time);
                by_status.remove(old.status);
                by_reference.remove(old.reference);
                by_run.remove(old.run);
            }
        }
        bytes.clear();
        let name = names.id(&entry.connection, &entry.system)?;
        super::entry_codec::encode_entry(entry, name, &mut bytes);
        table
            .insert(entry.sync_id, bytes.as_slice())
            .map_err(db("writing an entry"))?;
        let keys = EntryKeys::of(entry);
        by_time.insert.insert(keys.time);
        by_status.insert.insert(keys.status);
        by_reference.insert.insert(keys.reference);
        by_run.insert.insert(keys.run);
        ids.push(entry.sync_id);
    }
    // An update naming an id never handed out must not collide with a later new entry.
    raise_sequence(&mut sequences, NEXT_SYNC_ID, highest_given)?;
    drop(table);
    drop(names);

    by_time.apply(txn, ENTRIES_BY_TIME, "writing the time index")?;
    by_status.apply(txn, ENTRIES_BY_STATUS, "writing the status index")?;
    by_reference.apply(txn, ENTRIES_BY_REFERENCE, "writing the reference index")?;
    by_run.apply(txn, ENTRIES_BY_RUN, "writing the run index")?;
    super::report_systems::record_systems(txn, entries)?;
    Ok(ids)
}

/// Hands out `count` consecutive ids from a sequence and returns the first.
pub(crate) fn take_ids(
    sequences: &mut Table<&str, u64>,
    name: &'static str,
    count: u64,
) -> Result<u64, StoreError> {
    let first = sequences
        .get(name)
        .map_err(db("reading a sequence"))?
        .map_or(1, |next| next.value())
        .max(1);
    if count > 0 {
        sequences
            .insert(name, first + count)
            .map_err(db("writing a sequence"))?;
    }
    Ok(first)
}

/// Makes sure a sequence hands out ids above `used`.
pub(crate) fn raise_sequence(
    sequences: &mut Table<&str, u64>,
    name: &'static str,
    used: u64,
) -> Result<(), StoreError> {
    if used == 0 {
        return Ok(());
    }
    let next = sequences
        .get(name)
        .map_err(db("reading a sequence"))?
        .map_or(1, |next| next.value());
    if next <= used {
        sequences
            .insert(name, used + 1)
            .map_err(db("writing a sequence"))?;
    }
    Ok(())
}

/// Lets go of every lease `run_id` holds.
pub(crate) fn release_leases(txn: &WriteTransaction, run_id: RunId) -> Result<(), StoreError> {
    let mut leases = txn.open_table(LEASES).map_err(db("opening leases"))?;
    let mut held = Vec::new();
    for item in leases.iter().map_err(db("reading leases"))? {
        let (connection, holder) = item.map_err(db("reading leases"))?;
        if holder.value() == run_id {
            held.push(connection.value().to_string());
        }
    }
    for connection in held {
        leases
            .remove(connection.as_str())
            .map_err(db("letting go of a lease"))?;
    }
    Ok(())
}

/// Lets go of the request for `run_id`, if there is one.
pub(crate) fn forget_cancel_request(
    txn: &WriteTransaction,
    run_id: RunId,
) -> Result<(), StoreError> {
    let mut requests = txn
        .open_table(CANCEL_REQUESTS)
        .map_err(db("opening cancel requests"))?;
    requests
        .remove(run_id)
        .map_err(db("letting go of a cancel request"))?;
    Ok(())
}
