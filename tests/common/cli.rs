//! The real binary as a child process with a private environment, and what it printed.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use syncdeck::demo::{self, DemoServer};

/// Longest a child may take by default; a hung one is killed and the test fails.
pub const CHILD_LIMIT: Duration = Duration::from_secs(120);

/// The binary with a private environment: XDG dirs under `home`, no SYNCDECK_CONFIG /
/// SYNCDECK_STORE / SYNCDECK_TRIGGER from the caller's shell, no systemd INVOCATION_ID, stdin
/// not a terminal. No secrets are set.
pub fn command(home: &Path) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_syncdeck"));
    command
        .env("XDG_STATE_HOME", home.join("state"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env_remove("SYNCDECK_CONFIG")
        .env_remove("SYNCDECK_STORE")
        // A test run is headless whoever runs the tests (a CI job may be a systemd service).
        .env_remove("SYNCDECK_TRIGGER")
        .env_remove("INVOCATION_ID")
        .stdin(Stdio::null());
    command
}

/// Like [`command`], with the demo secrets set.
pub fn demo_command(home: &Path) -> std::process::Command {
    let mut command = command(home);
    command.envs(demo::demo_secrets().iter().copied());
    command
}

/// A finished syncdeck: its exit code (None when a signal ended it), stdout and stderr.
pub struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl Output {
    /// Stdout read as one JSON value; fails the test with the whole output otherwise.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON value ({e}): {self:?}"))
    }
}

impl From<std::process::Output> for Output {
    fn from(out: std::process::Output) -> Output {
        Output {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// Runs `command` to its end as a child killed on drop; fails the test after `limit`.
pub async fn output(command: std::process::Command, limit: Duration) -> Output {
    let mut command = tokio::process::Command::from(command);
    command.kill_on_drop(true);
    tokio::time::timeout(limit, command.output())
        .await
        .unwrap_or_else(|_| panic!("syncdeck did not finish within {limit:?}"))
        .expect("spawn syncdeck")
        .into()
}

/// The demo systems served from this test process, the demo config written to a file and a
/// store path, all in one temp dir (also the child's XDG home).
pub struct DemoFiles {
    pub server: DemoServer,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub store: PathBuf,
}

impl DemoFiles {
    /// The demo systems (`fleet_size` devices made from `seed`) and their own config file.
    pub async fn start(fleet_size: usize, seed: u64) -> DemoFiles {
        DemoFiles::start_with(fleet_size, seed, |server| demo::config_for(server.addr())).await
    }

    /// Like [`DemoFiles::start`], with the config file's text made by `config_text`.
    pub async fn start_with(
        fleet_size: usize,
        seed: u64,
        config_text: impl FnOnce(&DemoServer) -> String,
    ) -> DemoFiles {
        let server = super::demo::start(fleet_size, seed).await;
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.toml");
        std::fs::write(&config, config_text(&server)).unwrap();
        let store = dir.path().join("s.redb");
        DemoFiles {
            server,
            dir,
            config,
            store,
        }
    }

    /// `syncdeck --config C --store S` with a private environment and the demo secrets; add
    /// the arguments.
    pub fn command(&self) -> std::process::Command {
        let mut command = demo_command(self.dir.path());
        command
            .arg("--config")
            .arg(&self.config)
            .arg("--store")
            .arg(&self.store);
        command
    }

    /// `syncdeck --config C --store S ARGS` run to its end (within [`CHILD_LIMIT`]).
    pub async fn syncdeck(&self, args: &[&str]) -> Output {
        let mut command = self.command();
        command.args(args);
        output(command, CHILD_LIMIT).await
    }
}
