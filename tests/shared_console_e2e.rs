//! Consoles and headless runs on one store, end to end: the real binary in real terminals (tmux)
//! beside `syncdeck run` processes, against the demo systems served from this test process.
//!
//! A console is open on a store; beside it a headless Full Live run on the same store exits 0
//! or 1 (never 3); the console shows that run appear with who started it, its gauge move and its
//! end; `report` and `contracts` work meanwhile; a second console (80x24) on the same store
//! shows it too; and `c` in that console cancels a second headless run, which ends Canceled
//! naming who asked. A run whose process is killed shows Interrupted in the console watching it,
//! and its connection is free again.

#![cfg(unix)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use syncdeck::demo;
use syncdeck::store::RunOwner;

mod common;

use common::Terminal;
use common::cli;

/// Large enough that a Full Live run lasts seconds: long enough to watch it move and cancel it.
const FLEET: usize = 6_000;

struct Setup {
    _runtime: tokio::runtime::Runtime,
    server: demo::DemoServer,
    dir: tempfile::TempDir,
}

impl Setup {
    fn start() -> Setup {
        let (runtime, server) = common::demo::start_blocking(FLEET, 51);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.toml"),
            demo::config_for(server.addr()),
        )
        .unwrap();
        Setup {
            _runtime: runtime,
            server,
            dir,
        }
    }

    fn args(&self) -> String {
        let d = self.dir.path().display();
        format!("--config {d}/config.toml --store {d}/s.redb")
    }

    /// A console on the store, in a terminal of its own.
    fn console(&self, width: u16, height: u16) -> Terminal {
        Terminal::start_with_env(width, height, demo::demo_secrets(), &self.args())
    }

    /// `syncdeck --config C --store S ARGS`, headless.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = cli::demo_command(self.dir.path());
        command
            .arg("--config")
            .arg(self.dir.path().join("config.toml"))
            .arg("--store")
            .arg(self.dir.path().join("s.redb"))
            .args(args);
        command
    }

    fn spawn_run(&self, connections: &[&str]) -> Child {
        let mut args = vec!["run", "--full", "--live", "--force", "--json"];
        for name in connections {
            args.extend(["--connection", name]);
        }
        self.command(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    fn output(&self, args: &[&str]) -> std::process::Output {
        self.command(args).output().unwrap()
    }
}

/// Waits (bounded) for a headless run to exit; its code and JSON summary.
fn finish(mut child: Child) -> (i32, serde_json::Value, String) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the headless run did not end");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}\n{stderr}"));
    (out.status.code().unwrap_or(-1), json, stderr)
}

/// The records done of the card's overall gauge (`overall ███░░ 37%  3,604 of ~9,600`).
fn overall_done(screen: &str) -> Option<u64> {
    let line = screen.lines().find(|l| l.contains("overall "))?;
    let after = &line[line.find('%')? + 1..];
    let done = after.split_whitespace().next()?;
    done.replace(',', "").parse().ok()
}

/// Waits until the card's gauge shows more than `than` records done; the new count.
fn gauge_beyond(term: &Terminal, than: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let screen = term.screen();
        if let Some(done) = overall_done(&screen).filter(|&done| done > than) {
            return done;
        }
        assert!(
            Instant::now() < deadline,
            "the gauge did not move past {than}:\n{screen}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn consoles_follow_a_headless_run_and_one_cancels_another() {
    let setup = Setup::start();
    let me = RunOwner::current();
    let origin = format!("by {} · headless", me.user_at_host());

    let console = setup.console(100, 30);
    console.wait_for("No runs yet");

    // A headless Full Live run beside the open console: it runs (exit 0 or 1, never 3).
    let run = setup.spawn_run(&["cmdb", "registry"]);
    let screen = console.wait_for("▶ Run #1");
    assert!(screen.contains("▶ run #1 going"), "{screen}");
    let screen = console.wait_for(&origin);
    assert!(
        screen.contains("1. cmdb"),
        "its connections are listed:\n{screen}"
    );
    // Its gauge moves as its batches commit.
    let first = gauge_beyond(&console, 0);
    let later = gauge_beyond(&console, first);
    assert!(later > first);

    // report and contracts work meanwhile, on the same store.
    let report = setup.output(&["report", "--format", "json"]);
    assert_eq!(report.status.code(), Some(0), "{report:?}");
    assert!(serde_json::from_slice::<serde_json::Value>(&report.stdout).is_ok());
    let contracts = setup.output(&["contracts", "--json"]);
    assert_eq!(contracts.status.code(), Some(0), "{contracts:?}");

    // A second console, at 80x24, sees the same run.
    let second = setup.console(80, 24);
    let screen = second.wait_for("▶ Run #1");
    assert!(screen.contains("headless"), "{screen}");

    // Its end shows in both.
    let (code, json, stderr) = finish(run);
    assert!(code == 0 || code == 1, "exit {code}: {stderr}");
    assert_eq!(json["status"], "completed");
    assert_eq!(json["trigger"], "headless");
    for term in [&console, &second] {
        let screen = term.wait_for("Last run #1");
        // Completed; with a warning mark when records failed (never plain success then).
        assert!(
            screen.contains("✔ completed") || screen.contains("⚠ completed ·"),
            "{screen}"
        );
    }
    console.wait_for("run #1 (");

    // A second headless run, canceled from the second console.
    let run = setup.spawn_run(&["mdm", "registry"]);
    second.wait_for("▶ Run #2");
    gauge_beyond(&second, 0);
    second.keys(&["c"]);
    let screen = second.wait_for("Cancel another process's run?");
    assert!(screen.contains("It runs in process"), "{screen}");
    second.keys(&["y"]);
    let asked = Instant::now();
    second.wait_for("cancel requested");
    let (code, json, stderr) = finish(run);
    let took = asked.elapsed();
    assert!(code == 0 || code == 1, "exit {code}: {stderr}");
    assert_eq!(json["status"], "canceled", "{json}");
    let note = json["note"].as_str().unwrap_or_default();
    assert!(note.contains("processed"), "{note}");
    assert!(
        note.contains(&format!(
            "requested by {} (console, pid ",
            me.user_at_host()
        )),
        "{note}"
    );
    for term in [&console, &second] {
        let screen = term.wait_for("Last run #2");
        assert!(screen.contains("⊘ canceled"), "{screen}");
    }
    println!(
        "cancel from another console: the headless run ended {} ms after the confirmation \
         (in-flight requests finish first)",
        took.as_millis()
    );

    for term in [&console, &second] {
        term.keys(&["q"]);
        assert_eq!(term.exit_code(), 0);
        term.assert_restored();
    }
    drop(setup.server);
}

#[test]
fn a_console_shows_a_run_whose_process_was_killed_as_interrupted() {
    let setup = Setup::start();
    let console = setup.console(100, 30);
    console.wait_for("No runs yet");
    let mut run = setup.spawn_run(&["cmdb"]);
    console.wait_for("▶ Run #1");
    gauge_beyond(&console, 0);
    run.kill().unwrap(); // SIGKILL: the run commits nothing more, not even its end
    run.wait().unwrap();
    // The console notices its process is gone and settles the run, as the next open would.
    let screen = console.wait_for("Last run #1");
    assert!(screen.contains("↯ interrupted"), "{screen}");
    // Its connection is free: a Live run of it runs.
    let (code, json, stderr) = finish(setup.spawn_run(&["cmdb"]));
    assert!(code == 0 || code == 1, "exit {code}: {stderr}");
    assert_eq!(json["status"], "completed");
    console.keys(&["q"]);
    assert_eq!(console.exit_code(), 0);
}
