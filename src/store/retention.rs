//! Retention: entries and finished runs older than `retention_days` are deleted.

use chrono::{DateTime, Duration, Utc};
use redb::ReadableTable;

use super::Store;
use super::error::{StoreError, db};
use super::tables::*;
use super::types::{ReportEntry, Run, RunId};

/// How many entries one prune transaction deletes, so a first prune of a large backlog does not
/// build one huge transaction.
const PRUNE_CHUNK: usize = 10_000;

pub use super::types::PruneStats;

impl Store {
    /// Deletes entries, and finished runs with their connection runs, older than the retention.
    pub fn prune(&self, now: DateTime<Utc>) -> Result<PruneStats, StoreError> {
        let mut stats = PruneStats::default();
        let days = self.options().retention_days;
        if days == 0 {
            return Ok(stats);
        }
        let cutoff = now - Duration::days(i64::from(days));
        let cutoff_key = time_key(cutoff.timestamp_millis(), 0);
        loop {
            let deleted = self.prune_entries_chunk(&cutoff_key)?;
            stats.entries += deleted as u64;
            if deleted < PRUNE_CHUNK {
                break;
            }
        }
        let (runs, connection_runs) = self.prune_runs(cutoff)?;
        stats.runs = runs;
        stats.connection_runs = connection_runs;
        Ok(stats)
    }

    /// Deletes up to [`PRUNE_CHUNK`] of the oldest entries before the cutoff, with their keys.
    fn prune_entries_chunk(&self, cutoff_key: &[u8]) -> Result<usize, StoreError> {
        let txn = self.write()?;
        let mut deleted = 0;
        {
            let mut by_time = txn
                .open_table(ENTRIES_BY_TIME)
                .map_err(db("opening the time index"))?;
            let mut old_keys = Vec::new();
            for item in by_time
                .range::<&[u8]>(..cutoff_key)
                .map_err(db("reading the time index"))?
                .take(PRUNE_CHUNK)
            {
                let (key, _) = item.map_err(db("reading the time index"))?;
                old_keys.push(key.value().to_vec());
            }
            if old_keys.is_empty() {
                return Ok(0);
            }
            let names = super::entry_names::Names::from_table(
                &txn.open_table(super::entry_names::ENTRY_NAMES)
                    .map_err(db("opening the entry names"))?,
            )?;
            let mut entries = txn.open_table(ENTRIES).map_err(db("opening entries"))?;
            let mut by_status = txn
                .open_table(ENTRIES_BY_STATUS)
                .map_err(db("opening the status index"))?;
            let mut by_reference = txn
                .open_table(ENTRIES_BY_REFERENCE)
                .map_err(db("opening the reference index"))?;
            let mut by_run = txn
                .open_table(ENTRIES_BY_RUN)
                .map_err(db("opening the run index"))?;
            for key in &old_keys {
                by_time
                    .remove(key.as_slice())
                    .map_err(db("pruning the time index"))?;
                let Some((_, sync_id)) = key_tail(key) else {
                    continue;
                };
                let removed = entries.remove(sync_id).map_err(db("pruning an entry"))?;
                let Some(bytes) = removed else {
                    continue;
                };
                let entry: ReportEntry =
                    decode_entry(bytes.value(), &names, "decoding an entry to prune")?;
                let keys = EntryKeys::of(&entry);
                by_status
                    .remove(&keys.status[..])
                    .map_err(db("pruning the status index"))?;
                by_reference
                    .remove(keys.reference.as_slice())
                    .map_err(db("pruning the reference index"))?;
                by_run
                    .remove(&keys.run[..])
                    .map_err(db("pruning the run index"))?;
                deleted += 1;
            }
        }
        txn.commit().map_err(db("committing a prune"))?;
        Ok(deleted)
    }

    /// Deletes finished runs that ended (or, without an end, started) before the cutoff.
    fn prune_runs(&self, cutoff: DateTime<Utc>) -> Result<(u64, u64), StoreError> {
        let txn = self.write()?;
        let mut pruned_runs = 0;
        let mut pruned_connection_runs = 0;
        {
            let mut runs = txn.open_table(RUNS).map_err(db("opening runs"))?;
            let mut old: Vec<RunId> = Vec::new();
            // Run ids are handed out in start order: from the first run that started after the
            // cutoff on, none can be old, so the scan stops there instead of reading the history.
            for item in runs.iter().map_err(db("reading runs"))? {
                let (_, bytes) = item.map_err(db("reading runs"))?;
                let run: Run = decode(bytes.value(), "decoding a run")?;
                if run.started_at >= cutoff {
                    break;
                }
                let ended = run.finished_at.unwrap_or(run.started_at);
                if run.status.is_finished() && ended < cutoff {
                    old.push(run.id);
                }
            }
            if old.is_empty() {
                return Ok((0, 0));
            }
            let mut connection_runs = txn
                .open_table(CONNECTION_RUNS)
                .map_err(db("opening connection runs"))?;
            for run_id in old {
                runs.remove(run_id).map_err(db("pruning a run"))?;
                pruned_runs += 1;
                super::run_log::prune_run_log(&txn, run_id)?;
                let mut positions = Vec::new();
                for item in connection_runs
                    .range((run_id, 0)..=(run_id, u32::MAX))
                    .map_err(db("reading connection runs"))?
                {
                    let (key, _) = item.map_err(db("reading connection runs"))?;
                    positions.push(key.value().1);
                }
                for position in positions {
                    connection_runs
                        .remove((run_id, position))
                        .map_err(db("pruning a connection run"))?;
                    pruned_connection_runs += 1;
                }
            }
        }
        txn.commit().map_err(db("committing a prune"))?;
        Ok((pruned_runs, pruned_connection_runs))
    }
}
