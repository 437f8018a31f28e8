//! The new-run dialog's keys, and its serial field's.
//! Lookup, the key bar and the help all read these tables through [`crate::ui::keymap`].

use crate::ui::action::Action;
use crate::ui::keymap::Key::*;
use crate::ui::keymap::{Binding, CLOSE_DIALOG, FIELDS, bind, help, quit, table};

pub const NEW_RUN: &[Binding] = table!(
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

pub const NEW_RUN_SERIAL: &[Binding] = table!(
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
