//! What comes to the App besides keys: engine events (live runs and connection runs in the run
//! history, log lines, refusals), what the follower found of other processes' runs, background
//! results (each handed to the view that started the job), and the tick.

use crate::engine::{Event, LogLevel};
use crate::store::{Run, RunId, RunStatus, RunType};

use crate::ui::app::follow::{Followed, FollowedRun};
use crate::ui::app::{App, View};
use crate::ui::screen::background::{BackgroundResult, StoreWrite};
use crate::ui::widgets::format;
use crate::ui::widgets::status;

impl App {
    /// Once a second: elapsed/ETA of a running run (marks dirty only while a run is going,
    /// here or in another process), background results, and the report, contracts and
    /// connections read again when a run recorded entries or another process wrote.
    pub fn tick(&mut self) {
        if self.live.is_some() || !self.following.is_empty() {
            self.dirty = true;
        }
        self.poll_background();
        self.refresh_after_store_change();
        // The report follows a run's recorded entries while it is on screen.
        if self.view == View::Report && !self.overlays.has_details() {
            let outcomes = self.lend(|views, _, lend| views.report.reread_if_stale(lend));
            self.carry_out(outcomes);
        }
    }

    /// One background report, handed to the view whose job it was.
    pub(super) fn on_background(&mut self, done: BackgroundResult) {
        self.dirty = true;
        let view = match &done {
            BackgroundResult::Counted { .. }
            | BackgroundResult::AllMatching { .. }
            | BackgroundResult::Planned { .. }
            | BackgroundResult::ResyncChecked { .. }
            | BackgroundResult::ExportProgress { .. }
            | BackgroundResult::Exported { .. } => View::Report,
            BackgroundResult::Summarized { .. }
            | BackgroundResult::HealthChecked { .. }
            | BackgroundResult::Stored {
                write: StoreWrite::DryRunOverride { .. },
                ..
            } => View::Connections,
            BackgroundResult::Stored {
                write: StoreWrite::ContractDeleted { .. },
                ..
            } => View::Contracts,
            BackgroundResult::ApplyPlanned { .. } => View::Jobs,
            // Counts for what is open over a view: into that overlay, if it is still open.
            BackgroundResult::PickerCounted { kind, counts } => {
                match counts {
                    Ok(counts) => {
                        if let Some(picker) = self.overlays.picker()
                            && picker.kind == *kind
                        {
                            picker.set_counts(counts.clone());
                        }
                    }
                    Err(e) => self.show_message(format!("cannot count the choices: {e}"), true),
                }
                return;
            }
            BackgroundResult::Diagnosed {
                run_id,
                connection,
                result,
            } => {
                if let Some(panel) = self.overlays.diagnostics()
                    && panel.is_for(*run_id, connection)
                {
                    panel.set_result(result.clone());
                }
                return;
            }
            BackgroundResult::Stored {
                write: StoreWrite::CancelRequested { run_id },
                result,
            } => {
                let (run_id, result) = (*run_id, result.clone());
                return self.on_cancel_requested(run_id, result);
            }
        };
        let summarized = matches!(done, BackgroundResult::Summarized { .. });
        let outcomes = self.with_view(view, |screen, lend| screen.on_background(done, lend));
        self.carry_out(outcomes);
        if summarized && self.view == View::Connections {
            // Something changed while it read: read again.
            self.lend(|views, _, lend| views.connections.refresh_if_stale(lend));
        }
    }

    /// How the cancel request for another process's run went.
    fn on_cancel_requested(&mut self, run_id: RunId, result: Result<bool, String>) {
        match result {
            Ok(true) => {
                self.asked_cancel.insert(run_id);
                let text = format!(
                    "cancel requested for run #{run_id}: its process cancels it within a second"
                );
                self.log(LogLevel::Warn, text.clone());
                self.show_message(text, false);
            }
            Ok(false) => self.show_message(format!("run #{run_id} is not running any more"), false),
            Err(e) => self.show_message(format!("cannot request the cancel: {e}"), true),
        }
    }

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
                self.views.report.mark_stale();
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
            Event::RunFinished { run } => self.run_finished(run),
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

    /// This process's run ended: said on the message line; the views that show what it
    /// changed read it again.
    fn run_finished(&mut self, run: Run) {
        if self.live == Some(run.id) {
            self.live = None;
        }
        let ending = self.run_ended(&run);
        let text = match self.recording_failure.take() {
            Some(failure) => format!("run #{} failed: {failure}", run.id),
            None => format!("run #{} finished: {ending}", run.id),
        };
        let failed = status::is_failure(run.status);
        let on_connections = self.view == View::Connections;
        let outcomes = self.lend(|views, _, lend| {
            // A resync updated entries in place: the report shows their new status now.
            let outcomes = views.report.run_finished(&run, lend);
            // Contracts and last runs changed: the Contracts and Connections views read them
            // again when shown.
            views.contracts.reload();
            views.connections.mark_stale();
            if on_connections {
                views.connections.refresh_if_stale(lend);
            }
            outcomes
        });
        self.runs.upsert_run(run);
        self.show_message(text, failed);
        self.carry_out(outcomes);
        if let Some(details) = self.overlays.topmost_details()
            && let Err(e) = details.reload(&self.store)
        {
            self.show_message(format!("cannot read the entry again: {e}"), true);
        }
    }

    /// What the follower found: other processes' runs into the history and the card, and the
    /// views that read the store marked to read it again.
    pub fn handle_followed(&mut self, followed: Followed) {
        self.poll_background();
        self.store_changed = true;
        self.views.report.mark_stale();
        for FollowedRun { run, rows, cancel } in followed.runs {
            let id = run.id;
            let was_going = self.following.contains_key(&id);
            if run.status == RunStatus::Running {
                if !was_going && self.runs.run(id).is_none_or(|r| r.status.is_finished()) {
                    self.runs.expand_run(id);
                }
                self.following.insert(id, cancel);
            } else {
                self.following.remove(&id);
            }
            self.runs.upsert_run(run.clone());
            self.runs.replace_connection_runs(id, rows);
            if was_going && run.status.is_finished() {
                self.followed_run_ended(&run);
            }
            self.dirty = true;
        }
        // The jobs view and the card change with runs; the others at the next tick.
        self.dirty |= self.view == View::Jobs;
    }

    /// A run ended, here or in another process: a resync's changes reach the runs whose
    /// entries it changed in place (their counters moved); returns how it ended in words,
    /// "completed · 48 failed (note)": never plain success with failures.
    fn run_ended(&mut self, run: &Run) -> String {
        if run.run_type == RunType::Resync
            && let Err(e) = self.runs.reread_connection_runs(&self.store)
        {
            self.log(LogLevel::Warn, format!("cannot read the runs again: {e}"));
        }
        format!(
            "{}{}",
            status::word_with(
                run.status,
                status::run_failed_entries(self.runs.connection_runs(run.id))
            ),
            run.note
                .as_ref()
                .map_or(String::new(), |n| format!(" ({n})"))
        )
    }

    /// A run of another process ended while this console watched it.
    fn followed_run_ended(&mut self, run: &Run) {
        let ending = self.run_ended(run);
        let origin = crate::store::origin(run.owner.as_ref(), run.trigger.as_ref());
        let asked = self.asked_cancel.remove(&run.id);
        let text = format!("run #{} ({origin}) finished: {ending}", run.id);
        let level = if status::is_failure(run.status) {
            LogLevel::Warn
        } else {
            LogLevel::Info
        };
        self.log(level, text.clone());
        // Said on the message line when this console asked for it, or nothing of its own goes.
        if asked || self.live.is_none() {
            self.show_message(text, status::is_failure(run.status));
        }
    }

    /// Once a second after the store changed: the views that read it read it again.
    fn refresh_after_store_change(&mut self) {
        if !std::mem::take(&mut self.store_changed) {
            return;
        }
        self.views.contracts.reload();
        self.views.connections.mark_stale();
        match self.view {
            View::Connections => {
                self.lend(|views, _, lend| views.connections.refresh_if_stale(lend));
            }
            View::Contracts => self.dirty = true,
            _ => {}
        }
    }
}
