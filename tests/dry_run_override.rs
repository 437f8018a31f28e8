//! The dry-run override (SPEC section 5, Connections: "the dry-run toggle") changes what a run
//! without an explicit mode does, and survives a restart: the demo's `cmdb` is `dry_run = true`
//! in its configuration; with the override `"false"` in the store (what `D` in the Connections
//! view writes) a run with no mode — the engine's `RunRequest { mode: None }` and `syncdeck run`
//! without `--dry-run`/`--live` — runs Live and writes to the demo CMDB; with the override
//! removed it is Dry again and writes nothing. Every "restart" closes the store file and opens
//! it again (a second open in one process would fail, so the reopen proves it was closed).
//!
//! Runs over real HTTP against the demo systems on 127.0.0.1, with a real redb file in a temp
//! dir; the CLI runs are the real binary as a separate process.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ratatui::crossterm::event::KeyCode;
use serde_json::Value;
use syncdeck::config::Config;
use syncdeck::demo::{self, DemoServer};
use syncdeck::engine::{self, Command, Event, RunRequest, RunScope, dry_run_override_key};
use syncdeck::store::{
    ConnectionRun, EntryQuery, EntryStatus, Outcome, ReportEntry, Run, RunMode, RunStatus, Store,
    StoreOptions,
};
use syncdeck::ui::app::App;

mod common;

use common::screen::key;

/// Longest one run (in process or as a child) may take before the test fails.
const LIMIT: Duration = Duration::from_secs(120);

/// The demo systems in this process, their config (also as a file for the binary) and a store
/// path in a temp dir; the store itself is opened and closed by each step.
struct Setup {
    server: DemoServer,
    config: Arc<Config>,
    config_file: PathBuf,
    store_path: PathBuf,
    dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let server = common::demo::start(300, 11).await;
    let text = demo::config_for(server.addr());
    let config = common::demo::parse_config(&text);
    let cmdb = config.connection("cmdb").expect("the demo has cmdb");
    assert!(cmdb.dry_run, "the demo's cmdb is Dry in its configuration");
    let dir = tempfile::tempdir().unwrap();
    let config_file = dir.path().join("config.toml");
    std::fs::write(&config_file, &text).unwrap();
    Setup {
        server,
        config: Arc::new(config),
        config_file,
        store_path: dir.path().join("s.redb"),
        dir,
    }
}

impl Setup {
    fn open_store(&self) -> Store {
        Store::open(&self.store_path, StoreOptions::default()).unwrap()
    }

    /// Serials the demo CMDB holds stale (a Dry run would update them, a Live one writes them);
    /// each step takes a fresh one, so a Live step before it cannot have fixed it.
    fn stale_cmdb_serials(&self) -> Vec<String> {
        let fleet = self.server.fleet();
        (0..fleet.len())
            .filter(|&i| {
                let device = fleet.device(i).unwrap();
                let traits = fleet.traits(i).unwrap();
                device.status.is_some()
                    && !traits.cmdb.missing
                    && !traits.cmdb.stale_fields.is_empty()
            })
            .map(|i| fleet.device(i).unwrap().serial)
            .collect()
    }

    fn cmdb_writes(&self) -> u64 {
        self.server.stats().cmdb.writes
    }
}

/// A Single run of `serial` on cmdb with no explicit mode, through the engine over `store`;
/// waits for the engine task to end so that it holds the store no more.
async fn run_without_mode(
    setup: &Setup,
    store: &Store,
    serial: &str,
) -> (Run, ConnectionRun, ReportEntry) {
    let mut engine = engine::spawn(setup.config.clone(), store.clone());
    let request = RunRequest {
        scope: RunScope::Single(serial.to_string()),
        connections: vec!["cmdb".into()],
        mode: None,
        force: false,
    };
    engine.commands.send(Command::StartRun(request)).unwrap();
    let run = tokio::time::timeout(LIMIT, async {
        loop {
            match engine.events.recv().await.expect("engine stopped") {
                Event::Refused { reason } => panic!("refused: {reason}"),
                Event::RunFinished { run } => return run,
                _ => {}
            }
        }
    })
    .await
    .expect("the run did not finish in time");
    engine.commands.send(Command::Shutdown).unwrap();
    tokio::time::timeout(LIMIT, engine.task)
        .await
        .expect("the engine did not stop")
        .unwrap();
    let mut rows = store.connection_runs(run.id).unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    let query = EntryQuery {
        run: Some(run.id),
        ..EntryQuery::default()
    };
    let mut entries = store.entries_page(&query, None, 10).unwrap().entries;
    assert_eq!(entries.len(), 1, "{entries:?}");
    (run, rows.remove(0), entries.remove(0))
}

/// `syncdeck run --single SERIAL --connection cmdb --json`, no mode flag, on the store file
/// (which this process must have closed).
async fn cli_run_without_mode(setup: &Setup, serial: &str) -> Value {
    let mut command = common::cli::demo_command(setup.dir.path());
    command
        .arg("--config")
        .arg(&setup.config_file)
        .arg("--store")
        .arg(&setup.store_path)
        .args(["run", "--single", serial, "--connection", "cmdb", "--json"]);
    let out = common::cli::output(command, LIMIT).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    out.json()
}

/// The run's mode and its one connection's status and counters, from `run --json`.
fn cli_summary(json: &Value) -> (&str, &str, u64, u64) {
    let connections = json["connections"].as_array().expect("connections");
    assert_eq!(connections.len(), 1, "{json}");
    let cmdb = &connections[0];
    assert_eq!(cmdb["name"], "cmdb", "{json}");
    (
        json["mode"].as_str().unwrap(),
        cmdb["status"].as_str().unwrap(),
        cmdb["counters"]["would_update"].as_u64().unwrap(),
        cmdb["counters"]["updated"].as_u64().unwrap(),
    )
}

fn assert_live_update(run: &Run, row: &ConnectionRun, entry: &ReportEntry, serial: &str) {
    assert_eq!(run.mode, RunMode::Live, "{run:?}");
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(row.mode, RunMode::Live, "{row:?}");
    assert_eq!(row.counters.updated, 1, "{row:?}");
    assert_eq!(row.counters.would_update, 0, "{row:?}");
    assert_eq!(entry.reference, serial);
    assert_eq!(entry.status, EntryStatus::Ok, "{entry:?}");
    assert_eq!(entry.outcome, Outcome::Updated, "{entry:?}");
}

fn assert_dry_would_update(run: &Run, row: &ConnectionRun, entry: &ReportEntry, serial: &str) {
    assert_eq!(run.mode, RunMode::Dry, "{run:?}");
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(row.mode, RunMode::Dry, "{row:?}");
    assert_eq!(row.counters.would_update, 1, "{row:?}");
    assert_eq!(row.counters.updated, 0, "{row:?}");
    assert_eq!(entry.reference, serial);
    assert_eq!(entry.status, EntryStatus::Dry, "{entry:?}");
    assert_eq!(entry.outcome, Outcome::WouldUpdate, "{entry:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_override_makes_cmdb_live_across_restarts_until_removed() {
    let setup = setup().await;
    let serials = setup.stale_cmdb_serials();
    assert!(serials.len() >= 5, "{serials:?}");
    let key = dry_run_override_key("cmdb");

    // The configuration alone: Dry, nothing written.
    let store = setup.open_store();
    let (run, row, entry) = run_without_mode(&setup, &store, &serials[0]).await;
    assert_dry_would_update(&run, &row, &entry, &serials[0]);
    assert_eq!(setup.cmdb_writes(), 0);

    // The override as `D` writes it, then a restart.
    store.set_setting(&key, "false").unwrap();
    drop(store);
    let store = setup.open_store();
    assert_eq!(store.get_setting(&key).unwrap().as_deref(), Some("false"));
    let (run, row, entry) = run_without_mode(&setup, &store, &serials[1]).await;
    assert_live_update(&run, &row, &entry, &serials[1]);
    assert_eq!(setup.cmdb_writes(), 1, "the Live run wrote to the CMDB");

    // The binary reads the same override from the store file.
    drop(store);
    let json = cli_run_without_mode(&setup, &serials[2]).await;
    assert_eq!(cli_summary(&json), ("live", "completed", 0, 1), "{json}");
    assert_eq!(setup.cmdb_writes(), 2);

    // The override removed (what `D` does when it returns to the configuration's value), then
    // a restart: Dry again, in process and in the binary.
    let store = setup.open_store();
    assert!(store.remove_setting(&key).unwrap());
    drop(store);
    let store = setup.open_store();
    assert_eq!(store.get_setting(&key).unwrap(), None);
    let (run, row, entry) = run_without_mode(&setup, &store, &serials[3]).await;
    assert_dry_would_update(&run, &row, &entry, &serials[3]);
    drop(store);
    let json = cli_run_without_mode(&setup, &serials[4]).await;
    assert_eq!(cli_summary(&json), ("dry", "completed", 1, 0), "{json}");
    assert_eq!(setup.cmdb_writes(), 2, "Dry runs write nothing");

    // The store kept all five runs with the modes they ran in.
    let store = setup.open_store();
    let modes: Vec<RunMode> = store
        .list_runs(None, 10)
        .unwrap()
        .iter()
        .rev()
        .map(|r| r.mode)
        .collect();
    use RunMode::{Dry, Live};
    assert_eq!(modes, [Dry, Live, Live, Dry, Dry]);
}

/// The App over `store` with the demo configuration, as `syncdeck` builds it.
fn app(setup: &Setup, store: &Store) -> App {
    let (app, _commands) =
        common::screen::app_over(setup.config.clone(), store, common::screen::plain());
    app
}

fn screen(app: &mut App) -> String {
    common::screen::settle(app, Duration::from_secs(30));
    common::screen::render(app, 100, 30)
}

/// The Connections view's row of cmdb.
fn cmdb_row(shown: &str) -> &str {
    shown
        .lines()
        .find(|l| l.contains("cmdb ") && l.contains("ServiceNow"))
        .unwrap_or_else(|| panic!("no cmdb row:\n{shown}"))
}

/// Closes the App and its store; background jobs first, so none still holds the file.
fn close(mut app: App, store: Store) {
    assert!(app.wait_background(Duration::from_secs(30)));
    drop(app);
    drop(store);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d_in_the_connections_view_persists_and_the_next_run_follows_it() {
    let setup = setup().await;
    let serials = setup.stale_cmdb_serials();
    let key_of = dry_run_override_key("cmdb");

    // 5, then D on the first connection (cmdb, Dry in the configuration): Live by override.
    let store = setup.open_store();
    let mut ui = app(&setup, &store);
    key(&mut ui, KeyCode::Char('5'));
    let shown = screen(&mut ui);
    assert!(!cmdb_row(&shown).contains("(override)"), "{shown}");
    key(&mut ui, KeyCode::Char('D'));
    let shown = screen(&mut ui);
    assert!(cmdb_row(&shown).contains("Live (override)"), "{shown}");
    assert!(
        shown.contains("cmdb: Live by default now"),
        "the toggle says what it did:\n{shown}"
    );
    close(ui, store);

    // A restart: the setting is in the file, and the view shows it again.
    let store = setup.open_store();
    assert_eq!(
        store.get_setting(&key_of).unwrap().as_deref(),
        Some("false")
    );
    let mut ui = app(&setup, &store);
    key(&mut ui, KeyCode::Char('5'));
    let shown = screen(&mut ui);
    assert!(cmdb_row(&shown).contains("Live (override)"), "{shown}");
    close(ui, store);

    // The next run without a mode follows it: Live, one write.
    let store = setup.open_store();
    let (run, row, entry) = run_without_mode(&setup, &store, &serials[0]).await;
    assert_live_update(&run, &row, &entry, &serials[0]);
    assert_eq!(setup.cmdb_writes(), 1);

    // D again: the override goes (the configuration's own value), and stays gone.
    let mut ui = app(&setup, &store);
    key(&mut ui, KeyCode::Char('5'));
    key(&mut ui, KeyCode::Char('D'));
    let shown = screen(&mut ui);
    assert!(!cmdb_row(&shown).contains("(override)"), "{shown}");
    close(ui, store);
    let store = setup.open_store();
    assert_eq!(store.get_setting(&key_of).unwrap(), None);
    let (run, row, entry) = run_without_mode(&setup, &store, &serials[1]).await;
    assert_dry_would_update(&run, &row, &entry, &serials[1]);
    assert_eq!(setup.cmdb_writes(), 1, "the Dry run wrote nothing");
}
