//! `syncdeck run`, the headless engine, as a separate process against the demo systems served
//! from this test process: the SPEC section 6 JSON (with the run's trigger and owner), exit codes
//! 0/1/2/3, the safety gate, a store shared with another process, and usage errors that say what
//! to do.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use syncdeck::demo::{self, DemoServer};
use syncdeck::store::{RunOwner, RunStatus, Store, StoreOptions};

mod common;

use common::cli::{self, DemoFiles, Output};

const FLEET: u64 = 700;
const CONNECTIONS: [&str; 4] = ["cmdb", "registry", "mdm", "cmdb-wrong-method"];
/// Longest a child may take; a hung one is killed and the test fails.
const CHILD_LIMIT: Duration = Duration::from_secs(120);

/// A demo server in this process, a config pointing at it and a scratch dir for the store and
/// the child's XDG directories.
async fn setup() -> DemoFiles {
    DemoFiles::start(FLEET as usize, 23).await
}

/// `syncdeck --config C --store S run ARGS`.
fn run_command(setup: &DemoFiles, config: &Path, args: &[&str]) -> Command {
    let mut command = cli::demo_command(setup.dir.path());
    command
        .arg("--config")
        .arg(config)
        .arg("--store")
        .arg(&setup.store)
        .arg("run")
        .args(args);
    command
}

async fn output(command: Command) -> Output {
    cli::output(command, CHILD_LIMIT).await
}

async fn run(setup: &DemoFiles, args: &[&str]) -> Output {
    output(run_command(setup, &setup.config, args)).await
}

fn uint(value: &Value, key: &str) -> u64 {
    value[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} is not a count in {value}"))
}

fn time(value: &Value, key: &str) -> chrono::DateTime<chrono::FixedOffset> {
    let text = value[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not text in {value}"));
    chrono::DateTime::parse_from_rfc3339(text).unwrap_or_else(|e| panic!("{key} = {text}: {e}"))
}

/// Checks the shape of SPEC section 6's `run --json` object; returns its connections.
fn check_run_json(run: &Value, kind: &str, mode: &str) -> Vec<Value> {
    assert!(run["run_id"].is_u64(), "{run}");
    assert_eq!(run["type"], kind, "{run}");
    assert_eq!(run["mode"], mode, "{run}");
    assert!(run["status"].is_string(), "{run}");
    assert!(time(run, "finished_at") >= time(run, "started_at"));
    // Who ran it: a headless run of a process of this host and user.
    assert_eq!(run["trigger"], "headless", "{run}");
    assert_eq!(run["trigger_kind"], "headless", "{run}");
    let me = RunOwner::current();
    assert_eq!(run["owner"]["host"], me.host.as_str(), "{run}");
    assert_eq!(run["owner"]["user"], me.user.as_str(), "{run}");
    assert!(
        run["owner"]["pid"].as_u64().is_some_and(|pid| pid > 0),
        "{run}"
    );
    let connections = run["connections"].as_array().expect("connections").clone();
    for c in &connections {
        assert!(c["name"].is_string() && c["system"].is_string(), "{c}");
        let status = c["status"].as_str().unwrap();
        assert!(
            [
                "running",
                "completed",
                "failed",
                "canceled",
                "incomplete",
                "interrupted"
            ]
            .contains(&status),
            "{status}"
        );
        for key in [
            "total",
            "processed",
            "fetched",
            "new",
            "changed",
            "unchanged",
        ] {
            uint(c, key);
        }
        for key in [
            "would_update",
            "updated",
            "created",
            "skipped",
            "missing_source",
            "missing_destination",
            "failed",
            "pending",
            "errors",
        ] {
            uint(&c["counters"], key);
        }
        let error = &c["error"];
        assert!(
            error.is_null() || (error["message"].is_string() && error.get("hint").is_some()),
            "{error}"
        );
    }
    connections
}

fn connection<'a>(connections: &'a [Value], name: &str) -> &'a Value {
    connections
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no connection {name} in {connections:?}"))
}

/// The Full Dry counters of the cmdb connection, from what the demo says about each device.
fn expected_cmdb(server: &DemoServer) -> [u64; 4] {
    let fleet = server.fleet();
    let mut expected = [0u64; 4]; // would_update, skipped, missing_source, missing_destination
    for i in 0..fleet.len() {
        let device = fleet.device(i).unwrap();
        let traits = fleet.traits(i).unwrap();
        let slot = if device.status.is_none() {
            2
        } else if traits.cmdb.missing {
            3
        } else if traits.cmdb.stale_fields.is_empty() {
            1
        } else {
            0
        };
        expected[slot] += 1;
    }
    expected
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_dry_run_json_is_the_spec_object_and_accounts_for_every_device() {
    let setup = setup().await;
    let out = run(&setup, &["--full", "--dry-run", "--json"]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    // Nothing but the JSON on stdout: the whole of it parses as one object.
    let trimmed = out.stdout.trim();
    assert!(
        trimmed.starts_with('{') && trimmed.ends_with('}'),
        "{out:?}"
    );
    let run = out.json();
    let connections = check_run_json(&run, "full", "dry");
    assert_eq!(run["status"], "completed", "{run}");
    let names: Vec<&str> = connections
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, CONNECTIONS, "every connection, in config order");
    for c in &connections {
        let n = &c["counters"];
        assert_eq!(c["status"], "completed", "{c}");
        assert!(c["error"].is_null(), "{c}");
        assert_eq!(uint(c, "processed"), FLEET, "{c}");
        assert_eq!(uint(c, "fetched"), FLEET, "{c}");
        assert_eq!(uint(c, "new"), FLEET, "no contracts yet: {c}");
        let accounted = uint(n, "would_update")
            + uint(n, "skipped")
            + uint(n, "missing_source")
            + uint(n, "missing_destination")
            + uint(n, "errors");
        assert_eq!(accounted, FLEET, "{c}");
        assert_eq!(
            uint(n, "updated") + uint(n, "created") + uint(n, "failed"),
            0
        );
    }
    let cmdb = &connection(&connections, "cmdb")["counters"];
    let [would_update, skipped, missing_source, missing_destination] = expected_cmdb(&setup.server);
    assert_eq!(uint(cmdb, "would_update"), would_update, "{cmdb}");
    assert_eq!(uint(cmdb, "skipped"), skipped, "{cmdb}");
    assert_eq!(uint(cmdb, "missing_source"), missing_source, "{cmdb}");
    assert_eq!(
        uint(cmdb, "missing_destination"),
        missing_destination,
        "{cmdb}"
    );
    assert_eq!(setup.server.stats().destination_writes(), 0, "dry");

    // The JSON is what the store recorded.
    let store = Store::open(&setup.store, StoreOptions::default()).unwrap();
    let recorded = store
        .get_run(run["run_id"].as_u64().unwrap())
        .unwrap()
        .expect("the run is in the store");
    assert_eq!(recorded.status, RunStatus::Completed);
    assert_eq!(store.connection_runs(recorded.id).unwrap().len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_live_run_updates_one_stale_cmdb_record() {
    let setup = setup().await;
    let fleet = setup.server.fleet();
    let serial = (0..fleet.len())
        .find(|&i| {
            let traits = fleet.traits(i).unwrap();
            fleet.device(i).unwrap().status.is_some()
                && !traits.cmdb.missing
                && !traits.cmdb.stale_fields.is_empty()
        })
        .map(|i| fleet.device(i).unwrap().serial)
        .expect("a stale CMDB record");
    let out = run(
        &setup,
        &[
            "--single",
            &serial,
            "--live",
            "--connection",
            "cmdb",
            "--json",
        ],
    )
    .await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let run = out.json();
    let connections = check_run_json(&run, "single", "live");
    assert_eq!(run["status"], "completed");
    assert_eq!(connections.len(), 1);
    let cmdb = connection(&connections, "cmdb");
    assert_eq!((uint(cmdb, "processed"), uint(cmdb, "total")), (1, 1));
    assert_eq!(uint(&cmdb["counters"], "updated"), 1, "{cmdb}");
    assert_eq!(uint(&cmdb["counters"], "failed"), 0, "{cmdb}");
    assert_eq!(setup.server.stats().cmdb.writes, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_live_is_gated_until_a_clean_full_dry_run_of_the_same_configuration() {
    let setup = setup().await;
    let live = ["--full", "--live", "--connection", "cmdb"];
    let gate_says = |out: &Output, why: &str| {
        assert_eq!(out.code, Some(2), "{out:?}");
        assert!(out.stdout.is_empty(), "{out:?}");
        for text in ["safety gate", why, "--force", "Full Dry"] {
            assert!(out.stderr.contains(text), "missing {text:?}: {out:?}");
        }
    };

    let out = run(&setup, &live).await;
    gate_says(&out, "no clean Full Dry run yet");

    let out = run(&setup, &["--full", "--dry-run", "--connection", "cmdb"]).await;
    assert_eq!(out.code, Some(0), "{out:?}");

    // The mapping changed since that dry run: a target renamed.
    let original = std::fs::read_to_string(&setup.config).unwrap();
    assert_eq!(original.matches("target = \"location\"").count(), 1);
    let edited = setup.dir.path().join("edited.toml");
    std::fs::write(
        &edited,
        original.replace("target = \"location\"", "target = \"site_code\""),
    )
    .unwrap();
    let out = output(run_command(&setup, &edited, &live)).await;
    gate_says(
        &out,
        "cmdb: its configuration changed since its last clean Full Dry run",
    );
    assert_eq!(
        setup.server.stats().destination_writes(),
        0,
        "refused: nothing sent"
    );

    // The configuration the dry run saw passes the gate (exit 1: missing destinations fail).
    let mut args = live.to_vec();
    args.push("--json");
    let out = run(&setup, &args).await;
    assert_eq!(out.code, Some(1), "{out:?}");
    let run = out.json();
    assert_eq!(run["status"], "completed", "{run}");
    let cmdb = &check_run_json(&run, "full", "live")[0]["counters"];
    let [would_update, _, _, missing_destination] = expected_cmdb(&setup.server);
    assert_eq!(uint(cmdb, "updated"), would_update, "{cmdb}");
    assert_eq!(
        uint(cmdb, "missing_destination"),
        missing_destination,
        "{cmdb}"
    );
    assert_eq!(setup.server.stats().cmdb.writes, would_update);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wrong_method_connection_fails_with_the_405_hint_and_exit_1() {
    let setup = setup().await;
    let out = run(
        &setup,
        &[
            "--full",
            "--live",
            "--connection",
            "cmdb-wrong-method",
            "--force",
            "--json",
        ],
    )
    .await;
    assert_eq!(out.code, Some(1), "{out:?}");
    let run = out.json();
    let connections = check_run_json(&run, "full", "live");
    assert_eq!(run["status"], "failed", "{run}");
    let row = connection(&connections, "cmdb-wrong-method");
    assert_eq!(row["status"], "failed", "{row}");
    let message = row["error"]["message"].as_str().unwrap();
    let hint = row["error"]["hint"].as_str().unwrap();
    assert!(message.contains("405"), "{message}");
    assert!(hint.contains("method"), "{hint}");
    assert!(uint(row, "processed") < FLEET, "{row}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_open_in_other_processes_is_shared_and_a_trigger_is_recorded() {
    let setup = setup().await;
    // This process keeps the store open, as a console would, and two runs start together.
    let open = Store::open(&setup.store, StoreOptions::default()).unwrap();
    let dry = ["--full", "--dry-run", "--connection", "cmdb", "--json"];
    let nightly = [
        "--full",
        "--dry-run",
        "--connection",
        "cmdb",
        "--json",
        "--trigger",
        "nightly",
    ];
    let (first, second) = tokio::join!(run(&setup, &dry), run(&setup, &nightly));
    for out in [&first, &second] {
        assert_eq!(out.code, Some(0), "{out:?}");
    }
    let (first, second) = (first.json(), second.json());
    assert_ne!(first["run_id"], second["run_id"]);
    assert_eq!(second["trigger"], "nightly", "{second}");
    assert_eq!(second["trigger_kind"], "scheduled", "{second}");
    // Both are in the store this process has open, with their triggers.
    let recorded = open
        .get_run(second["run_id"].as_u64().unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(recorded.status, RunStatus::Completed);
    assert_eq!(recorded.trigger.as_ref().unwrap().label(), "nightly");
    assert_eq!(
        recorded.owner.as_ref().unwrap().pid as u64,
        second["owner"]["pid"].as_u64().unwrap()
    );
    // SYNCDECK_TRIGGER says the same as --trigger; a name that is not one is bad usage.
    let mut command = run_command(&setup, &setup.config, &dry);
    command.env("SYNCDECK_TRIGGER", "scheduled");
    let out = output(command).await;
    assert_eq!(out.json()["trigger"], "scheduled", "{out:?}");
    let mut bad = dry.to_vec();
    bad.extend(["--trigger", "not a name"]);
    let out = run(&setup, &bad).await;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("--trigger"), "{out:?}");
}

/// A config for the usage tests: valid, pointing at a port nothing listens on (none of these
/// runs gets as far as a request).
fn usage_setup() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    let addr = "127.0.0.1:9".parse().unwrap();
    std::fs::write(&config, demo::config_for(addr)).unwrap();
    (dir, config)
}

async fn usage_run(dir: &Path, config: Option<&Path>, args: &[&str]) -> Output {
    let mut command = cli::demo_command(dir);
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    command
        .arg("--store")
        .arg(dir.join("s.redb"))
        .arg("run")
        .args(args);
    output(command).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_usage_exits_2_and_says_what_to_do() {
    let (dir, config) = usage_setup();
    let home = dir.path();

    let out = usage_run(home, Some(&config), &["--dry-run"]).await;
    assert_eq!(out.code, Some(2), "neither --full nor --single: {out:?}");
    assert!(
        out.stderr.contains("--full") && out.stderr.contains("--single"),
        "{out:?}"
    );

    let out = usage_run(home, Some(&config), &["--full", "--single", "SD-000001"]).await;
    assert_eq!(out.code, Some(2), "both scopes: {out:?}");

    let out = usage_run(home, Some(&config), &["--full", "--dry-run", "--live"]).await;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr.contains("--dry-run") && out.stderr.contains("--live"),
        "{out:?}"
    );

    let out = usage_run(
        home,
        Some(&config),
        &["--full", "--dry-run", "--connection", "nope"],
    )
    .await;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    assert!(out.stderr.contains("\"nope\""), "{out:?}");
    for name in CONNECTIONS {
        assert!(out.stderr.contains(name), "names {name}: {out:?}");
    }

    // No config: neither --config nor one in the (empty) platform config dir.
    for config in [None, Some(home.join("missing.toml"))] {
        let out = usage_run(home, config.as_deref(), &["--full", "--dry-run"]).await;
        assert_eq!(out.code, Some(2), "{out:?}");
        assert!(out.stderr.contains("no config"), "{out:?}");
        assert!(out.stderr.contains("syncdeck demo"), "{out:?}");
    }
}
