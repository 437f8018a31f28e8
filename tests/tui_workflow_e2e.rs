//! The recommended workflow in the real binary in a real terminal (tmux), on the `cmdb`
//! connection of `syncdeck demo`: Single Dry of a serial the CMDB holds stale, Single Live of
//! the same serial, Full Dry, then `p` to apply that Full Dry's plan; the counters read from the
//! screen at each step, checked against what the demo fleet says and against the store once the
//! TUI has exited. Walked at 100x30 and again at 80x24, the smallest size the product promises.
//!
//! The Single Live already fixed one record, so the Full Dry's plan (and the Apply run) has one
//! record fewer than the fleet's stale CMDB records.

use std::collections::BTreeSet;

use syncdeck::demo::{DemoOptions, Fleet};
use syncdeck::store::{
    EntryQuery, EntryStatus, Outcome, ReportEntry, RunMode, RunStatus, RunType, Store, StoreOptions,
};

mod common;

use common::Terminal;

/// What the default demo fleet (the one `syncdeck demo` serves) holds for the CMDB.
struct CmdbFleet {
    /// The first device with a status whose CMDB record exists and is stale.
    stale_serial: String,
    size: u64,
    would_update: u64,
    skipped: u64,
    missing_source: u64,
    missing_destination: u64,
}

/// Counts as engine_run.rs does: no status → Missing Source (a required field), then the CMDB's
/// missing records, then stale ones (would update) and the rest (skipped, no change).
fn cmdb_fleet() -> CmdbFleet {
    let opts = DemoOptions::default();
    let fleet = Fleet::new(opts.fleet_size, opts.seed);
    let mut stale = Vec::new();
    let (mut skipped, mut missing_source, mut missing_destination) = (0, 0, 0);
    for index in 0..fleet.len() {
        let device = fleet.device(index).unwrap();
        let traits = fleet.traits(index).unwrap();
        if device.status.is_none() {
            missing_source += 1;
        } else if traits.cmdb.missing {
            missing_destination += 1;
        } else if traits.cmdb.stale_fields.is_empty() {
            skipped += 1;
        } else {
            stale.push(device.serial);
        }
    }
    CmdbFleet {
        stale_serial: stale[0].clone(),
        size: fleet.len() as u64,
        would_update: stale.len() as u64,
        skipped,
        missing_source,
        missing_destination,
    }
}

/// 2400 → "2,400", as the screen writes counts.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The numbers of one screen line ("1,612" read as 1612).
fn numbers(line: &str) -> Vec<u64> {
    line.split(|c: char| !c.is_ascii_digit() && c != ',')
        .map(|w| w.replace(',', ""))
        .filter(|w| !w.is_empty())
        .map(|w| w.parse().unwrap())
        .collect()
}

/// The counters on the line under the first `header` line after the line holding `anchor`.
fn counters_after(screen: &str, anchor: &str, header: &str) -> Vec<u64> {
    let lines: Vec<&str> = screen.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.contains(anchor))
        .unwrap_or_else(|| panic!("{anchor:?} not on screen:\n{screen}"));
    let at = (start..lines.len())
        .find(|&i| lines[i].contains(header))
        .unwrap_or_else(|| panic!("no {header:?} under {anchor:?}:\n{screen}"));
    let counters = numbers(lines.get(at + 1).copied().unwrap_or_default());
    assert_eq!(counters.len(), header_width(header), "{anchor}:\n{screen}");
    counters
}

/// Dry rows have 5 counters (Would Update, Skipped, Missing Source, Missing Destination,
/// Errors); live rows 8 (Updated, Created, Skipped, Missing Source, Missing Destination, Failed,
/// Not syncable, Pending).
fn header_width(header: &str) -> usize {
    if header == DRY { 5 } else { 8 }
}

const DRY: &str = "Would Update";
// One space between the labels where two do not fit (an 80-column connection row).
const LIVE: &str = "Updated ";

/// "fetched F · new N · changed C · unchanged U" under `anchor`: [F, N, C, U].
fn totals_after(screen: &str, anchor: &str) -> Vec<u64> {
    let lines: Vec<&str> = screen.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.contains(anchor))
        .unwrap_or_else(|| panic!("{anchor:?} not on screen:\n{screen}"));
    let line = lines[start..]
        .iter()
        .find(|l| l.contains("fetched "))
        .unwrap_or_else(|| panic!("no totals under {anchor:?}:\n{screen}"));
    numbers(line)
}

/// Opens the new-run dialog with only `cmdb` ticked and the serial field focused and empty.
/// The dialog opens on the serial with every connection ticked, in config order.
fn dialog_on_cmdb_only(term: &Terminal) {
    term.keys(&["n"]);
    term.wait_for("New run");
    term.keys(&["BTab", "BTab"]);
    term.wait_for("▸ Connections");
    // The cursor starts on cmdb: untick the three after it.
    term.keys(&["j", "Space", "j", "Space", "j", "Space"]);
}

/// The workflow as far as the Apply run; returns the Full Dry's would-update count read from
/// the screen. `expect` is what the demo fleet says.
fn walk(term: &Terminal, expect: &CmdbFleet) -> u64 {
    let serial = &expect.stale_serial;
    term.wait_for("No runs yet");

    // 1. Single + Dry of the stale serial, on cmdb only.
    dialog_on_cmdb_only(term);
    term.keys(&["Tab", "Tab"]);
    term.type_text(serial);
    // The step's mode, Dry, is chosen already.
    term.keys(&["Tab"]);
    term.wait_for(&format!("Enter starts: Single Dry on cmdb for {serial}"));
    term.keys(&["Enter"]);
    let screen = term.wait_for("Last run #1 · Single Dry · ✔ completed");
    assert_eq!(
        counters_after(&screen, "#1 Single Dry", DRY),
        [1, 0, 0, 0, 0],
        "would update 1:\n{screen}"
    );
    assert_eq!(
        counters_after(&screen, "Last run #1", DRY),
        [1, 0, 0, 0, 0],
        "the card:\n{screen}"
    );
    assert_eq!(totals_after(&screen, "#1 Single Dry"), [1, 1, 0, 0]);
    assert!(screen.contains(&format!("serial {serial}")), "{screen}");
    assert!(screen.contains("1 of 1"), "{screen}");

    // 2. Single + Live of the same serial: the CMDB record is written.
    dialog_on_cmdb_only(term);
    term.keys(&["Tab", "Tab"]);
    term.type_text(serial);
    // Live is the step's mode: chosen already, and Enter asks first.
    term.keys(&["Tab"]);
    term.wait_for(&format!(
        "Enter asks first: Single LIVE on cmdb for {serial}"
    ));
    term.keys(&["Enter"]);
    term.wait_for("Start a Single LIVE run?");
    term.keys(&["y"]);
    let screen = term.wait_for("Last run #2 · Single Live · ✔ completed");
    assert_eq!(
        counters_after(&screen, "#2 Single Live", LIVE),
        [1, 0, 0, 0, 0, 0, 0, 0],
        "updated 1:\n{screen}"
    );
    assert_eq!(
        counters_after(&screen, "Last run #2", LIVE),
        [1, 0, 0, 0, 0, 0, 0, 0],
        "the card:\n{screen}"
    );
    assert_eq!(totals_after(&screen, "#2 Single Live"), [1, 1, 0, 0]);

    // 3. Full + Dry on cmdb: every record, the one just written now unchanged.
    dialog_on_cmdb_only(term);
    term.keys(&["Tab", "Right"]);
    term.wait_for("Enter starts: Full Dry on cmdb");
    term.keys(&["Enter"]);
    term.wait_for_within("Last run #3 · Full Dry · ✔ completed", 120);
    let size = grouped(expect.size);
    let screen = term.wait_for(&format!("{size} of {size}"));
    let full = counters_after(&screen, "#3 Full   Dry", DRY);
    let would_update = expect.would_update - 1;
    assert_eq!(
        full,
        [
            would_update,
            expect.skipped + 1,
            expect.missing_source,
            expect.missing_destination,
            0
        ],
        "would update, skipped, missing source, missing destination, errors:\n{screen}"
    );
    assert_eq!(
        counters_after(&screen, "Last run #3", DRY),
        full,
        "{screen}"
    );
    assert_eq!(full.iter().sum::<u64>(), expect.size);
    assert_eq!(
        totals_after(&screen, "#3 Full   Dry"),
        [expect.size, expect.size - 1, 0, 1],
        "the serial written live has a contract, with the same hash:\n{screen}"
    );

    // 4. `p` on the Full Dry's cmdb row (g: the newest run, j: its first connection).
    term.keys(&["g", "j", "p"]);
    let confirm = term.wait_for("Apply the plan of run #3?");
    assert!(
        confirm.contains(&format!(
            "Apply the plan of run #3 on cmdb: {} would update, 0 would create.",
            full[0]
        )),
        "{confirm}"
    );
    assert!(confirm.contains("y apply live"), "{confirm}");
    term.keys(&["y"]);
    term.wait_for_within("Last run #4 · Apply Live · ✔ completed", 120);
    let n = grouped(full[0]);
    let screen = term.wait_for(&format!("{n} of {n}"));
    assert_eq!(
        counters_after(&screen, "#4 Apply  Live", LIVE),
        [full[0], 0, 0, 0, 0, 0, 0, 0],
        "updated == the plan's would update:\n{screen}"
    );
    assert_eq!(
        counters_after(&screen, "Last run #4", LIVE),
        [full[0], 0, 0, 0, 0, 0, 0, 0],
        "the card:\n{screen}"
    );
    assert!(
        screen.contains(&format!("the plan of run #3: {n} records")),
        "{screen}"
    );
    full[0]
}

fn all_entries(store: &Store, run: u64) -> Vec<ReportEntry> {
    let query = EntryQuery {
        run: Some(run),
        ..EntryQuery::default()
    };
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.entries_page(&query, cursor, 1_000).unwrap();
        out.extend(page.entries);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return out,
        }
    }
}

/// The store after the TUI exited: the four runs of the walk, newest first, and the Apply run
/// wrote exactly the Full Dry's plan.
fn check_store(store: &Store, expect: &CmdbFleet, would_update: u64) {
    let runs = store.list_runs(None, 10).unwrap();
    let mut walk: Vec<_> = runs
        .iter()
        .map(|r| (r.id, r.run_type, r.mode, r.status))
        .collect();
    walk.reverse();
    assert_eq!(
        walk[..4],
        [
            (1, RunType::Single, RunMode::Dry, RunStatus::Completed),
            (2, RunType::Single, RunMode::Live, RunStatus::Completed),
            (3, RunType::Full, RunMode::Dry, RunStatus::Completed),
            (4, RunType::Apply, RunMode::Live, RunStatus::Completed),
        ],
        "{runs:?}"
    );
    for run in &runs {
        assert_eq!(run.connections, ["cmdb"], "{run:?}");
    }
    let serial = expect.stale_serial.as_str();
    for id in [1, 2] {
        let entries = all_entries(store, id);
        assert_eq!(entries.len(), 1, "{entries:?}");
        assert_eq!(entries[0].reference, serial);
    }
    assert_eq!(all_entries(store, 1)[0].status, EntryStatus::Dry);
    assert_eq!(all_entries(store, 1)[0].outcome, Outcome::WouldUpdate);
    assert_eq!(all_entries(store, 2)[0].status, EntryStatus::Ok);

    // The Full Dry's counters as recorded are the ones the screen showed.
    let full = &store.connection_runs(3).unwrap()[0];
    assert_eq!(full.counters.would_update, would_update);
    assert_eq!(full.counters.skipped, expect.skipped + 1);
    assert_eq!(full.counters.missing_source, expect.missing_source);
    assert_eq!(
        full.counters.missing_destination,
        expect.missing_destination
    );
    let planned: BTreeSet<String> = all_entries(store, 3)
        .into_iter()
        .filter(|e| e.outcome == Outcome::WouldUpdate)
        .map(|e| e.reference)
        .collect();
    assert_eq!(planned.len() as u64, would_update);
    assert!(!planned.contains(serial), "fixed by the Single Live");

    // The Apply run: one OK entry per planned record, nothing else.
    let applied = all_entries(store, 4);
    assert_eq!(applied.len() as u64, would_update);
    assert!(
        applied.iter().all(|e| e.status == EntryStatus::Ok),
        "{:?}",
        applied.iter().find(|e| e.status != EntryStatus::Ok)
    );
    let written: BTreeSet<String> = applied.into_iter().map(|e| e.reference).collect();
    assert_eq!(written, planned);
    let apply = &store.connection_runs(4).unwrap()[0];
    assert_eq!(apply.counters.updated, would_update);
    assert_eq!(apply.counters.failed, 0);
}

#[test]
fn the_recommended_workflow_on_cmdb_reads_its_counters_at_each_step() {
    let expect = cmdb_fleet();
    let term = Terminal::start(100, 30, "demo --store {dir}/s.redb");
    let would_update = walk(&term, &expect);

    // The Full + Live step's check: a second Full Dry finds nothing left to update.
    dialog_on_cmdb_only(&term);
    // Full, and Dry (Left from the Live step's mode; cmdb's own setting is dry anyway).
    term.keys(&["Tab", "Right", "Tab", "Left"]);
    term.wait_for("Enter starts: Full Dry on cmdb");
    term.keys(&["Enter"]);
    term.wait_for_within("Last run #5 · Full Dry · ✔ completed", 120);
    let size = grouped(expect.size);
    let screen = term.wait_for(&format!("{size} of {size}"));
    assert_eq!(
        counters_after(&screen, "#5 Full   Dry", DRY),
        [
            0,
            expect.skipped + 1 + would_update,
            expect.missing_source,
            expect.missing_destination,
            0
        ],
        "{screen}"
    );

    term.keys(&["q"]);
    assert_eq!(term.exit_code(), 0);
    term.assert_restored();

    let store = Store::open(term.file("s.redb"), StoreOptions::default()).unwrap();
    check_store(&store, &expect, would_update);
    let recheck = store.list_runs(None, 1).unwrap();
    assert_eq!(
        (recheck[0].id, recheck[0].run_type, recheck[0].mode),
        (5, RunType::Full, RunMode::Dry)
    );
}

#[test]
fn the_recommended_workflow_fits_80x24() {
    let expect = cmdb_fleet();
    let term = Terminal::start(80, 24, "demo --store {dir}/s.redb");
    let screen = term.wait_for("No runs yet");
    assert!(!screen.contains("too small"), "{screen}");
    let would_update = walk(&term, &expect);
    term.keys(&["q"]);
    assert_eq!(term.exit_code(), 0);
    term.assert_restored();

    let store = Store::open(term.file("s.redb"), StoreOptions::default()).unwrap();
    assert_eq!(store.list_runs(None, 10).unwrap().len(), 4);
    check_store(&store, &expect, would_update);
}
