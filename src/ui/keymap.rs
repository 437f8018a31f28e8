//! The key machinery: keys, contexts, bindings and the pieces the tables share. The tables
//! themselves live beside their views and overlays (`views/*/keys.rs`, `overlays/keys.rs`,
//! `overlays/new_run/keys.rs`); [`crate::ui::app::keys`] says which table a context reads. Key
//! lookup, the key bar and the help overlay all read those tables, so the help can never
//! disagree with what the keys do.

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
    /// The diagnostics panel of one connection run.
    Diagnostics,
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
            Context::Diagnostics => "Diagnostics",
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

pub const fn bind(
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
        const PARTS: &[&[$crate::ui::keymap::Binding]] = &[$($part),+];
        const TABLE: [$crate::ui::keymap::Binding; $crate::ui::keymap::joined_len(PARTS)] =
            $crate::ui::keymap::join(PARTS);
        &TABLE
    }};
}
pub(crate) use table;

pub const fn joined_len(parts: &[&[Binding]]) -> usize {
    let mut len = 0;
    let mut i = 0;
    while i < parts.len() {
        len += parts[i].len();
        i += 1;
    }
    len
}

pub const fn join<const N: usize>(parts: &[&[Binding]]) -> [Binding; N] {
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

pub const fn help(keys: &'static [Key]) -> Binding {
    bind(keys, Action::Help, Some("help"), "this help")
}

pub const fn quit(keys: &'static [Key], bar: Option<&'static str>) -> Binding {
    bind(
        keys,
        Action::Quit,
        bar,
        "quit (asks first while a run is going)",
    )
}

pub const fn new_run(bar: Option<&'static str>) -> Binding {
    bind(&[Char('n')], Action::NewRun, bar, "open the new-run dialog")
}

pub const fn cancel_run(bar: Option<&'static str>) -> Binding {
    bind(
        &[Char('c')],
        Action::CancelRun,
        bar,
        "cancel the run going, here or in another process (asks first)",
    )
}

/// `E` outside the jobs view: the failed entries of the run the card shows (its "next"
/// names the key).
pub const fn card_failures(bar: Option<&'static str>) -> Binding {
    bind(
        &[Char('E')],
        Action::OpenEntries,
        bar,
        "the failed entries of the run on the card (the last run) in the sync report",
    )
}

/// `L` outside the jobs view: the kept log lines of the run the card shows.
pub const fn card_logs() -> Binding {
    bind(
        &[Char('L')],
        Action::RunLogs,
        None,
        "the warning and error lines the run on the card kept (the last run), in Logs",
    )
}

/// `g` and `G`: the first and the last row, in each list's own words.
pub const fn ends(top: &'static str, bottom: &'static str) -> [Binding; 2] {
    [
        bind(&[Char('g'), Home], Action::Top, None, top),
        bind(&[Char('G'), End], Action::Bottom, None, bottom),
    ]
}

/// How every view's table ends: the view switches (the words put some of them in the key bar),
/// then help and quit.
pub const fn view_keys(
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
pub const MOVE: &[Binding] = &[
    bind(&[Char('k'), Up], Action::Up, None, "move up"),
    bind(&[Char('j'), Down], Action::Down, None, "move down"),
];

/// Paging through a list.
pub const PAGE: &[Binding] = &[
    bind(&[PageUp], Action::PageUp, None, "page up"),
    bind(&[PageDown], Action::PageDown, None, "page down"),
];

/// Scrolling a text.
pub const SCROLL: &[Binding] = &[
    bind(&[Char('k'), Up], Action::Up, None, "scroll up"),
    bind(&[Char('j'), Down], Action::Down, None, "scroll down"),
];

/// Paging a text, where Space pages down too.
pub const READ_PAGE: &[Binding] = &[
    bind(&[PageUp], Action::PageUp, None, "page up"),
    bind(&[PageDown, Space], Action::PageDown, None, "page down"),
];

/// Leaving a search field without changing the search.
pub const LEAVE_SEARCH: Binding = bind(
    &[Esc],
    Action::Back,
    Some("cancel"),
    "leave the field, the search put back as it was before",
);

/// Moving between the new-run dialog's fields.
pub const FIELDS: &[Binding] = &[
    bind(&[Tab], Action::NextField, Some("next field"), "next field"),
    bind(&[BackTab], Action::PreviousField, None, "previous field"),
];

pub const CLOSE_DIALOG: Binding = bind(
    &[Esc],
    Action::CloseDialog,
    Some("close"),
    "close without starting",
);

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

/// The action a key press means in a key table.
pub fn lookup(bindings: &[Binding], event: &KeyEvent) -> Option<Action> {
    let key = Key::from_event(event)?;
    bindings
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
    bindings: &[Binding],
    fits: impl Fn(&[(String, &str)]) -> bool,
) -> Vec<(String, &'static str)> {
    let mut free = Vec::new();
    let mut pinned = Vec::new();
    for binding in bindings {
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
