//! The Outbound Sync Jobs view's actions: moving through the history, expanding runs, the
//! filters, rerun (the dialog prefilled), the run's entries in the report, and `p`: applying a
//! finished Dry run's plan live. The counts of what it planned (would update, would create) are
//! read in the background for the confirmation; the engine runs exactly those records as an
//! Apply run.

use ratatui::layout::Rect;

use crate::store::{
    ConnectionRun, Outcome as EntryOutcome, ReportFilter, RunId, RunMode, RunStatus, RunType,
    StoreError,
};

use crate::ui::action::Action;
use crate::ui::keymap::Context;
use crate::ui::overlays::confirm::Confirm;
use crate::ui::overlays::diagnostics::DiagnosticsPanel;
use crate::ui::overlays::new_run::Prefill;
use crate::ui::overlays::picker::{Choice, Picker, PickerKind, Value};
use crate::ui::screen::background::BackgroundResult;
use crate::ui::screen::overlay_stack::Overlay;
use crate::ui::screen::{FailedOf, Lend, Outcome, Screen};
use crate::ui::views::jobs::JobsView;
use crate::ui::views::jobs::run_list::Row;
use crate::ui::widgets::status;

impl JobsView {
    /// Enter on a run expands it; on a connection row with failed entries it opens them in
    /// the report, on another connection row that connection's logs.
    fn expand(&mut self, lend: &mut Lend) -> Vec<Outcome> {
        let runs = &mut *lend.runs;
        match runs.selected_row() {
            Some(row @ Row::Connection { run_id, position })
                if runs
                    .connection_run(run_id, position)
                    .is_some_and(|r| status::failed_entries(r.mode, &r.counters) > 0) =>
            {
                return self.open_entries_of(row, lend);
            }
            Some(Row::Connection { run_id, position }) => {
                let name = runs
                    .connection_run(run_id, position)
                    .map(|r| r.connection.clone())
                    .or_else(|| {
                        let run = runs.run(run_id)?;
                        run.connections.get(position as usize).cloned()
                    });
                if let Some(name) = name {
                    return vec![
                        Outcome::say(format!(
                            "the lines run #{run_id} kept about {name} (Esc clears the filter)"
                        )),
                        Outcome::LogsOf {
                            run_id,
                            connection: Some(name),
                        },
                    ];
                }
            }
            Some(Row::Run(_)) => {
                runs.expand();
            }
            None => {}
        }
        Vec::new()
    }

    /// `r`: the dialog with the selected run's connections, scope and mode.
    fn rerun(&mut self, lend: &mut Lend) -> Vec<Outcome> {
        let runs = &*lend.runs;
        let Some(run) = runs.selected_run().cloned() else {
            return vec![Outcome::error("no run selected")];
        };
        if run.run_type == RunType::Resync {
            return vec![Outcome::error(
                "a Resync run is rerun from the sync report, entry by entry",
            )];
        }
        // The selected run's connection runs were read in the update step.
        let modes: Vec<_> = runs
            .connection_runs(run.id)
            .iter()
            .map(|r| r.mode)
            .collect();
        let mode = match modes.first() {
            Some(first) if modes.iter().all(|m| m == first) => Some(*first),
            Some(_) => None,
            None => Some(run.mode),
        };
        let mut out = Vec::new();
        let unknown: Vec<&str> = run
            .connections
            .iter()
            .filter(|c| lend.config.connection(c).is_none())
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            out.push(Outcome::error(format!(
                "not in the configuration any more: {}",
                unknown.join(", ")
            )));
        }
        out.push(Outcome::OpenNewRun(Some(Prefill {
            run_id: run.id,
            connections: run.connections.clone(),
            full: run.run_type == RunType::Full,
            serial: run.serial.clone(),
            mode,
        })));
        out
    }

    /// `E`: the selected run's entries (its connection's, on a connection row) in the report;
    /// only the failed ones when it has any.
    fn open_entries(&self, lend: &Lend) -> Vec<Outcome> {
        match lend.runs.selected_row() {
            Some(row) => self.open_entries_of(row, lend),
            None => vec![Outcome::error("no run selected")],
        }
    }

    /// A run's entries (a connection run's, on a connection row) in the report, narrowed to
    /// the failed ones when the card counts any (`E opens the N failed`).
    fn open_entries_of(&self, row: Row, lend: &Lend) -> Vec<Outcome> {
        let runs = &*lend.runs;
        let run_id = row.run_id();
        let rows: Vec<&ConnectionRun> = match row {
            Row::Connection { position, .. } => {
                runs.connection_run(run_id, position).into_iter().collect()
            }
            Row::Run(_) => runs.connection_runs(run_id).iter().collect(),
        };
        let connection = match row {
            Row::Connection { run_id, position } => runs
                .connection_run(run_id, position)
                .map(|r| r.connection.clone())
                .or_else(|| {
                    let run = runs.run(run_id)?;
                    run.connections.get(position as usize).cloned()
                }),
            Row::Run(_) => None,
        };
        let failed = FailedOf::of(run_id, connection, rows);
        Outcome::entries_of(match runs.run(run_id) {
            Some(run) if run.run_type == RunType::Resync => failed.resync(run.started_at),
            _ => failed,
        })
    }

    /// `D`: the diagnostics panel of the selected connection row (or of the selected run's
    /// only connection), filled by a background job that reads its entries in one pass.
    fn open_diagnostics(&self, lend: &mut Lend) -> Vec<Outcome> {
        let runs = &*lend.runs;
        let Some(row) = runs.selected_row() else {
            return vec![Outcome::error("no run selected")];
        };
        let run_id = row.run_id();
        let position = match row {
            Row::Connection { position, .. } => position,
            Row::Run(_) => match runs.run(run_id).map(|r| r.connections.len()) {
                Some(1) => 0,
                _ => {
                    return vec![Outcome::error(
                        "D shows one connection run: choose a connection row (Enter expands the run)",
                    )];
                }
            },
        };
        let run_mode = runs.run(run_id).map(|r| r.mode);
        let (connection, mode) = match runs.connection_run(run_id, position) {
            Some(r) => (r.connection.clone(), r.mode),
            None => {
                let name = runs
                    .run(run_id)
                    .and_then(|r| r.connections.get(position as usize).cloned());
                match name {
                    Some(name) => (name, run_mode.unwrap_or(RunMode::Dry)),
                    None => return Vec::new(),
                }
            }
        };
        let store = lend.store.clone();
        let (asked, failed) = (connection.clone(), connection.clone());
        lend.background.spawn(
            "diagnostics",
            move |_| BackgroundResult::Diagnosed {
                run_id,
                result: store
                    .connection_run_diagnostics(run_id, &asked)
                    .map_err(|e: StoreError| e.to_string()),
                connection: asked,
            },
            move |panic| BackgroundResult::Diagnosed {
                run_id,
                connection: failed,
                result: Err(panic),
            },
        );
        vec![Outcome::Open(Overlay::Diagnostics(DiagnosticsPanel::new(
            run_id, connection, mode,
        )))]
    }

    /// `p`: checks the selected run has a plan to apply, then reads its counts in the
    /// background; the confirmation opens when they come.
    fn apply_plan(&mut self, lend: &mut Lend) -> Vec<Outcome> {
        let runs = &*lend.runs;
        let Some(row) = runs.selected_row() else {
            return vec![Outcome::error("no run selected")];
        };
        let run_id = row.run_id();
        let Some(run) = runs.run(run_id).cloned() else {
            return Vec::new();
        };
        if run.status == RunStatus::Running {
            return vec![Outcome::error(format!(
                "run #{run_id} is still going: apply its plan once it has finished"
            ))];
        }
        if matches!(run.run_type, RunType::Resync | RunType::Apply) {
            return vec![Outcome::error(format!(
                "run #{run_id} is a Live {} run: only a Full or Single Dry run has a plan to apply",
                crate::ui::widgets::status::run_type(run.run_type)
            ))];
        }
        // The selected run's connection runs were read in the update step.
        let rows: Vec<ConnectionRun> = match row {
            Row::Connection { position, .. } => runs
                .connection_run(run_id, position)
                .cloned()
                .into_iter()
                .collect(),
            Row::Run(_) => runs.connection_runs(run_id).to_vec(),
        };
        if rows.is_empty() {
            return vec![Outcome::error(format!(
                "run #{run_id} recorded no connection run: nothing to apply"
            ))];
        }
        if let Some(r) = rows.iter().find(|r| r.status == RunStatus::Running) {
            return vec![Outcome::error(format!(
                "{} of run #{run_id} is still going: apply once it has finished",
                r.connection
            ))];
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
            return vec![Outcome::error(format!(
                "{what}: it wrote already, there is no plan to apply"
            ))];
        }
        if self.applying {
            return vec![Outcome::say("still reading the previous plan")];
        }
        self.applying = true;
        let store = lend.store.clone();
        lend.background.spawn(
            "apply-plan",
            move |_| {
                let count = |connection: &str, outcome: EntryOutcome| {
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
                            count(name, EntryOutcome::WouldUpdate)?,
                            count(name, EntryOutcome::WouldCreate)?,
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
        vec![Outcome::say(format!("reading what run #{run_id} planned…"))]
    }

    fn on_apply_planned(
        &mut self,
        run_id: RunId,
        counts: Result<Vec<(String, u64, u64)>, String>,
    ) -> Vec<Outcome> {
        self.applying = false;
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
                    vec![Outcome::say(format!(
                        "nothing to apply: run #{run_id} planned no update or create on {names}"
                    ))]
                } else {
                    vec![
                        Outcome::Unsay,
                        Outcome::Open(Overlay::Confirm(Confirm::apply(run_id, &planned))),
                    ]
                }
            }
            Err(e) => vec![Outcome::error(format!(
                "cannot read the plan of run #{run_id}: {e}"
            ))],
        }
    }
}

impl Screen for JobsView {
    fn context(&self) -> Context {
        Context::Jobs
    }

    fn handle(&mut self, action: Action, lend: &mut Lend) -> Vec<Outcome> {
        let page = self.page() as isize;
        let runs = &mut *lend.runs;
        match action {
            Action::Up => runs.move_by(-1),
            Action::Down => runs.move_by(1),
            Action::PageUp => runs.move_by(-page),
            Action::PageDown => runs.move_by(page),
            Action::Top => runs.select_first(),
            Action::Bottom => runs.select_last(),
            Action::Expand => return self.expand(lend),
            Action::Collapse => runs.collapse(),
            Action::Back if runs.clear_filters() => return vec![Outcome::say("filters cleared")],
            Action::FilterStatus => {
                let current = runs.status_filter();
                let mut choices = vec![Choice::new("any status", Value::Any, current.is_none())];
                choices.extend(status::FILTER_CYCLE.iter().map(|s| {
                    Choice::new(status::label(*s), Value::RunStatus(*s), current == Some(*s))
                }));
                let picker =
                    Picker::new(PickerKind::RunStatus, "Filter runs: status", choices, false);
                return vec![Outcome::Open(Overlay::Picker(picker))];
            }
            Action::ToggleFailuresOnly => runs.toggle_failures_only(),
            Action::Rerun => return self.rerun(lend),
            Action::OpenEntries => return self.open_entries(lend),
            Action::Diagnose => return self.open_diagnostics(lend),
            Action::RunLogs => {
                return match lend.runs.selected_row() {
                    Some(row) => vec![Outcome::LogsOf {
                        run_id: row.run_id(),
                        connection: None,
                    }],
                    None => vec![Outcome::error("no run selected")],
                };
            }
            Action::ApplyPlan => return self.apply_plan(lend),
            _ => {}
        }
        Vec::new()
    }

    /// The history's reads: more pages, the whole of it for `G`, connection runs.
    fn update(&mut self, lend: &mut Lend, _area: Option<Rect>) -> Vec<Outcome> {
        match lend.runs.update(lend.store) {
            Ok(true) => vec![Outcome::Redraw],
            Ok(false) => Vec::new(),
            Err(e) => vec![Outcome::error(format!("cannot read the store: {e}"))],
        }
    }

    fn picked(&mut self, kind: PickerKind, values: Vec<Value>, lend: &mut Lend) -> Vec<Outcome> {
        if kind != PickerKind::RunStatus {
            return Vec::new();
        }
        let status = values.iter().find_map(|v| match v {
            Value::RunStatus(s) => Some(*s),
            _ => None,
        });
        lend.runs.set_status_filter(status);
        vec![Outcome::say(match status {
            Some(s) => format!("runs {} only · Esc clears the filter", status::label(s)),
            None => "runs of every status".to_string(),
        })]
    }

    fn on_background(&mut self, done: BackgroundResult, _lend: &mut Lend) -> Vec<Outcome> {
        match done {
            BackgroundResult::ApplyPlanned { run_id, counts } => {
                self.on_apply_planned(run_id, counts)
            }
            _ => Vec::new(),
        }
    }
}
