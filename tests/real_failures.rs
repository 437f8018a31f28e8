//! The failures issue 13 found against real systems, each as a test that failed before the
//! fix (a refused config, or the wrong outcome) and passes now. Driven through the binary
//! against stand-ins (`tests/standins`) or small servers written here; only 127.0.0.1.

mod common;
mod standins;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, Query};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use standins::{Start, fleet, start_of};

const LIMIT: Duration = Duration::from_secs(120);
const SN_PASSWORD: &str = "sn-pa55-Kk12";
const JAMF_PASSWORD: &str = "jamf-pa55-Ff34";
const SNIPE_KEY: &str = "snipe-key-Gg56";
const GRAPH_SECRET: &str = "graph-s3cret-Hh78";

struct Run {
    dir: tempfile::TempDir,
    config: std::path::PathBuf,
}

impl Run {
    fn new(text: &str) -> Run {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let config = dir.path().join("config.toml");
        std::fs::write(&config, text).unwrap_or_else(|e| panic!("{e}"));
        Run { dir, config }
    }

    async fn syncdeck(&self, args: &[&str]) -> common::cli::Output {
        let mut command = common::cli::command(self.dir.path());
        command
            .env("T13_SN_PASSWORD", SN_PASSWORD)
            .env("T13_JAMF_PASSWORD", JAMF_PASSWORD)
            .env("T13_SNIPE_KEY", SNIPE_KEY)
            .env("T13_GRAPH_SECRET", GRAPH_SECRET)
            .arg("--config")
            .arg(&self.config)
            .arg("--store")
            .arg(self.dir.path().join("s.redb"))
            .args(args);
        common::cli::output(command, LIMIT).await
    }

    /// `run ARGS --json`, the first connection's summary.
    async fn run(&self, args: &[&str]) -> Value {
        let mut all = vec!["run"];
        all.extend_from_slice(args);
        all.push("--json");
        let out = self.syncdeck(&all).await;
        assert!(matches!(out.code, Some(0 | 1)), "{out:?}");
        out.json()["connections"][0].clone()
    }
}

fn counter(c: &Value, key: &str) -> u64 {
    c["counters"][key].as_u64().unwrap_or(u64::MAX)
}

/// A source at GET /devices: a bare array of `{"serial", "name"}`.
async fn plain_source(serials: Vec<String>) -> SocketAddr {
    let records: Vec<Value> = serials
        .iter()
        .map(|s| json!({"serial": s, "name": format!("host-{s}"), "model_number": 99}))
        .collect();
    let router = Router::new().route(
        "/devices",
        get(move || {
            let records = records.clone();
            async move { axum::Json(records) }
        }),
    );
    standins::serve(router).await
}

fn serials(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i:04}")).collect()
}

fn source_block(addr: SocketAddr) -> String {
    format!(
        r#"
[source]
name = "Plain"
base_url = "http://{addr}"
endpoint = "/devices"
results_position = "_root"
id_field = "serial"
"#
    )
}

// ----- 1. Intune / Graph and Jamf Pro need tokens from a token endpoint --------------------

#[tokio::test]
async fn an_oauth2_client_credentials_credential_reaches_graph() {
    let macs = fleet("C02T", 5);
    let graph = standins::graph::Graph::new(&macs, GRAPH_SECRET, 10);
    let addr = standins::serve(standins::graph::router(graph.clone())).await;
    let source = plain_source(macs.iter().map(|d| d.serial.clone()).collect()).await;
    let run = Run::new(&format!(
        r#"{}
[[credentials]]
name = "graph"
kind = "oauth2_client_credentials"
token_url = "http://{addr}/contoso-tenant/oauth2/v2.0/token"
client_id = "syncdeck-graph-app"
client_secret = "env:T13_GRAPH_SECRET"
scope = "https://graph.microsoft.com/.default"

[[connections]]
name = "intune"
credential = "graph"
base_url = "http://{addr}"
[connections.fetch]
path = "/v1.0/deviceManagement/managedDevices"
query = {{ "$filter" = "serialNumber eq '{{serial|odata}}'" }}
results_position = "value"
serial_field = "serialNumber"
id_field = "id"
[connections.update]
method = "PATCH"
path = "/v1.0/deviceManagement/managedDevices/{{id}}"
[[connections.mapping]]
source = "name"
target = "notes"
"#,
        source_block(source)
    ));
    let checked = run
        .syncdeck(&["check-config", run.config.to_str().unwrap_or_default()])
        .await;
    assert_eq!(checked.code, Some(0), "{checked:?}");
    let c = run.run(&["--full", "--dry-run"]).await;
    assert_eq!(c["status"], "completed", "{c:#}");
    assert_eq!(counter(&c, "would_update"), 5, "{c:#}");
    assert_eq!(
        graph.tokens.count(),
        1,
        "one token for every request of the run"
    );
}

// ----- 2. Listings that ended early and said Completed --------------------------------------

/// 25 devices behind Graph-style paging: `value`, `@odata.nextLink`, 10 a page.
async fn odata_pages(serials: Vec<String>) -> SocketAddr {
    let addr_cell: Arc<Mutex<Option<SocketAddr>>> = Arc::default();
    let cell = addr_cell.clone();
    let router = Router::new().route(
        "/devices",
        get(move |Query(q): Query<HashMap<String, String>>| {
            let serials = serials.clone();
            let cell = cell.clone();
            async move {
                let skip: usize = q.get("$skiptoken").and_then(|s| s.parse().ok()).unwrap_or(0);
                let page: Vec<Value> = serials
                    .iter()
                    .skip(skip)
                    .take(10)
                    .map(|s| json!({"id": format!("id-{s}"), "serialNumber": s, "notes": format!("host-{s}")}))
                    .collect();
                let mut body = json!({"value": page});
                if skip + 10 < serials.len() {
                    let addr = cell.lock().unwrap_or_else(|e| e.into_inner()).unwrap_or_else(|| unreachable!());
                    body["@odata.nextLink"] = json!(format!("http://{addr}/devices?$skiptoken={}", skip + 10));
                }
                axum::Json(body)
            }
        }),
    );
    let addr = standins::serve(router).await;
    *addr_cell.lock().unwrap_or_else(|e| e.into_inner()) = Some(addr);
    addr
}

#[tokio::test]
async fn a_next_link_under_a_key_holding_a_dot_is_followed_to_the_end() {
    let all = serials("G", 25);
    let source = plain_source(all.clone()).await;
    let graph = odata_pages(all).await;
    // Written as an operator would before JSON Pointers: a dotted path whose key holds a dot.
    let run = Run::new(&format!(
        r#"{}
[[connections]]
name = "graph"
base_url = "http://{graph}"
[connections.fetch]
path = "/devices"
query = {{ filter = "{{serial}}" }}
results_position = "value"
serial_field = "serialNumber"
id_field = "id"
bulk = true
[connections.fetch.pagination]
style = "link"
next_link_position = "@odata.nextLink"
[connections.update]
method = "PATCH"
path = "/devices/{{id}}"
[[connections.mapping]]
source = "name"
target = "notes"
"#,
        source_block(source)
    ));
    let c = run.run(&["--full", "--dry-run"]).await;
    // Before: page 1 only, 15 of 25 reported Missing Destination, status completed.
    assert_eq!(counter(&c, "missing_destination"), 0, "{c:#}");
    assert_eq!(counter(&c, "skipped"), 25, "{c:#}");
    assert_eq!(c["status"], "completed");
}

fn servicenow_with_hidden_servers(
    macs: &[standins::Device],
) -> Arc<standins::servicenow::ServiceNow> {
    let sn = standins::servicenow::ServiceNow::new(SN_PASSWORD);
    for (i, d) in macs.iter().enumerate() {
        sn.insert(&d.serial, json!({"name": d.name}));
        // A server every other CI: the query ACL trims it from the page.
        sn.insert(
            &format!("{}-SRV", d.serial),
            json!({"name": format!("srv-{i}")}),
        );
    }
    sn.acl.store(true, Ordering::SeqCst);
    sn
}

fn servicenow_connection(addr: SocketAddr, pagination: &str) -> String {
    format!(
        r#"
[[credentials]]
name = "sn"
kind = "basic"
username = "svc-syncdeck"
password = "env:T13_SN_PASSWORD"

[[connections]]
name = "cmdb"
credential = "sn"
base_url = "http://{addr}"
[connections.fetch]
path = "/api/now/table/cmdb_ci_computer"
query = {{ sysparm_query = "serial_number={{serial}}" }}
results_position = "result"
serial_field = "serial_number"
id_field = "sys_id"
bulk = true
[connections.fetch.pagination]
{pagination}
[connections.update]
method = "PATCH"
path = "/api/now/table/cmdb_ci_computer/{{id}}"
[[connections.mapping]]
source = "name"
target = "name"
"#
    )
}

#[tokio::test]
async fn a_servicenow_page_trimmed_by_an_access_rule_does_not_end_the_bulk_listing() {
    let macs = fleet("C02S", 20);
    let sn = servicenow_with_hidden_servers(&macs);
    let addr = standins::serve(standins::servicenow::router(sn.clone())).await;
    let _ = sn.addr.set(addr);
    let source = plain_source(macs.iter().map(|d| d.serial.clone()).collect()).await;
    let pagination = "style = \"offset\"\noffset_param = \"sysparm_offset\"\nsize_param = \"sysparm_limit\"\nsize = 10";
    let text = format!(
        "{}{}",
        source_block(source),
        servicenow_connection(addr, pagination)
    )
    .replace(
        "source = \"name\"\ntarget = \"name\"",
        "source = \"serial\"\ntarget = \"serial_number\"",
    );
    let c = Run::new(&text).run(&["--full", "--dry-run"]).await;
    // Before: the first trimmed page (shorter than sysparm_limit) ended the listing: false
    // Missing Destination, status completed.
    assert_eq!(counter(&c, "missing_destination"), 0, "{c:#}");
    assert_eq!(c["status"], "completed", "{c:#}");
}

#[tokio::test]
async fn the_servicenow_link_header_is_followed() {
    let macs = fleet("C02L", 20);
    let sn = servicenow_with_hidden_servers(&macs);
    let addr = standins::serve(standins::servicenow::router(sn.clone())).await;
    let _ = sn.addr.set(addr);
    let source = plain_source(macs.iter().map(|d| d.serial.clone()).collect()).await;
    let pagination = "style = \"link_header\"\nsize_param = \"sysparm_limit\"\nsize = 10";
    let text = format!(
        "{}{}",
        source_block(source),
        servicenow_connection(addr, pagination)
    )
    .replace(
        "source = \"name\"\ntarget = \"name\"",
        "source = \"serial\"\ntarget = \"serial_number\"",
    );
    let c = Run::new(&text).run(&["--full", "--dry-run"]).await;
    assert_eq!(counter(&c, "missing_destination"), 0, "{c:#}");
    assert_eq!(counter(&c, "skipped"), 20, "{c:#}");
}

#[tokio::test]
async fn fewer_records_than_the_total_announced_is_incomplete_not_missing() {
    let macs = fleet("C02N", 12);
    let jamf = standins::jamf::Jamf::new(macs.clone(), JAMF_PASSWORD, "unused");
    jamf.hidden.store(3, Ordering::SeqCst);
    let addr = standins::serve(standins::jamf::router(jamf.clone())).await;
    let run = Run::new(&format!(
        r#"
[source]
name = "Jamf Pro"
base_url = "http://{addr}"
endpoint = "/api/v1/computers-inventory"
query = {{ section = ["GENERAL", "HARDWARE"] }}
results_position = "results"
id_field = "hardware.serialNumber"
credential = "jamf"
[source.pagination]
style = "page"
page_param = "page"
first_page = 0
size_param = "page-size"
size = 5
total_position = "totalCount"

[[credentials]]
name = "jamf"
kind = "token_exchange"
token_url = "/api/v1/auth/token"
username = "sync-bot"
password = "env:T13_JAMF_PASSWORD"
token_position = "token"
expires_position = "expires"

[[connections]]
name = "classic"
credential = "jamf"
base_url = "http://{addr}"
[connections.fetch]
path = "/JSSResource/computers/serialnumber/{{serial}}"
results_position = "_single"
serial_field = "computer.general.serial_number"
id_field = "computer.general.id"
[connections.update]
method = "PUT"
path = "/JSSResource/computers/serialnumber/{{serial}}"
formatter = "xml"
xml_root = "computer"
[[connections.mapping]]
source = "general.name"
target = "general.name"
compare = "computer.general.name"
"#
    ));
    let c = run.run(&["--full", "--dry-run"]).await;
    assert_eq!(c["status"], "incomplete", "{c:#}");
    let note = c["note"].as_str().unwrap_or_default();
    assert!(note.contains("12 of the 15 records"), "{note}");
    assert_eq!(counter(&c, "missing_destination"), 0, "{c:#}");
    // Every record that did come was looked up through the one-object Classic answer.
    assert_eq!(counter(&c, "skipped"), 12, "{c:#}");
}

#[tokio::test]
async fn a_next_link_that_comes_back_to_a_page_already_read_is_incomplete() {
    let addr_cell: Arc<Mutex<Option<SocketAddr>>> = Arc::default();
    let cell = addr_cell.clone();
    let router = Router::new().route(
        "/devices",
        get(move |Query(q): Query<HashMap<String, String>>| {
            let cell = cell.clone();
            async move {
                let page: usize = q.get("p").and_then(|p| p.parse().ok()).unwrap_or(1);
                let addr = cell
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .unwrap_or_else(|| unreachable!());
                // 1 → 2 → 3 → 2 …: a loop a page apart.
                let next = if page == 3 { 2 } else { page + 1 };
                axum::Json(
                    json!({"items": [{"serial": format!("L{page}"), "name": "x"}],
                                  "next": format!("http://{addr}/devices?p={next}")}),
                )
            }
        }),
    );
    let addr = standins::serve(router).await;
    *addr_cell.lock().unwrap_or_else(|e| e.into_inner()) = Some(addr);
    let run = Run::new(&format!(
        r#"
[source]
base_url = "http://{addr}"
endpoint = "/devices"
results_position = "items"
id_field = "serial"
[source.pagination]
style = "link"
next_link_position = "next"

[[connections]]
name = "c"
base_url = "http://{addr}"
[connections.fetch]
path = "/devices"
query = {{ serial = "{{serial}}" }}
results_position = "items"
serial_field = "serial"
id_field = "serial"
[connections.update]
method = "PATCH"
path = "/devices/{{id}}"
[[connections.mapping]]
source = "name"
target = "name"
"#
    ));
    let c = run.run(&["--full", "--dry-run"]).await;
    assert_eq!(c["status"], "incomplete", "{c:#}");
    assert!(
        c["note"]
            .as_str()
            .unwrap_or_default()
            .contains("already read"),
        "{c:#}"
    );
}

// ----- 3. Errors inside a 200 ---------------------------------------------------------------

fn snipe_config(
    jamf: SocketAddr,
    snipe: SocketAddr,
    extra_fetch: &str,
    model_rule: &str,
) -> String {
    format!(
        r#"
[source]
name = "Jamf Pro"
base_url = "http://{jamf}"
endpoint = "/api/v1/computers-inventory"
query = {{ section = ["GENERAL", "HARDWARE"] }}
results_position = "results"
id_field = "hardware.serialNumber"
credential = "jamf"
[source.pagination]
style = "page"
page_param = "page"
first_page = 0
size_param = "page-size"
size = 10
total_position = "totalCount"

[[credentials]]
name = "jamf"
kind = "token_exchange"
token_url = "/api/v1/auth/token"
username = "sync-bot"
password = "env:T13_JAMF_PASSWORD"
token_position = "token"

[[credentials]]
name = "snipe"
kind = "bearer"
token = "env:T13_SNIPE_KEY"

[[connections]]
name = "snipe-it"
credential = "snipe"
base_url = "http://{snipe}"
[[connections.lookups]]
name = "models"
path = "/api/v1/models"
results_position = "rows"
key = "name"
value = "id"
[connections.fetch]
path = "/api/v1/hardware/byserial/{{serial}}"
results_position = "rows"
serial_field = "serial"
id_field = "id"
{extra_fetch}
[connections.update]
method = "PATCH"
path = "/api/v1/hardware/{{id}}"
success_when = {{ path = "status", equals = "success" }}
[[connections.mapping]]
source = "general.name"
target = "name"
{model_rule}
"#
    )
}

async fn snipe_setup(
    models: Vec<&'static str>,
) -> (
    Vec<standins::Device>,
    SocketAddr,
    SocketAddr,
    Arc<standins::snipeit::SnipeIt>,
) {
    let macs = fleet("C02P", 12);
    let jamf = standins::jamf::Jamf::new(macs.clone(), JAMF_PASSWORD, "unused");
    let jamf_addr = standins::serve(standins::jamf::router(jamf)).await;
    let mut snipe = standins::snipeit::SnipeIt::new(SNIPE_KEY);
    if let Some(snipe) = Arc::get_mut(&mut snipe) {
        snipe.models = models;
    }
    {
        let mut assets = snipe.assets.lock().unwrap_or_else(|e| e.into_inner());
        for (i, d) in macs.iter().enumerate() {
            if start_of(i) == Start::Absent {
                continue;
            }
            let id = 1 + i as u64;
            // Every name out of date: each present record is written.
            assets.insert(
                id,
                standins::snipeit::asset(id, &d.serial, "old-name", standins::MODELS[0], d.site, 2),
            );
        }
    }
    let snipe_addr = standins::serve(standins::snipeit::router(snipe.clone())).await;
    (macs, jamf_addr, snipe_addr, snipe)
}

#[tokio::test]
async fn an_error_inside_a_200_fails_the_write_with_the_body_message() {
    // Snipe-IT knows no "iMac 24": writing its id is refused inside an HTTP 200.
    let (macs, jamf, snipe, _) = snipe_setup(vec!["MacBook Pro 14", "MacBook Air 13"]).await;
    let rule = "[[connections.mapping]]\nsource = \"hardware.model\"\ntarget = \"model_id\"\nformat = \"map\"\nvalues = { \"MacBook Pro 14\" = 10, \"MacBook Air 13\" = 11, \"iMac 24\" = 12 }\ncompare = \"model.id\"";
    let run = Run::new(&snipe_config(
        jamf,
        snipe,
        "missing_when = { path = \"status\", equals = \"error\" }",
        rule,
    ));
    let _ = run.run(&["--full", "--dry-run"]).await;
    let c = run.run(&["--full", "--live"]).await;
    let imacs = (0..macs.len())
        .filter(|i| i % 3 == 2 && start_of(*i) != Start::Absent)
        .count() as u64;
    let present = (0..macs.len())
        .filter(|i| start_of(*i) != Start::Absent)
        .count() as u64;
    // Before: every write "updated, OK".
    assert_eq!(counter(&c, "failed"), imacs, "{c:#}");
    assert_eq!(counter(&c, "updated"), present - imacs, "{c:#}");
    let report = run
        .syncdeck(&["report", "--status", "failed", "--format", "json"])
        .await;
    let entries = report.json();
    let first = &entries[0]["error"];
    let message = first["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("model_id: The selected model id is invalid."),
        "{first:#}"
    );
    assert!(
        first["hint"]
            .as_str()
            .unwrap_or_default()
            .contains("model_id"),
        "{first:#}"
    );
    assert_eq!(first["http_status"], 200);
}

#[tokio::test]
async fn a_not_found_inside_a_200_is_missing_destination() {
    let (macs, jamf, snipe, _) = snipe_setup(standins::MODELS.to_vec()).await;
    let run = Run::new(&snipe_config(
        jamf,
        snipe,
        "missing_when = { path = \"status\", equals = \"error\" }",
        "",
    ));
    let c = run.run(&["--full", "--dry-run"]).await;
    let absent = (0..macs.len())
        .filter(|i| start_of(*i) == Start::Absent)
        .count() as u64;
    // Before: a lookup error with the "destination down" hint.
    assert_eq!(counter(&c, "missing_destination"), absent, "{c:#}");
    assert_eq!(counter(&c, "errors"), 0, "{c:#}");
}

#[tokio::test]
async fn a_name_missing_from_a_lookup_table_is_a_per_record_error_naming_it() {
    let (macs, jamf, snipe, _) = snipe_setup(vec!["MacBook Pro 14", "MacBook Air 13"]).await;
    let rule = "[[connections.mapping]]\nsource = \"hardware.model\"\ntarget = \"model_id\"\nlookup = \"models\"\ncompare = \"model.id\"";
    let run = Run::new(&snipe_config(
        jamf,
        snipe,
        "missing_when = { path = \"status\", equals = \"error\" }",
        rule,
    ));
    let c = run.run(&["--full", "--dry-run"]).await;
    let imacs = (0..macs.len()).filter(|i| i % 3 == 2).count() as u64;
    assert_eq!(counter(&c, "errors"), imacs, "{c:#}");
    let report = run.syncdeck(&["report", "--format", "json"]).await.json();
    let named = report
        .as_array()
        .map(|all| {
            all.iter()
                .filter(|e| {
                    e["error"]["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("\"iMac 24\" is not in lookup \"models\""))
                })
                .count()
        })
        .unwrap_or(0);
    assert_eq!(named as u64, imacs, "{report:#}");
}

// ----- 4. Throttling -------------------------------------------------------------------------

#[tokio::test]
async fn a_fractional_retry_after_is_waited_out() {
    // Graph-style: 429 with Retry-After 2.128, and 429 again to any retry before then.
    let state: Arc<Mutex<Option<Instant>>> = Arc::default();
    let shared = state.clone();
    let router = Router::new()
        .route(
            "/things",
            get(|Query(q): Query<HashMap<String, String>>| async move {
                let serial = q.get("serial").cloned().unwrap_or_default();
                axum::Json(json!([{"serial": serial, "id": format!("T-{serial}"), "name": "old"}]))
            }),
        )
        .route(
            "/things/{id}",
            axum::routing::patch(move |Path(_id): Path<String>| {
                let shared = shared.clone();
                async move {
                    let mut first = shared.lock().unwrap_or_else(|e| e.into_inner());
                    let ready = first.is_some_and(|at| at.elapsed() >= Duration::from_millis(2128));
                    if ready {
                        return StatusCode::NO_CONTENT.into_response();
                    }
                    first.get_or_insert_with(Instant::now);
                    (
                        StatusCode::TOO_MANY_REQUESTS,
                        [(header::RETRY_AFTER, "2.128")],
                        axum::Json(
                            json!({"error": {"code": "TooManyRequests", "message": "throttled"}}),
                        ),
                    )
                        .into_response()
                }
            }),
        );
    let addr = standins::serve(router).await;
    let source = plain_source(vec!["R0001".into()]).await;
    let run = Run::new(&format!(
        r#"{}
[[connections]]
name = "graph-like"
base_url = "http://{addr}"
max_retries = 2
[connections.fetch]
path = "/things"
query = {{ serial = "{{serial}}" }}
serial_field = "serial"
id_field = "id"
[connections.update]
method = "PATCH"
path = "/things/{{id}}"
[[connections.mapping]]
source = "name"
target = "name"
"#,
        source_block(source)
    ));
    let c = run.run(&["--single", "R0001", "--live", "--force"]).await;
    // Before: the fraction was not read, the retries came early and the record Failed.
    assert_eq!(counter(&c, "updated"), 1, "{c:#}");
    assert_eq!(counter(&c, "failed"), 0, "{c:#}");
}

#[tokio::test]
async fn rate_limit_per_sec_holds_for_lookups_too() {
    // A destination that refuses (400, not retried) any request closer than 60% of 1/rate
    // to the one before: lookups included.
    let last: Arc<Mutex<Option<Instant>>> = Arc::default();
    let refused = Arc::new(AtomicU64::new(0));
    let gate = {
        let last = last.clone();
        let refused = refused.clone();
        move || -> Option<Response> {
            let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            let early = last.is_some_and(|at| now.duration_since(at) < Duration::from_millis(60));
            *last = Some(now);
            early.then(|| {
                refused.fetch_add(1, Ordering::SeqCst);
                (
                    StatusCode::BAD_REQUEST,
                    axum::Json(
                        json!({"error": {"code": "RATE", "message": "over the agreed rate"}}),
                    ),
                )
                    .into_response()
            })
        }
    };
    let lookup_gate = gate.clone();
    let router = Router::new()
        .route(
            "/things",
            get(move |Query(q): Query<HashMap<String, String>>| {
                let refusal = lookup_gate();
                async move {
                    if let Some(r) = refusal {
                        return r;
                    }
                    let serial = q.get("serial").cloned().unwrap_or_default();
                    axum::Json(
                        json!([{"serial": serial, "id": format!("T-{serial}"), "name": "old"}]),
                    )
                    .into_response()
                }
            }),
        )
        .route(
            "/things/{id}",
            axum::routing::patch(move |Path(_id): Path<String>| {
                let refusal = gate();
                async move { refusal.unwrap_or_else(|| StatusCode::NO_CONTENT.into_response()) }
            }),
        );
    let addr = standins::serve(router).await;
    let source = plain_source(serials("Q", 8)).await;
    let run = Run::new(&format!(
        r#"{}
[[connections]]
name = "agreed-rate"
base_url = "http://{addr}"
concurrency = 4
rate_limit_per_sec = 10
[connections.fetch]
path = "/things"
query = {{ serial = "{{serial}}" }}
serial_field = "serial"
id_field = "id"
[connections.update]
method = "PATCH"
path = "/things/{{id}}"
[[connections.mapping]]
source = "name"
target = "name"
"#,
        source_block(source)
    ));
    let c = run.run(&["--full", "--live", "--force"]).await;
    // Before: lookups went out unlimited (and writes in a burst of a second's worth).
    assert_eq!(refused.load(Ordering::SeqCst), 0);
    assert_eq!(counter(&c, "updated"), 8, "{c:#}");
}

// ----- 5. Real schemas -----------------------------------------------------------------------

#[tokio::test]
async fn a_question_mark_in_the_endpoint_is_refused_with_the_query_key_named() {
    let run = Run::new(
        r#"
[source]
base_url = "https://yourcompany.jamfcloud.com"
endpoint = "/api/v1/computers-inventory?section=HARDWARE"
id_field = "hardware.serialNumber"

[[connections]]
name = "c"
base_url = "http://127.0.0.1:9"
[connections.fetch]
path = "/x"
query = { serial = "{serial}" }
serial_field = "serial"
id_field = "id"
[connections.update]
method = "PATCH"
path = "/x/{id}"
[[connections.mapping]]
source = "a"
target = "a"
"#,
    );
    let out = run
        .syncdeck(&["check-config", run.config.to_str().unwrap_or_default()])
        .await;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr.contains(":4:")
            && out.stderr.contains("source.endpoint")
            && out.stderr.contains("`query`"),
        "{out:?}"
    );
}

#[tokio::test]
async fn an_odata_filter_doubles_the_quote_in_a_serial() {
    let mut macs = fleet("C02Q", 3);
    macs[1].serial = "C02'Q0001".to_string();
    let graph = standins::graph::Graph::new(&macs, GRAPH_SECRET, 10);
    let addr = standins::serve(standins::graph::router(graph.clone())).await;
    let source = plain_source(macs.iter().map(|d| d.serial.clone()).collect()).await;
    let text = format!(
        r#"{}
[[credentials]]
name = "graph"
kind = "oauth2_client_credentials"
token_url = "http://{addr}/contoso-tenant/oauth2/v2.0/token"
client_id = "syncdeck-graph-app"
client_secret = "env:T13_GRAPH_SECRET"
scope = "https://graph.microsoft.com/.default"

[[connections]]
name = "intune"
credential = "graph"
base_url = "http://{addr}"
[connections.fetch]
path = "/v1.0/deviceManagement/managedDevices"
query = {{ "$filter" = "serialNumber eq '{{serial|odata}}'" }}
results_position = "/value"
serial_field = "serialNumber"
id_field = "id"
[connections.update]
method = "PATCH"
path = "/v1.0/deviceManagement/managedDevices/{{id}}"
[[connections.mapping]]
source = "name"
target = "notes"
"#,
        source_block(source)
    );
    let c = Run::new(&text).run(&["--full", "--dry-run"]).await;
    assert_eq!(counter(&c, "errors"), 0, "{c:#}");
    assert_eq!(counter(&c, "would_update"), 3, "{c:#}");
}

// ----- 6. One source per config --------------------------------------------------------------

#[tokio::test]
async fn a_source_read_by_two_connections_is_listed_once_per_run() {
    let macs = fleet("C02D", 24);
    let jamf = standins::jamf::Jamf::new(macs.clone(), JAMF_PASSWORD, "unused");
    let addr = standins::serve(standins::jamf::router(jamf.clone())).await;
    let connection = |name: &str| {
        format!(
            r#"
[[connections]]
name = "{name}"
credential = "jamf"
base_url = "http://{addr}"
[connections.fetch]
path = "/JSSResource/computers/serialnumber/{{serial}}"
results_position = "_single"
serial_field = "computer.general.serial_number"
id_field = "computer.general.id"
[connections.update]
method = "PUT"
path = "/JSSResource/computers/serialnumber/{{serial}}"
formatter = "xml"
xml_root = "computer"
[[connections.mapping]]
source = "general.name"
target = "general.name"
compare = "computer.general.name"
"#
        )
    };
    let text = format!(
        r#"
[[sources]]
name = "Jamf Pro"
base_url = "http://{addr}"
endpoint = "/api/v1/computers-inventory"
query = {{ section = ["GENERAL", "HARDWARE"] }}
results_position = "results"
id_field = "hardware.serialNumber"
credential = "jamf"
[sources.pagination]
style = "page"
page_param = "page"
first_page = 0
size_param = "page-size"
size = 10
total_position = "totalCount"

[[credentials]]
name = "jamf"
kind = "token_exchange"
token_url = "/api/v1/auth/token"
username = "sync-bot"
password = "env:T13_JAMF_PASSWORD"
token_position = "token"
{}{}"#,
        connection("first"),
        connection("second")
    );
    let run = Run::new(&text);
    let out = run
        .syncdeck(&["run", "--full", "--dry-run", "--json"])
        .await;
    let summary = out.json();
    for c in summary["connections"].as_array().into_iter().flatten() {
        assert_eq!(counter(c, "skipped"), 24, "{c:#}");
    }
    // 24 records, 10 a page, the total known: 3 pages, once for both connections.
    assert_eq!(jamf.listings.load(Ordering::SeqCst), 3);
}

// ----- 7. Tokens renewed before they expire; the source's own rate -------------------------

#[tokio::test]
async fn a_token_is_renewed_before_it_expires() {
    // Tokens live 0.6 s and the endpoint says so ("expires_in"-style seconds at `ttl`); one
    // presented after that is answered 401. The run lasts over two seconds (4 requests a
    // second): tokens are renewed ahead, and no request meets an expired one.
    let issued: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let expired = Arc::new(AtomicU64::new(0));
    let check = {
        let issued = issued.clone();
        let expired = expired.clone();
        move |headers: &axum::http::HeaderMap| -> bool {
            let token = standins::bearer(headers).unwrap_or_default();
            let fresh = issued
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&token)
                .is_some_and(|at| at.elapsed() < Duration::from_millis(600));
            if !fresh {
                expired.fetch_add(1, Ordering::SeqCst);
            }
            fresh
        }
    };
    let lookup_check = check.clone();
    let router = Router::new()
        .route(
            "/auth",
            axum::routing::post({
                let issued = issued.clone();
                move || {
                    let issued = issued.clone();
                    async move {
                        let mut all = issued.lock().unwrap_or_else(|e| e.into_inner());
                        let token = format!("short-lived-{}", all.len() + 1);
                        all.insert(token.clone(), Instant::now());
                        axum::Json(json!({"data": {"token": token, "ttl": 0.6}}))
                    }
                }
            }),
        )
        .route(
            "/things",
            get(
                move |headers: axum::http::HeaderMap, Query(q): Query<HashMap<String, String>>| {
                    let ok = lookup_check(&headers);
                    async move {
                        if !ok {
                            return StatusCode::UNAUTHORIZED.into_response();
                        }
                        let serial = q.get("serial").cloned().unwrap_or_default();
                        axum::Json(
                            json!([{"serial": serial, "id": format!("T-{serial}"), "name": "old"}]),
                        )
                        .into_response()
                    }
                },
            ),
        )
        .route(
            "/things/{id}",
            axum::routing::patch(move |headers: axum::http::HeaderMap| {
                let ok = check(&headers);
                async move {
                    if ok {
                        StatusCode::NO_CONTENT
                    } else {
                        StatusCode::UNAUTHORIZED
                    }
                }
            }),
        );
    let addr = standins::serve(router).await;
    let source = plain_source(serials("K", 5)).await;
    let run = Run::new(&format!(
        r#"{}
[[credentials]]
name = "short"
kind = "token_exchange"
token_url = "/auth"
username = "bot"
password = "env:T13_JAMF_PASSWORD"
token_position = "data.token"
expires_position = "/data/ttl"

[[connections]]
name = "short-lived"
credential = "short"
base_url = "http://{addr}"
concurrency = 1
rate_limit_per_sec = 4
[connections.fetch]
path = "/things"
query = {{ serial = "{{serial}}" }}
serial_field = "serial"
id_field = "id"
[connections.update]
method = "PATCH"
path = "/things/{{id}}"
[[connections.mapping]]
source = "name"
target = "name"
"#,
        source_block(source)
    ));
    let c = run.run(&["--full", "--live", "--force"]).await;
    assert_eq!(counter(&c, "updated"), 5, "{c:#}");
    assert_eq!(
        expired.load(Ordering::SeqCst),
        0,
        "a request met an expired token"
    );
    let tokens = issued.lock().unwrap_or_else(|e| e.into_inner()).len();
    assert!(
        tokens >= 3,
        "{tokens} tokens for a run of 10 requests over 2 s"
    );
}

#[tokio::test]
async fn the_source_keeps_its_own_rate_limit() {
    // A source that refuses (400) a page asked for closer than 60% of 1/rate to the one
    // before; the destination has no limit at all.
    let last: Arc<Mutex<Option<Instant>>> = Arc::default();
    let refused = Arc::new(AtomicU64::new(0));
    let router = Router::new().route(
        "/devices",
        get({
            let last = last.clone();
            let refused = refused.clone();
            move |Query(q): Query<HashMap<String, String>>| {
                let early = {
                    let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
                    let now = Instant::now();
                    let early =
                        last.is_some_and(|at| now.duration_since(at) < Duration::from_millis(120));
                    *last = Some(now);
                    early
                };
                if early {
                    refused.fetch_add(1, Ordering::SeqCst);
                }
                async move {
                    if early {
                        return (StatusCode::BAD_REQUEST, "too fast").into_response();
                    }
                    let page: usize = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
                    let items: Vec<Value> = (0..5)
                        .filter(|_| page <= 4)
                        .map(|i| json!({"serial": format!("P{page}-{i}"), "name": "n"}))
                        .collect();
                    axum::Json(json!({"items": items})).into_response()
                }
            }
        }),
    );
    let addr = standins::serve(router).await;
    let destination = plain_source(Vec::new()).await;
    let run = Run::new(&format!(
        r#"
[source]
base_url = "http://{addr}"
endpoint = "/devices"
results_position = "items"
id_field = "serial"
rate_limit_per_sec = 5
[source.pagination]
style = "page"
size = 5

[[connections]]
name = "d"
base_url = "http://{destination}"
[connections.fetch]
path = "/devices"
query = {{ serial = "{{serial}}" }}
serial_field = "serial"
id_field = "serial"
[connections.update]
method = "PATCH"
path = "/devices/{{id}}"
[[connections.mapping]]
source = "name"
target = "name"
"#
    ));
    let c = run.run(&["--full", "--dry-run"]).await;
    assert_eq!(c["status"], "completed", "{c:#}");
    assert_eq!(c["fetched"], 20, "{c:#}");
    assert_eq!(refused.load(Ordering::SeqCst), 0);
}
