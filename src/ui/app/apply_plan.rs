//! `p` in the jobs view: apply a finished Dry run's plan live. The counts of what it planned
//! (would update, would create) are read in the background for the confirmation; the engine
//! runs exactly those records as an Apply run.

use crate::engine::{Command, LogLevel};
use crate::store::{
    ConnectionRun, Outcome, ReportFilter, RunId, RunMode, RunStatus, RunType, StoreError,
};

use crate::ui::app::App;
use crate::ui::overlays::confirm::Confirm;
use crate::ui::screen::background::BackgroundResult;
use crate::ui::screen::overlay_stack::Overlay;
use crate::ui::views::jobs::run_list::Row;

impl App {
    pub(super) fn start_apply_plan(&mut self) {
        if let Err(e) = self.try_apply_plan() {
            self.show_message(format!("cannot read the store: {e}"), true);
        }
    }

    fn try_apply_plan(&mut self) -> Result<(), StoreError> {
        let Some(row) = self.runs.selected_row() else {
            self.show_message("no run selected", true);
            return Ok(());
        };
        let run_id = row.run_id();
        let Some(run) = self.runs.run(run_id).cloned() else {
            return Ok(());
        };
        if run.status == RunStatus::Running {
            self.show_message(
                format!("run #{run_id} is still going: apply its plan once it has finished"),
                true,
            );
            return Ok(());
        }
        if matches!(run.run_type, RunType::Resync | RunType::Apply) {
            self.show_message(
                format!(
                    "run #{run_id} is a Live {} run: only a Full or Single Dry run has a plan to apply",
                    crate::ui::widgets::status::run_type(run.run_type)
                ),
                true,
            );
            return Ok(());
        }
        self.runs.ensure_connection_runs(&self.store, run_id)?;
        let rows: Vec<ConnectionRun> = match row {
            Row::Connection { position, .. } => self
                .runs
                .connection_run(run_id, position)
                .cloned()
                .into_iter()
                .collect(),
            Row::Run(_) => self.runs.connection_runs(run_id).to_vec(),
        };
        if rows.is_empty() {
            self.show_message(
                format!("run #{run_id} recorded no connection run: nothing to apply"),
                true,
            );
            return Ok(());
        }
        if let Some(r) = rows.iter().find(|r| r.status == RunStatus::Running) {
            self.show_message(
                format!(
                    "{} of run #{run_id} is still going: apply once it has finished",
                    r.connection
                ),
                true,
            );
            return Ok(());
        }
        let dry: Vec<String> = rows
            .iter()
            .filter(|r| r.mode == RunMode::Dry)
            .map(|r| r.connection.clone())
            .collect();
        if dry.is_empty() {
            let what = match row {
                Row::Connection { .. } => {
                    format!("{} ran Live in run #{run_id}", rows[0].connection)
                }
                Row::Run(_) => format!("run #{run_id} was Live"),
            };
            self.show_message(
                format!("{what}: it wrote already, there is no plan to apply"),
                true,
            );
            return Ok(());
        }
        if self.report_activity.applying {
            self.show_message("still reading the previous plan", false);
            return Ok(());
        }
        self.report_activity.applying = true;
        let store = self.store.clone();
        self.background.spawn(
            "apply-plan",
            move |_| {
                let count = |connection: &str, outcome: Outcome| {
                    store.report_count(&ReportFilter {
                        run: Some(run_id),
                        connections: vec![connection.to_string()],
                        outcomes: vec![outcome],
                        ..ReportFilter::default()
                    })
                };
                let counts = dry
                    .iter()
                    .map(|name| {
                        Ok((
                            name.clone(),
                            count(name, Outcome::WouldUpdate)?,
                            count(name, Outcome::WouldCreate)?,
                        ))
                    })
                    .collect::<Result<Vec<_>, StoreError>>()
                    .map_err(|e| e.to_string());
                BackgroundResult::ApplyPlanned { run_id, counts }
            },
            move |panic| BackgroundResult::ApplyPlanned {
                run_id,
                counts: Err(panic),
            },
        );
        self.show_message(format!("reading what run #{run_id} planned…"), false);
        Ok(())
    }

    pub(super) fn on_apply_planned(
        &mut self,
        run_id: RunId,
        counts: Result<Vec<(String, u64, u64)>, String>,
    ) {
        self.report_activity.applying = false;
        match counts {
            Ok(counts) => {
                let names: Vec<&str> = counts.iter().map(|(n, _, _)| n.as_str()).collect();
                let names = names.join(", ");
                let planned: Vec<(String, u64, u64)> = counts
                    .iter()
                    .filter(|(_, update, create)| update + create > 0)
                    .cloned()
                    .collect();
                if planned.is_empty() {
                    self.show_message(
                        format!(
                            "nothing to apply: run #{run_id} planned no update or create on {names}"
                        ),
                        false,
                    );
                } else {
                    self.toast = None;
                    self.overlays
                        .push(Overlay::Confirm(Confirm::apply(run_id, &planned)));
                }
            }
            Err(e) => {
                self.show_message(format!("cannot read the plan of run #{run_id}: {e}"), true)
            }
        }
    }

    /// The confirmed apply: the engine runs the plan live as an Apply run.
    pub(super) fn send_apply(&mut self, run_id: RunId, connections: Vec<String>) {
        let names = connections.join(", ");
        if self
            .commands
            .send(Command::Apply {
                run_id,
                connections,
            })
            .is_err()
        {
            self.show_message(
                "the engine has stopped: restart syncdeck to apply a plan",
                true,
            );
            return;
        }
        self.follow_next_run = true;
        let text = format!(
            "applying the plan of run #{run_id} on {names}: it shows as an Apply run in the jobs history"
        );
        self.log(LogLevel::Info, text.clone());
        self.show_message(text, false);
    }
}
