//! Engine events into the screen's state: live runs and connection runs in the run list, log
//! lines in the Logs view, refusals as an error line.

use crate::engine::{Event, LogLevel};

use crate::ui::app::{App, View};
use crate::ui::widgets::format;

impl App {
    fn refused(&mut self, reason: String) {
        self.follow_next_run = false;
        self.recording_failure = None;
        self.log(LogLevel::Warn, format!("run refused: {reason}"));
        self.show_message(format!("run refused: {reason}"), true);
    }

    pub(super) fn on_engine(&mut self, event: Event) {
        self.poll_background();
        match event {
            Event::Refused { reason } => self.refused(reason),
            Event::ConnectionHeld { holder } => self.refused(holder.to_string()),
            Event::RunStarted { run } => {
                let id = run.id;
                self.live = Some(id);
                self.runs.upsert_run(run);
                self.runs.expand_run(id);
                if std::mem::take(&mut self.follow_next_run) {
                    self.runs.select_first();
                }
                self.dirty = true;
            }
            Event::ConnectionStarted { connection_run }
            | Event::ConnectionFinished { connection_run } => {
                self.runs.upsert_connection_run(connection_run);
                self.dirty = true;
            }
            Event::Progress {
                run_id,
                position,
                processed,
                total,
                counters,
            } => {
                if self
                    .runs
                    .apply_progress(run_id, position, processed, total, counters)
                {
                    self.dirty = true;
                }
            }
            Event::Concurrency {
                run_id,
                position,
                concurrency,
            } => {
                let before = self.concurrency.insert((run_id, position), concurrency);
                if before != Some(concurrency) {
                    self.dirty = true;
                }
            }
            Event::EntriesRecorded { .. } => {
                // Read again at the next tick while the report is on screen, not per batch.
                self.report_activity.stale = true;
            }
            Event::RetryScheduled {
                run_id,
                position,
                reference,
                attempt,
                delay,
                reason,
            } => {
                let connection = self.runs.connection_run(run_id, position).map_or_else(
                    || format!("connection {}", position + 1),
                    |r| r.connection.clone(),
                );
                let wait =
                    format::duration(chrono::TimeDelta::milliseconds(delay.as_millis() as i64));
                self.log(
                    LogLevel::Warn,
                    format!(
                        "{connection}: {reference} pending, retry {attempt} in {wait}: {reason}"
                    ),
                );
                self.dirty |= self.view == View::Logs;
            }
            Event::RunFinished { run } => {
                if self.live == Some(run.id) {
                    self.live = None;
                }
                let text = match self.recording_failure.take() {
                    Some(failure) => format!("run #{} failed: {failure}", run.id),
                    None => format!(
                        "run #{} finished: {}{}",
                        run.id,
                        // "completed · 48 failed": never plain success with failures.
                        crate::ui::widgets::status::word_with(
                            run.status,
                            crate::ui::widgets::status::run_failed_entries(
                                self.runs.connection_runs(run.id)
                            )
                        ),
                        run.note
                            .as_ref()
                            .map_or(String::new(), |n| format!(" ({n})"))
                    ),
                };
                let failed = crate::ui::widgets::status::is_failure(run.status);
                self.check_resync(&run);
                self.runs.upsert_run(run);
                // Contracts and last runs changed: the Contracts and Connections views read
                // them again when shown.
                self.contracts.reload();
                self.connections.stale = true;
                if self.view == View::Connections {
                    self.refresh_connections_if_stale();
                }
                self.show_message(text, failed);
                // A resync updated entries in place: show their new status now.
                if self.report.opened {
                    self.reread_report();
                }
                if let Some(details) = self.overlays.topmost_details()
                    && let Err(e) = details.reload(&self.store)
                {
                    self.show_message(format!("cannot read the entry again: {e}"), true);
                }
            }
            Event::RecordingFailed { failure, .. } => {
                // The lines are in the Logs view already (the engine logs them); the screen
                // says it at once, with the hint, and again when the run ends.
                let mut text = failure.message.clone();
                if let Some(kept) = &failure.kept {
                    text.push_str(&format!(
                        " · kept in {} until the next start",
                        kept.display()
                    ));
                }
                text.push_str(&format!(" · hint: {}", failure.hint));
                self.show_message(text.clone(), true);
                self.recording_failure = Some(text);
            }
            Event::Log { level, message } => {
                self.log(level, message);
                self.dirty |= self.view == View::Logs;
            }
        }
    }
}
