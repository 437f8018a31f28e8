//! The sync report's actions, and those of what opens over it (the entry details, the serial
//! timeline, the filter and sort pickers, the export prompt). A key handler reads no store: the
//! entry under the cursor is read by the update step before the key, and details and timelines
//! open through the App's update step ([`Outcome::OpenDetails`], [`Outcome::OpenTimeline`]).
//! Anything that scans many entries runs in the background ([`super::work`]).

use chrono::{DateTime, Utc};
use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::Rect;

use crate::export;
use crate::store::{
    EntryStatus, FailureClass, Outcome as EntryOutcome, ReportEntry, ReportFilter, RunId,
    SortColumn,
};

use crate::ui::action::Action;
use crate::ui::keymap::Context;
use crate::ui::overlays::picker::{self, Choice, Picker, PickerKind, Value};
use crate::ui::screen::background::{BackgroundResult, ResyncScope};
use crate::ui::screen::overlay_stack::Overlay;
use crate::ui::screen::{Lend, Narrow, Outcome, Screen, TimelinePick};
use crate::ui::views::report::draw as report_view;
use crate::ui::views::report::export_prompt::ExportPrompt;
use crate::ui::views::report::{DEFAULT_WINDOW_DAYS, MAX_WINDOW_DAYS, OUTCOMES, Report};
use crate::ui::widgets::format;
use crate::ui::widgets::status;

/// Failed entries `syncdeck triage` looks through for the first one a retry may fix.
const TRIAGE_LOOKAHEAD: usize = 200;

/// Rows shown above the entry triage opens on, for context.
const TRIAGE_ABOVE: usize = 2;

/// Runs the run picker lists.
const RUN_CHOICES: usize = 30;

impl Screen for Report {
    fn context(&self) -> Context {
        if self.search.is_open() {
            Context::ReportSearch
        } else {
            Context::Report
        }
    }

    fn handle(&mut self, action: Action, lend: &mut Lend) -> Vec<Outcome> {
        if self.search.is_open() {
            if let Some(text) = self.search.close_on(action)
                && self.set_search(&text)
            {
                self.refresh_report(lend);
            }
            return Vec::new();
        }
        match action {
            Action::Up => self.move_by(-1),
            Action::Down => self.move_by(1),
            Action::PageUp => self.move_by(-(self.page() as isize)),
            Action::PageDown => self.move_by(self.page() as isize),
            Action::Top => self.first(),
            Action::Bottom => self.last(),
            Action::Expand => {
                return vec![match self.current() {
                    Some(entry) => Outcome::OpenDetails(entry.clone()),
                    None => Outcome::say("no entry here"),
                }];
            }
            Action::OpenTimeline => {
                return vec![match self.current() {
                    Some(entry) => Outcome::OpenTimeline {
                        serial: entry.reference.clone(),
                        pick: TimelinePick::Entry(Some(entry.sync_id)),
                    },
                    None => Outcome::say("no entry here"),
                }];
            }
            Action::ToggleSelect => {
                if let Some(id) = self.current().map(|entry| entry.sync_id) {
                    self.toggle(id);
                    self.move_by(1);
                }
            }
            Action::SelectAll => return self.start_select_all(lend),
            Action::ClearSelection => {
                return vec![match self.clear_selection() {
                    0 => Outcome::say("nothing is selected"),
                    cleared => Outcome::say(format!(
                        "selection cleared ({} entries)",
                        format::count(cleared as u64)
                    )),
                }];
            }
            Action::Resync => {
                return if self.selected() > 0 {
                    let ids = self.selected_ids();
                    self.start_resync_plan(ResyncScope::Selection(ids.len()), Some(ids), lend)
                } else {
                    self.start_resync_plan(ResyncScope::FailedInFilter, None, lend)
                };
            }
            Action::Search => self.start_search(),
            Action::FilterStatus => return self.open_picker(PickerKind::Status, lend),
            Action::FilterOutcome => return self.open_picker(PickerKind::Outcome, lend),
            Action::FilterConnection => return self.open_picker(PickerKind::Connection, lend),
            Action::FilterRun => return self.open_picker(PickerKind::Run, lend),
            Action::PickSort => return self.open_picker(PickerKind::Sort, lend),
            Action::ReverseSort => {
                self.reverse_sort();
                self.first();
                self.reload();
            }
            Action::WiderWindow | Action::NarrowerWindow => {
                let days = self.window_days();
                let wanted = if action == Action::WiderWindow {
                    days + 1
                } else {
                    days.saturating_sub(1)
                };
                if self.set_window(wanted) {
                    self.refresh_report(lend);
                } else {
                    return vec![Outcome::say(format!(
                        "the window is 1 to {MAX_WINDOW_DAYS} days (default {DEFAULT_WINDOW_DAYS})"
                    ))];
                }
            }
            Action::ToggleColumns => self.extra = !self.extra,
            // Failed entries by class: fixable, then not syncable, then either.
            Action::FilterFixable => {
                let (next, said) = match self.filter().failure {
                    None => (
                        Some(FailureClass::Fixable),
                        "failed entries a retry may fix (R resyncs them) · F again: not syncable",
                    ),
                    Some(FailureClass::Fixable) => (
                        Some(FailureClass::NotSyncable),
                        "failed entries no retry can fix (missing source or destination, drifted, \
                         rule, format, 4xx) · F again: off",
                    ),
                    Some(FailureClass::NotSyncable) => (None, "the failure class filter is off"),
                };
                self.set_failure(next);
                self.refresh_report(lend);
                return vec![Outcome::say(said)];
            }
            Action::Export => {
                let scope = match self.matching() {
                    Some(n) => format!(
                        "{} entr{}",
                        format::count(n),
                        if n == 1 { "y" } else { "ies" }
                    ),
                    None => "the entries".to_string(),
                };
                let filters = self.describe();
                let scope = if filters.is_empty() {
                    format!("{scope} of the last {} days", self.window_days())
                } else {
                    format!("{scope} matching {}", filters.join(" · "))
                };
                let path = export::default_export_path(lend.now);
                return vec![Outcome::Open(Overlay::Export(ExportPrompt::new(
                    path, scope,
                )))];
            }
            Action::Back => {
                return vec![match self.pop_filter() {
                    Some(_) => {
                        self.refresh_report(lend);
                        let left = self.describe();
                        Outcome::say(if left.is_empty() {
                            "filters cleared".to_string()
                        } else {
                            format!("filters: {}", left.join(" · "))
                        })
                    }
                    None => Outcome::say("no filter to clear"),
                }];
            }
            _ => {}
        }
        Vec::new()
    }

    fn type_key(&mut self, key: KeyEvent) {
        self.search.type_key(key);
    }

    /// With an area: the page a frame of it shows (the cursor kept on screen). Without (before
    /// a key): the page of the entry under the cursor, if it is not read. Then the details a
    /// move in them asked for, now that their entry is read.
    fn update(&mut self, lend: &mut Lend, area: Option<Rect>) -> Vec<Outcome> {
        // The search filters as it is typed.
        if let Some(text) = self.search.take_typed()
            && self.set_search(&text)
        {
            self.refresh_report(lend);
        }
        match area {
            Some(area) => {
                let rows = report_view::rows(area);
                if rows > 0 {
                    self.prepare(lend.store, rows);
                }
            }
            None => self.ensure_current(lend.store),
        }
        let Some(forward) = self.details_after_move.take() else {
            return Vec::new();
        };
        if self.row(self.cursor()).is_none() {
            self.ensure_current(lend.store);
        }
        vec![match self.current() {
            Some(entry) => Outcome::OpenDetails(entry.clone()),
            None => Outcome::say(if forward {
                "this is the last entry"
            } else {
                "this is the first entry"
            }),
        }]
    }

    fn shown(&mut self, lend: &mut Lend) -> Vec<Outcome> {
        self.show(lend);
        vec![Outcome::Redraw]
    }

    fn on_background(&mut self, done: BackgroundResult, lend: &mut Lend) -> Vec<Outcome> {
        self.finish(done, lend)
    }
}

impl Report {
    /// True while a move in the entry details waits for its entry to be read.
    pub fn has_pending_read(&self) -> bool {
        self.details_after_move.is_some()
    }

    /// The actions of the report's overlays (on top of the stack): the entry details, the
    /// timeline, a picker, the export prompt. Help and quit are the App's.
    pub fn handle_overlay(
        &mut self,
        overlay: &mut Overlay,
        action: Action,
        lend: &mut Lend,
    ) -> Vec<Outcome> {
        match overlay {
            Overlay::Details(details) => {
                let page = details.page() as isize;
                match action {
                    Action::Up => details.scroll_by(-1),
                    Action::Down => details.scroll_by(1),
                    Action::PageUp => details.scroll_by(-page),
                    Action::PageDown => details.scroll_by(page),
                    Action::Top => details.scroll = 0,
                    Action::Bottom => details.scroll = usize::MAX,
                    Action::Back => return vec![Outcome::CloseTop],
                    Action::Copy => {
                        return vec![Outcome::Copy {
                            what: format!("the details of #{}", details.entry.sync_id),
                            text: details.text(),
                        }];
                    }
                    Action::Resync => {
                        let id = details.entry.sync_id;
                        return self.start_resync_plan(
                            ResyncScope::Entry(id),
                            Some(vec![id]),
                            lend,
                        );
                    }
                    Action::NextEntry | Action::PreviousEntry => {
                        let forward = action == Action::NextEntry;
                        let before = self.cursor();
                        self.move_by(if forward { 1 } else { -1 });
                        if self.cursor() == before {
                            return vec![Outcome::say(if forward {
                                "this is the last entry"
                            } else {
                                "this is the first entry"
                            })];
                        }
                        // Opened by the update step, once the entry is read.
                        self.details_after_move = Some(forward);
                    }
                    Action::OpenTimeline => {
                        return vec![Outcome::OpenTimeline {
                            serial: details.entry.reference.clone(),
                            pick: TimelinePick::Entry(Some(details.entry.sync_id)),
                        }];
                    }
                    _ => {}
                }
            }
            Overlay::Timeline(timeline) => match action {
                Action::Up => timeline.up(),
                Action::Down => timeline.down(),
                Action::PageUp => timeline.page(false),
                Action::PageDown => timeline.page(true),
                Action::Top => timeline.top(),
                Action::Bottom => timeline.bottom(),
                Action::Expand => {
                    return vec![match timeline.selected_entry() {
                        Some(entry) => Outcome::OpenDetails(entry.clone()),
                        None => Outcome::say("no entry here"),
                    }];
                }
                Action::Copy => {
                    return vec![Outcome::Copy {
                        what: format!("the timeline of {}", timeline.serial),
                        text: timeline.text(),
                    }];
                }
                Action::Back => return vec![Outcome::CloseTop],
                _ => {}
            },
            Overlay::Picker(picker) => match action {
                Action::Up => picker.move_by(-1),
                Action::Down => picker.move_by(1),
                Action::Top => picker.move_by(isize::MIN),
                Action::Bottom => picker.move_by(isize::MAX),
                Action::ToggleChoice => picker.toggle(),
                Action::Dismiss => return vec![Outcome::CloseTop],
                Action::Confirm => {
                    let kind = picker.kind;
                    let values = picker.chosen();
                    if !kind.is_report() {
                        // The jobs view's or the contracts': theirs to apply.
                        return vec![Outcome::CloseTop, Outcome::Picked { kind, values }];
                    }
                    self.apply_picked(kind, values, lend);
                    return vec![Outcome::CloseTop];
                }
                _ => {}
            },
            Overlay::Export(prompt) => match action {
                Action::FinishInput => {
                    let Some(path) = prompt.path() else {
                        return vec![Outcome::error("type a file name")];
                    };
                    let mut out = vec![Outcome::CloseTop];
                    out.extend(self.start_export(path, lend));
                    return out;
                }
                Action::Back => return vec![Outcome::CloseTop],
                _ => {}
            },
            Overlay::Diagnostics(panel) => match action {
                Action::Up => panel.move_by(-1),
                Action::Down => panel.move_by(1),
                Action::Top => panel.to_end(false),
                Action::Bottom => panel.to_end(true),
                Action::Back => return vec![Outcome::CloseTop],
                Action::Expand => {
                    let Some(item) = panel.selected() else {
                        return Vec::new();
                    };
                    return vec![
                        Outcome::CloseTop,
                        Outcome::EntriesOf {
                            run_id: panel.run_id,
                            connection: Some(panel.connection.clone()),
                            narrow: Narrow::Outcomes(item.outcomes),
                        },
                        Outcome::say(format!(
                            "{} ({}): Esc clears the filters one by one",
                            item.label,
                            format::count(item.count)
                        )),
                    ];
                }
                _ => {}
            },
            Overlay::NewRun(_) | Overlay::Help(_) | Overlay::Confirm(_) => {}
        }
        Vec::new()
    }

    /// `E` in the jobs view (and a line of the diagnostics panel): the run's entries (one
    /// connection's, when named) in the report, narrowed, the other filters and the search
    /// cleared, and the window widened to reach back to the run.
    pub fn open_entries(
        &mut self,
        run_id: RunId,
        connection: Option<String>,
        narrow: Narrow,
        lend: &mut Lend,
    ) {
        // A resync's failures are the original entries, in the runs they came from.
        let since = match &narrow {
            Narrow::ChangedSince(at) => Some(*at),
            _ => None,
        };
        self.set_run(since.is_none().then_some(run_id));
        self.set_changed_since(since);
        self.set_connections(connection.into_iter().collect());
        let (statuses, outcomes, failure) = match narrow {
            Narrow::All => (Vec::new(), Vec::new(), None),
            Narrow::ChangedSince(_) => (vec![EntryStatus::Failed], Vec::new(), None),
            Narrow::Failed { live: true } => (vec![EntryStatus::Failed], Vec::new(), None),
            Narrow::Failed { live: false } => (Vec::new(), vec![EntryOutcome::Error], None),
            Narrow::Fixable => (Vec::new(), Vec::new(), Some(FailureClass::Fixable)),
            Narrow::Outcomes(outcomes) => (Vec::new(), outcomes, None),
        };
        self.set_statuses(statuses);
        self.set_outcomes(outcomes);
        self.set_failure(failure);
        self.set_search("");
        if let Some(run) = lend.runs.run(run_id) {
            self.reach_back_to(run.started_at, lend.now);
        }
        self.opened = true;
        self.refresh_report(lend);
    }

    /// Widens the window (never narrows it) so it reaches back to `started_at`.
    fn reach_back_to(&mut self, started_at: DateTime<Utc>, now: DateTime<Utc>) {
        let age = (now - started_at).num_days() + 1;
        let days = u32::try_from(age).unwrap_or(MAX_WINDOW_DAYS);
        if days > self.window_days() {
            self.set_window(days);
        }
    }

    /// `syncdeck triage RUN_ID`: the run's Failed entries, the window reaching back to the
    /// run, and the first of them to open in details (None when the run has none left).
    pub fn open_triage(&mut self, run_id: RunId, lend: &mut Lend) -> Option<ReportEntry> {
        self.set_run(Some(run_id));
        self.set_statuses(vec![EntryStatus::Failed]);
        // The run list may not have read back that far at start: the store says when it began.
        if let Ok(Some(run)) = lend.store.get_run(run_id) {
            self.reach_back_to(run.started_at, lend.now);
        }
        self.opened = true;
        self.refresh_report(lend);
        // The first failure a retry may fix, when the first page has one (what on-call can act
        // on); else the first failure.
        let page = lend
            .store
            .report_page(self.filter(), self.sort(), 0, TRIAGE_LOOKAHEAD)
            .ok()?;
        let at = page
            .iter()
            .position(|e| e.failure_class() == Some(FailureClass::Fixable))
            .unwrap_or(0);
        self.list.place(at, at.saturating_sub(TRIAGE_ABOVE));
        page.into_iter().nth(at)
    }

    fn open_picker(&self, kind: PickerKind, lend: &mut Lend) -> Vec<Outcome> {
        let filter = self.filter();
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
                choices.extend(lend.config.connections.iter().map(|c| {
                    Choice::new(
                        format!("{} · {}", c.name, c.system),
                        Value::Connection(c.name.clone()),
                        filter.connections.contains(&c.name),
                    )
                }));
                // A name no longer configured stays choosable while it is set.
                for name in &filter.connections {
                    if lend.config.connection(name).is_none() {
                        choices.push(Choice::new(
                            name.clone(),
                            Value::Connection(name.clone()),
                            true,
                        ));
                    }
                }
                let mut picker = Picker::new(kind, "Filter: connection", choices, true);
                // None set: the cursor starts on the connection of the entry under the cursor.
                if filter.connections.is_empty()
                    && let Some(entry) = self.current()
                    && let Some(at) = picker.choices.iter().position(
                        |c| matches!(&c.value, Value::Connection(name) if *name == entry.connection),
                    )
                {
                    picker.cursor = at;
                }
                picker
            }
            PickerKind::Run => {
                let mut choices = vec![any("any run", filter.run.is_none())];
                let runs = lend.runs.recent_runs(RUN_CHOICES);
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
                                status::run_failed_entries(lend.runs.connection_runs(r.id))
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
            PickerKind::RunStatus | PickerKind::ContractSort => return Vec::new(),
            PickerKind::Sort => {
                let sort = self.sort();
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
        if picker.counts_entries() {
            self.count_choices(&picker, lend);
        }
        vec![Outcome::Open(Overlay::Picker(picker))]
    }

    /// Counts, in the background, the entries each choice of a filter picker would show with
    /// the other filters kept ([`BackgroundResult::PickerCounted`]).
    fn count_choices(&self, picker: &Picker, lend: &mut Lend) {
        let kind = picker.kind;
        let base = self.filter().clone();
        let filters: Vec<ReportFilter> = picker
            .choices
            .iter()
            .map(|choice| picker::filter_for(&base, kind, &choice.value))
            .collect();
        let store = lend.store.clone();
        lend.background.spawn(
            "picker-counts",
            move |_| BackgroundResult::PickerCounted {
                kind,
                counts: Ok(filters
                    .iter()
                    .map(|filter| store.report_count(filter).ok())
                    .collect()),
            },
            move |panic| BackgroundResult::PickerCounted {
                kind,
                counts: Err(panic),
            },
        );
    }

    fn apply_picked(&mut self, kind: PickerKind, values: Vec<Value>, lend: &mut Lend) {
        let changed = match kind {
            PickerKind::Status => self.set_statuses(
                values
                    .iter()
                    .filter_map(|v| match v {
                        Value::Status(s) => Some(*s),
                        _ => None,
                    })
                    .collect(),
            ),
            PickerKind::Outcome => self.set_outcomes(
                values
                    .iter()
                    .filter_map(|v| match v {
                        Value::Outcome(o) => Some(*o),
                        _ => None,
                    })
                    .collect(),
            ),
            PickerKind::Connection => self.set_connections(
                values
                    .iter()
                    .filter_map(|v| match v {
                        Value::Connection(c) => Some(c.clone()),
                        _ => None,
                    })
                    .collect(),
            ),
            PickerKind::Run => self.set_run(values.iter().find_map(|v| match v {
                Value::Run(r) => Some(*r),
                _ => None,
            })),
            PickerKind::Sort => {
                let column = values.iter().find_map(|v| match v {
                    Value::Sort(c) => Some(*c),
                    _ => None,
                });
                match column {
                    Some(column) if self.set_sort_column(column) => {
                        self.first();
                        self.reload();
                    }
                    _ => {}
                }
                return;
            }
            PickerKind::RunStatus | PickerKind::ContractSort => false,
        };
        if changed {
            self.refresh_report(lend);
        }
    }
}
