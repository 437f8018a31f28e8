//! The binary itself: `syncdeck demo-server --port 0` serves the demo over real HTTP and stops on
//! SIGTERM; usage errors exit 2; logs go to a file, never to the terminal.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Running {
    child: Child,
    _stdout: BufReader<std::process::ChildStdout>,
    base: String,
    _state: tempfile::TempDir,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn syncdeck() -> (Command, tempfile::TempDir) {
    let state = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_syncdeck"));
    command
        .env("XDG_STATE_HOME", state.path())
        .env("XDG_DATA_HOME", state.path())
        .env("XDG_CONFIG_HOME", state.path())
        .env_remove("SYNCDECK_CONFIG")
        .env_remove("SYNCDECK_STORE");
    (command, state)
}

fn start_demo_server() -> Running {
    let (mut command, state) = syncdeck();
    let mut child = command
        .args(["demo-server", "--port", "0", "--fleet-size", "300"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn syncdeck demo-server");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let base = first
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .to_string();
    assert!(!base.ends_with(":0"), "the real port is printed: {first}");
    Running {
        child,
        _stdout: stdout,
        base,
        _state: state,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_server_binary_serves_the_fleet_and_destinations() {
    let server = start_demo_server();
    let client = reqwest::Client::new();

    let page: serde_json::Value = client
        .get(format!(
            "{}/fleet/api/devices?page=1&per_page=50",
            server.base
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["data"]["items"].as_array().unwrap().len(), 50);
    assert_eq!(page["data"]["total"], 300);

    // The misconfigured demo connection's method: PUT on a CMDB asset is 405.
    let serial = page["data"]["items"][0]["serial"]
        .as_str()
        .unwrap()
        .to_string();
    let found: serde_json::Value = client
        .get(format!("{}/cmdb/api/assets", server.base))
        .query(&[("serial_number", serial.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let result = found["result"].as_array().unwrap();
    let sys_id = match result.first() {
        Some(asset) => asset["sys_id"].as_str().unwrap().to_string(),
        None => "missing".to_string(),
    };
    let response = client
        .put(format!("{}/cmdb/api/assets/{sys_id}", server.base))
        .json(&serde_json::json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);
}

#[cfg(unix)]
#[test]
fn demo_server_stops_cleanly_on_sigterm() {
    let mut server = start_demo_server();
    let pid = server.child.id().to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            assert_eq!(status.code(), Some(0), "graceful stop exits 0");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "demo-server ignored SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn usage_errors_exit_2() {
    let (mut command, _state) = syncdeck();
    let out = command.arg("no-such-command").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let (mut command, _state) = syncdeck();
    let out = command
        .args(["demo-server", "--port", "not-a-port"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn logs_go_to_a_file_under_the_state_dir_not_the_terminal() {
    let (mut command, state) = syncdeck();
    let out = command
        .args(["check-config", "/nonexistent.toml"])
        .env("SYNCDECK_LOG", "debug")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Only the one-line diagnosis reaches the terminal; the log record goes to the file.
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let logs = state.path().join("syncdeck").join("logs");
    let files: Vec<_> = std::fs::read_dir(&logs)
        .unwrap_or_else(|e| panic!("no log dir {}: {e}", logs.display()))
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let text = std::fs::read_to_string(&files[0]).unwrap();
    assert!(text.contains("command failed"), "{text}");
}
