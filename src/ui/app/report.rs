//! Keys of the sync report, its search field, its pickers, the export prompt and the entry
//! details, carried out. Store reads here are one page or one entry; anything that scans many
//! entries goes to [`crate::ui::app::report_background`].

use crate::export;
use crate::store::{EntryStatus, SortColumn, StoreError};

use crate::ui::action::Action;
use crate::ui::app::background::ResyncScope;
use crate::ui::app::overlay_stack::Overlay;
use crate::ui::app::{App, View};
use crate::ui::keymap::Context;
use crate::ui::overlays::help::Help;
use crate::ui::views::jobs::run_list::Row;
use crate::ui::views::report::entry_details::EntryDetails;
use crate::ui::views::report::export_prompt::ExportPrompt;
use crate::ui::views::report::picker::{Choice, Picker, PickerKind, Value};
use crate::ui::views::report::{DEFAULT_WINDOW_DAYS, MAX_WINDOW_DAYS, OUTCOMES};
use crate::ui::widgets::format;
use crate::ui::widgets::status;

/// Runs the run picker lists.
const RUN_CHOICES: usize = 30;

impl App {
    /// Switches views; the report counts and reads its first page when first shown.
    pub(super) fn show_view(&mut self, view: View) {
        self.view = view;
        if view == View::Connections {
            self.refresh_connections_if_stale();
        }
        if view == View::Report {
            if !self.report.opened {
                self.report.opened = true;
                self.refresh_report();
            } else if self.report_activity.stale {
                self.reread_report();
            }
        }
    }

    pub(super) fn on_report(&mut self, context: Context, action: Action) -> Result<(), StoreError> {
        match action {
            Action::Up => self.report.move_by(-1),
            Action::Down => self.report.move_by(1),
            Action::PageUp => self.report.move_by(-(self.report.page() as isize)),
            Action::PageDown => self.report.move_by(self.report.page() as isize),
            Action::Top => self.report.first(),
            Action::Bottom => self.report.last(),
            Action::Expand => self.open_details()?,
            Action::OpenTimeline => match self.report.current(&self.store)? {
                Some(entry) => self.open_timeline_at(&entry.reference, Some(entry.sync_id)),
                None => self.show_message("no entry here", false),
            },
            Action::ToggleSelect => {
                if let Some(entry) = self.report.current(&self.store)? {
                    self.report.toggle(entry.sync_id);
                    self.report.move_by(1);
                }
            }
            Action::SelectAll => self.start_select_all(),
            Action::ClearSelection => match self.report.clear_selection() {
                0 => self.show_message("nothing is selected", false),
                cleared => self.show_message(
                    format!(
                        "selection cleared ({} entries)",
                        format::count(cleared as u64)
                    ),
                    false,
                ),
            },
            Action::Resync => {
                if self.report.selected() > 0 {
                    let ids = self.report.selected_ids();
                    self.start_resync_plan(ResyncScope::Selection(ids.len()), Some(ids));
                } else {
                    self.start_resync_plan(ResyncScope::FailedInFilter, None);
                }
            }
            Action::Search => self.report.start_search(),
            Action::FilterStatus => self.open_picker(PickerKind::Status),
            Action::FilterOutcome => self.open_picker(PickerKind::Outcome),
            Action::FilterConnection => self.open_picker(PickerKind::Connection),
            Action::FilterRun => self.open_picker(PickerKind::Run),
            Action::PickSort => self.open_picker(PickerKind::Sort),
            Action::ReverseSort => {
                self.report.reverse_sort();
                self.report.first();
                self.report.reload();
            }
            Action::WiderWindow | Action::NarrowerWindow => {
                let days = self.report.window_days();
                let wanted = if action == Action::WiderWindow {
                    days + 1
                } else {
                    days.saturating_sub(1)
                };
                if self.report.set_window(wanted) {
                    self.refresh_report();
                } else {
                    self.show_message(
                        format!("the window is 1 to {MAX_WINDOW_DAYS} days (default {DEFAULT_WINDOW_DAYS})"),
                        false,
                    );
                }
            }
            Action::ToggleColumns => self.report.extra = !self.report.extra,
            Action::Export => {
                let scope = match self.report.matching() {
                    Some(n) => format!(
                        "{} entr{}",
                        format::count(n),
                        if n == 1 { "y" } else { "ies" }
                    ),
                    None => "the entries".to_string(),
                };
                let filters = self.report.describe();
                let scope = if filters.is_empty() {
                    format!("{scope} of the last {} days", self.report.window_days())
                } else {
                    format!("{scope} matching {}", filters.join(" · "))
                };
                let path = export::default_export_path(self.clock.now());
                self.overlays
                    .push(Overlay::Export(ExportPrompt::new(path, scope)));
            }
            Action::Back => match self.report.pop_filter() {
                Some(_) => {
                    self.refresh_report();
                    let left = self.report.describe();
                    self.show_message(
                        if left.is_empty() {
                            "filters cleared".to_string()
                        } else {
                            format!("filters: {}", left.join(" · "))
                        },
                        false,
                    );
                }
                None => self.show_message("no filter to clear", false),
            },
            _ => return self.on_view(context, action),
        }
        Ok(())
    }

    fn open_details(&mut self) -> Result<(), StoreError> {
        match self.report.current(&self.store)? {
            Some(entry) => self
                .overlays
                .push(Overlay::Details(Box::new(EntryDetails::load(
                    &self.store,
                    entry,
                )?))),
            None => self.show_message("no entry here", false),
        }
        Ok(())
    }

    pub(super) fn on_report_search(&mut self, action: Action) {
        match action {
            Action::FinishInput => {
                let text = self.report.search.finish();
                if self.report.set_search(&text) {
                    self.refresh_report();
                }
            }
            Action::Back => self.report.search.cancel(),
            Action::Help => self.overlays.push(Overlay::Help(Help::new(
                Context::ReportSearch,
                crate::ui::app::keys::bindings(Context::ReportSearch),
            ))),
            Action::Quit => self.request_quit(),
            _ => {}
        }
    }

    pub(super) fn on_details(&mut self, action: Action) -> Result<(), StoreError> {
        let Some(details) = self.overlays.details() else {
            return Ok(());
        };
        let page = details.page() as isize;
        match action {
            Action::Up => details.scroll_by(-1),
            Action::Down => details.scroll_by(1),
            Action::PageUp => details.scroll_by(-page),
            Action::PageDown => details.scroll_by(page),
            Action::Top => details.scroll = 0,
            Action::Bottom => details.scroll = usize::MAX,
            Action::Back => self.overlays.close_top(),
            Action::Copy => {
                let text = details.text();
                let what = format!("the details of #{}", details.entry.sync_id);
                self.copy_to_clipboard(&what, &text);
            }
            Action::Resync => {
                let id = details.entry.sync_id;
                self.start_resync_plan(ResyncScope::Entry(id), Some(vec![id]));
            }
            Action::NextEntry | Action::PreviousEntry => {
                let before = self.report.cursor();
                self.report
                    .move_by(if action == Action::NextEntry { 1 } else { -1 });
                match self.report.current(&self.store)? {
                    Some(entry) if self.report.cursor() != before => {
                        self.overlays
                            .push(Overlay::Details(Box::new(EntryDetails::load(
                                &self.store,
                                entry,
                            )?)));
                    }
                    _ => self.show_message(
                        if action == Action::NextEntry {
                            "this is the last entry"
                        } else {
                            "this is the first entry"
                        },
                        false,
                    ),
                }
            }
            Action::OpenTimeline => {
                let (serial, id) = (details.entry.reference.clone(), details.entry.sync_id);
                self.open_timeline_at(&serial, Some(id));
            }
            Action::Help => self.overlays.push(Overlay::Help(Help::new(
                Context::Details,
                crate::ui::app::keys::bindings(Context::Details),
            ))),
            Action::Quit => self.request_quit(),
            _ => {}
        }
        Ok(())
    }

    pub(super) fn on_export(&mut self, action: Action) {
        match action {
            Action::FinishInput => {
                let Some(path) = self.overlays.export_prompt().and_then(|p| p.path()) else {
                    self.show_message("type a file name", true);
                    return;
                };
                self.overlays.close_top();
                self.start_export(path);
            }
            Action::Back => self.overlays.close_top(),
            Action::Help => self.overlays.push(Overlay::Help(Help::new(
                Context::Export,
                crate::ui::app::keys::bindings(Context::Export),
            ))),
            Action::Quit => self.request_quit(),
            _ => {}
        }
    }

    fn open_picker(&mut self, kind: PickerKind) {
        let filter = self.report.filter();
        let any = |label: &str, none_set: bool| Choice::new(label, Value::Any, none_set);
        let picker = match kind {
            PickerKind::Status => {
                let mut choices = vec![any("any status", filter.statuses.is_empty())];
                choices.extend(EntryStatus::ALL.iter().map(|s| {
                    Choice::new(
                        status::entry_label(*s),
                        Value::Status(*s),
                        filter.statuses.contains(s),
                    )
                }));
                Picker::new(kind, "Filter: status", choices, true)
            }
            PickerKind::Outcome => {
                let mut choices = vec![any("any outcome", filter.outcomes.is_empty())];
                choices.extend(OUTCOMES.iter().map(|o| {
                    Choice::new(o.label(), Value::Outcome(*o), filter.outcomes.contains(o))
                }));
                Picker::new(kind, "Filter: outcome", choices, true)
            }
            PickerKind::Connection => {
                let mut choices = vec![any("any connection", filter.connections.is_empty())];
                choices.extend(self.config.connections.iter().map(|c| {
                    Choice::new(
                        format!("{} · {}", c.name, c.system),
                        Value::Connection(c.name.clone()),
                        filter.connections.contains(&c.name),
                    )
                }));
                // A name no longer configured stays choosable while it is set.
                for name in &filter.connections {
                    if self.config.connection(name).is_none() {
                        choices.push(Choice::new(
                            name.clone(),
                            Value::Connection(name.clone()),
                            true,
                        ));
                    }
                }
                Picker::new(kind, "Filter: connection", choices, true)
            }
            PickerKind::Run => {
                let mut choices = vec![any("any run", filter.run.is_none())];
                let runs = self.runs.recent_runs(RUN_CHOICES);
                choices.extend(runs.iter().map(|r| {
                    Choice::new(
                        format!(
                            "#{} {} {} · {} · {}",
                            r.id,
                            status::run_type(r.run_type),
                            status::mode(r.mode),
                            format::started(r.started_at, false),
                            status::label_with(
                                r.status,
                                status::run_failed_entries(self.runs.connection_runs(r.id))
                            )
                        ),
                        Value::Run(r.id),
                        filter.run == Some(r.id),
                    )
                }));
                if let Some(run) = filter.run
                    && !runs.iter().any(|r| r.id == run)
                {
                    choices.push(Choice::new(format!("#{run}"), Value::Run(run), true));
                }
                Picker::new(kind, "Filter: run", choices, false)
            }
            PickerKind::Sort => {
                let sort = self.report.sort();
                let choices = SortColumn::ALL
                    .iter()
                    .map(|c| {
                        let way = match c {
                            SortColumn::Time => "newest first",
                            SortColumn::SyncId => "highest first",
                            SortColumn::Attempts => "most first",
                            SortColumn::Status => "ok, sent, pending, failed, dry",
                            SortColumn::Outcome => "updated first",
                            _ => "A to Z",
                        };
                        Choice::new(
                            format!("{} ({way})", c.name()),
                            Value::Sort(*c),
                            sort.column == *c,
                        )
                    })
                    .collect();
                Picker::new(kind, "Sort by (S reverses)", choices, false)
            }
        };
        self.overlays.push(Overlay::Picker(picker));
        self.count_picker_choices();
    }

    pub(super) fn on_picker(&mut self, action: Action) {
        let Some(picker) = self.overlays.picker() else {
            return;
        };
        match action {
            Action::Up => picker.move_by(-1),
            Action::Down => picker.move_by(1),
            Action::Top => picker.move_by(isize::MIN),
            Action::Bottom => picker.move_by(isize::MAX),
            Action::ToggleChoice => picker.toggle(),
            Action::Dismiss => self.overlays.close_top(),
            Action::Confirm => {
                let kind = picker.kind;
                let values = picker.chosen();
                self.overlays.close_top();
                self.apply_picked(kind, values);
            }
            Action::Help => self.overlays.push(Overlay::Help(Help::new(
                Context::Picker,
                crate::ui::app::keys::bindings(Context::Picker),
            ))),
            Action::Quit => self.request_quit(),
            _ => {}
        }
    }

    fn apply_picked(&mut self, kind: PickerKind, values: Vec<Value>) {
        let changed = match kind {
            PickerKind::Status => self.report.set_statuses(
                values
                    .iter()
                    .filter_map(|v| match v {
                        Value::Status(s) => Some(*s),
                        _ => None,
                    })
                    .collect(),
            ),
            PickerKind::Outcome => self.report.set_outcomes(
                values
                    .iter()
                    .filter_map(|v| match v {
                        Value::Outcome(o) => Some(*o),
                        _ => None,
                    })
                    .collect(),
            ),
            PickerKind::Connection => self.report.set_connections(
                values
                    .iter()
                    .filter_map(|v| match v {
                        Value::Connection(c) => Some(c.clone()),
                        _ => None,
                    })
                    .collect(),
            ),
            PickerKind::Run => self.report.set_run(values.iter().find_map(|v| match v {
                Value::Run(r) => Some(*r),
                _ => None,
            })),
            PickerKind::Sort => {
                let column = values.iter().find_map(|v| match v {
                    Value::Sort(c) => Some(*c),
                    _ => None,
                });
                match column {
                    Some(column) if self.report.set_sort_column(column) => {
                        self.report.first();
                        self.report.reload();
                    }
                    _ => {}
                }
                return;
            }
        };
        if changed {
            self.refresh_report();
        }
    }

    /// `E` in the jobs view: the selected run's entries (its connection's, on a connection
    /// row) in the report, the window widened to reach back to the run.
    pub(super) fn open_entries(&mut self) {
        let Some(row) = self.runs.selected_row() else {
            self.show_message("no run selected", true);
            return;
        };
        let run_id = row.run_id();
        let connection = match row {
            Row::Connection { run_id, position } => self
                .runs
                .connection_run(run_id, position)
                .map(|r| r.connection.clone())
                .or_else(|| {
                    let run = self.runs.run(run_id)?;
                    run.connections.get(position as usize).cloned()
                }),
            Row::Run(_) => None,
        };
        self.report.set_run(Some(run_id));
        self.report
            .set_connections(connection.into_iter().collect());
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
    }
}
