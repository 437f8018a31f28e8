//! ServiceNow CMDB through the Table API.
//!
//! Followed: https://www.servicenow.com/docs/bundle/xanadu-api-reference/page/integrate/inbound-rest/concept/c_TableAPI.html
//! (`GET /api/now/table/{tableName}` with `sysparm_query` (an encoded query: conditions joined
//! by `^`, a literal `^` written `^^`), `sysparm_limit`, `sysparm_offset`, answered
//! `{"result": […]}` with a `Link` header (rel first, prev, next, last) and `X-Total-Count`, as
//! in the sample response https://gist.github.com/bryanbarnard/ee1d952604a11e0f0342; `PATCH
//! /api/now/table/{tableName}/{sys_id}` answered `{"result": {…}}`; errors as `{"error":
//! {"message", "detail"}, "status": "failure"}`), basic auth, and rate limit rules answering
//! 429 with `Retry-After` and `X-RateLimit-*` headers. Query ACLs hide rows from a page
//! without changing the paging: a page comes back shorter, with a next link.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::Throttling;

pub const USER: &str = "svc-syncdeck";
pub const TABLE: &str = "cmdb_ci_computer";

pub struct ServiceNow {
    /// serial → CI record.
    pub records: Mutex<BTreeMap<String, Value>>,
    pub password: String,
    pub throttling: Throttling,
    /// Hide every CI whose name starts with "srv-" from listings (a query ACL).
    pub acl: AtomicBool,
    pub addr: OnceLock<SocketAddr>,
    pub patches: AtomicU64,
    /// sysparm_query values seen on per-serial lookups.
    pub queries: Mutex<Vec<String>>,
}

impl ServiceNow {
    pub fn new(password: &str) -> Arc<ServiceNow> {
        Arc::new(ServiceNow {
            records: Mutex::new(BTreeMap::new()),
            password: password.to_string(),
            throttling: Throttling::default(),
            acl: AtomicBool::new(false),
            addr: OnceLock::new(),
            patches: AtomicU64::new(0),
            queries: Mutex::new(Vec::new()),
        })
    }

    /// Adds a CI with this serial.
    pub fn insert(&self, serial: &str, fields: Value) {
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        let sys_id = format!("{:032x}", records.len() + 1);
        let mut record =
            json!({"sys_id": sys_id, "serial_number": serial, "sys_class_name": TABLE});
        if let (Value::Object(record), Value::Object(fields)) = (&mut record, fields) {
            record.extend(fields);
        }
        records.insert(serial.to_string(), record);
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        use base64::Engine as _;
        let expected =
            base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{}", self.password));
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            == Some(expected.as_str())
    }
}

fn failure(status: StatusCode, message: &str, detail: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": {"message": message, "detail": detail}, "status": "failure"})),
    )
        .into_response()
}

pub fn router(sn: Arc<ServiceNow>) -> Router {
    Router::new()
        .route("/api/now/table/{table}", get(list))
        .route("/api/now/table/{table}/{sys_id}", get(read).patch(update))
        .with_state(sn)
}

fn throttled(sn: &ServiceNow) -> Option<Response> {
    sn.throttling.check(|| {
        let mut response = failure(
            StatusCode::TOO_MANY_REQUESTS,
            "Rate limit exceeded",
            "The rate limit rule for this user has been exceeded",
        );
        response.headers_mut().insert(
            "X-RateLimit-Limit",
            "100".parse().unwrap_or_else(|_| unreachable!()),
        );
        response
    })
}

async fn list(
    State(sn): State<Arc<ServiceNow>>,
    headers: HeaderMap,
    Path(table): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if !sn.authorized(&headers) {
        return failure(
            StatusCode::UNAUTHORIZED,
            "User Not Authenticated",
            "Required to provide Auth information",
        );
    }
    if table != TABLE {
        return failure(
            StatusCode::BAD_REQUEST,
            "Invalid table",
            &format!("Invalid table {table}"),
        );
    }
    if let Some(response) = throttled(&sn) {
        return response;
    }
    let records = sn.records.lock().unwrap_or_else(|e| e.into_inner());
    let mut all: Vec<&Value> = records.values().collect();
    if let Some(q) = query.get("sysparm_query") {
        sn.queries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(q.clone());
        // serial_number=X, with ^^ a literal ^ in X.
        let wanted = q
            .strip_prefix("serial_number=")
            .unwrap_or_default()
            .replace("^^", "^");
        all.retain(|r| r["serial_number"] == wanted);
    }
    let limit: usize = query
        .get("sysparm_limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(10_000);
    let offset: usize = query
        .get("sysparm_offset")
        .and_then(|o| o.parse().ok())
        .unwrap_or(0);
    let total = all.len();
    let hide = sn.acl.load(Ordering::SeqCst);
    let page: Vec<&Value> = all
        .iter()
        .skip(offset)
        .take(limit)
        .filter(|r| !(hide && r["name"].as_str().is_some_and(|n| n.starts_with("srv-"))))
        .copied()
        .collect();
    let addr = sn.addr.get().map(ToString::to_string).unwrap_or_default();
    let link = |offset: usize, rel: &str| {
        format!(
            "<http://{addr}/api/now/table/{TABLE}?sysparm_limit={limit}&sysparm_offset={offset}>;rel=\"{rel}\""
        )
    };
    let mut links = vec![link(0, "first")];
    if offset > 0 {
        links.push(link(offset.saturating_sub(limit), "prev"));
    }
    if offset + limit < total {
        links.push(link(offset + limit, "next"));
    }
    links.push(link(total.saturating_sub(1) / limit.max(1) * limit, "last"));
    (
        [
            (header::LINK, links.join(",")),
            (
                header::HeaderName::from_static("x-total-count"),
                total.to_string(),
            ),
        ],
        axum::Json(json!({"result": page})),
    )
        .into_response()
}

async fn read(
    State(sn): State<Arc<ServiceNow>>,
    headers: HeaderMap,
    Path((_, sys_id)): Path<(String, String)>,
) -> Response {
    if !sn.authorized(&headers) {
        return failure(
            StatusCode::UNAUTHORIZED,
            "User Not Authenticated",
            "Required to provide Auth information",
        );
    }
    let records = sn.records.lock().unwrap_or_else(|e| e.into_inner());
    match records.values().find(|r| r["sys_id"] == sys_id) {
        Some(record) => axum::Json(json!({"result": record})).into_response(),
        None => failure(
            StatusCode::NOT_FOUND,
            "No Record found",
            "Record doesn't exist or ACL restricts the record retrieval",
        ),
    }
}

async fn update(
    State(sn): State<Arc<ServiceNow>>,
    headers: HeaderMap,
    Path((_, sys_id)): Path<(String, String)>,
    axum::Json(patch): axum::Json<Value>,
) -> Response {
    if !sn.authorized(&headers) {
        return failure(
            StatusCode::UNAUTHORIZED,
            "User Not Authenticated",
            "Required to provide Auth information",
        );
    }
    if let Some(response) = throttled(&sn) {
        return response;
    }
    let mut records = sn.records.lock().unwrap_or_else(|e| e.into_inner());
    let Some(record) = records.values_mut().find(|r| r["sys_id"] == sys_id) else {
        return failure(
            StatusCode::NOT_FOUND,
            "No Record found",
            "Record doesn't exist or ACL restricts the record retrieval",
        );
    };
    if let (Value::Object(record), Value::Object(patch)) = (record, patch) {
        record.extend(patch);
    }
    sn.patches.fetch_add(1, Ordering::SeqCst);
    let record = records.values().find(|r| r["sys_id"] == sys_id).cloned();
    axum::Json(json!({"result": record})).into_response()
}
