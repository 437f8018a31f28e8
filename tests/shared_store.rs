//! One store shared by several `syncdeck run` processes at once (SPEC section 8), with the real
//! binary against the demo systems served from this test process:
//!
//! - two Live runs of the same connection started together: exactly one runs, the other is
//!   refused at once (exit 3) naming the run and process that hold the connection;
//! - two Live runs of different connections started together: both complete, every entry of
//!   each is recorded, sync ids never collide;
//! - kill -9 of one run while another keeps running: the living run is untouched and completes,
//!   the killed one is Interrupted at the next open by any process, and its connection is free;
//! - SIGTERM (systemctl stop, a pod ending): the run is canceled, recorded, its connection let go,
//!   and the exit code is 143;
//! - `syncdeck cancel RUN_ID` from another process: the run ends Canceled naming who asked; a
//!   run that is not running is exit 1; `--abandon` settles a run whose process is out of sight
//!   (a pod killed outright) and frees its connection, and is refused for a living process.

use std::collections::HashSet;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use syncdeck::store::{ConnectionRun, EntryQuery, RunId, RunOwner, RunStatus, Store, StoreOptions};
use tokio::process::Child;

mod common;

use common::cli::{CHILD_LIMIT, DemoFiles, Output};
use common::history::entries_of_run;

/// Large enough that a Full Live run lasts seconds, not milliseconds: the runs started
/// "together" overlap whatever the machine's load.
const FLEET: usize = 4_000;

fn live(connections: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["run", "--full", "--live", "--force", "--json"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for name in connections {
        args.push("--connection".into());
        args.push((*name).into());
    }
    args
}

/// `syncdeck ARGS` started as a child (killed if the test ends first).
fn spawn(setup: &DemoFiles, args: &[String]) -> Child {
    let mut command = tokio::process::Command::from(setup.command());
    command
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command.spawn().expect("spawn syncdeck")
}

async fn finish(child: Child) -> Output {
    tokio::time::timeout(CHILD_LIMIT, child.wait_with_output())
        .await
        .expect("syncdeck finishes")
        .expect("syncdeck ran")
        .into()
}

fn open(setup: &DemoFiles) -> Store {
    Store::open(&setup.store, StoreOptions::default()).unwrap()
}

/// Entries recorded per run equal the records its connection runs processed, each counted once.
fn assert_every_entry_recorded(store: &Store, run_id: RunId) -> Vec<u64> {
    let rows: Vec<ConnectionRun> = store.connection_runs(run_id).unwrap();
    let processed: u64 = rows.iter().map(|r| r.processed).sum();
    let counted: u64 = rows
        .iter()
        .map(|r| {
            let c = &r.counters;
            c.updated
                + c.created
                + c.skipped
                + c.missing_source
                + c.missing_destination
                + c.failed
                + c.pending
        })
        .sum();
    let entries = entries_of_run(store, run_id);
    assert_eq!(entries.len() as u64, processed, "run {run_id}: {rows:?}");
    assert_eq!(counted, processed, "run {run_id}: {rows:?}");
    let query = EntryQuery {
        run: Some(run_id),
        ..EntryQuery::default()
    };
    assert_eq!(store.count_entries(&query).unwrap(), processed);
    entries.into_iter().map(|e| e.sync_id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_live_runs_of_one_connection_started_together_one_runs_and_the_other_is_refused() {
    let setup = DemoFiles::start(FLEET, 41).await;
    let args = live(&["cmdb"]);
    let (first, second) = (spawn(&setup, &args), spawn(&setup, &args));
    let (first, second) = tokio::join!(finish(first), finish(second));
    let (ran, refused) = match (first.code, second.code) {
        (Some(0 | 1), Some(3)) => (first, second),
        (Some(3), Some(0 | 1)) => (second, first),
        _ => panic!("exactly one runs:\n{first:?}\n{second:?}"),
    };
    let run = ran.json();
    let run_id = run["run_id"].as_u64().unwrap();
    assert_eq!(run["status"], "completed", "{ran:?}");
    // The refusal names the run that holds the connection, its user, host and pid.
    assert!(refused.stdout.is_empty(), "{refused:?}");
    let me = RunOwner::current();
    for needle in [
        "connection cmdb is held by run".to_string(),
        format!("run #{run_id}"),
        format!("{}@{}", me.user, me.host),
        format!("pid {}", run["owner"]["pid"]),
        "process started".to_string(),
    ] {
        assert!(refused.stderr.contains(&needle), "{needle}: {refused:?}");
    }
    // It recorded nothing: one run in the store, holding nothing now.
    let store = open(&setup);
    assert_eq!(store.list_runs(None, 10).unwrap().len(), 1);
    assert!(store.lease_holder("cmdb").unwrap().is_none());
    assert_every_entry_recorded(&store, run_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_live_runs_of_different_connections_together_both_complete_and_record_everything() {
    let setup = DemoFiles::start(FLEET, 42).await;
    let (cmdb, registry) = (
        spawn(&setup, &live(&["cmdb"])),
        spawn(&setup, &live(&["registry"])),
    );
    let (cmdb, registry) = tokio::join!(finish(cmdb), finish(registry));
    let mut ids = Vec::new();
    for out in [&cmdb, &registry] {
        assert!(matches!(out.code, Some(0 | 1)), "{out:?}");
        let run = out.json();
        assert_eq!(run["status"], "completed", "{out:?}");
        ids.push(run["run_id"].as_u64().unwrap());
    }
    assert_ne!(ids[0], ids[1]);
    let store = open(&setup);
    let mut all: Vec<u64> = Vec::new();
    for &run_id in &ids {
        let run = store.get_run(run_id).unwrap().unwrap();
        assert_eq!(run.status, RunStatus::Completed);
        all.extend(assert_every_entry_recorded(&store, run_id));
    }
    let unique: HashSet<u64> = all.iter().copied().collect();
    assert_eq!(unique.len(), all.len(), "no sync id is used twice");
    // Every entry of the store is one of the two runs': counts equal the sums.
    assert_eq!(
        store.count_entries(&EntryQuery::default()).unwrap(),
        all.len() as u64
    );
    assert_eq!(all.len(), 2 * FLEET);
}

/// Waits (bounded) until the run started by `child` has committed entries; its run id.
async fn run_with_entries(store: &Store, connection: &str) -> RunId {
    let wait = async {
        loop {
            let runs = store.running_runs().unwrap();
            if let Some(run) = runs.iter().find(|r| r.connections == [connection]) {
                let rows = store.connection_runs(run.id).unwrap();
                if rows.iter().any(|r| r.processed > 0) {
                    return run.id;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(CHILD_LIMIT, wait)
        .await
        .unwrap_or_else(|_| panic!("no run of {connection} recorded entries"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_one_run_leaves_the_other_running_and_frees_its_connection() {
    let setup = DemoFiles::start(FLEET, 43).await;
    // The survivor goes over two connections, so it is still going when the other dies.
    let mut victim = spawn(&setup, &live(&["cmdb"]));
    let survivor = spawn(&setup, &live(&["registry", "mdm"]));
    let watcher = open(&setup);
    let victim_run = run_with_entries(&watcher, "cmdb").await;
    victim.start_kill().unwrap(); // SIGKILL: no destructor, no last commit
    victim.wait().await.unwrap();
    drop(watcher);

    // The next open, by any process: the dead run is settled, the living one left alone.
    let store = open(&setup);
    assert_eq!(store.recovery().runs_interrupted, vec![victim_run]);
    let killed = store.get_run(victim_run).unwrap().unwrap();
    assert_eq!(killed.status, RunStatus::Interrupted);
    let alive: Vec<RunId> = store.running_runs().unwrap().iter().map(|r| r.id).collect();
    assert_eq!(alive.len(), 1, "the survivor still runs: {alive:?}");
    let survivor_run = alive[0];
    assert!(
        store.lease_holder("cmdb").unwrap().is_none(),
        "cmdb is free"
    );
    assert_eq!(
        store.lease_holder("registry").unwrap().map(|r| r.id),
        Some(survivor_run)
    );
    // What the killed run committed is kept.
    assert!(!entries_of_run(&store, victim_run).is_empty());

    // The survivor completes, untouched.
    let survivor = finish(survivor).await;
    assert!(matches!(survivor.code, Some(0 | 1)), "{survivor:?}");
    let survived: Value = survivor.json();
    assert_eq!(survived["run_id"].as_u64(), Some(survivor_run));
    assert_eq!(survived["status"], "completed", "{survivor:?}");
    assert_every_entry_recorded(&store, survivor_run);

    // The killed run's connection runs Live again.
    let again = finish(spawn(&setup, &live(&["cmdb"]))).await;
    assert!(matches!(again.code, Some(0 | 1)), "{again:?}");
    assert_eq!(again.json()["status"], "completed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_cancels_a_headless_run_which_is_recorded_and_lets_its_connection_go() {
    let setup = DemoFiles::start(FLEET, 44).await;
    let child = spawn(&setup, &live(&["cmdb"]));
    let pid = child.id().expect("running") as libc::pid_t;
    let watcher = open(&setup);
    let run_id = run_with_entries(&watcher, "cmdb").await;
    // As `systemctl stop` or a Kubernetes pod ending does.
    // SAFETY: kill sends a signal to the child this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let out = finish(child).await;
    assert_eq!(out.code, Some(143), "128 + SIGTERM: {out:?}");
    let json = out.json();
    assert_eq!(json["run_id"].as_u64(), Some(run_id));
    assert_eq!(json["status"], "canceled", "{out:?}");
    let run = watcher.get_run(run_id).unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Canceled);
    assert!(run.note.unwrap_or_default().contains("processed"));
    assert!(watcher.lease_holder("cmdb").unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syncdeck_cancel_asks_the_running_process_and_says_how_the_run_ended() {
    // cmdb held to 50 writes a second: the run lasts many seconds, so it is still going when
    // `syncdeck cancel` (a process of its own, started after the first entries) asks it to
    // stop, however loaded the machine is (in CI a 4,000-record run once ended first).
    let setup = DemoFiles::start_with(FLEET, 45, |server| {
        let text = syncdeck::demo::config_for(server.addr());
        let slowed = text.replacen(
            "name = \"cmdb\"\n",
            "name = \"cmdb\"\nrate_limit_per_sec = 50\n",
            1,
        );
        assert_ne!(slowed, text, "the demo config names cmdb");
        slowed
    })
    .await;
    let child = spawn(&setup, &live(&["cmdb"]));
    let watcher = open(&setup);
    let run_id = run_with_entries(&watcher, "cmdb").await;
    let cancel = setup.syncdeck(&["cancel", &run_id.to_string()]).await;
    assert_eq!(cancel.code, Some(0), "{cancel:?}");
    let me = RunOwner::current();
    let asked = format!("requested by {} (headless, pid ", me.user_at_host());
    assert!(
        cancel
            .stdout
            .starts_with(&format!("run {run_id} canceled: ")),
        "{cancel:?}"
    );
    assert!(cancel.stdout.contains(&asked), "{cancel:?}");
    // The run's own process ended it so, and exits as a run that ran.
    let out = finish(child).await;
    assert!(matches!(out.code, Some(0 | 1)), "{out:?}");
    let json = out.json();
    assert_eq!(json["status"], "canceled");
    assert!(json["note"].as_str().unwrap().contains(&asked), "{json}");
    assert!(watcher.lease_holder("cmdb").unwrap().is_none());
    // Not running any more, or never: exit 1 saying so.
    let again = setup.syncdeck(&["cancel", &run_id.to_string()]).await;
    assert_eq!(again.code, Some(1), "{again:?}");
    assert!(
        again.stderr.contains("is not running: it is canceled"),
        "{again:?}"
    );
    let unknown = setup.syncdeck(&["cancel", "999"]).await;
    assert_eq!(unknown.code, Some(1), "{unknown:?}");
    assert!(
        unknown.stderr.contains("there is no run 999"),
        "{unknown:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_out_of_sight_can_be_abandoned_and_a_living_one_cannot() {
    let setup = DemoFiles::start(50, 46).await;
    let store = open(&setup);
    let run = |owner: RunOwner| syncdeck::store::Run {
        id: 0,
        run_type: syncdeck::store::RunType::Full,
        mode: syncdeck::store::RunMode::Live,
        status: RunStatus::Running,
        started_at: chrono::Utc::now(),
        finished_at: None,
        serial: None,
        connections: vec!["cmdb".into()],
        credential_contexts: Vec::new(),
        note: None,
        owner: Some(owner),
        trigger: Some(syncdeck::store::Trigger::scheduled(Some("nightly".into()))),
    };
    // A pod killed outright: its host is gone, and no process here can tell.
    let pod = RunOwner {
        host: "syncdeck-cmdb-29041234-x7k2p".into(),
        ..RunOwner::current()
    };
    let lost = store.begin_run(run(pod), &["cmdb".to_string()]).unwrap();
    let refused = finish(spawn(&setup, &live(&["cmdb"]))).await;
    assert_eq!(refused.code, Some(3), "held by the lost run: {refused:?}");
    let abandoned = setup
        .syncdeck(&["cancel", "--abandon", &lost.to_string()])
        .await;
    assert_eq!(abandoned.code, Some(0), "{abandoned:?}");
    assert!(abandoned.stdout.contains("abandoned by"), "{abandoned:?}");
    let settled = store.get_run(lost).unwrap().unwrap();
    assert_eq!(settled.status, RunStatus::Interrupted);
    assert!(store.lease_holder("cmdb").unwrap().is_none());
    let ran = finish(spawn(&setup, &live(&["cmdb"]))).await;
    assert!(matches!(ran.code, Some(0 | 1)), "{ran:?}");

    // A run of a process of this host that still runs (this test) is canceled, not abandoned.
    let living = store.begin_run(run(RunOwner::current()), &[]).unwrap();
    let out = setup
        .syncdeck(&["cancel", "--abandon", &living.to_string()])
        .await;
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("still runs"), "{out:?}");
    assert_eq!(
        store.get_run(living).unwrap().unwrap().status,
        RunStatus::Running
    );
}
