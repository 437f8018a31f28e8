//! The keys of the confirmation, the help overlay, the diagnostics panel and the picker.
//! Lookup, the key bar and the help all read these tables through [`crate::ui::keymap`].

use crate::ui::action::Action;
use crate::ui::keymap::Key::*;
use crate::ui::keymap::{Binding, MOVE, READ_PAGE, SCROLL, bind, ends, help, quit, table};

pub const CONFIRM: &[Binding] = &[
    bind(&[Char('y'), Enter], Action::Confirm, Some("yes"), "do it"),
    bind(
        &[Char('n'), Esc],
        Action::Dismiss,
        Some("no"),
        "back, without doing it",
    ),
    quit(&[Ctrl('c')], None),
];

pub const HELP: &[Binding] = table!(
    &[bind(
        &[Esc, Char('?'), Char('q'), F(1)],
        Action::Back,
        Some("close"),
        "close the help",
    )],
    SCROLL,
    READ_PAGE,
    &ends("top of the help", "end of the help"),
    &[quit(&[Ctrl('c')], None)],
);

pub const DIAGNOSTICS: &[Binding] = table!(
    &[
        bind(
            &[Enter],
            Action::Expand,
            Some("open in report"),
            "open the sync report on the entries of the line under the cursor",
        ),
        bind(&[Esc], Action::Back, Some("close"), "close the diagnostics"),
    ],
    MOVE,
    &ends("first line", "last line"),
    &[help(&[Char('?'), F(1)]), quit(&[Ctrl('c')], None)],
);

/// The picker: the report's filters and sort, the jobs' status filter, the contracts' sort.
/// Every letter and digit is type-ahead.
pub const PICKER: &[Binding] = &[
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
    // Letters find a choice (type-ahead: "jamf", "kandji", "qualys" too), so moving is by
    // the arrows and the page keys alone.
    bind(&[Up], Action::Up, None, "move up"),
    bind(&[Down], Action::Down, None, "move down"),
    bind(&[Home, PageUp], Action::Top, None, "first choice"),
    bind(&[End, PageDown], Action::Bottom, None, "last choice"),
    bind(
        &[Esc],
        Action::Dismiss,
        Some("cancel"),
        "close without changing anything",
    ),
    help(&[F(1)]),
    quit(&[Ctrl('c')], None),
];
