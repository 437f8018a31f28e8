//! NetBox (DCIM devices), as destination.
//!
//! Followed: https://netboxlabs.com/docs/netbox/integrations/rest-api/ (lists answered
//! `{"count", "next", "previous", "results"}` with `limit`/`offset` and an absolute `next`
//! URL, null on the last page; a choice field such as `status` written as its value
//! (`"active"`) and read back as `{"value", "label"}`; a related object such as `site` written
//! as its numeric id and read back nested (`{"id", "url", "display", "name", "slug"}`); `PATCH
//! /api/dcim/devices/{id}/`; errors as `{"detail": …}` or field → [messages]; tokens sent as
//! `Authorization: Token <key>` or, for v2 tokens, `Authorization: Bearer nbt_…`), and
//! https://netboxlabs.com/docs/netbox/reference/filtering/ (`?serial=X`).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::{SITES, Throttling};

pub struct NetBox {
    /// id → device.
    pub devices: Mutex<BTreeMap<u64, Value>>,
    pub token: String,
    pub throttling: Throttling,
    pub addr: OnceLock<SocketAddr>,
    pub patches: AtomicU64,
}

pub fn site_id(name: &str) -> Option<u64> {
    SITES.iter().position(|s| *s == name).map(|i| 1 + i as u64)
}

fn site(id: u64) -> Option<Value> {
    let name = SITES.get(usize::try_from(id).ok()?.checked_sub(1)?)?;
    Some(
        json!({"id": id, "url": format!("/api/dcim/sites/{id}/"), "display": name, "name": name, "slug": name.to_lowercase()}),
    )
}

fn status(value: &str) -> Value {
    let label = match value {
        "active" => "Active",
        "planned" => "Planned",
        "offline" => "Offline",
        _ => "Unknown",
    };
    json!({"value": value, "label": label})
}

/// A device as NetBox shows it.
pub fn device(
    id: u64,
    name: &str,
    serial: &str,
    status_value: &str,
    site_name: &str,
    asset_tag: &str,
) -> Value {
    json!({
        "id": id,
        "url": format!("/api/dcim/devices/{id}/"),
        "name": name,
        "serial": serial,
        "asset_tag": asset_tag,
        "status": status(status_value),
        "site": site_id(site_name).and_then(site),
    })
}

impl NetBox {
    pub fn new(token: &str) -> Arc<NetBox> {
        Arc::new(NetBox {
            devices: Mutex::new(BTreeMap::new()),
            token: token.to_string(),
            throttling: Throttling::default(),
            addr: OnceLock::new(),
            patches: AtomicU64::new(0),
        })
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        given == Some(&format!("Token {}", self.token))
            || given == Some(&format!("Bearer {}", self.token))
    }
}

fn detail(status: StatusCode, text: &str) -> Response {
    (status, axum::Json(json!({"detail": text}))).into_response()
}

pub fn router(netbox: Arc<NetBox>) -> Router {
    Router::new()
        .route("/api/dcim/devices/", get(list_devices))
        .route("/api/dcim/devices/{id}/", get(read).patch(update))
        .route("/api/dcim/sites/", get(list_sites))
        .with_state(netbox)
}

fn gate(netbox: &NetBox, headers: &HeaderMap) -> Option<Response> {
    if !netbox.authorized(headers) {
        return Some(detail(StatusCode::FORBIDDEN, "Invalid token"));
    }
    netbox
        .throttling
        .check(|| detail(StatusCode::TOO_MANY_REQUESTS, "Request was throttled."))
}

fn page(netbox: &NetBox, path: &str, all: Vec<Value>, query: &HashMap<String, String>) -> Response {
    let limit: usize = query
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(50);
    let offset: usize = query
        .get("offset")
        .and_then(|o| o.parse().ok())
        .unwrap_or(0);
    let count = all.len();
    let addr = netbox
        .addr
        .get()
        .map(ToString::to_string)
        .unwrap_or_default();
    let next = (offset + limit < count).then(|| {
        format!(
            "http://{addr}{path}?limit={limit}&offset={}",
            offset + limit
        )
    });
    let results: Vec<Value> = all.into_iter().skip(offset).take(limit).collect();
    axum::Json(json!({"count": count, "next": next, "previous": null, "results": results}))
        .into_response()
}

async fn list_devices(
    State(netbox): State<Arc<NetBox>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Some(response) = gate(&netbox, &headers) {
        return response;
    }
    let devices = netbox.devices.lock().unwrap_or_else(|e| e.into_inner());
    let mut all: Vec<Value> = devices.values().cloned().collect();
    if let Some(serial) = query.get("serial") {
        all.retain(|d| d["serial"] == *serial);
    }
    page(&netbox, "/api/dcim/devices/", all, &query)
}

async fn list_sites(
    State(netbox): State<Arc<NetBox>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Some(response) = gate(&netbox, &headers) {
        return response;
    }
    let all = (1..=SITES.len() as u64).filter_map(site).collect();
    page(&netbox, "/api/dcim/sites/", all, &query)
}

async fn read(
    State(netbox): State<Arc<NetBox>>,
    headers: HeaderMap,
    Path(id): Path<u64>,
) -> Response {
    if let Some(response) = gate(&netbox, &headers) {
        return response;
    }
    let devices = netbox.devices.lock().unwrap_or_else(|e| e.into_inner());
    match devices.get(&id) {
        Some(device) => axum::Json(device.clone()).into_response(),
        None => detail(StatusCode::NOT_FOUND, "No Device matches the given query."),
    }
}

async fn update(
    State(netbox): State<Arc<NetBox>>,
    headers: HeaderMap,
    Path(id): Path<u64>,
    axum::Json(fields): axum::Json<Value>,
) -> Response {
    if let Some(response) = gate(&netbox, &headers) {
        return response;
    }
    let mut devices = netbox.devices.lock().unwrap_or_else(|e| e.into_inner());
    let Some(device) = devices.get_mut(&id) else {
        return detail(StatusCode::NOT_FOUND, "No Device matches the given query.");
    };
    if let Some(value) = fields.get("status") {
        match value.as_str() {
            Some(v @ ("active" | "planned" | "offline")) => device["status"] = status(v),
            _ => {
                return (
                    StatusCode::BAD_REQUEST,
                    axum::Json(json!({"status": [format!("{value} is not a valid choice.")]})),
                )
                    .into_response();
            }
        }
    }
    if let Some(value) = fields.get("site") {
        match value.as_u64().and_then(site) {
            Some(site) => device["site"] = site,
            None => return (StatusCode::BAD_REQUEST, axum::Json(json!({"site": [format!("Related object not found using the provided numeric ID: {value}")]}))).into_response(),
        }
    }
    if let Some(value) = fields.get("asset_tag") {
        device["asset_tag"] = value.clone();
    }
    netbox.patches.fetch_add(1, Ordering::SeqCst);
    axum::Json(device.clone()).into_response()
}
