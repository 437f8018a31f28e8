//! The connector health check (SPEC section 5, Connections): is the source reachable, is the
//! destination reachable, is the credential accepted (a lookup of one known serial through the
//! fetch contract)? Each step with its status and latency; a failed step says what failed and
//! the hint. The Connections view (`H`), the mass resync (before it asks) and `syncdeck check`
//! all use [`check_connection`].

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode, Url};
use serde::{Deserialize, Serialize};

use super::hints;
use super::http::HttpClient;
use super::listing_request::{ListingError, error_chain};
use super::lookup::{Lookup, lookup_one};
use super::paging::{Pager, Step, fill_path, fill_query, text_at};
use super::retry::RetryPolicy;
use crate::config::{Config, Connection, Pagination, Source};
use crate::store::{Store, StoreError};

/// The steps, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// The source answers its listing (first page).
    Source,
    /// The destination answers at all (its base URL, or the fetch contract's URL).
    Destination,
    /// A lookup of one known serial through the fetch contract is accepted (no 401/403).
    Credential,
    /// The update contract's method is allowed on its path: an `OPTIONS` request whose `Allow`
    /// header names it (nothing is written). Skipped, not failed, when the destination does not
    /// say (no `Allow`): the write path is then not checked.
    WritePath,
}

impl StepKind {
    pub fn label(self) -> &'static str {
        match self {
            StepKind::Source => "source reachable",
            StepKind::Destination => "destination reachable",
            StepKind::Credential => "credential accepted",
            StepKind::WritePath => "update method allowed",
        }
    }
}

/// How one step went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Ok,
    Failed,
    /// Not tried because an earlier step failed.
    Skipped,
}

/// One step's result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthStep {
    pub kind: StepKind,
    pub status: StepStatus,
    /// How long the step's request took (None when skipped).
    pub latency_ms: Option<u64>,
    /// What was tried and what came back, redacted: "GET http://127.0.0.1:7300/fleet?page=1 →
    /// 200 in 4 ms", "connection refused", "401 Unauthorized".
    pub detail: String,
    /// What to do about a failure (SPEC section 4's hints).
    pub hint: Option<String>,
}

/// A whole check of one connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthReport {
    pub connection: String,
    pub checked_at: DateTime<Utc>,
    /// Source, Destination, Credential, in that order.
    pub steps: Vec<HealthStep>,
}

impl HealthReport {
    /// True when no step failed and every step but the write path is Ok (a destination that
    /// does not say which methods it allows leaves the write path not checked, not failed).
    pub fn is_ok(&self) -> bool {
        self.steps.iter().all(|s| {
            s.status == StepStatus::Ok
                || (s.kind == StepKind::WritePath && s.status == StepStatus::Skipped)
        })
    }

    /// The first step that failed.
    pub fn failed_step(&self) -> Option<&HealthStep> {
        self.steps.iter().find(|s| s.status == StepStatus::Failed)
    }
}

/// A step's latency as the screens and `syncdeck check` show it: "12 ms", "<1 ms" on loopback.
pub fn latency_text(ms: u64) -> String {
    if ms == 0 {
        "<1 ms".to_string()
    } else {
        format!("{ms} ms")
    }
}

/// The settings key the last check of a connection is kept under (JSON of [`HealthReport`]).
pub fn health_key(connection: &str) -> String {
    format!("health.{connection}")
}

/// Keeps a check's result in the store, so the Connections view shows it after a restart.
pub fn save(store: &Store, report: &HealthReport) -> Result<(), StoreError> {
    let text = serde_json::to_string(report).expect("a health report serializes");
    store.set_setting(&health_key(&report.connection), &text)
}

/// The last check kept for a connection, if any (an unreadable one counts as none).
pub fn load(store: &Store, connection: &str) -> Result<Option<HealthReport>, StoreError> {
    Ok(store
        .get_setting(&health_key(connection))?
        .and_then(|text| serde_json::from_str(&text).ok()))
}

/// Checks one connection: source, destination, credential, write path, stopping at the first
/// failure (the later steps are Skipped). The known serial is the first contract's origin id in `store`, else
/// the first record of the source's first page. Err only for a connection not in the config.
///
/// Each step sends one request, without retries: a health check reports what the systems answer
/// now, and a retried request would hide the latency it measures.
pub async fn check_connection(
    config: &Config,
    store: Option<&Store>,
    connection: &str,
) -> Result<HealthReport, String> {
    let Some(target) = config.connection(connection) else {
        return Err(unknown_connection(config, connection));
    };
    let checked_at = Utc::now();
    let mut steps = Vec::with_capacity(3);
    let (source, first_serial) = check_source(config, config.source_of(target)).await;
    steps.push(source);
    if steps[0].status == StepStatus::Ok {
        let destination = match destination_client(config, target) {
            Ok(client) => {
                let step = check_destination(&client, target).await;
                let reached = step.status == StepStatus::Ok;
                steps.push(step);
                reached.then_some(client)
            }
            Err(step) => {
                steps.push(step);
                None
            }
        };
        if let Some(client) = destination {
            let known = store
                .and_then(|store| store.contracts_page(connection, None, 1).ok())
                .and_then(|contracts| contracts.into_iter().next())
                .map(|contract| contract.origin_id)
                .or(first_serial);
            let serial = known.as_deref().unwrap_or(UNKNOWN_SERIAL);
            let (step, target_id) = check_credential(&client, target, serial).await;
            let accepted = step.status == StepStatus::Ok;
            steps.push(step);
            if accepted {
                steps.push(check_write_path(&client, target, target_id.as_deref(), serial).await);
            }
        }
    }
    for kind in [
        StepKind::Source,
        StepKind::Destination,
        StepKind::Credential,
        StepKind::WritePath,
    ] {
        if !steps.iter().any(|step| step.kind == kind) {
            steps.push(HealthStep {
                kind,
                status: StepStatus::Skipped,
                latency_ms: None,
                detail: "skipped: an earlier step failed".to_string(),
                hint: None,
            });
        }
    }
    Ok(HealthReport {
        connection: connection.to_string(),
        checked_at,
        steps,
    })
}

/// "unknown connection X (configured: a, b)".
pub fn unknown_connection(config: &Config, name: &str) -> String {
    let configured: Vec<&str> = config.connections.iter().map(|c| c.name.as_str()).collect();
    let configured = if configured.is_empty() {
        "none".to_string()
    } else {
        configured.join(", ")
    };
    format!("unknown connection {name} (configured: {configured})")
}

/// One request per step: retries would blur what the check reports.
const NO_RETRIES: RetryPolicy = RetryPolicy {
    max_retries: 0,
    base: Duration::from_millis(250),
    cap: Duration::from_secs(1),
    max_retry_after: Duration::ZERO,
};

/// The source's first listing page, requested as the engine requests it (a Full listing's first
/// page, the source credential presented). Also returns the first serial seen.
async fn check_source(config: &Config, source: &Source) -> (HealthStep, Option<String>) {
    let credential = source
        .credential
        .as_deref()
        .and_then(|name| config.credential(name));
    let timeout = Duration::from_secs(source.timeout_secs);
    let client = match HttpClient::new(&source.base_url, credential, timeout, 1) {
        Ok(client) => client.with_headers(&source.headers),
        Err(error) => {
            let step = failed(
                StepKind::Source,
                None,
                format!("the source client cannot be built: {error}"),
                Some("check [source] base_url and credential".to_string()),
            );
            return (step, None);
        }
    };
    let shown = client.redact_url(&first_page_url(&client, source));
    let mut pager = Pager::new(
        &client,
        &source.endpoint,
        source.query.clone(),
        &source.results_position,
        source.pagination.clone(),
        source.stop.clone(),
        NO_RETRIES,
    )
    .with_key_fields(&[&source.id_field]);
    let started = Instant::now();
    let step = pager.next(None).await;
    let latency = elapsed_ms(started);
    match step {
        Ok(Step::Page(records)) => {
            let first = records
                .iter()
                .find_map(|record| text_at(record, &source.id_field));
            let detail = match (&first, records.len()) {
                (_, 0) => format!("GET {shown} → an empty first page"),
                (Some(serial), count) => {
                    format!(
                        "GET {shown} → {count} record{}, first serial {serial}",
                        plural(count)
                    )
                }
                (None, count) => format!(
                    "GET {shown} → {count} record{}, none with a serial at {}",
                    plural(count),
                    source.id_field
                ),
            };
            (ok(StepKind::Source, latency, detail), first)
        }
        Ok(_) => (
            ok(
                StepKind::Source,
                latency,
                format!("GET {shown} → no page (the listing is empty)"),
            ),
            None,
        ),
        Err(error) => {
            let hint = source_hint(&error);
            let detail = listing_detail(&error, source.timeout_secs);
            (failed(StepKind::Source, Some(latency), detail, hint), None)
        }
    }
}

/// The URL of the first page of a Full listing, as the pager builds it (shown in the detail).
fn first_page_url(client: &HttpClient, source: &Source) -> Url {
    let mut query: Vec<(String, String)> = source.query.clone();
    match &source.pagination {
        Pagination::None | Pagination::Link { .. } => {}
        Pagination::LinkHeader {
            size_param, size, ..
        } => {
            if let (Some(size_param), Some(size)) = (size_param, size) {
                query.push((size_param.clone(), size.to_string()));
            }
        }
        Pagination::Page {
            page_param,
            size_param,
            size,
            first_page,
            ..
        } => {
            query.push((page_param.clone(), first_page.to_string()));
            query.push((size_param.clone(), size.to_string()));
        }
        Pagination::Offset {
            offset_param,
            size_param,
            size,
            ..
        } => {
            query.push((offset_param.clone(), "0".to_string()));
            query.push((size_param.clone(), size.to_string()));
        }
        Pagination::Cursor {
            size_param, size, ..
        } => {
            if let (Some(size_param), Some(size)) = (size_param, size) {
                query.push((size_param.clone(), size.to_string()));
            }
        }
    }
    client.url(&source.endpoint, &query)
}

/// The connection's client: its base URL, its credential, its timeout.
fn destination_client(config: &Config, connection: &Connection) -> Result<HttpClient, HealthStep> {
    let credential = connection
        .credential
        .as_deref()
        .and_then(|name| config.credential(name));
    HttpClient::new(
        &connection.base_url,
        credential,
        Duration::from_secs(connection.timeout_secs),
        1,
    )
    .map(|client| client.with_headers(&connection.headers))
    .map_err(|error| {
        failed(
            StepKind::Destination,
            None,
            format!("the connection's client cannot be built: {error}"),
            Some("check the connection's base_url and credential".to_string()),
        )
    })
}

/// Any HTTP answer from the destination's base URL counts: the system is up and reachable.
async fn check_destination(client: &HttpClient, connection: &Connection) -> HealthStep {
    let url = client.url("", &[]);
    let shown = client.redact_url(&url);
    let started = Instant::now();
    let sent = client.send(Method::GET, &url, &|request| request).await;
    let latency = elapsed_ms(started);
    let sent = match sent {
        Ok(response) => Ok(response),
        Err(super::http::SendError::Http(error)) => Err(error),
        Err(super::http::SendError::Token(error)) => {
            return failed(
                StepKind::Destination,
                Some(latency),
                client.redact(&error.to_string()),
                Some(super::credentials::TOKEN_HINT.to_string()),
            );
        }
    };
    match sent {
        Ok(response) => ok(
            StepKind::Destination,
            latency,
            format!("GET {shown} → {}", status_text(response.status().as_u16())),
        ),
        Err(error) => {
            let timeout = error.is_timeout();
            let message = client.redact(&error_chain(error));
            failed(
                StepKind::Destination,
                Some(latency),
                format!(
                    "GET {shown}: {}",
                    transport_text(&message, timeout, connection.timeout_secs)
                ),
                Some(
                    "the destination is down or unreachable: check the connection's base_url, \
                     then run the check again"
                        .to_string(),
                ),
            )
        }
    }
}

/// The serial looked up when none is known: a lookup of one nobody has still shows whether the
/// credential is accepted (a 2xx with an empty list).
const UNKNOWN_SERIAL: &str = "syncdeck-health-check";

/// A lookup of `serial` through the fetch contract with the connection's credential: any 2xx
/// (found, not found, ambiguous) means the credential is accepted. Also returns the target id
/// found, for the write path's URL.
async fn check_credential(
    client: &HttpClient,
    connection: &Connection,
    serial: &str,
) -> (HealthStep, Option<String>) {
    let fetch = &connection.fetch;
    // A serial that cannot be a path segment: the lookup below says so.
    let path = fill_path(&fetch.path, serial).unwrap_or_else(|_| fetch.path.clone());
    let url = client.url(&path, &fill_query(fetch.query.iter(), serial));
    let shown = client.redact_url(&url);
    let started = Instant::now();
    let looked_up = lookup_one(client, fetch, serial, NO_RETRIES).await;
    let latency = elapsed_ms(started);
    let step = match looked_up {
        Ok(Lookup::Found(record)) => {
            let step = ok(
                StepKind::Credential,
                latency,
                format!(
                    "GET {shown} → found {serial} (target id {})",
                    client.redact(&record.target_id)
                ),
            );
            return (step, Some(record.target_id));
        }
        Ok(Lookup::Missing) => ok(
            StepKind::Credential,
            latency,
            format!("GET {shown} → accepted; no destination record has {serial}"),
        ),
        Ok(Lookup::Ambiguous(count)) => ok(
            StepKind::Credential,
            latency,
            format!("GET {shown} → accepted; {count} destination records have {serial}"),
        ),
        Err(error) => match error.http_status() {
            Some(status @ (401 | 403)) => failed(
                StepKind::Credential,
                Some(latency),
                format!(
                    "GET {} → {}: credential rejected{}",
                    error.url().unwrap_or(&shown),
                    status_text(status),
                    destination_says(error.code(), error.destination_message())
                ),
                hints::for_status(status, error.code()).map(str::to_string),
            ),
            _ => {
                let hint = error.to_entry_error().hint;
                let detail = match error.request() {
                    Some(request) => listing_detail(request, connection.timeout_secs),
                    None => error.to_string(),
                };
                failed(StepKind::Credential, Some(latency), detail, hint)
            }
        },
    };
    (step, None)
}

/// The update contract's path asked with `OPTIONS` (for the record found, else a made-up id):
/// ✔ when its `Allow` header names the update method, ✖ when it names others only (every
/// write would get 405), not checked when the destination does not say.
async fn check_write_path(
    client: &HttpClient,
    connection: &Connection,
    target_id: Option<&str>,
    serial: &str,
) -> HealthStep {
    let update = &connection.update;
    let method = update.method.as_str();
    let id = target_id.unwrap_or(UNKNOWN_SERIAL);
    let filled = match super::deliver::fill_placeholders(&update.path, Some(id), serial) {
        Ok(filled) => filled,
        Err(why) => return not_checked(None, format!("write path not checked: {why}")),
    };
    let mut url = client.url(&filled.path, &[]);
    if let Some(query) = &filled.query {
        url.set_query(Some(query));
    }
    let shown = client.redact_url(&url);
    let started = Instant::now();
    let sent = client.send(Method::OPTIONS, &url, &|request| request).await;
    let latency = elapsed_ms(started);
    let response = match sent {
        Ok(response) => response,
        Err(super::http::SendError::Http(error)) => {
            let timeout = error.is_timeout();
            let message = client.redact(&error_chain(error));
            return not_checked(
                Some(latency),
                format!(
                    "write path not checked: OPTIONS {shown}: {}",
                    transport_text(&message, timeout, connection.timeout_secs)
                ),
            );
        }
        Err(super::http::SendError::Token(error)) => {
            return not_checked(
                Some(latency),
                format!(
                    "write path not checked: {}",
                    client.redact(&error.to_string())
                ),
            );
        }
    };
    let status = status_text(response.status().as_u16());
    let allow = response
        .headers()
        .get_all(reqwest::header::ALLOW)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .collect::<Vec<_>>()
        .join(", ");
    if allow.trim().is_empty() {
        return not_checked(
            Some(latency),
            format!("write path not checked: OPTIONS {shown} → {status} without an Allow header"),
        );
    }
    let allow = client.redact(&allow);
    if allows(&allow, method) {
        ok(
            StepKind::WritePath,
            latency,
            format!("OPTIONS {shown} → Allow: {allow} ({method} allowed)"),
        )
    } else {
        failed(
            StepKind::WritePath,
            Some(latency),
            format!(
                "OPTIONS {shown} → Allow: {allow}: {method}, the update contract's method, is \
                 not allowed (every write would get 405)"
            ),
            hints::for_status(405, None).map(str::to_string),
        )
    }
}

/// Whether an `Allow` header's list names `method` (case-insensitively).
fn allows(allow: &str, method: &str) -> bool {
    allow
        .split(',')
        .any(|listed| listed.trim().eq_ignore_ascii_case(method))
}

/// The write path's step when the destination does not say which methods it allows.
fn not_checked(latency_ms: Option<u64>, detail: String) -> HealthStep {
    HealthStep {
        kind: StepKind::WritePath,
        status: StepStatus::Skipped,
        latency_ms,
        detail,
        hint: None,
    }
}

/// A listing request's failure in a few words, URL first: "GET … → 401 Unauthorized",
/// "GET …: connection refused", "GET … → results position `data.items` matched nothing (…)".
fn listing_detail(error: &ListingError, timeout_secs: u64) -> String {
    match error {
        ListingError::Transport {
            url,
            message,
            timeout,
            ..
        } => format!(
            "GET {url}: {}",
            transport_text(message, *timeout, timeout_secs)
        ),
        ListingError::Status {
            url,
            status,
            code,
            message,
            ..
        } => format!(
            "GET {url} → {}{}",
            status_text(*status),
            destination_says(code.as_deref(), message.as_deref())
        ),
        ListingError::ResultsPosition {
            url,
            position,
            found,
            seen,
            ..
        } => format!("GET {url} → results position `{position}` {found} ({seen})"),
        other => other.to_string(),
    }
}

/// What to check when the source fails (the hints of SPEC section 4 name destinations).
fn source_hint(error: &ListingError) -> Option<String> {
    hints::for_source_listing(error)
}

/// "connection refused", "timed out after 10 s", "DNS lookup failed", else the error's text.
fn transport_text(message: &str, timeout: bool, timeout_secs: u64) -> String {
    let lower = message.to_ascii_lowercase();
    if timeout || lower.contains("timed out") {
        format!("timed out after {timeout_secs} s")
    } else if lower.contains("connection refused") {
        "connection refused".to_string()
    } else if lower.contains("dns error") || lower.contains("failed to lookup address") {
        "DNS lookup failed".to_string()
    } else if lower.contains("connection reset") {
        "connection reset".to_string()
    } else {
        message.to_string()
    }
}

/// "401 Unauthorized"; just the number for a status without a standard reason.
fn status_text(status: u16) -> String {
    match StatusCode::from_u16(status)
        .ok()
        .and_then(|status| status.canonical_reason())
    {
        Some(reason) => format!("{status} {reason}"),
        None => status.to_string(),
    }
}

/// ": CODE: message" from the destination's error body, when it gave one (already redacted).
fn destination_says(code: Option<&str>, message: Option<&str>) -> String {
    match (code, message) {
        (Some(code), Some(message)) => format!(" ({code}: {message})"),
        (Some(code), None) => format!(" ({code})"),
        (None, Some(message)) => format!(" ({message})"),
        (None, None) => String::new(),
    }
}

fn ok(kind: StepKind, latency_ms: u64, detail: String) -> HealthStep {
    HealthStep {
        kind,
        status: StepStatus::Ok,
        latency_ms: Some(latency_ms),
        detail,
        hint: None,
    }
}

fn failed(
    kind: StepKind,
    latency_ms: Option<u64>,
    detail: String,
    hint: Option<String>,
) -> HealthStep {
    HealthStep {
        kind,
        status: StepStatus::Failed,
        latency_ms,
        detail,
        hint,
    }
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_allow_header_names_methods_in_any_case() {
        assert!(allows("GET, PATCH", "PATCH"));
        assert!(allows("get,patch ,OPTIONS", "PATCH"));
        assert!(!allows("GET, PATCH", "PUT"));
        assert!(!allows("GET, PATCHED", "PATCH"));
    }

    #[test]
    fn transport_failures_read_in_a_few_words() {
        let refused = "error sending request: client error (Connect): tcp connect error: \
                       Connection refused (os error 111)";
        assert_eq!(transport_text(refused, false, 10), "connection refused");
        assert_eq!(transport_text("whatever", true, 7), "timed out after 7 s");
        assert_eq!(
            transport_text("dns error: failed to lookup address information", false, 10),
            "DNS lookup failed"
        );
        assert_eq!(transport_text("odd", false, 10), "odd");
        assert_eq!(status_text(401), "401 Unauthorized");
        assert_eq!(status_text(599), "599");
    }

    #[test]
    fn the_first_page_url_is_the_one_the_pager_asks_for() {
        let client = HttpClient::new("http://127.0.0.1:1/api", None, Duration::from_secs(1), 1)
            .unwrap_or_else(|e| panic!("{e}"));
        let mut source = Source {
            name: "s".into(),
            base_url: "http://127.0.0.1:1/api".into(),
            endpoint: "/devices".into(),
            results_position: crate::config::ResultsPosition::Root,
            id_field: "serial".into(),
            single_query: Default::default(),
            credential: None,
            pagination: Pagination::Offset {
                offset_param: "o".into(),
                size_param: "n".into(),
                size: 50,
                max_pages: 3,
            },
            stop: Default::default(),
            timeout_secs: 1,
            query: vec![("section".into(), "HARDWARE".into())],
            headers: Vec::new(),
            rate_limit_per_sec: None,
            max_retry_after_secs: 120,
        };
        assert_eq!(
            first_page_url(&client, &source).as_str(),
            "http://127.0.0.1:1/api/devices?section=HARDWARE&o=0&n=50"
        );
        source.pagination = Pagination::None;
        assert_eq!(
            first_page_url(&client, &source).as_str(),
            "http://127.0.0.1:1/api/devices?section=HARDWARE"
        );
    }
}
