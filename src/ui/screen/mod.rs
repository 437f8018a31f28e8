//! What a view is to the App: a [`Screen`] that takes the actions of its key table and returns
//! the [`Outcome`]s the App carries out (a line to say, an overlay to open, a command for the
//! engine, another view to show), with the App's shared things lent for the call ([`Lend`]).
//! Also here, because views and the App both use them: the background runner (slow store reads
//! off the UI thread) and the stack of what is open over the view.
//!
//! A key handler never reads the store: what it needs read waits for [`Screen::update`], the
//! one update step the App runs around each key and before each frame (page fetching included).

pub mod background;
pub mod overlay_stack;
pub mod paged_list;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::Rect;

use crate::config::Config;
use crate::engine::health::HealthReport;
use crate::engine::{Command, LogLevel};
use crate::store::{Outcome as EntryOutcome, ReportEntry, RunId, Store, SyncId};

use crate::ui::action::Action;
use crate::ui::keymap::Context;
use crate::ui::overlays::new_run::Prefill;
use crate::ui::overlays::picker::{PickerKind, Value};
use crate::ui::screen::background::{Background, BackgroundResult};
use crate::ui::screen::overlay_stack::Overlay;
use crate::ui::views::jobs::run_list::RunList;

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

/// What the App lends a view for one call.
pub struct Lend<'a> {
    pub config: &'a Arc<Config>,
    /// For background jobs (each takes a clone) and for [`Screen::update`]; a key handler does
    /// not read it.
    pub store: &'a Store,
    /// Where slow reads and small writes go, off the UI thread.
    pub background: &'a mut Background,
    /// The run history: the run card and the title show it, the Jobs view moves through it.
    pub runs: &'a mut RunList,
    /// "Now" on the App's clock (fixed in snapshots).
    pub now: DateTime<Utc>,
    /// False once the engine has stopped: a command sent now would be lost.
    pub engine_running: bool,
}

/// Which entry of a serial's timeline is selected when it opens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TimelinePick {
    /// This entry, else the newest.
    Entry(Option<SyncId>),
    /// The newest entry on this connection (a contract's), else the newest.
    NewestOn(String),
}

/// A run's (or connection run's) failed entries, as `E` opens them ([`Outcome::entries_of`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FailedOf {
    pub run_id: RunId,
    /// One connection's, when named.
    pub connection: Option<String>,
    /// Failed entries of the connections that ran Live.
    pub live: u64,
    /// Errors of the connections that ran Dry.
    pub dry: u64,
    /// For a Resync run, when it started: its entries are the originals, changed in place.
    pub resync_started: Option<DateTime<Utc>>,
}

impl FailedOf {
    /// The failed entries of `rows` (a run's connection runs, or one of them).
    pub fn of<'a>(
        run_id: RunId,
        connection: Option<String>,
        rows: impl IntoIterator<Item = &'a crate::store::ConnectionRun>,
    ) -> FailedOf {
        let mut failed = FailedOf {
            run_id,
            connection,
            ..FailedOf::default()
        };
        for row in rows {
            let n = crate::ui::widgets::status::failed_entries(row.mode, &row.counters);
            match row.mode {
                crate::store::RunMode::Live => failed.live += n,
                crate::store::RunMode::Dry => failed.dry += n,
            }
        }
        failed
    }

    /// Said of a Resync run (started at `started`), whose entries are the originals.
    pub fn resync(mut self, started: DateTime<Utc>) -> FailedOf {
        self.resync_started = Some(started);
        self
    }
}

/// Which of a run's entries the report opens on ([`Outcome::EntriesOf`]); the other filters
/// and the search are cleared either way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Narrow {
    /// Every entry.
    All,
    /// The failed ones: status Failed where a connection ran Live, outcome error where all
    /// ran Dry (what the run card counts as failed).
    Failed { live: bool },
    /// Failed ones a retry may fix (`F`).
    Fixable,
    /// The entries of these outcomes (a line of the diagnostics panel).
    Outcomes(Vec<EntryOutcome>),
    /// A Resync run's: the Failed entries changed since it started, in whatever run they came
    /// from (a resync changes the original entries in place).
    ChangedSince(DateTime<Utc>),
}

/// One thing a view asks the App to do; the App carries them out in order, in one place.
pub enum Outcome {
    /// A line on the message line (until the next key); `error` shows it in red.
    Say { text: String, error: bool },
    /// The message line emptied.
    Unsay,
    /// A line in the Logs view.
    Log(LogLevel, String),
    /// Something on screen changed outside a key press: draw again.
    Redraw,
    /// Opens an overlay on top.
    Open(Overlay),
    /// Closes the overlay on top.
    CloseTop,
    /// Reads an entry's details (in the update step) and opens them on top.
    OpenDetails(ReportEntry),
    /// Reads a serial's timeline (in the update step) and opens it on top.
    OpenTimeline { serial: String, pick: TimelinePick },
    /// Opens the new-run dialog (read in the update step), prefilled from a run.
    OpenNewRun(Option<Prefill>),
    /// A command for the engine. When the engine has stopped, `stopped` is said instead and
    /// the outcomes after this one are dropped.
    Send {
        command: Command,
        stopped: &'static str,
    },
    /// The run the engine starts next is selected when it appears.
    FollowNextRun,
    /// The Logs view on a run's kept lines, filtered on a connection's name when one is given.
    LogsOf {
        run_id: RunId,
        connection: Option<String>,
    },
    /// The sync report on a run's entries (one connection's, when named), narrowed.
    EntriesOf {
        run_id: RunId,
        connection: Option<String>,
        narrow: Narrow,
    },
    /// A connection's health learnt elsewhere (before a mass resync), for the Connections view.
    Health(String, HealthReport),
    /// Why the resync of the entry in the details was refused, shown in them.
    RefusedInDetails(String),
    /// Contracts changed (one was deleted): the views that show them read them again.
    ContractsChanged,
    /// What a picker of another view than the report picked (the jobs' status filter, the
    /// contracts' sort), for that view's [`Screen::picked`].
    Picked {
        kind: PickerKind,
        values: Vec<Value>,
    },
    /// Copies `text` to the clipboard (OSC 52) and says so, naming `what` was copied.
    Copy { what: String, text: String },
}

impl Outcome {
    /// The report on a run's entries (a connection's, when named): its failed ones when it
    /// has any (the Live connections' when some ran Live, else the Dry ones' errors), saying
    /// how many and what `F` and Esc do next; else all of them. A resync's failures are the
    /// entries it changed in place, in the runs they came from: those of its connections
    /// still failed and changed since it started.
    pub fn entries_of(failed: FailedOf) -> Vec<Outcome> {
        let FailedOf {
            run_id,
            connection,
            live,
            dry,
            resync_started,
        } = failed;
        let whose = match &connection {
            Some(name) => format!("{name} in run #{run_id}"),
            None => format!("run #{run_id}"),
        };
        let (narrow, text) = match (live, dry, resync_started) {
            (0, 0, _) => (Narrow::All, format!("the entries of {whose}")),
            (0, dry, None) => (
                Narrow::Failed { live: false },
                format!(
                    "the {} errors of {whose} (Dry) · Esc clears filters",
                    crate::ui::widgets::format::count(dry)
                ),
            ),
            (live, _, None) => (
                Narrow::Failed { live: true },
                format!(
                    "the {} failed of {whose} · F: only those a retry may fix · Esc clears filters",
                    crate::ui::widgets::format::count(live)
                ),
            ),
            (failed, _, Some(since)) => (
                Narrow::ChangedSince(since),
                format!(
                    "the {} still failed after resync {whose}: entries of the runs they came \
                     from, changed since it started · Esc clears filters",
                    crate::ui::widgets::format::count(failed)
                ),
            ),
        };
        vec![
            Outcome::EntriesOf {
                run_id,
                connection,
                narrow,
            },
            Outcome::say(text),
        ]
    }

    /// A line on the message line.
    pub fn say(text: impl Into<String>) -> Outcome {
        Outcome::Say {
            text: text.into(),
            error: false,
        }
    }

    /// An error on the message line.
    pub fn error(text: impl Into<String>) -> Outcome {
        Outcome::Say {
            text: text.into(),
            error: true,
        }
    }
}

/// One view: its key context, what its actions do, and the update step before a frame.
///
/// A new view implements this (see ARCHITECTURE.md): its actions come from its key table
/// (`keys.rs` beside it), through [`crate::ui::app::keys::bindings`].
pub trait Screen {
    /// Where the keys go while the view is on screen: the view's table, or its text field's.
    fn context(&self) -> Context;

    /// Carries out an action of the view's key table (the App keeps the ones every view shares:
    /// switching views, help, quit, a new run). Reads nothing from the store.
    fn handle(&mut self, action: Action, lend: &mut Lend) -> Vec<Outcome>;

    /// A key the table does not bind while the view's text field has the keys.
    fn type_key(&mut self, _key: KeyEvent) {}

    /// The update step: reads what keys asked for and the page a frame of `area` shows (the
    /// last known size when None). The only place a view reads the store on the UI thread.
    fn update(&mut self, _lend: &mut Lend, _area: Option<Rect>) -> Vec<Outcome> {
        Vec::new()
    }

    /// The view comes on screen.
    fn shown(&mut self, _lend: &mut Lend) -> Vec<Outcome> {
        Vec::new()
    }

    /// What a picker the view opened picked (the report applies its own).
    fn picked(&mut self, _kind: PickerKind, _values: Vec<Value>, _lend: &mut Lend) -> Vec<Outcome> {
        Vec::new()
    }

    /// A background job this view started reported.
    fn on_background(&mut self, _done: BackgroundResult, _lend: &mut Lend) -> Vec<Outcome> {
        Vec::new()
    }
}
