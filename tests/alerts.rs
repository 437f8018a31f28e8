//! `[[alerts]]` (SPEC section 10), with the real binary running a Full Live run on the demo
//! systems and a webhook receiver on 127.0.0.1 standing in for a Slack incoming webhook.
//!
//! The receiver follows Slack's documentation of incoming webhooks: a message is a JSON POST
//! with a `text` field, answered `200` with the body `ok`
//! (<https://api.slack.com/messaging/webhooks>); a failure is an HTTP status with a short reason
//! in the body — `400 invalid_payload`, `403 action_prohibited`, `404 channel_not_found`,
//! `410 channel_is_archived`, `500 rollup_error`
//! (<https://api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks>).
//!
//! - a run whose records failed posts one alert per webhook that asked for `records_failed`:
//!   the JSON body carries the run's id, status, counters, first failures with their hints and
//!   the command that lists the run's failures; the Slack body is a `text` in mrkdwn;
//! - a webhook that is down (500 every time) is asked three times, the failure is said on
//!   stderr, and the run ends and exits exactly as it would without alerts;
//! - the webhook URL, a secret, appears in nothing syncdeck writes: stdout, stderr, the log
//!   file, the store.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::Value;
use tokio::net::TcpListener;

mod common;

use common::cli::{CHILD_LIMIT, DemoFiles, Output, output};

/// The secret part of a Slack webhook URL (`/services/T…/B…/TOKEN`).
const WEBHOOK_TOKEN: &str = "XOXWEBHOOKSECRET0042";

/// What the receiver was posted, by hook name.
#[derive(Default)]
struct Received {
    posts: Vec<(String, Vec<u8>)>,
}

type Shared = Arc<Mutex<Received>>;

/// `POST /services/T0/{hook}/TOKEN`: `ok` for hook `B-ok`, `500 rollup_error` for `B-down`,
/// `404 channel_not_found` otherwise.
async fn receive(
    State(received): State<Shared>,
    Path((hook, token)): Path<(String, String)>,
    body: Bytes,
) -> (StatusCode, &'static str) {
    received
        .lock()
        .unwrap()
        .posts
        .push((hook.clone(), body.to_vec()));
    if token != WEBHOOK_TOKEN {
        return (StatusCode::FORBIDDEN, "invalid_token");
    }
    match hook.as_str() {
        "B-ok" => (StatusCode::OK, "ok"),
        "B-down" => (StatusCode::INTERNAL_SERVER_ERROR, "rollup_error"),
        _ => (StatusCode::NOT_FOUND, "channel_not_found"),
    }
}

async fn receiver() -> (SocketAddr, Shared) {
    let received: Shared = Arc::default();
    let app = Router::new()
        .route("/services/T0/{hook}/{token}", post(receive))
        .with_state(received.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, received)
}

/// The demo config with these `[[alerts]]` tables appended.
async fn demo_with_alerts(alerts: &str) -> DemoFiles {
    let alerts = alerts.to_string();
    DemoFiles::start_with(400, 61, move |server| {
        format!("{}\n{alerts}", syncdeck::demo::config_for(server.addr()))
    })
    .await
}

/// `syncdeck run --full --live --json` with the webhook URLs in the environment.
async fn run_live(setup: &DemoFiles, hooks: &[(&str, String)]) -> Output {
    let mut command = setup.command();
    command.args(["run", "--full", "--live", "--force", "--json"]);
    for (name, url) in hooks {
        command.env(name, url);
    }
    output(command, CHILD_LIMIT).await
}

fn hook_url(addr: SocketAddr, hook: &str) -> String {
    format!("http://{addr}/services/T0/{hook}/{WEBHOOK_TOKEN}")
}

fn every_file_under(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            every_file_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_with_failed_records_posts_its_summary_failures_and_triage_command() {
    let (addr, received) = receiver().await;
    let setup = demo_with_alerts(
        r#"
[[alerts]]
name = "on-call json"
url = "env:SYNCDECK_TEST_HOOK_JSON"
on = ["records_failed", "failed"]
format = "json"

[[alerts]]
name = "slack"
url = "env:SYNCDECK_TEST_HOOK_SLACK"
format = "slack"

[[alerts]]
name = "only when canceled"
url = "env:SYNCDECK_TEST_HOOK_CANCELED"
on = ["canceled"]
"#,
    )
    .await;
    let out = run_live(
        &setup,
        &[
            ("SYNCDECK_TEST_HOOK_JSON", hook_url(addr, "B-ok")),
            ("SYNCDECK_TEST_HOOK_SLACK", hook_url(addr, "B-ok")),
            ("SYNCDECK_TEST_HOOK_CANCELED", hook_url(addr, "B-canceled")),
        ],
    )
    .await;
    // The demo's misconfigured connections fail records: exit 1, as without alerts.
    assert_eq!(out.code, Some(1), "{out:?}");
    let run = out.json();
    let run_id = run["run_id"].as_u64().unwrap();

    let posts = std::mem::take(&mut received.lock().unwrap().posts);
    // Two alerts asked for this ending; the canceled-only one did not.
    assert_eq!(posts.len(), 2, "{posts:?}");
    assert!(posts.iter().all(|(hook, _)| hook == "B-ok"));
    let bodies: Vec<Value> = posts
        .iter()
        .map(|(_, body)| serde_json::from_slice(body).expect("JSON body"))
        .collect();
    let json = bodies
        .iter()
        .find(|b| b.get("event").is_some())
        .expect("the json alert");
    assert_eq!(json["event"], "run_ended");
    // The demo's 405 connection aborts: the run ends failed, with failed records besides.
    assert_eq!(run["status"], "failed", "{out:?}");
    assert_eq!(
        json["alert_on"],
        serde_json::json!(["failed", "records_failed"])
    );
    assert_eq!(json["run"]["run_id"].as_u64(), Some(run_id));
    assert_eq!(json["run"]["status"], run["status"]);
    assert_eq!(json["run"]["type"], "full");
    assert_eq!(json["run"]["mode"], "live");
    assert!(
        json["run"]["records_failed"].as_u64().unwrap() > 0,
        "{json}"
    );
    let connections = json["run"]["connections"].as_array().unwrap();
    assert_eq!(
        connections.len(),
        run["connections"].as_array().unwrap().len()
    );
    let failures = json["first_failures"].as_array().unwrap();
    assert!(!failures.is_empty() && failures.len() <= 5, "{json}");
    for failure in failures {
        assert!(failure["reference"].as_str().is_some_and(|s| !s.is_empty()));
        assert!(failure["connection"].as_str().is_some());
    }
    assert!(
        failures.iter().any(|f| f["hint"].as_str().is_some()),
        "failures with hints: {json}"
    );
    let triage = json["triage"].as_str().unwrap();
    assert!(triage.ends_with(&format!(" triage {run_id}")), "{triage}");
    assert!(
        triage.contains(&setup.store.display().to_string()),
        "{triage}"
    );
    assert!(
        json["summary"]
            .as_str()
            .unwrap()
            .starts_with(&format!("syncdeck run #{run_id} (full live, by "))
    );

    let slack = bodies
        .iter()
        .find(|b| b.get("text").is_some())
        .expect("the slack alert");
    let text = slack["text"].as_str().unwrap();
    assert!(text.contains(&format!("syncdeck run #{run_id}")), "{text}");
    assert!(text.contains("*First failures*"), "{text}");
    assert!(text.contains(&format!("triage {run_id}`")), "{text}");
    // Nothing from outside can open a link or mention: every < and > is escaped.
    assert!(!text.contains('<') && !text.contains('>'), "{text}");

    // The posts are logged, and the webhook URL is nowhere.
    let mut files = Vec::new();
    every_file_under(setup.dir.path(), &mut files);
    let log_mentions_alert = files.iter().any(|f| {
        f.to_string_lossy().contains("logs")
            && std::fs::read_to_string(f).is_ok_and(|t| t.contains("alert slack: run"))
    });
    assert!(log_mentions_alert, "{files:?}");
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        let found = bytes
            .windows(WEBHOOK_TOKEN.len())
            .any(|w| w == WEBHOOK_TOKEN.as_bytes());
        assert!(!found, "the webhook URL is in {}", file.display());
    }
    assert!(!out.stdout.contains(WEBHOOK_TOKEN) && !out.stderr.contains(WEBHOOK_TOKEN));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_webhook_is_retried_said_and_never_fails_the_run() {
    let (addr, received) = receiver().await;
    let setup = demo_with_alerts(
        r#"
[[alerts]]
name = "down"
url = "env:SYNCDECK_TEST_HOOK_DOWN"
format = "slack"

[[alerts]]
name = "archived"
url = "env:SYNCDECK_TEST_HOOK_GONE"
"#,
    )
    .await;
    let out = run_live(
        &setup,
        &[
            ("SYNCDECK_TEST_HOOK_DOWN", hook_url(addr, "B-down")),
            ("SYNCDECK_TEST_HOOK_GONE", hook_url(addr, "B-archived")),
        ],
    )
    .await;
    assert_eq!(out.code, Some(1), "{out:?}");
    let run = out.json();
    let status = run["status"].as_str().unwrap().to_string();
    let posts = std::mem::take(&mut received.lock().unwrap().posts);
    let down = posts.iter().filter(|(hook, _)| hook == "B-down").count();
    let archived = posts
        .iter()
        .filter(|(hook, _)| hook == "B-archived")
        .count();
    // A 500 is retried (three attempts in all); a 404 is not asked again.
    assert_eq!(down, 3, "{posts:?}");
    assert_eq!(archived, 1, "{posts:?}");
    assert!(
        out.stderr
            .contains("alert down: run 1 could not be posted (HTTP 500 rollup_error)"),
        "{out:?}"
    );
    assert!(
        out.stderr
            .contains("alert archived: run 1 could not be posted (HTTP 404 channel_not_found)"),
        "{out:?}"
    );
    assert!(!out.stderr.contains(WEBHOOK_TOKEN));
    // The store says the run ended as it did, whatever the webhooks answered.
    let store =
        syncdeck::store::Store::open(&setup.store, syncdeck::store::StoreOptions::default())
            .unwrap();
    let recorded = store.get_run(1).unwrap().unwrap();
    assert_eq!(recorded.status.as_str(), status);
}

#[tokio::test]
async fn a_bad_alert_table_names_its_line_and_key_without_the_secret() {
    let setup = demo_with_alerts(
        r#"
[[alerts]]
url = "env:SYNCDECK_TEST_HOOK_BAD"
on = ["failed", "exploded"]
format = "teams"
"#,
    )
    .await;
    let mut command = setup.command();
    command
        .args(["check-config"])
        .arg(&setup.config)
        .env("SYNCDECK_TEST_HOOK_BAD", "not a url at all");
    let out = output(command, CHILD_LIMIT).await;
    assert_eq!(out.code, Some(2), "{out:?}");
    let text = format!("{}{}", out.stdout, out.stderr);
    for needle in [
        "alerts[0].url",
        "not an http(s) URL",
        "alerts[0].on",
        "unknown run ending \"exploded\"",
        "alerts[0].format",
        "unknown alert format \"teams\"",
    ] {
        assert!(text.contains(needle), "{needle}: {text}");
    }
    assert!(!text.contains("not a url at all"), "{text}");
}
