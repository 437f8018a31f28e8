//! The ways a session ends other than `q`, and a second session on a held store — the real
//! binary in a real terminal (tmux), the store read back after exit:
//!
//! - SIGTERM, SIGINT and SIGHUP in the middle of a Live run: the terminal is given back, the exit
//!   code is 128 + N and the run is recorded as Canceled (or Interrupted). A Dry run under SIGHUP
//!   is `tui_e2e::sighup_mid_run_records_the_run_and_gives_the_terminal_back`.
//! - A panic on the UI thread (the `SYNCDECK_TEST_PANIC=ui` hook, F12): the terminal is given
//!   back, exit code 101, the panic in the log file and not on the screen.
//! - A panic inside an engine task (the App on a TestBackend with the real engine, the panic
//!   raised from the engine's own log call): the connection run fails with the panic's message,
//!   the next key still works and a later run still starts.
//! - A panic in a run's own task (raised from its "started" log line): the run ends Failed
//!   with the panic's message and lets its connection leases go, so the next Live run of that
//!   connection starts.
//! - A store held by a syncdeck that opens stores alone (a version from before shared stores):
//!   exit code 3 at once, no alternate screen, the store untouched.

#![cfg(unix)]

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use syncdeck::config::{Config, Environment};
use syncdeck::demo::{self, DemoOptions};
use syncdeck::engine::{self, Event};
use syncdeck::store::{Run, RunStatus, Store, StoreOptions};
use syncdeck::ui::app::{App, AppOptions};
use syncdeck::ui::event_loop::{TEST_PANIC_ENV, TEST_PANIC_MESSAGE};

mod common;

use common::Terminal;

/// The demo's connections, in config order.
const CONNECTIONS: &str = "cmdb, registry, mdm, cmdb-wrong-method";

/// Opens the new-run dialog and starts a Full Live run of every connection through the safety
/// gate's confirmation; returns once the run shows as running.
fn start_full_live(term: &Terminal) {
    term.keys(&["n"]);
    term.wait_for("New run");
    // Serial → Scope → Connections, back to Scope: Full; Mode: from Dry (the step's) to Live.
    term.keys(&["BTab", "BTab", "Tab", "Right", "Tab", "Right"]);
    term.wait_for(&format!("Enter asks first: Full LIVE on {CONNECTIONS}"));
    term.keys(&["Enter"]);
    term.wait_for("Start a Full Live run anyway?");
    term.keys(&["y"]);
    term.wait_for("▶ running");
}

/// The only run of a store, after syncdeck has exited.
fn only_run(path: &Path) -> (Run, Store) {
    let store = Store::open(path, StoreOptions::default()).unwrap();
    let runs = store.list_runs(None, 10).unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    (runs[0].clone(), store)
}

/// A signal mid Live run: terminal back, 128 + N, the run Canceled or Interrupted.
fn signal_mid_live_run(name: &str, number: i32) {
    let term = Terminal::start(100, 30, "demo --store {dir}/demo.redb");
    term.wait_for("No runs yet");
    // Without SYNCDECK_TEST_PANIC, F12 is an ordinary key: the next key is still handled.
    term.keys(&["F12"]);
    start_full_live(&term);
    let pid = term.pid();
    let sent = Instant::now();
    let status = Command::new("kill")
        .args([&format!("-{name}"), &pid])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(term.exit_code(), 128 + number, "128 + SIG{name}");
    let exited = sent.elapsed();
    term.assert_restored();

    let (run, store) = only_run(&term.file("demo.redb"));
    assert!(
        matches!(run.status, RunStatus::Canceled | RunStatus::Interrupted),
        "SIG{name}: {run:?}"
    );
    for row in store.connection_runs(run.id).unwrap() {
        assert_ne!(row.status, RunStatus::Running, "SIG{name}: {row:?}");
    }
    println!(
        "SIG{name}: exit {} about {:.1} s after the signal; run #{} {:?}, {}",
        128 + number,
        exited.as_secs_f64(),
        run.id,
        run.status,
        if store.recovery().is_empty() {
            "recorded by syncdeck itself"
        } else {
            "settled by recovery on the next open"
        }
    );
}

#[test]
fn sigterm_mid_live_run_records_the_run_and_gives_the_terminal_back() {
    signal_mid_live_run("TERM", 15);
}

#[test]
fn sigint_mid_live_run_records_the_run_and_gives_the_terminal_back() {
    signal_mid_live_run("INT", 2);
}

#[test]
fn sighup_mid_live_run_records_the_run_and_gives_the_terminal_back() {
    signal_mid_live_run("HUP", 1);
}

#[test]
fn a_panic_on_the_ui_thread_gives_the_terminal_back_and_is_logged() {
    let term = Terminal::start_with_env(
        100,
        30,
        &[(TEST_PANIC_ENV, "ui")],
        "demo --store {dir}/demo.redb",
    );
    term.wait_for("No runs yet");
    start_full_live(&term);
    term.keys(&["F12"]);
    assert_eq!(term.exit_code(), 101, "a panic exits 101");
    term.assert_restored();
    let screen = term.screen();
    assert!(
        !screen.contains(TEST_PANIC_MESSAGE) && !screen.contains("panicked at"),
        "the panic is for the log, not the screen:\n{screen}"
    );
    assert!(
        screen.contains("the details are in the log"),
        "one line says where to look:\n{screen}"
    );
    let log = term.log();
    assert!(log.contains(TEST_PANIC_MESSAGE), "the log:\n{log}");
    // The run the panic cut short is settled on the next open, nothing left Running.
    let (run, store) = only_run(&term.file("demo.redb"));
    assert_eq!(run.status, RunStatus::Interrupted, "{run:?}");
    assert_eq!(store.recovery().runs_interrupted, vec![run.id]);
    for row in store.connection_runs(run.id).unwrap() {
        assert_ne!(row.status, RunStatus::Running, "{row:?}");
    }
}

/// A tracing subscriber that panics once, when an event's message contains `needle`: the panic
/// happens inside whatever engine code logs that line, on the engine's own task.
struct PanicOnLog {
    needle: &'static str,
    armed: AtomicBool,
}

/// The message of the panic [`PanicOnLog`] raises.
const ENGINE_PANIC: &str = "engine test panic while listing the destination";

impl tracing::Subscriber for PanicOnLog {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }

    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}

    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}

    fn event(&self, event: &tracing::Event<'_>) {
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{value:?}");
                }
            }
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        if message.0.contains(self.needle) && self.armed.swap(false, Ordering::SeqCst) {
            panic!("{ENGINE_PANIC}");
        }
    }

    fn enter(&self, _: &tracing::span::Id) {}

    fn exit(&self, _: &tracing::span::Id) {}
}

fn key(code: KeyCode) -> KeyEvent {
    let modifiers = if code == KeyCode::BackTab {
        KeyModifiers::SHIFT
    } else {
        KeyModifiers::NONE
    };
    KeyEvent::new(code, modifiers)
}

/// The screen as text, one line per row.
fn screen(terminal: &ratatui::Terminal<TestBackend>) -> String {
    let buffer = terminal.backend().buffer();
    let mut text = String::new();
    for y in 0..buffer.area.height {
        for x in 0..buffer.area.width {
            text.push_str(buffer[(x, y)].symbol());
        }
        text.push('\n');
    }
    text
}

/// An App on a TestBackend, fed by a real engine, as the event loop does it.
struct Screen {
    app: App,
    engine: engine::EngineHandle,
    terminal: ratatui::Terminal<TestBackend>,
}

impl Screen {
    fn press(&mut self, codes: &[KeyCode]) -> String {
        for code in codes {
            self.app.handle_key(key(*code));
        }
        self.draw()
    }

    fn draw(&mut self) -> String {
        self.terminal.draw(|frame| self.app.draw(frame)).unwrap();
        screen(&self.terminal)
    }

    /// Feeds engine events to the app until a run finishes; returns it (bounded).
    async fn until_run_finished(&mut self) -> Run {
        let limit = Duration::from_secs(120);
        let finished = tokio::time::timeout(limit, async {
            loop {
                let event = self.engine.events.recv().await.expect("the engine runs");
                let done = match &event {
                    Event::RunFinished { run } => Some(run.clone()),
                    _ => None,
                };
                self.app.handle_engine(event);
                if let Some(run) = done {
                    return run;
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no run finished within {limit:?}"));
        self.draw();
        finished
    }
}

#[tokio::test]
async fn a_panic_in_an_engine_task_fails_that_connection_and_the_screen_keeps_working() {
    // Current-thread runtime: the engine's tasks run on this thread, under this subscriber.
    let _subscriber = tracing::subscriber::set_default(PanicOnLog {
        needle: "cmdb: listing the destination for a bulk lookup",
        armed: AtomicBool::new(true),
    });
    let server = demo::start(
        "127.0.0.1:0".parse().unwrap(),
        DemoOptions {
            fleet_size: 300,
            seed: 5,
        },
    )
    .await
    .unwrap();
    let env = Environment::with_fallbacks(demo::demo_secrets().iter().copied());
    let config: Arc<Config> = Arc::new(
        syncdeck::config::parse(
            &demo::config_for(server.addr()),
            Path::new("demo.toml"),
            &env,
        )
        .unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("s.redb"), StoreOptions::default()).unwrap();
    let engine = engine::spawn(config.clone(), store.clone());
    let app = App::new(
        config.clone(),
        store.clone(),
        engine.commands.clone(),
        AppOptions {
            theme: config.ui.theme,
            banner: None,
            triage: None,
        },
    )
    .unwrap();
    let mut ui = Screen {
        app,
        engine,
        terminal: ratatui::Terminal::new(TestBackend::new(100, 30)).unwrap(),
    };
    assert!(ui.draw().contains("No runs yet"));

    // A Full Dry run of every connection; the cmdb's run panics as it lists the destination.
    let dialog = ui.press(&[KeyCode::Char('n')]);
    assert!(dialog.contains("New run"), "{dialog}");
    let dialog = ui.press(&[
        KeyCode::BackTab,
        KeyCode::BackTab,
        KeyCode::Tab,
        KeyCode::Right,
        KeyCode::Tab,
    ]);
    // Dry is the first step's mode, chosen already.
    assert!(
        dialog.contains(&format!("Enter starts: Full Dry on {CONNECTIONS}")),
        "{dialog}"
    );
    ui.press(&[KeyCode::Enter]);
    let run = ui.until_run_finished().await;
    let rows = store.connection_runs(run.id).unwrap();
    assert_eq!(rows.len(), 4, "{rows:?}");
    let cmdb = &rows[0];
    assert_eq!(cmdb.connection, "cmdb");
    assert_eq!(cmdb.status, RunStatus::Failed, "{cmdb:?}");
    let message = &cmdb.error.as_ref().expect("the panic is the error").message;
    assert!(
        message.contains("internal error (panic)") && message.contains(ENGINE_PANIC),
        "{message}"
    );
    // The run went on with the next connections.
    assert_eq!(rows[1].status, RunStatus::Completed, "{:?}", rows[1]);
    assert_eq!(rows[2].status, RunStatus::Completed, "{:?}", rows[2]);
    assert_eq!(run.status, RunStatus::Failed, "{run:?}");
    let jobs = ui.draw();
    assert!(jobs.contains("1. cmdb"), "{jobs}");
    assert!(
        jobs.contains(ENGINE_PANIC),
        "the error is on the screen:\n{jobs}"
    );

    // The next key still works: the Logs view, and back.
    let logs = ui.press(&[KeyCode::Char('2')]);
    assert!(logs.contains(" Logs "), "{logs}");
    assert!(logs.contains("run 1 started"), "{logs}");
    let back = ui.press(&[KeyCode::Char('1')]);
    assert!(back.contains("1. cmdb"), "{back}");

    // A later run still starts, and the cmdb completes this time.
    let dialog = ui.press(&[KeyCode::Char('n')]);
    assert!(dialog.contains("New run"), "{dialog}");
    for c in "SD-000007".chars() {
        ui.app.handle_key(key(KeyCode::Char(c)));
    }
    let dialog = ui.press(&[KeyCode::Tab]);
    assert!(
        dialog.contains(&format!("Enter starts: Single Dry on {CONNECTIONS}")),
        "{dialog}"
    );
    ui.press(&[KeyCode::Enter]);
    let later = ui.until_run_finished().await;
    assert_ne!(later.id, run.id);
    let rows = store.connection_runs(later.id).unwrap();
    assert_eq!(rows[0].status, RunStatus::Completed, "{:?}", rows[0]);
    let _ = ui.engine.commands.send(engine::Command::Shutdown);
    server.shutdown().await;
}

#[tokio::test]
async fn a_panic_in_the_run_task_ends_the_run_failed_and_lets_its_connections_go() {
    // Current-thread runtime: the run's task runs on this thread, under this subscriber.
    let _subscriber = tracing::subscriber::set_default(PanicOnLog {
        needle: "started: Full Live over cmdb",
        armed: AtomicBool::new(true),
    });
    let server = demo::start(
        "127.0.0.1:0".parse().unwrap(),
        DemoOptions {
            fleet_size: 200,
            seed: 6,
        },
    )
    .await
    .unwrap();
    let env = Environment::with_fallbacks(demo::demo_secrets().iter().copied());
    let config: Arc<Config> = Arc::new(
        syncdeck::config::parse(
            &demo::config_for(server.addr()),
            Path::new("demo.toml"),
            &env,
        )
        .unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("s.redb"), StoreOptions::default()).unwrap();
    let mut engine = engine::spawn(config.clone(), store.clone());
    let full_live = || {
        engine::Command::StartRun(engine::RunRequest {
            scope: engine::RunScope::Full,
            connections: vec!["cmdb".into()],
            mode: Some(syncdeck::store::RunMode::Live),
            force: true,
        })
    };
    engine.commands.send(full_live()).unwrap();
    let run = run_finished(&mut engine.events).await;
    assert_eq!(run.status, RunStatus::Failed, "{run:?}");
    let note = run.note.clone().unwrap_or_default();
    assert!(note.contains(ENGINE_PANIC), "{note}");
    assert_eq!(store.get_run(run.id).unwrap().unwrap(), run, "recorded so");
    assert!(
        store.lease_holder("cmdb").unwrap().is_none(),
        "the lease went with the run"
    );
    // The next Live run of the same connection starts, and ends as runs do.
    engine.commands.send(full_live()).unwrap();
    let later = run_finished(&mut engine.events).await;
    assert_ne!(later.id, run.id);
    assert_eq!(later.status, RunStatus::Completed, "{later:?}");
    let _ = engine.commands.send(engine::Command::Shutdown);
    server.shutdown().await;
}

/// The next run the engine says finished (bounded).
async fn run_finished(events: &mut tokio::sync::mpsc::UnboundedReceiver<Event>) -> Run {
    let wait = async {
        loop {
            match events.recv().await.expect("the engine runs") {
                Event::RunFinished { run } => return run,
                Event::Refused { reason } => panic!("refused: {reason}"),
                Event::ConnectionHeld { holder } => panic!("held: {holder}"),
                _ => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(120), wait)
        .await
        .expect("a run finishes")
}

/// The store's bytes and modification time.
fn snapshot(path: &Path) -> (Vec<u8>, std::time::SystemTime) {
    let bytes = std::fs::read(path).unwrap();
    let mtime = std::fs::metadata(path).unwrap().modified().unwrap();
    (bytes, mtime)
}

#[test]
fn a_store_open_in_a_syncdeck_that_opens_it_alone_makes_another_exit_3_at_once() {
    // A syncdeck from before shared stores opens its store alone (redb's default mode): the
    // file is held here the way it holds it.
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.redb");
    drop(syncdeck::store::Store::open(&store, Default::default()).unwrap());
    let alone = redb::Database::create(&store).unwrap();
    let before = snapshot(&store);
    let named = "opens it alone";

    // A console: the message on the main screen, never an alternate screen.
    let started = Instant::now();
    let second = Terminal::start_recorded(200, 10, &format!("--store {}", store.display()));
    assert_eq!(second.exit_code(), 3);
    let tui_exit = started.elapsed();
    let screen = second.wait_for(named);
    assert!(screen.contains(&store.display().to_string()), "{screen}");
    second.assert_restored();
    let output = second.output();
    assert!(
        !output.windows(8).any(|w| w == b"\x1b[?1049h"),
        "the alternate screen was entered: {:?}",
        String::from_utf8_lossy(&output)
    );

    // A headless run.
    let config = dir.path().join("config.toml");
    // Nothing listens there: the run must stop before any request.
    std::fs::write(&config, demo::config_for("127.0.0.1:9".parse().unwrap())).unwrap();
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_syncdeck"))
        .env("XDG_STATE_HOME", dir.path().join("state"))
        .env("XDG_DATA_HOME", dir.path().join("data"))
        .env("XDG_CONFIG_HOME", dir.path().join("config"))
        .env_remove("SYNCDECK_CONFIG")
        .env_remove("SYNCDECK_STORE")
        .envs(demo::demo_secrets().iter().copied())
        .arg("--config")
        .arg(&config)
        .arg("--store")
        .arg(&store)
        .args([
            "run",
            "--full",
            "--dry-run",
            "--connection",
            "cmdb",
            "--json",
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let limit = Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("the second run did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let run_exit = started.elapsed();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(out.stdout.is_empty(), "{out:?}");
    assert!(stderr.contains(named), "{stderr}");

    assert!(
        tui_exit < limit,
        "the second TUI took {tui_exit:?} to exit (bound {limit:?})"
    );
    println!(
        "a store held alone: TUI exit 3 after {} ms (tmux start and polling included), run \
         exit 3 after {} ms",
        tui_exit.as_millis(),
        run_exit.as_millis()
    );
    // Neither touched the store.
    assert!(snapshot(&store) == before, "the store changed");
    drop(alone);
}
