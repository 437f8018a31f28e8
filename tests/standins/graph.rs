//! Microsoft Graph (Intune managed devices), as source and as destination.
//!
//! Followed: https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow
//! (`POST /{tenant}/oauth2/v2.0/token` with a form `client_id`, `client_secret`, `scope`,
//! `grant_type=client_credentials`, answered `{"token_type", "expires_in", "access_token"}`;
//! a wrong secret is 401 `{"error": "invalid_client", …}`),
//! https://learn.microsoft.com/en-us/graph/api/intune-devices-manageddevice-list and
//! https://learn.microsoft.com/en-us/graph/paging (`{"@odata.context", "value": […],
//! "@odata.nextLink"}` with `$top`, `$filter`, `$skiptoken`),
//! https://learn.microsoft.com/en-us/graph/api/intune-devices-manageddevice-update (`PATCH
//! /deviceManagement/managedDevices/{id}`, 204), and
//! https://learn.microsoft.com/en-us/graph/throttling (429 with `Retry-After` in seconds, an
//! `{"error": {"code", "message"}}` body).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::{Device, Start, Throttling, Tokens, bearer, start_of, unauthorized};

pub const TENANT: &str = "contoso-tenant";
pub const CLIENT_ID: &str = "syncdeck-graph-app";
pub const SCOPE: &str = "https://graph.microsoft.com/.default";

pub struct Graph {
    /// id → managed device.
    pub devices: Mutex<BTreeMap<String, Value>>,
    pub client_secret: String,
    pub tokens: Tokens,
    pub throttling: Throttling,
    pub page_size: usize,
    pub addr: OnceLock<SocketAddr>,
    pub patches: AtomicU64,
}

fn device_id(serial: &str) -> String {
    format!(
        "{:08x}-0000-4000-8000-{:012x}",
        serial.len(),
        fxhash(serial)
    )
}

fn fxhash(text: &str) -> u64 {
    text.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    }) & 0xffff_ffff_ffff
}

/// The managed device of `device` as Graph lists it.
pub fn managed_device(device: &Device, notes: &str) -> Value {
    json!({
        "id": device_id(&device.serial),
        "deviceName": device.name,
        "managedDeviceName": device.name,
        "serialNumber": device.serial,
        "operatingSystem": if device.serial.starts_with("PC") { "Windows" } else { "macOS" },
        "model": device.model,
        "userPrincipalName": device.user,
        "notes": notes,
    })
}

impl Graph {
    /// A tenant whose managed devices are `fleet` (as a source).
    pub fn new(fleet: &[Device], client_secret: &str, page_size: usize) -> Arc<Graph> {
        let devices = fleet
            .iter()
            .map(|d| (device_id(&d.serial), managed_device(d, "")))
            .collect();
        Arc::new(Graph {
            devices: Mutex::new(devices),
            client_secret: client_secret.to_string(),
            tokens: Tokens::default(),
            throttling: Throttling::default(),
            page_size,
            addr: OnceLock::new(),
            patches: AtomicU64::new(0),
        })
    }

    /// As the destination of `fleet`: records current (holding `current(i, device)`), stale or
    /// absent by [`start_of`].
    pub fn as_destination(
        &self,
        fleet: &[Device],
        current: impl Fn(usize, &Device, bool) -> Value,
    ) {
        let mut devices = self.devices.lock().unwrap_or_else(|e| e.into_inner());
        devices.clear();
        for (i, device) in fleet.iter().enumerate() {
            if start_of(i) == Start::Absent {
                continue;
            }
            let record = current(i, device, start_of(i) == Start::Stale);
            devices.insert(device_id(&device.serial), record);
        }
    }
}

fn graph_error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, axum::Json(json!({"error": {"code": code, "message": message, "innerError": {"request-id": "00000000-0000-0000-0000-000000000000"}}})))
        .into_response()
}

pub fn router(graph: Arc<Graph>) -> Router {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route("/v1.0/deviceManagement/managedDevices", get(list))
        .route(
            "/v1.0/deviceManagement/managedDevices/{id}",
            get(read).patch(update),
        )
        .with_state(graph)
}

async fn token(
    State(graph): State<Arc<Graph>>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Response {
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let ok = tenant == TENANT
        && form.get("grant_type").map(String::as_str) == Some("client_credentials")
        && form.get("client_id").map(String::as_str) == Some(CLIENT_ID)
        && form.get("client_secret") == Some(&graph.client_secret)
        // The resource's identifier URI and /.default (the test points the host elsewhere).
        && form.get("scope").is_some_and(|scope| scope.ends_with("/.default"));
    if !ok {
        return unauthorized(json!({
            "error": "invalid_client",
            "error_description": "AADSTS7000215: Invalid client secret provided.",
        }));
    }
    let token = graph.tokens.issue("graph-token");
    axum::Json(json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token}))
        .into_response()
}

async fn list(
    State(graph): State<Arc<Graph>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if !graph.tokens.valid(bearer(&headers).as_deref()) {
        return graph_error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "Access token has expired or is not yet valid.",
        );
    }
    if let Some(throttled) = graph.throttling.check(|| {
        graph_error(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            "Too many requests.",
        )
    }) {
        return throttled;
    }
    let devices = graph.devices.lock().unwrap_or_else(|e| e.into_inner());
    let mut all: Vec<&Value> = devices.values().collect();
    if let Some(filter) = query.get("$filter") {
        // serialNumber eq 'X' | operatingSystem eq 'macOS', a quote in X doubled (OData).
        let Some((field, literal)) = filter.split_once(" eq '") else {
            return graph_error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "Invalid filter clause",
            );
        };
        let literal = literal
            .strip_suffix('\'')
            .unwrap_or(literal)
            .replace("''", "'");
        all.retain(|d| d[field.trim()] == literal);
    }
    let top: usize = query
        .get("$top")
        .and_then(|t| t.parse().ok())
        .unwrap_or(graph.page_size);
    let skip: usize = query
        .get("$skiptoken")
        .and_then(|t| t.strip_prefix("skip-"))
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let page: Vec<&Value> = all.iter().skip(skip).take(top).copied().collect();
    let mut body = json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#deviceManagement/managedDevices",
        "value": page,
    });
    if skip + top < all.len() {
        let addr = graph
            .addr
            .get()
            .map(ToString::to_string)
            .unwrap_or_default();
        let mut next = format!(
            "http://{addr}/v1.0/deviceManagement/managedDevices?$top={top}&$skiptoken=skip-{}",
            skip + top
        );
        if let Some(filter) = query.get("$filter") {
            next.push_str(&format!(
                "&$filter={}",
                filter.replace(' ', "%20").replace('\'', "%27")
            ));
        }
        body["@odata.nextLink"] = json!(next);
    }
    axum::Json(body).into_response()
}

async fn read(
    State(graph): State<Arc<Graph>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if !graph.tokens.valid(bearer(&headers).as_deref()) {
        return graph_error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "Access token has expired or is not yet valid.",
        );
    }
    let devices = graph.devices.lock().unwrap_or_else(|e| e.into_inner());
    match devices.get(&id) {
        Some(device) => axum::Json(device.clone()).into_response(),
        None => graph_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            "Resource not found",
        ),
    }
}

async fn update(
    State(graph): State<Arc<Graph>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    axum::Json(patch): axum::Json<Value>,
) -> Response {
    if !graph.tokens.valid(bearer(&headers).as_deref()) {
        return graph_error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "Access token has expired or is not yet valid.",
        );
    }
    if let Some(throttled) = graph.throttling.check(|| {
        graph_error(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            "Too many requests.",
        )
    }) {
        return throttled;
    }
    let mut devices = graph.devices.lock().unwrap_or_else(|e| e.into_inner());
    let Some(device) = devices.get_mut(&id) else {
        return graph_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            "Resource not found",
        );
    };
    let Value::Object(fields) = patch else {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Invalid request body",
        );
    };
    for (key, value) in fields {
        if !matches!(key.as_str(), "managedDeviceName" | "notes") {
            return graph_error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                &format!("Property '{key}' is read-only"),
            );
        }
        device[key] = value;
    }
    graph.patches.fetch_add(1, Ordering::SeqCst);
    StatusCode::NO_CONTENT.into_response()
}
