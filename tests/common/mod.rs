//! Shared by the integration tests: the real binary driven in a private tmux server
//! ([`Terminal`]), and the set-up the suites repeat: the demo systems ([`demo`]), the binary as
//! a child process ([`cli`]), screens on ratatui's TestBackend ([`screen`]), and runs and report
//! entries written to a store ([`history`]).

// Each test binary uses part of the harness.
#![allow(dead_code)]

pub mod cli;
pub mod demo;
pub mod history;
pub mod screen;
pub mod systems;

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A private tmux server running one syncdeck inside a small shell script that records the
/// terminal settings before and after, the exit code and syncdeck's pid.
pub struct Terminal {
    socket: String,
    dir: tempfile::TempDir,
}

impl Terminal {
    /// Starts `syncdeck ARGS`; `{dir}` in ARGS is the test's own temp dir.
    pub fn start(width: u16, height: u16, args: &str) -> Terminal {
        Terminal::launch(width, height, args, false, &[])
    }

    /// Like [`Terminal::start`], with these environment variables set for syncdeck.
    pub fn start_with_env(width: u16, height: u16, env: &[(&str, &str)], args: &str) -> Terminal {
        Terminal::launch(width, height, args, false, env)
    }

    /// Like [`Terminal::start_with_env`], with syncdeck started by `launcher`: a shell command
    /// line (without single quotes) that ends by running syncdeck in the same process (`exec`),
    /// `{bin}` standing for the binary and `{dir}` for the test's dir — e.g. in a namespace of
    /// its own (`unshare -rm sh -c "mount ...; exec {bin} ARGS"`).
    pub fn start_launched(
        width: u16,
        height: u16,
        env: &[(&str, &str)],
        launcher: &str,
    ) -> Terminal {
        Terminal::launch_command(width, height, launcher, false, env)
    }

    /// Like [`Terminal::start`], with every byte syncdeck writes to the terminal kept in the
    /// file `pane.out` (read it with [`Terminal::output`]): syncdeck starts only once tmux
    /// records the pane, so not even its first byte is missed.
    pub fn start_recorded(width: u16, height: u16, args: &str) -> Terminal {
        let term = Terminal::launch(width, height, args, true, &[]);
        let out = term.file("pane.out");
        term.tmux(&[
            "pipe-pane",
            "-o",
            "-t",
            "e2e",
            &format!("cat >> '{}'", out.display()),
        ]);
        // The pipe is open once its file exists; then let the script go on.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !out.exists() {
            assert!(Instant::now() < deadline, "tmux pipe-pane did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
        std::fs::write(term.file("go"), "").unwrap();
        term
    }

    /// What syncdeck wrote to the terminal (only with [`Terminal::start_recorded`]).
    pub fn output(&self) -> Vec<u8> {
        std::fs::read(self.file("pane.out")).unwrap_or_default()
    }

    /// Starts the script; with `gated`, it waits for the file `go` before starting syncdeck.
    fn launch(width: u16, height: u16, args: &str, gated: bool, env: &[(&str, &str)]) -> Terminal {
        Terminal::launch_command(width, height, &format!("{{bin}} {args}"), gated, env)
    }

    /// Starts the script running `command` (`{bin}`: the binary, `{dir}`: the test's dir).
    fn launch_command(
        width: u16,
        height: u16,
        command: &str,
        gated: bool,
        env: &[(&str, &str)],
    ) -> Terminal {
        let dir = tempfile::tempdir().unwrap();
        let bin = env!("CARGO_BIN_EXE_syncdeck");
        let command = command
            .replace("{dir}", &dir.path().display().to_string())
            .replace("{bin}", bin);
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let socket = format!(
            "syncdeck-e2e-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let d = dir.path().display();
        let gate = if gated {
            format!("while [ ! -e {d}/go ]; do sleep 0.01; done; ")
        } else {
            String::new()
        };
        let exports: String = env
            .iter()
            .map(|(name, value)| format!("export {name}='{value}'; "))
            .collect();
        let script = format!(
            "{gate}export XDG_STATE_HOME={d}/state XDG_DATA_HOME={d}/data XDG_CONFIG_HOME={d}/config; \
             unset SYNCDECK_CONFIG SYNCDECK_STORE SYNCDECK_TRIGGER INVOCATION_ID NO_COLOR; {exports}\
             stty -g > {d}/stty.before; \
             sh -c 'echo $$ > {d}/pid; exec {command}'; \
             echo $? > {d}/exit; stty -g > {d}/stty.after; sleep 120"
        );
        let status = Command::new("tmux")
            .args([
                "-L",
                &socket,
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-s",
                "e2e",
            ])
            .args(["-x", &width.to_string(), "-y", &height.to_string()])
            .arg(script)
            .status()
            .expect("tmux is installed (.ci/run installs it)");
        assert!(status.success());
        Terminal { socket, dir }
    }

    pub fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Sends keys one at a time (tmux key names: Enter, Tab, BTab, Right, Escape, ...), with a
    /// pause so an Escape is never read together with the next key as Alt+key.
    pub fn keys(&self, keys: &[&str]) {
        for key in keys {
            self.tmux(&["send-keys", "-t", "e2e", key]);
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn type_text(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "e2e", "-l", text]);
        std::thread::sleep(Duration::from_millis(100));
    }

    pub fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "e2e"])
    }

    /// Waits until the screen shows `needle`; fails with the screen after `secs` seconds.
    pub fn wait_for_within(&self, needle: &str, secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let screen = self.screen();
            if screen.contains(needle) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {needle:?}; the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the screen shows `needle`; fails with the screen after 30 s.
    pub fn wait_for(&self, needle: &str) -> String {
        self.wait_for_within(needle, 30)
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Everything syncdeck logged (its log directory under the test's XDG state dir).
    pub fn log(&self) -> String {
        let dir = self.file("state").join("syncdeck").join("logs");
        let mut text = String::new();
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            text.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
        }
        text
    }

    /// Waits for the script to record syncdeck's exit code.
    pub fn exit_code(&self) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(text) = std::fs::read_to_string(self.file("exit"))
                && let Ok(code) = text.trim().parse()
                && self.file("stty.after").exists()
            {
                std::thread::sleep(Duration::from_millis(100));
                return code;
            }
            assert!(
                Instant::now() < deadline,
                "syncdeck did not exit; the screen:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn pid(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(pid) = std::fs::read_to_string(self.file("pid")) {
                return pid.trim().to_string();
            }
            assert!(Instant::now() < deadline, "no pid file");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The terminal is as it was: settings unchanged, main screen, cursor shown.
    pub fn assert_restored(&self) {
        let before = std::fs::read_to_string(self.file("stty.before")).unwrap();
        let after = std::fs::read_to_string(self.file("stty.after")).unwrap();
        assert_eq!(before, after, "stty -g changed");
        let flags = self.tmux(&[
            "display-message",
            "-p",
            "-t",
            "e2e",
            "#{alternate_on} #{cursor_flag}",
        ]);
        assert_eq!(flags.trim(), "0 1", "alternate screen off, cursor shown");
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}
