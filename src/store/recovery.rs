//! Recovery on open: what a process that died left Running or Pending is settled, so nothing
//! stays in limbo and the operator is told.

use redb::{Database, ReadableTable};

use super::batch::put_entries;
use super::error::{StoreError, db};
use super::tables::*;
use super::types::{ConnectionRun, EntryError, EntryStatus, ReportEntry, Run, RunId, RunStatus};

/// The note on runs and connection runs found Running when the store was opened.
pub const INTERRUPTED_NOTE: &str = "interrupted: the process ended while the run was going";
/// The error message of entries found Pending when the store was opened.
pub const INTERRUPTED_MESSAGE: &str = "interrupted";

/// What the last open found left behind by a process that died.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Runs that were Running and are now Interrupted.
    pub runs_interrupted: Vec<RunId>,
    /// Connection runs that were Running and are now Interrupted.
    pub connection_runs_interrupted: u64,
    /// Entries that were Pending and are now Failed ("interrupted").
    pub entries_failed: u64,
    /// Recovery files of runs that could not record (a full disk) imported into the store.
    pub imported: Vec<super::recovery_file::Imported>,
}

impl Recovery {
    /// True when the previous process ended cleanly (nothing was recovered).
    pub fn is_empty(&self) -> bool {
        self.runs_interrupted.is_empty()
            && self.connection_runs_interrupted == 0
            && self.entries_failed == 0
            && self.imported.is_empty()
    }

    /// One line for the operator, or None when there is nothing to say.
    pub fn summary(&self) -> Option<String> {
        if self.is_empty() {
            return None;
        }
        let imported: Vec<String> = self.imported.iter().map(|i| i.summary()).collect();
        if self.runs_interrupted.is_empty()
            && self.connection_runs_interrupted == 0
            && self.entries_failed == 0
        {
            return Some(imported.join("; "));
        }
        let imported = if imported.is_empty() {
            String::new()
        } else {
            format!("; {}", imported.join("; "))
        };
        let runs: Vec<String> = self
            .runs_interrupted
            .iter()
            .map(|id| format!("#{id}"))
            .collect();
        Some(format!(
            "the previous syncdeck process ended during a run: {} run(s) marked interrupted{}, \
             {} connection run(s) interrupted, {} pending entr{} marked failed{imported}",
            runs.len(),
            if runs.is_empty() {
                String::new()
            } else {
                format!(" ({})", runs.join(", "))
            },
            self.connection_runs_interrupted,
            self.entries_failed,
            if self.entries_failed == 1 { "y" } else { "ies" },
        ))
    }
}

/// Settles Running runs and connection runs and Pending entries; the caller holds the store lock,
/// so whatever is still Running belongs to a process that is gone.
pub(crate) fn recover(database: &Database) -> Result<Recovery, StoreError> {
    let mut recovery = Recovery::default();
    let txn = super::begin_write(database)?;
    let indexed = {
        let meta = txn.open_table(META).map_err(db("opening meta"))?;
        meta.get(RUNNING_INDEXED_KEY)
            .map_err(db("reading meta"))?
            .is_some()
    };
    let running = if indexed {
        let table = txn
            .open_table(RUNNING)
            .map_err(db("opening the running index"))?;
        let mut keys = Vec::new();
        for item in table.iter().map_err(db("reading the running index"))? {
            let (key, _) = item.map_err(db("reading the running index"))?;
            keys.push(key.value());
        }
        keys
    } else {
        // A store written before the running index: find the rows the long way, once.
        scan_running(&txn)?
    };
    {
        let mut runs = txn.open_table(RUNS).map_err(db("opening runs"))?;
        let mut connection_runs = txn
            .open_table(CONNECTION_RUNS)
            .map_err(db("opening connection runs"))?;
        let mut index = txn
            .open_table(RUNNING)
            .map_err(db("opening the running index"))?;
        for (run_id, position) in running {
            index
                .remove((run_id, position))
                .map_err(db("writing the running index"))?;
            if position == RUN_ROW {
                let Some(bytes) = runs.get(run_id).map_err(db("reading runs"))? else {
                    continue;
                };
                let mut run: Run = decode(bytes.value(), "decoding a run")?;
                drop(bytes);
                if run.status != RunStatus::Running {
                    continue;
                }
                run.status = RunStatus::Interrupted;
                run.note = Some(INTERRUPTED_NOTE.to_string());
                let bytes = encode(&run, "encoding a run")?;
                runs.insert(run.id, bytes.as_slice())
                    .map_err(db("writing a run"))?;
                recovery.runs_interrupted.push(run.id);
            } else {
                let Some(bytes) = connection_runs
                    .get((run_id, position))
                    .map_err(db("reading connection runs"))?
                else {
                    continue;
                };
                let mut connection_run: ConnectionRun =
                    decode(bytes.value(), "decoding a connection run")?;
                drop(bytes);
                if connection_run.status != RunStatus::Running {
                    continue;
                }
                connection_run.status = RunStatus::Interrupted;
                connection_run.note = Some(INTERRUPTED_NOTE.to_string());
                let bytes = encode(&connection_run, "encoding a connection run")?;
                connection_runs
                    .insert((run_id, position), bytes.as_slice())
                    .map_err(db("writing a connection run"))?;
                recovery.connection_runs_interrupted += 1;
            }
        }
        recovery.runs_interrupted.sort_unstable();
    }
    if !indexed {
        let mut meta = txn.open_table(META).map_err(db("opening meta"))?;
        meta.insert(RUNNING_INDEXED_KEY, 1)
            .map_err(db("writing meta"))?;
    }
    let mut pending = pending_entries(&txn)?;
    for entry in &mut pending {
        entry.status = EntryStatus::Failed;
        let previous = entry.error.take().unwrap_or_default();
        entry.error = Some(EntryError {
            message: INTERRUPTED_MESSAGE.to_string(),
            hint: Some(
                "the process ended before the write was confirmed; check the destination, then \
                 resync"
                    .to_string(),
            ),
            ..previous
        });
    }
    put_entries(&txn, &mut pending)?;
    recovery.entries_failed = pending.len() as u64;
    if recovery.is_empty() && indexed {
        txn.abort().map_err(db("ending the recovery"))?;
    } else {
        txn.commit().map_err(db("committing the recovery"))?;
    }
    Ok(recovery)
}

/// The keys of every Running run and connection run, by decoding each row (stores written
/// before the running index existed).
fn scan_running(txn: &redb::WriteTransaction) -> Result<Vec<(u64, u32)>, StoreError> {
    let mut keys = Vec::new();
    let runs = txn.open_table(RUNS).map_err(db("opening runs"))?;
    for item in runs.iter().map_err(db("reading runs"))? {
        let (_, bytes) = item.map_err(db("reading runs"))?;
        let run: Run = decode(bytes.value(), "decoding a run")?;
        if run.status == RunStatus::Running {
            keys.push((run.id, RUN_ROW));
        }
    }
    let table = txn
        .open_table(CONNECTION_RUNS)
        .map_err(db("opening connection runs"))?;
    for item in table.iter().map_err(db("reading connection runs"))? {
        let (key, bytes) = item.map_err(db("reading connection runs"))?;
        let connection_run: ConnectionRun = decode(bytes.value(), "decoding a connection run")?;
        if connection_run.status == RunStatus::Running {
            keys.push(key.value());
        }
    }
    Ok(keys)
}

/// Every Pending entry, found through the status index.
fn pending_entries(txn: &redb::WriteTransaction) -> Result<Vec<ReportEntry>, StoreError> {
    let code = EntryStatus::Pending.code();
    let by_status = txn
        .open_table(ENTRIES_BY_STATUS)
        .map_err(db("opening the status index"))?;
    let entries = txn.open_table(ENTRIES).map_err(db("opening entries"))?;
    let low = status_key(code, i64::MIN, 0);
    let high = status_key(code, i64::MAX, u64::MAX);
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
            pending.push(decode(bytes.value(), "decoding an entry")?);
        }
    }
    Ok(pending)
}
