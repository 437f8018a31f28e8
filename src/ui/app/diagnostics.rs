//! The diagnostics panel of a connection run (`D` in the jobs view): opened at once, filled by
//! a background job that reads the connection run's entries in one pass, and a way into the
//! report (Enter on a line opens the report on that line's entries).

use crate::store::{RunMode, StoreError};

use crate::ui::action::Action;
use crate::ui::app::background::BackgroundResult;
use crate::ui::app::overlay_stack::Overlay;
use crate::ui::app::{App, View};
use crate::ui::keymap::Context;
use crate::ui::overlays::diagnostics::DiagnosticsPanel;
use crate::ui::overlays::help::Help;
use crate::ui::views::jobs::run_list::Row;
use crate::ui::views::report::MAX_WINDOW_DAYS;

impl App {
    /// `D`: the panel for the selected connection row, or the selected run's only connection.
    pub(super) fn open_diagnostics(&mut self) {
        let Some(row) = self.runs.selected_row() else {
            self.show_message("no run selected", true);
            return;
        };
        let run_id = row.run_id();
        let position = match row {
            Row::Connection { position, .. } => position,
            Row::Run(_) => match self.runs.run(run_id).map(|r| r.connections.len()) {
                Some(1) => 0,
                _ => {
                    self.show_message(
                        "D shows one connection run: choose a connection row (Enter expands the run)",
                        true,
                    );
                    return;
                }
            },
        };
        let run_mode = self.runs.run(run_id).map(|r| r.mode);
        let (connection, mode) = match self.runs.connection_run(run_id, position) {
            Some(r) => (r.connection.clone(), r.mode),
            None => {
                let name = self
                    .runs
                    .run(run_id)
                    .and_then(|r| r.connections.get(position as usize).cloned());
                match name {
                    Some(name) => (name, run_mode.unwrap_or(RunMode::Dry)),
                    None => return,
                }
            }
        };
        self.overlays
            .push(Overlay::Diagnostics(DiagnosticsPanel::new(
                run_id,
                connection.clone(),
                mode,
            )));
        let store = self.store.clone();
        let failed = connection.clone();
        self.background.spawn(
            "diagnostics",
            move |_| BackgroundResult::Diagnosed {
                run_id,
                result: store
                    .connection_run_diagnostics(run_id, &connection)
                    .map_err(|e: StoreError| e.to_string()),
                connection,
            },
            move |panic| BackgroundResult::Diagnosed {
                run_id,
                connection: failed,
                result: Err(panic),
            },
        );
    }

    /// The background job's counts, into the panel that asked for them (if still open).
    pub(super) fn on_diagnosed(
        &mut self,
        run_id: u64,
        connection: String,
        result: Result<crate::store::diagnostics::Diagnostics, String>,
    ) {
        if let Some(panel) = self.overlays.diagnostics()
            && panel.is_for(run_id, &connection)
        {
            panel.set_result(result);
        }
    }

    pub(super) fn on_diagnostics(&mut self, action: Action) {
        let Some(panel) = self.overlays.diagnostics() else {
            return;
        };
        match action {
            Action::Up => panel.move_by(-1),
            Action::Down => panel.move_by(1),
            Action::Top => panel.to_end(false),
            Action::Bottom => panel.to_end(true),
            Action::Back => self.overlays.close_top(),
            Action::Help => self.overlays.push(Overlay::Help(Help::new(
                Context::Diagnostics,
                crate::ui::app::keys::bindings(Context::Diagnostics),
            ))),
            Action::Quit => self.request_quit(),
            Action::Expand => {
                let Some(item) = panel.selected() else {
                    return;
                };
                let (run_id, connection) = (panel.run_id, panel.connection.clone());
                self.overlays.close_top();
                self.report.set_run(Some(run_id));
                self.report.set_connections(vec![connection]);
                self.report.set_statuses(Vec::new());
                self.report.set_outcomes(item.outcomes);
                self.report.set_search("");
                if let Some(run) = self.runs.run(run_id) {
                    let age = (self.clock.now() - run.started_at).num_days() + 1;
                    let days = u32::try_from(age).unwrap_or(MAX_WINDOW_DAYS);
                    if days > self.report.window_days() {
                        self.report.set_window(days);
                    }
                }
                self.report.opened = true;
                self.view = View::Report;
                self.refresh_report();
                self.show_message(
                    format!(
                        "{} ({}): Esc clears the filters one by one",
                        item.label,
                        crate::ui::widgets::format::count(item.count)
                    ),
                    false,
                );
            }
            _ => {}
        }
    }
}
