//! Snapshots of the Contracts and Connections views, the contract delete and plan-apply
//! confirmations (ratatui's TestBackend at 100x30 and 80x24), and what their keys do to the
//! store: a real store in a temp dir filled with `WriteBatch`, health checks kept with
//! `health::save`, the demo configuration and a frozen clock. The health check and the mass
//! resync's check run over real HTTP against the demo systems on 127.0.0.1.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use ratatui::crossterm::event::KeyCode;
use syncdeck::config::Config;
use syncdeck::engine::health::{self, HealthReport, HealthStep, StepKind, StepStatus};
use syncdeck::engine::{Command, dry_run_override_key};
use syncdeck::store::{
    ContractAction, Counters, EntryStatus, Outcome, ReportEntry, Run, RunMode, RunStatus, RunType,
    Store, SyncContract, WriteBatch,
};
use syncdeck::ui::app::App;

mod common;

use common::demo::config_at;
use common::history::{self, completed_connection_run as connection_run};
use common::screen::{self, Fixture, at, chars, key, plain, render};

fn open_with(config: Arc<Config>) -> Fixture {
    Fixture::open(config, plain(), fill)
}

fn open() -> Fixture {
    open_with(config_at("127.0.0.1:7300"))
}

fn contract(
    connection: &str,
    serial: &str,
    target: &str,
    action: ContractAction,
    seen: DateTime<Utc>,
) -> SyncContract {
    SyncContract {
        connection: connection.into(),
        origin_id: serial.into(),
        target_id: Some(target.into()),
        last_hash: blake3::hash(format!("{connection}/{serial}").as_bytes())
            .to_hex()
            .to_string(),
        last_seen: seen,
        last_synced: (action != ContractAction::Unchanged).then_some(seen),
        last_action: action,
    }
}

fn record_run(
    store: &Store,
    config: &Config,
    (run_type, mode): (RunType, RunMode),
    start: DateTime<Utc>,
    names: &[&str],
) -> Run {
    let credentials = names
        .iter()
        .filter_map(|n| config.connection(n).unwrap().credential.clone())
        .collect();
    let mut run = Run {
        id: 0,
        run_type,
        mode,
        status: RunStatus::Completed,
        started_at: start,
        finished_at: Some(start + TimeDelta::seconds(40)),
        serial: None,
        connections: names.iter().map(|n| n.to_string()).collect(),
        credential_contexts: credentials,
        note: None,
        owner: None,
        trigger: None,
    };
    run.id = store.create_run(run.clone()).unwrap();
    run
}

fn entry(
    run: &Run,
    connection: &str,
    serial: &str,
    outcome: Outcome,
    config: &Config,
) -> ReportEntry {
    let (status, target) = match outcome {
        Outcome::WouldUpdate | Outcome::WouldCreate | Outcome::Skipped => (EntryStatus::Dry, None),
        Outcome::Error => (EntryStatus::Failed, Some(format!("T-{serial}"))),
        _ => (EntryStatus::Ok, Some(format!("T-{serial}"))),
    };
    let system = &config.connection(connection).unwrap().system;
    let time = run.started_at + TimeDelta::seconds(5);
    ReportEntry {
        target_id: target,
        status,
        outcome,
        ..history::entry(run.id, connection, system, serial, time)
    }
}

fn step(kind: StepKind, status: StepStatus, ms: Option<u64>, detail: &str) -> HealthStep {
    HealthStep {
        kind,
        status,
        latency_ms: ms,
        detail: detail.into(),
        hint: None,
    }
}

/// Contracts on cmdb and registry; a Full Dry run over cmdb and registry whose plan can be
/// applied; a Live run on mdm with a failed entry; cmdb overridden to Live; a failed and a
/// passed health check.
fn fill(config: &Config, store: &Store) {
    let mut batch = WriteBatch::new();
    let cmdb = [
        ("SD-000101", "a1f3c2d4e5f60718", ContractAction::Created),
        ("SD-000102", "b2e4d6f8a0c21436", ContractAction::Updated),
        ("SD-000103", "c3d5e7f9b1d32547", ContractAction::Unchanged),
        ("SD-000104", "d4c6e8a0c2e43658", ContractAction::Updated),
        ("SD-000105", "e5b7d9f1d3f54769", ContractAction::Created),
    ];
    for (i, (serial, target, action)) in cmdb.into_iter().enumerate() {
        let seen = at(14, 10 + i as u32, 0);
        batch
            .contracts
            .push(contract("cmdb", serial, target, action, seen));
    }
    for serial in ["SD-000201", "SD-000202"] {
        batch.contracts.push(contract(
            "registry",
            serial,
            &format!("REG-{serial}"),
            ContractAction::Created,
            at(13, 0, 0),
        ));
    }
    let dry = record_run(
        store,
        config,
        (RunType::Full, RunMode::Dry),
        at(14, 3, 12),
        &["cmdb", "registry"],
    );
    let plans = [
        (
            "cmdb",
            vec![
                ("SD-000001", Outcome::WouldUpdate),
                ("SD-000002", Outcome::WouldUpdate),
                ("SD-000003", Outcome::WouldUpdate),
                ("SD-000004", Outcome::WouldCreate),
                ("SD-000005", Outcome::WouldCreate),
                ("SD-000006", Outcome::Skipped),
            ],
        ),
        (
            "registry",
            vec![
                ("SD-000001", Outcome::WouldUpdate),
                ("SD-000002", Outcome::Skipped),
            ],
        ),
    ];
    for (position, (name, entries)) in plans.iter().enumerate() {
        let would = entries
            .iter()
            .filter(|(_, o)| matches!(o, Outcome::WouldUpdate | Outcome::WouldCreate))
            .count() as u64;
        let counters = Counters {
            would_update: would,
            skipped: entries.len() as u64 - would,
            fetched: entries.len() as u64,
            new: would,
            unchanged: entries.len() as u64 - would,
            ..Counters::default()
        };
        batch
            .connection_runs
            .push(connection_run(&dry, position as u32, counters, config));
        for (serial, outcome) in entries {
            batch
                .entries
                .push(entry(&dry, name, serial, *outcome, config));
        }
    }
    let live = record_run(
        store,
        config,
        (RunType::Full, RunMode::Live),
        at(14, 31, 0),
        &["mdm"],
    );
    let counters = Counters {
        updated: 1,
        failed: 1,
        fetched: 2,
        changed: 2,
        ..Counters::default()
    };
    batch
        .connection_runs
        .push(connection_run(&live, 0, counters, config));
    batch
        .entries
        .push(entry(&live, "mdm", "SD-000001", Outcome::Updated, config));
    batch
        .entries
        .push(entry(&live, "mdm", "SD-000002", Outcome::Error, config));
    store.commit(&mut batch).unwrap();

    // cmdb is Dry in the configuration; the store overrides it to Live.
    store
        .set_setting(&dry_run_override_key("cmdb"), "false")
        .unwrap();
    let mut failed = HealthReport {
        connection: "cmdb".into(),
        checked_at: at(14, 58, 0),
        steps: vec![
            step(
                StepKind::Source,
                StepStatus::Ok,
                Some(4),
                "GET http://127.0.0.1:7300/fleet/api/devices?page=1&per_page=500 → 200",
            ),
            step(
                StepKind::Destination,
                StepStatus::Ok,
                Some(3),
                "GET http://127.0.0.1:7300/cmdb/api/assets → 200",
            ),
            step(
                StepKind::Credential,
                StepStatus::Failed,
                Some(5),
                "GET http://127.0.0.1:7300/cmdb/api/assets?serial_number=SD-000101 → 401 Unauthorized",
            ),
        ],
    };
    failed.steps[2].hint =
        Some("credential context rejected: check the connection's credential (cmdb-demo)".into());
    health::save(store, &failed).unwrap();
    let passed = HealthReport {
        connection: "registry".into(),
        checked_at: at(14, 59, 0),
        steps: vec![
            step(StepKind::Source, StepStatus::Ok, Some(4), "→ 200"),
            step(StepKind::Destination, StepStatus::Ok, Some(3), "→ 200"),
            step(StepKind::Credential, StepStatus::Ok, Some(5), "→ 200"),
        ],
    };
    health::save(store, &passed).unwrap();
}

fn settle(app: &mut App) {
    screen::settle(app, Duration::from_secs(30));
}

fn screen(app: &mut App, width: u16, height: u16) -> String {
    settle(app);
    render(app, width, height)
}

fn snap(name: &str, app: &mut App) {
    insta::assert_snapshot!(format!("{name}_100x30"), screen(app, 100, 30));
}

fn snap_both(name: &str, app: &mut App) {
    snap(name, app);
    insta::assert_snapshot!(format!("{name}_80x24"), screen(app, 80, 24));
}

#[test]
fn contracts_view_pages_searches_and_sorts() {
    let mut f = open();
    key(&mut f.app, KeyCode::Char('4'));
    key(&mut f.app, KeyCode::Down);
    snap_both("contracts", &mut f.app);

    // The next connection, then search it.
    key(&mut f.app, KeyCode::Char('c'));
    let shown = screen(&mut f.app, 100, 30);
    assert!(shown.contains("connection 2/4: registry"), "{shown}");
    assert!(shown.contains("SD-000202"), "{shown}");
    key(&mut f.app, KeyCode::Left);
    key(&mut f.app, KeyCode::Char('/'));
    chars(&mut f.app, "c3d5");
    key(&mut f.app, KeyCode::Enter);
    let shown = screen(&mut f.app, 100, 30);
    assert!(shown.contains("SD-000103"), "a target id matches: {shown}");
    assert!(!shown.contains("SD-000101"), "{shown}");
    assert!(shown.contains("1 contract "), "{shown}");
    key(&mut f.app, KeyCode::Esc);
    let shown = screen(&mut f.app, 100, 30);
    assert!(
        shown.contains("SD-000101"),
        "Esc clears the search: {shown}"
    );

    // `s` opens the sort picker (as in the report): "ta" finds target id, Enter picks it;
    // then reversed: the last target first.
    key(&mut f.app, KeyCode::Char('s'));
    let shown = screen(&mut f.app, 100, 30);
    assert!(
        shown.contains("Sort contracts by") && shown.contains("last synced"),
        "{shown}"
    );
    chars(&mut f.app, "ta");
    key(&mut f.app, KeyCode::Enter);
    key(&mut f.app, KeyCode::Char('S'));
    let shown = screen(&mut f.app, 100, 30);
    let first = shown.find("SD-000105").unwrap();
    let last = shown.find("SD-000101").unwrap();
    assert!(first < last, "{shown}");
    assert!(shown.contains("sorted by target id ▼"), "{shown}");

    // mdm has none: the empty state says what makes one.
    key(&mut f.app, KeyCode::Char('c'));
    key(&mut f.app, KeyCode::Char('c'));
    let shown = screen(&mut f.app, 100, 30);
    assert!(
        shown.contains("No contracts yet for mdm") && shown.contains("A Live run records one"),
        "{shown}"
    );
}

#[test]
fn deleting_a_contract_asks_then_forgets_it() {
    let mut f = open();
    key(&mut f.app, KeyCode::Char('4'));
    key(&mut f.app, KeyCode::Char('j'));
    key(&mut f.app, KeyCode::Char('d'));
    snap("contracts_delete_confirm", &mut f.app);
    key(&mut f.app, KeyCode::Char('n'));
    assert!(f.store.get_contract("cmdb", "SD-000102").unwrap().is_some());
    key(&mut f.app, KeyCode::Char('d'));
    key(&mut f.app, KeyCode::Char('y'));
    // The delete is written off the UI thread.
    settle(&mut f.app);
    assert!(f.store.get_contract("cmdb", "SD-000102").unwrap().is_none());
    assert_eq!(f.store.count_contracts("cmdb").unwrap(), 4);
    let shown = screen(&mut f.app, 100, 30);
    assert!(shown.contains("4 contracts"), "{shown}");
    assert!(
        shown.contains("deleted the contract of SD-000102"),
        "{shown}"
    );
    assert!(!shown.contains("│SD-000102"), "{shown}");
}

#[test]
fn connections_view_shows_overrides_and_health() {
    let mut f = open();
    key(&mut f.app, KeyCode::Char('5'));
    snap_both("connections", &mut f.app);
    key(&mut f.app, KeyCode::Enter);
    snap_both("connections_details", &mut f.app);
    key(&mut f.app, KeyCode::Esc);
    let shown = screen(&mut f.app, 100, 30);
    assert!(shown.contains("in execution order"), "{shown}");
}

#[test]
fn dry_run_toggle_writes_and_removes_the_override() {
    let mut f = open();
    let key_of = dry_run_override_key("registry");
    key(&mut f.app, KeyCode::Char('5'));
    key(&mut f.app, KeyCode::Down);
    // registry is Live in the configuration: D makes it Dry by override (written off the UI
    // thread).
    key(&mut f.app, KeyCode::Char('D'));
    settle(&mut f.app);
    assert_eq!(
        f.store.get_setting(&key_of).unwrap().as_deref(),
        Some("true")
    );
    let shown = screen(&mut f.app, 100, 30);
    assert!(shown.contains("Dry (override)"), "{shown}");
    // Back to the configuration's own value: the override goes.
    key(&mut f.app, KeyCode::Char('D'));
    settle(&mut f.app);
    assert_eq!(f.store.get_setting(&key_of).unwrap(), None);
    // cmdb: Live by override, Dry in the configuration; D removes the override.
    key(&mut f.app, KeyCode::Up);
    key(&mut f.app, KeyCode::Char('D'));
    settle(&mut f.app);
    assert_eq!(
        f.store.get_setting(&dry_run_override_key("cmdb")).unwrap(),
        None
    );
    let shown = screen(&mut f.app, 100, 30);
    assert!(!shown.contains("(override)"), "{shown}");
}

#[test]
fn apply_asks_with_the_plan_and_sends_it() {
    let mut f = open();
    // The jobs view: #2 Live on top, #1 the Full Dry run.
    key(&mut f.app, KeyCode::Char('p'));
    let shown = screen(&mut f.app, 100, 30);
    assert!(shown.contains("run #2 was Live"), "{shown}");
    key(&mut f.app, KeyCode::Down);
    key(&mut f.app, KeyCode::Char('p'));
    snap("apply_confirm", &mut f.app);
    key(&mut f.app, KeyCode::Char('y'));
    match f.commands.try_recv() {
        Ok(Command::Apply {
            run_id,
            connections,
        }) => {
            assert_eq!(run_id, 1);
            assert_eq!(
                connections,
                vec!["cmdb".to_string(), "registry".to_string()]
            );
        }
        other => panic!("expected an Apply, got {other:?}"),
    }
    // On a connection row: that connection only.
    key(&mut f.app, KeyCode::Enter);
    key(&mut f.app, KeyCode::Down);
    key(&mut f.app, KeyCode::Down);
    key(&mut f.app, KeyCode::Char('p'));
    let shown = screen(&mut f.app, 100, 30);
    assert!(
        shown.contains("on registry: 1 would update, 0 would"),
        "{shown}"
    );
    key(&mut f.app, KeyCode::Char('y'));
    match f.commands.try_recv() {
        Ok(Command::Apply { connections, .. }) => assert_eq!(connections, vec!["registry"]),
        other => panic!("expected an Apply, got {other:?}"),
    }
}

#[test]
fn expanded_connections_show_totals_and_rerun_hints() {
    let mut f = open();
    key(&mut f.app, KeyCode::Down);
    key(&mut f.app, KeyCode::Enter);
    let shown = screen(&mut f.app, 100, 30);
    assert!(
        shown.contains("fetched 6 · new 5 · changed 0 · unchanged 1"),
        "{shown}"
    );
    key(&mut f.app, KeyCode::Up);
    key(&mut f.app, KeyCode::Enter);
    let shown = screen(&mut f.app, 160, 48);
    assert!(shown.contains("fetched 2 · new 0 · changed 2"), "{shown}");
}

/// The demo systems on a free loopback port, on a runtime the test keeps.
fn demo() -> (tokio::runtime::Runtime, syncdeck::demo::DemoServer) {
    common::demo::start_blocking(50, 0)
}

#[test]
fn health_check_runs_in_the_background_and_is_kept() {
    let (_runtime, server) = demo();
    let mut f = open_with(config_at(&server.addr().to_string()));
    key(&mut f.app, KeyCode::Char('5'));
    key(&mut f.app, KeyCode::Char('j'));
    key(&mut f.app, KeyCode::Char('j'));
    key(&mut f.app, KeyCode::Char('H'));
    settle(&mut f.app);
    let kept = health::load(&f.store, "mdm").unwrap().expect("kept");
    assert!(kept.is_ok(), "{kept:?}");
    let shown = screen(&mut f.app, 100, 30);
    assert!(shown.contains("mdm: health ✔ ok"), "{shown}");
}

#[test]
fn mass_resync_checks_health_first() {
    // Nothing listens on port 9: the source is unreachable, so the resync is blocked.
    let mut f = open_with(config_at("127.0.0.1:9"));
    key(&mut f.app, KeyCode::Char('3'));
    settle(&mut f.app);
    key(&mut f.app, KeyCode::Char('R'));
    let shown = screen(&mut f.app, 100, 30);
    assert!(
        shown.contains("Resync blocked: mdm is not healthy"),
        "{shown}"
    );
    assert!(shown.contains("source reachable failed"), "{shown}");
    assert!(!shown.contains("y resync"), "{shown}");
    key(&mut f.app, KeyCode::Char('y'));
    assert!(f.commands.try_recv().is_err(), "nothing was sent");

    // With the demo systems up, the confirmation says the health passed.
    let (_runtime, server) = demo();
    let mut f = open_with(config_at(&server.addr().to_string()));
    key(&mut f.app, KeyCode::Char('3'));
    settle(&mut f.app);
    key(&mut f.app, KeyCode::Char('R'));
    let shown = screen(&mut f.app, 100, 30);
    assert!(shown.contains("health ✔"), "{shown}");
    key(&mut f.app, KeyCode::Char('y'));
    assert!(matches!(f.commands.try_recv(), Ok(Command::Resync { .. })));
}

#[test]
fn contracts_are_read_a_page_at_a_time_around_the_selection() {
    let mut f = open();
    let mut batch = WriteBatch::new();
    for i in 0..450 {
        batch.contracts.push(contract(
            "mdm",
            &format!("MD-{i:05}"),
            &format!("M-{i}"),
            ContractAction::Created,
            at(12, 0, 0),
        ));
    }
    f.store.commit(&mut batch).unwrap();
    key(&mut f.app, KeyCode::Char('4'));
    key(&mut f.app, KeyCode::Right);
    key(&mut f.app, KeyCode::Right);
    let shown = screen(&mut f.app, 100, 30);
    assert!(
        shown.contains("MD-00000") && shown.contains("1/450"),
        "{shown}"
    );
    key(&mut f.app, KeyCode::Char('G'));
    let shown = screen(&mut f.app, 100, 30);
    assert!(
        shown.contains("MD-00449") && shown.contains("450/450"),
        "{shown}"
    );
    assert!(!shown.contains("MD-00000"), "{shown}");
    key(&mut f.app, KeyCode::PageUp);
    key(&mut f.app, KeyCode::PageUp);
    let shown = screen(&mut f.app, 100, 30);
    assert!(shown.contains("MD-00415"), "{shown}");
    // d on a contract read from a later page names the right serial.
    key(&mut f.app, KeyCode::Char('d'));
    let shown = screen(&mut f.app, 100, 30);
    assert!(shown.contains("Delete the contract of MD-00"), "{shown}");
    key(&mut f.app, KeyCode::Esc);
    key(&mut f.app, KeyCode::Char('g'));
    let shown = screen(&mut f.app, 100, 30);
    assert!(
        shown.contains("MD-00000") && shown.contains("1/450"),
        "{shown}"
    );
}
