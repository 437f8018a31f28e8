//! The Logs view's keys, and its filter field's.
//! Lookup, the key bar and the help all read these tables through [`crate::ui::keymap`].

use crate::ui::action::Action;
use crate::ui::keymap::Key::*;
use crate::ui::keymap::{
    Binding, PAGE, bind, cancel_run, card_failures, card_logs, help, new_run, quit, table,
    view_keys,
};

pub const LOGS: &[Binding] = table!(
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
        card_failures(Some("failed")),
        card_logs(),
        cancel_run(Some("cancel")),
    ],
    &view_keys(Some("jobs"), None, Some("report")),
);

pub const LOGS_FILTER: &[Binding] = &[
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
