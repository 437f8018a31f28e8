//! Stand-ins for the real systems of SPEC section 11, each answering as the system's public
//! API documentation says (the page is cited in each file): envelopes, pagination, the auth
//! flow, not-found and error shapes, throttling headers. Only 127.0.0.1.

#![allow(dead_code)]

pub mod graph;
pub mod jamf;
pub mod kandji;
pub mod netbox;
pub mod servicenow;
pub mod snipeit;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Serves `router` on a free loopback port.
pub async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("local_addr: {e}"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    addr
}

/// Throttling the way the systems do it: when on, every `every`-th request is answered 429
/// with this `Retry-After` (the systems' own header, fractional where Graph sends one).
#[derive(Default)]
pub struct Throttling {
    pub on: AtomicBool,
    pub every: AtomicU64,
    pub seen: AtomicU64,
    pub answered_429: AtomicU64,
    pub retry_after: std::sync::Mutex<String>,
}

impl Throttling {
    /// Turns throttling on: every `every`-th request gets a 429 with `Retry-After: retry_after`.
    pub fn start(&self, every: u64, retry_after: &str) {
        self.every.store(every.max(1), Ordering::SeqCst);
        *self.retry_after.lock().unwrap_or_else(|e| e.into_inner()) = retry_after.to_string();
        self.on.store(true, Ordering::SeqCst);
    }

    pub fn stop(&self) {
        self.on.store(false, Ordering::SeqCst);
    }

    /// Some(429 answer) when this request is throttled; `body` is the system's own shape.
    pub fn check(&self, body: impl FnOnce() -> Response) -> Option<Response> {
        if !self.on.load(Ordering::SeqCst) {
            return None;
        }
        let n = self.seen.fetch_add(1, Ordering::SeqCst) + 1;
        if !n.is_multiple_of(self.every.load(Ordering::SeqCst)) {
            return None;
        }
        self.answered_429.fetch_add(1, Ordering::SeqCst);
        let retry_after = self
            .retry_after
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut response = body();
        *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        if let Ok(value) = retry_after.parse() {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        Some(response)
    }
}

/// The bearer token of a request, if any.
pub fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::to_string)
}

/// A 401 with a body.
pub fn unauthorized(body: serde_json::Value) -> Response {
    (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response()
}

/// Tokens a stand-in issued, and how many requests it answered with each.
#[derive(Default)]
pub struct Tokens {
    pub issued: std::sync::Mutex<Vec<String>>,
    pub requests: AtomicU64,
    /// Tokens issued before this index are expired (the stand-in answers 401 to them).
    pub expired_before: AtomicU64,
    /// Checks of a presented token so far, and the check at which every token expires (0:
    /// never), as a token that runs out mid-run.
    pub checks: AtomicU64,
    pub expire_at_check: AtomicU64,
}

impl Tokens {
    pub fn issue(&self, prefix: &str) -> String {
        let mut issued = self.issued.lock().unwrap_or_else(|e| e.into_inner());
        let token = format!("{prefix}-{}-{}", issued.len() + 1, std::process::id());
        issued.push(token.clone());
        self.requests.fetch_add(1, Ordering::SeqCst);
        token
    }

    /// Whether a presented token is one issued and not expired.
    pub fn valid(&self, token: Option<&str>) -> bool {
        let check = self.checks.fetch_add(1, Ordering::SeqCst) + 1;
        if check == self.expire_at_check.load(Ordering::SeqCst) {
            self.expire_all();
        }
        let Some(token) = token else { return false };
        let issued = self.issued.lock().unwrap_or_else(|e| e.into_inner());
        let from = self.expired_before.load(Ordering::SeqCst) as usize;
        issued.iter().skip(from).any(|t| t == token)
    }

    /// Expires every token issued so far (as a token endpoint's short lifetime would).
    pub fn expire_all(&self) {
        let issued = self.issued.lock().unwrap_or_else(|e| e.into_inner()).len();
        self.expired_before.store(issued as u64, Ordering::SeqCst);
    }

    pub fn count(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }
}

/// A stand-in's shared state handle.
pub type Shared<T> = Arc<T>;

/// One device of a source fleet: what every source stand-in serves, in its own shape.
#[derive(Clone, Debug)]
pub struct Device {
    pub serial: String,
    pub name: String,
    pub model: &'static str,
    pub site: &'static str,
    pub user: String,
}

pub const MODELS: [&str; 3] = ["MacBook Pro 14", "MacBook Air 13", "iMac 24"];
pub const SITES: [&str; 2] = ["Paris", "Berlin"];

/// A fleet of `n` devices with serials `PREFIX0000`…
pub fn fleet(prefix: &str, n: usize) -> Vec<Device> {
    (0..n)
        .map(|i| Device {
            serial: format!("{prefix}{i:04}"),
            name: format!("{}-{i}", prefix.to_lowercase()),
            model: MODELS[i % MODELS.len()],
            site: SITES[i % SITES.len()],
            user: format!("user{i}@example.com"),
        })
        .collect()
}

/// How a destination's starting copy of a device differs from what the mapping wants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// Holds exactly what the mapping writes.
    Current,
    /// Holds an old value.
    Stale,
    /// Has no record of it.
    Absent,
}

/// The deterministic start of device `i` in a destination: every 7th absent (from 3), every
/// 3rd stale, the rest current.
pub fn start_of(i: usize) -> Start {
    if i % 7 == 3 {
        Start::Absent
    } else if i.is_multiple_of(3) {
        Start::Stale
    } else {
        Start::Current
    }
}

/// The counts a Full run should give over a fleet of `n`.
pub fn expected(n: usize) -> (u64, u64, u64) {
    let (mut current, mut stale, mut absent) = (0, 0, 0);
    for i in 0..n {
        match start_of(i) {
            Start::Current => current += 1,
            Start::Stale => stale += 1,
            Start::Absent => absent += 1,
        }
    }
    (current, stale, absent)
}
