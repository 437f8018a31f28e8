//! A store on a read-only file system (an archived copy): `report`, `contracts` and the console
//! read it; the commands that write say why they cannot (exit 3) and change nothing; a store of
//! an older layout there says it must be opened once with write access.
//!
//! The read-only file system is real: a tmpfs remounted read-only in a mount namespace of the
//! test's own (`unshare -rm`, which needs no root), holding a copy of a store written by real
//! runs.

#![cfg(target_os = "linux")]

use std::path::{Path, PathBuf};
use std::process::Command;

use syncdeck::demo;

mod common;

use common::Terminal;
use common::cli;

struct Setup {
    _runtime: tokio::runtime::Runtime,
    _server: demo::DemoServer,
    dir: tempfile::TempDir,
}

impl Setup {
    /// The demo systems, a config and a store with a Full Dry run and a Single Live run (so it
    /// holds entries and a contract), closed again.
    fn start() -> Setup {
        let (runtime, server) = common::demo::start_blocking(300, 61);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.toml"),
            demo::config_for(server.addr()),
        )
        .unwrap();
        std::fs::create_dir(dir.path().join("ro")).unwrap();
        std::fs::create_dir(dir.path().join("out")).unwrap();
        let setup = Setup {
            _runtime: runtime,
            _server: server,
            dir,
        };
        for args in [
            &["run", "--full", "--dry-run", "--connection", "cmdb"][..],
            &[
                "run",
                "--single",
                "SD-000001",
                "--live",
                "--connection",
                "cmdb",
            ][..],
        ] {
            let out = setup
                .syncdeck(&setup.path("s.redb"))
                .args(args)
                .output()
                .unwrap();
            assert!(out.status.code().is_some_and(|c| c <= 1), "{out:?}");
        }
        setup
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn syncdeck(&self, store: &Path) -> Command {
        let mut command = cli::demo_command(self.dir.path());
        command
            .arg("--config")
            .arg(self.path("config.toml"))
            .arg("--store")
            .arg(store);
        command
    }

    /// The shell lines that put copies of the store (and of the version-1 fixture) on a
    /// read-only tmpfs at `ro/`; run inside `unshare -rm`.
    fn mount_read_only(&self) -> String {
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-v1.redb");
        let ro = self.path("ro");
        format!(
            "mount -t tmpfs tmpfs {ro} && cp {store} {ro}/s.redb && cp {fixture} {ro}/v1.redb \
             && mount -o remount,ro {ro}",
            ro = ro.display(),
            store = self.path("s.redb").display(),
            fixture = fixture.display(),
        )
    }
}

/// What one command printed and its exit code, as the script left them in `out/`.
struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

fn ran(setup: &Setup, name: &str) -> Ran {
    let read = |ext: &str| {
        std::fs::read_to_string(setup.path("out").join(format!("{name}.{ext}")))
            .unwrap_or_else(|e| panic!("{name}.{ext}: {e}"))
    };
    Ran {
        code: read("code").trim().parse().unwrap(),
        stdout: read("out"),
        stderr: read("err"),
    }
}

impl std::fmt::Debug for Ran {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

#[test]
fn commands_read_a_store_on_a_read_only_file_system_and_writing_ones_say_why_they_cannot() {
    let setup = Setup::start();
    let ro = setup.path("ro");
    let bin = env!("CARGO_BIN_EXE_syncdeck");
    let base = format!(
        "{bin} --config {} --store {}/s.redb",
        setup.path("config.toml").display(),
        ro.display()
    );
    let commands: [(&str, String); 8] = [
        ("report", format!("{base} report --format json")),
        ("contracts", format!("{base} contracts --json")),
        (
            "run",
            format!("{base} run --full --dry-run --connection cmdb"),
        ),
        (
            "delete",
            format!("{base} contracts --connection cmdb --delete SD-000001"),
        ),
        ("cancel", format!("{base} cancel 1")),
        ("resync", format!("{base} resync --failed --yes")),
        (
            "old",
            format!(
                "{bin} --config {} --store {}/v1.redb report",
                setup.path("config.toml").display(),
                ro.display()
            ),
        ),
        ("listing", format!("ls -A {}", ro.display())),
    ];
    let out = setup.path("out");
    let mut script = setup.mount_read_only();
    for (name, command) in &commands {
        let o = out.join(name);
        script.push_str(&format!(
            "; {command} > {o}.out 2> {o}.err; echo $? > {o}.code",
            o = o.display()
        ));
    }
    let status = Command::new("unshare")
        .args(["-rm", "sh", "-c", &script])
        .envs(demo::demo_secrets().iter().copied())
        .env("XDG_STATE_HOME", setup.path("state"))
        .env("XDG_DATA_HOME", setup.path("data"))
        .env("XDG_CONFIG_HOME", setup.path("config"))
        .status()
        .expect("unshare (util-linux) runs");
    assert!(status.success(), "the script ran: {status}");

    // Reading works.
    let report = ran(&setup, "report");
    assert_eq!(report.code, 0, "{report:?}");
    let entries: serde_json::Value = serde_json::from_str(&report.stdout).unwrap();
    assert!(
        entries.as_array().is_some_and(|e| e.len() > 300),
        "{report:?}"
    );
    let contracts = ran(&setup, "contracts");
    assert_eq!(contracts.code, 0, "{contracts:?}");
    assert!(contracts.stdout.contains("SD-000001"), "{contracts:?}");

    // Writing is refused before anything starts, saying why.
    for name in ["run", "delete", "cancel", "resync"] {
        let out = ran(&setup, name);
        assert_eq!(out.code, 3, "{name}: {out:?}");
        assert!(
            out.stderr
                .contains("is read-only (a read-only file system)"),
            "{name}: {out:?}"
        );
        assert!(
            out.stderr.contains("needs to write the store"),
            "{name}: {out:?}"
        );
    }
    // A store of the old layout cannot be migrated there: it says what to do.
    let old = ran(&setup, "old");
    assert_eq!(old.code, 3, "{old:?}");
    assert!(old.stderr.contains("opened with write access"), "{old:?}");
    // Nothing was created beside the stores (no copy, no lock file).
    let listing = ran(&setup, "listing");
    let mut names: Vec<&str> = listing.stdout.lines().collect();
    names.sort_unstable();
    assert_eq!(names, ["s.redb", "v1.redb"], "{listing:?}");
}

#[test]
fn a_console_on_a_read_only_store_says_so_and_refuses_what_writes() {
    let setup = Setup::start();
    let launcher = format!(
        "unshare -rm sh -c \"{} && exec {{bin}} --config {} --store {}/s.redb\"",
        setup.mount_read_only(),
        setup.path("config.toml").display(),
        setup.path("ro").display()
    );
    let term = Terminal::start_launched(100, 30, demo::demo_secrets(), &launcher);
    let screen = term.wait_for("READ-ONLY");
    assert!(screen.contains("a read-only file system"), "{screen}");
    // The history is there.
    assert!(screen.contains("#2"), "{screen}");
    // A new run, a resync, a cancel: refused, saying why.
    term.keys(&["n"]);
    let screen = term.wait_for("cannot start runs");
    assert!(!screen.contains("New run"), "no dialog opened:\n{screen}");
    // The report reads.
    term.keys(&["3"]);
    let screen = term.wait_for("SD-000001");
    assert!(screen.contains("Sync report"), "{screen}");
    term.keys(&["4"]);
    term.keys(&["d"]);
    term.wait_for("cannot delete contracts");
    term.keys(&["q"]);
    assert_eq!(term.exit_code(), 0);
    term.assert_restored();
}
