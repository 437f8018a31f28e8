//! Run and connection run queries for the jobs history.

use redb::ReadableTable;

use super::Store;
use super::error::{StoreError, db};
use super::tables::*;
use super::types::{ConnectionRun, Run, RunId};

impl Store {
    /// Up to `limit` runs, newest first, with ids below `before` when given.
    pub fn list_runs(&self, before: Option<RunId>, limit: usize) -> Result<Vec<Run>, StoreError> {
        let txn = self.read()?;
        let table = txn.open_table(RUNS).map_err(db("opening runs"))?;
        let range = match before {
            Some(before) => table.range(..before),
            None => table.range::<u64>(..),
        }
        .map_err(db("reading runs"))?;
        let mut runs = Vec::with_capacity(limit.min(1024));
        for item in range.rev().take(limit) {
            let (_, bytes) = item.map_err(db("reading runs"))?;
            runs.push(decode(bytes.value(), "decoding a run")?);
        }
        Ok(runs)
    }

    /// Runs with ids above `after`, oldest first (the runs started since a console last
    /// looked), at most `limit`.
    pub fn runs_after(&self, after: RunId, limit: usize) -> Result<Vec<Run>, StoreError> {
        let txn = self.read()?;
        let table = txn.open_table(RUNS).map_err(db("opening runs"))?;
        let mut runs = Vec::new();
        for item in table
            .range(after.saturating_add(1)..)
            .map_err(db("reading runs"))?
            .take(limit)
        {
            let (_, bytes) = item.map_err(db("reading runs"))?;
            runs.push(decode(bytes.value(), "decoding a run")?);
        }
        Ok(runs)
    }

    /// The runs still Running, in any process, oldest first (read through the running index).
    pub fn running_runs(&self) -> Result<Vec<Run>, StoreError> {
        let txn = self.read()?;
        let index = txn
            .open_table(RUNNING)
            .map_err(db("opening the running index"))?;
        let runs = txn.open_table(RUNS).map_err(db("opening runs"))?;
        let mut running = Vec::new();
        for item in index.iter().map_err(db("reading the running index"))? {
            let (run_id, position) = item.map_err(db("reading the running index"))?.0.value();
            if position != RUN_ROW {
                continue;
            }
            if let Some(bytes) = runs.get(run_id).map_err(db("reading a run"))? {
                let run: Run = decode(bytes.value(), "decoding a run")?;
                if run.status == super::types::RunStatus::Running {
                    running.push(run);
                }
            }
        }
        Ok(running)
    }

    /// The run with this id.
    pub fn get_run(&self, run_id: RunId) -> Result<Option<Run>, StoreError> {
        let txn = self.read()?;
        let table = txn.open_table(RUNS).map_err(db("opening runs"))?;
        let found = table.get(run_id).map_err(db("reading a run"))?;
        found
            .map(|bytes| decode(bytes.value(), "decoding a run"))
            .transpose()
    }

    /// The connection runs of a run, in execution order.
    pub fn connection_runs(&self, run_id: RunId) -> Result<Vec<ConnectionRun>, StoreError> {
        let txn = self.read()?;
        let table = txn
            .open_table(CONNECTION_RUNS)
            .map_err(db("opening connection runs"))?;
        let range = table
            .range((run_id, 0)..=(run_id, u32::MAX))
            .map_err(db("reading connection runs"))?;
        let mut connection_runs = Vec::new();
        for item in range {
            let (_, bytes) = item.map_err(db("reading connection runs"))?;
            connection_runs.push(decode(bytes.value(), "decoding a connection run")?);
        }
        Ok(connection_runs)
    }
}
