//! Plan and apply against the demo systems over real HTTP on 127.0.0.1, with real store files:
//! a Full Dry run plans, a hand-made change to the demo CMDB makes one planned record drift, and
//! the Apply run writes exactly the rest; what an apply refuses; the contract hashes every entry
//! carries; the test-style totals and re-run hints of SPEC section 3.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use syncdeck::config::Config;
use syncdeck::demo::{self, DemoServer};
use syncdeck::engine::{self, Command, Event, RunRequest, RunScope, hints};
use syncdeck::store::{
    ConnectionRun, EntryStatus, Outcome, ReportEntry, Run, RunMode, RunStatus, RunType, Store,
    StoreOptions,
};

/// Longest an engine run or a child process may take before the test fails.
const LIMIT: Duration = Duration::from_secs(90);

mod common;

use common::demo::{Demo, parse_config};
use common::history::entries_of_run as entries;

async fn demo(fleet_size: usize) -> Demo {
    Demo::start(fleet_size, 31).await
}

fn request(scope: RunScope, mode: RunMode) -> Command {
    Command::StartRun(RunRequest {
        scope,
        connections: vec!["cmdb".to_string()],
        mode: Some(mode),
        force: true,
    })
}

/// Sends `command` to an engine of its own and follows the run to its end; Err is the reason
/// the engine refused it.
async fn run(config: &Arc<Config>, store: &Store, command: Command) -> Result<Run, String> {
    let mut engine = engine::spawn(config.clone(), store.clone());
    engine.commands.send(command).unwrap();
    let ended = tokio::time::timeout(LIMIT, async {
        loop {
            match engine.events.recv().await.expect("engine stopped") {
                Event::Refused { reason } => return Err(reason),
                Event::RunFinished { run } => return Ok(run),
                _ => {}
            }
        }
    })
    .await
    .expect("the run did not finish in time");
    let _ = engine.commands.send(Command::Shutdown);
    let _ = tokio::time::timeout(LIMIT, engine.task).await;
    ended
}

async fn run_ok(demo: &Demo, command: Command) -> (Run, Vec<ConnectionRun>) {
    let run = run(&demo.config, &demo.store, command)
        .await
        .unwrap_or_else(|reason| panic!("refused: {reason}"));
    let rows = demo.store.connection_runs(run.id).unwrap();
    (run, rows)
}

fn apply(run_id: u64, connections: &[&str]) -> Command {
    Command::Apply {
        run_id,
        connections: connections.iter().map(|c| c.to_string()).collect(),
    }
}

fn planned(store: &Store, run_id: u64) -> Vec<ReportEntry> {
    let mut planned: Vec<ReportEntry> = entries(store, run_id)
        .into_iter()
        .filter(|e| e.outcome == Outcome::WouldUpdate || e.outcome == Outcome::WouldCreate)
        .collect();
    planned.sort_by_key(|e| e.sync_id);
    planned
}

/// Changes one field of a CMDB record by hand, as someone in the CMDB's own UI would.
async fn patch_cmdb(server: &DemoServer, sys_id: &str, fields: Value) {
    let token = demo::demo_secrets()
        .iter()
        .find(|(name, _)| *name == "SYNCDECK_DEMO_CMDB_TOKEN")
        .map(|(_, value)| *value)
        .unwrap();
    let url = format!("http://{}/cmdb/api/assets/{sys_id}", server.addr());
    let response = tokio::time::timeout(
        LIMIT,
        reqwest::Client::new()
            .patch(url)
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(fields.to_string())
            .send(),
    )
    .await
    .expect("the PATCH did not answer in time")
    .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
}

/// The fleet index of a serial the demo CMDB holds stale, with a mapped source.
fn stale_serial(server: &DemoServer) -> String {
    let fleet = server.fleet();
    (0..fleet.len())
        .find_map(|i| {
            let device = fleet.device(i)?;
            let traits = fleet.traits(i)?;
            (device.status.is_some()
                && !traits.cmdb.missing
                && !traits.cmdb.stale_fields.is_empty())
            .then(|| device.serial.clone())
        })
        .expect("the demo has a stale device")
}

const DRIFTED_NAME: &str = "renamed-by-hand";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apply_writes_exactly_the_plan_and_reports_the_record_that_drifted() {
    let demo = demo(300).await;
    let (dry, rows) = run_ok(&demo, request(RunScope::Full, RunMode::Dry)).await;
    assert_eq!(dry.status, RunStatus::Completed);
    let plan = planned(&demo.store, dry.id);
    let k = plan.len() as u64;
    assert_eq!(rows[0].counters.would_update, k);
    assert!(k > 2, "the demo plans a few changes: {k}");
    assert_eq!(
        demo.server.stats().cmdb.writes,
        0,
        "a Dry run writes nothing"
    );

    // Someone renames one planned record in the CMDB between the plan and the apply.
    let drifting = &plan[1];
    let sys_id = drifting
        .target_id
        .as_deref()
        .expect("a planned update has a target");
    patch_cmdb(&demo.server, sys_id, json!({ "name": DRIFTED_NAME })).await;
    assert_eq!(demo.server.stats().cmdb.writes, 1);

    let (applied, rows) = run_ok(&demo, apply(dry.id, &[])).await;
    assert_eq!(applied.run_type, RunType::Apply);
    assert_eq!(applied.mode, RunMode::Live);
    assert_eq!(applied.status, RunStatus::Completed, "{applied:?}");
    assert_eq!(applied.connections, vec!["cmdb".to_string()]);
    let note = applied.note.clone().unwrap_or_default();
    assert!(
        note.contains(&format!("the plan of run #{}: {k} records", dry.id)),
        "{note}"
    );

    let written = entries(&demo.store, applied.id);
    let planned_serials: BTreeSet<&str> = plan.iter().map(|e| e.reference.as_str()).collect();
    let applied_serials: BTreeSet<&str> = written.iter().map(|e| e.reference.as_str()).collect();
    assert_eq!(written.len() as u64, k, "one entry per planned record");
    assert_eq!(
        applied_serials, planned_serials,
        "exactly the planned records"
    );
    assert_eq!(
        demo.server.stats().cmdb.writes,
        1 + (k - 1),
        "the hand-made PATCH and every planned record but the drifted one"
    );

    let drifted: Vec<&ReportEntry> = written
        .iter()
        .filter(|e| e.reason.as_deref() == Some("drifted"))
        .collect();
    assert_eq!(drifted.len(), 1, "{written:#?}");
    let entry = drifted[0];
    assert_eq!(entry.reference, drifting.reference);
    assert_eq!(entry.status, EntryStatus::Failed);
    assert_eq!(entry.outcome, Outcome::Skipped);
    let error = entry.error.as_ref().expect("a drifted entry says why");
    assert!(
        error
            .message
            .starts_with(&format!("drifted since run #{} planned: name was", dry.id)),
        "{}",
        error.message
    );
    assert!(error.message.contains(DRIFTED_NAME), "{}", error.message);
    assert_eq!(
        error.hint.as_deref(),
        Some("run a Dry run again to see the new plan, then apply it")
    );
    assert!(
        entry
            .diff
            .iter()
            .any(|c| c.field == "name" && c.old == Some(json!(DRIFTED_NAME))),
        "the fresh diff: {:?}",
        entry.diff
    );
    // Not written: no contract, and the hashes say nothing changed.
    assert!(
        demo.store
            .get_contract("cmdb", &entry.reference)
            .unwrap()
            .is_none()
    );
    let hashes = entry.hashes.clone().expect("hashes");
    assert_eq!((hashes.before, hashes.after), (None, None));
    // A resync would write what nobody reviewed: it is refused, pointing back to a Dry run.
    let resync = engine::plan_resync(&demo.config, &demo.store, &[entry.sync_id]).unwrap();
    assert!(resync.is_empty());
    assert!(
        resync.refused[0].1.contains("run a Dry run again"),
        "{resync:?}"
    );

    for entry in written.iter().filter(|e| e.reason.is_none()) {
        assert_eq!(entry.status, EntryStatus::Ok, "{entry:?}");
        assert_eq!(entry.outcome, Outcome::Updated, "{entry:?}");
        let hashes = entry.hashes.clone().expect("hashes");
        assert_eq!(hashes.before, None, "no contract before");
        let contract = demo
            .store
            .get_contract("cmdb", &entry.reference)
            .unwrap()
            .expect("a contract after a write");
        assert_eq!(Some(contract.last_hash), hashes.after);
        // What the Dry run said a Live run would write is what was written.
        let dry_entry = plan
            .iter()
            .find(|p| p.reference == entry.reference)
            .unwrap();
        assert_eq!(dry_entry.hashes.as_ref().unwrap().after, hashes.after);
        assert_eq!(dry_entry.diff, entry.diff);
    }

    let row = &rows[0];
    assert_eq!(row.status, RunStatus::Completed);
    assert_eq!((row.total, row.processed), (k, k));
    let c = row.counters;
    assert_eq!((c.updated, c.failed, c.skipped), (k - 1, 1, 0), "{c:?}");
    assert_eq!((c.fetched, c.new, c.changed, c.unchanged), (k, k, 0, 0));
    let note = row.note.clone().unwrap_or_default();
    assert!(note.contains("1 drifted"), "{note}");

    // The plan is not written twice: applying it again finds every record done (or drifted).
    let writes = demo.server.stats().cmdb.writes;
    let (again, rows) = run_ok(&demo, apply(dry.id, &["cmdb"])).await;
    assert_eq!(again.run_type, RunType::Apply);
    assert_eq!(
        demo.server.stats().cmdb.writes,
        writes,
        "nothing written again"
    );
    assert_eq!(rows[0].counters.failed, k, "{:?}", rows[0].counters);
    let already = entries(&demo.store, again.id)
        .into_iter()
        .filter(|e| e.reference != drifting.reference)
        .map(|e| e.error.unwrap().message)
        .collect::<Vec<_>>();
    assert!(
        already
            .iter()
            .all(|m| m.ends_with("the destination already holds the planned values")),
        "{already:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apply_is_refused_with_a_reason_it_cannot_honour() {
    let demo = demo(150).await;
    let refused = |command: Command| {
        let config = demo.config.clone();
        let store = demo.store.clone();
        async move {
            match run(&config, &store, command).await {
                Err(reason) => reason,
                Ok(run) => panic!("not refused: {run:?}"),
            }
        }
    };
    let reason = refused(apply(999, &[])).await;
    assert!(reason.contains("no run #999"), "{reason}");

    let (live, _) = run_ok(&demo, request(RunScope::Full, RunMode::Live)).await;
    let reason = refused(apply(live.id, &[])).await;
    assert!(reason.contains("is a Live run"), "{reason}");

    let (dry, _) = run_ok(&demo, request(RunScope::Full, RunMode::Dry)).await;
    let reason = refused(apply(dry.id, &["mdm"])).await;
    assert!(
        reason.contains("\"mdm\" is not in run") && reason.contains("cmdb"),
        "{reason}"
    );
    // The Live run synced every stale record: the Dry run after it plans nothing.
    assert_eq!(planned(&demo.store, dry.id).len(), 0);
    let reason = refused(apply(dry.id, &[])).await;
    assert!(reason.contains("planned nothing"), "{reason}");

    // A plan made with another configuration of the connection is not applied.
    let fresh = self::demo(150).await;
    let (dry, _) = run_ok(&fresh, request(RunScope::Full, RunMode::Dry)).await;
    assert!(!planned(&fresh.store, dry.id).is_empty());
    let text = demo::config_for(fresh.server.addr()).replacen(
        "system = \"ServiceNow CMDB (demo)\"",
        "system = \"ServiceNow CMDB (renamed)\"",
        1,
    );
    let changed = Arc::new(parse_config(&text));
    let reason = match run(&changed, &fresh.store, apply(dry.id, &[])).await {
        Err(reason) => reason,
        Ok(run) => panic!("not refused: {run:?}"),
    };
    assert_eq!(
        reason,
        format!(
            "the configuration of cmdb changed since run #{} planned; run a Dry run again",
            dry.id
        )
    );
    assert_eq!(fresh.server.stats().cmdb.writes, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_carry_the_contract_hash_before_and_after_them() {
    let demo = demo(200).await;
    let serial = stale_serial(&demo.server);
    let single = || RunScope::Single(serial.clone());

    let (dry, _) = run_ok(&demo, request(single(), RunMode::Dry)).await;
    let dry_entry = &entries(&demo.store, dry.id)[0];
    assert_eq!(dry_entry.outcome, Outcome::WouldUpdate);
    let hashes = dry_entry.hashes.clone().expect("hashes");
    assert_eq!(hashes.before, None, "no contract yet");
    let planned_hash = hashes.after.expect("the hash a Live run would write");
    assert!(demo.store.get_contract("cmdb", &serial).unwrap().is_none());

    let (live, _) = run_ok(&demo, request(single(), RunMode::Live)).await;
    let live_entry = &entries(&demo.store, live.id)[0];
    assert_eq!(live_entry.status, EntryStatus::Ok);
    let hashes = live_entry.hashes.clone().expect("hashes");
    assert_eq!(hashes.before, None);
    assert_eq!(hashes.after.as_deref(), Some(planned_hash.as_str()));
    let contract = demo.store.get_contract("cmdb", &serial).unwrap().unwrap();
    assert_eq!(contract.last_hash, planned_hash);

    // Unchanged since: the same hash before and after.
    let (again, _) = run_ok(&demo, request(single(), RunMode::Live)).await;
    let entry = &entries(&demo.store, again.id)[0];
    assert_eq!(entry.reason.as_deref(), Some("unchanged"));
    let hashes = entry.hashes.clone().expect("hashes");
    assert_eq!(hashes.before.as_deref(), Some(planned_hash.as_str()));
    assert_eq!(hashes.after.as_deref(), Some(planned_hash.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn totals_and_re_run_hints_of_full_and_single_runs() {
    let demo = demo(250).await;
    let (_, rows) = run_ok(&demo, request(RunScope::Full, RunMode::Live)).await;
    let first = rows[0].clone();
    let c = first.counters;
    assert_eq!(c.fetched, 250);
    assert_eq!((c.new, c.changed, c.unchanged), (250, 0, 0));
    assert!(
        !first
            .note
            .clone()
            .unwrap_or_default()
            .contains(hints::NOTHING_NEW)
    );

    // A re-run: every record written or found in sync before is unchanged; the only "new" ones
    // are those that can never be written (no destination record, no required source field).
    let (_, rows) = run_ok(&demo, request(RunScope::Full, RunMode::Live)).await;
    let row = &rows[0];
    let c = row.counters;
    assert_eq!(c.fetched, 250);
    assert_eq!(c.changed, 0);
    assert_eq!(c.unchanged, first.counters.updated + first.counters.skipped);
    assert_eq!(c.new, c.missing_destination + c.missing_source);
    assert_eq!(c.fetched, c.new + c.changed + c.unchanged);
    let note = row.note.clone().unwrap_or_default();
    assert!(note.contains(hints::NOTHING_NEW), "{note}");

    // A Single re-run of a synced record: one fetched, unchanged, the same hint.
    let serial = stale_serial(&demo.server);
    let (_, rows) = run_ok(&demo, request(RunScope::Single(serial), RunMode::Dry)).await;
    let c = rows[0].counters;
    assert_eq!((c.fetched, c.new, c.changed, c.unchanged), (1, 0, 0, 1));
    let note = rows[0].note.clone().unwrap_or_default();
    assert!(note.contains(hints::NOTHING_NEW), "{note}");

    // A source that lists nothing: 0 fetched, and the hint says where to look.
    let empty = self::demo(0).await;
    let (_, rows) = run_ok(&empty, request(RunScope::Full, RunMode::Dry)).await;
    assert_eq!(rows[0].counters.fetched, 0);
    let note = rows[0].note.clone().unwrap_or_default();
    assert!(note.contains(hints::NOTHING_FETCHED), "{note}");
}

/// `syncdeck --config C --store S ARGS` with the demo secrets, XDG dirs under the temp dir.
async fn syncdeck(demo: &Demo, config: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let home = demo.dir.path();
    let mut command = common::cli::demo_command(home);
    command
        .arg("--config")
        .arg(config)
        .arg("--store")
        .arg(home.join("cli.redb"))
        .args(args);
    let out = common::cli::output(command, LIMIT).await;
    (out.code, out.stdout, out.stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_apply_json_prints_the_summary_and_exits_1_when_a_record_drifted() {
    let demo = demo(200).await;
    let config = demo.dir.path().join("config.toml");
    std::fs::write(&config, demo::config_for(demo.server.addr())).unwrap();

    let (code, stdout, stderr) = syncdeck(
        &demo,
        &config,
        &[
            "run",
            "--connection",
            "cmdb",
            "--full",
            "--dry-run",
            "--json",
        ],
    )
    .await;
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let dry: Value = serde_json::from_str(&stdout).unwrap();
    let dry_id = dry["run_id"].as_u64().unwrap();
    let k = dry["connections"][0]["counters"]["would_update"]
        .as_u64()
        .unwrap();
    assert!(k > 1, "{dry}");

    // Read the plan from the store the child wrote (it has exited and let go of it).
    let target = {
        let store = Store::open(demo.dir.path().join("cli.redb"), StoreOptions::default()).unwrap();
        planned(&store, dry_id)[0].target_id.clone().unwrap()
    };
    patch_cmdb(&demo.server, &target, json!({ "name": DRIFTED_NAME })).await;

    let id = dry_id.to_string();
    let (code, stdout, stderr) = syncdeck(&demo, &config, &["run", "--apply", &id, "--json"]).await;
    assert_eq!(code, Some(1), "a record drifted: {stdout}\n{stderr}");
    let applied: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(applied["type"], "apply", "{applied}");
    assert_eq!(applied["mode"], "live", "{applied}");
    assert_eq!(applied["status"], "completed", "{applied}");
    let cmdb = &applied["connections"][0];
    assert_eq!(cmdb["name"], "cmdb");
    assert_eq!(cmdb["processed"], json!(k));
    assert_eq!(cmdb["fetched"], json!(k));
    assert_eq!(cmdb["counters"]["updated"], json!(k - 1), "{cmdb}");
    assert_eq!(cmdb["counters"]["failed"], json!(1), "{cmdb}");
    assert!(
        cmdb["note"]
            .as_str()
            .unwrap_or_default()
            .contains("1 drifted"),
        "{cmdb}"
    );
    assert_eq!(demo.server.stats().cmdb.writes, 1 + (k - 1));

    // Applying a Live run is refused: bad usage, the reason on stderr, nothing on stdout.
    let live_id = applied["run_id"].as_u64().unwrap().to_string();
    let (code, stdout, stderr) =
        syncdeck(&demo, &config, &["run", "--apply", &live_id, "--json"]).await;
    assert_eq!(code, Some(2), "{stdout}\n{stderr}");
    assert!(stdout.trim().is_empty(), "{stdout}");
    assert!(stderr.contains("is a Live run"), "{stderr}");
}
