//! Jamf Pro: the Jamf Pro API (JSON) and the Classic API (XML under /JSSResource), as source
//! and as destination.
//!
//! Followed: https://developer.jamf.com/jamf-pro/reference/jamf-pro-api-introduction (bearer
//! token from `POST /api/v1/auth/token` with basic auth, answered `{"token", "expires"}`; OAuth
//! client credentials at `POST /api/oauth/token`, answered `{"access_token", "expires_in"}`),
//! https://developer.jamf.com/jamf-pro/docs/deprecation-of-classic-api-computer-inventory-endpoints
//! (`GET /api/v1/computers-inventory` with `section`, `page` (from 0), `page-size`, RSQL
//! `filter`, answered `{"totalCount", "results"}`; `PATCH
//! /api/v1/computers-inventory-detail/{id}`), errors as `{"httpStatus", "errors": [{"code",
//! "description", "field"}]}`, and
//! https://developer.jamf.com/jamf-pro/reference/classic-api-introduction (`GET|PUT
//! /JSSResource/computers/serialnumber/{serial}`: one `{"computer": {…}}` object with Accept
//! JSON, XML bodies on PUT answered 201 `<computer><id>…</id></computer>`, 404 when none).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use serde_json::{Value, json};

use super::{Device, Start, Throttling, Tokens, bearer, start_of};

/// The source credential of the examples.
pub const USER: &str = "sync-bot";
pub const CLIENT_ID: &str = "syncdeck-jamf-client";

pub struct Jamf {
    pub fleet: Vec<Device>,
    /// The Pro API inventory (destination): serial → computer record.
    pub computers: Mutex<BTreeMap<String, Value>>,
    /// The Classic API's view of the same computers: serial → location and asset tag.
    pub classic: Mutex<BTreeMap<String, Value>>,
    pub password: String,
    pub client_secret: String,
    pub tokens: Tokens,
    pub throttling: Throttling,
    /// Requests for the inventory listing without section=HARDWARE.
    pub without_hardware: std::sync::atomic::AtomicU64,
    /// Inventory listing requests answered.
    pub listings: std::sync::atomic::AtomicU64,
    /// Added to the `totalCount` announced (records the sync account cannot read).
    pub hidden: std::sync::atomic::AtomicU64,
    pub writes: std::sync::atomic::AtomicU64,
}

fn computer(i: usize, device: &Device) -> Value {
    json!({
        "id": (100 + i).to_string(),
        "general": {"name": device.name, "assetTag": format!("AT-{i:04}"), "site": {"id": "1", "name": device.site}},
        "hardware": {"serialNumber": device.serial, "model": device.model},
        "userAndLocation": {"email": device.user},
    })
}

impl Jamf {
    /// A Jamf Pro whose inventory is `fleet`; `destination`: also a destination whose records
    /// start current, stale or absent by [`start_of`] (the fleet then comes from elsewhere).
    pub fn new(fleet: Vec<Device>, password: &str, client_secret: &str) -> Arc<Jamf> {
        let mut computers = BTreeMap::new();
        let mut classic = BTreeMap::new();
        for (i, device) in fleet.iter().enumerate() {
            computers.insert(device.serial.clone(), computer(i, device));
            classic.insert(
                device.serial.clone(),
                json!({"general": {"id": 100 + i, "name": device.name, "serial_number": device.serial,
                                   "asset_tag": format!("AT-{i:04}")},
                       "location": {"building": device.site, "username": device.user}}),
            );
        }
        Arc::new(Jamf {
            fleet,
            computers: Mutex::new(computers),
            classic: Mutex::new(classic),
            password: password.to_string(),
            client_secret: client_secret.to_string(),
            tokens: Tokens::default(),
            throttling: Throttling::default(),
            without_hardware: Default::default(),
            listings: Default::default(),
            hidden: Default::default(),
            writes: Default::default(),
        })
    }

    /// Sets this Jamf up as the destination of `fleet`: each record current (holding what
    /// `current` says the mapping writes), stale or absent by [`start_of`].
    pub fn as_destination(
        &self,
        fleet: &[Device],
        current: impl Fn(usize, &Device, bool) -> (Value, Value),
    ) {
        let mut computers = self.computers.lock().unwrap_or_else(|e| e.into_inner());
        let mut classic = self.classic.lock().unwrap_or_else(|e| e.into_inner());
        computers.clear();
        classic.clear();
        for (i, device) in fleet.iter().enumerate() {
            if start_of(i) == Start::Absent {
                continue;
            }
            let (pro, old) = current(i, device, start_of(i) == Start::Stale);
            computers.insert(device.serial.clone(), pro);
            classic.insert(device.serial.clone(), old);
        }
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        self.tokens.valid(bearer(headers).as_deref())
    }
}

fn jamf_error(status: StatusCode, code: &str, description: &str) -> Response {
    (
        status,
        axum::Json(json!({"httpStatus": status.as_u16(), "errors": [{"code": code, "description": description, "id": "0", "field": null}]})),
    )
        .into_response()
}

pub fn router(jamf: Arc<Jamf>) -> Router {
    Router::new()
        .route("/api/v1/auth/token", post(auth_token))
        .route("/api/oauth/token", post(oauth_token))
        .route("/api/v1/computers-inventory", get(inventory))
        .route(
            "/api/v1/computers-inventory-detail/{id}",
            patch(update_detail),
        )
        .route(
            "/JSSResource/computers/serialnumber/{serial}",
            get(classic_get).put(classic_put),
        )
        .with_state(jamf)
}

async fn auth_token(State(jamf): State<Arc<Jamf>>, headers: HeaderMap) -> Response {
    use base64::Engine as _;
    let expected =
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{}", jamf.password));
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "));
    if given != Some(expected.as_str()) {
        return jamf_error(
            StatusCode::UNAUTHORIZED,
            "INVALID_CREDENTIALS",
            "Unauthorized",
        );
    }
    let token = jamf.tokens.issue("jamf-token");
    let expires = (chrono::Utc::now() + chrono::Duration::minutes(30)).to_rfc3339();
    axum::Json(json!({"token": token, "expires": expires})).into_response()
}

async fn oauth_token(State(jamf): State<Arc<Jamf>>, body: Bytes) -> Response {
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let ok = form.get("grant_type").map(String::as_str) == Some("client_credentials")
        && form.get("client_id").map(String::as_str) == Some(CLIENT_ID)
        && form.get("client_secret") == Some(&jamf.client_secret);
    if !ok {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "invalid_client"})),
        )
            .into_response();
    }
    let token = jamf.tokens.issue("jamf-oauth");
    axum::Json(json!({"access_token": token, "scope": "api-role:sync", "token_type": "Bearer", "expires_in": 1199}))
        .into_response()
}

async fn inventory(
    State(jamf): State<Arc<Jamf>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    if !jamf.authorized(&headers) {
        return jamf_error(StatusCode::UNAUTHORIZED, "INVALID_TOKEN", "Unauthorized");
    }
    if let Some(throttled) = jamf.throttling.check(|| {
        jamf_error(
            StatusCode::TOO_MANY_REQUESTS,
            "TOO_MANY_REQUESTS",
            "Too many requests",
        )
    }) {
        return throttled;
    }
    jamf.listings
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(raw.as_deref().unwrap_or("")).unwrap_or_default();
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    let sections: Vec<&str> = pairs
        .iter()
        .filter(|(k, _)| k == "section")
        .map(|(_, v)| v.as_str())
        .collect();
    let hardware = sections.contains(&"HARDWARE");
    if !hardware {
        jamf.without_hardware
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
    let page: usize = get("page").and_then(|p| p.parse().ok()).unwrap_or(0);
    let size: usize = get("page-size").and_then(|p| p.parse().ok()).unwrap_or(100);
    let computers = jamf.computers.lock().unwrap_or_else(|e| e.into_inner());
    let mut all: Vec<Value> = computers.values().cloned().collect();
    // RSQL: hardware.serialNumber=="X"
    if let Some(filter) = get("filter") {
        let wanted = filter
            .strip_prefix("hardware.serialNumber==\"")
            .and_then(|rest| rest.strip_suffix('"'))
            .unwrap_or_default()
            .to_string();
        all.retain(|c| c["hardware"]["serialNumber"] == wanted);
    }
    let total = all.len() + jamf.hidden.load(std::sync::atomic::Ordering::SeqCst) as usize;
    let results: Vec<Value> = all
        .into_iter()
        .skip(page * size)
        .take(size)
        .map(|mut c| {
            // Sections not asked for come back null (GENERAL is always there).
            if !hardware {
                c["hardware"] = Value::Null;
            }
            c
        })
        .collect();
    axum::Json(json!({"totalCount": total, "results": results})).into_response()
}

async fn update_detail(
    State(jamf): State<Arc<Jamf>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    axum::Json(patch): axum::Json<Value>,
) -> Response {
    if !jamf.authorized(&headers) {
        return jamf_error(StatusCode::UNAUTHORIZED, "INVALID_TOKEN", "Unauthorized");
    }
    if let Some(throttled) = jamf.throttling.check(|| {
        jamf_error(
            StatusCode::TOO_MANY_REQUESTS,
            "TOO_MANY_REQUESTS",
            "Too many requests",
        )
    }) {
        return throttled;
    }
    let mut computers = jamf.computers.lock().unwrap_or_else(|e| e.into_inner());
    let Some(record) = computers.values_mut().find(|c| c["id"] == id) else {
        return jamf_error(StatusCode::NOT_FOUND, "INVALID_ID", "Computer not found");
    };
    merge(record, &patch);
    jamf.writes
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    axum::Json(record.clone()).into_response()
}

fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                merge(target.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
        (target, value) => *target = value.clone(),
    }
}

async fn classic_get(
    State(jamf): State<Arc<Jamf>>,
    headers: HeaderMap,
    Path(serial): Path<String>,
    Query(_): Query<HashMap<String, String>>,
) -> Response {
    if !jamf.authorized(&headers) {
        return (
            StatusCode::UNAUTHORIZED,
            "<html><body>Unauthorized</body></html>",
        )
            .into_response();
    }
    let classic = jamf.classic.lock().unwrap_or_else(|e| e.into_inner());
    match classic.get(&serial) {
        Some(computer) => axum::Json(json!({"computer": computer})).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/html")],
            "<html><head><title>Status page</title></head><body><p>The server has not found anything matching the request URI</p></body></html>",
        )
            .into_response(),
    }
}

async fn classic_put(
    State(jamf): State<Arc<Jamf>>,
    headers: HeaderMap,
    Path(serial): Path<String>,
    body: String,
) -> Response {
    if !jamf.authorized(&headers) {
        return (
            StatusCode::UNAUTHORIZED,
            "<html><body>Unauthorized</body></html>",
        )
            .into_response();
    }
    let xml = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.contains("xml"));
    if !xml || !body.contains("<computer>") {
        return (
            StatusCode::CONFLICT,
            "<html><body><p>Error: Problem with computer</p></body></html>",
        )
            .into_response();
    }
    let mut classic = jamf.classic.lock().unwrap_or_else(|e| e.into_inner());
    let Some(computer) = classic.get_mut(&serial) else {
        return (StatusCode::NOT_FOUND, "<html><body>Not Found</body></html>").into_response();
    };
    for (section, field) in [("location", "building"), ("general", "asset_tag")] {
        let open = format!("<{field}>");
        let close = format!("</{field}>");
        if let (Some(start), Some(end)) = (body.find(&open), body.find(&close)) {
            let value = &body[start + open.len()..end];
            computer[section][field] = json!(value);
        }
    }
    jamf.writes
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let id = computer["general"]["id"].clone();
    (
        StatusCode::CREATED,
        [(header::CONTENT_TYPE, "application/xml")],
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><computer><id>{id}</id></computer>"),
    )
        .into_response()
}
