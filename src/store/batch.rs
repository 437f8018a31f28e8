//! Batched writes: many entries, contracts and run rows in one durable transaction.

use redb::WriteTransaction;

use super::Store;
use super::error::{StoreError, db};
use super::rows::{put_connection_run, put_entries, put_run, raise_sequence};
use super::tables::*;
use super::types::{ConnectionRun, EntryTally, ReportEntry, Run, RunId, SyncContract, SyncId};

/// Everything one commit writes; see [`Store::commit`]. Serialisable: what a run could not
/// commit goes to its recovery file batch by batch (see `recovery_file`).
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct WriteBatch {
    /// Entries to record (sync id 0: a new entry, which gets an id) or to update (a resync);
    /// a non-zero id the store has not seen is recorded under that id.
    pub entries: Vec<ReportEntry>,
    /// Contracts to insert or replace.
    pub contracts: Vec<SyncContract>,
    /// Contracts to delete, as (connection, origin id); applied before `contracts`.
    pub contract_deletes: Vec<(String, String)>,
    /// Connection runs to insert or replace (their progress and counters).
    pub connection_runs: Vec<ConnectionRun>,
    /// Runs to insert or replace; their ids come from [`Store::create_run`].
    pub runs: Vec<Run>,
    /// Entries changed in place (a resync): their run's connection-run counters move from
    /// what each was to what it is, in the same transaction.
    pub recounts: Vec<Recount>,
}

/// One entry changed in place, for its connection run's counters: what it counted as before
/// and counts as now.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Recount {
    pub run_id: RunId,
    pub connection: String,
    pub before: EntryTally,
    pub after: EntryTally,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> WriteBatch {
        WriteBatch::default()
    }

    /// True when a commit would write nothing.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
            && self.contracts.is_empty()
            && self.contract_deletes.is_empty()
            && self.connection_runs.is_empty()
            && self.runs.is_empty()
            && self.recounts.is_empty()
    }

    /// Forgets everything, keeping the allocations for the next batch.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.contracts.clear();
        self.contract_deletes.clear();
        self.connection_runs.clear();
        self.runs.clear();
        self.recounts.clear();
    }
}

impl Store {
    /// Writes the batch in one durable transaction and returns the sync id of each entry, in
    /// order. On success the batch is emptied for reuse; on error it is left as it was.
    pub fn commit(&self, batch: &mut WriteBatch) -> Result<Vec<SyncId>, StoreError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let new_entries: Vec<usize> = (0..batch.entries.len())
            .filter(|&i| batch.entries[i].sync_id == 0)
            .collect();
        let result = self.write().and_then(|txn| {
            let ids = apply(&txn, batch)?;
            txn.commit().map_err(db("committing a batch"))?;
            Ok(ids)
        });
        match result {
            Ok(ids) => {
                batch.clear();
                Ok(ids)
            }
            Err(err) => {
                // Ids were assigned in place; give the entries back as new so a retry works.
                for i in new_entries {
                    batch.entries[i].sync_id = 0;
                }
                Err(err)
            }
        }
    }

    /// Records a new run, assigning and returning its id. It takes no lease: a Live run that
    /// should hold its connections starts through [`Store::begin_run`].
    pub fn create_run(&self, run: Run) -> Result<RunId, StoreError> {
        self.begin_run(run, &[])
    }

    /// Inserts or replaces a run (its status, finish time, note).
    pub fn upsert_run(&self, run: &Run) -> Result<(), StoreError> {
        let mut batch = WriteBatch::new();
        batch.runs.push(run.clone());
        self.commit(&mut batch).map(drop)
    }

    /// Inserts or replaces a connection run (its progress, counters, status).
    pub fn upsert_connection_run(&self, connection_run: &ConnectionRun) -> Result<(), StoreError> {
        let mut batch = WriteBatch::new();
        batch.connection_runs.push(connection_run.clone());
        self.commit(&mut batch).map(drop)
    }
}

/// Moves the counters of the connection runs whose entries changed in place (a resync), after
/// the batch's own rows so a row written in the same batch is moved too.
fn recount(txn: &WriteTransaction, recounts: &[Recount]) -> Result<(), StoreError> {
    for recount in recounts {
        let rows = super::rows::read_connection_runs(txn, recount.run_id)?;
        let Some(mut row) = rows
            .into_iter()
            .find(|row| row.connection == recount.connection)
        else {
            continue;
        };
        row.counters.uncount(recount.before);
        row.counters.count(recount.after);
        put_connection_run(txn, &row)?;
    }
    Ok(())
}

/// Writes a batch into an open transaction; assigns ids to new entries in place.
pub(crate) fn apply(
    txn: &WriteTransaction,
    batch: &mut WriteBatch,
) -> Result<Vec<SyncId>, StoreError> {
    if !batch.runs.is_empty() {
        let mut highest = 0;
        for run in &batch.runs {
            put_run(txn, run)?;
            highest = highest.max(run.id);
        }
        let mut sequences = txn.open_table(SEQUENCES).map_err(db("opening sequences"))?;
        raise_sequence(&mut sequences, NEXT_RUN_ID, highest)?;
    }
    for connection_run in &batch.connection_runs {
        put_connection_run(txn, connection_run)?;
    }
    recount(txn, &batch.recounts)?;
    if !batch.contract_deletes.is_empty() || !batch.contracts.is_empty() {
        let mut table = txn.open_table(CONTRACTS).map_err(db("opening contracts"))?;
        for (connection, origin_id) in &batch.contract_deletes {
            table
                .remove((connection.as_str(), origin_id.as_str()))
                .map_err(db("deleting a contract"))?;
        }
        let mut bytes = Vec::with_capacity(128);
        for contract in &batch.contracts {
            super::contract_codec::encode_contract(contract, &mut bytes);
            table
                .insert(
                    (contract.connection.as_str(), contract.origin_id.as_str()),
                    bytes.as_slice(),
                )
                .map_err(db("writing a contract"))?;
        }
    }
    put_entries(txn, &mut batch.entries)
}
