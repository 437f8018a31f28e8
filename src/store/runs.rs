//! Run and connection run queries for the jobs history.

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
