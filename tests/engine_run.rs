//! The engine end to end against the demo systems over real HTTP on 127.0.0.1: Single and Full,
//! Dry and Live, for each demo connection, with the counters and statuses SPEC section 3 promises.

use std::time::Duration;

use syncdeck::demo::{self, DemoServer};
use syncdeck::engine::{self, Command, Event, RunRequest, RunScope};
use syncdeck::store::{ConnectionRun, EntryQuery, EntryStatus, Outcome, Run, RunMode, RunStatus};

mod common;

use common::demo::Demo;

async fn demo(fleet_size: usize) -> Demo {
    Demo::start(fleet_size, 11).await
}

fn request(scope: RunScope, connection: &str, mode: RunMode) -> RunRequest {
    RunRequest {
        scope,
        connections: vec![connection.to_string()],
        mode: Some(mode),
        force: true,
    }
}

/// Runs to the end; returns the run, its connection runs and every event seen.
async fn run_to_end(demo: &Demo, request: RunRequest) -> (Run, Vec<ConnectionRun>, Vec<Event>) {
    let mut engine = engine::spawn(demo.config.clone(), demo.store.clone());
    engine.commands.send(Command::StartRun(request)).unwrap();
    let mut events = Vec::new();
    let run = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let event = engine.events.recv().await.expect("engine stopped");
            if let Event::Refused { reason } = &event {
                panic!("refused: {reason}");
            }
            if let Event::RunFinished { run } = &event {
                let run = run.clone();
                events.push(event);
                return run;
            }
            events.push(event);
        }
    })
    .await
    .expect("run did not finish in 60 s");
    engine.commands.send(Command::Shutdown).unwrap();
    let rows = demo.store.connection_runs(run.id).unwrap();
    (run, rows, events)
}

fn entries(demo: &Demo, run_id: u64) -> Vec<syncdeck::store::ReportEntry> {
    common::history::entries_of_run(&demo.store, run_id)
}

/// Expected Full Dry counters of a demo connection, from what the demo says about each device.
struct Expected {
    missing_source: u64,
    missing_destination: u64,
    would_update: u64,
    skipped: u64,
}

fn expected_cmdb(server: &DemoServer) -> Expected {
    let fleet = server.fleet();
    let mut e = Expected {
        missing_source: 0,
        missing_destination: 0,
        would_update: 0,
        skipped: 0,
    };
    for i in 0..fleet.len() {
        let device = fleet.device(i).unwrap();
        let traits = fleet.traits(i).unwrap();
        if device.status.is_none() {
            e.missing_source += 1;
        } else if traits.cmdb.missing {
            e.missing_destination += 1;
        } else if traits.cmdb.stale_fields.is_empty() {
            e.skipped += 1;
        } else {
            e.would_update += 1;
        }
    }
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_dry_run_of_the_cmdb_counts_what_the_demo_holds_and_writes_nothing() {
    let demo = demo(800).await;
    let (run, rows, events) =
        run_to_end(&demo, request(RunScope::Full, "cmdb", RunMode::Dry)).await;
    assert_eq!(run.status, RunStatus::Completed);
    let row = &rows[0];
    let c = row.counters;
    let e = expected_cmdb(&demo.server);
    assert_eq!(row.processed, 800);
    assert_eq!(c.fetched, 800);
    assert_eq!(c.missing_source, e.missing_source);
    assert_eq!(c.missing_destination, e.missing_destination);
    assert_eq!(c.would_update, e.would_update);
    assert_eq!(c.skipped, e.skipped);
    assert_eq!(c.errors, 0);
    assert_eq!(
        c.would_update + c.skipped + c.missing_source + c.missing_destination + c.errors,
        800
    );
    assert!(
        e.missing_destination > 5 && e.would_update > 100,
        "the demo is varied"
    );
    assert_eq!(c.new, 800, "no contracts yet");
    // Dry: nothing written anywhere, no contract.
    assert_eq!(demo.server.stats().destination_writes(), 0);
    assert_eq!(demo.store.count_contracts("cmdb").unwrap(), 0);
    // Every record has its entry, with the field diff for would-update ones.
    let all = entries(&demo, run.id);
    assert_eq!(all.len(), 800);
    assert!(all.iter().all(|e| e.status == EntryStatus::Dry));
    let would: Vec<_> = all
        .iter()
        .filter(|e| e.outcome == Outcome::WouldUpdate)
        .collect();
    assert!(would.iter().all(|e| !e.diff.is_empty()));
    assert!(
        all.iter()
            .filter(|e| e.outcome == Outcome::MissingSource)
            .all(|e| e.error.as_ref().unwrap().message.contains("status"))
    );
    assert!(events.iter().any(|e| matches!(e, Event::Progress { .. })));
    // on_null = "skip": a device without an owner never sends assigned_to.
    let fleet = demo.server.fleet();
    let ownerless: Vec<String> = (0..fleet.len())
        .map(|i| fleet.device(i).unwrap())
        .filter(|d| d.owner.is_none() && d.status.is_some())
        .map(|d| d.serial)
        .collect();
    assert!(!ownerless.is_empty());
    for entry in all.iter().filter(|e| ownerless.contains(&e.reference)) {
        assert!(
            entry.diff.iter().all(|c| c.field != "assigned_to"),
            "{entry:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_null_clear_sends_null_to_the_registry() {
    // A device the registry lacks is created with every field: its null owner is sent as null.
    let demo = demo(5_000).await;
    let serial = serial_where(&demo.server, |d, t| {
        d.owner.is_none() && d.status.is_some() && t.registry.missing && !t.unknown_site
    });
    let scope = RunScope::Single(serial);
    let (run, _, _) = run_to_end(&demo, request(scope, "registry", RunMode::Dry)).await;
    let entry = &entries(&demo, run.id)[0];
    assert_eq!(entry.outcome, Outcome::WouldCreate, "{entry:?}");
    let owner = entry
        .diff
        .iter()
        .find(|c| c.field == "owner")
        .expect("owner in the diff");
    assert_eq!(owner.old, None);
    assert_eq!(owner.new, Some(serde_json::Value::Null));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_runs_of_every_connection_write_nothing() {
    let demo = demo(300).await;
    let request = RunRequest {
        scope: RunScope::Full,
        connections: Vec::new(),
        mode: Some(RunMode::Dry),
        force: false,
    };
    let (run, rows, _) = run_to_end(&demo, request).await;
    assert_eq!(rows.len(), 4, "every connection in config order");
    assert_eq!(
        rows.iter()
            .map(|r| r.connection.as_str())
            .collect::<Vec<_>>(),
        ["cmdb", "registry", "mdm", "cmdb-wrong-method"]
    );
    assert_eq!(run.mode, RunMode::Dry);
    assert_eq!(demo.server.stats().destination_writes(), 0);
    for name in ["cmdb", "registry", "mdm", "cmdb-wrong-method"] {
        assert_eq!(demo.store.count_contracts(name).unwrap(), 0, "{name}");
    }
}

fn serial_where(
    server: &DemoServer,
    pick: impl Fn(&demo::Device, &demo::DeviceTraits) -> bool,
) -> String {
    let fleet = server.fleet();
    (0..fleet.len())
        .find(|&i| pick(&fleet.device(i).unwrap(), &fleet.traits(i).unwrap()))
        .map(|i| fleet.device(i).unwrap().serial)
        .expect("the demo has such a device")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_dry_then_single_live_then_unchanged() {
    let demo = demo(300).await;
    let serial = serial_where(&demo.server, |d, t| {
        d.status.is_some() && !t.cmdb.missing && !t.cmdb.stale_fields.is_empty()
    });
    let single = || RunScope::Single(serial.clone());

    let (run, rows, _) = run_to_end(&demo, request(single(), "cmdb", RunMode::Dry)).await;
    assert_eq!(rows[0].processed, 1);
    assert_eq!(rows[0].total, 1);
    assert_eq!(rows[0].counters.would_update, 1);
    let entry = &entries(&demo, run.id)[0];
    assert_eq!(entry.reference, serial);
    assert_eq!(entry.outcome, Outcome::WouldUpdate);
    assert!(!entry.diff.is_empty());
    assert_eq!(demo.server.stats().cmdb.writes, 0);

    let (run, rows, _) = run_to_end(&demo, request(single(), "cmdb", RunMode::Live)).await;
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(rows[0].counters.updated, 1);
    assert_eq!(demo.server.stats().cmdb.writes, 1);
    let entry = &entries(&demo, run.id)[0];
    assert_eq!(entry.status, EntryStatus::Ok);
    assert_eq!(entry.outcome, Outcome::Updated);
    let contract = demo.store.get_contract("cmdb", &serial).unwrap().unwrap();
    assert!(contract.target_id.is_some());
    assert!(contract.last_synced.is_some());

    let (_, rows, _) = run_to_end(&demo, request(single(), "cmdb", RunMode::Live)).await;
    let c = rows[0].counters;
    assert_eq!((c.new, c.changed, c.unchanged), (0, 0, 1));
    assert_eq!(c.skipped, 1);
    assert_eq!(demo.server.stats().cmdb.writes, 1, "nothing written again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_live_cmdb_updates_the_stale_then_a_second_run_finds_only_unchanged() {
    let demo = demo(400).await;
    let e = expected_cmdb(&demo.server);
    let (run, rows, _) = run_to_end(&demo, request(RunScope::Full, "cmdb", RunMode::Live)).await;
    let c = rows[0].counters;
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(c.updated, e.would_update);
    assert_eq!(c.missing_destination, e.missing_destination);
    assert_eq!(c.missing_source, e.missing_source);
    assert_eq!(demo.server.stats().cmdb.writes, e.would_update);
    let missing: Vec<_> = entries(&demo, run.id)
        .into_iter()
        .filter(|e| e.outcome == Outcome::MissingDestination)
        .collect();
    assert_eq!(missing.len() as u64, e.missing_destination);
    assert!(missing.iter().all(|e| e.status == EntryStatus::Failed));

    let (_, rows, _) = run_to_end(&demo, request(RunScope::Full, "cmdb", RunMode::Live)).await;
    let c = rows[0].counters;
    assert_eq!(c.updated, 0, "the second run writes nothing");
    assert_eq!(c.changed, 0);
    assert_eq!(c.unchanged, e.would_update + e.skipped);
    assert_eq!(demo.server.stats().cmdb.writes, e.would_update);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_is_written_in_xml_creates_missing_and_reports_invalid_content() {
    let demo = demo(400).await;
    let (_, rows, _) = run_to_end(&demo, request(RunScope::Full, "registry", RunMode::Live)).await;
    let row = &rows[0];
    let fleet = demo.server.fleet();
    let unknown_site = (0..fleet.len())
        .filter(|&i| {
            fleet.device(i).unwrap().status.is_some() && fleet.traits(i).unwrap().unknown_site
        })
        .count() as u64;
    let missing = (0..fleet.len())
        .filter(|&i| {
            let t = fleet.traits(i).unwrap();
            fleet.device(i).unwrap().status.is_some() && t.registry.missing && !t.unknown_site
        })
        .count() as u64;
    assert!(row.counters.created >= missing.min(1), "{:?}", row.counters);
    assert!(row.counters.updated > 0);
    assert_eq!(row.counters.failed, unknown_site, "{:?}", row.counters);
    let failed: Vec<_> = entries(&demo, row.run_id)
        .into_iter()
        .filter(|e| e.status == EntryStatus::Failed && e.outcome == Outcome::Error)
        .collect();
    for entry in &failed {
        let error = entry.error.as_ref().unwrap();
        assert_eq!(error.http_status, Some(400));
        assert_eq!(error.code.as_deref(), Some("INVALID_CONTENT"));
        assert!(error.hint.as_ref().unwrap().contains("mapping"));
        // PUT for an update, POST for a create of a missing record at an unknown site.
        assert!(
            matches!(error.method.as_deref(), Some("PUT" | "POST")),
            "{error:?}"
        );
    }
    assert!(demo.server.stats().registry.writes > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mdm_retries_503s_waits_out_the_429_and_verifies_202s() {
    let demo = demo(300).await;
    let (run, rows, events) =
        run_to_end(&demo, request(RunScope::Full, "mdm", RunMode::Live)).await;
    assert_eq!(run.status, RunStatus::Completed, "{:?}", rows[0].error);
    let c = rows[0].counters;
    let fleet = demo.server.fleet();
    let outage: Vec<String> = (0..fleet.len())
        .filter(|&i| fleet.traits(i).unwrap().mdm_outage)
        .map(demo::Fleet::serial)
        .collect();
    assert!(!outage.is_empty(), "this fleet has outage devices");
    // The flaky devices' 503 and the 429 are retried; the maintenance outage outlasts the retries.
    assert_eq!(c.failed, outage.len() as u64, "{c:?}");
    assert!(c.updated > 25, "past the throttled write: {c:?}");
    let attempts = 1 + demo.config.connection("mdm").unwrap().max_retries as usize;
    assert!(attempts < demo::MDM_OUTAGE_WRITES as usize);
    let (mut failed, missing): (Vec<_>, Vec<_>) = entries(&demo, run.id)
        .into_iter()
        .filter(|e| e.status == EntryStatus::Failed)
        .partition(|e| e.outcome == Outcome::Error);
    assert!(
        missing
            .iter()
            .all(|e| e.outcome == Outcome::MissingDestination)
    );
    assert_eq!(missing.len() as u64, c.missing_destination);
    failed.sort_by(|a, b| a.reference.cmp(&b.reference));
    let failed_serials: Vec<String> = failed.iter().map(|e| e.reference.clone()).collect();
    assert_eq!(failed_serials, outage);
    for entry in &failed {
        assert_eq!(entry.outcome, Outcome::Error, "{entry:?}");
        let error = entry.error.as_ref().unwrap();
        assert_eq!(error.http_status, Some(503), "{error:?}");
        assert_eq!(error.code.as_deref(), Some("MAINTENANCE"), "{error:?}");
        assert_eq!(error.method.as_deref(), Some("PATCH"), "{error:?}");
        assert!(
            error.hint.as_deref().unwrap().contains("destination down"),
            "{error:?}"
        );
        assert_eq!(entry.attempts.len(), attempts, "{entry:?}");
        // Every attempt met the outage (or the server's one 429).
        assert!(
            entry
                .attempts
                .iter()
                .all(|a| matches!(a.http_status, Some(503 | 429))),
            "{entry:?}"
        );
        assert_eq!(entry.attempts.last().unwrap().http_status, Some(503));
    }
    let retries: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::RetryScheduled { reason, delay, .. } => Some((reason.clone(), *delay)),
            _ => None,
        })
        .collect();
    assert!(
        retries
            .iter()
            .any(|(reason, delay)| reason.contains("429") && *delay >= Duration::from_secs(1)),
        "{retries:?}"
    );
    assert!(
        retries.iter().any(|(reason, _)| reason.contains("503")),
        "{retries:?}"
    );
    let written: Vec<_> = entries(&demo, run.id)
        .into_iter()
        .filter(|e| e.outcome == Outcome::Updated)
        .collect();
    assert!(
        written.iter().all(|e| e.status == EntryStatus::Ok),
        "202 + verify = OK"
    );
    assert!(
        written.iter().any(|e| e.attempts.len() >= 2),
        "a retried entry keeps its attempts"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wrong_method_connection_fails_fast_with_its_hint() {
    let demo = demo(600).await;
    let (run, rows, _) = run_to_end(
        &demo,
        request(RunScope::Full, "cmdb-wrong-method", RunMode::Live),
    )
    .await;
    let row = &rows[0];
    assert_eq!(row.status, RunStatus::Failed);
    assert_eq!(run.status, RunStatus::Failed);
    let error = row.error.as_ref().unwrap();
    assert!(error.message.contains("405"), "{}", error.message);
    assert!(error.hint.as_ref().unwrap().contains("method"));
    let writes = demo.server.stats().cmdb.writes;
    let concurrency = demo
        .config
        .connection("cmdb-wrong-method")
        .unwrap()
        .concurrency as u64;
    // In flight when the fifth 405 came back: at most `concurrency` requests, plus results
    // already finished and waiting to be counted (the result queue holds 2 x concurrency).
    assert!(
        writes >= 5 && writes <= 5 + 3 * concurrency,
        "stopped after abort_after: {writes}"
    );
    assert!(row.processed < 600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_dispatching_and_records_what_finished() {
    let demo = demo(20_000).await;
    let mut engine = engine::spawn(demo.config.clone(), demo.store.clone());
    engine
        .commands
        .send(Command::StartRun(request(
            RunScope::Full,
            "mdm",
            RunMode::Dry,
        )))
        .unwrap();
    let run = tokio::time::timeout(Duration::from_secs(60), async {
        let mut canceled = false;
        loop {
            match engine.events.recv().await.unwrap() {
                Event::Progress {
                    run_id, processed, ..
                } if !canceled && processed > 50 => {
                    engine.commands.send(Command::Cancel { run_id }).unwrap();
                    canceled = true;
                }
                Event::RunFinished { run } => return run,
                _ => {}
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(run.status, RunStatus::Canceled);
    let rows = demo.store.connection_runs(run.id).unwrap();
    assert_eq!(rows[0].status, RunStatus::Canceled);
    assert!(rows[0].processed < 20_000);
    assert!(
        run.note.as_ref().unwrap().contains(" of "),
        "{:?}",
        run.note
    );
    assert!(
        rows[0].total > rows[0].processed,
        "the gauge's N counts what was listed: {} of {}",
        rows[0].processed,
        rows[0].total
    );
    let recorded = demo
        .store
        .count_entries(&EntryQuery {
            run: Some(run.id),
            ..EntryQuery::default()
        })
        .unwrap();
    assert_eq!(
        recorded, rows[0].processed,
        "every processed record has its entry"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_safety_gate_wants_a_clean_full_dry_run_first() {
    let demo = demo(200).await;
    let gated = RunRequest {
        scope: RunScope::Full,
        connections: vec!["mdm".into()],
        mode: Some(RunMode::Live),
        force: false,
    };
    let refusal = engine::plan_run(&demo.config, &demo.store, &gated).unwrap_err();
    assert!(refusal.contains("no clean Full Dry run"), "{refusal}");
    run_to_end(&demo, request(RunScope::Full, "mdm", RunMode::Dry)).await;
    engine::plan_run(&demo.config, &demo.store, &gated)
        .expect("allowed after a clean Full Dry run");
    // A Single Live run is never gated.
    let single = RunRequest {
        scope: RunScope::Single("SD-000001".into()),
        ..gated.clone()
    };
    engine::plan_run(&demo.config, &demo.store, &single).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_run_of_a_serial_not_in_the_source_fails_and_says_so() {
    let demo = demo(100).await;
    let scope = RunScope::Single("NO-SUCH-SERIAL".into());
    let (run, rows, _) = run_to_end(&demo, request(scope, "cmdb", RunMode::Dry)).await;
    assert_eq!(run.status, RunStatus::Failed);
    let error = rows[0].error.as_ref().unwrap();
    assert!(
        error
            .message
            .contains("NO-SUCH-SERIAL is not in the source"),
        "{}",
        error.message
    );
}
