//! kill -9 in the middle of a Full Live run, twenty times over, each run picking up where the
//! killed one stopped: the store always opens, recovery leaves nothing Running or Pending, what
//! was recorded stays recorded, every sync contract matches what the destination holds, and at
//! the end no record was written more than once beyond what it needed.
//!
//! The real binary against the demo systems served from this test process, its own store in a
//! temp dir. The kill moments come from a seeded generator, so a failure replays.

#![cfg(unix)]

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use syncdeck::demo::Fleet;
use syncdeck::store::{EntryQuery, EntryStatus, RunStatus, Store, StoreOptions};
use tokio::process::{Child, Command};

mod common;

use common::cli::DemoFiles;

const FLEET: usize = 20_000;
const KILLS: usize = 20;
/// The seed of the kill moments; change it to try other moments.
const KILL_SEED: u64 = 0x5eed_0007;

/// What a kill's 50-1500 ms wait is timed from. From the process start alone, a debug build
/// spends the whole window listing the destination and no kill would land among the writes; and
/// as a Full run lists from the first record again, kills timed from its first source page land
/// among the records earlier runs already synced. So the kills rotate over three moments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Anchor {
    /// The process start: start-up, recovery, the destination listing.
    Start,
    /// The first source page the run asks for: records flow, mostly ones already synced.
    FirstPage,
    /// Where the earlier runs stopped: the run's first CMDB write; once nothing writable is
    /// left, the first source page.
    FirstWrite,
}

impl Anchor {
    fn of(kill: usize) -> Anchor {
        match kill % 4 {
            1 => Anchor::Start,
            2 => Anchor::FirstPage,
            _ => Anchor::FirstWrite,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Anchor::Start => "process start",
            Anchor::FirstPage => "first page",
            Anchor::FirstWrite => "first write",
        }
    }
}

/// Runs that may reach their end before their kill moment (each is followed by another try).
const MAX_FINISHED_FIRST: usize = 5;
/// Longest a child may take; a hung one is killed and the test fails.
const CHILD_LIMIT: Duration = Duration::from_secs(180);
const CONNECTION: &str = "cmdb";

/// splitmix64: a few lines, no dependency, the same sequence everywhere.
struct Moments(u64);

impl Moments {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A wait of 50 to 1500 ms.
    fn wait(&mut self) -> Duration {
        Duration::from_millis(50 + self.next() % 1_451)
    }
}

/// `syncdeck --config C --store S run ARGS` with a private environment and the demo secrets.
fn run_command(setup: &DemoFiles, args: &[&str]) -> Command {
    let mut command = Command::from(setup.command());
    command.arg("run").args(args).kill_on_drop(true);
    command
}

/// What the checks after each kill carry over to the next.
#[derive(Default)]
struct Seen {
    entries: u64,
    runs: BTreeSet<u64>,
}

/// One line of figures per kill.
struct KillFigures {
    after: Duration,
    anchor: Option<Anchor>,
    wait: Duration,
    /// CMDB writes the killed run made.
    writes: u64,
    /// Stale records left to write when the run started.
    writable_left: usize,
    entries: u64,
    contracts: u64,
    reopen: Duration,
    interrupted_run: Option<u64>,
    failed_entries: u64,
}

/// Opens the store after a kill (`killed`) or a clean end and checks everything recovery
/// promises; returns the figures.
fn check_after_kill(setup: &DemoFiles, seen: &mut Seen, kill: usize, killed: bool) -> KillFigures {
    let opened = Instant::now();
    let store = Store::open(&setup.store, StoreOptions::default())
        .unwrap_or_else(|e| panic!("kill {kill}: the store does not open: {e}"));
    let reopen = opened.elapsed();
    let recovery = store.recovery().clone();

    let runs = store.list_runs(None, 1_000).unwrap();
    for run in &runs {
        assert_ne!(run.status, RunStatus::Running, "kill {kill}: {run:?}");
        for row in store.connection_runs(run.id).unwrap() {
            assert_ne!(row.status, RunStatus::Running, "kill {kill}: {row:?}");
        }
    }
    let ids: BTreeSet<u64> = runs.iter().map(|r| r.id).collect();
    assert!(
        ids.is_superset(&seen.runs),
        "kill {kill}: runs went missing: had {:?}, now {ids:?}",
        seen.runs
    );
    if !killed {
        assert!(recovery.is_empty(), "after a clean end: {recovery:?}");
    }
    // The killed run, when it got as far as recording itself, is the newest and Interrupted —
    // unless the kill landed after the run had recorded its own end (the process was printing
    // its JSON or closing the store): then it keeps the end it recorded and recovery has nothing
    // to say about it.
    let newest = runs
        .first()
        .filter(|r| killed && !seen.runs.contains(&r.id));
    if let Some(run) = newest.filter(|r| r.status != RunStatus::Interrupted) {
        assert!(
            matches!(run.status, RunStatus::Completed | RunStatus::Failed),
            "kill {kill}: a killed run neither Interrupted nor ended by itself: {run:?}"
        );
        assert!(
            !recovery.runs_interrupted.contains(&run.id),
            "kill {kill}: {recovery:?}"
        );
        for row in store.connection_runs(run.id).unwrap() {
            assert_eq!(row.status, run.status, "kill {kill}: {row:?}");
        }
        println!(
            "kill {kill}: the kill landed after run #{} recorded its end",
            run.id
        );
    }
    let interrupted_run = newest
        .filter(|r| r.status == RunStatus::Interrupted)
        .map(|run| {
            assert_eq!(run.status, RunStatus::Interrupted, "kill {kill}: {run:?}");
            assert!(
                recovery.runs_interrupted.contains(&run.id),
                "kill {kill}: {recovery:?}"
            );
            for row in store.connection_runs(run.id).unwrap() {
                assert_eq!(row.status, RunStatus::Interrupted, "kill {kill}: {row:?}");
            }
            run.id
        });
    seen.runs = ids;

    let pending = EntryQuery {
        status: Some(EntryStatus::Pending),
        ..EntryQuery::default()
    };
    assert_eq!(store.count_entries(&pending).unwrap(), 0, "kill {kill}");
    let entries = store.count_entries(&EntryQuery::default()).unwrap();
    assert!(
        entries >= seen.entries,
        "kill {kill}: entries went from {} down to {entries}",
        seen.entries
    );
    seen.entries = entries;

    // Every contract says what the destination holds: the record it names, in sync.
    let mut contracts = 0u64;
    let mut after: Option<String> = None;
    loop {
        let page = store
            .contracts_page(CONNECTION, after.as_deref(), 1_000)
            .unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.origin_id.clone());
        for contract in &page {
            let serial = &contract.origin_id;
            let record = setup
                .server
                .cmdb_record(serial)
                .unwrap_or_else(|| panic!("kill {kill}: a contract for {serial}, no record"));
            assert_eq!(
                contract.target_id.as_deref(),
                record.get("sys_id").and_then(Value::as_str),
                "kill {kill}: {contract:?}"
            );
            assert_eq!(
                setup.server.cmdb_holds_mapping(serial),
                Some(true),
                "kill {kill}: the contract of {serial} says synced, the CMDB holds {record:?}"
            );
        }
        contracts += page.len() as u64;
    }
    KillFigures {
        after: Duration::ZERO,
        anchor: None,
        wait: Duration::ZERO,
        writes: 0,
        writable_left: 0,
        entries,
        contracts,
        reopen,
        interrupted_run,
        failed_entries: recovery.entries_failed,
    }
}

/// Waits for a child to end (bounded), returning its output.
async fn finish(child: Child) -> std::process::Output {
    tokio::time::timeout(CHILD_LIMIT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("syncdeck did not finish within {CHILD_LIMIT:?}"))
        .expect("wait for syncdeck")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_kill_9_mid_run_lose_nothing_and_write_nothing_twice() {
    let setup = DemoFiles::start(FLEET, 7).await;
    // What each serial needs: one write when its CMDB record is stale, none otherwise.
    let needed: BTreeMap<String, u64> = (0..FLEET)
        .map(Fleet::serial)
        .map(|serial| {
            let stale = setup.server.cmdb_holds_mapping(&serial) == Some(false);
            (serial, u64::from(stale))
        })
        .collect();
    let args = [
        "--full",
        "--live",
        "--force",
        "--connection",
        CONNECTION,
        "--json",
    ];

    let mut moments = Moments(KILL_SEED);
    let mut seen = Seen::default();
    let mut figures = Vec::new();
    // The stale records a run can write (a record without a status is Missing Source).
    let writable: Vec<String> = needed
        .iter()
        .filter(|(_, need)| **need == 1)
        .map(|(serial, _)| serial.clone())
        .filter(|serial| {
            setup
                .server
                .fleet()
                .device_by_serial(serial)
                .is_some_and(|device| device.status.is_some())
        })
        .collect();
    let mut finished_first = 0;
    let mut kill = 1;
    while kill <= KILLS {
        let anchor = Anchor::of(kill);
        let wait = moments.wait();
        let writable_left = writable
            .iter()
            .filter(|serial| setup.server.cmdb_holds_mapping(serial) == Some(false))
            .count();
        let before = setup.server.stats();
        let mut child = run_command(&setup, &args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn syncdeck");
        let started = Instant::now();
        loop {
            let now = setup.server.stats();
            let pages = now.fleet.requests - before.fleet.requests;
            let reached = match anchor {
                Anchor::Start => true,
                Anchor::FirstPage => pages > 0,
                Anchor::FirstWrite if writable_left == 0 => pages > 0,
                Anchor::FirstWrite => now.cmdb.writes > before.cmdb.writes,
            };
            if reached || child.try_wait().unwrap().is_some() {
                break;
            }
            assert!(
                started.elapsed() < CHILD_LIMIT,
                "kill {kill}: the run never reached its {} moment",
                anchor.label()
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        tokio::time::sleep(wait).await;
        let after = started.elapsed();
        child.start_kill().expect("SIGKILL");
        let out = finish(child).await;
        let stats = setup.server.stats();
        if out.status.signal().is_none() {
            // The run got to its end first (the frontier was near the fleet's end): not a kill.
            // It must have ended as a run does; then the same kill again, at a new moment.
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                matches!(out.status.code(), Some(0 | 1)),
                "kill {kill}: {:?} {stderr}",
                out.status
            );
            finished_first += 1;
            assert!(
                finished_first <= MAX_FINISHED_FIRST,
                "{finished_first} runs ended before their kill moment"
            );
            check_after_kill(&setup, &mut seen, kill, false);
            println!("kill {kill}: the run ended by itself at {after:?}; again");
            continue;
        }
        assert_eq!(
            out.status.signal(),
            Some(9),
            "kill {kill}: {:?} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let mut line = check_after_kill(&setup, &mut seen, kill, true);
        line.after = after;
        line.anchor = Some(anchor);
        line.wait = wait;
        line.writes = stats.cmdb.writes - before.cmdb.writes;
        line.writable_left = writable_left;
        figures.push(line);
        kill += 1;
    }

    println!(
        "kill  wait timed from  wait ms  killed at ms  to write  writes  entries  contracts  reopen ms  \
         interrupted  pending→failed"
    );
    for (i, f) in figures.iter().enumerate() {
        println!(
            "{:>4}  {:<15} {:>7}  {:>12}  {:>8}  {:>6}  {:>7}  {:>9}  {:>9.1}  {:>11}  {:>14}",
            i + 1,
            f.anchor.map_or("-", Anchor::label),
            f.wait.as_millis(),
            f.after.as_millis(),
            f.writable_left,
            f.writes,
            f.entries,
            f.contracts,
            f.reopen.as_secs_f64() * 1_000.0,
            f.interrupted_run
                .map_or_else(|| "-".to_string(), |id| format!("#{id}")),
            f.failed_entries,
        );
    }
    println!(
        "kills survived: {} of {KILLS} ({finished_first} runs ended before their kill moment \
         and were started again)",
        figures.len()
    );

    // One run to the end, uninterrupted.
    let out = finish(
        run_command(&setup, &args)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    )
    .await;
    // Exit 1: a Live run reports the CMDB's missing serials and the sources without a status.
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let run: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(run["status"], "completed", "{run}");
    let counters = &run["connections"][0]["counters"];
    assert_eq!(counters["failed"], 0, "{run}");
    println!(
        "the uninterrupted run: {} updated, {} skipped",
        counters["updated"], counters["skipped"]
    );
    let figures_final = check_after_kill(&setup, &mut seen, KILLS + 1, false);

    // A Full Dry run finds nothing left to write, contract or not.
    let out = finish(
        run_command(
            &setup,
            &["--full", "--dry-run", "--connection", CONNECTION, "--json"],
        )
        .stdout(Stdio::piped())
        .spawn()
        .unwrap(),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let dry: Value = serde_json::from_slice(&out.stdout).unwrap();
    let counters = &dry["connections"][0]["counters"];
    assert_eq!(counters["would_update"], 0, "{dry}");
    assert_eq!(counters["errors"], 0, "{dry}");

    // Each record written at most once more than it needed (a write in flight at a kill may
    // land without being recorded, and be written again).
    let writes = setup.server.cmdb_write_counts();
    let mut twice = Vec::new();
    for (serial, &count) in &writes {
        let need = needed.get(serial).copied().unwrap_or(0);
        assert!(
            count <= need + 1,
            "{serial} was written {count} times, needed {need}"
        );
        if count > need {
            twice.push(serial.clone());
        }
    }
    let stale = needed.values().filter(|&&n| n == 1).count();
    assert!(
        writable.iter().all(|serial| writes.contains_key(serial)),
        "every writable stale record was written"
    );
    println!(
        "writes: {} records written ({} stale at the start, {} of them writable), {} written \
         once more than needed {:?}",
        writes.len(),
        stale,
        writable.len(),
        twice.len(),
        twice
    );
    let bytes = std::fs::metadata(&setup.store).unwrap().len();
    println!(
        "at the end: {} entries, {} contracts, a store of {:.1} MB reopened in {:.0} ms",
        figures_final.entries,
        figures_final.contracts,
        bytes as f64 / 1e6,
        figures_final.reopen.as_secs_f64() * 1_000.0
    );
}
