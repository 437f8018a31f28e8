//! The engine against a source and a destination built here, so nothing is tuned to the demo:
//! a cursor-paged inventory under a `payload.things` envelope keyed by a nested asset tag, and a
//! device API that wants an `X-Service-Key` header, looks records up by tag, takes `PUT` with JSON
//! and keeps its state in memory. The expected counters and the expected destination state are
//! computed from the test's own data with a small model of the mapping below.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use serde_json::{Value, json};
use syncdeck::config::{self, Config, Environment};
use syncdeck::engine::{self, Command, Event, RunRequest, RunScope};
use syncdeck::store::{
    ConnectionRun, EntryStatus, Outcome, ReportEntry, Run, RunMode, RunStatus, Store, StoreOptions,
};
use tokio::net::TcpListener;

/// Source records, a few without an asset tag.
mod common;

use common::history::entries_of_run as entries;

const THINGS: usize = 300;
/// The cursor listing's page size (the config asks for it; the server caps at `PAGE_CAP`).
const PAGE_SIZE: usize = 40;
const PAGE_CAP: usize = 50;
/// The environment variable the config's header credential names; never set in the process.
const KEY_VAR: &str = "SYNCDECK_TEST_ENGINE_CUSTOM_SERVICE_KEY";
const GOOD_KEY: &str = "svc-key-7Hq2Zr9Lw4";
const WRONG_KEY: &str = "svc-key-WRONG-Mx83Tp";
const ABORT_AFTER: u64 = 4;
const CONCURRENCY: u64 = 6;
const LIMIT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// The test's data.

fn tag(i: usize) -> Option<String> {
    // A few records have no asset tag at all: the listing skips them and says so.
    (i % 97 != 50).then(|| format!("AT-{i:05}"))
}

fn source_thing(i: usize) -> Value {
    let memory = if i.is_multiple_of(11) {
        Value::Null
    } else if i % 53 == 5 {
        json!("n/a")
    } else if i % 7 == 3 {
        json!(format!("{}", 8u64 << (i % 3)))
    } else {
        json!(8u64 << (i % 3))
    };
    let state = if i.is_multiple_of(29) {
        Value::Null
    } else {
        json!(["active", "spare", "broken"][i % 3])
    };
    let notes = if i.is_multiple_of(5) {
        Value::Null
    } else {
        json!(format!("  note {i} "))
    };
    json!({
        "ids": {"asset_tag": tag(i), "internal": i},
        "name": format!("Host-{i}"),
        "specs": {"memory": memory, "cpu": 4},
        "state": state,
        "notes": notes,
    })
}

/// What the mapping wants for one source record, as this test understands the config's rules.
#[derive(Debug)]
enum Want {
    MissingSource,
    Error,
    Fields(Vec<(&'static str, Value)>),
}

/// The config's four rules, in their order (the first problem wins, as in the engine).
fn wanted(thing: &Value) -> Want {
    let mut fields = Vec::new();
    // name → name, lower.
    if let Some(name) = thing["name"].as_str() {
        fields.push(("name", json!(name.to_lowercase())));
    }
    // specs.memory → spec.ram, integer, on_null = skip.
    match &thing["specs"]["memory"] {
        Value::Null => {}
        Value::Number(n) => fields.push(("spec.ram", json!(n.as_u64().unwrap()))),
        Value::String(text) => match text.parse::<u64>() {
            Ok(n) => fields.push(("spec.ram", json!(n))),
            Err(_) => return Want::Error,
        },
        other => panic!("unexpected memory {other}"),
    }
    // state → lifecycle.state, map, required.
    let state = match thing["state"].as_str() {
        None => return Want::MissingSource,
        Some("active") => "ACTIVE",
        Some("spare") => "IN_STOCK",
        Some("broken") => "REPAIR",
        Some(other) => panic!("unexpected state {other}"),
    };
    fields.push(("lifecycle.state", json!(state)));
    // notes → spec.notes, trim, on_null = clear.
    match thing["notes"].as_str() {
        Some(notes) => fields.push(("spec.notes", json!(notes.trim()))),
        None => fields.push(("spec.notes", Value::Null)),
    }
    Want::Fields(fields)
}

fn uid(i: usize) -> String {
    format!("dev-{:05x}", i * 7919 + 13)
}

/// The destination's record for source record `i`, or None when it has none. Equal to what the
/// mapping wants, then put out of date in one of four ways by `i % 4`.
fn destination_device(i: usize) -> Option<Value> {
    let tag = tag(i)?;
    if i % 17 == 4 {
        return None;
    }
    let mut device = json!({
        "uid": uid(i),
        "tag": tag,
        "vendor": "acme",
        "name": format!("host-{i}"),
        "spec": {"ram": 4, "notes": null},
        "lifecycle": {"state": "ACTIVE"},
    });
    if let Want::Fields(fields) = wanted(&source_thing(i)) {
        for (path, value) in fields {
            set_path(&mut device, path, value);
        }
    }
    match i % 4 {
        1 => {
            let ram = device["spec"]["ram"].as_u64().unwrap();
            device["spec"]["ram"] = json!(ram * 2);
        }
        2 => device["name"] = json!(format!("OLD-host-{i}")),
        3 => {
            let spec = device["spec"].as_object_mut().unwrap();
            if spec["notes"].is_null() {
                spec.insert("notes".into(), json!("stale note"));
            } else {
                spec.remove("notes");
            }
            device["lifecycle"]["state"] = json!("RETIRED");
        }
        _ => {}
    }
    Some(device)
}

fn get_path<'a>(value: &'a Value, dotted: &str) -> Option<&'a Value> {
    dotted
        .split('.')
        .try_fold(value, |current, segment| current.get(segment))
}

fn set_path(target: &mut Value, dotted: &str, value: Value) {
    let (parent, leaf) = match dotted.rsplit_once('.') {
        Some((parent, leaf)) => (
            parent
                .split('.')
                .fold(target, |current, segment| &mut current[segment]),
            leaf,
        ),
        None => (target, dotted),
    };
    parent[leaf] = value;
}

/// What a Full Dry run should count, record by record, and the fields each would-update record
/// would write.
#[derive(Debug, Default)]
struct Expected {
    fetched: u64,
    without_tag: u64,
    would_update: u64,
    skipped: u64,
    missing_source: u64,
    missing_destination: u64,
    errors: u64,
    /// Serial → the target paths that differ.
    differing: BTreeMap<String, Vec<String>>,
}

fn expected() -> Expected {
    let mut e = Expected::default();
    for i in 0..THINGS {
        let Some(serial) = tag(i) else {
            e.without_tag += 1;
            continue;
        };
        e.fetched += 1;
        let fields = match wanted(&source_thing(i)) {
            Want::MissingSource => {
                e.missing_source += 1;
                continue;
            }
            Want::Error => {
                e.errors += 1;
                continue;
            }
            Want::Fields(fields) => fields,
        };
        let Some(device) = destination_device(i) else {
            e.missing_destination += 1;
            continue;
        };
        let mut differ: Vec<String> = fields
            .iter()
            .filter(|(path, value)| get_path(&device, path) != Some(value))
            .map(|(path, _)| path.to_string())
            .collect();
        if differ.is_empty() {
            e.skipped += 1;
        } else {
            differ.sort();
            e.would_update += 1;
            e.differing.insert(serial, differ);
        }
    }
    e
}

/// The destination's state after a Full Live run: every record found holds what the mapping
/// wants; the others are untouched.
fn expected_state_after_live() -> BTreeMap<String, Value> {
    let mut state = initial_devices();
    for i in 0..THINGS {
        let Some(device) = tag(i).and_then(|_| destination_device(i)) else {
            continue;
        };
        if let Want::Fields(fields) = wanted(&source_thing(i)) {
            let record = state.get_mut(device["uid"].as_str().unwrap()).unwrap();
            for (path, value) in fields {
                set_path(record, path, value);
            }
        }
    }
    state
}

fn initial_devices() -> BTreeMap<String, Value> {
    (0..THINGS)
        .filter_map(destination_device)
        .map(|d| (d["uid"].as_str().unwrap().to_string(), d))
        .collect()
}

#[test]
fn the_data_is_varied() {
    let e = expected();
    assert_eq!(e.without_tag, 3);
    assert!(e.missing_source >= 5, "{e:?}");
    assert!(e.errors >= 3, "{e:?}");
    assert!(e.missing_destination >= 10, "{e:?}");
    assert!(e.skipped >= 40, "{e:?}");
    assert!(e.would_update >= 150, "{e:?}");
    assert_eq!(
        e.would_update + e.skipped + e.missing_source + e.missing_destination + e.errors,
        e.fetched
    );
    // Null-source protection and clearing both matter somewhere.
    assert!(
        (0..THINGS).any(|i| source_thing(i)["specs"]["memory"].is_null()
            && destination_device(i).is_some_and(|d| d["spec"]["ram"] == json!(8))),
        "a null memory keeps a destination's differing ram"
    );
    assert!(
        e.differing
            .values()
            .any(|paths| paths.contains(&"spec.notes".to_string())),
    );
}

// ---------------------------------------------------------------------------------------------
// The servers.

#[derive(Default)]
struct Counts {
    listing_requests: AtomicU64,
    lookups: AtomicU64,
    writes: AtomicU64,
    unauthorized: AtomicU64,
    /// Any other refusal (400, 404, 415): none is expected.
    refused: AtomicU64,
}

struct Shared {
    things: Vec<Value>,
    devices: Mutex<BTreeMap<String, Value>>,
    key: String,
    counts: Counts,
}

struct TestServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl TestServer {
    fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn devices(&self) -> BTreeMap<String, Value> {
        self.shared.devices.lock().unwrap().clone()
    }

    fn count(&self, pick: impl Fn(&Counts) -> &AtomicU64) -> u64 {
        pick(&self.shared.counts).load(Ordering::SeqCst)
    }
}

async fn start_server() -> TestServer {
    let shared = Arc::new(Shared {
        things: (0..THINGS).map(source_thing).collect(),
        devices: Mutex::new(initial_devices()),
        key: GOOD_KEY.to_string(),
        counts: Counts::default(),
    });
    let app = Router::new()
        .route("/inventory/v2/things", get(list_things))
        .route("/api/devices", get(find_devices))
        .route("/api/devices/{uid}", put(put_device))
        .with_state(shared.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    TestServer { addr, shared }
}

fn refuse(shared: &Shared, status: StatusCode, code: &str, message: String) -> Response {
    shared.counts.refused.fetch_add(1, Ordering::SeqCst);
    (
        status,
        axum::Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

/// An opaque cursor: the offset, scrambled, with characters a query must encode (`+` would
/// arrive as a space, `&` and `=` would split the parameter).
fn cursor_for(offset: usize) -> String {
    format!("pg+{:x}/a&b=c", offset ^ 0xc0ffee)
}

fn offset_of(cursor: &str) -> Option<usize> {
    let hex = cursor.strip_prefix("pg+")?.strip_suffix("/a&b=c")?;
    usize::from_str_radix(hex, 16).ok().map(|n| n ^ 0xc0ffee)
}

async fn list_things(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    shared
        .counts
        .listing_requests
        .fetch_add(1, Ordering::SeqCst);
    let Some(limit) = query.get("limit").and_then(|l| l.parse::<usize>().ok()) else {
        return refuse(
            &shared,
            StatusCode::BAD_REQUEST,
            "BAD_LIMIT",
            "limit?".into(),
        );
    };
    let offset = match query.get("cursor") {
        None => 0,
        Some(cursor) => match offset_of(cursor) {
            Some(offset) if offset < shared.things.len() => offset,
            _ => {
                let message = format!("unknown cursor {cursor}");
                return refuse(&shared, StatusCode::BAD_REQUEST, "BAD_CURSOR", message);
            }
        },
    };
    let end = (offset + limit.min(PAGE_CAP)).min(shared.things.len());
    let next = (end < shared.things.len()).then(|| cursor_for(end));
    axum::Json(json!({
        "payload": {"things": &shared.things[offset..end], "count": end - offset},
        "paging": {"next": next},
    }))
    .into_response()
}

/// None when the request carries the service key; else the 401, which echoes what it got (as
/// careless real servers do), so the engine's redaction is put to the test.
fn unauthorized(shared: &Shared, headers: &HeaderMap) -> Option<Response> {
    let got = headers
        .get("x-service-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if got == shared.key {
        return None;
    }
    shared.counts.unauthorized.fetch_add(1, Ordering::SeqCst);
    Some(
        (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": {
                "code": "BAD_SERVICE_KEY",
                "message": format!("service key '{got}' is not valid for this tenant"),
            }})),
        )
            .into_response(),
    )
}

async fn find_devices(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Some(refusal) = unauthorized(&shared, &headers) {
        return refusal;
    }
    shared.counts.lookups.fetch_add(1, Ordering::SeqCst);
    let Some(tag) = query.get("tag") else {
        return refuse(&shared, StatusCode::BAD_REQUEST, "NO_FILTER", "tag?".into());
    };
    let items: Vec<Value> = shared
        .devices
        .lock()
        .unwrap()
        .values()
        .filter(|d| d["tag"] == json!(tag))
        .cloned()
        .collect();
    axum::Json(json!({"items": items, "count": items.len()})).into_response()
}

/// Checks a body against the device schema: only known fields, with the right types.
fn schema_problem(body: &Value) -> Option<String> {
    let object = body.as_object()?;
    for (key, value) in object {
        let fine = match key.as_str() {
            "name" => value.is_string(),
            "spec" => value.as_object().is_some_and(|spec| {
                spec.iter().all(|(k, v)| match k.as_str() {
                    "ram" => v.is_u64(),
                    "notes" => v.is_string() || v.is_null(),
                    _ => false,
                })
            }),
            "lifecycle" => value.as_object().is_some_and(|l| {
                l.iter()
                    .all(|(k, v)| k == "state" && v.as_str().is_some_and(|s| !s.is_empty()))
            }),
            _ => false,
        };
        if !fine {
            return Some(format!("field {key} is not valid: {value}"));
        }
    }
    None
}

fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                match target.get_mut(key) {
                    Some(existing) if existing.is_object() && value.is_object() => {
                        merge(existing, value)
                    }
                    _ => {
                        target.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (target, patch) => *target = patch.clone(),
    }
}

async fn put_device(
    State(shared): State<Arc<Shared>>,
    UrlPath(uid): UrlPath<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Some(refusal) = unauthorized(&shared, &headers) {
        return refusal;
    }
    let json_body = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json_body {
        let message = "send application/json".to_string();
        return refuse(
            &shared,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "MEDIA",
            message,
        );
    }
    let Ok(patch) = serde_json::from_slice::<Value>(&body) else {
        return refuse(&shared, StatusCode::BAD_REQUEST, "NOT_JSON", "json?".into());
    };
    if let Some(problem) = schema_problem(&patch) {
        return refuse(&shared, StatusCode::BAD_REQUEST, "INVALID_CONTENT", problem);
    }
    let mut devices = shared.devices.lock().unwrap();
    let Some(device) = devices.get_mut(&uid) else {
        drop(devices);
        let message = format!("no device {uid}");
        return refuse(&shared, StatusCode::NOT_FOUND, "NOT_FOUND", message);
    };
    merge(device, &patch);
    shared.counts.writes.fetch_add(1, Ordering::SeqCst);
    axum::Json(device.clone()).into_response()
}

// ---------------------------------------------------------------------------------------------
// syncdeck's side.

fn config_text(base_url: &str) -> String {
    format!(
        r#"
[source]
name = "Inventory v2 (test)"
base_url = "{base_url}"
endpoint = "/inventory/v2/things"
results_position = "payload.things"
id_field = "ids.asset_tag"
timeout_secs = 10
[source.pagination]
style = "cursor"
cursor_param = "cursor"
cursor_position = "paging.next"
size_param = "limit"
size = {PAGE_SIZE}
max_pages = 1000

[[credentials]]
name = "device-api-key"
kind = "header"
header = "X-Service-Key"
value = "env:{KEY_VAR}"

[[connections]]
name = "devices"
system = "Device API (test)"
credential = "device-api-key"
base_url = "{base_url}"
dry_run = true
concurrency = {CONCURRENCY}
max_retries = 1
timeout_secs = 10
abort_after = {ABORT_AFTER}
[connections.fetch]
path = "/api/devices"
query = {{ tag = "{{serial}}" }}
results_position = "items"
serial_field = "tag"
id_field = "uid"
bulk = false
[connections.update]
method = "PUT"
path = "/api/devices/{{id}}"
formatter = "json"

[[connections.mapping]]
source = "name"
target = "name"
format = "lower"
on_same = "skip"

[[connections.mapping]]
source = "specs.memory"
target = "spec.ram"
format = "integer"
on_null = "skip"
on_same = "skip"

[[connections.mapping]]
source = "state"
target = "lifecycle.state"
format = "map"
values = {{ active = "ACTIVE", spare = "IN_STOCK", broken = "REPAIR" }}
required = true
on_same = "skip"

[[connections.mapping]]
source = "notes"
target = "spec.notes"
format = "trim"
on_null = "clear"
on_same = "skip"
"#
    )
}

struct Setup {
    server: TestServer,
    config: Arc<Config>,
    store: Store,
    _dir: tempfile::TempDir,
}

async fn setup(key: &str) -> Setup {
    let server = start_server().await;
    assert!(
        std::env::var_os(KEY_VAR).is_none(),
        "{KEY_VAR} must not be set"
    );
    let env = Environment::with_fallbacks([(KEY_VAR, key)]);
    let text = config_text(&server.base_url());
    let config = config::parse(&text, Path::new("/test/engine_custom.toml"), &env)
        .unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store.redb"), StoreOptions::default()).unwrap();
    Setup {
        server,
        config: Arc::new(config),
        store,
        _dir: dir,
    }
}

fn full(mode: RunMode) -> RunRequest {
    RunRequest {
        scope: RunScope::Full,
        connections: vec!["devices".into()],
        mode: Some(mode),
        force: true,
    }
}

/// Runs to the end; returns the run, its one connection run and every event seen.
async fn run_to_end(setup: &Setup, request: RunRequest) -> (Run, ConnectionRun, Vec<Event>) {
    let mut engine = engine::spawn(setup.config.clone(), setup.store.clone());
    engine.commands.send(Command::StartRun(request)).unwrap();
    let mut events = Vec::new();
    let run = tokio::time::timeout(LIMIT, async {
        loop {
            let event = engine.events.recv().await.expect("the engine stopped");
            if let Event::Refused { reason } = &event {
                panic!("refused: {reason}");
            }
            let finished = match &event {
                Event::RunFinished { run } => Some(run.clone()),
                _ => None,
            };
            events.push(event);
            if let Some(run) = finished {
                return run;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the run did not finish within {LIMIT:?}"));
    engine.commands.send(Command::Shutdown).unwrap();
    tokio::time::timeout(LIMIT, engine.task)
        .await
        .expect("the engine did not stop")
        .unwrap();
    let mut rows = setup.store.connection_runs(run.id).unwrap();
    assert_eq!(rows.len(), 1);
    (run, rows.remove(0), events)
}

fn pages_for(records: usize) -> u64 {
    records.div_ceil(PAGE_SIZE) as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_dry_then_live_then_unchanged_against_a_cursor_source_and_a_keyed_destination() {
    let setup = setup(GOOD_KEY).await;
    let server = &setup.server;
    let e = expected();

    // Full Dry: the counters are what the two systems hold, and nothing is written.
    let (run, row, dry_events) = run_to_end(&setup, full(RunMode::Dry)).await;
    assert_eq!(run.status, RunStatus::Completed, "{:?}", row.error);
    assert_eq!(row.status, RunStatus::Completed);
    let c = row.counters;
    assert_eq!(row.processed, e.fetched);
    assert_eq!(c.fetched, e.fetched);
    assert_eq!(c.would_update, e.would_update, "{c:?}");
    assert_eq!(c.skipped, e.skipped, "{c:?}");
    assert_eq!(c.missing_source, e.missing_source, "{c:?}");
    assert_eq!(c.missing_destination, e.missing_destination, "{c:?}");
    assert_eq!(c.errors, e.errors, "{c:?}");
    assert_eq!((c.updated, c.created, c.failed), (0, 0, 0));
    assert_eq!(c.new, e.fetched, "no contracts yet");
    let note = row.note.clone().unwrap_or_default();
    assert!(
        note.contains("3 source records had no serial at ids.asset_tag"),
        "{note}"
    );
    assert_eq!(server.count(|c| &c.writes), 0, "a dry run writes nothing");
    assert_eq!(server.devices(), initial_devices());
    assert_eq!(setup.store.count_contracts("devices").unwrap(), 0);
    assert_eq!(
        server.count(|c| &c.listing_requests),
        pages_for(THINGS),
        "the cursor is followed to its null and no further"
    );
    // One lookup per record the mapping could build.
    assert_eq!(
        server.count(|c| &c.lookups),
        e.would_update + e.skipped + e.missing_destination
    );
    // Each would-update entry carries exactly the differing fields.
    let dry_entries = entries(&setup.store, run.id);
    assert_eq!(dry_entries.len() as u64, e.fetched);
    for entry in &dry_entries {
        assert_eq!(entry.status, EntryStatus::Dry);
        if entry.outcome == Outcome::WouldUpdate {
            let mut fields: Vec<String> = entry.diff.iter().map(|d| d.field.clone()).collect();
            fields.sort();
            assert_eq!(Some(&fields), e.differing.get(&entry.reference));
        }
    }
    let format_errors: Vec<_> = dry_entries
        .iter()
        .filter(|x| x.outcome == Outcome::Error)
        .collect();
    assert!(format_errors.iter().all(|x| {
        let message = &x.error.as_ref().unwrap().message;
        message.contains("spec.ram") && message.contains("n/a")
    }));

    // Full Live: the destination now holds what the mapping wants for every record it has.
    let (run, row, live_events) = run_to_end(&setup, full(RunMode::Live)).await;
    assert_eq!(run.status, RunStatus::Completed, "{:?}", row.error);
    let c = row.counters;
    assert_eq!(c.updated, e.would_update, "{c:?}");
    assert_eq!(c.skipped, e.skipped, "{c:?}");
    assert_eq!(c.missing_destination, e.missing_destination, "{c:?}");
    assert_eq!(c.missing_source, e.missing_source, "{c:?}");
    assert_eq!(
        c.failed, e.errors,
        "format errors fail in a live run: {c:?}"
    );
    assert_eq!((c.would_update, c.created, c.pending), (0, 0, 0));
    assert_eq!(server.count(|c| &c.writes), e.would_update);
    assert_eq!(
        server.count(|c| &c.unauthorized),
        0,
        "every request had the key"
    );
    assert_eq!(server.count(|c| &c.refused), 0, "every write was valid");
    assert_eq!(server.devices(), expected_state_after_live());
    let live_entries = entries(&setup.store, run.id);
    let missing: Vec<_> = live_entries
        .iter()
        .filter(|x| x.outcome == Outcome::MissingDestination)
        .collect();
    assert_eq!(missing.len() as u64, e.missing_destination);
    assert!(missing.iter().all(|x| x.status == EntryStatus::Failed));
    for entry in live_entries
        .iter()
        .filter(|x| x.outcome == Outcome::Updated)
    {
        assert_eq!(entry.status, EntryStatus::Ok);
        let serial = &entry.reference;
        let i: usize = serial.trim_start_matches("AT-").parse().unwrap();
        assert_eq!(entry.target_id.as_deref(), Some(uid(i).as_str()));
        let contract = setup
            .store
            .get_contract("devices", serial)
            .unwrap()
            .unwrap();
        assert_eq!(contract.target_id.as_deref(), Some(uid(i).as_str()));
        assert!(contract.last_synced.is_some());
    }
    assert_eq!(
        setup.store.count_contracts("devices").unwrap(),
        e.would_update + e.skipped,
        "a contract for every record written or found equal"
    );

    // A second Full Live run: nothing to write; the records written or equal are unchanged and
    // only the records without a contract are looked up again.
    let lookups_before = server.count(|c| &c.lookups);
    let (_, row, again_events) = run_to_end(&setup, full(RunMode::Live)).await;
    let c = row.counters;
    assert_eq!(row.status, RunStatus::Completed);
    assert_eq!(c.updated, 0, "{c:?}");
    assert_eq!(c.unchanged, e.would_update + e.skipped, "{c:?}");
    assert_eq!(c.changed, 0, "{c:?}");
    assert_eq!(
        c.new,
        e.missing_source + e.missing_destination + e.errors,
        "{c:?}"
    );
    assert_eq!(server.count(|c| &c.writes), e.would_update);
    assert_eq!(
        server.count(|c| &c.lookups) - lookups_before,
        e.missing_destination
    );
    assert_eq!(server.devices(), expected_state_after_live());

    // The key never shows: not in the entries, not in the events.
    let all_entries = serde_json::to_string(&entries_of_all_runs(&setup.store)).unwrap();
    assert!(!all_entries.contains(GOOD_KEY));
    for event in dry_events.iter().chain(&live_events).chain(&again_events) {
        assert!(!format!("{event:?}").contains(GOOD_KEY));
    }
}

fn entries_of_all_runs(store: &Store) -> Vec<ReportEntry> {
    store
        .list_runs(None, 100)
        .unwrap()
        .iter()
        .flat_map(|run| entries(store, run.id))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_run_pages_the_cursor_listing_until_its_serial_turns_up() {
    let setup = setup(GOOD_KEY).await;
    // A stale record on the third page, found by filtering the listing (no single_query).
    let differing = expected().differing;
    let i = (2 * PAGE_SIZE..3 * PAGE_SIZE)
        .find(|&i| tag(i).is_some_and(|t| differing.contains_key(&t)))
        .unwrap();
    let serial = tag(i).unwrap();
    let request = RunRequest {
        scope: RunScope::Single(serial.clone()),
        connections: Vec::new(),
        mode: Some(RunMode::Live),
        force: false,
    };
    let (run, row, _) = run_to_end(&setup, request).await;
    assert_eq!(run.status, RunStatus::Completed, "{:?}", row.error);
    assert_eq!(run.serial.as_deref(), Some(serial.as_str()));
    assert_eq!((row.processed, row.counters.updated), (1, 1));
    assert_eq!(setup.server.count(|c| &c.listing_requests), 3);
    assert_eq!(setup.server.count(|c| &c.writes), 1);
    assert_eq!(setup.server.count(|c| &c.lookups), 1);
    let device = &setup.server.devices()[&uid(i)];
    let Want::Fields(fields) = wanted(&source_thing(i)) else {
        unreachable!("a differing record maps")
    };
    for (path, value) in fields {
        assert_eq!(get_path(device, path), Some(&value), "{path}");
    }
    assert_eq!(
        device["vendor"], "acme",
        "fields the mapping leaves alone stay"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_service_key_fails_the_connection_after_abort_after_401s_and_never_shows() {
    let setup = setup(WRONG_KEY).await;
    let (run, row, events) = run_to_end(&setup, full(RunMode::Live)).await;
    assert_eq!(row.status, RunStatus::Failed);
    assert_eq!(run.status, RunStatus::Failed);
    let error = row.error.clone().expect("a terminal error");
    assert!(error.message.contains("401"), "{}", error.message);
    assert!(
        error
            .message
            .contains(&format!("{ABORT_AFTER} consecutive")),
        "{}",
        error.message
    );
    let hint = error.hint.clone().unwrap_or_default();
    assert!(hint.contains("credential"), "{hint}");
    let unauthorized = setup.server.count(|c| &c.unauthorized);
    // Every lookup was refused; the run stopped after abort_after of them, give or take what was
    // in flight or already finished (the result queue holds 2 x concurrency).
    assert!(
        (ABORT_AFTER..=ABORT_AFTER + 3 * CONCURRENCY).contains(&unauthorized),
        "{unauthorized} 401s"
    );
    assert!(row.processed < expected().fetched, "{}", row.processed);
    assert_eq!(setup.server.count(|c| &c.writes), 0);
    assert_eq!(setup.server.count(|c| &c.lookups), 0);
    assert_eq!(setup.server.devices(), initial_devices());

    // The 401 echoed the key it got: the key appears nowhere syncdeck keeps or tells.
    let recorded = entries(&setup.store, run.id);
    assert!(!recorded.is_empty());
    let failed: Vec<_> = recorded
        .iter()
        .filter(|x| x.error.as_ref().and_then(|e| e.http_status) == Some(401))
        .collect();
    assert!(!failed.is_empty());
    for entry in &failed {
        let error = entry.error.as_ref().unwrap();
        assert_eq!(error.code.as_deref(), Some("BAD_SERVICE_KEY"));
        assert!(error.hint.as_deref().unwrap_or("").contains("credential"));
        assert!(
            error
                .response_excerpt
                .as_deref()
                .is_some_and(|x| x.contains("is not valid")),
            "{error:?}"
        );
    }
    let stored = serde_json::to_string(&recorded).unwrap();
    assert!(!stored.contains(WRONG_KEY), "the key leaked into an entry");
    assert!(
        stored.contains("[redacted]"),
        "the echo was redacted, not lost"
    );
    let rows = serde_json::to_string(&setup.store.connection_runs(run.id).unwrap()).unwrap();
    assert!(!rows.contains(WRONG_KEY), "the key leaked into the run");
    for event in &events {
        let text = format!("{event:?}");
        assert!(!text.contains(WRONG_KEY), "the key leaked into {text}");
    }
}
