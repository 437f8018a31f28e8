//! Cancel requests (SPEC section 8): a process asks the owner of a run to cancel it by writing a
//! request into the store; the owner reads it while the run goes and honours it within a second.
//! A request is let go when its run ends, however it ends.

use chrono::{DateTime, Utc};
use redb::{ReadableTable, TableError};
use serde::{Deserialize, Serialize};

use super::Store;
use super::error::{StoreError, db};
use super::owner::{RunOwner, Trigger};
use super::tables::*;
use super::types::{Run, RunId, RunStatus};

/// Who asked for a run to be canceled, and when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelRequest {
    pub by: RunOwner,
    pub trigger: Trigger,
    pub at: DateTime<Utc>,
}

impl CancelRequest {
    /// A request from this process.
    pub fn from_here(trigger: Trigger) -> CancelRequest {
        CancelRequest {
            by: RunOwner::current(),
            trigger,
            at: Utc::now(),
        }
    }

    /// `alice@jump1 (console, pid 4242)`.
    pub fn requester(&self) -> String {
        format!(
            "{} ({}, pid {})",
            self.by.user_at_host(),
            self.trigger.label(),
            self.by.pid
        )
    }
}

/// What [`Store::request_cancel`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CancelOutcome {
    /// The request is written; the run's owner honours it within a second.
    Requested(Run),
    /// The run is not running (it ended, or never was): nothing to cancel.
    NotRunning(Run),
    /// No run has this id.
    Unknown,
}

impl Store {
    /// Asks the owner of a running run to cancel it.
    pub fn request_cancel(
        &self,
        run_id: RunId,
        request: &CancelRequest,
    ) -> Result<CancelOutcome, StoreError> {
        let txn = self.write()?;
        let run: Option<Run> = {
            let runs = txn.open_table(RUNS).map_err(db("opening runs"))?;
            let found = runs.get(run_id).map_err(db("reading a run"))?;
            found
                .map(|bytes| decode(bytes.value(), "decoding a run"))
                .transpose()?
        };
        let outcome = match run {
            None => CancelOutcome::Unknown,
            Some(run) if run.status != RunStatus::Running => CancelOutcome::NotRunning(run),
            Some(run) => {
                let mut requests = txn
                    .open_table(CANCEL_REQUESTS)
                    .map_err(db("opening cancel requests"))?;
                let bytes = encode(request, "encoding a cancel request")?;
                requests
                    .insert(run_id, bytes.as_slice())
                    .map_err(db("writing a cancel request"))?;
                CancelOutcome::Requested(run)
            }
        };
        match outcome {
            CancelOutcome::Requested(_) => {
                txn.commit().map_err(db("committing a cancel request"))?
            }
            _ => txn.abort().map_err(db("ending a cancel request"))?,
        }
        Ok(outcome)
    }

    /// The cancel request written for a run, if any.
    pub fn cancel_request(&self, run_id: RunId) -> Result<Option<CancelRequest>, StoreError> {
        let txn = self.read()?;
        let requests = match txn.open_table(CANCEL_REQUESTS) {
            Ok(requests) => requests,
            Err(TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(error) => return Err(db("opening cancel requests")(error)),
        };
        let found = requests
            .get(run_id)
            .map_err(db("reading a cancel request"))?;
        found
            .map(|bytes| decode(bytes.value(), "decoding a cancel request"))
            .transpose()
    }
}
