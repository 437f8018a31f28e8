//! Snipe-IT, as destination.
//!
//! Followed: https://snipe-it.readme.io/reference/api-overview ("as long as the pipe (the http
//! request itself) is sound, the API should return a 200 OK": a failed update and an asset not
//! found are HTTP 200 with `{"status": "error", "messages": …, "payload": null}`; bearer API
//! keys; `X-RateLimit-*` and 429 with `Retry-After` when throttled),
//! https://snipe-it.readme.io/reference/hardware-by-serial (`GET
//! /api/v1/hardware/byserial/{serial}` answered `{"total", "rows"}`),
//! https://snipe-it.readme.io/reference/hardware-partial-update (`PATCH /api/v1/hardware/{id}`
//! with `model_id`, `location_id`, `status_id`; the asset reads them back as `model: {id,
//! name}`, `location: {id, name}`, `status_label: {id, name}`), and
//! https://snipe-it.readme.io/reference/models (`GET /api/v1/models` with `limit`, `offset`,
//! answered `{"total", "rows"}`; `/api/v1/locations` the same).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch};
use serde_json::{Value, json};

use super::{MODELS, SITES, Throttling, bearer};

pub struct SnipeIt {
    /// id → asset.
    pub assets: Mutex<BTreeMap<u64, Value>>,
    pub key: String,
    pub throttling: Throttling,
    pub writes: AtomicU64,
    /// Model names it knows (a model not here makes a write fail inside a 200).
    pub models: Vec<&'static str>,
}

pub fn model_id(name: &str) -> Option<u64> {
    MODELS
        .iter()
        .position(|m| *m == name)
        .map(|i| 10 + i as u64)
}

pub fn location_id(name: &str) -> Option<u64> {
    SITES.iter().position(|s| *s == name).map(|i| 20 + i as u64)
}

/// An asset as Snipe-IT shows it.
pub fn asset(id: u64, serial: &str, name: &str, model: &str, site: &str, status: u64) -> Value {
    json!({
        "id": id,
        "name": name,
        "asset_tag": format!("SN-{id}"),
        "serial": serial,
        "model": {"id": model_id(model), "name": model},
        "location": {"id": location_id(site), "name": site},
        "status_label": {"id": status, "name": if status == 2 { "Ready to Deploy" } else { "Pending" }},
    })
}

impl SnipeIt {
    pub fn new(key: &str) -> Arc<SnipeIt> {
        Arc::new(SnipeIt {
            assets: Mutex::new(BTreeMap::new()),
            key: key.to_string(),
            throttling: Throttling::default(),
            writes: AtomicU64::new(0),
            models: MODELS.to_vec(),
        })
    }
}

fn error(messages: Value) -> Response {
    axum::Json(json!({"status": "error", "messages": messages, "payload": null})).into_response()
}

fn unauthenticated() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        axum::Json(json!({"status": "error", "message": "Unauthenticated."})),
    )
        .into_response()
}

pub fn router(snipe: Arc<SnipeIt>) -> Router {
    Router::new()
        .route("/api/v1/hardware/byserial/{serial}", get(by_serial))
        .route("/api/v1/hardware/{id}", patch(update))
        .route("/api/v1/hardware", axum::routing::post(create))
        .route("/api/v1/models", get(models))
        .route("/api/v1/locations", get(locations))
        .with_state(snipe)
}

fn gate(snipe: &SnipeIt, headers: &HeaderMap) -> Option<Response> {
    if bearer(headers).as_deref() != Some(snipe.key.as_str()) {
        return Some(unauthenticated());
    }
    snipe.throttling.check(|| {
        axum::Json(json!({"status": "error", "messages": "Too Many Requests", "payload": null}))
            .into_response()
    })
}

async fn by_serial(
    State(snipe): State<Arc<SnipeIt>>,
    headers: HeaderMap,
    Path(serial): Path<String>,
) -> Response {
    if let Some(response) = gate(&snipe, &headers) {
        return response;
    }
    let assets = snipe.assets.lock().unwrap_or_else(|e| e.into_inner());
    let rows: Vec<&Value> = assets.values().filter(|a| a["serial"] == serial).collect();
    if rows.is_empty() {
        return error(json!("Asset does not exist."));
    }
    axum::Json(json!({"total": rows.len(), "rows": rows})).into_response()
}

/// Applies the fields of a write; Err: the messages of a validation failure.
fn apply(asset: &mut Value, fields: &Value, models: &[&str]) -> Result<(), Value> {
    let mut errors = serde_json::Map::new();
    if let Some(id) = fields.get("model_id") {
        match MODELS
            .iter()
            .zip(10u64..)
            .find(|(_, n)| Some(*n) == id.as_u64())
        {
            Some((name, n)) if models.contains(name) => {
                asset["model"] = json!({"id": n, "name": name})
            }
            _ => {
                errors.insert(
                    "model_id".into(),
                    json!(["The selected model id is invalid."]),
                );
            }
        }
    }
    if let Some(id) = fields.get("location_id") {
        match SITES
            .iter()
            .zip(20u64..)
            .find(|(_, n)| Some(*n) == id.as_u64())
        {
            Some((name, n)) => asset["location"] = json!({"id": n, "name": name}),
            None => {
                errors.insert(
                    "location_id".into(),
                    json!(["The selected location id is invalid."]),
                );
            }
        }
    }
    if let Some(status) = fields.get("status_id").and_then(Value::as_u64) {
        asset["status_label"] =
            json!({"id": status, "name": if status == 2 { "Ready to Deploy" } else { "Pending" }});
    }
    if let Some(name) = fields.get("name") {
        asset["name"] = name.clone();
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Value::Object(errors))
    }
}

async fn update(
    State(snipe): State<Arc<SnipeIt>>,
    headers: HeaderMap,
    Path(id): Path<u64>,
    axum::Json(fields): axum::Json<Value>,
) -> Response {
    if let Some(response) = gate(&snipe, &headers) {
        return response;
    }
    let mut assets = snipe.assets.lock().unwrap_or_else(|e| e.into_inner());
    let Some(asset) = assets.get_mut(&id) else {
        return error(json!("Asset does not exist."));
    };
    let mut updated = asset.clone();
    if let Err(messages) = apply(&mut updated, &fields, &snipe.models) {
        return error(messages);
    }
    *asset = updated.clone();
    snipe.writes.fetch_add(1, Ordering::SeqCst);
    axum::Json(
        json!({"status": "success", "messages": "Asset updated successfully.", "payload": updated}),
    )
    .into_response()
}

async fn create(
    State(snipe): State<Arc<SnipeIt>>,
    headers: HeaderMap,
    axum::Json(fields): axum::Json<Value>,
) -> Response {
    if let Some(response) = gate(&snipe, &headers) {
        return response;
    }
    let mut missing = serde_json::Map::new();
    for required in ["model_id", "status_id", "serial"] {
        if fields.get(required).is_none() {
            missing.insert(
                required.into(),
                json!([format!(
                    "The {} field is required.",
                    required.replace('_', " ")
                )]),
            );
        }
    }
    if !missing.is_empty() {
        return error(Value::Object(missing));
    }
    let mut assets = snipe.assets.lock().unwrap_or_else(|e| e.into_inner());
    let id = 1000 + assets.len() as u64;
    let serial = fields["serial"].as_str().unwrap_or_default();
    let mut asset = asset(id, serial, "", MODELS[0], SITES[0], 1);
    if let Err(messages) = apply(&mut asset, &fields, &snipe.models) {
        return error(messages);
    }
    assets.insert(id, asset.clone());
    snipe.writes.fetch_add(1, Ordering::SeqCst);
    axum::Json(
        json!({"status": "success", "messages": "Asset created successfully.", "payload": asset}),
    )
    .into_response()
}

fn paged(rows: Vec<Value>, query: &HashMap<String, String>) -> Response {
    let limit: usize = query
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(50);
    let offset: usize = query
        .get("offset")
        .and_then(|o| o.parse().ok())
        .unwrap_or(0);
    let total = rows.len();
    let rows: Vec<Value> = rows.into_iter().skip(offset).take(limit).collect();
    axum::Json(json!({"total": total, "rows": rows})).into_response()
}

async fn models(
    State(snipe): State<Arc<SnipeIt>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Some(response) = gate(&snipe, &headers) {
        return response;
    }
    let rows = snipe
        .models
        .iter()
        .map(|m| json!({"id": model_id(m), "name": m}))
        .collect();
    paged(rows, &query)
}

async fn locations(
    State(snipe): State<Arc<SnipeIt>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Some(response) = gate(&snipe, &headers) {
        return response;
    }
    let rows = SITES
        .iter()
        .map(|s| json!({"id": location_id(s), "name": s}))
        .collect();
    paged(rows, &query)
}
