//! The warning and error lines of each run (retries, aborts, refusals, hints), kept with the run
//! so that the Logs view and on-call staff see them after any restart (issue 15, point 4).
//!
//! One table keyed by (run id, sequence), at most [`MAX_RUN_LOG_LINES`] lines a run (the last
//! one kept says how many more were not), deleted with the run by the prune. The engine writes
//! only text it has already redacted (URLs without secrets, destination messages through the
//! client's redaction), as it does for entries; the store adds nothing from elsewhere.

use chrono::{DateTime, Utc};
use redb::{ReadableTable, TableDefinition, TableError, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::Store;
use super::error::{StoreError, db};
use super::types::RunId;

/// (run id, sequence within the run) → a [`LogLine`] as JSON.
pub(crate) const RUN_LOG: TableDefinition<(u64, u32), &[u8]> = TableDefinition::new("run_log");

/// The most lines kept for one run: a 429 storm must not grow the store without bound.
pub const MAX_RUN_LOG_LINES: u32 = 2_000;

/// How bad a kept line is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogSeverity {
    Warn,
    Error,
}

/// One line of a run's log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    pub at: DateTime<Utc>,
    pub severity: LogSeverity,
    /// The connection it is about, when one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
    /// Already redacted by the engine.
    pub message: String,
}

impl Store {
    /// Appends lines to a run's log, after those it has, up to [`MAX_RUN_LOG_LINES`] (the
    /// last kept line then says how many were left out). Returns how many were written.
    pub fn append_run_log(&self, run_id: RunId, lines: &[LogLine]) -> Result<usize, StoreError> {
        if lines.is_empty() {
            return Ok(0);
        }
        let txn = self.write()?;
        let written = {
            let mut table = txn.open_table(RUN_LOG).map_err(db("opening the run log"))?;
            let next = table
                .range((run_id, 0)..=(run_id, u32::MAX))
                .map_err(db("reading the run log"))?
                .next_back()
                .transpose()
                .map_err(db("reading the run log"))?
                .map_or(0, |(key, _)| key.value().1 + 1);
            let room = MAX_RUN_LOG_LINES.saturating_sub(next) as usize;
            let mut written = 0;
            for (i, line) in lines.iter().enumerate() {
                if written >= room {
                    break;
                }
                let last_slot = written + 1 == room && i + 1 < lines.len();
                let line = if last_slot {
                    LogLine {
                        message: format!(
                            "{} more line(s) of this run not kept (at most {MAX_RUN_LOG_LINES}); \
                             the log file has them all",
                            lines.len() - i
                        ),
                        severity: LogSeverity::Warn,
                        connection: None,
                        at: line.at,
                    }
                } else {
                    line.clone()
                };
                let bytes = serde_json::to_vec(&line).map_err(|source| StoreError::Encoding {
                    context: "encoding a run log line",
                    source,
                })?;
                table
                    .insert((run_id, next + written as u32), bytes.as_slice())
                    .map_err(db("writing the run log"))?;
                written += 1;
            }
            written
        };
        txn.commit().map_err(db("committing the run log"))?;
        Ok(written)
    }

    /// A run's log lines, in the order written; none for a run without any (or a store
    /// written before run logs were kept).
    pub fn run_log(&self, run_id: RunId) -> Result<Vec<LogLine>, StoreError> {
        let txn = self.read()?;
        let table = match txn.open_table(RUN_LOG) {
            Ok(table) => table,
            Err(TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(db("opening the run log")(e)),
        };
        let mut lines = Vec::new();
        for item in table
            .range((run_id, 0)..=(run_id, u32::MAX))
            .map_err(db("reading the run log"))?
        {
            let (_, bytes) = item.map_err(db("reading the run log"))?;
            let line: LogLine =
                serde_json::from_slice(bytes.value()).map_err(|source| StoreError::Encoding {
                    context: "decoding a run log line",
                    source,
                })?;
            lines.push(line);
        }
        Ok(lines)
    }
}

/// Deletes a run's log lines inside a prune's transaction.
pub(crate) fn prune_run_log(txn: &WriteTransaction, run_id: RunId) -> Result<u64, StoreError> {
    let mut table = txn.open_table(RUN_LOG).map_err(db("opening the run log"))?;
    let mut removed = 0;
    for item in table
        .extract_from_if((run_id, 0)..=(run_id, u32::MAX), |_, _| true)
        .map_err(db("pruning the run log"))?
    {
        item.map_err(db("pruning the run log"))?;
        removed += 1;
    }
    Ok(removed)
}
