//! A source and two destinations on 127.0.0.1 that answer whatever a test sets, byte for byte:
//! for hostile data (escape sequences, huge or odd serials, numbers JSON readers round), broken
//! listings and strict XML. Every request is kept, with its body, so a test can prove what was
//! (and was not) sent.
//!
//! - `GET /source`: the source listing, its status, content type, body and delay as set.
//! - `GET /json/assets?serial=S` → `{"result": [RECORD]}` (RECORD as the raw JSON set for S, or
//!   nothing); `GET /json/by-serial/{serial}` → `[RECORD]` (a lookup by path);
//!   `PATCH /json/assets/{id}` → the answer set for that id, else `200 {}`.
//! - `GET /xml/devices?serial=S` → `{"devices": [RECORD]}`; `PUT /xml/devices/{id}` with an XML
//!   body, read by a strict XML parser: `400` when it is not well-formed XML 1.0, else `200`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;

/// What `GET /source` answers.
#[derive(Clone, Debug)]
pub struct SourceAnswer {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
    /// Waits this long before answering (a stalled source).
    pub delay: Duration,
}

impl SourceAnswer {
    /// 200 with this JSON text.
    pub fn json(text: &str) -> SourceAnswer {
        SourceAnswer {
            status: 200,
            content_type: "application/json".to_string(),
            body: text.as_bytes().to_vec(),
            delay: Duration::ZERO,
        }
    }
}

/// One request a system received.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    /// Path and query, as received (percent-encoded).
    pub uri: String,
    pub body: Vec<u8>,
    /// The Authorization header, when one came.
    pub authorization: Option<String>,
}

#[derive(Default)]
struct Inner {
    source: Option<SourceAnswer>,
    /// Serial → raw JSON text of the destination record.
    records: HashMap<String, String>,
    /// Destination id → (status, content type, body) answered to a write.
    write_answers: HashMap<String, (u16, String, String)>,
    /// How long each write waits before its answer (a slow destination).
    write_delay: Duration,
    seen: Vec<Seen>,
}

/// The systems; cheap to clone.
#[derive(Clone)]
pub struct Systems {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

impl Systems {
    /// Starts them on a free loopback port, with nothing set.
    pub async fn start() -> Systems {
        let inner: Arc<Mutex<Inner>> = Arc::default();
        let router = Router::new()
            .route("/source", get(source))
            .route("/json/assets", get(json_lookup))
            .route("/json/by-serial/{serial}", get(by_serial))
            .route("/json/assets/{id}", axum::routing::patch(write))
            .route("/xml/devices", get(xml_lookup))
            .route("/xml/devices/{id}", axum::routing::put(xml_write))
            .fallback(fallback)
            .with_state(inner.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Systems { addr, inner }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set_source(&self, answer: SourceAnswer) {
        self.inner.lock().unwrap().source = Some(answer);
    }

    /// The destination record of `serial` (raw JSON text: numbers keep the digits written).
    pub fn set_record(&self, serial: &str, raw_json: &str) {
        self.inner
            .lock()
            .unwrap()
            .records
            .insert(serial.to_string(), raw_json.to_string());
    }

    /// What a write to destination id `id` is answered.
    pub fn answer_write(&self, id: &str, status: u16, content_type: &str, body: &str) {
        self.inner.lock().unwrap().write_answers.insert(
            id.to_string(),
            (status, content_type.to_string(), body.to_string()),
        );
    }

    /// Each write waits this long before it is answered.
    pub fn set_write_delay(&self, delay: Duration) {
        self.inner.lock().unwrap().write_delay = delay;
    }

    /// Every request so far, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.inner.lock().unwrap().seen.clone()
    }

    /// The writes (PATCH, PUT, POST) so far.
    pub fn writes(&self) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.method != "GET")
            .collect()
    }
}

type Shared = State<Arc<Mutex<Inner>>>;

fn note(inner: &Arc<Mutex<Inner>>, request: &Request, body: &[u8]) {
    inner.lock().unwrap().seen.push(Seen {
        method: request.method.to_string(),
        uri: request
            .uri
            .path_and_query()
            .map_or(request.uri.path().to_string(), |p| p.to_string()),
        body: body.to_vec(),
        authorization: request
            .headers
            .get(header::AUTHORIZATION)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
    });
}

/// The parts of a request every handler notes.
struct Request {
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Request {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Request {
            method: parts.method.clone(),
            uri: parts.uri.clone(),
            headers: parts.headers.clone(),
        })
    }
}

fn raw(status: u16, content_type: &str, body: Vec<u8>) -> Response {
    (
        StatusCode::from_u16(status).unwrap(),
        [(header::CONTENT_TYPE, content_type.to_string())],
        body,
    )
        .into_response()
}

async fn source(State(inner): Shared, request: Request) -> Response {
    note(&inner, &request, &[]);
    let answer = inner.lock().unwrap().source.clone();
    let Some(answer) = answer else {
        return raw(500, "text/plain", b"no source set".to_vec());
    };
    tokio::time::sleep(answer.delay).await;
    raw(answer.status, &answer.content_type, answer.body)
}

fn record_of(inner: &Arc<Mutex<Inner>>, serial: &str) -> Option<String> {
    inner.lock().unwrap().records.get(serial).cloned()
}

async fn json_lookup(
    State(inner): Shared,
    request: Request,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    note(&inner, &request, &[]);
    let serial = query.get("serial").cloned().unwrap_or_default();
    let list = record_of(&inner, &serial).unwrap_or_default();
    raw(
        200,
        "application/json",
        format!("{{\"result\": [{list}]}}").into_bytes(),
    )
}

async fn by_serial(State(inner): Shared, request: Request, Path(serial): Path<String>) -> Response {
    note(&inner, &request, &[]);
    let list = record_of(&inner, &serial).unwrap_or_default();
    raw(200, "application/json", format!("[{list}]").into_bytes())
}

async fn write(
    State(inner): Shared,
    request: Request,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    note(&inner, &request, &body);
    let delay = inner.lock().unwrap().write_delay;
    tokio::time::sleep(delay).await;
    let answer = inner.lock().unwrap().write_answers.get(&id).cloned();
    match answer {
        Some((status, content_type, body)) => raw(status, &content_type, body.into_bytes()),
        None => raw(200, "application/json", b"{}".to_vec()),
    }
}

async fn xml_lookup(
    State(inner): Shared,
    request: Request,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    note(&inner, &request, &[]);
    let serial = query.get("serial").cloned().unwrap_or_default();
    let list = record_of(&inner, &serial).unwrap_or_default();
    raw(
        200,
        "application/json",
        format!("{{\"devices\": [{list}]}}").into_bytes(),
    )
}

/// A strict XML reader: any character XML 1.0 forbids, anywhere, fails the write.
async fn xml_write(State(inner): Shared, request: Request, body: Bytes) -> Response {
    note(&inner, &request, &body);
    let text = match std::str::from_utf8(&body) {
        Ok(text) => text,
        Err(_) => return raw(400, "text/plain", b"not UTF-8".to_vec()),
    };
    let forbidden = text.chars().any(|c| {
        matches!(c, '\0'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}')
    });
    let mut reader = quick_xml::Reader::from_str(text);
    let mut well_formed = !forbidden;
    while well_formed {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(_) => {}
            Err(_) => well_formed = false,
        }
    }
    if well_formed {
        raw(200, "application/xml", b"<ok/>".to_vec())
    } else {
        raw(
            400,
            "application/xml",
            b"<error><code>INVALID_XML</code><message>not XML 1.0</message></error>".to_vec(),
        )
    }
}

async fn fallback(State(inner): Shared, request: Request, body: Bytes) -> Response {
    note(&inner, &request, &body);
    raw(404, "text/plain", b"no such path".to_vec())
}
