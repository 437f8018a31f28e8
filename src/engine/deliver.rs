//! Writing one record to a destination (SPEC section 3 step 5): the update or create contract,
//! retries of what is safe to retry, error details with hints (SPEC section 4), and the
//! verification read that turns a 202 Accepted into OK.

use std::time::Duration;

use chrono::Utc;
use reqwest::header::{self, HeaderMap};
use reqwest::{Method as HttpMethod, StatusCode, Url};
use serde_json::Value;

use super::body;
use super::hints;
use super::http::{HttpClient, read_capped};
use super::limit::RateLimiter;
use super::retry::{RetryPolicy, is_retryable_status, parse_retry_after};
use crate::config::{Connection, FetchContract, Method, ResultsPosition, WriteContract};
use crate::store::{Attempt, EntryError, EntryStatus};

/// At most this much of an error body is read (the rest is dropped unread).
const ERROR_BODY_CAP: usize = 64 * 1024;
/// At most this much of a successful write's body is read (for a created record's id).
const WRITE_BODY_CAP: usize = 64 * 1024;
/// At most this much of a verification read is read.
const READ_BODY_CAP: usize = 4 * 1024 * 1024;
/// The longest response excerpt kept with an error, in bytes (SPEC section 4).
pub const EXCERPT_LIMIT: usize = 4 * 1024;
/// The longest transport error text kept, in characters.
const MAX_TRANSPORT_TEXT: usize = 500;

const CREATE_NOT_FOUND: &str = "wrong path: check the create contract path";
const REDIRECTED: &str = "the destination redirected to another origin (not followed, so no \
                          credential leaves it): check base_url and the contract path";

/// Which contract a write uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteKind {
    /// The update contract, at the destination record `target_id` (needed when its path has
    /// `{id}`).
    Update { target_id: Option<String> },
    /// The create contract.
    Create,
}

/// One record to write.
#[derive(Clone, Debug)]
pub struct WriteRequest<'a> {
    pub kind: WriteKind,
    pub serial: &'a str,
    pub payload: &'a Value,
}

/// What became of one write.
#[derive(Clone, Debug, PartialEq)]
pub struct WriteResult {
    /// Ok, Sent (202 Accepted) or Failed.
    pub status: EntryStatus,
    /// The last HTTP status received, if any.
    pub http_status: Option<u16>,
    /// Every try, with its time, HTTP status and (redacted) error.
    pub attempts: Vec<Attempt>,
    /// Why it failed: status, destination code/message, hint, method, redacted URL and excerpt.
    pub error: Option<EntryError>,
    /// The destination record written: an update's own target id, or the id a create's
    /// response gave (JSON/XML id field, else the `Location` header).
    pub target_id: Option<String>,
    /// 401, 403, 405, 415, or 404 on an update: counts toward `abort_after`.
    pub contract_level: bool,
    /// A POST that timed out or lost its connection: it may or may not have been applied.
    pub outcome_unknown: bool,
}

/// Told before each wait for a retry, so the engine can show the entry as Pending.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryNotice {
    /// The try that failed, from 1; the next try is `attempt + 1`.
    pub attempt: u32,
    /// How long until the next try.
    pub delay: Duration,
    /// What went wrong (redacted).
    pub reason: String,
}

/// Writes records to one connection's destination; built once per connection run and shared by
/// its workers.
pub struct Deliverer {
    client: HttpClient,
    limiter: RateLimiter,
    policy: RetryPolicy,
    timeout: Duration,
    update: WriteContract,
    create: Option<WriteContract>,
    fetch: FetchContract,
}

/// How an exchange (a request and its retries) ended.
enum Ending {
    /// The destination answered; a non-2xx when it was not retried or retries ran out.
    Answered(Answer),
    /// No answer: a timeout or a connection error.
    Unanswered {
        text: String,
        /// The request may have reached the destination (not a connect failure).
        reached: bool,
        gave_up: Option<String>,
    },
}

/// The last answer of an exchange.
struct Answer {
    status: u16,
    headers: HeaderMap,
    /// The body, read up to a cap.
    body: Vec<u8>,
    /// More body was left unread.
    truncated: bool,
    /// Why a retryable answer was not retried (retries ran out, `Retry-After` too long).
    gave_up: Option<String>,
}

impl Answer {
    fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

struct Exchange {
    attempts: Vec<Attempt>,
    ending: Ending,
}

impl Deliverer {
    /// A deliverer for `connection`, retrying per its `max_retries` with the default steps.
    pub fn new(client: HttpClient, connection: &Connection, limiter: RateLimiter) -> Self {
        Deliverer {
            client,
            limiter,
            policy: RetryPolicy::new(connection.max_retries),
            timeout: Duration::from_secs(connection.timeout_secs.max(1)),
            update: connection.update.clone(),
            create: connection.create.clone(),
            fetch: connection.fetch.clone(),
        }
    }

    /// The same deliverer with another retry policy (shorter steps in tests, for instance).
    pub fn with_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The retry policy in force.
    pub fn policy(&self) -> RetryPolicy {
        self.policy
    }

    /// Sends one write with the update (or create) contract; retries per SPEC; calls `on_retry`
    /// before each wait (so the engine can mark the entry Pending and emit a RetryScheduled event).
    pub async fn write(
        &self,
        request: WriteRequest<'_>,
        on_retry: &mut (dyn FnMut(RetryNotice) + Send),
    ) -> WriteResult {
        let (contract, target_id) = match &request.kind {
            WriteKind::Update { target_id } => (&self.update, target_id.as_deref()),
            WriteKind::Create => match &self.create {
                Some(contract) => (contract, None),
                None => {
                    return unsent(
                        "no create contract: the connection has no [connections.create]",
                        None,
                        None,
                    );
                }
            },
        };
        let creating = request.kind == WriteKind::Create;
        let method = contract.method.as_str();
        let url = match self.write_url(contract, target_id, request.serial) {
            Ok(url) => url,
            Err(message) => return unsent(&self.client.redact(&message), Some(method), None),
        };
        let shown_url = self.client.redact_url(&url);
        let (bytes, content_type) = match body::encode(&contract.body, request.payload) {
            Ok(encoded) => encoded,
            Err(message) => {
                return unsent(&self.client.redact(&message), Some(method), Some(shown_url));
            }
        };
        // PUT and PATCH with the same body are idempotent; a POST is retried only when the
        // destination said it did nothing (429, 503) or it never got the request.
        let idempotent = contract.method != Method::Post;
        let exchange = self
            .exchange(
                http_method(contract.method),
                &url,
                Some((&bytes, content_type)),
                idempotent,
                WRITE_BODY_CAP,
                on_retry,
            )
            .await;
        let Exchange { attempts, ending } = exchange;
        match ending {
            Ending::Answered(answer) if answer.is_success() => {
                let status = answer.status;
                let target_id = if creating {
                    self.created_id(&url, &answer.headers, &answer.body)
                } else {
                    target_id.map(str::to_string)
                };
                WriteResult {
                    status: if status == 202 {
                        EntryStatus::Sent
                    } else {
                        EntryStatus::Ok
                    },
                    http_status: Some(status),
                    attempts,
                    error: None,
                    target_id,
                    contract_level: false,
                    outcome_unknown: false,
                }
            }
            Ending::Answered(answer) => {
                let status = answer.status;
                let mut error = self.http_error(&answer, method, &shown_url);
                if creating && status == 404 {
                    error.hint = Some(CREATE_NOT_FOUND.to_string());
                }
                WriteResult {
                    status: EntryStatus::Failed,
                    http_status: Some(status),
                    attempts,
                    error: Some(error),
                    target_id: target_id.map(str::to_string),
                    contract_level: hints::is_contract_level(status)
                        && !(creating && status == 404),
                    outcome_unknown: false,
                }
            }
            Ending::Unanswered {
                text,
                reached,
                gave_up,
            } => {
                let outcome_unknown = !idempotent && reached;
                let message = if outcome_unknown {
                    format!(
                        "outcome unknown: {text}; the {method} may or may not have been applied \
                         (not retried: check the destination before a resync)"
                    )
                } else {
                    join_reason(&text, gave_up.as_deref())
                };
                WriteResult {
                    status: EntryStatus::Failed,
                    http_status: None,
                    attempts,
                    error: Some(EntryError {
                        http_status: None,
                        code: None,
                        message: self.client.redact(&message),
                        hint: Some(hints::DESTINATION_DOWN.to_string()),
                        method: Some(method.to_string()),
                        url: Some(shown_url),
                        response_excerpt: None,
                    }),
                    target_id: target_id.map(str::to_string),
                    contract_level: false,
                    outcome_unknown,
                }
            }
        }
    }

    /// After a 202: reads the record back (through the fetch contract's per-serial lookup: GET
    /// fetch.path with fetch.query, {serial} replaced, list at fetch.results_position, record whose
    /// fetch.serial_field equals the serial) and checks every payload field landed (dotted paths,
    /// numbers compared semantically). Ok(true) = landed.
    ///
    /// No record for the serial is Ok(false); several are an error (ambiguous destination).
    pub async fn verify(&self, serial: &str, payload: &Value) -> Result<bool, EntryError> {
        let fail = |message: String, url: Option<String>| EntryError {
            message: self.client.redact(&message),
            method: Some("GET".to_string()),
            url,
            ..EntryError::default()
        };
        let path = fill_placeholders(&self.fetch.path, None, serial).map_err(|m| fail(m, None))?;
        let query: Vec<(String, String)> = self
            .fetch
            .query
            .iter()
            .map(|(key, value)| (key.clone(), value.replace("{serial}", serial)))
            .collect();
        let mut url = self.client.url(&path.path, &query);
        if let Some(extra) = &path.query {
            append_query(&mut url, extra);
        }
        let shown_url = self.client.redact_url(&url);
        let Exchange { ending, .. } = self
            .exchange(
                HttpMethod::GET,
                &url,
                None,
                true,
                READ_BODY_CAP,
                &mut |_| {},
            )
            .await;
        let body = match ending {
            Ending::Answered(answer) if answer.is_success() => {
                if answer.truncated {
                    return Err(fail(
                        format!(
                            "verification read: the lookup response is larger than {} MiB",
                            READ_BODY_CAP / (1024 * 1024)
                        ),
                        Some(shown_url),
                    ));
                }
                answer.body
            }
            Ending::Answered(answer) => {
                let mut error = self.http_error(&answer, "GET", &shown_url);
                error.message = self
                    .client
                    .redact(&format!("verification read: {}", error.message));
                if answer.status == 404 {
                    error.hint = Some(
                        "wrong lookup path: check the fetch contract path and query".to_string(),
                    );
                }
                return Err(error);
            }
            Ending::Unanswered { text, gave_up, .. } => {
                let mut error = fail(
                    format!(
                        "verification read: {}",
                        join_reason(&text, gave_up.as_deref())
                    ),
                    Some(shown_url),
                );
                error.hint = Some(hints::DESTINATION_DOWN.to_string());
                return Err(error);
            }
        };
        let document: Value = serde_json::from_slice(&body).map_err(|_| {
            fail(
                "verification read: the lookup response is not JSON".to_string(),
                Some(shown_url.clone()),
            )
        })?;
        let records = match results(&document, &self.fetch.results_position) {
            Some(records) => records,
            None => {
                let position: String = self.fetch.results_position.clone().into();
                return Err(EntryError {
                    hint: Some(hints::NOTHING_FETCHED.to_string()),
                    ..fail(
                        format!(
                            "verification read: no list at results position '{position}' \
                             (top-level keys: {})",
                            top_level_keys(&document)
                        ),
                        Some(shown_url),
                    )
                });
            }
        };
        let matching: Vec<&Value> = records
            .into_iter()
            .filter(|record| {
                get_path(record, &self.fetch.serial_field)
                    .and_then(scalar_text)
                    .as_deref()
                    == Some(serial)
            })
            .collect();
        let record = match matching.as_slice() {
            [] => {
                tracing::debug!(serial, "verification read found no destination record");
                return Ok(false);
            }
            [record] => *record,
            several => {
                return Err(fail(
                    format!(
                        "verification read: ambiguous destination: {} records have serial {serial}",
                        several.len()
                    ),
                    Some(shown_url),
                ));
            }
        };
        let mut leaves = Vec::new();
        flatten(payload, String::new(), &mut leaves);
        let missed: Vec<&str> = leaves
            .iter()
            .filter(|(path, expected)| !landed(expected, get_path(record, path)))
            .map(|(path, _)| path.as_str())
            .collect();
        if !missed.is_empty() {
            tracing::debug!(serial, fields = ?missed, "verification read: fields not landed yet");
        }
        Ok(missed.is_empty())
    }

    /// Sends a request, retrying what may be retried; every try goes through the rate limiter.
    async fn exchange(
        &self,
        method: HttpMethod,
        url: &Url,
        body: Option<(&[u8], &'static str)>,
        idempotent: bool,
        success_cap: usize,
        on_retry: &mut (dyn FnMut(RetryNotice) + Send),
    ) -> Exchange {
        let mut attempts = Vec::new();
        let mut number: u32 = 0;
        loop {
            number += 1;
            self.limiter.acquire().await;
            let at = Utc::now();
            let mut request = self
                .client
                .request(method.clone(), url.clone())
                .timeout(self.timeout);
            if let Some((bytes, content_type)) = body {
                request = request
                    .header(header::CONTENT_TYPE, content_type)
                    .body(bytes.to_vec());
            }
            let (text, delay) = match request.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let headers = response.headers().clone();
                    let cap = if (200..300).contains(&status) {
                        success_cap
                    } else {
                        ERROR_BODY_CAP
                    };
                    let (bytes, truncated, _) = read_capped(response, cap).await;
                    if (200..300).contains(&status) {
                        attempts.push(Attempt {
                            at,
                            http_status: Some(status),
                            error: None,
                        });
                        return Exchange {
                            attempts,
                            ending: Ending::Answered(Answer {
                                status,
                                headers,
                                body: bytes,
                                truncated,
                                gave_up: None,
                            }),
                        };
                    }
                    let text = self.status_text(status, &headers, &bytes);
                    attempts.push(Attempt {
                        at,
                        http_status: Some(status),
                        error: Some(text.clone()),
                    });
                    // 429 and 503 say the destination did nothing, so even a POST may go again.
                    let retry =
                        is_retryable_status(status) && (idempotent || matches!(status, 429 | 503));
                    let retry_after = headers
                        .get(header::RETRY_AFTER)
                        .and_then(|value| value.to_str().ok())
                        .and_then(|value| parse_retry_after(value, Utc::now()));
                    let verdict = if retry {
                        self.policy.delay(number, retry_after).map_err(Some)
                    } else {
                        Err(None)
                    };
                    match verdict {
                        Ok(delay) => (text, delay),
                        Err(gave_up) => {
                            return Exchange {
                                attempts,
                                ending: Ending::Answered(Answer {
                                    status,
                                    headers,
                                    body: bytes,
                                    truncated,
                                    gave_up,
                                }),
                            };
                        }
                    }
                }
                Err(error) => {
                    let timed_out = error.is_timeout();
                    // A failed connect never reached the destination: safe to retry, POST too.
                    let reached = !error.is_connect();
                    let text = self.transport_text(&error.without_url(), timed_out);
                    attempts.push(Attempt {
                        at,
                        http_status: None,
                        error: Some(text.clone()),
                    });
                    if !idempotent && reached {
                        return Exchange {
                            attempts,
                            ending: Ending::Unanswered {
                                text,
                                reached,
                                gave_up: None,
                            },
                        };
                    }
                    match self.policy.delay(number, None) {
                        Ok(delay) => (text, delay),
                        Err(reason) => {
                            return Exchange {
                                attempts,
                                ending: Ending::Unanswered {
                                    text,
                                    reached,
                                    gave_up: Some(reason),
                                },
                            };
                        }
                    }
                }
            };
            on_retry(RetryNotice {
                attempt: number,
                delay,
                reason: text,
            });
            tokio::time::sleep(delay).await;
        }
    }

    /// The URL of a write: `{id}` and `{serial}` filled in, path-segment encoded.
    fn write_url(
        &self,
        contract: &WriteContract,
        target_id: Option<&str>,
        serial: &str,
    ) -> Result<Url, String> {
        let filled = fill_placeholders(&contract.path, target_id, serial)?;
        let mut url = self.client.url(&filled.path, &[]);
        if let Some(query) = &filled.query {
            append_query(&mut url, query);
        }
        Ok(url)
    }

    /// "HTTP 405 Method Not Allowed [METHOD_NOT_ALLOWED]: ...", redacted.
    fn status_text(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> String {
        let (code, message) = body::error_details(body, content_type(headers));
        let reason = StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("");
        let mut text = format!("HTTP {status} {reason}").trim_end().to_string();
        if let Some(code) = code {
            text.push_str(&format!(" [{code}]"));
        }
        if let Some(message) = message {
            text.push_str(&format!(": {message}"));
        }
        self.client.redact(&text)
    }

    /// A timeout or connection error in words, with its causes, redacted.
    fn transport_text(&self, error: &reqwest::Error, timed_out: bool) -> String {
        let text = if timed_out {
            format!("no answer within {}s (timed out)", self.timeout.as_secs())
        } else {
            let mut parts = vec![error.to_string()];
            let mut source = std::error::Error::source(error);
            while let Some(cause) = source {
                let cause = cause.to_string();
                if !parts.iter().any(|part| part.contains(&cause)) {
                    parts.push(cause);
                }
                source = cause_of(source);
            }
            format!("connection error: {}", parts.join(": "))
        };
        let text = self.client.redact(&text);
        match text.char_indices().nth(MAX_TRANSPORT_TEXT) {
            Some((cut, _)) => format!("{}…", &text[..cut]),
            None => text,
        }
    }

    /// The error details of a non-2xx answer (SPEC section 4).
    fn http_error(&self, answer: &Answer, method: &str, shown_url: &str) -> EntryError {
        let Answer {
            status,
            headers,
            body,
            truncated,
            gave_up,
        } = answer;
        let (code, _) = body::error_details(body, content_type(headers));
        let code = code.map(|code| self.client.redact(&code));
        let message = join_reason(
            &self.status_text(*status, headers, body),
            gave_up.as_deref(),
        );
        let hint = match status {
            300..=399 => Some(REDIRECTED),
            _ => hints::for_status(*status, code.as_deref()),
        };
        EntryError {
            http_status: Some(*status),
            code,
            message: self.client.redact(&message),
            hint: hint.map(str::to_string),
            method: Some(method.to_string()),
            url: Some(shown_url.to_string()),
            response_excerpt: self.excerpt(body, *truncated),
        }
    }

    /// At most [`EXCERPT_LIMIT`] bytes of a body, redacted, lossy UTF-8; None when empty.
    fn excerpt(&self, body: &[u8], truncated: bool) -> Option<String> {
        if body.is_empty() {
            return None;
        }
        // Redact the whole capped body first, so a secret across the cut is still found.
        let text = self.client.redact(&String::from_utf8_lossy(body));
        if text.len() <= EXCERPT_LIMIT && !truncated {
            return Some(text);
        }
        let marker = "…";
        let mut cut = EXCERPT_LIMIT.min(text.len()) - marker.len().min(text.len());
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        Some(format!("{}{marker}", &text[..cut]))
    }

    /// A created record's id: the fetch contract's id field (or `id`) in a JSON or XML body,
    /// else the last segment of the `Location` header.
    fn created_id(&self, url: &Url, headers: &HeaderMap, body: &[u8]) -> Option<String> {
        let id_field = self.fetch.id_field.as_str();
        let from_json = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|document| {
                let envelopes = [
                    Some(&document),
                    document.get("result"),
                    document.get("data"),
                ];
                envelopes.into_iter().flatten().find_map(|record| {
                    get_path(record, id_field)
                        .or_else(|| get_path(record, "id"))
                        .and_then(scalar_text)
                })
            });
        let from_xml = || {
            let last = id_field.rsplit('.').next().unwrap_or(id_field);
            body::xml_texts(body, &[last, "id"])
                .into_iter()
                .flatten()
                .map(|text| text.trim().to_string())
                .find(|text| !text.is_empty())
        };
        let from_location = || {
            let location = headers.get(header::LOCATION)?.to_str().ok()?;
            let target = url.join(location).ok()?;
            let segment = target.path_segments()?.rfind(|s| !s.is_empty())?;
            Some(percent_decode(segment))
        };
        from_json
            .filter(|id| !id.is_empty())
            .or_else(from_xml)
            .or_else(from_location)
            .map(|id| self.client.redact(&id))
    }
}

/// A failure before any request was sent.
fn unsent(message: &str, method: Option<&str>, url: Option<String>) -> WriteResult {
    WriteResult {
        status: EntryStatus::Failed,
        http_status: None,
        attempts: Vec::new(),
        error: Some(EntryError {
            message: message.to_string(),
            method: method.map(str::to_string),
            url,
            ..EntryError::default()
        }),
        target_id: None,
        contract_level: false,
        outcome_unknown: false,
    }
}

fn http_method(method: Method) -> HttpMethod {
    match method {
        Method::Patch => HttpMethod::PATCH,
        Method::Put => HttpMethod::PUT,
        Method::Post => HttpMethod::POST,
    }
}

fn content_type(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
}

fn cause_of<'a>(
    error: Option<&'a (dyn std::error::Error + 'static)>,
) -> Option<&'a (dyn std::error::Error + 'static)> {
    error.and_then(std::error::Error::source)
}

fn join_reason(text: &str, reason: Option<&str>) -> String {
    match reason {
        Some(reason) => format!("{text}; {reason}"),
        None => text.to_string(),
    }
}

/// A contract path with its placeholders filled, split from any query it carries.
struct FilledPath {
    path: String,
    query: Option<String>,
}

/// Replaces `{id}` and `{serial}` with their percent-encoded values.
fn fill_placeholders(
    template: &str,
    target_id: Option<&str>,
    serial: &str,
) -> Result<FilledPath, String> {
    let mut filled = template.to_string();
    if filled.contains("{id}") {
        let id = target_id
            .filter(|id| !id.trim().is_empty())
            .ok_or("no destination id: the contract path needs {id} and none is known")?;
        filled = filled.replace("{id}", &encode_value(id, "destination id")?);
    }
    if filled.contains("{serial}") {
        filled = filled.replace("{serial}", &encode_value(serial, "serial")?);
    }
    Ok(match filled.split_once('?') {
        Some((path, query)) => FilledPath {
            path: path.to_string(),
            query: Some(query.to_string()).filter(|q| !q.is_empty()),
        },
        None => FilledPath {
            path: filled,
            query: None,
        },
    })
}

/// Percent-encodes everything but RFC 3986's unreserved characters, so a value is always one
/// path segment (or one query value); `.` and `..` are refused (they would move up the path).
fn encode_value(value: &str, what: &str) -> Result<String, String> {
    if value.is_empty() || value == "." || value == ".." {
        return Err(format!("invalid {what} '{value}' for a URL path"));
    }
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    Ok(out)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(high), Some(low)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((high * 16 + low) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Adds a contract's own query string (already encoded) to a URL.
fn append_query(url: &mut Url, extra: &str) {
    let query = match url.query() {
        Some(existing) if !existing.is_empty() => format!("{existing}&{extra}"),
        _ => extra.to_string(),
    };
    url.set_query(Some(&query));
}

/// The records at a results position; a single object there counts as one record.
fn results<'a>(document: &'a Value, position: &ResultsPosition) -> Option<Vec<&'a Value>> {
    let list = match position {
        ResultsPosition::Root => document,
        ResultsPosition::Path(segments) => segments
            .iter()
            .try_fold(document, |value, key| value.get(key))?,
    };
    match list {
        Value::Array(items) => Some(items.iter().collect()),
        Value::Object(_) => Some(vec![list]),
        _ => None,
    }
}

fn top_level_keys(document: &Value) -> String {
    match document {
        Value::Object(object) if !object.is_empty() => {
            object.keys().cloned().collect::<Vec<_>>().join(", ")
        }
        Value::Object(_) => "none".to_string(),
        Value::Array(_) => "none: the body is a bare array (use _root)".to_string(),
        _ => "none".to_string(),
    }
}

/// The value at a dotted path; a key that itself contains dots is found too.
fn get_path<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    if path.is_empty() {
        return Some(value);
    }
    let object = value.as_object()?;
    if let Some(found) = object.get(path) {
        return Some(found);
    }
    path.match_indices('.').find_map(|(dot, _)| {
        let inner = object.get(&path[..dot])?;
        get_path(inner, &path[dot + 1..])
    })
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// The leaves of a payload as (dotted path, value); an empty object is a leaf.
fn flatten(value: &Value, prefix: String, out: &mut Vec<(String, Value)>) {
    match value {
        Value::Object(object) if !object.is_empty() => {
            for (key, inner) in object {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(inner, path, out);
            }
        }
        other => out.push((prefix, other.clone())),
    }
}

/// Whether the destination holds what was written: numbers compare by value (16 = 16.0 = "16"),
/// a cleared field may come back null or absent.
fn landed(expected: &Value, actual: Option<&Value>) -> bool {
    match (expected, actual) {
        (Value::Null, None | Some(Value::Null)) => true,
        (Value::Object(object), None | Some(Value::Null)) if object.is_empty() => true,
        (_, None) => false,
        (expected, Some(actual)) => same(expected, actual),
    }
}

fn same(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::Number(a), Value::Number(b)) => same_number(a, b),
        (Value::Number(n), Value::String(s)) | (Value::String(s), Value::Number(n)) => {
            match (s.trim().parse::<f64>(), n.as_f64()) {
                (Ok(parsed), Some(number)) => parsed == number,
                _ => false,
            }
        }
        (Value::Bool(flag), Value::String(s)) | (Value::String(s), Value::Bool(flag)) => s
            .trim()
            .eq_ignore_ascii_case(if *flag { "true" } else { "false" }),
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.iter().all(|(key, value)| landed(value, b.get(key)))
        }
        (a, b) => a == b,
    }
}

fn same_number(a: &serde_json::Number, b: &serde_json::Number) -> bool {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return x == y;
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return x == y;
    }
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y || (x - y).abs() <= f64::EPSILON * x.abs().max(y.abs()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn placeholders_are_encoded_as_one_segment() {
        let filled = fill_placeholders("/a/{id}/b/{serial}", Some("x/y z"), "SD-1?").unwrap();
        assert_eq!(filled.path, "/a/x%2Fy%20z/b/SD-1%3F");
        assert!(filled.query.is_none());
        let filled = fill_placeholders("/a/{id}?s={serial}", Some("1"), "é").unwrap();
        assert_eq!(filled.path, "/a/1");
        assert_eq!(filled.query.as_deref(), Some("s=%C3%A9"));
    }

    #[test]
    fn an_id_path_without_an_id_fails() {
        let error = fill_placeholders("/a/{id}", None, "S").err().unwrap();
        assert!(error.starts_with("no destination id"), "{error}");
        assert!(fill_placeholders("/a/{id}", Some(" "), "S").is_err());
        assert!(fill_placeholders("/a/{id}", Some(".."), "S").is_err());
        assert!(fill_placeholders("/a/{serial}", None, "S").is_ok());
    }

    #[test]
    fn dotted_paths_read_nested_and_dotted_keys() {
        let record = json!({"user": {"email": "a"}, "x.y": 1, "deep": {"a.b": {"c": 2}}});
        assert_eq!(get_path(&record, "user.email"), Some(&json!("a")));
        assert_eq!(get_path(&record, "x.y"), Some(&json!(1)));
        assert_eq!(get_path(&record, "deep.a.b.c"), Some(&json!(2)));
        assert_eq!(get_path(&record, "user.name"), None);
    }

    #[test]
    fn landed_compares_numbers_semantically() {
        assert!(landed(&json!(16), Some(&json!(16.0))));
        assert!(landed(&json!(16), Some(&json!("16"))));
        assert!(landed(&json!("16"), Some(&json!(16))));
        assert!(!landed(&json!(16), Some(&json!(17))));
        assert!(landed(&json!(null), None));
        assert!(landed(&json!(null), Some(&json!(null))));
        assert!(!landed(&json!("a"), None));
        assert!(landed(&json!(true), Some(&json!("true"))));
        assert!(landed(&json!([1, 2]), Some(&json!([1.0, "2"]))));
        assert!(!landed(&json!([1, 2]), Some(&json!([1]))));
    }

    #[test]
    fn payload_leaves_use_dotted_paths() {
        let mut leaves = Vec::new();
        flatten(
            &json!({"a": 1, "user": {"email": "e", "name": null}, "empty": {}}),
            String::new(),
            &mut leaves,
        );
        let paths: Vec<&str> = leaves.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, vec!["a", "empty", "user.email", "user.name"]);
    }

    #[test]
    fn results_positions() {
        let doc = json!({"data": {"items": [{"a": 1}, {"a": 2}]}});
        let position = ResultsPosition::parse("data.items").unwrap();
        assert_eq!(results(&doc, &position).map(|r| r.len()), Some(2));
        assert_eq!(
            results(&json!([{"a": 1}]), &ResultsPosition::Root).map(|r| r.len()),
            Some(1)
        );
        assert!(results(&doc, &ResultsPosition::parse("nope").unwrap()).is_none());
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("REG-1%2F2"), "REG-1/2");
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
