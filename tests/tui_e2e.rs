//! The real binary in a real terminal (tmux): `syncdeck demo` driven by keys as an operator would,
//! read back from the screen; and the terminal given back after `q` and after SIGHUP.

use std::process::Command;

use syncdeck::store::{RunStatus, Store, StoreOptions};

mod common;

use common::Terminal;

/// The numbers on the line under the first diagnostics header after `anchor`.
fn counters_after(screen: &str, anchor: &str) -> Vec<u64> {
    let lines: Vec<&str> = screen.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.contains(anchor))
        .unwrap_or_else(|| panic!("{anchor} not on screen:\n{screen}"));
    let header = (start..lines.len())
        .find(|&i| lines[i].contains("Would Update"))
        .unwrap_or_else(|| panic!("no diagnostics under {anchor}:\n{screen}"));
    lines[header + 1]
        .split(|c: char| !c.is_ascii_digit() && c != ',')
        .filter(|w| !w.is_empty())
        .map(|w| w.replace(',', "").parse().unwrap())
        .collect()
}

/// "canceled: N of M processed" → (N, M).
fn canceled_counts(screen: &str) -> (u64, u64) {
    let at = screen
        .find("canceled: ")
        .unwrap_or_else(|| panic!("no cancel note:\n{screen}"));
    let words: Vec<&str> = screen[at + "canceled: ".len()..]
        .split_whitespace()
        .take(3)
        .collect();
    assert_eq!(words[1], "of", "{screen}");
    // Counted with separators: "canceled: 1,204 of 2,400 processed".
    let number = |word: &str| word.replace(',', "").parse().unwrap();
    (number(words[0]), number(words[2]))
}

#[test]
fn an_operator_runs_single_dry_then_cancels_a_full_dry_and_quits() {
    let term = Terminal::start(100, 30, "demo");
    term.wait_for("No runs yet");

    // Single + Dry of one serial through the dialog: type the serial, Tab to Mode, Dry, start.
    term.keys(&["n"]);
    term.wait_for("New run");
    term.type_text("SD-000042");
    term.keys(&["Tab"]);
    let dialog = term.wait_for("Enter starts: Single Dry");
    assert!(dialog.contains("SD-000042"), "{dialog}");
    term.keys(&["Enter"]);
    let screen = term.wait_for("Single Dry · ✔ completed");
    // The finished run is expanded: each connection processed its one record.
    for connection in ["1. cmdb", "2. registry", "3. mdm"] {
        let counters = counters_after(&screen, connection);
        assert_eq!(counters.len(), 5, "{connection}: {counters:?}\n{screen}");
        assert_eq!(counters.iter().sum::<u64>(), 1, "{connection}:\n{screen}");
    }
    assert!(screen.contains("1 of 1"), "{screen}");

    // Full + Dry over every connection, canceled mid-run.
    term.keys(&["n"]);
    term.wait_for("New run");
    // The next step is Single Live, so Live is chosen: Left to Dry.
    term.keys(&["BTab", "BTab", "Tab", "Right", "Tab", "Left"]);
    term.wait_for("Enter starts: Full Dry on cmdb, registry, mdm, cmdb-wrong-method");
    term.keys(&["Enter"]);
    term.wait_for("▶ running");
    term.wait_for("now registry");
    // Canceled once registry has processed records: midway, whatever the machine's load.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let screen = term.screen();
        let line = screen.lines().find(|l| l.contains("now registry"));
        if line.is_some_and(|l| !l.contains(") 0 of")) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{screen}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    term.keys(&["c"]);
    term.wait_for("Cancel the run?");
    term.keys(&["y"]);
    // The run's end (not a connection's note, which comes before it).
    let screen = term.wait_for("finished: canceled");
    let (processed, total) = canceled_counts(&screen);
    assert!(
        processed > 0 && processed < total,
        "{processed} of {total}\n{screen}"
    );

    // The demo's scratch store holds two runs: q asks before they go with it.
    term.keys(&["q"]);
    let screen = term.wait_for("Quit the demo and drop its history?");
    assert!(
        screen.contains("2 runs and their report entries"),
        "{screen}"
    );
    assert!(screen.contains("syncdeck demo --store PATH"), "{screen}");
    term.keys(&["Escape"]);
    // Esc backs out: the question is gone and the demo still runs.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while term.screen().contains("Quit the demo") {
        assert!(std::time::Instant::now() < deadline, "{}", term.screen());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    term.keys(&["q"]);
    term.wait_for("Quit the demo and drop its history?");
    term.keys(&["y"]);
    assert_eq!(term.exit_code(), 0);
    term.assert_restored();
}

#[cfg(unix)]
#[test]
fn sighup_mid_run_records_the_run_and_gives_the_terminal_back() {
    // `--store` keeps the demo's store after exit so the test can read what was recorded.
    let term = Terminal::start(80, 24, "demo --store {dir}/demo.redb");
    let store_path = term.file("demo.redb");
    let screen = term.wait_for("No runs yet");
    assert!(
        !screen.contains("too small"),
        "80x24 is big enough:\n{screen}"
    );
    term.keys(&["n"]);
    term.wait_for("New run");
    term.keys(&["BTab", "BTab", "Tab", "Right", "Tab", "Enter"]);
    term.wait_for("▶ running");
    let pid = term.pid();
    let status = Command::new("kill").args(["-HUP", &pid]).status().unwrap();
    assert!(status.success());
    assert_eq!(term.exit_code(), 129, "128 + SIGHUP");
    term.assert_restored();

    let store = Store::open(&store_path, StoreOptions::default()).unwrap();
    let runs = store.list_runs(None, 10).unwrap();
    assert_eq!(runs.len(), 1);
    assert!(
        matches!(runs[0].status, RunStatus::Canceled | RunStatus::Interrupted),
        "{:?}",
        runs[0].status
    );
    assert!(store.recovery().is_empty() || runs[0].status == RunStatus::Interrupted);
}
