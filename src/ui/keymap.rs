//! The key maps, as data: one table per context. Key lookup, the key bar and the help overlay
//! all read these tables, so the help can never disagree with what the keys do.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::ui::action::Action;

/// A key as the tables name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    Char(char),
    Ctrl(char),
    F(u8),
    Enter,
    Esc,
    Tab,
    BackTab,
    Up,
    Down,
    Left,
    Right,
    PageUp,
    PageDown,
    Home,
    End,
    Space,
}

impl Key {
    /// The key pressed, in the tables' terms.
    pub fn from_event(event: &KeyEvent) -> Option<Key> {
        let ctrl = event.modifiers.contains(KeyModifiers::CONTROL);
        Some(match event.code {
            KeyCode::Char(' ') if !ctrl => Key::Space,
            KeyCode::Char(c) if ctrl => Key::Ctrl(c.to_ascii_lowercase()),
            KeyCode::Char(c) => Key::Char(c),
            KeyCode::F(n) => Key::F(n),
            KeyCode::Enter => Key::Enter,
            KeyCode::Esc => Key::Esc,
            KeyCode::Tab if event.modifiers.contains(KeyModifiers::SHIFT) => Key::BackTab,
            KeyCode::Tab => Key::Tab,
            KeyCode::BackTab => Key::BackTab,
            KeyCode::Up => Key::Up,
            KeyCode::Down => Key::Down,
            KeyCode::Left => Key::Left,
            KeyCode::Right => Key::Right,
            KeyCode::PageUp => Key::PageUp,
            KeyCode::PageDown => Key::PageDown,
            KeyCode::Home => Key::Home,
            KeyCode::End => Key::End,
            _ => return None,
        })
    }

    /// How the key is written in the key bar and the help.
    pub fn name(self) -> String {
        match self {
            Key::Char(c) => c.to_string(),
            Key::Ctrl(c) => format!("Ctrl-{c}"),
            Key::F(n) => format!("F{n}"),
            Key::Enter => "Enter".into(),
            Key::Esc => "Esc".into(),
            Key::Tab => "Tab".into(),
            Key::BackTab => "S-Tab".into(),
            Key::Up => "↑".into(),
            Key::Down => "↓".into(),
            Key::Left => "←".into(),
            Key::Right => "→".into(),
            Key::PageUp => "PgUp".into(),
            Key::PageDown => "PgDn".into(),
            Key::Home => "Home".into(),
            Key::End => "End".into(),
            Key::Space => "Space".into(),
        }
    }
}

/// Where the keys go: a view, a dialog, a text field or an overlay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    Jobs,
    Logs,
    /// Typing the logs filter.
    LogsFilter,
    /// The new-run dialog, outside its serial field.
    NewRun,
    /// Typing the serial of a Single run.
    NewRunSerial,
    Confirm,
    Help,
    Report,
    /// Typing the report's search.
    ReportSearch,
    /// The details of one report entry.
    Details,
    /// A filter or sort picker over the report.
    Picker,
    /// Typing the file name of a CSV export.
    Export,
    /// Every entry of one serial across runs and connections.
    Timeline,
    /// The sync contracts of one connection.
    Contracts,
    /// Typing the contracts' search.
    ContractsSearch,
    /// The connections at a glance.
    Connections,
}

impl Context {
    /// The name the help overlay shows.
    pub fn title(self) -> &'static str {
        match self {
            Context::Jobs => "Outbound Sync Jobs",
            Context::Logs => "Logs",
            Context::LogsFilter => "Logs filter",
            Context::NewRun => "New run",
            Context::NewRunSerial => "New run: serial field",
            Context::Confirm => "Confirmation",
            Context::Help => "Help",
            Context::Report => "Sync report",
            Context::ReportSearch => "Sync report: search",
            Context::Details => "Entry details",
            Context::Picker => "Picker",
            Context::Export => "Export to CSV",
            Context::Timeline => "Serial timeline",
            Context::Contracts => "Contracts",
            Context::ContractsSearch => "Contracts: search",
            Context::Connections => "Connections",
        }
    }

    /// True where unbound keys edit a text field.
    pub fn takes_text(self) -> bool {
        matches!(
            self,
            Context::LogsFilter
                | Context::NewRunSerial
                | Context::ReportSearch
                | Context::Export
                | Context::ContractsSearch
        )
    }
}

/// One entry of a key map.
#[derive(Clone, Copy, Debug)]
pub struct Binding {
    pub keys: &'static [Key],
    pub action: Action,
    /// The key bar's word for it; None keeps it out of the bar (it is still in the help).
    pub bar: Option<&'static str>,
    /// The help's sentence for it.
    pub help: &'static str,
}

const fn bind(
    keys: &'static [Key],
    action: Action,
    bar: Option<&'static str>,
    help: &'static str,
) -> Binding {
    Binding {
        keys,
        action,
        bar,
        help,
    }
}

use Key::*;

/// Key-bar entries that stay when the bar is too narrow for all (the others drop from the end).
const PINNED: [Action; 2] = [Action::Help, Action::Quit];

/// Joins shared runs of bindings into one table at compile time, so a table is still one
/// `&'static [Binding]` in the order the help and the key bar show it.
macro_rules! table {
    ($($part:expr),+ $(,)?) => {{
        const PARTS: &[&[Binding]] = &[$($part),+];
        const TABLE: [Binding; joined_len(PARTS)] = join(PARTS);
        &TABLE
    }};
}

const fn joined_len(parts: &[&[Binding]]) -> usize {
    let mut len = 0;
    let mut i = 0;
    while i < parts.len() {
        len += parts[i].len();
        i += 1;
    }
    len
}

const fn join<const N: usize>(parts: &[&[Binding]]) -> [Binding; N] {
    let mut table = [bind(&[], Action::Quit, None, ""); N];
    let mut filled = 0;
    let mut i = 0;
    while i < parts.len() {
        let mut j = 0;
        while j < parts[i].len() {
            table[filled] = parts[i][j];
            filled += 1;
            j += 1;
        }
        i += 1;
    }
    assert!(filled == N, "a joined key table has the wrong length");
    table
}

const fn help(keys: &'static [Key]) -> Binding {
    bind(keys, Action::Help, Some("help"), "this help")
}

const fn quit(keys: &'static [Key], bar: Option<&'static str>) -> Binding {
    bind(
        keys,
        Action::Quit,
        bar,
        "quit (asks first while a run is going)",
    )
}

const fn new_run(bar: Option<&'static str>) -> Binding {
    bind(&[Char('n')], Action::NewRun, bar, "open the new-run dialog")
}

const fn cancel_run(bar: Option<&'static str>) -> Binding {
    bind(
        &[Char('c')],
        Action::CancelRun,
        bar,
        "cancel the run going, here or in another process (asks first)",
    )
}

/// `g` and `G`: the first and the last row, in each list's own words.
const fn ends(top: &'static str, bottom: &'static str) -> [Binding; 2] {
    [
        bind(&[Char('g'), Home], Action::Top, None, top),
        bind(&[Char('G'), End], Action::Bottom, None, bottom),
    ]
}

/// How every view's table ends: the view switches (the words put some of them in the key bar),
/// then help and quit.
const fn view_keys(
    jobs: Option<&'static str>,
    logs: Option<&'static str>,
    report: Option<&'static str>,
) -> [Binding; 9] {
    [
        bind(
            &[Char('1')],
            Action::ShowJobs,
            jobs,
            "view: Outbound Sync Jobs",
        ),
        bind(&[Char('2')], Action::ShowLogs, logs, "view: Logs"),
        bind(
            &[Char('3')],
            Action::ShowReport,
            report,
            "view: Sync report",
        ),
        bind(&[Char('4')], Action::ShowContracts, None, "view: Contracts"),
        bind(
            &[Char('5')],
            Action::ShowConnections,
            None,
            "view: Connections",
        ),
        bind(&[Tab], Action::NextView, None, "next view"),
        bind(&[BackTab], Action::PreviousView, None, "previous view"),
        help(&[Char('?'), F(1)]),
        quit(&[Char('q'), Ctrl('c')], Some("quit")),
    ]
}

/// Moving through a list.
const MOVE: &[Binding] = &[
    bind(&[Char('k'), Up], Action::Up, None, "move up"),
    bind(&[Char('j'), Down], Action::Down, None, "move down"),
];

/// Paging through a list.
const PAGE: &[Binding] = &[
    bind(&[PageUp], Action::PageUp, None, "page up"),
    bind(&[PageDown], Action::PageDown, None, "page down"),
];

/// Scrolling a text.
const SCROLL: &[Binding] = &[
    bind(&[Char('k'), Up], Action::Up, None, "scroll up"),
    bind(&[Char('j'), Down], Action::Down, None, "scroll down"),
];

/// Paging a text, where Space pages down too.
const READ_PAGE: &[Binding] = &[
    bind(&[PageUp], Action::PageUp, None, "page up"),
    bind(&[PageDown, Space], Action::PageDown, None, "page down"),
];

/// Leaving a search field without changing the search.
const LEAVE_SEARCH: Binding = bind(
    &[Esc],
    Action::Back,
    Some("cancel"),
    "leave the field, keeping the search as it was",
);

/// Moving between the new-run dialog's fields.
const FIELDS: &[Binding] = &[
    bind(&[Tab], Action::NextField, Some("next field"), "next field"),
    bind(&[BackTab], Action::PreviousField, None, "previous field"),
];

const CLOSE_DIALOG: Binding = bind(
    &[Esc],
    Action::CloseDialog,
    Some("close"),
    "close without starting",
);

const JOBS: &[Binding] = table!(
    &[
        new_run(Some("new run")),
        bind(
            &[Enter, Char('l'), Right],
            Action::Expand,
            Some("expand"),
            "expand the run into its connections; on a connection row, open its logs",
        ),
        bind(
            &[Char('h'), Left],
            Action::Collapse,
            None,
            "collapse the run; on a connection row, go back to its run",
        ),
        cancel_run(Some("cancel")),
        bind(
            &[Char('r')],
            Action::Rerun,
            Some("rerun"),
            "rerun: open the dialog with the selected run's parameters",
        ),
        bind(
            &[Char('f')],
            Action::CycleStatusFilter,
            Some("status"),
            "filter runs by status: all, running, completed, failed, canceled, incomplete, interrupted",
        ),
        bind(
            &[Char('F')],
            Action::ToggleFailuresOnly,
            Some("failures"),
            "show only failures (failed, incomplete, interrupted)",
        ),
        bind(
            &[Char('E')],
            Action::OpenEntries,
            Some("entries"),
            "the selected run's entries in the sync report (the connection's, on a connection row)",
        ),
        bind(
            &[Char('p')],
            Action::ApplyPlan,
            None,
            "apply a finished Dry run's plan live: exactly the records it would update or create \
             (on a connection row, that connection's; asks first)",
        ),
        bind(&[Esc], Action::Back, None, "clear the filters"),
    ],
    MOVE,
    PAGE,
    &ends("newest run", "oldest run (reads the whole history)"),
    &view_keys(None, Some("logs"), Some("report")),
);

const LOGS: &[Binding] = table!(
    &[
        bind(
            &[Char('/')],
            Action::Search,
            Some("filter"),
            "filter the lines (case-insensitive)",
        ),
        bind(&[Esc], Action::Back, None, "clear the filter"),
        bind(&[Char('k'), Up], Action::Up, None, "scroll up (older)"),
        bind(
            &[Char('j'), Down],
            Action::Down,
            None,
            "scroll down (newer)",
        ),
    ],
    PAGE,
    &[
        bind(&[Char('g'), Home], Action::Top, None, "oldest line"),
        bind(
            &[Char('G'), End],
            Action::Bottom,
            Some("follow"),
            "newest line, and follow new ones",
        ),
        new_run(Some("new run")),
        cancel_run(Some("cancel")),
    ],
    &view_keys(Some("jobs"), None, Some("report")),
);

const LOGS_FILTER: &[Binding] = &[
    bind(
        &[Enter],
        Action::FinishInput,
        Some("keep filter"),
        "keep the filter and scroll the lines",
    ),
    bind(&[Esc], Action::Back, Some("clear"), "clear the filter"),
    help(&[F(1)]),
    quit(&[Ctrl('c')], Some("quit")),
];

const NEW_RUN: &[Binding] = table!(
    &[
        bind(
            &[Enter],
            Action::StartRun,
            Some("start"),
            "start the run (a gated Full Live run asks first)",
        ),
        bind(
            &[Space],
            Action::ToggleChoice,
            Some("toggle"),
            "toggle the connection under the cursor, or switch Scope / Mode",
        ),
        bind(
            &[Char('a')],
            Action::AllConnections,
            Some("all"),
            "choose all connections, or none",
        ),
    ],
    FIELDS,
    &[
        bind(
            &[Char('k'), Up],
            Action::Up,
            None,
            "previous connection or field",
        ),
        bind(
            &[Char('j'), Down],
            Action::Down,
            None,
            "next connection or field",
        ),
        bind(
            &[Char('h'), Left],
            Action::Left,
            None,
            "previous choice of Scope / Mode",
        ),
        bind(
            &[Char('l'), Right],
            Action::Right,
            None,
            "next choice of Scope / Mode",
        ),
        CLOSE_DIALOG,
        help(&[Char('?'), F(1)]),
        quit(&[Ctrl('c')], None),
    ],
);

const NEW_RUN_SERIAL: &[Binding] = table!(
    &[
        bind(&[Enter], Action::StartRun, Some("start"), "start the run"),
        bind(
            &[Up],
            Action::Up,
            Some("recent"),
            "previous remembered serial (the last 5 of this session)",
        ),
        bind(&[Down], Action::Down, None, "next remembered serial"),
    ],
    FIELDS,
    &[CLOSE_DIALOG, help(&[F(1)]), quit(&[Ctrl('c')], None)],
);

const CONFIRM: &[Binding] = &[
    bind(&[Char('y'), Enter], Action::Confirm, Some("yes"), "do it"),
    bind(
        &[Char('n'), Esc],
        Action::Dismiss,
        Some("no"),
        "back, without doing it",
    ),
    quit(&[Ctrl('c')], None),
];

const HELP: &[Binding] = table!(
    &[bind(
        &[Esc, Char('?'), Char('q'), F(1)],
        Action::Back,
        Some("close"),
        "close the help",
    )],
    SCROLL,
    &[quit(&[Ctrl('c')], None)],
);

const REPORT: &[Binding] = table!(
    &[
        bind(
            &[Enter, Char('l'), Right],
            Action::Expand,
            Some("details"),
            "the entry's details: why it failed, the hint, attempts, field diff, contract; resync",
        ),
        bind(
            &[Space],
            Action::ToggleSelect,
            Some("select"),
            "check or uncheck the entry",
        ),
        bind(
            &[Char('a')],
            Action::SelectAll,
            Some("all"),
            "select every entry matching the filters (not just the screen)",
        ),
        bind(
            &[Char('A')],
            Action::ClearSelection,
            None,
            "clear the selection",
        ),
        bind(
            &[Char('R')],
            Action::Resync,
            Some("resync"),
            "resync the selected entries; with none selected, every failed entry in the filter \
             (asks first, stating the count and connections)",
        ),
        bind(
            &[Char('/')],
            Action::Search,
            Some("search"),
            "search: exact sync id, serial prefix or system substring",
        ),
        bind(
            &[Char('f')],
            Action::FilterStatus,
            Some("status"),
            "filter by status: OK, Sent, Pending, Failed, Dry",
        ),
        bind(
            &[Char('C')],
            Action::FilterConnection,
            Some("conn"),
            "filter by connection",
        ),
        bind(
            &[Char('o')],
            Action::FilterOutcome,
            None,
            "filter by outcome (updated, missing destination, error, ...)",
        ),
        bind(
            &[Char('u')],
            Action::FilterRun,
            None,
            "filter by run (the recent runs)",
        ),
        bind(
            &[Char('+'), Char('=')],
            Action::WiderWindow,
            None,
            "window: one day more (up to 15)",
        ),
        bind(
            &[Char('-')],
            Action::NarrowerWindow,
            None,
            "window: one day less (down to 1)",
        ),
        bind(
            &[Char('s')],
            Action::PickSort,
            Some("sort"),
            "sort by a column",
        ),
        bind(&[Char('S')], Action::ReverseSort, None, "reverse the sort"),
        bind(
            &[Char('x')],
            Action::ToggleColumns,
            Some("extra"),
            "extra columns: latest sync info (last try, HTTP status), source id, target id",
        ),
        bind(
            &[Char('e')],
            Action::Export,
            Some("export"),
            "export every entry matching the filters to a CSV file",
        ),
        bind(
            &[Char('t')],
            Action::OpenTimeline,
            Some("timeline"),
            "the entry's serial timeline: every entry of that serial across runs and connections, \
             oldest first, with hashes and field changes",
        ),
        bind(
            &[Esc],
            Action::Back,
            None,
            "clear the filters one at a time, the last set first",
        ),
    ],
    MOVE,
    PAGE,
    &ends("first entry", "last entry"),
    &[new_run(None), cancel_run(None)],
    &view_keys(None, None, None),
);

const REPORT_SEARCH: &[Binding] = &[
    bind(
        &[Enter],
        Action::FinishInput,
        Some("search"),
        "search: an exact sync id (12345 or #12345), a serial prefix or a system substring",
    ),
    LEAVE_SEARCH,
    help(&[F(1)]),
    quit(&[Ctrl('c')], Some("quit")),
];

const DETAILS: &[Binding] = table!(
    &[
        bind(
            &[Char('R')],
            Action::Resync,
            Some("resync"),
            "resync this entry (asks first; an entry a retry cannot fix shows why)",
        ),
        bind(
            &[Char('y')],
            Action::Copy,
            Some("copy"),
            "copy the details as text to the clipboard (OSC 52; over SSH too; in tmux: set -g \
             set-clipboard on)",
        ),
        bind(
            &[Char(']')],
            Action::NextEntry,
            Some("next"),
            "the next entry of the report",
        ),
        bind(
            &[Char('[')],
            Action::PreviousEntry,
            None,
            "the previous entry of the report",
        ),
        bind(
            &[Char('t')],
            Action::OpenTimeline,
            Some("timeline"),
            "this serial's timeline: every entry of it across runs and connections",
        ),
    ],
    SCROLL,
    READ_PAGE,
    &ends("top", "bottom"),
    &[
        bind(
            &[Esc, Char('q'), Char('h'), Left],
            Action::Back,
            Some("back"),
            "back to the report",
        ),
        help(&[Char('?'), F(1)]),
        quit(&[Ctrl('c')], None),
    ],
);

const PICKER: &[Binding] = table!(
    &[
        bind(
            &[Enter],
            Action::Confirm,
            Some("pick"),
            "pick the choice under the cursor; after Space, apply the checked ones",
        ),
        bind(
            &[Space],
            Action::ToggleChoice,
            Some("check"),
            "check or uncheck a choice, to pick several at once",
        ),
    ],
    MOVE,
    &ends("first choice", "last choice"),
    &[
        bind(
            &[Esc, Char('q')],
            Action::Dismiss,
            Some("cancel"),
            "close without changing anything",
        ),
        help(&[Char('?'), F(1)]),
        quit(&[Ctrl('c')], None),
    ],
);

const EXPORT: &[Binding] = &[
    bind(
        &[Enter],
        Action::FinishInput,
        Some("export"),
        "write the CSV file (never over an existing file)",
    ),
    bind(
        &[Esc],
        Action::Back,
        Some("cancel"),
        "close without exporting",
    ),
    help(&[F(1)]),
    quit(&[Ctrl('c')], None),
];

const CONTRACTS: &[Binding] = table!(
    &[
        bind(
            &[Char('c'), Right],
            Action::NextConnection,
            Some("connection"),
            "the next connection's contracts",
        ),
        bind(
            &[Left],
            Action::PreviousConnection,
            None,
            "the previous connection's contracts",
        ),
        bind(
            &[Char('/')],
            Action::Search,
            Some("search"),
            "search by serial (origin id) or target id, anywhere in it, any case",
        ),
        bind(
            &[Char('s')],
            Action::CycleSort,
            Some("sort"),
            "sort by the next column: origin id, target id, hash, last seen, last synced, action",
        ),
        bind(&[Char('S')], Action::ReverseSort, None, "reverse the sort"),
        bind(
            &[Char('d')],
            Action::DeleteContract,
            Some("delete"),
            "delete the selected contract, so the next run treats the serial as new and re-tests \
             the create path (asks first)",
        ),
        bind(
            &[Char('t')],
            Action::OpenTimeline,
            Some("timeline"),
            "the selected serial's timeline: every entry of it across runs",
        ),
        bind(&[Esc], Action::Back, None, "clear the search"),
    ],
    MOVE,
    PAGE,
    &ends("first contract", "last contract"),
    &[new_run(None)],
    &view_keys(None, None, None),
);

const CONTRACTS_SEARCH: &[Binding] = &[
    bind(
        &[Enter],
        Action::FinishInput,
        Some("search"),
        "search: serial or target id, anywhere in it, any case (empty: all)",
    ),
    LEAVE_SEARCH,
    help(&[F(1)]),
    quit(&[Ctrl('c')], Some("quit")),
];

const CONNECTIONS: &[Binding] = table!(
    &[
        bind(
            &[Enter, Char('l'), Right],
            Action::Expand,
            Some("details"),
            "open or close the connection's details: settings and the health check, step by step",
        ),
        bind(
            &[Char('H')],
            Action::CheckHealth,
            Some("health"),
            "check the connection's health: source reachable, destination reachable, credential \
             accepted (in the background; kept in the store)",
        ),
        bind(
            &[Char('D')],
            Action::ToggleDryRun,
            Some("dry run"),
            "toggle the connection's dry-run default (kept in the store as an override of the \
             configuration; runs without an explicit mode use it)",
        ),
        bind(
            &[Esc, Char('h'), Left],
            Action::Back,
            None,
            "close the details",
        ),
    ],
    MOVE,
    &ends("first connection", "last connection"),
    &[new_run(None)],
    &view_keys(None, None, None),
);

const TIMELINE: &[Binding] = table!(
    &[
        bind(
            &[Enter, Char('l'), Right],
            Action::Expand,
            Some("details"),
            "the selected entry's details (Esc comes back here)",
        ),
        bind(
            &[Char('y')],
            Action::Copy,
            Some("copy"),
            "copy the timeline as text to the clipboard (OSC 52)",
        ),
        bind(
            &[Char('k'), Up],
            Action::Up,
            None,
            "previous entry (through a tall one line by line)",
        ),
        bind(
            &[Char('j'), Down],
            Action::Down,
            None,
            "next entry (through a tall one line by line)",
        ),
    ],
    READ_PAGE,
    &ends("oldest entry", "newest entry"),
    &[
        bind(
            &[Esc, Char('q'), Char('h'), Left],
            Action::Back,
            Some("back"),
            "close the timeline (back to the details it was opened from, if any)",
        ),
        help(&[Char('?'), F(1)]),
        quit(&[Ctrl('c')], None),
    ],
);

/// The key map of a context.
pub fn bindings(context: Context) -> &'static [Binding] {
    match context {
        Context::Jobs => JOBS,
        Context::Logs => LOGS,
        Context::LogsFilter => LOGS_FILTER,
        Context::NewRun => NEW_RUN,
        Context::NewRunSerial => NEW_RUN_SERIAL,
        Context::Confirm => CONFIRM,
        Context::Help => HELP,
        Context::Report => REPORT,
        Context::ReportSearch => REPORT_SEARCH,
        Context::Details => DETAILS,
        Context::Picker => PICKER,
        Context::Export => EXPORT,
        Context::Timeline => TIMELINE,
        Context::Contracts => CONTRACTS,
        Context::ContractsSearch => CONTRACTS_SEARCH,
        Context::Connections => CONNECTIONS,
    }
}

/// What typing does in a text context, for the help.
pub fn text_note(context: Context) -> Option<&'static str> {
    match context {
        Context::LogsFilter => Some("typing edits the filter (←/→, Home/End, Backspace, Ctrl-w)"),
        Context::NewRunSerial => Some("typing edits the serial (←/→, Home/End, Backspace, Ctrl-w)"),
        Context::ReportSearch => Some("typing edits the search (←/→, Home/End, Backspace, Ctrl-w)"),
        Context::Export => Some("typing edits the file name (←/→, Home/End, Backspace, Ctrl-w)"),
        Context::ContractsSearch => {
            Some("typing edits the search (←/→, Home/End, Backspace, Ctrl-w)")
        }
        _ => None,
    }
}

/// The action a key press means in a context.
pub fn lookup(context: Context, event: &KeyEvent) -> Option<Action> {
    let key = Key::from_event(event)?;
    bindings(context)
        .iter()
        .find(|b| b.keys.contains(&key))
        .map(|b| b.action)
}

/// `j/↓`: every key of a binding.
pub fn key_names(keys: &[Key]) -> String {
    keys.iter().map(|k| k.name()).collect::<Vec<_>>().join("/")
}

/// The key bar's entries (first key, word), the pinned ones last; `fits` says whether a list
/// of entries fits the width, and entries drop from the end of the unpinned ones until it does.
pub fn bar_entries(
    context: Context,
    fits: impl Fn(&[(String, &str)]) -> bool,
) -> Vec<(String, &'static str)> {
    let mut free = Vec::new();
    let mut pinned = Vec::new();
    for binding in bindings(context) {
        let (Some(word), Some(key)) = (binding.bar, binding.keys.first()) else {
            continue;
        };
        if PINNED.contains(&binding.action) {
            pinned.push((key.name(), word));
        } else {
            free.push((key.name(), word));
        }
    }
    loop {
        let entries: Vec<(String, &'static str)> =
            free.iter().chain(pinned.iter()).cloned().collect();
        if free.is_empty() || fits(&entries) {
            return entries;
        }
        free.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, modifiers)
    }

    #[test]
    fn keys_find_their_actions() {
        let none = KeyModifiers::NONE;
        assert_eq!(
            lookup(Context::Jobs, &press(KeyCode::Char('j'), none)),
            Some(Action::Down)
        );
        assert_eq!(
            lookup(Context::Jobs, &press(KeyCode::Down, none)),
            Some(Action::Down)
        );
        assert_eq!(
            lookup(
                Context::Jobs,
                &press(KeyCode::Char('G'), KeyModifiers::SHIFT)
            ),
            Some(Action::Bottom)
        );
        assert_eq!(
            lookup(
                Context::Jobs,
                &press(KeyCode::Char('c'), KeyModifiers::CONTROL)
            ),
            Some(Action::Quit)
        );
        assert_eq!(
            lookup(Context::Jobs, &press(KeyCode::Char('c'), none)),
            Some(Action::CancelRun)
        );
        assert_eq!(
            lookup(Context::NewRun, &press(KeyCode::Char(' '), none)),
            Some(Action::ToggleChoice)
        );
        // In a text field, letters are text.
        assert_eq!(
            lookup(Context::NewRunSerial, &press(KeyCode::Char('a'), none)),
            None
        );
        assert_eq!(
            lookup(
                Context::NewRunSerial,
                &press(KeyCode::Tab, KeyModifiers::SHIFT)
            ),
            Some(Action::PreviousField)
        );
    }

    #[test]
    fn no_key_is_bound_twice_in_a_context() {
        let contexts = [
            Context::Jobs,
            Context::Logs,
            Context::LogsFilter,
            Context::NewRun,
            Context::NewRunSerial,
            Context::Confirm,
            Context::Help,
            Context::Report,
            Context::ReportSearch,
            Context::Details,
            Context::Picker,
            Context::Export,
            Context::Timeline,
            Context::Contracts,
            Context::ContractsSearch,
            Context::Connections,
        ];
        for context in contexts {
            let keys: Vec<Key> = bindings(context)
                .iter()
                .flat_map(|b| b.keys.iter().copied())
                .collect();
            for (i, key) in keys.iter().enumerate() {
                assert!(!keys[i + 1..].contains(key), "{key:?} twice in {context:?}");
            }
            if context.takes_text() {
                assert!(
                    keys.iter().all(|k| !matches!(k, Key::Char(_) | Key::Space)),
                    "a text context binds a printable key"
                );
            }
        }
    }

    #[test]
    fn the_bar_keeps_help_and_quit_when_narrow() {
        let all = bar_entries(Context::Jobs, |_| true);
        assert!(all.len() > 4);
        let narrow = bar_entries(Context::Jobs, |entries| entries.len() <= 3);
        let words: Vec<&str> = narrow.iter().map(|(_, w)| *w).collect();
        assert_eq!(words, vec!["new run", "help", "quit"]);
    }
}
