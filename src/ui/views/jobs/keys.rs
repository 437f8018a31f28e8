//! The Outbound Sync Jobs view's keys.
//! Lookup, the key bar and the help all read these tables through [`crate::ui::keymap`].

use crate::ui::action::Action;
use crate::ui::keymap::Key::*;
use crate::ui::keymap::{Binding, MOVE, PAGE, bind, cancel_run, ends, new_run, table, view_keys};

pub const JOBS: &[Binding] = table!(
    &[
        new_run(Some("new run")),
        bind(
            &[Enter, Char('l'), Right],
            Action::Expand,
            Some("expand"),
            "expand the run into its connections; on a connection row, its failed entries in \
             the sync report (its kept log lines when it has none)",
        ),
        bind(
            &[Char('E')],
            Action::OpenEntries,
            Some("entries"),
            "the selected run's entries in the sync report (the connection's, on a connection \
             row): only the failed ones when it has any",
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
            Action::FilterStatus,
            Some("status"),
            "filter runs by status (a picker): running, completed, failed, canceled, incomplete, \
             interrupted",
        ),
        bind(
            &[Char('F')],
            Action::ToggleFailuresOnly,
            Some("failures"),
            "show only failures (failed, incomplete, interrupted)",
        ),
        bind(
            &[Char('L')],
            Action::RunLogs,
            Some("run log"),
            "the selected run's warning and error lines (retries, aborts, refusals, hints), kept \
             with the run: there after any restart",
        ),
        bind(
            &[Char('D')],
            Action::Diagnose,
            Some("diagnostics"),
            "diagnostics of the selected connection run: entries by reason (no change, rule, \
             missing source field, missing destination, format error…) and the fields that \
             change most; Enter on a line opens the report on those entries",
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
