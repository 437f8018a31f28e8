//! Issue 15's keys on the real binary in a real terminal (tmux), at 80x24: a Full Dry run of
//! cmdb started from the dialog (Dry chosen for the step), `D` on its connection row opens the
//! diagnostics, Enter on a reason opens the report filtered to it, and the connection picker
//! counts its choices and takes type-ahead.

mod common;

use common::Terminal;

#[test]
fn diagnostics_lead_from_a_dry_run_to_its_entries_at_80x24() {
    let term = Terminal::start(80, 24, "demo --store {dir}/s.redb");
    term.wait_for("No runs yet");

    // cmdb only, Full; Dry is already chosen (the step is Single Dry).
    term.keys(&["n"]);
    term.wait_for("New run");
    term.keys(&["BTab", "BTab"]);
    term.wait_for("▸ Connections");
    term.keys(&["j", "Space", "j", "Space", "j", "Space", "Tab", "Right"]);
    term.wait_for("Enter starts: Full Dry on cmdb");
    term.keys(&["Enter"]);
    term.wait_for_within("run #1 finished", 120);

    // The run's cmdb row, D: the panel, counted by reason.
    term.keys(&["Enter", "j", "D"]);
    let panel = term.wait_for("Entries by reason");
    assert!(
        panel.contains("Diagnostics · run #1 · cmdb (Dry)"),
        "{panel}"
    );
    assert!(panel.contains("would update"), "{panel}");
    let panel = term.wait_for("Fields that would change most");
    assert!(panel.contains("Enter open in report"), "{panel}");

    // Enter on the first line (the most entries): the report on exactly those.
    term.keys(&["Enter"]);
    let report = term.wait_for("filters: run #1 · connection cmdb · outcome");
    assert!(report.contains("Sync report"), "{report}");
    assert!(!report.contains("Entries by reason"), "{report}");

    // The connection picker counts within the other filters; "cm" types ahead to cmdb.
    term.keys(&["C"]);
    term.wait_for("Filter: connection");
    term.keys(&["c", "m"]);
    let picker = term.wait_for("type to find");
    let line = picker
        .lines()
        .find(|l| l.contains("] registry"))
        .unwrap_or_else(|| panic!("{picker}"));
    assert!(
        line.contains(" 0 "),
        "registry has none of run #1's entries: {line}"
    );
    term.keys(&["Enter"]);
    term.wait_for("connection cmdb");

    term.keys(&["q"]);
    assert_eq!(term.exit_code(), 0);
    term.assert_restored();
}
