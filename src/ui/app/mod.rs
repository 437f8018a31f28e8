//! The application state the terminal loop drives: keys and engine events in, frames out.
//! Keys are handled in `input.rs` (each view's in the file named after it), engine events in
//! `engine_events.rs`, background results in `report_background.rs`; what is open over the view
//! is the [`overlay_stack`].

mod apply_plan;
pub mod background;
pub mod clock;
mod connections;
mod contracts;
mod diagnostics;
mod engine_events;
pub mod follow;
mod input;
pub mod keys;
pub mod osc52;
pub mod overlay_stack;
mod picker_counts;
mod report;
mod report_background;
mod timeline;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use tokio::sync::mpsc::UnboundedSender;

use crate::config::Config;
use crate::engine::{Command, Event, LogLevel};
use crate::store::{CancelRequest, RunId, RunStatus, Store, StoreError};

use crate::ui::app::background::Background;
use crate::ui::app::clock::Clock;
use crate::ui::app::overlay_stack::OverlayStack;
use crate::ui::keymap::Context;
use crate::ui::overlays::help;
use crate::ui::views::connections::{self as connections_view, ConnectionsView};
use crate::ui::views::contracts::{self as contracts_view, ContractsView};
use crate::ui::views::jobs::run_list::RunList;
use crate::ui::views::jobs::{JobsView, Paint};
use crate::ui::views::logs::{LogLine, LogsView};
use crate::ui::views::report::Report;
use crate::ui::views::report::activity::ReportActivity;
use crate::ui::views::report::draw as report_view;
use crate::ui::widgets::dashboard;
use crate::ui::widgets::format;
use crate::ui::widgets::layout;
use crate::ui::widgets::theme::Theme;

/// How the app is started.
pub struct AppOptions {
    /// Default | Mono; NO_COLOR (set and non-empty) also means Mono.
    pub theme: crate::config::Theme,
    /// Shown as a banner when syncdeck runs on the built-in demo systems, e.g.
    /// "DEMO — built-in demo systems on 127.0.0.1:PORT, scratch store; write a config to leave
    /// the demo (see config.example.toml)"
    pub banner: Option<String>,
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

/// The views, in Tab order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    Jobs,
    Logs,
    Report,
    Contracts,
    Connections,
}

impl View {
    /// Tab order: 1 Jobs … 5 Connections, wrapping around.
    pub const ALL: [View; 5] = [
        View::Jobs,
        View::Logs,
        View::Report,
        View::Contracts,
        View::Connections,
    ];

    /// The view `delta` tabs away.
    pub fn cycle(self, delta: isize) -> View {
        let i = View::ALL.iter().position(|v| *v == self).unwrap_or(0);
        View::ALL[(i as isize + delta).rem_euclid(View::ALL.len() as isize) as usize]
    }
}

/// A one-line message above the key bar, until the next key.
#[derive(Clone, Debug)]
pub struct Toast {
    pub text: String,
    pub error: bool,
}

/// The whole screen's state.
pub struct App {
    pub(super) config: Arc<Config>,
    pub(super) store: Store,
    pub(super) commands: UnboundedSender<Command>,
    pub(super) theme: Theme,
    pub(super) banner: Option<String>,
    pub(super) view: View,
    pub(super) runs: RunList,
    pub(super) jobs_view: JobsView,
    pub(super) contracts: ContractsView,
    pub(super) connections: ConnectionsView,
    pub(super) logs: LogsView,
    pub(super) toast: Option<Toast>,
    /// Serials of Single runs started in this session, newest first.
    pub(super) recent_serials: Vec<String>,
    /// Requests in flight now allowed on running connections with `concurrency = "auto"`,
    /// by (run, position).
    pub(super) concurrency: std::collections::HashMap<(u64, u32), usize>,
    /// The run going now in this process.
    pub(super) live: Option<RunId>,
    /// Runs of other processes going now, with the cancel request written for each, if any.
    pub(super) following: BTreeMap<RunId, Option<CancelRequest>>,
    /// Runs of other processes this console asked to cancel, until they end.
    pub(super) asked_cancel: BTreeSet<RunId>,
    /// Another process changed the store: the views that read it read it again at the tick.
    pub(super) store_changed: bool,
    /// A run was just started from the dialog: select it when it appears.
    pub(super) follow_next_run: bool,
    /// What the engine said when the store could not record the live run: the run's end
    /// repeats it, with its hint, rather than a bare "failed".
    pub(super) recording_failure: Option<String>,
    pub(super) report: Report,
    /// What is open over the view (dialog, confirmation, help, details, timeline, ...).
    pub(super) overlays: OverlayStack,
    pub(super) background: Background,
    /// Background state for the report's bottom border: counting, selecting, exporting.
    pub(super) report_activity: ReportActivity,
    /// Where OSC 52 clipboard sequences go: the terminal (stdout) unless a test says otherwise.
    pub(super) terminal_out: Box<dyn Write + Send>,
    pub(super) clock: Clock,
    pub(super) quit: bool,
    pub(super) dirty: bool,
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
            report: Report::new(now),
            overlays: OverlayStack::default(),
            background: Background::default(),
            report_activity: Default::default(),
            terminal_out: Box::new(std::io::stdout()),
            theme: Theme::new(options.theme, Theme::no_color_requested()),
            banner: banner(options.banner, store.read_only_reason()),
            config,
            store,
            commands,
            view: View::Jobs,
            runs,
            jobs_view: JobsView::default(),
            contracts: ContractsView::default(),
            connections,
            logs: LogsView::default(),
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
        self.on_key(key);
    }

    pub fn handle_engine(&mut self, event: Event) {
        self.on_engine(event);
    }

    /// Once a second: elapsed/ETA of a running run (marks dirty only while a run is going,
    /// here or in another process), background results, and the report, contracts and
    /// connections read again when a run recorded entries or another process wrote.
    pub fn tick(&mut self) {
        if self.live.is_some() || !self.following.is_empty() {
            self.dirty = true;
        }
        self.poll_background();
        self.refresh_after_store_change();
        self.refresh_report_if_stale();
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

    /// True when the store is the demo's scratch store: deleted when the demo ends.
    pub(super) fn store_is_scratch(&self) -> bool {
        let path = self.store.path();
        self.banner.is_some()
            && path.parent().is_some_and(|dir| {
                dir.parent() == Some(std::env::temp_dir().as_path())
                    && dir
                        .file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with(DEMO_SCRATCH_PREFIX))
            })
    }

    /// The run the card shows: this process's run going, else another process's, else the
    /// newest.
    pub(super) fn card_run(&self) -> Option<RunId> {
        self.live
            .or_else(|| self.followed_running())
            .or_else(|| self.runs.latest().map(|r| r.id))
    }

    /// True when a cancel of this run was asked for (here or in another console) and the run
    /// has not ended yet.
    pub(super) fn cancel_pending(&self, run_id: RunId) -> bool {
        self.asked_cancel.contains(&run_id) || self.cancel_requested(run_id).is_some()
    }

    pub(super) fn log(&mut self, level: LogLevel, message: String) {
        let at = self.clock.now();
        self.logs.push(LogLine { at, level, message });
    }

    pub(super) fn show_message(&mut self, text: impl Into<String>, error: bool) {
        self.toast = Some(Toast {
            text: text.into(),
            error,
        });
        self.dirty = true;
    }

    /// `y`: copies `text` through the terminal and says so, naming `what` was copied.
    pub(super) fn copy_to_clipboard(&mut self, what: &str, text: &str) {
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

    /// Where keys go now: the top overlay, else the view (or its text field).
    pub(super) fn context(&self) -> Context {
        if let Some(context) = self.overlays.context() {
            return context;
        }
        match self.view {
            View::Jobs => Context::Jobs,
            View::Logs if self.logs.editing => Context::LogsFilter,
            View::Logs => Context::Logs,
            View::Report if self.report.search.is_open() => Context::ReportSearch,
            View::Report => Context::Report,
            View::Contracts if self.contracts.search.is_open() => Context::ContractsSearch,
            View::Contracts => Context::Contracts,
            View::Connections => Context::Connections,
        }
    }

    /// One frame: [`App::prepare_frame`] reads what the frame will show, then the frame is
    /// drawn from state alone (no view's `draw` reads the store).
    pub fn draw(&mut self, frame: &mut Frame) {
        self.prepare_frame(frame.area());
        self.render(frame);
    }

    /// The update step before a frame of `area`: the view on screen reads the page of rows its
    /// height shows (the report's entries, the contracts), the only store reads of a frame.
    pub fn prepare_frame(&mut self, area: Rect) {
        let Some([_, _, _, main, _, _]) = self.areas(area) else {
            return;
        };
        match self.view {
            View::Report => {
                let rows = report_view::rows(main);
                if rows > 0 {
                    self.report.prepare(&self.store, rows);
                }
            }
            View::Contracts => {
                let rows = contracts_view::rows(main);
                if rows > 0 {
                    self.contracts.prepare(&self.config, &self.store, rows);
                }
            }
            View::Jobs | View::Logs | View::Connections => {}
        }
    }

    /// The screen's rows: title, banner, run card, view, message line, key bar; None below the
    /// smallest size.
    fn areas(&self, area: Rect) -> Option<[Rect; 6]> {
        if layout::too_small(area) {
            return None;
        }
        Some(
            Layout::vertical([
                Constraint::Length(1),
                Constraint::Length(self.banner_lines(area).len() as u16),
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
        let banner_lines = self.banner_lines(area);
        let toast = u16::from(self.toast.is_some());
        self.draw_title(frame, title);
        frame.render_widget(Paragraph::new(banner_lines), banner);
        let card_run = self.card_run();
        let run = card_run.and_then(|id| self.runs.run(id));
        let rows = card_run.map_or(&[][..], |id| self.runs.connection_runs(id));
        let now = self.clock.now();
        let card = dashboard::Card {
            run,
            rows,
            cancel_requested: card_run.is_some_and(|id| self.cancel_pending(id)),
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
                self.jobs_view.draw(frame, main, &self.runs, &paint);
            }
            View::Logs => self.logs.draw(frame, main, self.theme),
            View::Contracts => {
                contracts_view::draw(frame, main, &self.contracts, &self.config, self.theme)
            }
            View::Connections => {
                connections_view::draw(frame, main, &self.connections, &self.config, self.theme)
            }
            View::Report => {
                let paint = report_view::Paint {
                    theme: self.theme,
                    activity: self.report_activity.activity(),
                    connection_width: self
                        .config
                        .connections
                        .iter()
                        .map(|c| format::width(&c.name))
                        .max()
                        .unwrap_or(0),
                };
                report_view::draw(frame, main, &self.report, &paint);
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

    fn banner_lines(&self, area: Rect) -> Vec<Line<'static>> {
        let Some(banner) = &self.banner else {
            return Vec::new();
        };
        // Two lines on the jobs view of a tall screen; one elsewhere, where rows count.
        let max = if area.height >= 20 && self.view == View::Jobs {
            2
        } else {
            1
        };
        let width = area.width as usize;
        let mut pieces = format::wrap(banner, width.saturating_sub(2));
        if pieces.len() > max {
            pieces.truncate(max);
            if let Some(last) = pieces.last_mut() {
                *last = format::fit(&format!("{last} …"), width.saturating_sub(2));
            }
        }
        pieces
            .into_iter()
            .map(|p| Line::styled(format::pad(&format!(" {p}"), width), self.theme.banner()))
            .collect()
    }

    fn draw_title(&self, frame: &mut Frame, area: Rect) {
        let theme = self.theme;
        let tab = |key: &str, name: &str, active: bool| {
            let style = if active {
                theme.tab_active()
            } else {
                theme.dim()
            };
            Span::styled(format!(" {key} {name} "), style)
        };
        const TABS: [(&str, &str, View); 5] = [
            ("1", "Jobs", View::Jobs),
            ("2", "Logs", View::Logs),
            ("3", "Report", View::Report),
            ("4", "Contracts", View::Contracts),
            ("5", "Connections", View::Connections),
        ];
        // Tabs apart where there is room, side by side where not.
        let tabs = |gap: &str| {
            let mut spans = vec![Span::styled(" syncdeck ", theme.title())];
            for (i, (key, name, view)) in TABS.iter().enumerate() {
                if i > 0 && !gap.is_empty() {
                    spans.push(Span::raw(gap.to_string()));
                }
                spans.push(tab(key, name, self.view == *view));
            }
            spans
        };
        let n = self.config.connections.len();
        let connections = format!("{n} connection{} ", if n == 1 { "" } else { "s" });
        let going = self.live.or_else(|| self.followed_running());
        let (right, short) = match going.and_then(|id| self.runs.run(id)) {
            Some(run) if run.status == RunStatus::Running => {
                let style = theme.status(RunStatus::Running);
                let word = if self.cancel_pending(run.id) {
                    "canceling"
                } else {
                    "going"
                };
                (
                    Span::styled(format!("▶ run #{} {word} ", run.id), style),
                    Span::styled(format!("▶ #{} ", run.id), style),
                )
            }
            _ => (
                Span::styled(
                    format!("{} · {connections}", self.config.sources_label()),
                    theme.dim(),
                ),
                Span::styled(connections, theme.dim()),
            ),
        };
        let width = area.width as usize;
        let fits = |spans: &[Span], right: &Span| {
            spans.iter().map(Span::width).sum::<usize>() + right.width() < width
        };
        let wide = tabs(" ");
        let narrow = tabs("");
        let (mut left, right) = if fits(&wide, &right) {
            (wide, Some(right))
        } else if fits(&narrow, &right) {
            (narrow, Some(right))
        } else if fits(&wide, &short) {
            (wide, Some(short))
        } else if fits(&narrow, &short) {
            (narrow, Some(short))
        } else {
            (narrow, None)
        };
        if let Some(right) = right {
            let used: usize = left.iter().map(Span::width).sum();
            left.push(Span::raw(" ".repeat(width - used - right.width())));
            left.push(right);
        }
        frame.render_widget(Paragraph::new(Line::from(left)), area);
    }
}
