//! Kandji, as source and as destination.
//!
//! Followed: https://api-docs.kandji.io/ (bearer API tokens; `GET /api/v1/devices` with
//! `limit` (at most 300), `offset` and filters such as `serial_number`, answered with a bare
//! array of `{"device_id", "device_name", "serial_number", "model", "blueprint_id",
//! "blueprint_name", "asset_tag", "user"}`; `PATCH /api/v1/devices/{device_id}` with
//! `blueprint_id`, `asset_tag`; `GET /api/v1/blueprints` answered `{"count", "next",
//! "previous", "results": [{"id", "name"}]}`; 404 `{"detail": "Not found."}`; a rate limit of
//! 10,000 requests an hour answered 429), as the SDK generated from it lists:
//! https://github.com/MScottBlake/kandji-python-sdk/blob/main/docs/DeviceInformationApi.md

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::{Device, SITES, Throttling, bearer};

/// Blueprints: one per office, and a standard one.
pub const BLUEPRINTS: [&str; 3] = ["Paris", "Berlin", "Standard Mac"];

pub fn blueprint_id(name: &str) -> Option<String> {
    BLUEPRINTS
        .iter()
        .position(|b| *b == name)
        .map(|i| format!("bp-{i}-5f2c-4a8e-9d1b"))
}

pub struct Kandji {
    /// device_id → device.
    pub devices: Mutex<BTreeMap<String, Value>>,
    pub token: String,
    pub throttling: Throttling,
    pub addr: OnceLock<SocketAddr>,
    pub patches: AtomicU64,
}

/// A device as Kandji lists it; `blueprint` by name.
pub fn device(
    i: usize,
    serial: &str,
    name: &str,
    model: &str,
    blueprint: &str,
    asset_tag: &str,
    user: &str,
) -> Value {
    json!({
        "device_id": format!("kd-{i:04}-{serial}"),
        "device_name": name,
        "serial_number": serial,
        "model": model,
        "platform": "Mac",
        "blueprint_id": blueprint_id(blueprint),
        "blueprint_name": blueprint,
        "asset_tag": asset_tag,
        "user": {"email": user, "name": user.split('@').next().unwrap_or(user)},
    })
}

impl Kandji {
    /// A tenant whose devices are `fleet`, each on its site's blueprint.
    pub fn new(fleet: &[Device], token: &str) -> Arc<Kandji> {
        let devices = fleet
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let record = device(
                    i,
                    &d.serial,
                    &d.name,
                    d.model,
                    d.site,
                    &format!("KT-{i:04}"),
                    &d.user,
                );
                (
                    record["device_id"].as_str().unwrap_or_default().to_string(),
                    record,
                )
            })
            .collect();
        Arc::new(Kandji {
            devices: Mutex::new(devices),
            token: token.to_string(),
            throttling: Throttling::default(),
            addr: OnceLock::new(),
            patches: AtomicU64::new(0),
        })
    }

    /// Replaces the devices (as a destination).
    pub fn set(&self, devices: Vec<Value>) {
        let mut all = self.devices.lock().unwrap_or_else(|e| e.into_inner());
        all.clear();
        for d in devices {
            all.insert(d["device_id"].as_str().unwrap_or_default().to_string(), d);
        }
    }
}

fn detail(status: StatusCode, text: &str) -> Response {
    (status, axum::Json(json!({"detail": text}))).into_response()
}

pub fn router(kandji: Arc<Kandji>) -> Router {
    Router::new()
        .route("/api/v1/devices", get(list))
        .route("/api/v1/devices/{id}", get(read).patch(update))
        .route("/api/v1/blueprints", get(blueprints))
        .with_state(kandji)
}

fn gate(kandji: &Kandji, headers: &HeaderMap) -> Option<Response> {
    if bearer(headers).as_deref() != Some(kandji.token.as_str()) {
        return Some(detail(
            StatusCode::UNAUTHORIZED,
            "Authentication credentials were not provided.",
        ));
    }
    kandji
        .throttling
        .check(|| detail(StatusCode::TOO_MANY_REQUESTS, "Request was throttled."))
}

async fn list(
    State(kandji): State<Arc<Kandji>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Some(response) = gate(&kandji, &headers) {
        return response;
    }
    let limit: usize = query
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(300)
        .min(300);
    let offset: usize = query
        .get("offset")
        .and_then(|o| o.parse().ok())
        .unwrap_or(0);
    let devices = kandji.devices.lock().unwrap_or_else(|e| e.into_inner());
    let mut all: Vec<&Value> = devices.values().collect();
    if let Some(serial) = query.get("serial_number") {
        all.retain(|d| d["serial_number"] == *serial);
    }
    let page: Vec<&Value> = all.into_iter().skip(offset).take(limit).collect();
    axum::Json(json!(page)).into_response()
}

async fn read(
    State(kandji): State<Arc<Kandji>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(response) = gate(&kandji, &headers) {
        return response;
    }
    let devices = kandji.devices.lock().unwrap_or_else(|e| e.into_inner());
    match devices.get(&id) {
        Some(d) => axum::Json(d.clone()).into_response(),
        None => detail(StatusCode::NOT_FOUND, "Not found."),
    }
}

async fn update(
    State(kandji): State<Arc<Kandji>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    axum::Json(fields): axum::Json<Value>,
) -> Response {
    if let Some(response) = gate(&kandji, &headers) {
        return response;
    }
    let mut devices = kandji.devices.lock().unwrap_or_else(|e| e.into_inner());
    let Some(device) = devices.get_mut(&id) else {
        return detail(StatusCode::NOT_FOUND, "Not found.");
    };
    if let Some(blueprint) = fields.get("blueprint_id") {
        let Some(name) = BLUEPRINTS
            .iter()
            .find(|b| blueprint_id(b).as_ref() == blueprint.as_str().map(str::to_string).as_ref())
        else {
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({"blueprint_id": ["Invalid blueprint."]})),
            )
                .into_response();
        };
        device["blueprint_id"] = blueprint.clone();
        device["blueprint_name"] = json!(name);
    }
    if let Some(tag) = fields.get("asset_tag") {
        device["asset_tag"] = tag.clone();
    }
    kandji.patches.fetch_add(1, Ordering::SeqCst);
    axum::Json(device.clone()).into_response()
}

async fn blueprints(
    State(kandji): State<Arc<Kandji>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Some(response) = gate(&kandji, &headers) {
        return response;
    }
    let limit: usize = query
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(300);
    let offset: usize = query
        .get("offset")
        .and_then(|o| o.parse().ok())
        .unwrap_or(0);
    let all: Vec<Value> = BLUEPRINTS
        .iter()
        .map(|b| json!({"id": blueprint_id(b), "name": b}))
        .collect();
    let addr = kandji
        .addr
        .get()
        .map(ToString::to_string)
        .unwrap_or_default();
    let next = (offset + limit < all.len()).then(|| {
        format!(
            "http://{addr}/api/v1/blueprints?limit={limit}&offset={}",
            offset + limit
        )
    });
    let count = all.len();
    let results: Vec<Value> = all.into_iter().skip(offset).take(limit).collect();
    let _ = SITES;
    axum::Json(json!({"count": count, "next": next, "previous": null, "results": results}))
        .into_response()
}
