//! The Connections view's keys.
//! Lookup, the key bar and the help all read these tables through [`crate::ui::keymap`].

use crate::ui::action::Action;
use crate::ui::keymap::Key::*;
use crate::ui::keymap::{
    Binding, MOVE, bind, cancel_run, card_logs, ends, new_run, table, view_keys,
};

pub const CONNECTIONS: &[Binding] = table!(
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
            &[Char('E')],
            Action::OpenEntries,
            Some("failed"),
            "the connection's last run in the sync report: its failed entries when it has any",
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
    &[new_run(None), cancel_run(None), card_logs()],
    &view_keys(None, None, None),
);
