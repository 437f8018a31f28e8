//! The keys of the confirmation and of the help overlay.
//! Lookup, the key bar and the help all read these tables through [`crate::ui::keymap`].

use crate::ui::action::Action;
use crate::ui::keymap::Key::*;
use crate::ui::keymap::{Binding, SCROLL, bind, quit, table};

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
    &[quit(&[Ctrl('c')], None)],
);
