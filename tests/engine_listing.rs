//! Listing the source and looking records up in destinations, over real loopback HTTP: the demo
//! systems for the styles they serve, and a test server built here for the rest (offset, cursor,
//! link, none, bare arrays, wrong envelopes, HTML, retries, cuts, cancellation).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use syncdeck::config::{
    self, Config, Credential, CredentialKind, Environment, FetchContract, Pagination,
    ResultsPosition, SecretRef, Source, secret,
};
use syncdeck::demo::{self, DemoOptions, DemoServer, Fleet};
use syncdeck::engine::http::HttpClient;
use syncdeck::engine::lookup::{Lookup, LookupError, list_destination, lookup_one};
use syncdeck::engine::retry::RetryPolicy;
use syncdeck::engine::source::{
    ListingEnd, ListingError, ListingSummary, Scope, SourceRecord, list_source,
};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

const FLEET_SIZE: usize = 1_234;
/// Records of the test server's listings.
const TOTAL: usize = 25;
const LIMIT: Duration = Duration::from_secs(60);

/// Runs a test body with a time limit, so a hung listing fails instead of hanging the suite.
async fn bounded<T>(body: impl Future<Output = T>) -> T {
    match tokio::time::timeout(LIMIT, body).await {
        Ok(value) => value,
        Err(_) => panic!("the test did not finish within {LIMIT:?}"),
    }
}

/// Short backoff steps so retry tests take milliseconds; Retry-After is still honoured.
fn fast_policy() -> RetryPolicy {
    RetryPolicy {
        base: Duration::from_millis(20),
        cap: Duration::from_millis(200),
        ..RetryPolicy::new(3)
    }
}

fn client(base_url: &str) -> HttpClient {
    HttpClient::new(base_url, None, Duration::from_secs(10), 4)
        .unwrap_or_else(|e| panic!("client for {base_url}: {e}"))
}

fn position_of(segments: &[&str]) -> syncdeck::config::Position {
    syncdeck::config::Position {
        segments: segments.iter().map(|s| s.to_string()).collect(),
        pointer: false,
    }
}

fn position(text: &str) -> ResultsPosition {
    ResultsPosition::parse(text).unwrap_or_else(|| panic!("bad results position {text}"))
}

fn source(base_url: &str, endpoint: &str, results: &str, pagination: Pagination) -> Source {
    Source {
        name: "test".into(),
        base_url: base_url.into(),
        endpoint: endpoint.into(),
        results_position: position(results),
        id_field: "serial".into(),
        single_query: BTreeMap::new(),
        credential: None,
        pagination,
        stop: Default::default(),
        timeout_secs: 10,
        query: Vec::new(),
        headers: Vec::new(),
        rate_limit_per_sec: None,
        max_retry_after_secs: 120,
    }
}

fn page_style(size: u64, max_pages: u64) -> Pagination {
    Pagination::Page {
        page_param: "page".into(),
        size_param: "per_page".into(),
        size,
        first_page: 1,
        max_pages,
    }
}

/// The outcome of a listing and the pages it delivered, each as the serials in it.
struct Listed {
    result: Result<ListingSummary, ListingError>,
    pages: Vec<Vec<SourceRecord>>,
}

impl Listed {
    fn summary(&self) -> &ListingSummary {
        match &self.result {
            Ok(summary) => summary,
            Err(error) => panic!("the listing failed: {error}"),
        }
    }

    fn error(&self) -> &ListingError {
        match &self.result {
            Ok(summary) => panic!("the listing succeeded: {summary:?}"),
            Err(error) => error,
        }
    }

    fn serials(&self) -> Vec<String> {
        self.pages
            .iter()
            .flatten()
            .map(|record| record.serial.clone())
            .collect()
    }
}

/// Lists `source` while a consumer drains the pages, as the engine does.
async fn list(source: &Source, scope: Scope, policy: RetryPolicy) -> Listed {
    let client = client(&source.base_url);
    let (_cancel_tx, cancel) = watch::channel(false);
    let (tx, mut rx) = mpsc::channel(2);
    let consume = async {
        let mut pages = Vec::new();
        while let Some(page) = rx.recv().await {
            pages.push(page);
        }
        pages
    };
    let (result, pages) = tokio::join!(
        list_source(&client, source, &scope, policy, &cancel, tx),
        consume
    );
    Listed { result, pages }
}

fn cut_reason(summary: &ListingSummary) -> String {
    match &summary.end {
        ListingEnd::Cut(cut) => cut.reason.clone(),
        other => panic!("expected a cut, got {other:?}"),
    }
}

fn expected_serials(count: usize) -> Vec<String> {
    (0..count).map(test_serial).collect()
}

// ---------------------------------------------------------------------------------------------
// The test server.

fn test_serial(index: usize) -> String {
    format!("T-{index:04}")
}

fn item(index: usize) -> Value {
    json!({"serial": test_serial(index), "n": index})
}

fn items(start: usize, count: usize, total: usize) -> Vec<Value> {
    (start..total.min(start.saturating_add(count)))
        .map(item)
        .collect()
}

#[derive(Default)]
struct TestState {
    base: OnceLock<String>,
    /// Requests per route and page ("flaky:2").
    hits: Mutex<HashMap<String, u32>>,
}

type Shared = Arc<TestState>;

impl TestState {
    /// Counts a request and returns how many of its kind came before it, this one included.
    fn hit(&self, key: String) -> u32 {
        let mut hits = self.hits.lock().unwrap_or_else(|e| e.into_inner());
        let count = hits.entry(key).or_default();
        *count += 1;
        *count
    }

    fn hits(&self, prefix: &str) -> u32 {
        let hits = self.hits.lock().unwrap_or_else(|e| e.into_inner());
        hits.iter()
            .filter(|(key, _)| key.starts_with(prefix))
            .map(|(_, count)| *count)
            .sum()
    }
}

struct TestServer {
    base: String,
    state: Shared,
}

type Params = Query<HashMap<String, String>>;

fn number(query: &HashMap<String, String>, name: &str, default: usize) -> usize {
    query
        .get(name)
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// Page `page` (from 1) of `total` records, `per_page` at a time.
fn page_of(query: &HashMap<String, String>, total: usize) -> (usize, Vec<Value>) {
    let page = number(query, "page", 1).max(1);
    let per_page = number(query, "per_page", 10).max(1);
    (page, items((page - 1) * per_page, per_page, total))
}

fn json_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

async fn offset_items(Query(query): Params) -> Response {
    let offset = number(&query, "offset", 0);
    let limit = number(&query, "limit", 10);
    axum::Json(json!({"result": items(offset, limit, TOTAL)})).into_response()
}

async fn cursor_items(Query(query): Params) -> Response {
    let start = query
        .get("cursor")
        .and_then(|cursor| cursor.strip_prefix('c'))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let limit = number(&query, "limit", 10);
    let next = (start + limit < TOTAL).then(|| format!("c{}", start + limit));
    axum::Json(json!({"data": items(start, limit, TOTAL), "meta": {"next": next}})).into_response()
}

async fn link_items(
    State(state): State<Shared>,
    UrlPath(kind): UrlPath<String>,
    Query(query): Params,
) -> Response {
    let page = number(&query, "page", 1).max(1);
    let records = items((page - 1) * 10, 10, TOTAL);
    let more = page * 10 < TOTAL;
    let base = state.base.get().cloned().unwrap_or_default();
    let next = match kind.as_str() {
        "rel" => json!(format!("/link/rel/items?page={}", page + 1)),
        "query" => json!(format!("?page={}", page + 1)),
        "abs" => json!(format!("{base}/link/abs/items?page={}", page + 1)),
        "elsewhere" => json!("http://127.0.0.2:9/link/items?page=2"),
        _ => json!(null),
    };
    if !more {
        // The last page of the absolute style leaves the key out; the others say null.
        return match kind.as_str() {
            "abs" => axum::Json(json!({"items": records, "links": {}})).into_response(),
            _ => axum::Json(json!({"items": records, "links": {"next": null}})).into_response(),
        };
    }
    axum::Json(json!({"items": records, "links": {"next": next}})).into_response()
}

/// A cursor that never moves on.
async fn stuck_cursor_items() -> Response {
    axum::Json(json!({"data": items(0, 10, TOTAL), "meta": {"next": "c1"}})).into_response()
}

async fn none_items() -> Response {
    axum::Json(json!({"items": items(0, TOTAL, TOTAL)})).into_response()
}

async fn root_items(Query(query): Params) -> Response {
    axum::Json(page_of(&query, TOTAL).1).into_response()
}

async fn envelope() -> Response {
    axum::Json(json!({"data": {"rows": [item(0)]}, "meta": {"total": 1}})).into_response()
}

async fn html() -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        "<!doctype html><html><body><h1>Sign in</h1><p>Your session has expired.</p></body></html>",
    )
        .into_response()
}

async fn binary() -> Response {
    (
        [(header::CONTENT_TYPE, "application/octet-stream")],
        vec![0xffu8, 0xfe, 0x00, 0x80, b'{', 0xc3, 0x28, b'}'],
    )
        .into_response()
}

async fn flaky_items(State(state): State<Shared>, Query(query): Params) -> Response {
    let (page, records) = page_of(&query, TOTAL);
    if page == 2 && state.hit("flaky:2".into()) <= 2 {
        return json_error(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", "try later");
    }
    axum::Json(json!({"items": records})).into_response()
}

async fn throttled_items(State(state): State<Shared>, Query(query): Params) -> Response {
    let (_, records) = page_of(&query, TOTAL);
    if state.hit("throttled".into()) == 1 {
        let mut response = json_error(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED", "slow down");
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        return response;
    }
    axum::Json(json!({"items": records})).into_response()
}

async fn broken_items(State(state): State<Shared>, Query(query): Params) -> Response {
    let (page, records) = page_of(&query, TOTAL);
    state.hit(format!("broken:{page}"));
    if page == 3 {
        return json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "DB_DOWN",
            "database is down",
        );
    }
    axum::Json(json!({"items": records})).into_response()
}

/// Full pages forever.
async fn endless_items(State(state): State<Shared>, Query(query): Params) -> Response {
    let (page, _) = page_of(&query, usize::MAX);
    state.hit(format!("endless:{page}"));
    let per_page = number(&query, "per_page", 10).max(1);
    axum::Json(json!({"items": items((page - 1) * per_page, per_page, usize::MAX)})).into_response()
}

/// Ten slow, full pages of five.
async fn slow_items(State(state): State<Shared>, Query(query): Params) -> Response {
    let (page, records) = page_of(&query, 50);
    state.hit(format!("slow:{page}"));
    tokio::time::sleep(Duration::from_millis(50)).await;
    axum::Json(json!({"items": records})).into_response()
}

async fn messy_items() -> Response {
    axum::Json(json!({"items": [
        item(1),
        {"n": "no serial"},
        {"serial": null},
        {"serial": 77, "n": "a number"},
        {"serial": "T-0001", "n": "duplicate"},
        item(2),
        {"serial": ""},
        {"serial": "T-0002", "n": "duplicate"},
        item(3),
        {"serial": "T-0001", "n": "duplicate again"},
    ]}))
    .into_response()
}

fn asset(index: usize) -> Value {
    json!({"sys_id": format!("id-{index}"), "serial_number": test_serial(index), "name": format!("host-{index}")})
}

/// Lookups: `ignoring` answers every record whatever the query; `ambiguous` two records with the
/// asked serial; `noid` one without an id; `error400`/`xml403` errors; `echo` a 401 quoting the
/// Authorization header back.
async fn assets(
    UrlPath(kind): UrlPath<String>,
    Query(query): Params,
    headers: HeaderMap,
) -> Response {
    let serial = query.get("serial_number").cloned().unwrap_or_default();
    match kind.as_str() {
        "ignoring" => {
            axum::Json(json!({"result": (0..TOTAL).map(asset).collect::<Vec<_>>()})).into_response()
        }
        "ambiguous" => axum::Json(json!({"result": [
            {"sys_id": "a1", "serial_number": serial},
            {"sys_id": "a2", "serial_number": serial},
            {"sys_id": "a3", "serial_number": "someone-else"},
        ]}))
        .into_response(),
        "noid" => {
            axum::Json(json!({"result": [{"serial_number": serial, "name": "x"}]})).into_response()
        }
        "error400" => json_error(
            StatusCode::BAD_REQUEST,
            "INVALID_QUERY",
            "serial_number is not a searchable field",
        ),
        "xml403" => (
            StatusCode::FORBIDDEN,
            [(header::CONTENT_TYPE, "application/xml")],
            "<?xml version=\"1.0\"?><error><code>FORBIDDEN</code><message>role itil required</message></error>",
        )
            .into_response(),
        "echo" => {
            let authorization = headers
                .get(header::AUTHORIZATION)
                .and_then(|value| value.to_str().ok())
                .unwrap_or("")
                .to_string();
            json_error(
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                &format!("token not accepted: {authorization}"),
            )
        }
        _ => json_error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such kind"),
    }
}

async fn test_server() -> TestServer {
    let state: Shared = Arc::new(TestState::default());
    let app = Router::new()
        .route("/offset/items", get(offset_items))
        .route("/cursor/items", get(cursor_items))
        .route("/link/{kind}/items", get(link_items))
        .route("/cursor/stuck", get(stuck_cursor_items))
        .route("/none/items", get(none_items))
        .route("/root/items", get(root_items))
        .route("/envelope", get(envelope))
        .route("/html", get(html))
        .route("/binary", get(binary))
        .route("/flaky/items", get(flaky_items))
        .route("/throttled/items", get(throttled_items))
        .route("/broken/items", get(broken_items))
        .route("/endless/items", get(endless_items))
        .route("/slow/items", get(slow_items))
        .route("/messy/items", get(messy_items))
        .route("/assets/{kind}", get(assets))
        .with_state(state.clone());
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap_or_else(|e| panic!("bind the test server: {e}"));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("test server address: {e}"));
    let base = format!("http://{addr}");
    let _ = state.base.set(base.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    TestServer { base, state }
}

// ---------------------------------------------------------------------------------------------
// The demo systems.

async fn demo_server() -> (DemoServer, Config) {
    let server = demo::start(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        DemoOptions {
            fleet_size: FLEET_SIZE,
            seed: 7,
        },
    )
    .await
    .unwrap_or_else(|e| panic!("the demo starts: {e}"));
    let text = demo::config_for(server.addr());
    let env = Environment::with_fallbacks(demo::demo_secrets().iter().copied());
    let config = config::parse(&text, Path::new("demo.toml"), &env)
        .unwrap_or_else(|e| panic!("the demo config is valid: {e}"));
    (server, config)
}

/// The client and fetch contract of the demo CMDB connection, its credential applied.
fn cmdb(config: &Config) -> (HttpClient, FetchContract) {
    let connection = config
        .connection("cmdb")
        .unwrap_or_else(|| panic!("the demo has a cmdb connection"));
    let credential = connection
        .credential
        .as_deref()
        .and_then(|name| config.credential(name));
    let client = HttpClient::new(&connection.base_url, credential, Duration::from_secs(10), 4)
        .unwrap_or_else(|e| panic!("cmdb client: {e}"));
    (client, connection.fetch.clone())
}

#[tokio::test]
async fn the_demo_fleet_is_listed_whole_each_serial_once() {
    bounded(async {
        let (server, config) = demo_server().await;
        let listed = list(config.primary_source(), Scope::Full, fast_policy()).await;
        let summary = listed.summary();
        assert!(summary.is_complete(), "{:?}", summary.end);
        // 500 per page: 500, 500, 234.
        assert_eq!(summary.pages_read, 3);
        assert_eq!(listed.pages.len(), 3);
        assert_eq!(summary.records, FLEET_SIZE as u64);
        assert_eq!((summary.duplicates, summary.without_serial), (0, 0));
        let serials = listed.serials();
        let unique: BTreeSet<&String> = serials.iter().collect();
        assert_eq!(unique.len(), FLEET_SIZE);
        let expected: BTreeSet<String> = (0..FLEET_SIZE).map(Fleet::serial).collect();
        assert_eq!(
            unique.into_iter().cloned().collect::<BTreeSet<_>>(),
            expected
        );
        let first = &listed.pages[0][0];
        assert_eq!(first.record["serial"], json!(first.serial));
        assert_eq!(server.stats().fleet.requests, 3);
    })
    .await;
}

#[tokio::test]
async fn a_single_run_with_single_query_asks_for_its_serial_only() {
    bounded(async {
        let (server, config) = demo_server().await;
        assert!(!config.primary_source().single_query.is_empty());
        let listed = list(
            config.primary_source(),
            Scope::Single("SD-000777".into()),
            fast_policy(),
        )
        .await;
        let summary = listed.summary();
        assert!(summary.is_complete());
        assert_eq!(listed.serials(), vec!["SD-000777".to_string()]);
        assert_eq!(listed.pages[0][0].record["serial"], json!("SD-000777"));
        assert_eq!(server.stats().fleet.requests, 1);

        let listed = list(
            config.primary_source(),
            Scope::Single("SD-999999".into()),
            fast_policy(),
        )
        .await;
        assert_eq!(listed.summary().records, 0);
        assert!(listed.pages.is_empty());
    })
    .await;
}

#[tokio::test]
async fn a_single_run_without_single_query_filters_the_listing() {
    bounded(async {
        let (server, config) = demo_server().await;
        let mut source = config.primary_source().clone();
        source.single_query.clear();
        source.pagination = page_style(100, 1_000);
        // SD-000250 is on page 3 of 100: the listing stops there.
        let listed = list(&source, Scope::Single("SD-000250".into()), fast_policy()).await;
        let summary = listed.summary();
        assert!(summary.is_complete());
        assert_eq!(listed.serials(), vec!["SD-000250".to_string()]);
        assert_eq!(summary.pages_read, 3);
        assert_eq!(server.stats().fleet.requests, 3);
    })
    .await;
}

#[tokio::test]
async fn offset_pagination_advances_by_what_came_back() {
    bounded(async {
        let server = test_server().await;
        let source = source(
            &server.base,
            "/offset/items",
            "result",
            Pagination::Offset {
                offset_param: "offset".into(),
                size_param: "limit".into(),
                size: 10,
                max_pages: 100,
            },
        );
        let listed = list(&source, Scope::Full, fast_policy()).await;
        assert!(listed.summary().is_complete());
        // Without a total, an offset listing ends at an empty page (SPEC section 11): a short
        // page may be one an access rule trimmed. 10, 10, 5, then the empty fourth.
        assert_eq!(listed.summary().pages_read, 4);
        assert_eq!(listed.serials(), expected_serials(TOTAL));
    })
    .await;
}

#[tokio::test]
async fn cursor_pagination_follows_meta_next_until_null() {
    bounded(async {
        let server = test_server().await;
        let source = source(
            &server.base,
            "/cursor/items",
            "data",
            Pagination::Cursor {
                cursor_param: "cursor".into(),
                cursor_position: position_of(&["meta", "next"]),
                size_param: Some("limit".into()),
                size: Some(10),
                max_pages: 100,
            },
        );
        let listed = list(&source, Scope::Full, fast_policy()).await;
        assert!(listed.summary().is_complete(), "{:?}", listed.summary().end);
        assert_eq!(listed.summary().pages_read, 3);
        assert_eq!(listed.serials(), expected_serials(TOTAL));
    })
    .await;
}

#[tokio::test]
async fn a_cursor_that_does_not_advance_cuts_the_listing() {
    bounded(async {
        let server = test_server().await;
        let source = source(
            &server.base,
            "/cursor/stuck",
            "data",
            Pagination::Cursor {
                cursor_param: "cursor".into(),
                cursor_position: position_of(&["meta", "next"]),
                size_param: None,
                size: None,
                max_pages: 100,
            },
        );
        let listed = list(&source, Scope::Full, fast_policy()).await;
        let reason = cut_reason(listed.summary());
        assert!(reason.contains("did not advance"), "{reason}");
        // The first page and the page its cursor led to were delivered, each serial once.
        assert_eq!(listed.summary().pages_read, 2);
        assert_eq!(listed.serials(), expected_serials(10));
        assert_eq!(listed.summary().duplicates, 10);
    })
    .await;
}

#[tokio::test]
async fn link_pagination_follows_relative_and_absolute_links() {
    bounded(async {
        let server = test_server().await;
        for kind in ["rel", "query", "abs"] {
            let source = source(
                &server.base,
                &format!("/link/{kind}/items"),
                "items",
                Pagination::Link {
                    next_link_position: position_of(&["links", "next"]),
                    max_pages: 100,
                },
            );
            let listed = list(&source, Scope::Full, fast_policy()).await;
            assert!(
                listed.summary().is_complete(),
                "{kind}: {:?}",
                listed.summary().end
            );
            assert_eq!(listed.summary().pages_read, 3, "{kind}");
            assert_eq!(listed.serials(), expected_serials(TOTAL), "{kind}");
        }
    })
    .await;
}

#[tokio::test]
async fn a_next_link_to_another_origin_is_not_followed() {
    bounded(async {
        let server = test_server().await;
        let source = source(
            &server.base,
            "/link/elsewhere/items",
            "items",
            Pagination::Link {
                next_link_position: position_of(&["links", "next"]),
                max_pages: 100,
            },
        );
        let listed = list(&source, Scope::Full, fast_policy()).await;
        let reason = cut_reason(listed.summary());
        assert!(reason.contains("another origin"), "{reason}");
        assert_eq!(listed.serials(), expected_serials(10));
    })
    .await;
}

#[tokio::test]
async fn no_pagination_is_one_request() {
    bounded(async {
        let server = test_server().await;
        let source = source(&server.base, "/none/items", "items", Pagination::None);
        let listed = list(&source, Scope::Full, fast_policy()).await;
        assert!(listed.summary().is_complete());
        assert_eq!(listed.summary().pages_read, 1);
        assert_eq!(listed.serials(), expected_serials(TOTAL));
    })
    .await;
}

#[tokio::test]
async fn a_bare_array_is_read_at_root() {
    bounded(async {
        let server = test_server().await;
        let source = source(&server.base, "/root/items", "_root", page_style(10, 100));
        let listed = list(&source, Scope::Full, fast_policy()).await;
        assert!(listed.summary().is_complete());
        assert_eq!(listed.serials(), expected_serials(TOTAL));
        // A page of exactly `size` is not the end, and without a total or stop_at =
        // "short_page" neither is the short third one: the empty fourth is.
        assert_eq!(listed.summary().pages_read, 4);
    })
    .await;
}

#[tokio::test]
async fn a_results_position_that_matches_nothing_lists_the_keys_seen() {
    bounded(async {
        let server = test_server().await;
        let source = source(&server.base, "/envelope", "data.items", Pagination::None);
        let listed = list(&source, Scope::Full, fast_policy()).await;
        let error = listed.error().to_string();
        assert!(
            error.contains(
                r#"results_position "data.items" matched nothing; top-level keys seen: data, meta"#
            ),
            "{error}"
        );
        assert!(matches!(
            listed.error(),
            ListingError::ResultsPosition { keys, .. } if keys == &["data", "meta"]
        ));
        let source = self::source(&server.base, "/root/items", "data.items", Pagination::None);
        let error = list(&source, Scope::Full, fast_policy())
            .await
            .error()
            .to_string();
        assert!(
            error.contains("bare array") && error.contains("_root"),
            "{error}"
        );
    })
    .await;
}

#[tokio::test]
async fn an_html_answer_is_a_clear_error() {
    bounded(async {
        let server = test_server().await;
        let source = source(&server.base, "/html", "items", Pagination::None);
        let listed = list(&source, Scope::Full, fast_policy()).await;
        let error = listed.error();
        let text = error.to_string();
        assert!(
            text.contains("not JSON") && text.contains("text/html"),
            "{text}"
        );
        assert!(text.contains("Sign in"), "{text}");
        assert!(!error.is_retryable());
        assert_eq!(error.attempts(), 1);

        // Bytes that are not UTF-8 do not panic; they show as replacement characters.
        let source = self::source(&server.base, "/binary", "items", Pagination::None);
        let listed = list(&source, Scope::Full, fast_policy()).await;
        let text = listed.error().to_string();
        assert!(text.contains("application/octet-stream"), "{text}");
        assert!(
            listed
                .error()
                .excerpt()
                .is_some_and(|e| e.contains('\u{fffd}'))
        );
    })
    .await;
}

#[tokio::test]
async fn a_page_answering_503_twice_is_retried() {
    bounded(async {
        let server = test_server().await;
        let source = source(&server.base, "/flaky/items", "items", page_style(10, 100));
        let listed = list(&source, Scope::Full, fast_policy()).await;
        assert!(listed.summary().is_complete(), "{:?}", listed.summary().end);
        assert_eq!(listed.serials(), expected_serials(TOTAL));
        assert_eq!(server.state.hits("flaky:2"), 3);
    })
    .await;
}

#[tokio::test]
async fn a_429_with_retry_after_is_waited_out() {
    bounded(async {
        let server = test_server().await;
        let source = source(
            &server.base,
            "/throttled/items",
            "items",
            page_style(10, 100),
        );
        let started = Instant::now();
        let listed = list(&source, Scope::Full, fast_policy()).await;
        assert!(listed.summary().is_complete());
        assert_eq!(listed.serials(), expected_serials(TOTAL));
        assert!(
            started.elapsed() >= Duration::from_secs(1),
            "Retry-After: 1 was not honoured ({:?})",
            started.elapsed()
        );
        // Three pages, one 429 retried, and the empty page that ends the listing.
        assert_eq!(server.state.hits("throttled"), 5);
    })
    .await;
}

#[tokio::test]
async fn a_page_failing_for_good_cuts_the_listing_after_the_pages_before() {
    bounded(async {
        let server = test_server().await;
        let source = source(&server.base, "/broken/items", "items", page_style(10, 100));
        let policy = fast_policy();
        let listed = list(&source, Scope::Full, policy).await;
        let summary = listed.summary();
        let reason = cut_reason(summary);
        assert!(reason.contains("HTTP 500"), "{reason}");
        assert!(reason.contains("DB_DOWN"), "{reason}");
        assert!(reason.contains("after 2 pages"), "{reason}");
        let Some(cut) = summary.cut() else {
            panic!("no cut")
        };
        assert_eq!(cut.pages_read, 2);
        let error = cut
            .error
            .as_ref()
            .unwrap_or_else(|| panic!("the cut keeps its error"));
        assert_eq!(error.http_status(), Some(500));
        assert_eq!(error.code(), Some("DB_DOWN"));
        assert_eq!(error.attempts(), policy.max_retries + 1);
        assert!(error.is_retryable());
        assert_eq!(listed.serials(), expected_serials(20));
        assert_eq!(server.state.hits("broken:3"), policy.max_retries + 1);
    })
    .await;
}

#[tokio::test]
async fn a_first_page_that_fails_is_an_error_not_a_cut() {
    bounded(async {
        // Nothing listens on this port once the listener is dropped.
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        drop(listener);
        let source = source(
            &format!("http://{addr}"),
            "/items",
            "items",
            Pagination::None,
        );
        let listed = list(&source, Scope::Full, fast_policy()).await;
        let error = listed.error();
        assert!(matches!(error, ListingError::Transport { .. }), "{error}");
        assert!(error.is_retryable());
        assert_eq!(error.attempts(), fast_policy().max_retries + 1);
        assert!(listed.pages.is_empty());
    })
    .await;
}

#[tokio::test]
async fn reaching_max_pages_with_more_to_come_cuts_the_listing() {
    bounded(async {
        let server = test_server().await;
        let source = source(&server.base, "/endless/items", "items", page_style(10, 4));
        let listed = list(&source, Scope::Full, fast_policy()).await;
        let reason = cut_reason(listed.summary());
        assert_eq!(reason, "stopped after max_pages = 4 pages");
        assert_eq!(listed.summary().pages_read, 4);
        assert_eq!(listed.serials().len(), 40);
        assert_eq!(server.state.hits("endless"), 4);
    })
    .await;
}

#[tokio::test]
async fn records_without_a_serial_and_duplicates_are_counted() {
    bounded(async {
        let server = test_server().await;
        let source = source(&server.base, "/messy/items", "items", Pagination::None);
        let listed = list(&source, Scope::Full, fast_policy()).await;
        let summary = listed.summary();
        assert_eq!(listed.serials(), ["T-0001", "77", "T-0002", "T-0003"]);
        // The first of a duplicated serial is kept.
        assert_eq!(listed.pages[0][0].record, item(1));
        assert_eq!(summary.records, 4);
        assert_eq!(summary.without_serial, 3);
        assert_eq!(summary.without_serial_at, [(1, 1), (1, 2), (1, 6)]);
        assert_eq!(summary.duplicates, 3);
        assert_eq!(summary.duplicate_serials, ["T-0001", "T-0002"]);
    })
    .await;
}

#[tokio::test]
async fn cancellation_stops_the_listing_between_pages() {
    bounded(async {
        let server = test_server().await;
        let source = source(&server.base, "/slow/items", "items", page_style(5, 100));
        let client = client(&source.base_url);
        let (cancel_tx, cancel) = watch::channel(false);
        let (tx, mut rx) = mpsc::channel(1);
        let consume = async {
            let mut pages = 0;
            while let Some(_page) = rx.recv().await {
                pages += 1;
                if pages == 1 {
                    let _ = cancel_tx.send(true);
                }
            }
            pages
        };
        let (result, pages) = tokio::join!(
            list_source(&client, &source, &Scope::Full, fast_policy(), &cancel, tx),
            consume
        );
        let summary = result.unwrap_or_else(|e| panic!("{e}"));
        assert!(summary.is_canceled(), "{:?}", summary.end);
        assert!(pages < 10, "{pages} pages delivered after the cancel");
        assert!(summary.pages_read < 10);
        assert!(
            server.state.hits("slow") <= 3,
            "{} requests",
            server.state.hits("slow")
        );
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Lookups.

fn test_fetch(kind: &str) -> FetchContract {
    FetchContract {
        path: format!("/assets/{kind}"),
        query: BTreeMap::from([("serial_number".to_string(), "{serial}".to_string())]),
        results_position: position("result"),
        serial_field: "serial_number".into(),
        id_field: "sys_id".into(),
        bulk: false,
        pagination: Pagination::None,
        stop: Default::default(),
        missing_when: None,
    }
}

async fn lookup(server: &TestServer, kind: &str, serial: &str) -> Result<Lookup, LookupError> {
    lookup_one(
        &client(&server.base),
        &test_fetch(kind),
        serial,
        fast_policy(),
    )
    .await
}

#[tokio::test]
async fn lookups_against_the_demo_cmdb_find_or_miss() {
    bounded(async {
        let (server, config) = demo_server().await;
        let (client, fetch) = cmdb(&config);
        let fleet = server.fleet();
        let missing = (0..fleet.len())
            .find(|i| fleet.traits(*i).is_some_and(|t| t.cmdb.missing))
            .unwrap_or_else(|| panic!("the demo CMDB lacks some serials"));
        let present = (0..fleet.len())
            .find(|i| fleet.traits(*i).is_some_and(|t| !t.cmdb.missing))
            .unwrap_or_else(|| panic!("the demo CMDB has some serials"));

        let serial = Fleet::serial(present);
        match lookup_one(&client, &fetch, &serial, fast_policy()).await {
            Ok(Lookup::Found(found)) => {
                assert_eq!(found.record["serial_number"], json!(serial));
                assert_eq!(found.record["sys_id"], json!(found.target_id));
                assert!(!found.target_id.is_empty());
            }
            other => panic!("{serial}: {other:?}"),
        }
        let serial = Fleet::serial(missing);
        assert!(matches!(
            lookup_one(&client, &fetch, &serial, fast_policy()).await,
            Ok(Lookup::Missing)
        ));
        assert!(matches!(
            lookup_one(&client, &fetch, "NOT-A-SERIAL", fast_policy()).await,
            Ok(Lookup::Missing)
        ));
    })
    .await;
}

#[tokio::test]
async fn two_matches_are_ambiguous_and_a_query_ignored_still_matches_right() {
    bounded(async {
        let server = test_server().await;
        assert!(matches!(
            lookup(&server, "ambiguous", "T-0003").await,
            Ok(Lookup::Ambiguous(2))
        ));
        match lookup(&server, "ignoring", "T-0007").await {
            Ok(Lookup::Found(found)) => {
                assert_eq!(found.target_id, "id-7");
                assert_eq!(found.record, asset(7));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            lookup(&server, "ignoring", "T-9999").await,
            Ok(Lookup::Missing)
        ));
    })
    .await;
}

#[tokio::test]
async fn lookup_errors_carry_status_code_message_and_excerpt() {
    bounded(async {
        let server = test_server().await;
        let error = match lookup(&server, "noid", "T-0001").await {
            Err(error) => error,
            other => panic!("{other:?}"),
        };
        assert!(
            error
                .to_string()
                .contains("destination record has no id at sys_id"),
            "{error}"
        );
        assert!(!error.is_retryable());

        let error = match lookup(&server, "error400", "T-0001").await {
            Err(error) => error,
            other => panic!("{other:?}"),
        };
        assert_eq!(error.http_status(), Some(400));
        assert_eq!(error.code(), Some("INVALID_QUERY"));
        assert_eq!(
            error.destination_message(),
            Some("serial_number is not a searchable field")
        );
        assert!(error.excerpt().is_some_and(|e| e.contains("INVALID_QUERY")));
        assert_eq!(error.method(), "GET");
        assert!(
            error
                .url()
                .is_some_and(|url| url.contains("/assets/error400?serial_number=T-0001")),
            "{:?}",
            error.url()
        );
        assert!(!error.is_retryable());
        assert_eq!(error.attempts(), 1);

        let error = match lookup(&server, "xml403", "T-0001").await {
            Err(error) => error,
            other => panic!("{other:?}"),
        };
        assert_eq!(error.http_status(), Some(403));
        assert_eq!(error.code(), Some("FORBIDDEN"));
        assert_eq!(error.destination_message(), Some("role itil required"));
    })
    .await;
}

#[tokio::test]
async fn secrets_never_reach_an_error() {
    bounded(async {
        let server = test_server().await;
        let token = "canary-lookup-secret-42";
        let env = Environment::with_fallbacks([("SYNCDECK_TEST_LOOKUP_TOKEN", token)]);
        let credential = Credential {
            name: "t".into(),
            kind: CredentialKind::Bearer {
                token: secret::resolve(&SecretRef::Env("SYNCDECK_TEST_LOOKUP_TOKEN".into()), &env)
                    .unwrap_or_else(|e| panic!("{e:?}")),
            },
        };
        let client = HttpClient::new(&server.base, Some(&credential), Duration::from_secs(5), 1)
            .unwrap_or_else(|e| panic!("{e}"));
        let mut fetch = test_fetch("echo");
        fetch.query.insert("api_key".into(), "query-secret".into());
        let error = match lookup_one(&client, &fetch, "T-0001", fast_policy()).await {
            Err(error) => error,
            other => panic!("{other:?}"),
        };
        let shown = format!(
            "{error} {:?} {:?} {:?}",
            error.excerpt(),
            error.destination_message(),
            error.url()
        );
        assert_eq!(error.http_status(), Some(401));
        assert!(
            !shown.contains(token) && !shown.contains("query-secret"),
            "{shown}"
        );
        assert!(shown.contains("[redacted]"), "{shown}");
    })
    .await;
}

#[tokio::test]
async fn the_bulk_index_of_the_demo_cmdb_agrees_with_per_serial_lookups() {
    bounded(async {
        let (server, config) = demo_server().await;
        let (client, fetch) = cmdb(&config);
        let fleet = server.fleet();
        let (_cancel_tx, cancel) = watch::channel(false);
        let index = list_destination(&client, &fetch, fast_policy(), &cancel, None)
            .await
            .unwrap_or_else(|e| panic!("bulk listing: {e}"));
        let present = (0..fleet.len())
            .filter(|i| fleet.traits(*i).is_some_and(|t| !t.cmdb.missing))
            .count();
        assert!(present < FLEET_SIZE && present > FLEET_SIZE * 9 / 10);
        assert_eq!(index.len(), present);
        assert_eq!(index.records(), present as u64);
        assert_eq!(index.without_serial(), 0);
        // 1,000 per page.
        assert_eq!(index.pages_read(), 2);

        let missing: Vec<usize> = (0..fleet.len())
            .filter(|i| fleet.traits(*i).is_some_and(|t| t.cmdb.missing))
            .take(3)
            .collect();
        assert_eq!(missing.len(), 3);
        let sample = (0..fleet.len()).step_by(41).chain(missing.iter().copied());
        let mut missing_seen = 0;
        for i in sample {
            let serial = Fleet::serial(i);
            let bulk = index.get(&serial).unwrap_or_else(|e| panic!("{e}"));
            let one = lookup_one(&client, &fetch, &serial, fast_policy())
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(bulk, one, "{serial}");
            let expected_missing = fleet.traits(i).is_some_and(|t| t.cmdb.missing);
            assert_eq!(bulk == Lookup::Missing, expected_missing, "{serial}");
            if expected_missing {
                missing_seen += 1;
            }
        }
        assert!(missing_seen >= 3);

        // A projection keeps only the fields asked for.
        let index = list_destination(
            &client,
            &fetch,
            fast_policy(),
            &cancel,
            Some(&["name", "ram_gb"]),
        )
        .await
        .unwrap_or_else(|e| panic!("bulk listing: {e}"));
        let serial = Fleet::serial(
            (0..fleet.len())
                .find(|i| fleet.traits(*i).is_some_and(|t| !t.cmdb.missing))
                .unwrap_or(0),
        );
        match index.get(&serial) {
            Ok(Lookup::Found(found)) => {
                let keys: Vec<&String> = found
                    .record
                    .as_object()
                    .map(|o| o.keys().collect())
                    .unwrap_or_default();
                assert_eq!(keys, ["name", "ram_gb"]);
                assert!(!found.target_id.is_empty());
            }
            other => panic!("{other:?}"),
        }
    })
    .await;
}

#[tokio::test]
async fn a_bulk_listing_that_ends_early_is_an_error() {
    bounded(async {
        let (_server, config) = demo_server().await;
        let (client, mut fetch) = cmdb(&config);
        fetch.pagination = Pagination::Offset {
            offset_param: "sysparm_offset".into(),
            size_param: "sysparm_limit".into(),
            size: 100,
            max_pages: 2,
        };
        let (_cancel_tx, cancel) = watch::channel(false);
        let error = match list_destination(&client, &fetch, fast_policy(), &cancel, None).await {
            Err(error) => error,
            Ok(index) => panic!("{} serials indexed from a cut listing", index.len()),
        };
        assert!(
            matches!(error, LookupError::Incomplete { pages_read: 2, .. }),
            "{error}"
        );
        assert!(error.to_string().contains("max_pages = 2"), "{error}");

        let (cancel_tx, cancel) = watch::channel(false);
        let _ = cancel_tx.send(true);
        assert!(matches!(
            list_destination(&client, &fetch, fast_policy(), &cancel, None).await,
            Err(LookupError::Canceled)
        ));
    })
    .await;
}
