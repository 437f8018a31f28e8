//! The Contracts view's keys, and its search field's.
//! Lookup, the key bar and the help all read these tables through [`crate::ui::keymap`].

use crate::ui::action::Action;
use crate::ui::keymap::Key::*;
use crate::ui::keymap::{
    Binding, LEAVE_SEARCH, MOVE, PAGE, bind, card_failures, card_logs, ends, help, new_run, quit,
    table, view_keys,
};

pub const CONTRACTS: &[Binding] = table!(
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
            Action::PickSort,
            Some("sort"),
            "sort by a column (a picker): origin id, target id, hash, last seen, last synced, action",
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
    &[new_run(None), card_failures(None), card_logs()],
    &view_keys(None, None, None),
);

pub const CONTRACTS_SEARCH: &[Binding] = &[
    bind(
        &[Enter],
        Action::FinishInput,
        Some("keep"),
        "keep the search (the list filters as you type): serial or target id, anywhere in it, \
         any case (empty: all)",
    ),
    LEAVE_SEARCH,
    help(&[F(1)]),
    quit(&[Ctrl('c')], Some("quit")),
];
