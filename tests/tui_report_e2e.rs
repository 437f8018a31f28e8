//! The sync report in the real binary in a real terminal (tmux), driven as on-call staff would:
//! a Full Live run on `syncdeck demo`, the report filtered to Failed, one serial searched and
//! its details read, a mass resync, and an export checked against `syncdeck report`.
//!
//! MDM's failed entries are Missing Destination (refused: MDM has no create contract) and the
//! devices caught in the demo MDM's maintenance outage (503 to their first 6 writes, more than
//! the run's 5 attempts): all failed MDM entries are selected, mass resynced (the outage is over
//! by then) and turn OK, the Missing Destination ones left out with the reason. The registry's
//! are 400 INVALID_CONTENT (an unknown site: bad source data) and Missing Source: no retry can
//! fix them, so its mass resync is refused with the reasons and sends nothing.

use std::process::Command;
use std::time::{Duration, Instant};

use syncdeck::demo::{DemoOptions, Fleet};
use syncdeck::store::{EntryStatus, ReportFilter, RunType, Store, StoreOptions};

mod common;

use common::Terminal;

/// The report's entry rows on screen (the lines with a checkbox).
fn rows(screen: &str) -> Vec<&str> {
    screen
        .lines()
        .filter(|l| l.starts_with("│[ ]") || l.starts_with("│[x]"))
        .collect()
}

/// The first word of a row that looks like a demo serial.
fn serial(row: &str) -> String {
    row.split_whitespace()
        .find(|w| w.starts_with("SD-"))
        .unwrap_or_else(|| panic!("no serial in {row:?}"))
        .to_string()
}

/// "showing N of M": N.
fn showing(screen: &str) -> u64 {
    let at = screen
        .find("showing ")
        .unwrap_or_else(|| panic!("no count line:\n{screen}"));
    screen[at + "showing ".len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .replace(',', "")
        .parse()
        .unwrap_or_else(|_| panic!("no count yet:\n{screen}"))
}

/// Waits until the count line under `filters` reads `n`.
fn counted_to(term: &Terminal, filters: &str, n: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (screen, now) = counted(term, filters);
        if now == n {
            return screen;
        }
        assert!(
            Instant::now() < deadline,
            "the count stays at {now}, not {n}:\n{screen}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Serials of the `syncdeck demo` fleet the MDM lacks, and those in its maintenance outage.
fn mdm_missing_and_outage() -> (Vec<String>, Vec<String>) {
    let opts = DemoOptions::default();
    let fleet = Fleet::new(opts.fleet_size, opts.seed);
    let (mut missing, mut outage) = (Vec::new(), Vec::new());
    for index in 0..fleet.len() {
        let traits = fleet.traits(index).unwrap();
        if traits.mdm.missing {
            missing.push(Fleet::serial(index));
        }
        if traits.mdm_outage {
            outage.push(Fleet::serial(index));
        }
    }
    (missing, outage)
}

/// Waits until the count line has a number (the count runs in the background).
fn counted(term: &Terminal, filters: &str) -> (String, u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let screen = term.screen();
        if screen.contains(filters)
            && !screen.contains("showing …")
            && !screen.contains("counting…")
            && screen.contains("showing ")
        {
            let n = showing(&screen);
            return (screen, n);
        }
        assert!(
            Instant::now() < deadline,
            "no count for {filters:?}:\n{screen}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn on_call_finds_explains_resyncs_and_exports_the_failures() {
    let term = Terminal::start(100, 30, "demo --store {dir}/s.redb");
    term.wait_for("No runs yet");

    // A Full Live run through the dialog; the safety gate asks (no clean Full Dry run yet).
    term.keys(&["n"]);
    term.wait_for("New run");
    term.keys(&["BTab", "Right", "Tab", "Right"]);
    term.wait_for("Enter asks for an explicit confirmation");
    term.keys(&["Enter"]);
    term.wait_for("Start a Full Live run anyway?");
    term.keys(&["y"]);
    term.wait_for("▶ running");
    term.wait_for_within("run #1 finished", 120);

    // The report, filtered to Failed, then to the registry: read one 400's serial.
    term.keys(&["3"]);
    term.wait_for("Sync report");
    term.keys(&["f"]);
    term.wait_for("Filter: status");
    term.keys(&["Down", "Down", "Down", "Down", "Enter"]);
    let (_, failed) = counted(&term, "filters: status failed");
    assert!(failed > 0);
    term.keys(&["C"]);
    term.wait_for("Filter: connection");
    // The cursor starts on the entry's connection; typing a name finds another.
    term.keys(&["r", "e", "Enter"]);
    let (screen, registry_failed) = counted(&term, "connection registry");
    assert!(registry_failed > 0 && registry_failed < failed, "{screen}");
    let row = rows(&screen)
        .into_iter()
        .find(|r| r.contains(" error "))
        .unwrap_or_else(|| panic!("no registry error on screen:\n{screen}"))
        .to_string();
    let serial = serial(&row);

    // Esc clears the last filter (the connection); search the serial among all failures.
    term.keys(&["Escape"]);
    counted(&term, "filters: status failed  ");
    term.keys(&["/"]);
    term.wait_for("search: ");
    term.type_text(&serial);
    term.keys(&["Enter"]);
    let (screen, found) = counted(&term, &format!("search \"{serial}\""));
    assert!(found >= 1, "{screen}");
    let position = rows(&screen)
        .iter()
        .position(|r| r.contains(&serial) && r.contains("registry"))
        .unwrap_or_else(|| panic!("{serial} on registry not found:\n{screen}"));
    for _ in 0..position {
        term.keys(&["j"]);
    }
    term.keys(&["Enter"]);
    let details = term.wait_for(&format!("· {serial} · registry"));
    assert!(details.contains("400 · INVALID_CONTENT"), "{details}");
    let hint = details
        .lines()
        .find(|l| l.contains("│ hint "))
        .unwrap_or_else(|| panic!("no hint:\n{details}"));
    // The registry names the field it refused, which the mapping takes from the source: the
    // hint blames the source data, not the mapping.
    assert!(hint.contains("bad source data"), "{details}");
    assert!(
        details.contains("request     PUT http://127.0.0.1:"),
        "{details}"
    );
    // y copies the details through OSC 52; tmux keeps them as a paste buffer.
    term.tmux(&["set", "-g", "set-clipboard", "on"]);
    term.keys(&["y"]);
    term.wait_for("copied the details");
    let copied = term.tmux(&["show-buffer"]);
    assert!(copied.starts_with("Entry #"), "{copied}");
    assert!(
        copied.contains("hint        bad source data: the destination refused the value of site"),
        "{copied}"
    );
    term.keys(&["Escape"]);
    term.wait_for(&format!("search \"{serial}\""));

    // Every failed MDM entry: the unenrolled (Missing Destination, no create contract) and the
    // maintenance outage's 503s. All selected, mass resync: the outage's entries turn OK.
    let (mdm_missing, outage) = mdm_missing_and_outage();
    assert!(outage.len() >= 3, "{outage:?}");
    term.keys(&["Escape"]);
    counted(&term, "filters: status failed  ");
    term.keys(&["C"]);
    term.wait_for("Filter: connection");
    term.keys(&["m", "d", "Enter"]);
    let (_, mdm_failed) = counted(&term, "connection mdm");
    assert_eq!(mdm_failed, (mdm_missing.len() + outage.len()) as u64);
    term.keys(&["a"]);
    term.wait_for(&format!("· {mdm_failed} selected"));
    term.keys(&["R"]);
    let confirm = term.wait_for("y resync   n/Esc back");
    assert!(
        confirm.contains(&format!("Resync {} entries?", outage.len())),
        "{confirm}"
    );
    assert!(
        confirm.contains(&format!("• mdm: {} entries", outage.len())),
        "{confirm}"
    );
    assert!(
        confirm.contains(&format!(
            "left out: {} missing destination",
            mdm_missing.len()
        )),
        "{confirm}"
    );
    term.keys(&["y"]);
    let done = term.wait_for_within("resync run #2: ", 60);
    assert!(
        done.contains(&format!("{n} of {n} entries now OK", n = outage.len())),
        "the outage is over:\n{done}"
    );
    // On screen: the failed MDM entries are now only the unenrolled ones.
    let screen = counted_to(&term, "connection mdm", mdm_missing.len() as u64);
    for serial in &outage {
        assert!(!screen.contains(serial.as_str()), "{serial}:\n{screen}");
    }
    term.keys(&["A"]);
    term.wait_for("· 0 selected");

    // The registry's failures: an unknown site (400 INVALID_CONTENT: the source's data) and
    // Missing Source. No retry can fix either: R says so and sends nothing.
    term.keys(&["C"]);
    term.wait_for("Filter: connection");
    term.keys(&["r", "e", "Enter"]);
    let (_, registry) = counted(&term, "connection registry");
    assert_eq!(registry, registry_failed);
    term.keys(&["a"]);
    term.wait_for(&format!("· {registry} selected"));
    term.keys(&["R"]);
    let refused = term.wait_for("nothing to resync");
    assert!(
        refused.contains(&format!("nothing to resync: {registry} entries refused")),
        "{refused}"
    );
    assert!(
        refused.contains("rejected payload (400)") || refused.contains("a retry cannot fix it"),
        "{refused}"
    );
    // The Resync run of the MDM is in the jobs history, and no other.
    term.keys(&["1"]);
    term.wait_for("#2 Resync Live");
    assert!(!term.screen().contains("#3 Resync"), "{}", term.screen());
    term.keys(&["3"]);

    // Export the filter (failed, registry) to a CSV file named in the prompt.
    let csv = term.file("failed-registry.csv");
    term.keys(&["e"]);
    term.wait_for("Export to CSV");
    term.keys(&["C-u"]);
    term.type_text(&csv.display().to_string());
    term.keys(&["Enter"]);
    term.wait_for(&format!("exported {registry} entries to"));
    term.keys(&["q"]);
    assert_eq!(term.exit_code(), 0);

    // The same filters headless, on the same store (syncdeck has exited: one process a store).
    let config = term.file("config.toml");
    std::fs::write(
        &config,
        syncdeck::demo::config_for("127.0.0.1:9".parse().unwrap()),
    )
    .unwrap();
    let mut report = Command::new(env!("CARGO_BIN_EXE_syncdeck"));
    report
        .args(["--config", &config.display().to_string()])
        .args(["--store", &term.file("s.redb").display().to_string()])
        .args(["report", "--status", "failed", "--connection", "registry"])
        .args(["--format", "csv"])
        .env("XDG_STATE_HOME", term.file("state"))
        .env("XDG_DATA_HOME", term.file("data"));
    for (name, value) in syncdeck::demo::demo_secrets() {
        report.env(name, value);
    }
    let out = report.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let headless = String::from_utf8(out.stdout).unwrap();
    let exported = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(exported.lines().count() as u64, registry + 1, "{exported}");
    assert_eq!(
        exported, headless,
        "the export and `syncdeck report` differ"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&csv).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // The store agrees: the resynced entries kept their first failure and gained a try.
    let store = Store::open(term.file("s.redb"), StoreOptions::default()).unwrap();
    let runs = store.list_runs(None, 5).unwrap();
    assert_eq!(runs[0].run_type, RunType::Resync);
    let entries = store
        .report_page(
            &ReportFilter {
                statuses: vec![EntryStatus::Failed],
                connections: vec!["registry".into()],
                ..ReportFilter::default()
            },
            Default::default(),
            0,
            10_000,
        )
        .unwrap();
    // Nothing of the registry was retried.
    assert_eq!(entries.len() as u64, registry);
    assert!(entries.iter().all(|e| e.attempts.len() <= 1), "{entries:?}");

    // The MDM's outage entries: OK now, their 503s kept in the attempt history.
    let mdm = store
        .report_page(
            &ReportFilter {
                connections: vec!["mdm".into()],
                ..ReportFilter::default()
            },
            Default::default(),
            0,
            10_000,
        )
        .unwrap();
    for serial in &outage {
        let entries: Vec<_> = mdm.iter().filter(|e| &e.reference == serial).collect();
        assert_eq!(entries.len(), 1, "{serial}: {entries:?}");
        let entry = entries[0];
        assert_eq!(entry.status, EntryStatus::Ok, "{entry:?}");
        assert!(entry.error.is_none(), "{entry:?}");
        let statuses: Vec<_> = entry.attempts.iter().map(|a| a.http_status).collect();
        assert_eq!(statuses.last(), Some(&Some(202)), "{serial}: {statuses:?}");
        let before = &statuses[..statuses.len() - 1];
        let unavailable = before.iter().filter(|s| **s == Some(503)).count();
        let throttled = before.iter().filter(|s| **s == Some(429)).count();
        assert_eq!(
            unavailable,
            syncdeck::demo::MDM_OUTAGE_WRITES as usize,
            "{serial}: {statuses:?}"
        );
        assert!(throttled <= 1, "{serial}: {statuses:?}");
        assert_eq!(
            before.len(),
            unavailable + throttled,
            "{serial}: {statuses:?}"
        );
    }
    let still_failed = mdm
        .iter()
        .filter(|e| e.status == EntryStatus::Failed)
        .map(|e| e.reference.clone())
        .collect::<Vec<_>>();
    let mut still_failed = still_failed;
    still_failed.sort();
    assert_eq!(still_failed, mdm_missing);
}
