//! A connection run's warning and error lines (retries, a terminal error and its hint, the
//! failed records' hints), gathered as the run goes and kept in the store with the run when it
//! ends ([`Store::append_run_log`]), so they outlive this process's log view.

use std::sync::{Arc, Mutex};

use chrono::Utc;

use crate::store::{LogLine, LogSeverity, MAX_RUN_LOG_LINES, RunId, Store};

/// The lines of one connection run waiting to be kept.
pub(crate) struct RunLog {
    store: Store,
    run_id: RunId,
    connection: String,
    lines: Mutex<Vec<LogLine>>,
}

impl RunLog {
    pub(crate) fn new(store: Store, run_id: RunId, connection: &str) -> Arc<RunLog> {
        Arc::new(RunLog {
            store,
            run_id,
            connection: connection.to_string(),
            lines: Mutex::new(Vec::new()),
        })
    }

    /// Adds a line (text already redacted, as the engine's log lines are). Past what the store
    /// keeps for a run, lines are counted by the store's last line, not held here.
    pub(crate) fn push(&self, severity: LogSeverity, message: String) {
        let Ok(mut lines) = self.lines.lock() else {
            return;
        };
        if lines.len() <= MAX_RUN_LOG_LINES as usize {
            lines.push(LogLine {
                at: Utc::now(),
                severity,
                connection: Some(self.connection.clone()),
                message,
            });
        }
    }

    /// Writes what was gathered to the store (off the async threads); a store that refuses
    /// is logged, never failing the run.
    pub(crate) async fn keep(&self) {
        let lines = match self.lines.lock() {
            Ok(mut lines) => std::mem::take(&mut *lines),
            Err(_) => return,
        };
        if lines.is_empty() || self.store.read_only_reason().is_some() {
            return;
        }
        let store = self.store.clone();
        let run_id = self.run_id;
        let kept = tokio::task::spawn_blocking(move || store.append_run_log(run_id, &lines)).await;
        match kept {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!("cannot keep the log lines of run {run_id}: {e}"),
            Err(e) => tracing::warn!("cannot keep the log lines of run {run_id}: {e}"),
        }
    }
}
