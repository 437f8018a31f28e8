//! Bad input the other suites do not cover end to end (see tests/README.md, "Bad input"): each
//! fault is met by the real binary against a store that already holds a clean run, and each test
//! checks both the clear message and that nothing recorded before is lost or changed.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use syncdeck::store::{Store, StoreOptions};
use tokio::net::TcpListener;

mod common;

use common::cli::Output;

/// Longest a child may take; a hung one is killed and the test fails.
const CHILD_LIMIT: Duration = Duration::from_secs(120);
const SERIALS: [&str; 6] = ["B-1", "B-2", "B-3", "B-4", "B-5", "B-6"];

/// What the source answers.
#[derive(Clone, Copy, Debug, PartialEq)]
enum SourceMode {
    Json,
    /// A sign-in page, as a proxy in front of an expired session answers.
    Html,
    /// JSON, but the list is not at `data.items`.
    OtherEnvelope,
    /// Bytes that are not UTF-8, labelled as JSON.
    NotUtf8,
}

/// What the destination answers to a write.
#[derive(Clone, Copy, Debug, PartialEq)]
enum DestinationMode {
    Accepting,
    /// 400 with an XML error body cut off in the middle of an element.
    BrokenXml,
}

struct Behaviour {
    source: SourceMode,
    destination: DestinationMode,
    /// Bumped to change every record's memory, so the next run has something to write.
    generation: u64,
    writes: Vec<String>,
}

type Shared = Arc<Mutex<Behaviour>>;

fn device(serial: &str, generation: u64) -> Value {
    let n: u64 = serial[2..].parse().unwrap();
    json!({
        "serial": serial,
        "hostname": format!("HOST-{n}"),
        "ram": format!("{}", 8 * n + generation),
        "status": if n.is_multiple_of(2) { "in_use" } else { "retired" },
        "bought": format!("2024-0{n}-1{n}"),
    })
}

async fn fleet(State(shared): State<Shared>) -> Response {
    let (mode, generation) = {
        let b = shared.lock().unwrap();
        (b.source, b.generation)
    };
    let items: Vec<Value> = SERIALS.iter().map(|s| device(s, generation)).collect();
    match mode {
        SourceMode::Json => axum::Json(json!({"data": {"items": items}})).into_response(),
        SourceMode::Html => (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            "<!doctype html><html><body><h1>Sign in</h1>Your session expired.</body></html>",
        )
            .into_response(),
        SourceMode::OtherEnvelope => {
            axum::Json(json!({"result": items, "meta": {"count": 6}})).into_response()
        }
        SourceMode::NotUtf8 => (
            [(header::CONTENT_TYPE, "application/json")],
            vec![b'{', 0xff, 0xfe, b'"', 0xc3, 0x28, b'"', b'}'],
        )
            .into_response(),
    }
}

async fn find(Query(query): Query<std::collections::HashMap<String, String>>) -> Response {
    let serial = query.get("serial").cloned().unwrap_or_default();
    let found: Vec<Value> = SERIALS
        .iter()
        .filter(|s| **s == serial)
        .map(|s| json!({"serial": s, "id": format!("R-{}", &s[2..]), "name": "old"}))
        .collect();
    axum::Json(json!({ "result": found })).into_response()
}

async fn write(
    State(shared): State<Shared>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> Response {
    let mut b = shared.lock().unwrap();
    match b.destination {
        DestinationMode::Accepting => {
            b.writes
                .push(format!("{id} {}", String::from_utf8_lossy(&body)));
            StatusCode::OK.into_response()
        }
        DestinationMode::BrokenXml => (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "application/xml")],
            "<?xml version=\"1.0\"?><error><code>INVALID_CONTENT</co",
        )
            .into_response(),
    }
}

struct Setup {
    shared: Shared,
    dir: tempfile::TempDir,
    config: PathBuf,
    store: PathBuf,
}

fn config_text(base_url: &str, date_pattern: &str) -> String {
    format!(
        r#"
[source]
name = "Fleet (bad input test)"
base_url = "{base_url}"
endpoint = "/fleet"
results_position = "data.items"
id_field = "serial"
[source.pagination]
style = "none"

[[connections]]
name = "registry"
system = "XML registry (test)"
base_url = "{base_url}"
max_retries = 0
[connections.fetch]
path = "/registry/devices"
query = {{ serial = "{{serial}}" }}
results_position = "result"
serial_field = "serial"
id_field = "id"
bulk = false
[connections.update]
method = "PUT"
path = "/registry/devices/{{id}}"
formatter = "xml"
xml_root = "device"

[[connections.mapping]]
source = "hostname"
target = "name"
format = "lower"

[[connections.mapping]]
source = "bought"
target = "purchased"
format = "date:{date_pattern}"

[[connections.mapping]]
source = "ram"
target = "ram_gb"
format = "integer"

[[connections.mapping]]
source = "status"
target = "state"
format = "map"
values = {{ in_use = "In Use", retired = "Retired" }}
required = true
"#
    )
}

async fn setup() -> Setup {
    let shared: Shared = Arc::new(Mutex::new(Behaviour {
        source: SourceMode::Json,
        destination: DestinationMode::Accepting,
        generation: 0,
        writes: Vec::new(),
    }));
    let app = Router::new()
        .route("/fleet", get(fleet))
        .route("/registry/devices", get(find))
        .route("/registry/devices/{id}", axum::routing::put(write))
        .with_state(shared.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, config_text(&format!("http://{addr}"), "%d/%m/%Y")).unwrap();
    let store = dir.path().join("store.redb");
    Setup {
        shared,
        dir,
        config,
        store,
    }
}

/// `syncdeck --config C --store S ARGS` with a private environment.
async fn syncdeck(setup: &Setup, config: &Path, args: &[&str]) -> Output {
    let mut command = common::cli::command(setup.dir.path());
    command
        .arg("--config")
        .arg(config)
        .arg("--store")
        .arg(&setup.store)
        .args(args);
    common::cli::output(command, CHILD_LIMIT).await
}

async fn live_run(setup: &Setup) -> Output {
    let args = ["run", "--full", "--live", "--force", "--json"];
    syncdeck(setup, &setup.config, &args).await
}

/// Everything recorded so far: the report entries (by sync id) and the contracts.
#[derive(Debug, PartialEq)]
struct Recorded {
    entries: Vec<Value>,
    contracts: Vec<Value>,
}

async fn recorded(setup: &Setup) -> Recorded {
    let report = syncdeck(setup, &setup.config, &["report", "--format", "json"]).await;
    assert_eq!(report.code, Some(0), "{report:?}");
    let mut entries = report.json().as_array().cloned().unwrap_or_default();
    entries.sort_by_key(|e| e["sync_id"].as_u64());
    let contracts = syncdeck(setup, &setup.config, &["contracts", "--json"]).await;
    assert_eq!(contracts.code, Some(0), "{contracts:?}");
    let contracts = contracts.json().as_array().cloned().unwrap_or_default();
    Recorded { entries, contracts }
}

/// A clean Full Live run: six records written, six contracts.
async fn record_a_clean_run(setup: &Setup) -> Recorded {
    let out = live_run(setup).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.json()["connections"][0]["counters"]["updated"], 6);
    let before = recorded(setup).await;
    assert_eq!(before.entries.len(), 6, "{before:?}");
    assert_eq!(before.contracts.len(), 6, "{before:?}");
    assert_eq!(setup.shared.lock().unwrap().writes.len(), 6);
    before
}

/// Every entry and contract of `before` is in `after`, unchanged.
fn assert_kept(before: &Recorded, after: &Recorded) {
    for entry in &before.entries {
        assert!(
            after.entries.contains(entry),
            "lost or changed: {entry}\nnow: {:#?}",
            after.entries
        );
    }
    assert_eq!(before.contracts, after.contracts, "contracts changed");
}

async fn bounded<T>(body: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(300), body)
        .await
        .expect("the test took over 5 minutes")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_answering_html_a_wrong_envelope_or_non_utf8_fails_clearly_and_loses_nothing() {
    bounded(async {
        let setup = setup().await;
        let before = record_a_clean_run(&setup).await;
        let faults = [
            (SourceMode::Html, &["not JSON", "text/html", "Sign in"][..]),
            (
                SourceMode::OtherEnvelope,
                &[
                    r#"results_position "data.items" matched nothing"#,
                    "meta, result",
                ][..],
            ),
            (SourceMode::NotUtf8, &["not JSON"][..]),
        ];
        for (mode, words) in faults {
            {
                let mut b = setup.shared.lock().unwrap();
                b.source = mode;
                b.generation += 1;
            }
            let out = live_run(&setup).await;
            assert_eq!(out.code, Some(1), "{mode:?}: {out:?}");
            let connection = &out.json()["connections"][0];
            assert_eq!(connection["status"], "failed", "{mode:?}: {out:?}");
            let message = connection["error"]["message"].as_str().unwrap_or_default();
            for word in words {
                assert!(
                    message.contains(word),
                    "{mode:?}: {word:?} not in {message:?}"
                );
            }
            assert_eq!(
                setup.shared.lock().unwrap().writes.len(),
                6,
                "{mode:?} wrote"
            );
            assert_kept(&before, &recorded(&setup).await);
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_answering_broken_xml_fails_each_record_and_loses_nothing() {
    bounded(async {
        let setup = setup().await;
        let before = record_a_clean_run(&setup).await;
        {
            let mut b = setup.shared.lock().unwrap();
            b.destination = DestinationMode::BrokenXml;
            b.generation += 1;
        }
        let out = live_run(&setup).await;
        assert_eq!(out.code, Some(1), "{out:?}");
        let connection = &out.json()["connections"][0];
        assert_eq!(connection["status"], "completed", "{out:?}");
        assert_eq!(connection["counters"]["failed"], 6, "{out:?}");

        let after = recorded(&setup).await;
        assert_kept(&before, &after);
        let failed: Vec<&Value> = after
            .entries
            .iter()
            .filter(|e| !before.entries.contains(e))
            .collect();
        assert_eq!(failed.len(), 6, "{failed:#?}");
        let failed_ids: Vec<u64> = failed
            .iter()
            .filter_map(|e| e["sync_id"].as_u64())
            .collect();
        for entry in failed {
            assert_eq!(entry["status"], "failed", "{entry}");
            let error = &entry["error"];
            assert_eq!(error["http_status"], 400, "{entry}");
            // Nothing complete could be read from the broken body: no code is made up.
            assert_eq!(error["code"], Value::Null, "{entry}");
            assert!(
                error["message"].as_str().is_some_and(|m| m.contains("400")),
                "{entry}"
            );
            assert!(error["hint"].is_string(), "{entry}");
        }
        // The entry details keep the broken body as it came, for triage.
        let store = Store::open(&setup.store, StoreOptions::default()).unwrap();
        let id = failed_ids[0];
        let entry = store.get_entry(id).unwrap().expect("the failed entry");
        let excerpt = entry
            .error
            .and_then(|e| e.response_excerpt)
            .unwrap_or_default();
        assert!(excerpt.contains("<code>INVALID_CONTENT</co"), "{excerpt:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_strftime_or_a_non_utf8_config_is_refused_before_the_store_is_touched() {
    bounded(async {
        let setup = setup().await;
        let before = record_a_clean_run(&setup).await;
        let good = std::fs::read_to_string(&setup.config).unwrap();

        let bad_date = setup.dir.path().join("bad-date.toml");
        let text = good.replace("date:%d/%m/%Y", "date:%d/%Q/%Y");
        std::fs::write(&bad_date, &text).unwrap();
        let line = text.lines().position(|l| l.contains("%Q")).unwrap() + 1;

        let not_utf8 = setup.dir.path().join("not-utf8.toml");
        let mut bytes = good.replace("XML registry (test)", "XML registry \u{1}").into_bytes();
        let at = bytes.iter().position(|&b| b == 1).unwrap();
        bytes[at] = 0xff;
        std::fs::write(&not_utf8, &bytes).unwrap();
        let utf8_line = good[..at].matches('\n').count() + 1;
        let utf8_column = good[..at].rsplit('\n').next().unwrap().chars().count() + 1;

        let cases = [
            (
                &bad_date,
                format!(
                    "{}:{line}:10: connections[0].mapping[1].format: \"%d/%Q/%Y\" is not a valid strftime pattern",
                    bad_date.display()
                ),
            ),
            (
                &not_utf8,
                format!(
                    "{}:{utf8_line}:{utf8_column}: (file): the file is not UTF-8 text (byte 0xFF here)",
                    not_utf8.display()
                ),
            ),
        ];
        for (config, expected) in cases {
            for args in [&["run", "--full", "--live", "--force"][..], &["check-config"][..]] {
                let mut args = args.to_vec();
                let path = config.display().to_string();
                if args == ["check-config"] {
                    args.push(&path);
                }
                let out = syncdeck(&setup, config, &args).await;
                assert_eq!(out.code, Some(2), "{args:?}: {out:?}");
                assert!(out.stderr.contains(&expected), "{args:?}: want {expected}\n{out:?}");
            }
        }
        assert_eq!(setup.shared.lock().unwrap().writes.len(), 6);
        assert_kept(&before, &recorded(&setup).await);
    })
    .await;
}
