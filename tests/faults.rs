//! Faults at the destination (SPEC section 3 step 5, issue 7): retries with jittered, capped
//! backoff; `Retry-After` in seconds and as a date, and one beyond the cap; destinations that
//! stall, trickle one byte a second, reset the connection, close mid-headers or send a huge body;
//! a POST whose fate is unknown; and the screen drawing on while a destination stalls.
//!
//! Each test starts its own servers on 127.0.0.1 (axum, or a raw tokio listener where HTTP itself
//! must break) and runs the real engine into a real store in a temp dir. Deliverer-level cases
//! already in `tests/engine_deliver.rs` (four requests for three 503s, an HTTP-date Retry-After,
//! a Retry-After beyond the cap, a stalled POST, a 10 MiB 400 body) are taken here through the
//! whole engine and store instead of repeated.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, put};
use chrono::{DateTime, Utc};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::{Value, json};
use syncdeck::config::{self, Config, Environment, Method};
use syncdeck::engine::deliver::{Deliverer, RetryNotice, WriteKind, WriteRequest};
use syncdeck::engine::http::HttpClient;
use syncdeck::engine::limit::RateLimiter;
use syncdeck::engine::retry::RetryPolicy;
use syncdeck::engine::{self, Command, Event, RunRequest, RunScope};
use syncdeck::store::{EntryStatus, ReportEntry, Run, RunMode, RunStatus, Store, StoreOptions};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// Longest any run here may take before the test fails as hung.
mod common;

use common::history::entries_of_run as entries;
use common::screen;

const RUN_LIMIT: Duration = Duration::from_secs(60);
/// The timeout configured for the broken destinations.
const TIMEOUT_SECS: u64 = 2;
/// What a failure may take beyond its configured timeout (scheduling, a loaded CI machine):
/// generous on purpose, the point is "does not hang".
const MARGIN: Duration = Duration::from_secs(5);

// ----- servers --------------------------------------------------------------------------------

/// One request as a test server saw it.
#[derive(Clone, Debug)]
struct Arrival {
    at: Instant,
    wall: DateTime<Utc>,
    method: String,
    path: String,
}

/// Every write request a destination got, in order.
#[derive(Default)]
struct Arrivals(Mutex<Vec<Arrival>>);

impl Arrivals {
    fn record(&self, method: &str, path: &str) {
        self.0.lock().unwrap().push(Arrival {
            at: Instant::now(),
            wall: Utc::now(),
            method: method.to_string(),
            path: path.to_string(),
        });
    }

    fn all(&self) -> Vec<Arrival> {
        self.0.lock().unwrap().clone()
    }

    fn of(&self, path: &str) -> Vec<Arrival> {
        self.all().into_iter().filter(|a| a.path == path).collect()
    }
}

async fn serve(router: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    addr
}

fn serial(i: usize) -> String {
    format!("S-{i}")
}

/// The source: `count` records `{serial, name}` as a bare array.
async fn source(count: usize) -> SocketAddr {
    let records: Vec<Value> = (1..=count)
        .map(|i| json!({"serial": serial(i), "name": format!("host-{i}")}))
        .collect();
    serve(Router::new().route(
        "/devices",
        get(move || {
            let records = records.clone();
            async move { axum::Json(records) }
        }),
    ))
    .await
}

/// The lookup a destination answers: the record for a serial with id `T-<serial>` and an
/// out-of-date name (so every record is written), or nothing when `found` is false.
fn lookup_body(serial: &str, found: bool) -> Value {
    if found {
        json!([{"serial": serial, "id": format!("T-{serial}"), "name": "old"}])
    } else {
        json!([])
    }
}

/// An axum destination: the lookup, plus `writes` (routes for `/things/{id}` or `/things`).
async fn destination(writes: Router, found: bool) -> SocketAddr {
    let lookup = Router::new().route(
        "/things",
        get(
            move |Query(query): Query<HashMap<String, String>>| async move {
                let serial = query.get("serial").cloned().unwrap_or_default();
                axum::Json(lookup_body(&serial, found))
            },
        ),
    );
    serve(lookup.merge(writes)).await
}

/// How a raw destination breaks a write (lookups are answered properly).
#[derive(Clone, Copy, Debug)]
enum Breakage {
    /// Reads the request and never answers (holds the connection until the client leaves).
    Stall,
    /// Sends a whole response one byte per second.
    Trickle,
    /// Reads the request, then resets the connection (SO_LINGER 0).
    Reset,
    /// Sends part of the status line and headers, then closes.
    CloseMidHeaders,
    /// Answers 500 with a body of this many bytes, in 64 KiB writes.
    Flood(usize),
}

/// A destination on a raw TCP listener: HTTP/1.1 lookups answered by hand, writes broken.
async fn raw_destination(breakage: Breakage, found: bool) -> (SocketAddr, Arc<Arrivals>) {
    let (addr, arrivals, _) = raw_destination_counting(breakage, found).await;
    (addr, arrivals)
}

/// [`raw_destination`], with the count of body bytes a flood got into the connection.
async fn raw_destination_counting(
    breakage: Breakage,
    found: bool,
) -> (SocketAddr, Arc<Arrivals>, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let arrivals = Arc::new(Arrivals::default());
    let flooded = Arc::new(AtomicUsize::new(0));
    let (seen, sent) = (arrivals.clone(), flooded.clone());
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let raw = Raw {
                breakage,
                found,
                arrivals: seen.clone(),
                flooded: sent.clone(),
            };
            tokio::spawn(raw.connection(socket));
        }
    });
    (addr, arrivals, flooded)
}

struct Raw {
    breakage: Breakage,
    found: bool,
    arrivals: Arc<Arrivals>,
    flooded: Arc<AtomicUsize>,
}

impl Raw {
    async fn connection(self, socket: TcpStream) {
        let Raw {
            breakage,
            found,
            arrivals,
            flooded,
        } = self;
        let mut reader = BufReader::new(socket);
        loop {
            // The request line and headers; the body is read and dropped.
            let mut line = String::new();
            if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            let mut parts = line.split_whitespace();
            let method = parts.next().unwrap_or_default().to_string();
            let target = parts.next().unwrap_or_default().to_string();
            let mut length = 0usize;
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).await.unwrap_or(0) == 0 {
                    return;
                }
                if header.trim().is_empty() {
                    break;
                }
                if let Some((name, value)) = header.split_once(':')
                    && name.trim().eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).await.is_err() {
                return;
            }
            let (path, query) = target.split_once('?').unwrap_or((&target, ""));
            if method == "GET" {
                let serial = query
                    .split('&')
                    .find_map(|pair| pair.strip_prefix("serial="))
                    .unwrap_or_default();
                let body = lookup_body(serial, found).to_string();
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                    body.len()
                );
                let socket = reader.get_mut();
                if socket.write_all(head.as_bytes()).await.is_err()
                    || socket.write_all(body.as_bytes()).await.is_err()
                {
                    return;
                }
                continue;
            }
            arrivals.record(&method, path);
            let mut socket = reader.into_inner();
            match breakage {
                Breakage::Stall => {
                    // Hold on until the client gives up and closes.
                    let mut sink = [0u8; 1024];
                    while socket.read(&mut sink).await.unwrap_or(0) > 0 {}
                }
                Breakage::Trickle => {
                    let response = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                                content-length: 2\r\n\r\n{}";
                    for byte in response.as_bytes() {
                        if socket.write_all(&[*byte]).await.is_err() {
                            return;
                        }
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
                Breakage::Reset => {
                    let _ = socket.set_zero_linger();
                    drop(socket);
                }
                Breakage::CloseMidHeaders => {
                    let _ = socket
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: applica")
                        .await;
                    let _ = socket.shutdown().await;
                }
                Breakage::Flood(size) => {
                    let head = format!(
                        "HTTP/1.1 500 Internal Server Error\r\ncontent-type: text/plain\r\n\
                     content-length: {size}\r\n\r\n"
                    );
                    if socket.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                    let chunk = vec![b'x'; 64 * 1024];
                    let mut left = size;
                    while left > 0 {
                        let len = left.min(chunk.len());
                        if socket.write_all(&chunk[..len]).await.is_err() {
                            return;
                        }
                        flooded.fetch_add(len, Ordering::SeqCst);
                        left -= len;
                    }
                    // Keep the connection open until the client leaves.
                    let mut sink = [0u8; 1024];
                    while socket.read(&mut sink).await.unwrap_or(0) > 0 {}
                }
            }
            return;
        }
    }
}

// ----- syncdeck's side ------------------------------------------------------------------------

struct Knobs {
    max_retries: u32,
    timeout_secs: u64,
    concurrency: u32,
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            max_retries: 0,
            timeout_secs: TIMEOUT_SECS,
            concurrency: 2,
        }
    }
}

fn config_text(source: SocketAddr, destination: SocketAddr, knobs: &Knobs) -> String {
    let Knobs {
        max_retries,
        timeout_secs,
        concurrency,
    } = knobs;
    format!(
        r#"
[source]
name = "Faults source"
base_url = "http://{source}"
endpoint = "/devices"
results_position = "_root"
id_field = "serial"
timeout_secs = 10

[[connections]]
name = "dest"
system = "Faulty destination"
base_url = "http://{destination}"
dry_run = false
concurrency = {concurrency}
max_retries = {max_retries}
timeout_secs = {timeout_secs}
[connections.fetch]
path = "/things"
query = {{ serial = "{{serial}}" }}
results_position = "_root"
serial_field = "serial"
id_field = "id"
[connections.update]
method = "PUT"
path = "/things/{{id}}"
formatter = "json"
[connections.create]
method = "POST"
path = "/things"
formatter = "json"
[[connections.mapping]]
source = "name"
target = "name"
format = "string"
"#
    )
}

struct Setup {
    config: Arc<Config>,
    store: Store,
    _dir: tempfile::TempDir,
}

fn setup(source: SocketAddr, destination: SocketAddr, knobs: &Knobs) -> Setup {
    let text = config_text(source, destination, knobs);
    let config = config::parse(
        &text,
        Path::new("/test/faults.toml"),
        &Environment::process(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store.redb"), StoreOptions::default()).unwrap();
    Setup {
        config: Arc::new(config),
        store,
        _dir: dir,
    }
}

fn full_live() -> Command {
    Command::StartRun(RunRequest {
        scope: RunScope::Full,
        connections: vec!["dest".into()],
        mode: Some(RunMode::Live),
        force: true,
    })
}

/// A Full Live run to its end: the run, every event, and how long it took.
async fn run_live(setup: &Setup) -> (Run, Vec<Event>, Duration) {
    let mut engine = engine::spawn(setup.config.clone(), setup.store.clone());
    let started = Instant::now();
    engine.commands.send(full_live()).unwrap();
    let mut events = Vec::new();
    let run = tokio::time::timeout(RUN_LIMIT, async {
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
    .unwrap_or_else(|_| panic!("the run did not finish within {RUN_LIMIT:?}"));
    let took = started.elapsed();
    engine.commands.send(Command::Shutdown).unwrap();
    tokio::time::timeout(RUN_LIMIT, engine.task)
        .await
        .expect("the engine did not stop")
        .unwrap();
    (run, events, took)
}

/// The one entry of a one-record run.
fn only_entry(setup: &Setup, run: &Run) -> ReportEntry {
    let mut found = entries(&setup.store, run.id);
    assert_eq!(found.len(), 1, "{found:#?}");
    found.remove(0)
}

fn retry_delays(events: &[Event]) -> Vec<Duration> {
    events
        .iter()
        .filter_map(|event| match event {
            Event::RetryScheduled { delay, .. } => Some(*delay),
            _ => None,
        })
        .collect()
}

fn message(entry: &ReportEntry) -> &str {
    &entry
        .error
        .as_ref()
        .expect("a failed entry has details")
        .message
}

fn hint(entry: &ReportEntry) -> &str {
    entry
        .error
        .as_ref()
        .and_then(|e| e.hint.as_deref())
        .unwrap_or_default()
}

// ----- retries --------------------------------------------------------------------------------

/// One Full Live run of one record against a destination answering 503 three times, then 200.
/// Returns the announced delays.
async fn three_503s_then_200() -> Vec<Duration> {
    let arrivals = Arc::new(Arrivals::default());
    let writes = Router::new()
        .route(
            "/things/{id}",
            put(
                |State(seen): State<Arc<Arrivals>>, UrlPath(id): UrlPath<String>| async move {
                    seen.record("PUT", &format!("/things/{id}"));
                    if seen.all().len() <= 3 {
                        (StatusCode::SERVICE_UNAVAILABLE, "busy").into_response()
                    } else {
                        (StatusCode::OK, "{}").into_response()
                    }
                },
            ),
        )
        .with_state(arrivals.clone());
    let setup = setup(
        source(1).await,
        destination(writes, true).await,
        &Knobs {
            max_retries: 4,
            ..Knobs::default()
        },
    );
    let (run, events, took) = run_live(&setup).await;
    assert_eq!(run.status, RunStatus::Completed);
    let seen = arrivals.all();
    assert_eq!(seen.len(), 4, "exactly four requests: {seen:#?}");
    let entry = only_entry(&setup, &run);
    assert_eq!(entry.status, EntryStatus::Ok, "{entry:#?}");
    let statuses: Vec<_> = entry.attempts.iter().map(|a| a.http_status).collect();
    assert_eq!(statuses, [Some(503), Some(503), Some(503), Some(200)]);

    // The engine's policy: 250 ms doubling, each step jittered within its upper half.
    let policy = RetryPolicy::new(4);
    let delays = retry_delays(&events);
    assert_eq!(delays.len(), 3, "{delays:?}");
    for (i, delay) in delays.iter().enumerate() {
        let step = (policy.base * (1 << i)).min(policy.cap);
        assert!(
            *delay >= step / 2 && *delay <= step && *delay <= policy.cap,
            "retry {}: {delay:?} outside [{:?}, {step:?}]",
            i + 1,
            step / 2
        );
        // The destination saw each wait.
        let gap = seen[i + 1].at - seen[i].at;
        assert!(
            gap >= *delay,
            "gap {gap:?} shorter than the delay {delay:?}"
        );
    }
    println!("503 x3 then 200: 4 requests, delays {delays:?}, run took {took:?}");
    delays
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_503s_then_200_is_four_requests_with_jittered_delays_that_differ_between_runs() {
    let first = three_503s_then_200().await;
    let second = three_503s_then_200().await;
    // The jitter draws from the nanoseconds: two runs never wait the same.
    assert_ne!(first, second, "no jitter between runs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backoff_is_jittered_and_never_longer_than_the_cap() {
    let arrivals = Arc::new(Arrivals::default());
    let router = Router::new()
        .route(
            "/things/{id}",
            put(|State(seen): State<Arc<Arrivals>>| async move {
                seen.record("PUT", "/things/T");
                if seen.all().len() <= 5 {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::NO_CONTENT
                }
            }),
        )
        .with_state(arrivals.clone());
    let addr = serve(router).await;
    let text = config_text(addr, addr, &Knobs::default());
    let config = config::parse(
        &text,
        Path::new("/test/faults.toml"),
        &Environment::process(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let connection = config.connection("dest").unwrap().clone();
    assert_eq!(connection.update.method, Method::Put);
    // A cap below the third step, so three of five retries would exceed it without the cap.
    let policy = RetryPolicy {
        max_retries: 5,
        base: Duration::from_millis(100),
        cap: Duration::from_millis(150),
        max_retry_after: Duration::from_secs(10),
    };
    let client = HttpClient::new(&connection.base_url, None, Duration::from_secs(5), 1).unwrap();
    let deliverer = Deliverer::new(client, &connection, RateLimiter::new(None)).with_policy(policy);
    let payload = json!({"name": "host-1"});
    let mut notices: Vec<RetryNotice> = Vec::new();
    let result = tokio::time::timeout(
        RUN_LIMIT,
        deliverer.write(
            WriteRequest {
                kind: WriteKind::Update {
                    target_id: Some("T".into()),
                },
                serial: "S-1",
                payload: &payload,
            },
            &mut |notice| notices.push(notice),
        ),
    )
    .await
    .expect("the write finished");
    assert_eq!(result.status, EntryStatus::Ok, "{result:?}");
    assert_eq!(arrivals.all().len(), 6);
    let delays: Vec<_> = notices.iter().map(|n| n.delay).collect();
    assert_eq!(delays.len(), 5);
    for (i, delay) in delays.iter().enumerate() {
        let step = (policy.base * (1 << i)).min(policy.cap);
        assert!(
            *delay <= policy.cap,
            "retry {}: {delay:?} above the cap",
            i + 1
        );
        assert!(
            *delay >= step / 2,
            "retry {}: {delay:?} below {:?}",
            i + 1,
            step / 2
        );
    }
    // Three retries at the capped step: jittered, so not all equal.
    assert!(
        delays[2..].windows(2).any(|pair| pair[0] != pair[1]),
        "{delays:?}"
    );
    println!("503 x5 then 204 with a 150 ms cap: 6 requests, delays {delays:?}");
}

/// A `Retry-After` as an HTTP date at least `secs` ahead (dates have whole seconds: rounded up).
fn date_ahead(secs: i64) -> DateTime<Utc> {
    let at = Utc::now() + chrono::TimeDelta::seconds(secs);
    let whole = at.timestamp() + i64::from(at.timestamp_subsec_nanos() > 0);
    DateTime::from_timestamp(whole, 0).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_in_seconds_and_as_a_date_is_waited_out() {
    #[derive(Default)]
    struct Deadlines {
        seconds: Mutex<Option<Instant>>,
        date: Mutex<Option<DateTime<Utc>>>,
    }
    let arrivals = Arc::new(Arrivals::default());
    let deadlines = Arc::new(Deadlines::default());
    let writes = Router::new()
        .route(
            "/things/{id}",
            put(
                |State((seen, deadlines)): State<(Arc<Arrivals>, Arc<Deadlines>)>,
                 UrlPath(id): UrlPath<String>| async move {
                    let path = format!("/things/{id}");
                    seen.record("PUT", &path);
                    if seen.of(&path).len() > 1 {
                        return StatusCode::NO_CONTENT.into_response();
                    }
                    let retry_after = if id == "T-S-1" {
                        *deadlines.seconds.lock().unwrap() =
                            Some(Instant::now() + Duration::from_secs(2));
                        "2".to_string()
                    } else {
                        let date = date_ahead(2);
                        *deadlines.date.lock().unwrap() = Some(date);
                        date.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
                    };
                    let mut response = (StatusCode::TOO_MANY_REQUESTS, "slow down").into_response();
                    response.headers_mut().insert(
                        header::RETRY_AFTER,
                        HeaderValue::from_str(&retry_after).unwrap(),
                    );
                    response
                },
            ),
        )
        .with_state((arrivals.clone(), deadlines.clone()));
    let setup = setup(
        source(2).await,
        destination(writes, true).await,
        &Knobs {
            max_retries: 2,
            ..Knobs::default()
        },
    );
    let (run, events, took) = run_live(&setup).await;
    assert_eq!(run.status, RunStatus::Completed);
    for entry in entries(&setup.store, run.id) {
        assert_eq!(entry.status, EntryStatus::Ok, "{entry:#?}");
        let statuses: Vec<_> = entry.attempts.iter().map(|a| a.http_status).collect();
        assert_eq!(statuses, [Some(429), Some(204)], "{}", entry.reference);
    }
    // Seconds: no retry before the server's instant plus 2 s.
    let by_seconds = arrivals.of("/things/T-S-1");
    assert_eq!(by_seconds.len(), 2);
    let deadline = deadlines.seconds.lock().unwrap().unwrap();
    assert!(
        by_seconds[1].at >= deadline,
        "retried {:?} before the deadline",
        deadline - by_seconds[1].at
    );
    // A date: no retry before that date.
    let by_date = arrivals.of("/things/T-S-2");
    assert_eq!(by_date.len(), 2);
    let date = deadlines.date.lock().unwrap().unwrap();
    assert!(
        by_date[1].wall >= date,
        "retried at {} before {date}",
        by_date[1].wall
    );
    let delays = retry_delays(&events);
    assert_eq!(delays.len(), 2);
    assert!(
        delays.iter().all(|d| *d >= Duration::from_secs(1)),
        "{delays:?}"
    );
    println!(
        "Retry-After 2 and an HTTP date 2 s ahead: 2 requests each, retried {:?} and {:?} after \
         the first, run took {took:?}",
        by_seconds[1].at - by_seconds[0].at,
        by_date[1].at - by_date[0].at
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_beyond_the_cap_fails_the_entry_with_the_reason_and_the_run_ends() {
    let arrivals = Arc::new(Arrivals::default());
    let writes = Router::new()
        .route(
            "/things/{id}",
            put(|State(seen): State<Arc<Arrivals>>| async move {
                seen.record("PUT", "/things/T-S-1");
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(header::RETRY_AFTER, "3600")],
                    "come back in an hour",
                )
            }),
        )
        .with_state(arrivals.clone());
    let setup = setup(
        source(1).await,
        destination(writes, true).await,
        &Knobs {
            max_retries: 4,
            ..Knobs::default()
        },
    );
    let (run, events, took) = run_live(&setup).await;
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(arrivals.all().len(), 1, "not retried");
    assert!(retry_delays(&events).is_empty());
    let entry = only_entry(&setup, &run);
    assert_eq!(entry.status, EntryStatus::Failed);
    let error = entry.error.as_ref().unwrap();
    assert_eq!(error.http_status, Some(429));
    let cap = RetryPolicy::new(4).max_retry_after.as_secs();
    assert!(
        error.message.contains("3600") && error.message.contains(&format!("{cap}s limit")),
        "{}",
        error.message
    );
    assert!(hint(&entry).contains("rate limited"), "{}", hint(&entry));
    // Far below the hour asked for: the point is that the run does not wait it out.
    assert!(took < Duration::from_secs(30), "{took:?}");
    println!(
        "Retry-After 3600: 1 request, Failed after {took:?}: {}",
        error.message
    );
}

// ----- slow and broken destinations -----------------------------------------------------------

/// A one-record Full Live run against a raw destination that breaks the write; the entry and
/// how long the run took.
async fn against(breakage: Breakage, knobs: Knobs) -> (ReportEntry, Vec<Arrival>, Duration) {
    let (addr, arrivals) = raw_destination(breakage, true).await;
    let setup = setup(source(1).await, addr, &knobs);
    let (run, _, took) = run_live(&setup).await;
    assert_eq!(run.status, RunStatus::Completed);
    let entry = only_entry(&setup, &run);
    assert_eq!(entry.status, EntryStatus::Failed, "{entry:#?}");
    assert!(
        hint(&entry).contains("destination down"),
        "{}",
        hint(&entry)
    );
    let error = entry.error.as_ref().unwrap();
    assert_eq!(error.method.as_deref(), Some("PUT"));
    if !matches!(breakage, Breakage::Flood(_)) {
        assert_eq!(error.http_status, None, "no answer: no status");
    }
    (entry, arrivals.all(), took)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_that_stalls_times_out_each_request() {
    let timeout = Duration::from_secs(TIMEOUT_SECS);
    let (entry, seen, took) = against(
        Breakage::Stall,
        Knobs {
            max_retries: 1,
            ..Knobs::default()
        },
    )
    .await;
    // A PUT is idempotent: retried once, each try cut at the timeout.
    assert_eq!(seen.len(), 2, "{seen:#?}");
    assert_eq!(entry.attempts.len(), 2);
    let first_try = seen[1].at - seen[0].at;
    assert!(
        first_try >= timeout && first_try < timeout + MARGIN,
        "{first_try:?}"
    );
    assert!(
        took >= timeout * 2 && took < timeout * 2 + MARGIN,
        "{took:?}"
    );
    assert!(
        message(&entry).contains("no answer within 2s (timed out)"),
        "{}",
        message(&entry)
    );
    assert!(
        message(&entry).contains("gave up after 2 attempts"),
        "{}",
        message(&entry)
    );
    println!(
        "stalling destination, timeout 2 s, 1 retry: first try failed after {first_try:?}, \
         Failed after {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_answering_one_byte_a_second_times_out() {
    let timeout = Duration::from_secs(TIMEOUT_SECS);
    let (entry, seen, took) = against(Breakage::Trickle, Knobs::default()).await;
    assert_eq!(seen.len(), 1);
    assert!(took >= timeout && took < timeout + MARGIN, "{took:?}");
    assert!(
        message(&entry).contains("no answer within 2s (timed out)"),
        "{}",
        message(&entry)
    );
    println!("one byte a second, timeout 2 s: Failed after {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_that_resets_the_connection_fails_with_a_connection_error() {
    let (entry, seen, took) = against(Breakage::Reset, Knobs::default()).await;
    assert_eq!(seen.len(), 1);
    assert!(
        took < Duration::from_secs(TIMEOUT_SECS) + MARGIN,
        "{took:?}"
    );
    let text = message(&entry);
    assert!(text.starts_with("connection error"), "{text}");
    println!("reset after the request: Failed after {took:?}: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_that_closes_mid_headers_fails_with_a_connection_error() {
    let (entry, seen, took) = against(
        Breakage::CloseMidHeaders,
        Knobs {
            max_retries: 1,
            ..Knobs::default()
        },
    )
    .await;
    // An answer cut short may or may not have been applied; a PUT is safe to send again.
    assert_eq!(seen.len(), 2);
    assert!(
        took < Duration::from_secs(TIMEOUT_SECS) + MARGIN,
        "{took:?}"
    );
    let text = message(&entry);
    assert!(text.starts_with("connection error"), "{text}");
    println!("closed mid-headers, 1 retry: Failed after {took:?}: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_10_mib_error_body_is_cut_to_a_4_kib_excerpt() {
    let (entry, seen, took) = against(Breakage::Flood(10 * 1024 * 1024), Knobs::default()).await;
    assert_eq!(seen.len(), 1);
    assert!(
        took < Duration::from_secs(TIMEOUT_SECS) + MARGIN,
        "{took:?}"
    );
    let error = entry.error.as_ref().unwrap();
    assert_eq!(error.http_status, Some(500));
    assert!(
        error.message.starts_with("HTTP 500 Internal Server Error"),
        "{}",
        error.message
    );
    assert!(error.message.len() < 1024, "{}", error.message.len());
    let excerpt = error.response_excerpt.as_deref().expect("an excerpt");
    assert!(excerpt.len() <= 4 * 1024, "{} bytes", excerpt.len());
    assert!(excerpt.starts_with("xxxx"), "{excerpt}");
    println!(
        "10 MiB error body: Failed after {took:?}, excerpt {} bytes",
        excerpt.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_error_body_is_not_read_to_its_end() {
    // Bigger than every socket buffer on the way: if the client read the whole body, the server
    // would get it all out; a client that stops at its cap leaves most of it unsent.
    const SIZE: usize = 256 * 1024 * 1024;
    let (addr, arrivals, flooded) = raw_destination_counting(Breakage::Flood(SIZE), true).await;
    let setup = setup(source(1).await, addr, &Knobs::default());
    let (run, _, took) = run_live(&setup).await;
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(arrivals.all().len(), 1);
    let entry = only_entry(&setup, &run);
    assert_eq!(entry.status, EntryStatus::Failed);
    // The server stops writing once the client has closed; give it a moment to notice.
    let mut sent = flooded.load(Ordering::SeqCst);
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = flooded.load(Ordering::SeqCst);
        if now == sent {
            break;
        }
        sent = now;
    }
    assert!(
        sent < SIZE / 4,
        "{sent} of {SIZE} bytes went out: the body was read whole"
    );
    println!(
        "256 MiB error body: Failed after {took:?}; {:.1} MiB left the server before the client \
         closed",
        sent as f64 / (1024.0 * 1024.0)
    );
}

// ----- a POST of unknown fate -----------------------------------------------------------------

/// A Full Live run of one record missing at the destination (so it is created by POST) against
/// a destination that breaks the POST.
async fn create_against(breakage: Breakage) -> (ReportEntry, Vec<Arrival>, Duration) {
    let (addr, arrivals) = raw_destination(breakage, false).await;
    let setup = setup(
        source(1).await,
        addr,
        &Knobs {
            max_retries: 3,
            ..Knobs::default()
        },
    );
    let (run, events, took) = run_live(&setup).await;
    assert_eq!(run.status, RunStatus::Completed);
    assert!(
        retry_delays(&events).is_empty(),
        "a POST of unknown fate is not retried"
    );
    let entry = only_entry(&setup, &run);
    (entry, arrivals.all(), took)
}

fn assert_outcome_unknown(entry: &ReportEntry, seen: &[Arrival]) {
    assert_eq!(seen.len(), 1, "exactly one POST: {seen:#?}");
    assert_eq!(seen[0].method, "POST");
    assert_eq!(entry.status, EntryStatus::Failed, "{entry:#?}");
    assert_eq!(entry.reason.as_deref(), Some("outcome_unknown"));
    assert_eq!(entry.attempts.len(), 1);
    let text = message(entry);
    assert!(text.starts_with("outcome unknown"), "{text}");
    assert!(
        text.contains("check the destination before a resync"),
        "{text}"
    );
    assert_eq!(
        entry.error.as_ref().unwrap().method.as_deref(),
        Some("POST")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_that_times_out_is_sent_once_and_its_outcome_is_unknown() {
    let (entry, seen, took) = create_against(Breakage::Stall).await;
    assert_outcome_unknown(&entry, &seen);
    assert!(message(&entry).contains("timed out"), "{}", message(&entry));
    // Nothing is sent after the run either.
    tokio::time::sleep(Duration::from_millis(300)).await;
    println!(
        "stalled POST: 1 request, Failed (outcome unknown) after {took:?}: {}",
        message(&entry)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_whose_connection_resets_is_sent_once_and_its_outcome_is_unknown() {
    let (entry, seen, took) = create_against(Breakage::Reset).await;
    assert_outcome_unknown(&entry, &seen);
    println!("reset POST: 1 request, Failed (outcome unknown) after {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_answered_504_by_a_gateway_is_sent_once_and_its_outcome_is_unknown() {
    let arrivals = Arc::new(Arrivals::default());
    let writes = Router::new()
        .route(
            "/things",
            axum::routing::post(|State(seen): State<Arc<Arrivals>>| async move {
                seen.record("POST", "/things");
                (StatusCode::GATEWAY_TIMEOUT, "upstream timed out")
            }),
        )
        .with_state(arrivals.clone());
    let setup = setup(
        source(1).await,
        destination(writes, false).await,
        &Knobs {
            max_retries: 3,
            ..Knobs::default()
        },
    );
    let (run, events, took) = run_live(&setup).await;
    assert_eq!(run.status, RunStatus::Completed);
    assert!(retry_delays(&events).is_empty());
    let entry = only_entry(&setup, &run);
    assert_outcome_unknown(&entry, &arrivals.all());
    assert_eq!(entry.error.as_ref().unwrap().http_status, Some(504));
    assert!(message(&entry).contains("HTTP 504"), "{}", message(&entry));
    println!("POST answered 504: 1 request, Failed (outcome unknown) after {took:?}");
}

// ----- the screen while a destination stalls --------------------------------------------------

#[test]
fn the_screen_keeps_drawing_while_every_write_stalls() {
    const RECORDS: usize = 6;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (setup, arrivals) = runtime.block_on(async {
        let (addr, arrivals) = raw_destination(Breakage::Stall, true).await;
        let setup = setup(source(RECORDS).await, addr, &Knobs::default());
        (setup, arrivals)
    });
    let mut engine = {
        let _guard = runtime.enter();
        engine::spawn(setup.config.clone(), setup.store.clone())
    };
    let (mut app, mut from_app) =
        screen::app_over(setup.config.clone(), &setup.store, screen::plain());
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    engine.commands.send(full_live()).unwrap();

    // The TUI's loop, on this thread: engine events in, a tick a second, a frame every turn.
    let started = Instant::now();
    let mut last_frame = Instant::now();
    let mut last_tick = Instant::now();
    let mut longest = Duration::ZERO;
    let mut frames = 0u32;
    let mut finished = None;
    while finished.is_none() {
        assert!(
            started.elapsed() < RUN_LIMIT,
            "the run did not finish within {RUN_LIMIT:?}"
        );
        while let Ok(event) = engine.events.try_recv() {
            if let Event::RunFinished { run } = &event {
                finished = Some(run.clone());
            }
            app.handle_engine(event);
        }
        while let Ok(command) = from_app.try_recv() {
            engine.commands.send(command).unwrap();
        }
        if last_tick.elapsed() >= Duration::from_secs(1) {
            app.tick();
            last_tick = Instant::now();
        }
        terminal.draw(|frame| app.draw(frame)).unwrap();
        frames += 1;
        longest = longest.max(last_frame.elapsed());
        last_frame = Instant::now();
        std::thread::sleep(Duration::from_millis(16));
    }
    let took = started.elapsed();
    let run = finished.unwrap();
    engine.commands.send(Command::Shutdown).unwrap();
    runtime
        .block_on(async { tokio::time::timeout(RUN_LIMIT, engine.task).await })
        .expect("the engine did not stop")
        .unwrap();

    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(arrivals.all().len(), RECORDS);
    let recorded = entries(&setup.store, run.id);
    assert_eq!(recorded.len(), RECORDS);
    assert!(recorded.iter().all(|e| e.status == EntryStatus::Failed));
    // Three rounds of two stalled writes, each cut at the timeout.
    assert!(took >= Duration::from_secs(TIMEOUT_SECS * 3), "{took:?}");
    // The screen shows the finished run.
    let screen = terminal.backend().to_string();
    assert!(
        screen.contains("Faulty destination") || screen.contains("dest"),
        "{screen}"
    );
    assert!(
        longest < Duration::from_secs(1),
        "a frame waited {longest:?}"
    );
    println!(
        "stalling destination, {RECORDS} writes: {frames} frames over {took:?}, longest wait \
         between frames {longest:?}"
    );
}
