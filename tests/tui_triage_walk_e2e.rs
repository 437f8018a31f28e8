//! Issue 15 walked on the real binary in a real terminal (tmux), at 80x24 and at 160x48: a Full
//! Live run started from the dialog (it says LIVE and asks), its failures shown as failures
//! with the key that opens them, `E` and `F` into the report, the resync confirmation leaving
//! out what a retry cannot fix, the run's kept log lines (`L`), the diagnostics panel (`D`),
//! an unbound key, the help scrolled to its end, and a clean exit.

mod common;

use common::Terminal;

fn walk(width: u16, height: u16) {
    let term = Terminal::start(width, height, "demo --store {dir}/s.redb");
    term.wait_for("No runs yet");

    // Point 1: Full + Live in the dialog: the Enter line says LIVE and the start asks.
    term.keys(&["n"]);
    term.wait_for("New run");
    term.keys(&["BTab", "Right", "Tab", "Right"]);
    let dialog = term.wait_for("Enter asks first: Full LIVE on");
    assert!(dialog.contains("cmdb"), "{dialog}");
    term.keys(&["Enter"]);
    term.wait_for("start it anyway");
    term.keys(&["y"]);
    let done = term.wait_for_within("run #1 finished", 180);

    // Point 2: failures look like failures, and the next action names its key.
    assert!(done.contains("⚠ completed ·"), "{done}");
    assert!(done.contains("E opens the"), "{done}");
    assert!(!done.contains("✔ completed · "), "{done}");

    // Point 3: E opens the run's failed entries; F narrows to those a retry may fix; both
    // are in the key bar.
    term.keys(&["E"]);
    term.wait_for("run #1 · status failed");
    // The key bar (a capture may land between two rows of one frame: wait for it too).
    let report = term.wait_for("F fixable");
    let bar = report.lines().last().unwrap_or_default().to_string();
    assert!(
        bar.contains("F fixable") && bar.contains("E failed"),
        "{bar}"
    );
    term.keys(&["F"]);
    term.wait_for("failed, fixable");

    // F again: those no retry can fix; again: off.
    term.keys(&["F"]);
    term.wait_for("not syncable");
    term.keys(&["F"]);
    term.wait_for("the failure class filter is off");

    // Point 6: the resync confirmation of the filter leaves out what a retry cannot fix.
    term.keys(&["R"]);
    let confirm = term.wait_for("left out");
    assert!(confirm.contains("Resync"), "{confirm}");
    term.keys(&["Escape"]);

    // Point 4: the run's warning and error lines, kept with it.
    term.keys(&["1", "L"]);
    term.wait_for("run #1, kept with the run");
    // Its lines, below the title (waited for: a capture may land inside one frame).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let logs = term.screen();
        if logs.contains("ERROR") || logs.contains("WARN") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{logs}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }

    // Point 5: the diagnostics of the run's first connection.
    term.keys(&["1", "g", "j", "D"]);
    let panel = term.wait_for("Entries by reason");
    assert!(panel.contains("Diagnostics · run #1 · cmdb"), "{panel}");
    term.keys(&["Escape"]);

    // Point 10: a key bound to nothing says so; the help scrolls to its end with G.
    term.keys(&["z"]);
    term.wait_for("z does nothing here · ? help");
    term.keys(&["?"]);
    term.wait_for("Help · Outbound Sync Jobs");
    term.keys(&["G"]);
    // The help's last binding on screen (at 80x24 only after scrolling).
    term.wait_for("quit (asks first while a run is going)");
    term.keys(&["Escape", "q"]);
    assert_eq!(term.exit_code(), 0, "{}", term.screen());
    term.assert_restored();
}

#[test]
fn the_triage_walk_at_80x24() {
    walk(80, 24);
}

#[test]
fn the_triage_walk_at_160x48() {
    walk(160, 48);
}
