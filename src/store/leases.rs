//! Connection leases (SPEC section 8): a Live, Apply or Resync run holds each of its connections
//! while it runs, so that two processes never write one connection at once. Leases are taken
//! with the run's first record, all or none, and let go with its last (see
//! [`super::rows::put_run`]); a lease whose run ended, or whose owner is gone, is taken over.

use redb::{ReadableTable, WriteTransaction};

use super::Store;
use super::error::{StoreError, db};
use super::tables::*;
use super::types::{LeaseHolder, Run, RunId, RunStatus};

impl Store {
    /// Records a new run (assigning its id) and takes a lease on each of the `leased`
    /// connections, in one transaction: all of them or none, and then the run is not recorded.
    /// A lease held by a run that ended, or whose owner is gone, is taken over (such a run is
    /// settled as Interrupted first); one held by a living run refuses the start with
    /// [`StoreError::ConnectionHeld`].
    pub fn begin_run(&self, mut run: Run, leased: &[String]) -> Result<RunId, StoreError> {
        let txn = self.write()?;
        for connection in leased {
            if let Some(holder) = living_holder(&txn, connection)? {
                txn.abort().map_err(db("ending a refused start"))?;
                return Err(StoreError::ConnectionHeld(Box::new(LeaseHolder {
                    connection: connection.clone(),
                    run: holder,
                })));
            }
        }
        {
            let mut sequences = txn.open_table(SEQUENCES).map_err(db("opening sequences"))?;
            run.id = super::rows::take_ids(&mut sequences, NEXT_RUN_ID, 1)?;
        }
        super::rows::put_run(&txn, &run)?;
        if run.status == RunStatus::Running {
            let mut leases = txn.open_table(LEASES).map_err(db("opening leases"))?;
            for connection in leased {
                leases
                    .insert(connection.as_str(), run.id)
                    .map_err(db("writing a lease"))?;
            }
        }
        txn.commit().map_err(db("committing a new run"))?;
        Ok(run.id)
    }

    /// The running run that holds a connection's lease, if any (whether its owner lives or not).
    pub fn lease_holder(&self, connection: &str) -> Result<Option<Run>, StoreError> {
        let txn = self.read()?;
        let leases = txn.open_table(LEASES).map_err(db("opening leases"))?;
        let Some(run_id) = leases.get(connection).map_err(db("reading a lease"))? else {
            return Ok(None);
        };
        let run = self.get_run(run_id.value())?;
        Ok(run.filter(|run| run.status == RunStatus::Running))
    }
}

/// The run that holds `connection` and still runs; a lease of a run that ended or whose owner
/// is gone is let go (the run settled as Interrupted).
fn living_holder(txn: &WriteTransaction, connection: &str) -> Result<Option<Run>, StoreError> {
    let holder = {
        let leases = txn.open_table(LEASES).map_err(db("opening leases"))?;
        let found = leases.get(connection).map_err(db("reading a lease"))?;
        found.map(|id| id.value())
    };
    let Some(run_id) = holder else {
        return Ok(None);
    };
    let run: Option<Run> = {
        let runs = txn.open_table(RUNS).map_err(db("opening runs"))?;
        let found = runs.get(run_id).map_err(db("reading a run"))?;
        found
            .map(|bytes| decode(bytes.value(), "decoding a run"))
            .transpose()?
    };
    match run {
        Some(run) if run.status == RunStatus::Running => {
            let gone = run.owner.as_ref().is_none_or(|owner| owner.is_gone());
            if !gone {
                return Ok(Some(run));
            }
            tracing::warn!(
                run_id,
                connection,
                "the lease's run belongs to a process that is gone: run settled as interrupted \
                 and its lease taken over"
            );
            super::recovery::settle_runs(txn, &[run_id])?;
        }
        _ => {}
    }
    let mut leases = txn.open_table(LEASES).map_err(db("opening leases"))?;
    leases
        .remove(connection)
        .map_err(db("letting go of a lease"))?;
    Ok(None)
}
