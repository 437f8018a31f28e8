//! Writing records over real loopback HTTP: the demo destinations (CMDB, XML registry, MDM) and
//! small axum servers that misbehave on purpose (503s, 429 with Retry-After, a stalled POST, a
//! credential echoed back, a 10 MiB error body).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{patch, post, put};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use syncdeck::config::{
    self, BodyFormat, Config, Connection, Credential, CredentialKind, Environment, FetchContract,
    Method, Pagination, ResultsPosition, SecretRef, WriteContract, secret,
};
use syncdeck::demo::{self, DemoOptions, DemoServer};
use syncdeck::engine::deliver::{Deliverer, RetryNotice, WriteKind, WriteRequest, WriteResult};
use syncdeck::engine::http::HttpClient;
use syncdeck::engine::limit::RateLimiter;
use syncdeck::engine::retry::RetryPolicy;
use syncdeck::store::EntryStatus;

const SEED: u64 = 7;

// ----- helpers --------------------------------------------------------------------------------

/// Short backoff steps so retries take milliseconds.
fn fast_policy(max_retries: u32) -> RetryPolicy {
    RetryPolicy {
        max_retries,
        base: Duration::from_millis(100),
        cap: Duration::from_secs(2),
        max_retry_after: Duration::from_secs(10),
    }
}

async fn demo_server(fleet_size: usize) -> (DemoServer, Config) {
    let server = demo::start(
        ([127, 0, 0, 1], 0).into(),
        DemoOptions {
            fleet_size,
            seed: SEED,
        },
    )
    .await
    .expect("the demo server starts");
    let text = demo::config_for(server.addr());
    let env = Environment::with_fallbacks(demo::demo_secrets().iter().copied());
    let config = config::parse(&text, Path::new("demo.toml"), &env).expect("the demo config");
    (server, config)
}

fn demo_connection(config: &Config, name: &str) -> Connection {
    config.connection(name).expect("a demo connection").clone()
}

fn deliverer_for(config: &Config, connection: &Connection) -> Deliverer {
    let credential = connection
        .credential
        .as_deref()
        .and_then(|name| config.credential(name));
    let client = HttpClient::new(
        &connection.base_url,
        credential,
        Duration::from_secs(connection.timeout_secs),
        connection.concurrency,
    )
    .expect("an HTTP client");
    Deliverer::new(
        client,
        connection,
        RateLimiter::new(connection.rate_limit_per_sec),
    )
    .with_policy(fast_policy(connection.max_retries))
}

fn reqwest_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("a reqwest client")
}

/// The destination records for a serial, read as the fetch contracts do.
async fn lookup(server: &DemoServer, system: &str, serial: &str) -> Vec<Value> {
    let (path, position) = match system {
        "cmdb" => (
            format!("/cmdb/api/assets?serial_number={serial}"),
            "/result",
        ),
        "registry" => (format!("/registry/devices?serial={serial}"), "/devices"),
        _ => (format!("/mdm/v1/devices?serial={serial}"), ""),
    };
    let body: Value = reqwest_client()
        .get(format!("{}{path}", server.base_url()))
        .send()
        .await
        .expect("lookup answered")
        .json()
        .await
        .expect("a JSON lookup");
    body.pointer(position)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

async fn destination_id(server: &DemoServer, system: &str, serial: &str, field: &str) -> String {
    let records = lookup(server, system, serial).await;
    records[0][field]
        .as_str()
        .expect("the record has an id")
        .to_string()
}

/// Fleet indices whose traits satisfy `wanted`.
fn indices(server: &DemoServer, wanted: impl Fn(&demo::DeviceTraits) -> bool) -> Vec<usize> {
    (0..server.fleet().len())
        .filter(|i| server.fleet().traits(*i).is_some_and(|t| wanted(&t)))
        .collect()
}

async fn write(
    deliverer: &Deliverer,
    kind: WriteKind,
    serial: &str,
    payload: &Value,
) -> WriteResult {
    deliverer
        .write(
            WriteRequest {
                kind,
                serial,
                payload,
            },
            &mut |_| {},
        )
        .await
}

/// Writes and keeps every retry notice.
async fn write_noting(
    deliverer: &Deliverer,
    kind: WriteKind,
    serial: &str,
    payload: &Value,
) -> (WriteResult, Vec<RetryNotice>) {
    let mut notices = Vec::new();
    let mut note = |notice: RetryNotice| notices.push(notice);
    let result = deliverer
        .write(
            WriteRequest {
                kind,
                serial,
                payload,
            },
            &mut note,
        )
        .await;
    (result, notices)
}

fn update(id: &str) -> WriteKind {
    WriteKind::Update {
        target_id: Some(id.to_string()),
    }
}

fn error_of(result: &WriteResult) -> &syncdeck::store::EntryError {
    result
        .error
        .as_ref()
        .expect("a failed write has error details")
}

// ----- test servers ---------------------------------------------------------------------------

/// What a test server saw: when each request arrived, and the bodies it got.
#[derive(Default)]
struct Seen {
    requests: AtomicUsize,
    times: Mutex<Vec<(Instant, DateTime<Utc>)>>,
    deadline: Mutex<Option<DateTime<Utc>>>,
}

impl Seen {
    /// Counts a request and returns its number, from 0.
    fn arrive(&self) -> usize {
        self.times
            .lock()
            .unwrap()
            .push((Instant::now(), Utc::now()));
        self.requests.fetch_add(1, Ordering::SeqCst)
    }

    fn count(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("its address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    addr
}

fn contract(method: Method, path: &str) -> WriteContract {
    WriteContract {
        method,
        path: path.to_string(),
        body: BodyFormat::Json,
        success_when: None,
    }
}

/// A connection to a test server: updates with `update`, creates with `create`.
fn test_connection(
    addr: SocketAddr,
    update: WriteContract,
    create: Option<WriteContract>,
    max_retries: u32,
) -> Connection {
    Connection {
        name: "test".into(),
        system: "Test system".into(),
        source: "source".into(),
        credential: None,
        base_url: format!("http://{addr}"),
        dry_run: false,
        concurrency: 2,
        concurrency_auto: false,
        max_retries,
        timeout_secs: 1,
        rate_limit_per_sec: None,
        max_retry_after_secs: 120,
        abort_after: 5,
        verify: false,
        headers: Vec::new(),
        fetch: FetchContract {
            path: "/things".into(),
            query: BTreeMap::from([("serial".to_string(), "{serial}".to_string())]),
            results_position: ResultsPosition::Root,
            serial_field: "serial".into(),
            id_field: "id".into(),
            bulk: false,
            pagination: Pagination::None,
            stop: Default::default(),
            missing_when: None,
        },
        update,
        create,
        mapping: Vec::new(),
        lookups: Vec::new(),
    }
}

fn test_deliverer(
    connection: &Connection,
    credential: Option<&Credential>,
    policy: RetryPolicy,
) -> Deliverer {
    let client = HttpClient::new(
        &connection.base_url,
        credential,
        Duration::from_secs(connection.timeout_secs),
        1,
    )
    .expect("an HTTP client");
    Deliverer::new(client, connection, RateLimiter::new(None)).with_policy(policy)
}

fn payload() -> Value {
    json!({"name": "host-1", "ram_gb": 16})
}

// ----- the demo destinations ------------------------------------------------------------------

#[tokio::test]
async fn cmdb_patch_is_ok_and_lands() {
    let (server, config) = demo_server(200).await;
    let cmdb = demo_connection(&config, "cmdb");
    let deliverer = deliverer_for(&config, &cmdb);
    let index = indices(&server, |t| !t.cmdb.missing)[0];
    let serial = demo::Fleet::serial(index);
    let sys_id = destination_id(&server, "cmdb", &serial, "sys_id").await;

    let result = write(
        &deliverer,
        update(&sys_id),
        &serial,
        &json!({"name": "renamed-host", "ram_gb": 64}),
    )
    .await;
    assert_eq!(result.status, EntryStatus::Ok, "{result:?}");
    assert_eq!(result.http_status, Some(200));
    assert_eq!(result.attempts.len(), 1);
    assert_eq!(result.target_id.as_deref(), Some(sys_id.as_str()));
    assert!(result.error.is_none() && !result.contract_level && !result.outcome_unknown);
    let record = &lookup(&server, "cmdb", &serial).await[0];
    assert_eq!(record["name"], json!("renamed-host"));
    assert_eq!(record["ram_gb"], json!(64));
}

#[tokio::test]
async fn cmdb_put_is_405_contract_level_with_the_method_hint() {
    let (server, config) = demo_server(200).await;
    let wrong = demo_connection(&config, "cmdb-wrong-method");
    let deliverer = deliverer_for(&config, &wrong);
    let index = indices(&server, |t| !t.cmdb.missing)[0];
    let serial = demo::Fleet::serial(index);
    let sys_id = destination_id(&server, "cmdb", &serial, "sys_id").await;

    let result = write(&deliverer, update(&sys_id), &serial, &json!({"name": "x"})).await;
    assert_eq!(result.status, EntryStatus::Failed);
    assert_eq!(result.http_status, Some(405));
    assert!(result.contract_level);
    assert_eq!(result.attempts.len(), 1, "a 405 is not retried");
    let error = error_of(&result);
    assert_eq!(error.http_status, Some(405));
    assert_eq!(error.code.as_deref(), Some("METHOD_NOT_ALLOWED"));
    assert!(error.hint.as_deref().unwrap_or_default().contains("method"));
    assert_eq!(error.method.as_deref(), Some("PUT"));
    let url = error.url.as_deref().unwrap_or_default();
    assert!(
        url.ends_with(&format!("/cmdb/api/assets/{sys_id}")),
        "{url}"
    );
    assert!(error.message.contains("405"), "{}", error.message);
    assert!(
        error
            .response_excerpt
            .as_deref()
            .unwrap_or_default()
            .contains("METHOD_NOT_ALLOWED")
    );
}

#[tokio::test]
async fn registry_refuses_json_with_415_and_the_formatter_hint() {
    let (server, config) = demo_server(200).await;
    let mut registry = demo_connection(&config, "registry");
    registry.update.body = BodyFormat::Json;
    let deliverer = deliverer_for(&config, &registry);
    let index = indices(&server, |t| !t.registry.missing)[0];
    let serial = demo::Fleet::serial(index);
    let id = destination_id(&server, "registry", &serial, "id").await;

    let result = write(&deliverer, update(&id), &serial, &json!({"hostname": "X"})).await;
    assert_eq!(result.status, EntryStatus::Failed);
    assert_eq!(result.http_status, Some(415));
    assert!(result.contract_level);
    let error = error_of(&result);
    assert_eq!(error.code.as_deref(), Some("UNSUPPORTED_MEDIA_TYPE"));
    assert!(
        error
            .hint
            .as_deref()
            .unwrap_or_default()
            .contains("formatter")
    );
    assert!(
        error
            .response_excerpt
            .as_deref()
            .unwrap_or_default()
            .contains("<error>")
    );
}

#[tokio::test]
async fn registry_takes_xml_and_stores_it() {
    let (server, config) = demo_server(200).await;
    let registry = demo_connection(&config, "registry");
    let deliverer = deliverer_for(&config, &registry);
    let index = indices(&server, |t| !t.registry.missing && !t.unknown_site)[0];
    let serial = demo::Fleet::serial(index);
    let id = destination_id(&server, "registry", &serial, "id").await;

    let payload = json!({"hostname": "LT-AMS1-TEST & CO", "site": "BER2", "owner": null});
    let result = write(&deliverer, update(&id), &serial, &payload).await;
    assert_eq!(result.status, EntryStatus::Ok, "{result:?}");
    assert_eq!(result.http_status, Some(200));
    let record = &lookup(&server, "registry", &serial).await[0];
    assert_eq!(record["hostname"], json!("LT-AMS1-TEST & CO"));
    assert_eq!(record["site"], json!("BER2"));
    assert_eq!(record["owner"], Value::Null);
}

#[tokio::test]
async fn registry_unknown_xml_field_is_400_invalid_content() {
    let (server, config) = demo_server(200).await;
    let registry = demo_connection(&config, "registry");
    let deliverer = deliverer_for(&config, &registry);
    let index = indices(&server, |t| !t.registry.missing)[0];
    let serial = demo::Fleet::serial(index);
    let id = destination_id(&server, "registry", &serial, "id").await;

    let result = write(&deliverer, update(&id), &serial, &json!({"ram_gb": 16})).await;
    assert_eq!(result.status, EntryStatus::Failed);
    assert_eq!(result.http_status, Some(400));
    assert!(!result.contract_level, "a 400 is about this record");
    assert_eq!(result.attempts.len(), 1);
    let error = error_of(&result);
    assert_eq!(error.code.as_deref(), Some("INVALID_CONTENT"));
    assert!(error.message.contains("ram_gb"), "{}", error.message);
    assert!(
        error
            .hint
            .as_deref()
            .unwrap_or_default()
            .contains("mapping target names and formatters")
    );
}

#[tokio::test]
async fn registry_create_returns_the_new_id() {
    let (server, config) = demo_server(400).await;
    let registry = demo_connection(&config, "registry");
    let deliverer = deliverer_for(&config, &registry);
    let index = indices(&server, |t| t.registry.missing && !t.unknown_site)[0];
    let serial = demo::Fleet::serial(index);
    let payload =
        json!({"serial": serial, "hostname": "LT-NEW", "site": "AMS1", "lifecycle": "active"});

    let result = write(&deliverer, WriteKind::Create, &serial, &payload).await;
    assert_eq!(result.status, EntryStatus::Ok, "{result:?}");
    assert_eq!(result.http_status, Some(201));
    let id = destination_id(&server, "registry", &serial, "id").await;
    assert_eq!(result.target_id.as_deref(), Some(id.as_str()));

    // Creating again is a 409, reported and not retried.
    let again = write(&deliverer, WriteKind::Create, &serial, &payload).await;
    assert_eq!(again.http_status, Some(409));
    assert_eq!(error_of(&again).code.as_deref(), Some("ALREADY_EXISTS"));
    assert!(!again.contract_level && !again.outcome_unknown);
}

#[tokio::test]
async fn mdm_answers_202_sent_and_verify_sees_the_fields() {
    let (server, config) = demo_server(200).await;
    let mdm = demo_connection(&config, "mdm");
    let deliverer = deliverer_for(&config, &mdm);
    let index = indices(&server, |t| !t.mdm.missing && !t.mdm_flaky && !t.mdm_outage)[0];
    let serial = demo::Fleet::serial(index);
    let id = destination_id(&server, "mdm", &serial, "id").await;

    let payload =
        json!({"device_name": "renamed", "memory_gb": 32, "user": {"email": "a@example.com"}});
    let result = write(&deliverer, update(&id), &serial, &payload).await;
    assert_eq!(result.status, EntryStatus::Sent, "{result:?}");
    assert_eq!(result.http_status, Some(202));
    assert_eq!(result.attempts.len(), 1);

    assert_eq!(deliverer.verify(&serial, &payload).await, Ok(true));
    // Numbers compare by value.
    let as_float = json!({"memory_gb": 32.0, "user.email": "a@example.com"});
    assert_eq!(deliverer.verify(&serial, &as_float).await, Ok(true));
    // A field that did not land, and a serial the MDM does not have.
    let other = json!({"device_name": "something else"});
    assert_eq!(deliverer.verify(&serial, &other).await, Ok(false));
    let missing = indices(&server, |t| t.mdm.missing)[0];
    let missing_serial = demo::Fleet::serial(missing);
    assert_eq!(deliverer.verify(&missing_serial, &payload).await, Ok(false));
}

#[tokio::test]
async fn a_flaky_mdm_device_is_retried_once_then_sent() {
    let (server, config) = demo_server(1_000).await;
    let mdm = demo_connection(&config, "mdm");
    let deliverer = deliverer_for(&config, &mdm);
    let index = indices(&server, |t| !t.mdm.missing && t.mdm_flaky)[0];
    let serial = demo::Fleet::serial(index);
    let id = destination_id(&server, "mdm", &serial, "id").await;

    let (result, notices) = write_noting(
        &deliverer,
        update(&id),
        &serial,
        &json!({"device_name": "x"}),
    )
    .await;
    assert_eq!(result.status, EntryStatus::Sent, "{result:?}");
    assert_eq!(result.attempts.len(), 2);
    assert_eq!(result.attempts[0].http_status, Some(503));
    assert!(
        result.attempts[0]
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("SERVICE_UNAVAILABLE")
    );
    assert_eq!(result.attempts[1].http_status, Some(202));
    assert!(result.attempts[1].error.is_none());
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].attempt, 1);
    assert!(notices[0].reason.contains("503"), "{}", notices[0].reason);
}

#[tokio::test]
async fn the_25th_mdm_write_waits_out_its_429() {
    let (server, config) = demo_server(400).await;
    let mdm = demo_connection(&config, "mdm");
    let deliverer = deliverer_for(&config, &mdm);
    let healthy = indices(&server, |t| !t.mdm.missing && !t.mdm_flaky && !t.mdm_outage);
    assert!(healthy.len() > demo::MDM_THROTTLED_WRITE as usize);
    let payload = json!({"device_name": "bulk"});
    for index in &healthy[..demo::MDM_THROTTLED_WRITE as usize - 1] {
        let serial = demo::Fleet::serial(*index);
        let id = destination_id(&server, "mdm", &serial, "id").await;
        let result = write(&deliverer, update(&id), &serial, &payload).await;
        assert_eq!(result.status, EntryStatus::Sent, "{result:?}");
        assert_eq!(result.attempts.len(), 1);
    }
    let serial = demo::Fleet::serial(healthy[demo::MDM_THROTTLED_WRITE as usize - 1]);
    let id = destination_id(&server, "mdm", &serial, "id").await;
    let started = Instant::now();
    let (result, notices) = write_noting(&deliverer, update(&id), &serial, &payload).await;
    let took = started.elapsed();
    assert_eq!(result.status, EntryStatus::Sent, "{result:?}");
    assert_eq!(result.attempts.len(), 2);
    assert_eq!(result.attempts[0].http_status, Some(429));
    assert_eq!(notices.len(), 1);
    assert!(
        notices[0].delay >= Duration::from_secs(1),
        "{:?}",
        notices[0]
    );
    assert!(took >= Duration::from_secs(1), "{took:?}");
    let gap = result.attempts[1].at - result.attempts[0].at;
    assert!(gap >= chrono::Duration::seconds(1), "{gap:?}");
}

// ----- misbehaving test servers ---------------------------------------------------------------

#[tokio::test]
async fn three_503s_then_200_takes_four_requests_with_growing_delays() {
    let seen = Arc::new(Seen::default());
    let router = Router::new()
        .route(
            "/things/{id}",
            put(|State(seen): State<Arc<Seen>>| async move {
                if seen.arrive() < 3 {
                    (StatusCode::SERVICE_UNAVAILABLE, "try later").into_response()
                } else {
                    (StatusCode::OK, "{}").into_response()
                }
            }),
        )
        .with_state(seen.clone());
    let addr = serve(router).await;
    let connection = test_connection(addr, contract(Method::Put, "/things/{id}"), None, 3);
    let deliverer = test_deliverer(&connection, None, fast_policy(3));

    let (result, notices) = write_noting(&deliverer, update("T-1"), "S-1", &payload()).await;
    assert_eq!(result.status, EntryStatus::Ok, "{result:?}");
    assert_eq!(seen.count(), 4);
    assert_eq!(result.attempts.len(), 4);
    let statuses: Vec<_> = result.attempts.iter().map(|a| a.http_status).collect();
    assert_eq!(statuses, [Some(503), Some(503), Some(503), Some(200)]);
    assert_eq!(notices.len(), 3);
    assert_eq!(
        notices.iter().map(|n| n.attempt).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    for pair in notices.windows(2) {
        assert!(pair[0].delay <= pair[1].delay, "{notices:?}");
    }
    assert!(notices[2].delay > notices[0].delay, "{notices:?}");
    // The server saw the waits: each gap at least the delay announced before it.
    let times = seen.times.lock().unwrap().clone();
    for (i, notice) in notices.iter().enumerate() {
        let gap = times[i + 1].0 - times[i].0;
        assert!(gap >= notice.delay, "gap {gap:?} < {:?}", notice.delay);
    }
}

#[tokio::test]
async fn server_errors_beyond_max_retries_fail_with_the_destination_down_hint() {
    let seen = Arc::new(Seen::default());
    let router = Router::new()
        .route(
            "/things/{id}",
            patch(|State(seen): State<Arc<Seen>>| async move {
                seen.arrive();
                (StatusCode::BAD_GATEWAY, "upstream gone")
            }),
        )
        .with_state(seen.clone());
    let addr = serve(router).await;
    let connection = test_connection(addr, contract(Method::Patch, "/things/{id}"), None, 2);
    let deliverer = test_deliverer(&connection, None, fast_policy(2));

    let result = write(&deliverer, update("T-1"), "S-1", &payload()).await;
    assert_eq!(result.status, EntryStatus::Failed);
    assert_eq!(seen.count(), 3);
    assert_eq!(result.attempts.len(), 3);
    assert_eq!(result.http_status, Some(502));
    let error = error_of(&result);
    assert!(
        error.message.contains("gave up after 3 attempts"),
        "{}",
        error.message
    );
    assert!(
        error
            .hint
            .as_deref()
            .unwrap_or_default()
            .contains("destination down")
    );
    assert!(!result.contract_level);
}

#[tokio::test]
async fn retry_after_as_an_http_date_is_honoured() {
    let seen = Arc::new(Seen::default());
    let router = Router::new()
        .route(
            "/things/{id}",
            patch(|State(seen): State<Arc<Seen>>| async move {
                if seen.arrive() == 0 {
                    // A whole second at least 2 s ahead (HTTP dates have no fractions).
                    let ahead = Utc::now().timestamp() + 3;
                    let deadline = DateTime::from_timestamp(ahead, 0).unwrap();
                    *seen.deadline.lock().unwrap() = Some(deadline);
                    let date = deadline.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
                    let mut response = (StatusCode::TOO_MANY_REQUESTS, "slow down").into_response();
                    response
                        .headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from_str(&date).unwrap());
                    response
                } else {
                    StatusCode::NO_CONTENT.into_response()
                }
            }),
        )
        .with_state(seen.clone());
    let addr = serve(router).await;
    let connection = test_connection(addr, contract(Method::Patch, "/things/{id}"), None, 2);
    let deliverer = test_deliverer(&connection, None, fast_policy(2));

    let (result, notices) = write_noting(&deliverer, update("T-1"), "S-1", &payload()).await;
    assert_eq!(result.status, EntryStatus::Ok, "{result:?}");
    assert_eq!(seen.count(), 2);
    let deadline = seen.deadline.lock().unwrap().expect("a deadline was sent");
    let second = seen.times.lock().unwrap()[1].1;
    assert!(second >= deadline, "retried at {second}, before {deadline}");
    assert!(notices[0].delay >= Duration::from_secs(2), "{notices:?}");
}

#[tokio::test]
async fn a_retry_after_beyond_the_cap_fails_at_once_with_the_reason() {
    let seen = Arc::new(Seen::default());
    let router = Router::new()
        .route(
            "/things/{id}",
            patch(|State(seen): State<Arc<Seen>>| async move {
                seen.arrive();
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(header::RETRY_AFTER, "3600")],
                    r#"{"error": {"code": "RATE_LIMITED", "message": "come back in an hour"}}"#,
                )
            }),
        )
        .with_state(seen.clone());
    let addr = serve(router).await;
    let connection = test_connection(addr, contract(Method::Patch, "/things/{id}"), None, 4);
    let deliverer = test_deliverer(&connection, None, RetryPolicy::new(4));

    let started = Instant::now();
    let result = write(&deliverer, update("T-1"), "S-1", &payload()).await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(result.status, EntryStatus::Failed);
    assert_eq!(seen.count(), 1);
    assert_eq!(result.http_status, Some(429));
    let error = error_of(&result);
    assert!(
        error.message.contains("Retry-After of 3600s"),
        "{}",
        error.message
    );
    assert_eq!(error.code.as_deref(), Some("RATE_LIMITED"));
    assert!(
        error
            .hint
            .as_deref()
            .unwrap_or_default()
            .contains("rate limited")
    );
}

#[tokio::test]
async fn a_stalled_post_is_outcome_unknown_and_never_repeated() {
    let seen = Arc::new(Seen::default());
    let router = Router::new()
        .route(
            "/things",
            post(|State(seen): State<Arc<Seen>>| async move {
                seen.arrive();
                tokio::time::sleep(Duration::from_secs(10)).await;
                StatusCode::CREATED
            }),
        )
        .with_state(seen.clone());
    let addr = serve(router).await;
    let connection = test_connection(
        addr,
        contract(Method::Put, "/things/{id}"),
        Some(contract(Method::Post, "/things")),
        3,
    );
    let deliverer = test_deliverer(&connection, None, fast_policy(3));

    let started = Instant::now();
    let result = write(&deliverer, WriteKind::Create, "S-1", &payload()).await;
    let took = started.elapsed();
    assert_eq!(result.status, EntryStatus::Failed);
    assert!(result.outcome_unknown);
    assert!(!result.contract_level);
    assert_eq!(result.http_status, None);
    assert_eq!(result.attempts.len(), 1);
    let error = error_of(&result);
    assert!(
        error.message.starts_with("outcome unknown"),
        "{}",
        error.message
    );
    assert!(
        error
            .hint
            .as_deref()
            .unwrap_or_default()
            .contains("destination down")
    );
    assert_eq!(error.method.as_deref(), Some("POST"));
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(5),
        "{took:?}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(seen.count(), 1, "a POST of unknown fate is not sent again");
}

#[tokio::test]
async fn a_post_is_retried_only_when_the_server_did_nothing() {
    let seen = Arc::new(Seen::default());
    let router = Router::new()
        .route(
            "/things",
            post(|State(seen): State<Arc<Seen>>| async move {
                match seen.arrive() {
                    0 => StatusCode::SERVICE_UNAVAILABLE.into_response(),
                    1 => (
                        StatusCode::CREATED,
                        [(header::LOCATION, "/things/T%2F42")],
                        "created",
                    )
                        .into_response(),
                    _ => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
                }
            }),
        )
        .with_state(seen.clone());
    let addr = serve(router).await;
    let connection = test_connection(
        addr,
        contract(Method::Put, "/things/{id}"),
        Some(contract(Method::Post, "/things")),
        3,
    );
    let deliverer = test_deliverer(&connection, None, fast_policy(3));

    // 503 said "nothing done": retried, then the Location header gives the new id.
    let result = write(&deliverer, WriteKind::Create, "S-1", &payload()).await;
    assert_eq!(result.status, EntryStatus::Ok, "{result:?}");
    assert_eq!(result.attempts.len(), 2);
    assert_eq!(result.target_id.as_deref(), Some("T/42"));
    // A 500 to a POST may have done something: not retried.
    let result = write(&deliverer, WriteKind::Create, "S-2", &payload()).await;
    assert_eq!(result.status, EntryStatus::Failed);
    assert_eq!(result.attempts.len(), 1);
    assert_eq!(seen.count(), 3);
}

#[tokio::test]
async fn a_canary_credential_never_shows_in_the_result() {
    const CANARY: &str = "canary-Zx81-SECRET-token";
    let seen = Arc::new(Seen::default());
    let router = Router::new()
        .route(
            "/things/{id}",
            patch(
                |State(seen): State<Arc<Seen>>, headers: HeaderMap| async move {
                    let auth = headers
                        .get(header::AUTHORIZATION)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    let status = if seen.arrive() == 0 {
                        StatusCode::SERVICE_UNAVAILABLE
                    } else {
                        StatusCode::UNAUTHORIZED
                    };
                    let body = json!({
                        "error": {"code": format!("BAD_{auth}"), "message": format!("token rejected: {auth}")},
                        "echo": auth,
                    });
                    (status, axum::Json(body))
                },
            ),
        )
        .with_state(seen.clone());
    let addr = serve(router).await;
    let env_name = "SYNCDECK_DELIVER_TEST_CANARY_NEVER_SET";
    let env = Environment::with_fallbacks([(env_name, CANARY)]);
    let credential = Credential {
        name: "canary".into(),
        kind: CredentialKind::Bearer {
            token: secret::resolve(&SecretRef::Env(env_name.into()), &env).unwrap(),
        },
    };
    let path = format!("/things/{{id}}?access_token={CANARY}&note={CANARY}");
    let connection = test_connection(addr, contract(Method::Patch, &path), None, 2);
    let deliverer = test_deliverer(&connection, Some(&credential), fast_policy(2));

    let (result, notices) = write_noting(&deliverer, update("T-1"), "S-1", &payload()).await;
    assert_eq!(seen.count(), 2, "the 503 was retried, the 401 was not");
    assert_eq!(result.status, EntryStatus::Failed);
    assert_eq!(result.http_status, Some(401));
    assert!(result.contract_level);
    let error = error_of(&result);
    assert!(
        error
            .hint
            .as_deref()
            .unwrap_or_default()
            .contains("credential")
    );
    assert!(
        error.message.contains("token rejected"),
        "{}",
        error.message
    );
    let shown = format!("{result:?} {notices:?}");
    assert!(!shown.contains(CANARY), "the canary leaked: {shown}");
    assert!(
        !shown.contains("Zx81"),
        "part of the canary leaked: {shown}"
    );
    assert!(shown.contains("[redacted]"), "{shown}");
}

#[tokio::test]
async fn a_10_mib_error_body_keeps_a_4_kib_excerpt() {
    let seen = Arc::new(Seen::default());
    let router = Router::new()
        .route(
            "/things/{id}",
            put(|State(seen): State<Arc<Seen>>, _body: Bytes| async move {
                seen.arrive();
                let mut body = String::from("{\"error\": {\"code\": \"TOO_BIG\", \"message\": \"");
                body.push_str(&"é".repeat(5 * 1024 * 1024));
                body.push_str("\"}}");
                (
                    StatusCode::BAD_REQUEST,
                    [(header::CONTENT_TYPE, "application/json")],
                    body,
                )
            }),
        )
        .with_state(seen.clone());
    let addr = serve(router).await;
    let connection = test_connection(addr, contract(Method::Put, "/things/{id}"), None, 0);
    let deliverer = test_deliverer(&connection, None, fast_policy(0));

    let result = write(&deliverer, update("T-1"), "S-1", &payload()).await;
    assert_eq!(result.status, EntryStatus::Failed);
    assert_eq!(result.http_status, Some(400));
    let error = error_of(&result);
    let excerpt = error.response_excerpt.as_deref().expect("an excerpt");
    assert!(excerpt.len() <= 4 * 1024, "{} bytes", excerpt.len());
    assert!(excerpt.len() > 3 * 1024, "{} bytes", excerpt.len());
    assert!(excerpt.starts_with("{\"error\""));
    assert!(error.message.len() < 4 * 1024, "{}", error.message.len());
}

#[tokio::test]
async fn an_update_without_an_id_sends_nothing() {
    let seen = Arc::new(Seen::default());
    let router = Router::new()
        .route(
            "/things/{id}",
            put(|State(seen): State<Arc<Seen>>| async move {
                seen.arrive();
                StatusCode::OK
            }),
        )
        .with_state(seen.clone());
    let addr = serve(router).await;
    let connection = test_connection(addr, contract(Method::Put, "/things/{id}"), None, 2);
    let deliverer = test_deliverer(&connection, None, fast_policy(2));

    let result = write(
        &deliverer,
        WriteKind::Update { target_id: None },
        "S-1",
        &payload(),
    )
    .await;
    assert_eq!(result.status, EntryStatus::Failed);
    assert!(error_of(&result).message.starts_with("no destination id"));
    assert!(result.attempts.is_empty());
    // And a create with no create contract.
    let result = write(&deliverer, WriteKind::Create, "S-1", &payload()).await;
    assert_eq!(result.status, EntryStatus::Failed);
    assert_eq!(seen.count(), 0);
}

#[tokio::test]
async fn a_refused_connection_is_retried_then_destination_down() {
    // A port that was free a moment ago: nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let connection = test_connection(
        addr,
        contract(Method::Put, "/things/{id}"),
        Some(contract(Method::Post, "/things")),
        2,
    );
    let deliverer = test_deliverer(&connection, None, fast_policy(2));

    for kind in [update("T-1"), WriteKind::Create] {
        let (result, notices) = write_noting(&deliverer, kind, "S-1", &payload()).await;
        assert_eq!(result.status, EntryStatus::Failed);
        assert_eq!(result.attempts.len(), 3, "{result:?}");
        assert_eq!(notices.len(), 2);
        // A POST that never connected did nothing: its outcome is known.
        assert!(!result.outcome_unknown);
        let error = error_of(&result);
        assert!(
            error.message.contains("connection error"),
            "{}",
            error.message
        );
        assert!(
            error
                .hint
                .as_deref()
                .unwrap_or_default()
                .contains("destination down")
        );
        assert_eq!(error.http_status, None);
    }
}

#[tokio::test]
async fn writes_wait_for_the_rate_limit() {
    let seen = Arc::new(Seen::default());
    let router = Router::new()
        .route(
            "/things/{id}",
            put(|State(seen): State<Arc<Seen>>| async move {
                seen.arrive();
                StatusCode::OK
            }),
        )
        .with_state(seen.clone());
    let addr = serve(router).await;
    let connection = test_connection(addr, contract(Method::Put, "/things/{id}"), None, 0);
    let client = HttpClient::new(&connection.base_url, None, Duration::from_secs(1), 1).unwrap();
    let deliverer = Deliverer::new(client, &connection, RateLimiter::new(Some(4.0)));

    let started = Instant::now();
    for n in 0..8 {
        let result = write(&deliverer, update(&format!("T-{n}")), "S", &payload()).await;
        assert_eq!(result.status, EntryStatus::Ok);
    }
    // Four at once (the burst), then four at 4 a second.
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(950), "{took:?}");
    assert_eq!(seen.count(), 8);
}

#[test]
fn deliverers_are_shared_by_workers_on_any_thread() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>(_: T) {}
    send_sync::<Deliverer>();
    send_sync::<RateLimiter>();
    let addr: SocketAddr = ([127, 0, 0, 1], 9).into();
    let connection = test_connection(addr, contract(Method::Put, "/things/{id}"), None, 0);
    let deliverer = test_deliverer(&connection, None, fast_policy(0));
    let payload = payload();
    // The futures are only built, never polled: they must be spawnable.
    send(deliverer.write(
        WriteRequest {
            kind: update("T"),
            serial: "S",
            payload: &payload,
        },
        &mut |_| {},
    ));
    send(deliverer.verify("S", &payload));
}

#[tokio::test]
async fn a_redirect_to_another_origin_is_not_followed() {
    let elsewhere = Arc::new(Seen::default());
    let other = serve(
        Router::new()
            .route(
                "/things/{id}",
                put(|State(seen): State<Arc<Seen>>| async move {
                    seen.arrive();
                    StatusCode::OK
                }),
            )
            .with_state(elsewhere.clone()),
    )
    .await;
    let location = format!("http://{other}/things/T-1");
    let addr = serve(Router::new().route(
        "/things/{id}",
        put(move || {
            let location = location.clone();
            async move {
                (
                    StatusCode::TEMPORARY_REDIRECT,
                    [(header::LOCATION, location)],
                )
            }
        }),
    ))
    .await;
    let connection = test_connection(addr, contract(Method::Put, "/things/{id}"), None, 2);
    let deliverer = test_deliverer(&connection, None, fast_policy(2));

    let result = write(&deliverer, update("T-1"), "S-1", &payload()).await;
    assert_eq!(result.status, EntryStatus::Failed);
    assert_eq!(result.http_status, Some(307));
    assert_eq!(result.attempts.len(), 1);
    assert!(
        error_of(&result)
            .hint
            .as_deref()
            .unwrap_or_default()
            .contains("another origin")
    );
    assert_eq!(elsewhere.count(), 0);
}
