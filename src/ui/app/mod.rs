//! The application state the terminal loop drives: keys and engine events in, frames out.
//!
//! The App owns what is app-wide (the run history, what is open over the view, the message
//! line, the runs going here and elsewhere, the engine's command channel) and the five views.
//! A key goes to the top overlay or the view on screen as an [`Action`] of its key table; a
//! view's actions are carried out by the view itself ([`Screen::handle`]), which returns the
//! [`Outcome`]s the App carries out here, in `App::carry_out`. Engine events, runs of other
//! processes and background results come in through `events.rs`.

pub mod clock;
mod events;
pub mod follow;
mod frame;
pub mod keys;
pub mod osc52;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::Paragraph;
use tokio::sync::mpsc::UnboundedSender;

use crate::config::Config;
use crate::engine::{Command, Event, LogLevel, RunRequest, RunScope};
use crate::store::{CancelRequest, RunId, RunStatus, Store, StoreError};

use crate::ui::action::Action;
use crate::ui::app::clock::Clock;
use crate::ui::keymap::{self, Context};
use crate::ui::overlays::confirm::{Confirm, ConfirmedAction};
use crate::ui::overlays::help::{self, Help};
use crate::ui::overlays::new_run::{self, DialogOutcome, NewRunDialog, Prefill};
use crate::ui::overlays::picker::PickerKind;
use crate::ui::screen::background::{Background, StoreWrite};
use crate::ui::screen::overlay_stack::{Overlay, OverlayStack};
use crate::ui::screen::{FailedOf, Lend, Outcome, Screen, TimelinePick};
use crate::ui::views::connections::{self as connections_view, ConnectionsView};
use crate::ui::views::contracts::{self as contracts_view, ContractsView};
use crate::ui::views::jobs::run_list::RunList;
use crate::ui::views::jobs::{JobsView, Paint};
use crate::ui::views::logs::{LogLine, LogsView};
use crate::ui::views::report::Report;
use crate::ui::views::report::draw as report_view;
use crate::ui::views::report::entry_details::EntryDetails;
use crate::ui::views::report::timeline::Timeline;
use crate::ui::widgets::dashboard;
use crate::ui::widgets::format;
use crate::ui::widgets::gauge;
use crate::ui::widgets::layout;
use crate::ui::widgets::theme::Theme;

pub use crate::ui::screen::View;

/// How the app is started.
pub struct AppOptions {
    /// Default | Mono; NO_COLOR (set and non-empty) also means Mono.
    pub theme: crate::config::Theme,
    /// Shown as a banner when syncdeck runs on the built-in demo systems, e.g.
    /// "DEMO — built-in demo systems on 127.0.0.1:PORT, scratch store; write a config to leave
    /// the demo (see config.example.toml)"
    pub banner: Option<String>,
    /// `syncdeck triage RUN_ID`: open on that run's Failed entries, the first one's details
    /// on screen.
    pub triage: Option<RunId>,
}

/// The name the demo's scratch directory starts with (under the system's temp dir): a store
/// there is deleted when the demo ends, so quitting with history in it asks first.
pub const DEMO_SCRATCH_PREFIX: &str = "syncdeck-demo-";

/// The banner: the demo's, and a read-only store's (what the console can and cannot do).
fn banner(demo: Option<String>, read_only: Option<&str>) -> Option<String> {
    let read_only = read_only.map(|reason| {
        format!(
            "READ-ONLY · the store is on {reason}: look at history, report and contracts; no \
             runs, resyncs, cancels, deletes or dry-run toggles"
        )
    });
    match (demo, read_only) {
        (Some(demo), Some(read_only)) => Some(format!("{read_only} · {demo}")),
        (demo, read_only) => read_only.or(demo),
    }
}

/// A one-line message above the key bar, until the next key.
#[derive(Clone, Debug)]
pub struct Toast {
    pub text: String,
    pub error: bool,
}

/// A store read an outcome asked for, done in the update step.
#[derive(Debug)]
enum Read {
    Details(Box<crate::store::ReportEntry>),
    Timeline {
        serial: String,
        pick: TimelinePick,
    },
    NewRun(Option<Prefill>),
    /// A key of the new-run dialog: it re-checks the workflow steps and the safety gate
    /// against the store, so it is carried out here, not on the key.
    DialogAction(Action),
}

/// The five views, each with its own state (private to it) and its [`Screen`] actions.
struct Views {
    jobs: JobsView,
    logs: LogsView,
    report: Report,
    contracts: ContractsView,
    connections: ConnectionsView,
}

impl Views {
    fn screen(&mut self, view: View) -> &mut dyn Screen {
        match view {
            View::Jobs => &mut self.jobs,
            View::Logs => &mut self.logs,
            View::Report => &mut self.report,
            View::Contracts => &mut self.contracts,
            View::Connections => &mut self.connections,
        }
    }
}

/// The whole screen's state.
pub struct App {
    config: Arc<Config>,
    store: Store,
    commands: UnboundedSender<Command>,
    theme: Theme,
    banner: Option<String>,
    view: View,
    /// The run history: the run card, the title and the Jobs view show it.
    runs: RunList,
    views: Views,
    toast: Option<Toast>,
    /// Serials of Single runs started in this session, newest first.
    recent_serials: Vec<String>,
    /// Requests in flight now allowed on running connections with `concurrency = "auto"`,
    /// by (run, position).
    concurrency: std::collections::HashMap<(u64, u32), usize>,
    /// The run going now in this process.
    live: Option<RunId>,
    /// Runs of other processes going now, with the cancel request written for each, if any.
    following: BTreeMap<RunId, Option<CancelRequest>>,
    /// Runs of other processes this console asked to cancel, until they end.
    asked_cancel: BTreeSet<RunId>,
    /// Another process changed the store: the views that read it read it again at the tick.
    store_changed: bool,
    /// A run was just started from the dialog: select it when it appears.
    follow_next_run: bool,
    /// What the engine said when the store could not record the live run: the run's end
    /// repeats it, with its hint, rather than a bare "failed".
    recording_failure: Option<String>,
    /// What is open over the view (dialog, confirmation, help, details, timeline, ...).
    overlays: OverlayStack,
    background: Background,
    /// Store reads outcomes asked for, done by the next update step.
    reads: Vec<Read>,
    /// Where OSC 52 clipboard sequences go: the terminal (stdout) unless a test says otherwise.
    terminal_out: Box<dyn Write + Send>,
    clock: Clock,
    quit: bool,
    dirty: bool,
}

impl App {
    /// Reads the first page of runs from the store; never loads the whole history.
    pub fn new(
        config: Arc<Config>,
        store: Store,
        commands: UnboundedSender<Command>,
        options: AppOptions,
    ) -> Result<App, StoreError> {
        let mut runs = RunList::load(&store)?;
        let latest = runs.latest().map(|r| r.id);
        if let Some(id) = latest {
            runs.ensure_connection_runs(&store, id)?;
        }
        let now = chrono::Utc::now();
        let connections = ConnectionsView::load(&config, &store)?;
        let mut app = App {
            views: Views {
                jobs: JobsView::default(),
                logs: LogsView::default(),
                report: Report::new(now),
                contracts: ContractsView::default(),
                connections,
            },
            overlays: OverlayStack::default(),
            background: Background::default(),
            reads: Vec::new(),
            terminal_out: Box::new(std::io::stdout()),
            theme: Theme::new(options.theme, Theme::no_color_requested()),
            banner: banner(options.banner, store.read_only_reason()),
            config,
            store,
            commands,
            view: View::Jobs,
            runs,
            toast: None,
            recent_serials: Vec::new(),
            concurrency: Default::default(),
            live: None,
            following: BTreeMap::new(),
            asked_cancel: BTreeSet::new(),
            store_changed: false,
            follow_next_run: false,
            recording_failure: None,
            clock: Clock::System,
            quit: false,
            dirty: true,
        };
        if let Some(run_id) = options.triage {
            if let Some(first) = app.lend(|views, _, lend| views.report.open_triage(run_id, lend)) {
                app.reads.push(Read::Details(Box::new(first)));
            }
            app.view = View::Report;
        }
        if let Some(summary) = app.store.recovery().summary() {
            app.log(LogLevel::Warn, summary.clone());
            app.toast = Some(Toast {
                text: summary,
                error: true,
            });
        }
        Ok(app)
    }

    /// Draws every time from this instant (stable snapshots).
    pub fn freeze_clock(&mut self, at: DateTime<Utc>) {
        self.clock = Clock::Fixed(at);
        self.dirty = true;
    }

    pub fn handle_key(&mut self, key: KeyEvent) {
        if key.kind == KeyEventKind::Release {
            return;
        }
        self.dirty = true;
        self.toast = None;
        // What earlier keys asked to read is read first, so this key sees it.
        self.update(None);
        let context = self.context();
        match keymap::lookup(keys::bindings(context), &key) {
            Some(action) => self.apply(context, action),
            None if context.takes_text() || context == Context::Picker => {
                self.type_key(context, key)
            }
            // A key that does nothing says so, and where the keys are.
            None => {
                if let Some(pressed) = keymap::Key::from_event(&key) {
                    let help = keys::bindings(context)
                        .iter()
                        .find(|b| b.action == Action::Help)
                        .and_then(|b| b.keys.first())
                        .map_or(String::new(), |k| format!(" · {} help", k.name()));
                    self.show_message(format!("{} does nothing here{help}", pressed.name()), false);
                }
            }
        }
        // A new-run dialog key (its gate and workflow checks read the store) is carried out by
        // the update step at once: a confirmed start must not wait for the next frame.
        if self
            .reads
            .iter()
            .any(|read| matches!(read, Read::DialogAction(_)))
        {
            self.update(None);
        }
    }

    pub fn handle_engine(&mut self, event: Event) {
        self.on_engine(event);
    }

    /// Applies what background jobs (counting, select all, resync plans, CSV export) reported.
    /// Cheap when nothing is waiting; the loop may call it whenever [`App::background_signal`]
    /// fires, so results show at once instead of at the next tick.
    pub fn poll_background(&mut self) {
        while let Some(done) = self.background.try_next() {
            self.on_background(done);
        }
    }

    /// Fires each time a background job reports (see [`App::poll_background`]).
    pub fn background_signal(&self) -> Arc<tokio::sync::Notify> {
        self.background.signal()
    }

    /// Waits (at most `timeout`) until every background job has reported, applying the
    /// results; false on timeout. For tests and screenshots.
    pub fn wait_background(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.background.is_busy() {
            if Instant::now() >= deadline {
                return false;
            }
            if let Some(done) = self.background.next_before(deadline) {
                self.on_background(done);
            }
        }
        self.poll_background();
        true
    }

    /// Sends clipboard copies (OSC 52) to `out` instead of the terminal.
    pub fn set_terminal_writer(&mut self, out: Box<dyn Write + Send>) {
        self.terminal_out = out;
    }

    pub fn should_quit(&self) -> bool {
        self.quit
    }

    /// True when something changed since the last call (the loop redraws only then).
    pub fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }

    /// The run now going in this process, if any (the loop cancels it on exit).
    pub fn running_run(&self) -> Option<RunId> {
        self.live
    }

    /// One frame: [`App::prepare_frame`] reads what the frame will show, then the frame is
    /// drawn from state alone (no view's `draw` reads the store).
    pub fn draw(&mut self, frame: &mut Frame) {
        self.prepare_frame(frame.area());
        self.render(frame);
    }

    /// The update step before a frame of `area`: what keys asked to read, and the page of
    /// rows the view's height shows (the report's entries, the contracts).
    pub fn prepare_frame(&mut self, area: Rect) {
        let Some([_, _, _, main, _, _]) = self.areas(area) else {
            return;
        };
        // Drawing follows at once: what the step says needs no second frame.
        let dirty = self.dirty;
        self.update(Some(main));
        self.dirty = dirty;
    }

    /// The update step, the only place the UI thread reads the store on its own (beside the
    /// first page at start and the results of background work): the view on screen reads what
    /// its keys asked for and the page a frame of `main` shows (the last drawn size when None),
    /// then the details, timelines and dialogs outcomes asked for are read and opened.
    fn update(&mut self, main: Option<Rect>) {
        let view = self.view;
        let mut outcomes = self.with_view(view, |screen, lend| screen.update(lend, main));
        if view != View::Report && self.views.report.has_pending_read() {
            // `n` in entry details opened over another view's timeline moves the report.
            outcomes.extend(self.with_view(View::Report, |screen, lend| screen.update(lend, None)));
        }
        self.carry_out(outcomes);
        for read in std::mem::take(&mut self.reads) {
            self.read(read);
        }
    }

    /// One read an outcome asked for.
    fn read(&mut self, read: Read) {
        match read {
            Read::Details(entry) => match EntryDetails::load(&self.store, *entry) {
                Ok(details) => self.overlays.push(Overlay::Details(Box::new(details))),
                Err(e) => self.show_message(format!("cannot read the store: {e}"), true),
            },
            Read::Timeline { serial, pick } => match Timeline::load(&self.store, &serial) {
                Ok(mut timeline) => {
                    let sync_id = match pick {
                        TimelinePick::Entry(sync_id) => sync_id,
                        TimelinePick::NewestOn(connection) => timeline.newest_on(&connection),
                    };
                    timeline.select(sync_id);
                    self.overlays.push(Overlay::Timeline(timeline));
                }
                Err(e) => {
                    self.show_message(format!("cannot read the timeline of {serial}: {e}"), true)
                }
            },
            Read::NewRun(prefill) => {
                match NewRunDialog::open(&self.config, &self.store, &self.recent_serials, prefill) {
                    Ok(dialog) => self.overlays.push(Overlay::NewRun(dialog)),
                    Err(e) => self.show_message(format!("cannot read the store: {e}"), true),
                }
            }
            Read::DialogAction(action) => self.act_on_dialog(action),
        }
        self.dirty = true;
    }

    /// Calls `f` with the views, the overlays and what the App lends a view.
    fn lend<R>(&mut self, f: impl FnOnce(&mut Views, &mut OverlayStack, &mut Lend) -> R) -> R {
        let App {
            config,
            store,
            commands,
            runs,
            views,
            overlays,
            background,
            clock,
            ..
        } = self;
        let mut lend = Lend {
            config,
            store,
            background,
            runs,
            now: clock.now(),
            engine_running: !commands.is_closed(),
        };
        f(views, overlays, &mut lend)
    }

    /// Calls `f` with a view and what the App lends it.
    fn with_view<R>(&mut self, view: View, f: impl FnOnce(&mut dyn Screen, &mut Lend) -> R) -> R {
        self.lend(|views, _, lend| f(views.screen(view), lend))
    }

    /// Where keys go now: the top overlay, else the view (or its text field).
    fn context(&self) -> Context {
        if let Some(context) = self.overlays.context() {
            return context;
        }
        let views = &self.views;
        match self.view {
            View::Jobs => views.jobs.context(),
            View::Logs => views.logs.context(),
            View::Report => views.report.context(),
            View::Contracts => views.contracts.context(),
            View::Connections => views.connections.context(),
        }
    }

    /// A key no table binds, in a context that takes text.
    fn type_key(&mut self, context: Context, key: KeyEvent) {
        match context {
            Context::NewRunSerial => {
                if let Some(dialog) = self.overlays.dialog() {
                    dialog.type_key(key);
                }
            }
            Context::Export => {
                if let Some(prompt) = self.overlays.export_prompt() {
                    prompt.type_key(key);
                }
            }
            // Type-ahead in a picker: the first choice starting with what was typed.
            Context::Picker => {
                if let KeyCode::Char(c) = key.code
                    && !key.modifiers.contains(KeyModifiers::CONTROL)
                    && let Some(picker) = self.overlays.picker()
                {
                    picker.type_char(c);
                }
            }
            _ => {
                let view = self.view;
                self.with_view(view, |screen, _| screen.type_key(key));
            }
        }
    }

    /// An action of the context's table: the App's own (help, quit, views, a new run, cancel,
    /// the confirmation, the dialog), else the top overlay's or the view's.
    fn apply(&mut self, context: Context, action: Action) {
        self.poll_background();
        if let Some(refusal) = self.read_only_refusal(action) {
            self.show_message(refusal, true);
            return;
        }
        match context {
            Context::Confirm => return self.on_confirm(action),
            Context::Help => return self.on_help(action),
            _ => {}
        }
        match action {
            Action::Help => {
                return self
                    .overlays
                    .push(Overlay::Help(Help::new(context, keys::bindings(context))));
            }
            Action::Quit => return self.request_quit(),
            _ => {}
        }
        if matches!(context, Context::NewRun | Context::NewRunSerial) {
            return self.on_dialog(action);
        }
        if self.overlays.context().is_some() {
            // The report's overlays: details, timeline, pickers, export.
            let outcomes = self.lend(|views, overlays, lend| match overlays.top() {
                Some(top) => views.report.handle_overlay(top, action, lend),
                None => Vec::new(),
            });
            return self.carry_out(outcomes);
        }
        match action {
            Action::ShowJobs => self.show_view(View::Jobs),
            Action::ShowLogs => self.show_view(View::Logs),
            Action::ShowReport => self.show_view(View::Report),
            Action::ShowContracts => self.show_view(View::Contracts),
            Action::ShowConnections => self.show_view(View::Connections),
            Action::NextView => self.show_view(self.view.cycle(1)),
            Action::PreviousView => self.show_view(self.view.cycle(-1)),
            Action::NewRun => self.reads.push(Read::NewRun(None)),
            Action::CancelRun => self.ask_cancel(),
            // The jobs view opens its selected run's, Connections its selected connection's.
            Action::OpenEntries if !matches!(self.view, View::Jobs | View::Connections) => {
                self.open_card_failures()
            }
            Action::RunLogs if self.view != View::Jobs => match self.card_run() {
                Some(run_id) => self.carry_out(vec![Outcome::LogsOf {
                    run_id,
                    connection: None,
                }]),
                None => self.show_message("no run yet: n starts one", true),
            },
            _ => {
                let view = self.view;
                let outcomes = self.with_view(view, |screen, lend| screen.handle(action, lend));
                self.carry_out(outcomes);
            }
        }
    }

    /// Switches views; the one shown reads what changed since it was last on screen.
    fn show_view(&mut self, view: View) {
        self.view = view;
        let outcomes = self.with_view(view, |screen, lend| screen.shown(lend));
        self.carry_out(outcomes);
    }

    /// What views asked for, carried out in order: the one place outcomes happen.
    fn carry_out(&mut self, outcomes: Vec<Outcome>) {
        for outcome in outcomes {
            match outcome {
                Outcome::Say { text, error } => self.show_message(text, error),
                Outcome::Unsay => self.toast = None,
                Outcome::Log(level, text) => self.log(level, text),
                Outcome::Redraw => self.dirty = true,
                Outcome::Open(overlay) => self.overlays.push(overlay),
                Outcome::CloseTop => self.overlays.close_top(),
                Outcome::OpenDetails(entry) => self.reads.push(Read::Details(Box::new(entry))),
                Outcome::OpenTimeline { serial, pick } => {
                    self.reads.push(Read::Timeline { serial, pick })
                }
                Outcome::OpenNewRun(prefill) => self.reads.push(Read::NewRun(prefill)),
                Outcome::Send { command, stopped } => {
                    if self.commands.send(command).is_err() {
                        self.show_message(stopped, true);
                        return;
                    }
                }
                Outcome::FollowNextRun => self.follow_next_run = true,
                Outcome::LogsOf { run_id, connection } => {
                    self.views.logs.show_run(run_id, connection.as_deref());
                    self.view = View::Logs;
                }
                Outcome::EntriesOf {
                    run_id,
                    connection,
                    narrow,
                } => {
                    self.lend(|views, _, lend| {
                        views.report.open_entries(run_id, connection, narrow, lend)
                    });
                    self.view = View::Report;
                }
                Outcome::Health(connection, report) => {
                    self.views.connections.learn_health(connection, report)
                }
                Outcome::RefusedInDetails(reason) => {
                    if let Some(details) = self.overlays.topmost_details() {
                        details.refused = Some(reason);
                    }
                }
                Outcome::ContractsChanged => {
                    self.views.contracts.reload();
                    self.views.connections.mark_stale();
                }
                Outcome::Picked { kind, values } => {
                    let view = match kind {
                        PickerKind::RunStatus => View::Jobs,
                        PickerKind::ContractSort => View::Contracts,
                        _ => View::Report,
                    };
                    let outcomes =
                        self.with_view(view, |screen, lend| screen.picked(kind, values, lend));
                    self.carry_out(outcomes);
                }
                Outcome::Copy { what, text } => self.copy_to_clipboard(&what, &text),
            }
        }
    }

    fn on_confirm(&mut self, action: Action) {
        match action {
            Action::Confirm => {
                if let Some(confirm) = self.overlays.take_confirm() {
                    self.confirmed(confirm.action);
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

    /// What a confirmation said yes to.
    fn confirmed(&mut self, action: ConfirmedAction) {
        match action {
            ConfirmedAction::Quit => self.quit = true,
            ConfirmedAction::CancelRun(run_id) if self.live != Some(run_id) => {
                self.background
                    .write(&self.store, StoreWrite::CancelRequested { run_id });
            }
            ConfirmedAction::CancelRun(run_id) => self.carry_out(vec![
                Outcome::Send {
                    command: Command::Cancel { run_id },
                    stopped: "the engine has stopped: the run cannot be canceled",
                },
                Outcome::say(format!(
                    "cancel requested for run #{run_id}: in-flight requests finish first"
                )),
            ]),
            ConfirmedAction::StartLive(request) | ConfirmedAction::StartForced(request) => {
                self.start_run(request)
            }
            ConfirmedAction::Resync(ids) => {
                let outcomes = self.lend(|views, _, lend| views.report.resync_confirmed(ids, lend));
                self.carry_out(outcomes);
            }
            ConfirmedAction::DeleteContract {
                connection,
                origin_id,
            } => self.lend(|views, _, lend| views.contracts.delete(&connection, &origin_id, lend)),
            ConfirmedAction::Apply {
                run_id,
                connections,
            } => {
                let names = connections.join(", ");
                let text = format!(
                    "applying the plan of run #{run_id} on {names}: it shows as an Apply run in \
                     the jobs history"
                );
                self.carry_out(vec![
                    Outcome::Send {
                        command: Command::Apply {
                            run_id,
                            connections,
                        },
                        stopped: "the engine has stopped: restart syncdeck to apply a plan",
                    },
                    Outcome::FollowNextRun,
                    Outcome::Log(LogLevel::Info, text.clone()),
                    Outcome::say(text),
                ]);
            }
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

    fn on_dialog(&mut self, action: Action) {
        self.reads.push(Read::DialogAction(action));
    }

    fn act_on_dialog(&mut self, action: Action) {
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

    fn start_run(&mut self, request: RunRequest) {
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
                .map_or("(each connection's mode)", crate::ui::widgets::status::mode),
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

    fn request_quit(&mut self) {
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

    /// True when the store is the demo's scratch store: deleted when the demo ends.
    fn store_is_scratch(&self) -> bool {
        let path = self.store.path();
        self.banner.is_some()
            && path.parent().is_some_and(|dir| {
                dir.parent() == Some(std::env::temp_dir().as_path())
                    && dir
                        .file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with(DEMO_SCRATCH_PREFIX))
            })
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

    /// `E` outside the jobs view: the failed entries of the run on the card, as its "next"
    /// says.
    fn open_card_failures(&mut self) {
        let Some(run_id) = self.card_run() else {
            return self.show_message("no run yet: n starts one", true);
        };
        let failed = FailedOf::of(run_id, None, self.runs.connection_runs(run_id));
        if failed.live + failed.dry == 0 {
            return self.show_message(format!("run #{run_id} has no failed entries"), false);
        }
        let failed = match self.runs.run(run_id) {
            Some(run) if run.run_type == crate::store::RunType::Resync => {
                failed.resync(run.started_at)
            }
            _ => failed,
        };
        self.carry_out(Outcome::entries_of(failed));
    }

    /// The run the card shows: this process's run going, else another process's, else the
    /// newest.
    fn card_run(&self) -> Option<RunId> {
        self.live
            .or_else(|| self.followed_running())
            .or_else(|| self.runs.latest().map(|r| r.id))
    }

    /// A run of another process going now, the newest first.
    fn followed_running(&self) -> Option<RunId> {
        self.following.keys().next_back().copied()
    }

    /// True when a cancel of this run was asked for (here or in another console) and the run
    /// has not ended yet.
    fn cancel_pending(&self, run_id: RunId) -> bool {
        self.asked_cancel.contains(&run_id)
            || self
                .following
                .get(&run_id)
                .and_then(Option::as_ref)
                .is_some()
    }

    fn log(&mut self, level: LogLevel, message: String) {
        let at = self.clock.now();
        self.views.logs.push(LogLine { at, level, message });
    }

    fn show_message(&mut self, text: impl Into<String>, error: bool) {
        self.toast = Some(Toast {
            text: text.into(),
            error,
        });
        self.dirty = true;
    }

    /// `y`: copies `text` through the terminal and says so, naming `what` was copied.
    fn copy_to_clipboard(&mut self, what: &str, text: &str) {
        match osc52::copy(&mut *self.terminal_out, text) {
            Ok(()) => self.show_message(
                format!(
                    "copied {what} ({} lines) to the clipboard (OSC 52)",
                    text.lines().count()
                ),
                false,
            ),
            Err(e) => self.show_message(format!("cannot copy: {e}"), true),
        }
    }

    /// The screen's rows: title, banner, run card, view, message line, key bar; None below the
    /// smallest size.
    fn areas(&self, area: Rect) -> Option<[Rect; 6]> {
        if layout::too_small(area) {
            return None;
        }
        let banner = frame::banner_lines(self.banner.as_deref(), self.view, area, self.theme);
        Some(
            Layout::vertical([
                Constraint::Length(1),
                Constraint::Length(banner.len() as u16),
                Constraint::Length(dashboard::height(self.view == View::Jobs)),
                Constraint::Fill(1),
                Constraint::Length(u16::from(self.toast.is_some())),
                Constraint::Length(1),
            ])
            .areas(area),
        )
    }

    fn render(&mut self, frame: &mut Frame) {
        let area = frame.area();
        let Some([title, banner, card_area, main, toast_area, bar]) = self.areas(area) else {
            layout::draw_too_small(frame, area, self.theme);
            return;
        };
        let toast = u16::from(self.toast.is_some());
        let going = self.live.or_else(|| self.followed_running());
        frame::draw_title(
            frame,
            title,
            self.view,
            &self.config,
            frame::Going {
                run: going.and_then(|id| self.runs.run(id)),
                canceling: going.is_some_and(|id| self.cancel_pending(id)),
            },
            self.theme,
        );
        frame.render_widget(
            Paragraph::new(frame::banner_lines(
                self.banner.as_deref(),
                self.view,
                area,
                self.theme,
            )),
            banner,
        );
        let card_run = self.card_run();
        let run = card_run.and_then(|id| self.runs.run(id));
        let rows = card_run.map_or(&[][..], |id| self.runs.connection_runs(id));
        let now = self.clock.now();
        let card = dashboard::Card {
            run,
            rows,
            cancel_requested: card_run.is_some_and(|id| self.cancel_pending(id)),
            cancel_key: keys::bindings(self.context())
                .iter()
                .any(|b| b.action == Action::CancelRun),
        };
        dashboard::draw(frame, card_area, &card, &self.config, now, self.theme);
        match self.view {
            View::Jobs => {
                let paint = Paint {
                    theme: self.theme,
                    now,
                    config: &self.config,
                    concurrency: &self.concurrency,
                };
                self.views.jobs.draw(frame, main, &self.runs, &paint);
            }
            View::Logs => self.views.logs.draw(frame, main, self.theme),
            View::Contracts => {
                contracts_view::draw(frame, main, &self.views.contracts, &self.config, self.theme)
            }
            View::Connections => connections_view::draw(
                frame,
                main,
                &self.views.connections,
                &self.config,
                self.theme,
            ),
            View::Report => {
                let paint = report_view::Paint {
                    theme: self.theme,
                    activity: self.views.report.activity_line(),
                    connection_width: self
                        .config
                        .connections
                        .iter()
                        .map(|c| format::width(&c.name))
                        .max()
                        .unwrap_or(0),
                };
                report_view::draw(frame, main, &self.views.report, &paint);
            }
        }
        if let Some(toast) = &self.toast {
            let (mark, style) = if toast.error {
                ("✖ ", self.theme.error())
            } else {
                ("• ", self.theme.ok())
            };
            let text = format::fit(&format!("{mark}{}", toast.text), area.width as usize - 1);
            frame.render_widget(
                Paragraph::new(Line::styled(format!(" {text}"), style)),
                toast_area,
            );
        }
        let overlay = Rect {
            y: area.y + 1,
            height: area.height.saturating_sub(2),
            ..area
        };
        // The details and the timeline leave the message line free: "copied", "resync
        // refused: …".
        let view_area = Rect {
            height: overlay.height.saturating_sub(toast),
            ..overlay
        };
        self.overlays.draw(frame, overlay, view_area, self.theme);
        frame.render_widget(
            Paragraph::new(help::key_bar(
                keys::bindings(self.context()),
                area.width,
                self.theme,
            )),
            bar,
        );
    }
}
