//! Keys to actions to state: the key maps decide what a key means in the current context, and
//! this carries the action out. Dangerous actions go through [`Confirm`].

use ratatui::crossterm::event::{KeyEvent, KeyEventKind};

use crate::engine::{Command, LogLevel, RunRequest, RunScope};
use crate::store::{RunId, RunStatus, RunType, StoreError};

use crate::ui::action::Action;
use crate::ui::app::background::StoreWrite;
use crate::ui::app::overlay_stack::Overlay;
use crate::ui::app::{App, View};
use crate::ui::keymap::{self, Context};
use crate::ui::overlays::confirm::{Confirm, ConfirmedAction};
use crate::ui::overlays::help::Help;
use crate::ui::overlays::new_run::{self, DialogOutcome, NewRunDialog, Prefill};
use crate::ui::views::jobs::run_list::Row;
use crate::ui::widgets::gauge;
use crate::ui::widgets::status;

impl App {
    pub(super) fn on_key(&mut self, key: KeyEvent) {
        if key.kind == KeyEventKind::Release {
            return;
        }
        self.dirty = true;
        self.toast = None;
        let context = self.context();
        match keymap::lookup(crate::ui::app::keys::bindings(context), &key) {
            Some(action) => self.apply(context, action),
            None if context == Context::NewRunSerial => {
                if let Some(dialog) = self.overlays.dialog() {
                    dialog.type_key(key);
                }
            }
            None if context == Context::LogsFilter => self.logs.type_key(key),
            None if context == Context::ReportSearch => self.report.search.type_key(key),
            // Type-ahead in a picker: the first choice starting with what was typed.
            None if context == Context::Picker => {
                if let ratatui::crossterm::event::KeyCode::Char(c) = key.code
                    && !key
                        .modifiers
                        .contains(ratatui::crossterm::event::KeyModifiers::CONTROL)
                    && let Some(picker) = self.overlays.picker()
                {
                    picker.type_char(c);
                }
            }
            None if context == Context::ContractsSearch => self.contracts.search.type_key(key),
            None if context == Context::Export => {
                if let Some(prompt) = self.overlays.export_prompt() {
                    prompt.type_key(key);
                }
            }
            None => {}
        }
    }

    fn apply(&mut self, context: Context, action: Action) {
        self.poll_background();
        if let Some(refusal) = self.read_only_refusal(action) {
            self.show_message(refusal, true);
            return;
        }
        let result = match context {
            Context::Confirm => {
                self.on_confirm(action);
                Ok(())
            }
            Context::Help => {
                self.on_help(action);
                Ok(())
            }
            Context::NewRun | Context::NewRunSerial => {
                self.on_dialog(context, action);
                Ok(())
            }
            Context::Jobs | Context::Logs | Context::LogsFilter => self.on_view(context, action),
            Context::Report => self.on_report(context, action),
            Context::ReportSearch => {
                self.on_report_search(action);
                Ok(())
            }
            Context::Details => self.on_details(action),
            Context::Timeline => self.on_timeline(action),
            Context::Picker => {
                self.on_picker(action);
                Ok(())
            }
            Context::Export => {
                self.on_export(action);
                Ok(())
            }
            Context::Contracts => self.on_contracts(context, action),
            Context::ContractsSearch => {
                self.on_contracts_search(action);
                Ok(())
            }
            Context::Connections => self.on_connections(context, action),
            Context::Diagnostics => {
                self.on_diagnostics(action);
                Ok(())
            }
        };
        if let Err(e) = result {
            self.show_message(format!("cannot read the store: {e}"), true);
        }
    }

    fn on_confirm(&mut self, action: Action) {
        match action {
            Action::Confirm => {
                if let Some(confirm) = self.overlays.take_confirm() {
                    self.carry_out(confirm.action);
                }
            }
            Action::Dismiss => self.overlays.close_top(),
            Action::Quit => {
                if self
                    .overlays
                    .confirm()
                    .is_some_and(|c| c.action == ConfirmedAction::Quit)
                {
                    self.quit = true;
                } else {
                    self.overlays.close_top();
                    self.request_quit();
                }
            }
            _ => {}
        }
    }

    fn carry_out(&mut self, action: ConfirmedAction) {
        match action {
            ConfirmedAction::Quit => self.quit = true,
            ConfirmedAction::CancelRun(run_id) if self.live != Some(run_id) => {
                self.store_in_background(StoreWrite::CancelRequested { run_id });
            }
            ConfirmedAction::CancelRun(run_id) => {
                if self.commands.send(Command::Cancel { run_id }).is_err() {
                    self.show_message("the engine has stopped: the run cannot be canceled", true);
                } else {
                    self.show_message(
                        format!(
                            "cancel requested for run #{run_id}: in-flight requests finish first"
                        ),
                        false,
                    );
                }
            }
            ConfirmedAction::StartLive(request) | ConfirmedAction::StartForced(request) => {
                self.start_run(request)
            }
            ConfirmedAction::Resync(ids) => self.send_resync(ids),
            ConfirmedAction::DeleteContract {
                connection,
                origin_id,
            } => self.delete_contract(&connection, &origin_id),
            ConfirmedAction::Apply {
                run_id,
                connections,
            } => self.send_apply(run_id, connections),
            ConfirmedAction::Blocked => {}
        }
    }

    fn on_help(&mut self, action: Action) {
        let Some(help) = self.overlays.help() else {
            return;
        };
        match action {
            Action::Back => self.overlays.close_top(),
            Action::Up => help.scroll_by(-1),
            Action::Down => help.scroll_by(1),
            Action::PageUp => help.page(false),
            Action::PageDown => help.page(true),
            Action::Top => help.to_end(false),
            Action::Bottom => help.to_end(true),
            Action::Quit => {
                self.overlays.close_top();
                self.request_quit();
            }
            _ => {}
        }
    }

    fn on_dialog(&mut self, context: Context, action: Action) {
        match action {
            Action::Help => self.overlays.push(Overlay::Help(Help::new(
                context,
                crate::ui::app::keys::bindings(context),
            ))),
            Action::Quit => self.request_quit(),
            _ => {
                let Some(dialog) = self.overlays.dialog() else {
                    return;
                };
                match dialog.act(action, &self.config, &self.store) {
                    DialogOutcome::Stay => {}
                    DialogOutcome::Close => self.overlays.close_top(),
                    DialogOutcome::Start(request) => self.start_run(request),
                    DialogOutcome::ConfirmLive(request, split) => {
                        self.overlays
                            .push(Overlay::Confirm(Confirm::live_run(request, &split)));
                    }
                    DialogOutcome::Gated(request, gate) => {
                        self.overlays
                            .push(Overlay::Confirm(Confirm::forced_full_live(request, &gate)));
                    }
                }
            }
        }
    }

    pub(super) fn on_view(&mut self, context: Context, action: Action) -> Result<(), StoreError> {
        let jobs = self.view == View::Jobs;
        let store = &self.store;
        match action {
            Action::Up if jobs => self.runs.move_by(store, -1)?,
            Action::Down if jobs => self.runs.move_by(store, 1)?,
            Action::PageUp if jobs => self
                .runs
                .move_by(store, -(self.jobs_view.page() as isize))?,
            Action::PageDown if jobs => self.runs.move_by(store, self.jobs_view.page() as isize)?,
            Action::Top if jobs => self.runs.select_first(),
            Action::Bottom if jobs => self.runs.select_last(store)?,
            Action::Up => self.logs.scroll_up(1),
            Action::Down => self.logs.scroll_down(1),
            Action::PageUp => self.logs.scroll_up(self.logs.page()),
            Action::PageDown => self.logs.scroll_down(self.logs.page()),
            Action::Top => self.logs.oldest(),
            Action::Bottom => self.logs.follow(),
            Action::Expand => self.expand()?,
            Action::Collapse => self.runs.collapse(),
            Action::Back if jobs => self.clear_job_filters()?,
            Action::Back => {
                self.logs.clear_filter();
            }
            Action::FinishInput => self.logs.editing = false,
            Action::Search => self.logs.editing = true,
            Action::ShowJobs => self.show_view(View::Jobs),
            Action::ShowLogs => self.show_view(View::Logs),
            Action::ShowReport => self.show_view(View::Report),
            Action::ShowContracts => self.show_view(View::Contracts),
            Action::ShowConnections => self.show_view(View::Connections),
            Action::NextView => self.show_view(self.view.cycle(1)),
            Action::PreviousView => self.show_view(self.view.cycle(-1)),
            Action::ApplyPlan if jobs => self.start_apply_plan(),
            Action::OpenEntries if jobs => self.open_entries(),
            Action::Diagnose if jobs => self.open_diagnostics(),
            Action::Help => self.overlays.push(Overlay::Help(Help::new(
                context,
                crate::ui::app::keys::bindings(context),
            ))),
            Action::Quit => self.request_quit(),
            Action::NewRun => self.open_dialog(None)?,
            Action::Rerun => self.rerun()?,
            Action::CancelRun => self.ask_cancel(),
            Action::CycleStatusFilter => self.runs.cycle_status_filter(store)?,
            Action::ToggleFailuresOnly => self.runs.toggle_failures_only(store)?,
            _ => {}
        }
        Ok(())
    }

    fn clear_job_filters(&mut self) -> Result<(), StoreError> {
        let cleared = self.runs.clear_filters(&self.store)?;
        if cleared {
            self.show_message("filters cleared", false);
        }
        Ok(())
    }

    /// Enter on a run expands it; on a connection row it opens that connection's logs.
    fn expand(&mut self) -> Result<(), StoreError> {
        if self.view != View::Jobs {
            return Ok(());
        }
        match self.runs.selected_row() {
            Some(Row::Connection { run_id, position }) => {
                let name = self
                    .runs
                    .connection_run(run_id, position)
                    .map(|r| r.connection.clone())
                    .or_else(|| {
                        let run = self.runs.run(run_id)?;
                        run.connections.get(position as usize).cloned()
                    });
                if let Some(name) = name {
                    self.logs.filter = tui_input::Input::new(name.clone());
                    self.logs.filter_changed();
                    self.view = View::Logs;
                    self.show_message(
                        format!("logs of {name} (this session's lines; Esc clears the filter)"),
                        false,
                    );
                }
            }
            Some(Row::Run(_)) => {
                self.runs.expand(&self.store)?;
            }
            None => {}
        }
        Ok(())
    }

    pub(super) fn request_quit(&mut self) {
        match self.live.and_then(|id| self.runs.run(id)) {
            Some(run) if run.status == RunStatus::Running => {
                self.overlays.push(Overlay::Confirm(Confirm::quit(run)));
            }
            // The demo's scratch store goes with the demo: say so when it holds history.
            _ if self.store_is_scratch() && self.runs.loaded() > 0 => {
                self.overlays.push(Overlay::Confirm(Confirm::quit_demo(
                    self.runs.loaded(),
                    !self.runs.is_exhausted(),
                )));
            }
            _ => self.quit = true,
        }
    }

    /// `c`: this console's run going; else the selected run, or the card's, when it runs in
    /// another process.
    fn ask_cancel(&mut self) {
        let selected = (self.view == View::Jobs)
            .then(|| self.runs.selected_run())
            .flatten()
            .filter(|run| run.status == RunStatus::Running)
            .map(|run| run.id);
        let target = self.live.or(selected).or_else(|| {
            self.card_run().filter(|id| {
                self.runs
                    .run(*id)
                    .is_some_and(|r| r.status == RunStatus::Running)
            })
        });
        let Some(run) = target.and_then(|id| self.runs.run(id)) else {
            self.show_message("no run is going: nothing to cancel", true);
            return;
        };
        if self.live != Some(run.id) && self.cancel_pending(run.id) {
            self.show_message(
                format!(
                    "cancel of run #{} already requested: it ends within a second",
                    run.id
                ),
                false,
            );
            return;
        }
        let progress = self
            .runs
            .connection_runs(run.id)
            .iter()
            .rev()
            .find(|r| r.status == RunStatus::Running)
            .map(|r| {
                format!(
                    "{}, {}",
                    r.connection,
                    gauge::x_of_n(r.processed, r.total, r.total > 0)
                )
            });
        self.overlays
            .push(Overlay::Confirm(if self.live == Some(run.id) {
                Confirm::cancel_run(run, progress)
            } else {
                Confirm::cancel_elsewhere(run, progress)
            }));
    }

    /// How the cancel request for another process's run went.
    pub(super) fn on_cancel_requested(&mut self, run_id: RunId, result: Result<bool, String>) {
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

    /// Why `action` cannot be done on a read-only store, if it writes.
    fn read_only_refusal(&self, action: Action) -> Option<String> {
        let reason = self.store.read_only_reason()?;
        let what = match action {
            Action::NewRun | Action::Rerun => "start runs",
            Action::CancelRun => "cancel runs",
            Action::Resync => "resync entries",
            Action::ApplyPlan => "apply a plan",
            Action::DeleteContract => "delete contracts",
            Action::ToggleDryRun => "change the dry-run default",
            _ => return None,
        };
        Some(format!(
            "read-only store (on {reason}): this console cannot {what}"
        ))
    }

    fn open_dialog(&mut self, prefill: Option<Prefill>) -> Result<(), StoreError> {
        let dialog = NewRunDialog::open(&self.config, &self.store, &self.recent_serials, prefill)?;
        self.overlays.push(Overlay::NewRun(dialog));
        Ok(())
    }

    /// `r`: the dialog with the selected run's connections, scope and mode.
    fn rerun(&mut self) -> Result<(), StoreError> {
        let Some(run) = self.runs.selected_run().cloned() else {
            self.show_message("no run selected", true);
            return Ok(());
        };
        if run.run_type == RunType::Resync {
            self.show_message(
                "a Resync run is rerun from the sync report, entry by entry",
                true,
            );
            return Ok(());
        }
        self.runs.ensure_connection_runs(&self.store, run.id)?;
        let modes: Vec<_> = self
            .runs
            .connection_runs(run.id)
            .iter()
            .map(|r| r.mode)
            .collect();
        let mode = match modes.first() {
            Some(first) if modes.iter().all(|m| m == first) => Some(*first),
            Some(_) => None,
            None => Some(run.mode),
        };
        let unknown: Vec<&String> = run
            .connections
            .iter()
            .filter(|c| self.config.connection(c).is_none())
            .collect();
        if !unknown.is_empty() {
            let names: Vec<&str> = unknown.iter().map(|s| s.as_str()).collect();
            self.show_message(
                format!("not in the configuration any more: {}", names.join(", ")),
                true,
            );
        }
        self.open_dialog(Some(Prefill {
            run_id: run.id,
            connections: run.connections.clone(),
            full: run.run_type == RunType::Full,
            serial: run.serial.clone(),
            mode,
        }))
    }

    pub(super) fn start_run(&mut self, request: RunRequest) {
        if let RunScope::Single(serial) = &request.scope {
            new_run::remember_serial(&mut self.recent_serials, serial);
        }
        let what = format!(
            "{} {} on {}",
            match &request.scope {
                RunScope::Full => "Full".to_string(),
                RunScope::Single(serial) => format!("Single {serial}"),
            },
            request
                .mode
                .map_or("(each connection's mode)", status::mode),
            request.connections.join(", ")
        );
        if self.commands.send(Command::StartRun(request)).is_err() {
            self.show_message(
                "the engine has stopped: restart syncdeck to start runs",
                true,
            );
            return;
        }
        self.overlays
            .close_where(|o| matches!(o, Overlay::NewRun(_)));
        self.follow_next_run = true;
        self.show_message(format!("starting {what}"), false);
    }
}
