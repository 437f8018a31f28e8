//! Resync (SPEC section 4) against the demo systems over real HTTP on 127.0.0.1: entries that
//! failed on a wrong credential turn OK in place once it is fixed, with the 401 kept in their
//! attempt history; what a retry cannot fix is refused with its reason; a resync run shows in
//! the jobs history, counts, and can be canceled; `syncdeck resync` confirms, runs and exits
//! 0/1/2.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use syncdeck::config::{self, Config, Environment};
use syncdeck::demo::{self, DemoServer};
use syncdeck::engine::{self, Command, Event, RunRequest, RunScope, plan_resync};
use syncdeck::store::{
    ConnectionRun, EntryQuery, EntryStatus, Outcome, ReportEntry, Run, RunMode, RunStatus, RunType,
    Store, StoreOptions, SyncId,
};

mod common;

use common::cli::{DemoFiles, Output};
use common::history::entries_of_run as entries_of;

const MDM_KEY: &str = "SYNCDECK_DEMO_MDM_KEY";
/// Longest a run or a child process may take.
const LIMIT: Duration = Duration::from_secs(120);

/// The demo config with the mdm connection's `abort_after` raised, so that a wrong credential
/// leaves one Failed entry per record instead of stopping the connection run after five.
fn config_text(server: &DemoServer) -> String {
    let text = demo::config_for(server.addr());
    let at = text
        .find("name = \"mdm\"")
        .expect("the demo has an mdm connection");
    let (head, tail) = text.split_at(at);
    format!(
        "{head}{}",
        tail.replacen("abort_after = 5", "abort_after = 100000", 1)
    )
}

/// The demo secrets, with the MDM's API key wrong when `wrong_key`.
fn secrets(wrong_key: bool) -> Vec<(&'static str, &'static str)> {
    demo::demo_secrets()
        .iter()
        .map(|&(name, value)| {
            if wrong_key && name == MDM_KEY {
                (name, "not-the-mdm-key")
            } else {
                (name, value)
            }
        })
        .collect()
}

fn parse(text: &str, wrong_key: bool) -> Arc<Config> {
    let env = Environment::with_fallbacks(secrets(wrong_key));
    Arc::new(config::parse(text, Path::new("/demo/config.toml"), &env).unwrap())
}

struct Demo {
    server: DemoServer,
    /// The right credentials.
    config: Arc<Config>,
    /// The MDM's API key wrong.
    wrong_key: Arc<Config>,
    store: Store,
    _dir: tempfile::TempDir,
}

async fn demo(fleet_size: usize) -> Demo {
    let server = common::demo::start(fleet_size, 11).await;
    let text = config_text(&server);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store.redb"), StoreOptions::default()).unwrap();
    Demo {
        config: parse(&text, false),
        wrong_key: parse(&text, true),
        server,
        store,
        _dir: dir,
    }
}

fn full(connection: &str, mode: RunMode) -> Command {
    Command::StartRun(RunRequest {
        scope: RunScope::Full,
        connections: vec![connection.to_string()],
        mode: Some(mode),
        force: true,
    })
}

/// Starts `command` on an engine of its own over `config`; runs to the end, canceling the run as
/// soon as it starts when `cancel`. Returns the run, its connection runs and the events seen.
async fn run_to_end(
    config: &Arc<Config>,
    store: &Store,
    command: Command,
    cancel: bool,
) -> (Run, Vec<ConnectionRun>, Vec<Event>) {
    let mut engine = engine::spawn(config.clone(), store.clone());
    engine.commands.send(command).unwrap();
    let mut events = Vec::new();
    let mut cancel_sent = false;
    let run = tokio::time::timeout(LIMIT, async {
        loop {
            let event = engine.events.recv().await.expect("engine stopped");
            // Cancel once the connection has begun and knows its total: a cancel sent at
            // RunStarted could, on a loaded machine, land before the connection counted
            // what it has to do, which is not the case this test is about.
            let begun = match &event {
                Event::ConnectionStarted { connection_run } if connection_run.total > 0 => {
                    Some(connection_run.run_id)
                }
                Event::Progress { run_id, total, .. } if *total > 0 => Some(*run_id),
                _ => None,
            };
            if let Some(run_id) = begun.filter(|_| cancel && !cancel_sent) {
                cancel_sent = true;
                engine.commands.send(Command::Cancel { run_id }).unwrap();
            }
            match &event {
                Event::Refused { reason } => panic!("refused: {reason}"),
                Event::RunFinished { run } => {
                    let run = run.clone();
                    events.push(event);
                    return run;
                }
                _ => {}
            }
            events.push(event);
        }
    })
    .await
    .expect("the run did not finish in time");
    engine.commands.send(Command::Shutdown).unwrap();
    let _ = engine.task.await;
    let rows = store.connection_runs(run.id).unwrap();
    (run, rows, events)
}

/// A Full Live run of the mdm with a wrong API key: one Failed (401) entry per device.
async fn failed_mdm_run(demo: &Demo) -> (Run, Vec<ReportEntry>) {
    let (run, rows, _) = run_to_end(
        &demo.wrong_key,
        &demo.store,
        full("mdm", RunMode::Live),
        false,
    )
    .await;
    assert_eq!(rows[0].status, RunStatus::Completed, "{rows:?}");
    let entries = entries_of(&demo.store, run.id);
    assert_eq!(entries.len(), demo.server.fleet().len());
    for entry in &entries {
        assert_eq!(entry.status, EntryStatus::Failed, "{entry:?}");
        assert_eq!(entry.error.as_ref().unwrap().http_status, Some(401));
    }
    (run, entries)
}

fn mdm_enrolled(server: &DemoServer, serial: &str) -> bool {
    let fleet = server.fleet();
    let index = fleet.index_of(serial).unwrap();
    !fleet.traits(index).unwrap().mdm.missing
}

/// Whether the device is caught in the demo MDM's maintenance outage (6 × 503, then 202).
fn mdm_outage(server: &DemoServer, serial: &str) -> bool {
    let fleet = server.fleet();
    let index = fleet.index_of(serial).unwrap();
    fleet.traits(index).unwrap().mdm_outage
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_of_a_wrong_credential_turn_ok_in_place_and_keep_their_401() {
    let demo = demo(120).await;
    let (failed_run, failed) = failed_mdm_run(&demo).await;
    assert_eq!(demo.store.count_contracts("mdm").unwrap(), 0);
    let ids: Vec<SyncId> = failed.iter().map(|e| e.sync_id).collect();

    let plan = plan_resync(&demo.config, &demo.store, &ids).unwrap();
    assert_eq!(plan.accepted.len(), ids.len(), "{:?}", plan.refused);
    assert_eq!(plan.connections, vec!["mdm".to_string()]);

    let (run, rows, events) = run_to_end(
        &demo.config,
        &demo.store,
        Command::Resync {
            entries: ids.clone(),
        },
        false,
    )
    .await;
    assert_eq!(run.run_type, RunType::Resync);
    assert_eq!(run.mode, RunMode::Live);
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(run.connections, vec!["mdm".to_string()]);
    assert_eq!(run.credential_contexts, vec!["mdm-demo".to_string()]);
    // In the jobs history, newest first, with its connection run.
    let history = demo.store.list_runs(None, 10).unwrap();
    assert_eq!(history[0].id, run.id);
    assert_eq!(history[0].run_type, RunType::Resync);
    assert_eq!(history[0].status, RunStatus::Completed);
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row.connection, "mdm");
    assert_eq!(row.mode, RunMode::Live);
    assert_eq!(row.status, RunStatus::Completed);
    assert_eq!(
        (row.processed, row.total),
        (120, 120),
        "X of N: the entries"
    );
    let enrolled = failed
        .iter()
        .filter(|e| mdm_enrolled(&demo.server, &e.reference))
        .count() as u64;
    assert!(enrolled > 100 && enrolled < 120, "the demo is varied");
    let outage: Vec<SyncId> = failed
        .iter()
        .filter(|e| mdm_outage(&demo.server, &e.reference))
        .map(|e| e.sync_id)
        .collect();
    assert!(
        !outage.is_empty(),
        "this fleet has maintenance outage devices"
    );
    let c = row.counters;
    assert_eq!(
        c.updated + c.skipped,
        enrolled - outage.len() as u64,
        "{c:?}"
    );
    assert_eq!(c.missing_destination, 120 - enrolled, "{c:?}");
    // The outage outlasts one run's 1 + max_retries attempts.
    assert_eq!(c.failed, outage.len() as u64, "{c:?}");
    // Events like any run's: started with its N, progress, finished.
    assert!(events.iter().any(|e| matches!(e,
        Event::ConnectionStarted { connection_run } if connection_run.total == 120)));
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Progress { run_id, .. } if *run_id == run.id))
    );

    // The original entries, updated in place: same sync id, same run, new status.
    for before in &failed {
        let after = demo.store.get_entry(before.sync_id).unwrap().unwrap();
        assert_eq!(after.sync_id, before.sync_id);
        assert_eq!(after.run_id, failed_run.id);
        assert!(after.time >= run.started_at);
        // The 401 stays in the history, first.
        let first = &after.attempts[0];
        assert_eq!(first.http_status, Some(401), "{after:?}");
        assert_eq!(first.at, before.time);
        if mdm_outage(&demo.server, &before.reference) {
            assert_eq!(after.status, EntryStatus::Failed, "{after:?}");
            assert_eq!(after.outcome, Outcome::Error, "{after:?}");
            let error = after.error.as_ref().unwrap();
            assert_eq!(error.http_status, Some(503), "{after:?}");
            assert!(error.hint.as_deref().unwrap().contains("destination down"));
            // The 401, then five tries that met the outage (or the server's one 429).
            assert_eq!(after.attempts.len(), 6, "{after:?}");
            assert!(
                after.attempts[1..]
                    .iter()
                    .all(|a| matches!(a.http_status, Some(503 | 429))),
                "{after:?}"
            );
        } else if mdm_enrolled(&demo.server, &before.reference) {
            assert_eq!(after.status, EntryStatus::Ok, "{after:?}");
            assert!(after.error.is_none(), "{after:?}");
            assert!(matches!(after.outcome, Outcome::Updated | Outcome::Skipped));
            if after.outcome == Outcome::Updated {
                assert!(after.attempts.len() >= 2, "{after:?}");
                assert!(!after.diff.is_empty());
            }
            let contract = demo.store.get_contract("mdm", &after.reference).unwrap();
            assert!(contract.is_some(), "contract of {}", after.reference);
        } else {
            assert_eq!(after.status, EntryStatus::Failed, "{after:?}");
            assert_eq!(after.outcome, Outcome::MissingDestination);
            assert!(
                after
                    .error
                    .as_ref()
                    .unwrap()
                    .message
                    .contains("no destination record")
            );
        }
    }
    // Nothing new was recorded: the resync run has no entries of its own.
    assert!(entries_of(&demo.store, run.id).is_empty());
    let failed_now = demo
        .store
        .count_entries(&EntryQuery {
            status: Some(EntryStatus::Failed),
            ..EntryQuery::default()
        })
        .unwrap();
    assert_eq!(failed_now, 120 - enrolled + outage.len() as u64);
    // The original run's counters moved with its entries: its card, `report` and the report's
    // failed filter agree.
    let original_counters =
        |store: &syncdeck::store::Store| store.connection_runs(failed_run.id).unwrap()[0].counters;
    let c = original_counters(&demo.store);
    assert_eq!(c.fixable + c.not_syncable, failed_now, "{c:?}");
    assert_eq!(c.missing_destination, 120 - enrolled, "{c:?}");
    assert_eq!(c.failed, outage.len() as u64, "{c:?}");
    assert_eq!(c.fixable, outage.len() as u64, "{c:?}");
    assert_eq!(
        c.updated + c.skipped,
        enrolled - outage.len() as u64,
        "{c:?}"
    );
    // Only the outage's failures can still be fixed; a second resync, after the outage, does.
    let plan = plan_resync(&demo.config, &demo.store, &ids).unwrap();
    let mut accepted: Vec<SyncId> = plan.accepted.iter().map(|(id, _)| *id).collect();
    accepted.sort();
    let mut expected = outage.clone();
    expected.sort();
    assert_eq!(accepted, expected, "{plan:?}");
    let (again, rows, _) = run_to_end(
        &demo.config,
        &demo.store,
        Command::Resync {
            entries: outage.clone(),
        },
        false,
    )
    .await;
    assert_eq!(again.status, RunStatus::Completed, "{again:?}");
    assert_eq!(rows[0].counters.failed, 0, "{:?}", rows[0].counters);
    assert_eq!(rows[0].counters.updated, outage.len() as u64);
    let c = original_counters(&demo.store);
    assert_eq!((c.failed, c.fixable), (0, 0), "{c:?}");
    assert_eq!(c.not_syncable, 120 - enrolled, "{c:?}");
    for id in &outage {
        let after = demo.store.get_entry(*id).unwrap().unwrap();
        assert_eq!(after.status, EntryStatus::Ok, "{after:?}");
        assert_eq!(after.outcome, Outcome::Updated, "{after:?}");
        assert!(after.error.is_none(), "{after:?}");
        // Every failure stays in the history: the 401, six 503s (and maybe the one 429), 202.
        let statuses: Vec<_> = after.attempts.iter().map(|a| a.http_status).collect();
        assert_eq!(statuses[0], Some(401), "{statuses:?}");
        assert_eq!(statuses.last(), Some(&Some(202)), "{statuses:?}");
        let middle = &statuses[1..statuses.len() - 1];
        let unavailable = middle.iter().filter(|s| **s == Some(503)).count();
        let throttled = middle.iter().filter(|s| **s == Some(429)).count();
        assert_eq!(
            unavailable,
            demo::MDM_OUTAGE_WRITES as usize,
            "{statuses:?}"
        );
        assert!(throttled <= 1, "{statuses:?}");
        assert_eq!(middle.len(), unavailable + throttled, "{statuses:?}");
    }
    // What is left is refused now: a Missing Destination on a connection without a create
    // contract, or already synced.
    let plan = plan_resync(&demo.config, &demo.store, &ids).unwrap();
    assert!(plan.accepted.is_empty(), "{plan:?}");
    assert_eq!(plan.refused.len(), 120);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_newest_entry_of_a_serial_on_a_connection_is_resynced() {
    let demo = demo(60).await;
    let (_, first) = failed_mdm_run(&demo).await;
    let (_, second) = failed_mdm_run(&demo).await;
    // "Every failed entry": each serial twice, once per run.
    let all: Vec<SyncId> = first.iter().chain(&second).map(|e| e.sync_id).collect();
    let plan = plan_resync(&demo.config, &demo.store, &all).unwrap();
    let mut accepted: Vec<SyncId> = plan.accepted.iter().map(|(id, _)| *id).collect();
    accepted.sort();
    let mut newest: Vec<SyncId> = second.iter().map(|e| e.sync_id).collect();
    newest.sort();
    assert_eq!(accepted, newest, "one entry per serial, the newer run's");
    assert_eq!(
        plan.left_out,
        [("superseded by a newer entry".to_string(), first.len())]
    );
    // The older entries alone: the store's newer failure supersedes each, and says which.
    let older: Vec<SyncId> = first.iter().map(|e| e.sync_id).collect();
    let plan = plan_resync(&demo.config, &demo.store, &older).unwrap();
    assert!(plan.accepted.is_empty(), "{plan:?}");
    let newer_of = |serial: &str| second.iter().find(|e| e.reference == serial).unwrap();
    for (id, reason) in &plan.refused {
        let entry = first.iter().find(|e| e.sync_id == *id).unwrap();
        assert!(
            reason.ends_with(&format!("#{} (failed)", newer_of(&entry.reference).sync_id)),
            "{reason}"
        );
    }
    // A Dry run since says nothing of the destination: the newer Live entry is still the one.
    let _ = run_to_end(&demo.config, &demo.store, full("mdm", RunMode::Dry), false).await;
    let plan = plan_resync(&demo.config, &demo.store, &newest).unwrap();
    assert_eq!(plan.accepted.len(), newest.len(), "{plan:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_retry_cannot_fix_is_refused_with_its_reason() {
    let demo = demo(1_000).await;
    let (registry_run, _, _) = run_to_end(
        &demo.config,
        &demo.store,
        full("registry", RunMode::Live),
        false,
    )
    .await;
    let registry = entries_of(&demo.store, registry_run.id);
    let find = |entries: &[ReportEntry], what: &dyn Fn(&ReportEntry) -> bool| -> ReportEntry {
        entries
            .iter()
            .find(|e| what(e))
            .cloned()
            .expect("the demo has one")
    };
    let missing_source = find(&registry, &|e| e.outcome == Outcome::MissingSource);
    let ok = find(&registry, &|e| e.status == EntryStatus::Ok);
    let invalid = find(&registry, &|e| {
        e.status == EntryStatus::Failed && e.error.as_ref().and_then(|x| x.http_status) == Some(400)
    });
    let (dry_run, _, _) =
        run_to_end(&demo.config, &demo.store, full("cmdb", RunMode::Dry), false).await;
    let dry = entries_of(&demo.store, dry_run.id)[0].clone();
    let (cmdb_run, _, _) = run_to_end(
        &demo.config,
        &demo.store,
        full("cmdb", RunMode::Live),
        false,
    )
    .await;
    let no_create = find(&entries_of(&demo.store, cmdb_run.id), &|e| {
        e.outcome == Outcome::MissingDestination
    });
    assert_eq!(no_create.status, EntryStatus::Failed);

    let chosen = [
        missing_source.sync_id,
        dry.sync_id,
        ok.sync_id,
        invalid.sync_id,
        no_create.sync_id,
        999_999,
        invalid.sync_id,
    ];
    let plan = plan_resync(&demo.config, &demo.store, &chosen).unwrap();
    // A site the registry does not know is bad source data: a retry sends the same and gets
    // the same 400, so it is left out too.
    assert!(plan.accepted.is_empty(), "{plan:?}");
    assert!(plan.connections.is_empty(), "{plan:?}");
    let reason = |id: SyncId| -> &str {
        &plan
            .refused
            .iter()
            .find(|(refused, _)| *refused == id)
            .unwrap_or_else(|| panic!("{id} not refused: {plan:?}"))
            .1
    };
    assert!(
        reason(missing_source.sync_id).contains("fix it in the source, then run Single"),
        "{plan:?}"
    );
    assert_eq!(reason(dry.sync_id), "a dry-run entry: run Live instead");
    assert_eq!(reason(ok.sync_id), "already synced");
    assert!(reason(no_create.sync_id).contains("no create contract"));
    assert!(reason(999_999).contains("no entry with sync id 999999"));
    assert!(
        reason(invalid.sync_id).starts_with("a retry cannot fix it (rejected payload (400)): "),
        "{plan:?}"
    );
    assert_eq!(plan.refused.len(), 6, "the duplicate id counts once");
    // Grouped by reason for the confirmation, one line at 80 columns.
    let mut groups = plan.left_out.clone();
    groups.sort();
    assert_eq!(
        groups,
        [
            ("already synced".to_string(), 1),
            ("dry-run entry".to_string(), 1),
            ("missing destination".to_string(), 1),
            ("missing source".to_string(), 1),
            ("rejected payload (400)".to_string(), 1),
            ("unknown entry".to_string(), 1),
        ]
    );
    let lines = plan.left_out_lines(78, 2);
    assert!(lines.iter().all(|l| l.chars().count() <= 78), "{lines:?}");
    assert!(lines[0].starts_with("left out: 1 "), "{lines:?}");

    // A connection taken out of the config.
    let mut without = (*demo.config).clone();
    without.connections.retain(|c| c.name != "registry");
    let plan = plan_resync(&without, &demo.store, &[invalid.sync_id]).unwrap();
    assert!(plan.accepted.is_empty());
    assert!(
        plan.refused[0].1.contains("no longer in the config"),
        "{plan:?}"
    );

    // The engine refuses a resync with nothing a retry can fix, and says why.
    let mut engine = engine::spawn(demo.config.clone(), demo.store.clone());
    engine
        .commands
        .send(Command::Resync {
            entries: vec![ok.sync_id],
        })
        .unwrap();
    let refused = tokio::time::timeout(LIMIT, async {
        loop {
            match engine.events.recv().await.expect("engine stopped") {
                Event::Refused { reason } => return reason,
                Event::RunStarted { run } => panic!("started {run:?}"),
                _ => {}
            }
        }
    })
    .await
    .unwrap();
    assert!(refused.contains("nothing to resync"), "{refused}");
    assert!(refused.contains("already synced"), "{refused}");
    engine.commands.send(Command::Shutdown).unwrap();
    let _ = engine.task.await;

    // Nor does the engine resync the 400 when asked directly: nothing it can fix, nothing sent.
    let mut engine = engine::spawn(demo.config.clone(), demo.store.clone());
    engine
        .commands
        .send(Command::Resync {
            entries: vec![invalid.sync_id, ok.sync_id],
        })
        .unwrap();
    let refused = tokio::time::timeout(LIMIT, async {
        loop {
            match engine.events.recv().await.expect("engine stopped") {
                Event::Refused { reason } => return reason,
                Event::RunStarted { run } => panic!("started {run:?}"),
                _ => {}
            }
        }
    })
    .await
    .unwrap();
    assert!(refused.contains("nothing to resync"), "{refused}");
    engine.commands.send(Command::Shutdown).unwrap();
    let _ = engine.task.await;
    let after = demo.store.get_entry(invalid.sync_id).unwrap().unwrap();
    assert_eq!(after, invalid, "untouched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resync_can_be_canceled_and_leaves_what_it_did_not_reach() {
    let demo = demo(300).await;
    let (_, failed) = failed_mdm_run(&demo).await;
    let ids: Vec<SyncId> = failed.iter().map(|e| e.sync_id).collect();
    let (run, rows, _) = run_to_end(
        &demo.config,
        &demo.store,
        Command::Resync { entries: ids },
        true,
    )
    .await;
    assert_eq!(run.run_type, RunType::Resync);
    assert_eq!(run.status, RunStatus::Canceled, "{run:?}");
    let row = &rows[0];
    assert_eq!(row.status, RunStatus::Canceled, "{row:?}");
    assert_eq!(row.total, 300);
    assert!(row.processed < 300, "{row:?}");
    assert!(
        row.note
            .as_deref()
            .unwrap()
            .contains(&format!("{} of 300 processed", row.processed)),
        "{row:?}"
    );
    // What finished is recorded; the rest is as it was.
    let mut reached = 0;
    for before in &failed {
        let after = demo.store.get_entry(before.sync_id).unwrap().unwrap();
        if after.time >= run.started_at {
            reached += 1;
            assert_eq!(after.attempts[0].http_status, Some(401));
        } else {
            assert_eq!(&after, before);
        }
    }
    assert_eq!(reached, row.processed);
}

/// An entry for a serial the source does not have (any more), as a failed live run left it.
fn vanished_entry(store: &Store, run_id: u64, serial: &str) -> SyncId {
    let entry = ReportEntry {
        sync_id: 0,
        run_id,
        connection: "mdm".into(),
        system: "MDM (demo)".into(),
        reference: serial.into(),
        source_id: Some(serial.into()),
        target_id: None,
        status: EntryStatus::Failed,
        outcome: Outcome::Error,
        reason: Some("write_failed".into()),
        time: chrono::Utc::now() - chrono::Duration::minutes(5),
        attempts: Vec::new(),
        error: Some(syncdeck::store::EntryError {
            http_status: Some(503),
            message: "503 Service Unavailable".into(),
            ..Default::default()
        }),
        diff: Vec::new(),
        hashes: None,
    };
    let mut batch = syncdeck::store::WriteBatch::new();
    batch.entries.push(entry);
    store.commit(&mut batch).unwrap()[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_single_query_one_filtered_listing_finds_every_record() {
    let demo = demo(900).await;
    let (failed_run, failed) = failed_mdm_run(&demo).await;
    // The first 40 entries of the listing, and one whose serial left the source.
    let mut ids: Vec<SyncId> = failed.iter().take(40).map(|e| e.sync_id).collect();
    let gone = vanished_entry(&demo.store, failed_run.id, "SD-GONE-1");
    ids.push(gone);
    let text = config_text(&demo.server).replace("single_query = { serial = \"{serial}\" }\n", "");
    assert!(!text.contains("single_query"));
    let config = parse(&text, false);
    let source_requests = demo.server.stats().fleet.requests;
    let (run, rows, _) = run_to_end(
        &config,
        &demo.store,
        Command::Resync { entries: ids },
        false,
    )
    .await;
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!((rows[0].processed, rows[0].total), (41, 41));
    // 900 devices at 500 a page: the whole listing is two pages, read once for all 41.
    let pages = demo.server.stats().fleet.requests - source_requests;
    assert!(pages <= 2, "{pages} source requests");
    for before in failed.iter().take(40) {
        let after = demo.store.get_entry(before.sync_id).unwrap().unwrap();
        let expected = if mdm_enrolled(&demo.server, &before.reference)
            && !mdm_outage(&demo.server, &before.reference)
        {
            EntryStatus::Ok
        } else {
            EntryStatus::Failed
        };
        assert_eq!(after.status, expected, "{after:?}");
    }
    let after = demo.store.get_entry(gone).unwrap().unwrap();
    assert_eq!(after.status, EntryStatus::Failed);
    assert_eq!(after.reason.as_deref(), Some("not_in_source"));
    let error = after.error.as_ref().unwrap();
    assert!(
        error.message.contains("SD-GONE-1 is not in the source"),
        "{error:?}"
    );
    // The earlier failure had no attempt of its own: it is kept as one.
    assert_eq!(after.attempts.len(), 1);
    assert_eq!(after.attempts[0].http_status, Some(503));

    // Now a retry cannot fix it: left out until the source has the record again.
    let plan = plan_resync(&demo.config, &demo.store, &[gone]).unwrap();
    assert!(plan.accepted.is_empty(), "{plan:?}");
    assert_eq!(plan.left_out, [("not in the source".to_string(), 1)]);

    // With a single_query the worker asks the source for the one serial, and says the same.
    let other = vanished_entry(&demo.store, failed_run.id, "SD-GONE-2");
    let before = demo.store.get_entry(other).unwrap().unwrap();
    let (_, rows, _) = run_to_end(
        &demo.config,
        &demo.store,
        Command::Resync {
            entries: vec![other],
        },
        false,
    )
    .await;
    assert_eq!(rows[0].counters.failed, 1);
    assert_eq!(rows[0].counters.not_syncable, 1, "{:?}", rows[0].counters);
    let again = demo.store.get_entry(other).unwrap().unwrap();
    assert_eq!(again.reason.as_deref(), Some("not_in_source"));
    assert!(
        again
            .error
            .as_ref()
            .unwrap()
            .message
            .contains("SD-GONE-2 is not in the source"),
        "{again:?}"
    );
    assert_eq!(again.attempts.len(), 1, "{again:?}");
    assert_eq!(before.attempts.len(), 0);
}

// --- the `syncdeck resync` binary ---------------------------------------------------------

async fn cli(fleet_size: usize) -> DemoFiles {
    DemoFiles::start_with(fleet_size, 23, config_text).await
}

/// `syncdeck --config C --store S ARGS` in a private environment, stdin not a terminal.
async fn syncdeck(cli: &DemoFiles, wrong_key: bool, args: &[&str]) -> Output {
    let mut command = common::cli::command(cli.dir.path());
    command
        .envs(secrets(wrong_key))
        .arg("--config")
        .arg(&cli.config)
        .arg("--store")
        .arg(&cli.store)
        .args(args);
    common::cli::output(command, LIMIT).await
}

/// Serials of the fleet the MDM has (`enrolled`) or lacks.
fn mdm_serials(server: &DemoServer, enrolled: bool, count: usize) -> Vec<String> {
    let fleet = server.fleet();
    (0..fleet.len())
        .map(|i| fleet.device(i).unwrap().serial)
        .filter(|serial| mdm_enrolled(server, serial) == enrolled)
        .take(count)
        .collect()
}

/// Sync ids of the Failed entries in the store (opened and closed again).
fn failed_ids(path: &Path) -> Vec<SyncId> {
    let store = Store::open(path, StoreOptions::default()).unwrap();
    let query = EntryQuery {
        status: Some(EntryStatus::Failed),
        ..EntryQuery::default()
    };
    let page = store.entries_page(&query, None, 1_000).unwrap();
    page.entries.iter().map(|e| e.sync_id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syncdeck_resync_failed_confirms_runs_and_exits_by_outcome() {
    let cli = cli(200).await;
    for serial in mdm_serials(&cli.server, true, 3) {
        let out = syncdeck(
            &cli,
            true,
            &["run", "--connection", "mdm", "--single", &serial, "--live"],
        )
        .await;
        assert_eq!(out.code, Some(1), "{out:?}");
    }
    assert_eq!(failed_ids(&cli.store).len(), 3);

    // No terminal and no --yes: refused, nothing run.
    let out = syncdeck(&cli, false, &["resync", "--failed"]).await;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr.contains("resync: 3 entries on mdm (3)"),
        "{out:?}"
    );
    assert!(out.stderr.contains("pass --yes"), "{out:?}");
    assert_eq!(failed_ids(&cli.store).len(), 3);

    // An unknown connection is bad usage.
    let out = syncdeck(&cli, false, &["resync", "--failed", "--connection", "nope"]).await;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr.contains("unknown connection \"nope\""),
        "{out:?}"
    );

    let out = syncdeck(
        &cli,
        false,
        &[
            "resync",
            "--failed",
            "--connection",
            "mdm",
            "--yes",
            "--json",
        ],
    )
    .await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let value: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"));
    let run = &value["run"];
    assert_eq!(run["type"], "resync", "{value}");
    assert_eq!(run["mode"], "live", "{value}");
    assert_eq!(run["status"], "completed", "{value}");
    assert_eq!(run["connections"][0]["name"], "mdm", "{value}");
    assert_eq!(run["connections"][0]["total"], 3, "{value}");
    assert_eq!(run["connections"][0]["processed"], 3, "{value}");
    assert_eq!(value["ok"].as_array().unwrap().len(), 3, "{value}");
    assert!(value["still_failing"].as_array().unwrap().is_empty());
    assert!(value["refused"].as_array().unwrap().is_empty());
    assert!(failed_ids(&cli.store).is_empty());

    // Nothing failed any more: nothing to resync.
    let out = syncdeck(&cli, false, &["resync", "--failed", "--yes"]).await;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("nothing to resync"), "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syncdeck_resync_entry_reports_what_still_fails_and_refuses_unknown_ids() {
    let cli = cli(200).await;
    let serial = mdm_serials(&cli.server, false, 1).remove(0);
    let out = syncdeck(
        &cli,
        true,
        &["run", "--connection", "mdm", "--single", &serial, "--live"],
    )
    .await;
    assert_eq!(out.code, Some(1), "{out:?}");
    let id = failed_ids(&cli.store)[0];

    let out = syncdeck(&cli, false, &["resync", "--entry", "999999", "--yes"]).await;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr
            .contains("entry 999999: no entry with sync id 999999"),
        "{out:?}"
    );
    assert!(out.stderr.contains("nothing to resync"), "{out:?}");

    // The MDM does not have this device: the 401 is gone, a Missing Destination remains.
    let out = syncdeck(
        &cli,
        false,
        &["resync", "--entry", &id.to_string(), "--yes"],
    )
    .await;
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stdout.contains("0 resynced OK"), "{out:?}");
    assert!(out.stdout.contains("1 still failing"), "{out:?}");
    assert!(
        out.stdout.contains(&format!(
            "entry {id} · {serial} on mdm · failed · no destination record"
        )),
        "{out:?}"
    );
    // Now a retry cannot fix it.
    let out = syncdeck(
        &cli,
        false,
        &["resync", "--entry", &id.to_string(), "--yes"],
    )
    .await;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("no create contract"), "{out:?}");
}
