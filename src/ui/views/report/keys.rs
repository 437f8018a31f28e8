//! The sync report's keys, and those of what opens over it: its search field, the entry details,
//! the pickers, the export prompt and the serial timeline.
//! Lookup, the key bar and the help all read these tables through [`crate::ui::keymap`].

use crate::ui::action::Action;
use crate::ui::keymap::Key::*;
use crate::ui::keymap::{
    Binding, LEAVE_SEARCH, MOVE, PAGE, READ_PAGE, SCROLL, bind, cancel_run, card_failures,
    card_logs, ends, help, new_run, quit, table, view_keys,
};

pub const REPORT: &[Binding] = table!(
    &[
        bind(
            &[Enter, Char('l'), Right],
            Action::Expand,
            Some("details"),
            "the entry's details: why it failed, the hint, attempts, field diff, contract; resync",
        ),
        bind(
            &[Char('F')],
            Action::FilterFixable,
            Some("fixable"),
            "failed, fixable: only the failed entries a retry may fix; again: the not syncable \
             ones (missing source or destination, drifted, rule, format, 4xx); again: off",
        ),
        card_failures(Some("failed")),
        card_logs(),
        bind(
            &[Char('R')],
            Action::Resync,
            Some("resync"),
            "resync the selected entries; with none selected, every failed entry in the filter \
             (asks first, stating the count and connections)",
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

pub const REPORT_SEARCH: &[Binding] = &[
    bind(
        &[Enter],
        Action::FinishInput,
        Some("keep"),
        "keep the search (the list filters as you type): an exact sync id (12345 or #12345), a \
         serial prefix or a system substring",
    ),
    LEAVE_SEARCH,
    help(&[F(1)]),
    quit(&[Ctrl('c')], Some("quit")),
];

pub const DETAILS: &[Binding] = table!(
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

pub const EXPORT: &[Binding] = &[
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

pub const TIMELINE: &[Binding] = table!(
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
