//! The connector health check (SPEC section 5, Connections) against the demo systems over real
//! HTTP on 127.0.0.1: every step Ok on a healthy connection, the right step Failed (and the later
//! ones Skipped) when the source is down, the destination is down or the credential is wrong;
//! the result kept in a real store; and `syncdeck check` as a separate process.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use syncdeck::config::{self, Config, Environment};
use syncdeck::demo::{self, DemoServer};
use syncdeck::engine::health::{self, HealthReport, StepKind, StepStatus, check_connection};
use syncdeck::store::{ContractAction, Store, StoreOptions, SyncContract, WriteBatch};

mod common;

use common::cli::Output;

/// The demo connections whose every step passes (cmdb-wrong-method's update method does not).
const CONNECTIONS: [&str; 3] = ["cmdb", "registry", "mdm"];
/// Longest a check or a child may take; a hung one fails the test.
const LIMIT: Duration = Duration::from_secs(60);

async fn server() -> DemoServer {
    common::demo::start(300, 5).await
}

/// The demo config for `server` with these secrets (the demo's own where not given).
fn config_with(server: &DemoServer, secrets: &[(&str, &str)]) -> Config {
    let text = demo::config_for(server.addr());
    // Later pairs win: the given secrets replace the demo's.
    let env = Environment::with_fallbacks(
        demo::demo_secrets()
            .iter()
            .copied()
            .chain(secrets.iter().copied()),
    );
    config::parse(&text, Path::new("/demo/config.toml"), &env).unwrap()
}

/// A loopback URL nobody listens on (a port just released).
fn dead_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

async fn check(config: &Config, store: Option<&Store>, connection: &str) -> HealthReport {
    tokio::time::timeout(LIMIT, check_connection(config, store, connection))
        .await
        .expect("the check finished in time")
        .unwrap_or_else(|e| panic!("{e}"))
}

fn statuses(report: &HealthReport) -> Vec<(StepKind, StepStatus)> {
    report.steps.iter().map(|s| (s.kind, s.status)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_demo_connection_is_healthy() {
    let server = server().await;
    let config = config_with(&server, &[]);
    for name in CONNECTIONS {
        let report = check(&config, None, name).await;
        assert_eq!(report.connection, name);
        assert!(report.is_ok(), "{report:#?}");
        assert_eq!(
            statuses(&report),
            [
                (StepKind::Source, StepStatus::Ok),
                (StepKind::Destination, StepStatus::Ok),
                (StepKind::Credential, StepStatus::Ok),
                (StepKind::WritePath, StepStatus::Ok),
            ]
        );
        assert!(report.steps.iter().all(|s| s.latency_ms.is_some()));
        let write = &report.steps[3].detail;
        assert!(write.starts_with("OPTIONS http://127.0.0.1:"), "{write}");
        assert!(write.contains("allowed)"), "{write}");
        let source = &report.steps[0].detail;
        assert!(
            source.contains("/fleet/api/devices?page=1&per_page=500"),
            "{source}"
        );
        assert!(report.failed_step().is_none());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_update_method_fails_the_write_path_before_any_write() {
    let server = server().await;
    let config = config_with(&server, &[]);
    let writes = server.stats().destination_writes();
    let report = check(&config, None, "cmdb-wrong-method").await;
    assert!(!report.is_ok(), "{report:#?}");
    assert_eq!(
        statuses(&report),
        [
            (StepKind::Source, StepStatus::Ok),
            (StepKind::Destination, StepStatus::Ok),
            (StepKind::Credential, StepStatus::Ok),
            (StepKind::WritePath, StepStatus::Failed),
        ]
    );
    let failed = report.failed_step().unwrap();
    assert!(failed.detail.contains("Allow: GET, PATCH"), "{failed:?}");
    assert!(
        failed.detail.contains("PUT, the update contract's method"),
        "{failed:?}"
    );
    assert!(
        failed
            .hint
            .as_deref()
            .unwrap()
            .contains("wrong update method"),
        "{failed:?}"
    );
    // OPTIONS only: the check wrote nothing.
    assert_eq!(
        server.stats().destination_writes(),
        writes,
        "no write was sent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_that_does_not_say_leaves_the_write_path_not_checked() {
    // The CMDB answers a path it does not have with a plain 404, no Allow header.
    let server = server().await;
    let mut config = config_with(&server, &[]);
    config.connections[0].update.path = "/cmdb/api/nowhere/{id}".into();
    let name = config.connections[0].name.clone();
    let report = check(&config, None, &name).await;
    let write = report.steps.last().unwrap();
    assert_eq!(write.kind, StepKind::WritePath);
    assert_eq!(write.status, StepStatus::Skipped, "{report:#?}");
    assert!(
        write.detail.starts_with("write path not checked: OPTIONS "),
        "{write:?}"
    );
    assert!(
        write.detail.contains("without an Allow header"),
        "{write:?}"
    );
    assert!(report.is_ok(), "not checked is not failed: {report:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_destination_fails_its_step_and_skips_the_credential() {
    let server = server().await;
    let mut config = config_with(&server, &[]);
    config.connections[0].base_url = dead_url();
    let name = config.connections[0].name.clone();
    let report = check(&config, None, &name).await;
    assert_eq!(
        statuses(&report),
        [
            (StepKind::Source, StepStatus::Ok),
            (StepKind::Destination, StepStatus::Failed),
            (StepKind::Credential, StepStatus::Skipped),
            (StepKind::WritePath, StepStatus::Skipped),
        ]
    );
    let failed = report.failed_step().unwrap();
    assert!(failed.detail.contains("connection refused"), "{failed:?}");
    assert!(failed.hint.is_some());
    assert_eq!(report.steps[2].latency_ms, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_credential_is_rejected_with_the_hint_and_never_shown() {
    let server = server().await;
    let wrong = "wrong-token-c4nary";
    let config = config_with(&server, &[("SYNCDECK_DEMO_CMDB_TOKEN", wrong)]);
    let report = check(&config, None, "cmdb").await;
    assert_eq!(
        statuses(&report),
        [
            (StepKind::Source, StepStatus::Ok),
            (StepKind::Destination, StepStatus::Ok),
            (StepKind::Credential, StepStatus::Failed),
            (StepKind::WritePath, StepStatus::Skipped),
        ]
    );
    let failed = report.failed_step().unwrap();
    assert!(failed.detail.contains("401"), "{failed:?}");
    assert!(failed.detail.contains("credential rejected"), "{failed:?}");
    assert!(
        failed.hint.as_deref().unwrap().contains("credential"),
        "{failed:?}"
    );
    let text = serde_json::to_string(&report).unwrap();
    assert!(!text.contains(wrong), "{text}");
    // The other connections keep their own credentials.
    assert!(check(&config, None, "registry").await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_source_fails_first_and_skips_the_rest() {
    let server = server().await;
    let mut config = config_with(&server, &[]);
    config.sources[0].base_url = dead_url();
    let report = check(&config, None, "mdm").await;
    assert_eq!(
        statuses(&report),
        [
            (StepKind::Source, StepStatus::Failed),
            (StepKind::Destination, StepStatus::Skipped),
            (StepKind::Credential, StepStatus::Skipped),
            (StepKind::WritePath, StepStatus::Skipped),
        ]
    );
    let failed = report.failed_step().unwrap();
    assert!(failed.detail.contains("connection refused"), "{failed:?}");
    assert!(failed.hint.as_deref().unwrap().contains("[source]"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_results_position_names_the_keys_seen() {
    let server = server().await;
    let mut config = config_with(&server, &[]);
    config.sources[0].results_position = config::ResultsPosition::parse("data.records").unwrap();
    let report = check(&config, None, "cmdb").await;
    let failed = report.failed_step().unwrap();
    assert_eq!(failed.kind, StepKind::Source);
    assert!(
        failed.detail.contains("`data.records` matched nothing"),
        "{failed:?}"
    );
    assert!(failed.detail.contains("top-level keys"), "{failed:?}");
    assert!(failed.hint.as_deref().unwrap().contains("results position"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_connection_is_an_error_naming_the_configured_ones() {
    let server = server().await;
    let config = config_with(&server, &[]);
    let error = check_connection(&config, None, "nope").await.unwrap_err();
    assert_eq!(
        error,
        "unknown connection nope (configured: cmdb, registry, mdm, cmdb-wrong-method)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_is_kept_in_the_store_across_a_reopen() {
    let server = server().await;
    let config = config_with(&server, &[]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    let store = Store::open(&path, StoreOptions::default()).unwrap();
    assert_eq!(health::load(&store, "cmdb").unwrap(), None);
    let report = check(&config, Some(&store), "cmdb").await;
    health::save(&store, &report).unwrap();
    drop(store);
    let store = Store::open(&path, StoreOptions::default()).unwrap();
    assert_eq!(health::load(&store, "cmdb").unwrap(), Some(report));
    assert_eq!(health::load(&store, "mdm").unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_credential_step_looks_up_the_serial_of_a_contract_first() {
    let server = server().await;
    let config = config_with(&server, &[]);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store.redb"), StoreOptions::default()).unwrap();
    let serial = server.fleet().device(7).unwrap().serial;
    let mut batch = WriteBatch::new();
    batch.contracts.push(SyncContract {
        connection: "registry".into(),
        origin_id: serial.clone(),
        target_id: None,
        last_hash: "0".repeat(64),
        last_seen: chrono::Utc::now(),
        last_synced: None,
        last_action: ContractAction::Updated,
    });
    store.commit(&mut batch).unwrap();
    let report = check(&config, Some(&store), "registry").await;
    assert!(report.is_ok(), "{report:#?}");
    let credential = &report.steps[2].detail;
    assert!(
        credential.contains(&format!("serial={serial}")),
        "{credential}"
    );
    // Another connection has no contract: the source's first serial.
    let report = check(&config, Some(&store), "mdm").await;
    let first = server.fleet().device(0).unwrap().serial;
    assert!(
        report.steps[2].detail.contains(&format!("serial={first}")),
        "{report:#?}"
    );
}

/// `syncdeck --config C --store S check ARGS` with a private environment and these secrets.
fn syncdeck_check(dir: &Path, config: &Path, store: &Path, secrets: &[(&str, &str)]) -> Command {
    let mut command = common::cli::demo_command(dir);
    command
        .envs(secrets.iter().copied())
        .arg("--config")
        .arg(config)
        .arg("--store")
        .arg(store)
        .arg("check");
    command
}

async fn output(command: Command) -> Output {
    common::cli::output(command, LIMIT).await
}

fn files(server: &DemoServer) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, demo::config_for(server.addr())).unwrap();
    let store = dir.path().join("s.redb");
    (dir, config, store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syncdeck_check_exits_0_when_healthy_and_keeps_the_results() {
    let server = server().await;
    let (dir, config, store) = files(&server);
    // Every connection: cmdb-wrong-method's PUT is not allowed, so the check exits 1 naming it.
    let all = output(syncdeck_check(dir.path(), &config, &store, &[])).await;
    assert_eq!(all.code, Some(1), "{all:?}");
    assert!(
        all.stdout
            .contains("cmdb-wrong-method · ServiceNow CMDB (demo) · failing"),
        "{all:?}"
    );
    assert!(all.stdout.contains("✖ update method allowed"), "{all:?}");
    let mut command = syncdeck_check(dir.path(), &config, &store, &[]);
    for name in CONNECTIONS {
        command.args(["--connection", name]);
    }
    let out = output(command).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    for name in CONNECTIONS {
        assert!(
            out.stdout
                .lines()
                .any(|l| l.starts_with(&format!("{name} · "))),
            "{out:?}"
        );
    }
    assert_eq!(
        out.stdout.lines().filter(|l| l.contains("✔")).count(),
        12,
        "{out:?}"
    );
    assert!(out.stdout.contains("✔ source reachable"), "{out:?}");

    let mut command = syncdeck_check(dir.path(), &config, &store, &[]);
    command.args(["--json", "--connection", "mdm", "--connection", "cmdb"]);
    let out = output(command).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let reports: Vec<HealthReport> = serde_json::from_str(&out.stdout).unwrap();
    let names: Vec<&str> = reports.iter().map(|r| r.connection.as_str()).collect();
    assert_eq!(names, ["mdm", "cmdb"], "in the order asked");
    assert!(reports.iter().all(HealthReport::is_ok));

    let store = Store::open(&store, StoreOptions::default()).unwrap();
    for name in CONNECTIONS {
        assert!(health::load(&store, name).unwrap().is_some(), "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syncdeck_check_exits_1_on_a_failed_step_and_2_on_an_unknown_connection() {
    let server = server().await;
    let (dir, config, store) = files(&server);
    let wrong = [("SYNCDECK_DEMO_CMDB_TOKEN", "wrong-token-c4nary")];
    let out = output(syncdeck_check(dir.path(), &config, &store, &wrong)).await;
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stdout.contains("✖ credential accepted"), "{out:?}");
    assert!(out.stdout.contains("hint: credential"), "{out:?}");
    assert!(!out.stdout.contains("c4nary") && !out.stderr.contains("c4nary"));

    let mut command = syncdeck_check(dir.path(), &config, &store, &wrong);
    command.args(["--json", "--connection", "cmdb"]);
    let out = output(command).await;
    assert_eq!(out.code, Some(1), "{out:?}");
    let reports: Vec<HealthReport> = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        reports[0].failed_step().map(|s| s.kind),
        Some(StepKind::Credential)
    );

    let mut command = syncdeck_check(dir.path(), &config, &store, &[]);
    command.args(["--connection", "cmdb", "--connection", "nope"]);
    let out = output(command).await;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr
            .contains("unknown connection nope (configured: cmdb, registry, mdm"),
        "{out:?}"
    );
    assert!(out.stdout.is_empty(), "nothing checked: {out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syncdeck_check_keeps_its_results_while_another_process_has_the_store_open() {
    let server = server().await;
    let (dir, config, store_path) = files(&server);
    // Open here, as a console would keep it: the store is shared.
    let open = Store::open(&store_path, StoreOptions::default()).unwrap();
    let mut command = syncdeck_check(dir.path(), &config, &store_path, &[]);
    command.args(["--connection", "cmdb"]);
    let out = output(command).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("✔ credential accepted"), "{out:?}");
    assert!(!out.stderr.contains("not be kept"), "{out:?}");
    let kept = health::load(&open, "cmdb")
        .unwrap()
        .expect("the check is kept");
    assert!(kept.is_ok(), "{kept:?}");
}
