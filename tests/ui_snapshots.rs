//! Snapshots of the screens (ratatui's TestBackend) at 80x24 and 160x48: a real store in a temp
//! dir, the demo configuration, engine events built here, and a frozen clock.

use chrono::{DateTime, Utc};
use ratatui::crossterm::event::KeyCode;
use ratatui::style::{Color, Modifier};
use syncdeck::config::{Config, Theme};
use syncdeck::engine::{Command, Event, LogLevel};
use syncdeck::store::{
    ConnectionRun, Counters, Run, RunError, RunMode, RunStatus, RunType, Store, Trigger,
};
use syncdeck::ui::app::{App, AppOptions};

mod common;

use common::demo::config_at;
use common::history;
use common::screen::{Fixture, at, chars, draw as terminal, key, render as screen};

const BANNER: &str = "DEMO — built-in demo systems on 127.0.0.1:7300, scratch store; write a config to leave the demo (see config.example.toml)";

fn open(fill: impl FnOnce(&Config, &Store), theme: Theme, banner: Option<&str>) -> Fixture {
    let options = AppOptions {
        theme,
        banner: banner.map(str::to_string),
        triage: None,
    };
    Fixture::open(config_at("127.0.0.1:7300"), options, fill)
}

fn run(
    run_type: RunType,
    mode: RunMode,
    status: RunStatus,
    start: DateTime<Utc>,
    secs: i64,
    names: &[&str],
    config: &Config,
) -> Run {
    let mut credentials: Vec<String> = Vec::new();
    for name in names {
        let credential = config.connection(name).unwrap().credential.clone().unwrap();
        if !credentials.contains(&credential) {
            credentials.push(credential);
        }
    }
    Run {
        id: 0,
        run_type,
        mode,
        status,
        started_at: start,
        finished_at: (status != RunStatus::Running)
            .then(|| start + chrono::TimeDelta::seconds(secs)),
        serial: (run_type == RunType::Single).then(|| "DEV-000042".to_string()),
        connections: names.iter().map(|n| n.to_string()).collect(),
        credential_contexts: credentials,
        note: None,
        // Started from alice's console on the jump host.
        owner: Some(history::owner_on_jump1("alice", 4242)),
        trigger: Some(Trigger::console()),
    }
}

fn connection_run(
    run: &Run,
    position: u32,
    mode: RunMode,
    status: RunStatus,
    (processed, total): (u64, u64),
    counters: Counters,
    config: &Config,
) -> ConnectionRun {
    let name = &run.connections[position as usize];
    let connection = config.connection(name).unwrap();
    ConnectionRun {
        run_id: run.id,
        position,
        connection: name.clone(),
        system: connection.system.clone(),
        credential: connection.credential.clone(),
        mode,
        status,
        total,
        processed,
        counters,
        error: None,
        started_at: Some(run.started_at),
        finished_at: run.finished_at,
        config_hash: connection.config_hash(),
        note: None,
    }
}

fn dry(
    would_update: u64,
    skipped: u64,
    missing_source: u64,
    missing_destination: u64,
    errors: u64,
) -> Counters {
    let fetched = would_update + skipped + missing_source + missing_destination + errors;
    Counters {
        would_update,
        skipped,
        missing_source,
        missing_destination,
        errors,
        fetched,
        new: would_update,
        changed: 0,
        unchanged: skipped,
        ..Counters::default()
    }
}

fn record(store: &Store, mut run: Run) -> Run {
    run.id = store.create_run(run.clone()).unwrap();
    run
}

/// Four runs through the recommended workflow, one failed and one canceled.
fn history(config: &Config, store: &Store) {
    let all = ["cmdb", "registry", "mdm", "cmdb-wrong-method"];
    // 1: Single Dry on cmdb, clean.
    let r = record(
        store,
        run(
            RunType::Single,
            RunMode::Dry,
            RunStatus::Completed,
            at(13, 2, 5),
            2,
            &["cmdb"],
            config,
        ),
    );
    store
        .upsert_connection_run(&connection_run(
            &r,
            0,
            RunMode::Dry,
            RunStatus::Completed,
            (1, 1),
            dry(1, 0, 0, 0, 0),
            config,
        ))
        .unwrap();
    // 2: Single Live on cmdb and cmdb-wrong-method: the wrong method fails with 405.
    let r = record(
        store,
        run(
            RunType::Single,
            RunMode::Live,
            RunStatus::Failed,
            at(13, 10, 41),
            3,
            &["cmdb", "cmdb-wrong-method"],
            config,
        ),
    );
    let live_ok = Counters {
        updated: 1,
        fetched: 1,
        changed: 1,
        ..Counters::default()
    };
    store
        .upsert_connection_run(&connection_run(
            &r,
            0,
            RunMode::Live,
            RunStatus::Completed,
            (1, 1),
            live_ok,
            config,
        ))
        .unwrap();
    let mut failed = connection_run(
        &r,
        1,
        RunMode::Live,
        RunStatus::Failed,
        (1, 1),
        Counters {
            failed: 1,
            fetched: 1,
            ..Counters::default()
        },
        config,
    );
    failed.error = Some(RunError {
        message: "405 Method Not Allowed from PUT http://127.0.0.1:7300/cmdb/api/assets/a1f3 (5 in a row: contract-level error)".into(),
        hint: Some("wrong update method for the endpoint: check the method in the update contract".into()),
    });
    store.upsert_connection_run(&failed).unwrap();
    // 3: Full Dry on every connection.
    let mut r = record(
        store,
        run(
            RunType::Full,
            RunMode::Dry,
            RunStatus::Completed,
            at(14, 3, 12),
            121,
            &all,
            config,
        ),
    );
    r.note = None;
    let counters = [
        dry(1_204, 980, 12, 204, 0),
        dry(2_100, 250, 12, 38, 0),
        dry(1_800, 560, 12, 28, 0),
        dry(1_204, 980, 12, 204, 0),
    ];
    for (i, c) in counters.into_iter().enumerate() {
        let mut row = connection_run(
            &r,
            i as u32,
            RunMode::Dry,
            RunStatus::Completed,
            (2_400, 2_400),
            c,
            config,
        );
        if i == 3 {
            row.note = Some("0 new, 0 changed on a re-run: contracts exist and hashes match (normal on a re-run)".into());
        }
        store.upsert_connection_run(&row).unwrap();
    }
    // The engine marks a clean Full Dry run for the safety gate; cmdb-wrong-method's
    // configuration changed since.
    for name in all {
        let hash = match name {
            "cmdb-wrong-method" => "0000000000000000".to_string(),
            _ => config.connection(name).unwrap().config_hash(),
        };
        store
            .set_setting(&syncdeck::engine::clean_full_dry_key(name), &hash)
            .unwrap();
    }
    // 4: Full Live on registry and mdm, canceled during registry.
    let mut r = record(
        store,
        run(
            RunType::Full,
            RunMode::Live,
            RunStatus::Canceled,
            at(14, 31, 0),
            47,
            &["registry", "mdm"],
            config,
        ),
    );
    r.note = Some("canceled: 120 of 2400 processed".into());
    // Started by the nightly timer.
    r.owner = Some(history::owner_on_jump1("svc-sync", 9001));
    r.trigger = Some(Trigger::scheduled(Some("nightly".into())));
    store.upsert_run(&r).unwrap();
    let partial = Counters {
        updated: 96,
        created: 4,
        skipped: 17,
        failed: 2,
        pending: 1,
        fetched: 120,
        ..Counters::default()
    };
    let mut row = connection_run(
        &r,
        0,
        RunMode::Live,
        RunStatus::Canceled,
        (120, 2_400),
        partial,
        config,
    );
    row.note = Some("canceled: 120 of 2400 processed".into());
    store.upsert_connection_run(&row).unwrap();
    let mut row = connection_run(
        &r,
        1,
        RunMode::Live,
        RunStatus::Canceled,
        (0, 0),
        Counters::default(),
        config,
    );
    row.note = Some("canceled before it started".into());
    row.started_at = None;
    store.upsert_connection_run(&row).unwrap();
}

/// Both sizes of a screen.
fn snap(name: &str, app: &mut App) {
    insta::assert_snapshot!(format!("{name}_80x24"), screen(app, 80, 24));
    insta::assert_snapshot!(format!("{name}_160x48"), screen(app, 160, 48));
}

#[test]
fn empty_history() {
    let mut f = open(|_, _| {}, Theme::Default, Some(BANNER));
    snap("empty_history", &mut f.app);
}

/// A Full Dry run going: cmdb done, registry halfway.
fn start_live_run(f: &mut Fixture) -> Run {
    let all = ["cmdb", "registry", "mdm", "cmdb-wrong-method"];
    let r = record(
        &f.store,
        run(
            RunType::Full,
            RunMode::Dry,
            RunStatus::Running,
            at(14, 58, 48),
            0,
            &all,
            &f.config,
        ),
    );
    f.app.handle_engine(Event::RunStarted { run: r.clone() });
    let mut cmdb = connection_run(
        &r,
        0,
        RunMode::Dry,
        RunStatus::Running,
        (0, 0),
        Counters::default(),
        &f.config,
    );
    f.app.handle_engine(Event::ConnectionStarted {
        connection_run: cmdb.clone(),
    });
    cmdb.status = RunStatus::Completed;
    cmdb.processed = 2_400;
    cmdb.total = 2_400;
    cmdb.counters = dry(1_204, 980, 12, 204, 0);
    f.app.handle_engine(Event::ConnectionFinished {
        connection_run: cmdb,
    });
    let registry = connection_run(
        &r,
        1,
        RunMode::Dry,
        RunStatus::Running,
        (0, 0),
        Counters::default(),
        &f.config,
    );
    f.app.handle_engine(Event::ConnectionStarted {
        connection_run: registry,
    });
    f.app.handle_engine(Event::Progress {
        run_id: r.id,
        position: 1,
        processed: 1_204,
        total: 2_400,
        counters: dry(980, 200, 4, 20, 0),
    });
    f.app.handle_engine(Event::Log {
        level: LogLevel::Info,
        message: format!(
            "run {} started: Full Dry over cmdb, registry, mdm, cmdb-wrong-method",
            r.id
        ),
    });
    r
}

#[test]
fn run_in_progress() {
    let mut f = open(history, Theme::Default, Some(BANNER));
    let r = start_live_run(&mut f);
    assert_eq!(f.app.running_run(), Some(r.id));
    assert!(f.app.take_dirty());
    f.app.tick();
    assert!(f.app.take_dirty(), "a running run redraws every tick");
    snap("run_in_progress", &mut f.app);
}

#[test]
fn cancel_asks_first_then_sends() {
    let mut f = open(history, Theme::Default, None);
    let r = start_live_run(&mut f);
    key(&mut f.app, KeyCode::Char('c'));
    insta::assert_snapshot!("cancel_confirm_80x24", screen(&mut f.app, 80, 24));
    assert!(
        f.commands.try_recv().is_err(),
        "nothing is sent before the confirmation"
    );
    key(&mut f.app, KeyCode::Char('y'));
    match f.commands.try_recv() {
        Ok(Command::Cancel { run_id }) => assert_eq!(run_id, r.id),
        other => panic!("expected a cancel, got {other:?}"),
    }
    // Quit during the run asks too.
    key(&mut f.app, KeyCode::Char('q'));
    assert!(!f.app.should_quit());
    key(&mut f.app, KeyCode::Esc);
    assert!(!f.app.should_quit());
    key(&mut f.app, KeyCode::Char('q'));
    key(&mut f.app, KeyCode::Char('y'));
    assert!(f.app.should_quit());
}

#[test]
fn expanded_dry_run() {
    let mut f = open(history, Theme::Default, None);
    // Newest first: #4, #3 (the Full Dry run).
    key(&mut f.app, KeyCode::Char('j'));
    key(&mut f.app, KeyCode::Enter);
    snap("expanded_dry_run", &mut f.app);
}

#[test]
fn failed_connection() {
    let mut f = open(history, Theme::Default, None);
    key(&mut f.app, KeyCode::Char('j'));
    key(&mut f.app, KeyCode::Char('j'));
    key(&mut f.app, KeyCode::Char('l'));
    key(&mut f.app, KeyCode::Char('j'));
    key(&mut f.app, KeyCode::Char('j'));
    snap("failed_connection", &mut f.app);
    // Failures only keeps the failed run.
    key(&mut f.app, KeyCode::Char('F'));
    insta::assert_snapshot!("failures_only_80x24", screen(&mut f.app, 80, 24));
}

#[test]
fn canceled_run() {
    let mut f = open(history, Theme::Default, None);
    key(&mut f.app, KeyCode::Right);
    snap("canceled_run", &mut f.app);
}

#[test]
fn new_run_dialog() {
    let mut f = open(history, Theme::Default, None);
    key(&mut f.app, KeyCode::Char('n'));
    snap("new_run_dialog", &mut f.app);
    // Full Live: the safety gate shows why and asks before a forced run.
    key(&mut f.app, KeyCode::BackTab);
    key(&mut f.app, KeyCode::Char(' '));
    key(&mut f.app, KeyCode::Tab);
    // From Dry (the step's mode) to Live.
    key(&mut f.app, KeyCode::Right);
    insta::assert_snapshot!("new_run_gate_80x24", screen(&mut f.app, 80, 24));
    key(&mut f.app, KeyCode::Enter);
    insta::assert_snapshot!("new_run_forced_confirm_80x24", screen(&mut f.app, 80, 24));
    assert!(f.commands.try_recv().is_err());
    key(&mut f.app, KeyCode::Char('y'));
    match f.commands.try_recv() {
        Ok(Command::StartRun(request)) => {
            assert!(request.force);
            assert_eq!(request.mode, Some(RunMode::Live));
            assert_eq!(request.connections.len(), 4);
        }
        other => panic!("expected a forced start, got {other:?}"),
    }
}

#[test]
fn the_dialog_matches_its_step_and_asks_before_any_live_write() {
    // A fresh store: the first step, Single Dry, is what the dialog chooses.
    let mut f = open(|_, _| {}, Theme::Default, None);
    key(&mut f.app, KeyCode::Char('n'));
    chars(&mut f.app, "DEV-000042");
    let dialog = screen(&mut f.app, 80, 24);
    assert!(dialog.contains("(•) Dry"), "{dialog}");
    assert!(
        dialog.contains("Enter starts: Single Dry on cmdb, registry, mdm, cmdb-wrong-method"),
        "{dialog}"
    );
    // Each connection's setting: what it means, and Enter says LIVE and names them.
    key(&mut f.app, KeyCode::Tab);
    key(&mut f.app, KeyCode::Left);
    snap("new_run_per_connection", &mut f.app);
    key(&mut f.app, KeyCode::Enter);
    assert!(
        f.commands.try_recv().is_err(),
        "nothing starts before the confirmation"
    );
    snap("new_run_live_confirm", &mut f.app);
    // Esc goes back to the dialog; y starts the run as chosen.
    key(&mut f.app, KeyCode::Esc);
    assert!(screen(&mut f.app, 80, 24).contains("Enter asks first"));
    key(&mut f.app, KeyCode::Enter);
    key(&mut f.app, KeyCode::Char('y'));
    match f.commands.try_recv() {
        Ok(Command::StartRun(request)) => {
            assert_eq!(request.mode, None, "each connection's own setting");
            assert_eq!(request.connections.len(), 4);
            assert!(!request.force);
        }
        other => panic!("expected a start, got {other:?}"),
    }
    // Full with each connection's setting: the safety gate asks, and names the Dry one.
    key(&mut f.app, KeyCode::Char('n'));
    key(&mut f.app, KeyCode::BackTab);
    key(&mut f.app, KeyCode::Right);
    key(&mut f.app, KeyCode::Tab);
    key(&mut f.app, KeyCode::Left);
    key(&mut f.app, KeyCode::Enter);
    let confirm = screen(&mut f.app, 80, 24);
    assert!(
        confirm.contains("Start a Full Live run anyway?"),
        "{confirm}"
    );
    assert!(
        confirm.contains("Dry on cmdb: nothing is written there."),
        "{confirm}"
    );
    assert!(f.commands.try_recv().is_err());
}

#[test]
fn single_dry_from_the_dialog_remembers_the_serial() {
    let mut f = open(|_, _| {}, Theme::Default, None);
    key(&mut f.app, KeyCode::Char('n'));
    // An empty history starts on Single Dry, in the serial field; choose cmdb only.
    key(&mut f.app, KeyCode::Enter);
    key(&mut f.app, KeyCode::BackTab);
    key(&mut f.app, KeyCode::BackTab);
    key(&mut f.app, KeyCode::Char('a'));
    key(&mut f.app, KeyCode::Char(' '));
    // Dry, the first step's mode, is chosen already.
    key(&mut f.app, KeyCode::Tab);
    key(&mut f.app, KeyCode::Tab);
    chars(&mut f.app, "DEV-000042");
    insta::assert_snapshot!("new_run_single_dry_80x24", screen(&mut f.app, 80, 24));
    key(&mut f.app, KeyCode::Enter);
    match f.commands.try_recv() {
        Ok(Command::StartRun(request)) => {
            assert_eq!(
                request.scope,
                syncdeck::engine::RunScope::Single("DEV-000042".into())
            );
            assert_eq!(request.connections, vec!["cmdb".to_string()]);
            assert_eq!(request.mode, Some(RunMode::Dry));
            assert!(!request.force);
        }
        other => panic!("expected a start, got {other:?}"),
    }
    f.app.handle_engine(Event::Refused {
        reason: "run 7 is still going; cancel it or wait".into(),
    });
    insta::assert_snapshot!("refused_80x24", screen(&mut f.app, 80, 24));
    key(&mut f.app, KeyCode::Char('n'));
    key(&mut f.app, KeyCode::Up);
    insta::assert_snapshot!("new_run_recent_serial_80x24", screen(&mut f.app, 80, 24));
}

#[test]
fn rerun_prefills_the_dialog() {
    let mut f = open(history, Theme::Default, None);
    key(&mut f.app, KeyCode::Char('j'));
    key(&mut f.app, KeyCode::Char('j'));
    key(&mut f.app, KeyCode::Char('r'));
    insta::assert_snapshot!("rerun_dialog_80x24", screen(&mut f.app, 80, 24));
    // The rerun of #1 (Single Dry on cmdb): cmdb has done every step but Full Live.
    key(&mut f.app, KeyCode::Esc);
    key(&mut f.app, KeyCode::Char('G'));
    key(&mut f.app, KeyCode::Char('r'));
    insta::assert_snapshot!("rerun_workflow_80x24", screen(&mut f.app, 80, 24));
}

#[test]
fn help_overlay() {
    let mut f = open(history, Theme::Default, None);
    key(&mut f.app, KeyCode::Char('?'));
    snap("help_overlay", &mut f.app);
    key(&mut f.app, KeyCode::Esc);
    key(&mut f.app, KeyCode::Char('n'));
    key(&mut f.app, KeyCode::F(1));
    insta::assert_snapshot!("help_new_run_serial_80x24", screen(&mut f.app, 80, 24));
}

#[test]
fn logs_view() {
    let mut f = open(history, Theme::Default, None);
    start_live_run(&mut f);
    for i in 0..30 {
        let (level, message) = match i % 3 {
            0 => (
                LogLevel::Info,
                format!("registry: batch {i} recorded (100 entries)"),
            ),
            1 => (
                LogLevel::Warn,
                format!(
                    "mdm: DEV-{i:06} pending, retry 1 in 2s: 503 Service Unavailable from PATCH http://127.0.0.1:7300/mdm/api/devices/{i}"
                ),
            ),
            _ => (
                LogLevel::Error,
                format!("cmdb-wrong-method: 405 Method Not Allowed (record {i})"),
            ),
        };
        f.app.handle_engine(Event::Log { level, message });
    }
    key(&mut f.app, KeyCode::Char('2'));
    snap("logs", &mut f.app);
    key(&mut f.app, KeyCode::Char('/'));
    chars(&mut f.app, "mdm");
    insta::assert_snapshot!("logs_filtered_80x24", screen(&mut f.app, 80, 24));
}

#[test]
fn too_small() {
    let mut f = open(history, Theme::Default, None);
    insta::assert_snapshot!("too_small_20x5", screen(&mut f.app, 20, 5));
    insta::assert_snapshot!("too_small_59x15", screen(&mut f.app, 59, 15));
    // TestBackend cannot print a zero-sized buffer: drawing is the test.
    for (w, h) in [(0, 0), (1, 1), (0, 24), (80, 0), (60, 16), (61, 17)] {
        terminal(&mut f.app, w, h);
    }
    key(&mut f.app, KeyCode::Char('n'));
    for (w, h) in [(0, 0), (20, 5), (60, 16)] {
        terminal(&mut f.app, w, h);
    }
    insta::assert_snapshot!("new_run_dialog_60x16", screen(&mut f.app, 60, 16));
}

#[test]
fn mono_theme() {
    let mut f = open(history, Theme::Mono, Some(BANNER));
    key(&mut f.app, KeyCode::Char('j'));
    key(&mut f.app, KeyCode::Enter);
    let terminal = terminal(&mut f.app, 80, 24);
    let buffer = terminal.backend().buffer();
    for cell in buffer.content() {
        assert_eq!(
            cell.fg,
            Color::Reset,
            "a cell has a foreground colour: {cell:?}"
        );
        assert_eq!(
            cell.bg,
            Color::Reset,
            "a cell has a background colour: {cell:?}"
        );
    }
    // The selected run (#3) is in reverse video across the row (inside the padding).
    let row = (0..24)
        .find(|y| {
            let line: String = (0..80)
                .map(|x| buffer[(x, *y)].symbol().to_string())
                .collect();
            line.contains("#3 Full")
        })
        .expect("run #3 is on screen");
    for x in 2..78 {
        assert!(
            buffer[(x, row)].modifier.contains(Modifier::REVERSED),
            "column {x} of the selected row is not reversed"
        );
    }
    insta::assert_snapshot!("mono_80x24", terminal.backend().to_string());
}
