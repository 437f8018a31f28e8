//! Writing one record to a destination (SPEC section 3 step 5): the update or create contract,
//! the URL and body of a write, and the id of a created record. Sending with retries and error
//! details is [`super::exchange`]; the verification read that turns a 202 Accepted into OK is
//! `super::verify`.

use std::time::Duration;

use reqwest::header::{self, HeaderMap};
use reqwest::{Method as HttpMethod, Url};
use serde_json::Value;

use super::body;
pub use super::exchange::RetryNotice;
use super::exchange::{Ending, Exchange, Line, join_reason};
use super::hints;
use super::http::HttpClient;
use super::limit::RateLimiter;
use super::placeholder::path_segment;
use super::retry::RetryPolicy;
use super::values::get_path;
use crate::config::{Connection, FetchContract, Method, WriteContract};
use crate::store::{Attempt, EntryError, EntryStatus};

/// At most this much of a successful write's body is read (for a created record's id).
const WRITE_BODY_CAP: usize = 64 * 1024;

const CREATE_NOT_FOUND: &str = "wrong path: check the create contract path";

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

/// Writes records to one connection's destination; built once per connection run and shared by
/// its workers.
pub struct Deliverer {
    pub(super) client: HttpClient,
    pub(super) policy: RetryPolicy,
    pub(super) timeout: Duration,
    update: WriteContract,
    create: Option<WriteContract>,
    pub(super) fetch: FetchContract,
}

impl Deliverer {
    /// What its requests are sent on.
    pub(super) fn line(&self) -> Line<'_> {
        Line {
            client: &self.client,
            policy: self.policy,
            timeout: self.timeout,
        }
    }

    /// A deliverer for `connection`, retrying per its `max_retries` with the default steps. A
    /// `limiter` with a rate joins the client's throttle (in a connection run the client comes
    /// with the connection's throttle already, and this is unlimited).
    pub fn new(client: HttpClient, connection: &Connection, limiter: RateLimiter) -> Self {
        let client = if limiter.is_limited() {
            let throttle = client.throttle().clone().with_rate(limiter);
            client.with_throttle(throttle)
        } else {
            client
        };
        Deliverer {
            client,
            policy: RetryPolicy::new(connection.max_retries)
                .with_max_retry_after(connection.max_retry_after_secs),
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
        // Only a failure shows the URL: redacted then, not on every write.
        let shown_url = || self.client.redact_url(&url);
        let (bytes, content_type) = match body::encode(&contract.body, request.payload) {
            Ok(encoded) => encoded,
            Err(message) => {
                return unsent(
                    &self.client.redact(&message),
                    Some(method),
                    Some(shown_url()),
                );
            }
        };
        // PUT and PATCH with the same body are idempotent; a POST is retried only when the
        // destination said it did nothing (429, 503) or it never got the request.
        let idempotent = contract.method != Method::Post;
        let exchange = self
            .line()
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
            Ending::Answered(answer)
                if answer.is_success()
                    && let Some(condition) = &contract.success_when
                    && let Some(refusal) =
                        super::answers::refused_in_body(&answer.body, condition) =>
            {
                let excerpt = super::listing_request::excerpt(&self.client, &answer.body);
                WriteResult {
                    status: EntryStatus::Failed,
                    http_status: Some(answer.status),
                    attempts,
                    error: Some(EntryError {
                        http_status: Some(answer.status),
                        code: refusal.code.map(|code| self.client.redact(&code)),
                        message: self.client.redact(&refusal.summary),
                        hint: Some(self.client.redact(&refusal.hint)),
                        method: Some(method.to_string()),
                        url: Some(shown_url()),
                        response_excerpt: (!excerpt.is_empty()).then_some(excerpt),
                    }),
                    target_id: target_id.map(str::to_string),
                    contract_level: false,
                    outcome_unknown: false,
                }
            }
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
                let mut error = self.line().http_error(&answer, method, &shown_url());
                if creating && status == 404 {
                    error.hint = Some(CREATE_NOT_FOUND.to_string());
                }
                // A gateway that gave up waiting for the destination leaves a POST as much in
                // doubt as a timeout of our own.
                let outcome_unknown = !idempotent && status == 504;
                if outcome_unknown {
                    error.message = format!(
                        "outcome unknown: {}; the {method} may or may not have been applied \
                         (not retried: check the destination before a resync)",
                        error.message
                    );
                }
                WriteResult {
                    status: EntryStatus::Failed,
                    http_status: Some(status),
                    attempts,
                    error: Some(error),
                    target_id: target_id.map(str::to_string),
                    contract_level: hints::is_contract_level(status)
                        && !(creating && status == 404),
                    outcome_unknown,
                }
            }
            Ending::NoToken(text) => WriteResult {
                status: EntryStatus::Failed,
                http_status: None,
                attempts,
                error: Some(EntryError {
                    message: text,
                    hint: Some(super::credentials::TOKEN_HINT.to_string()),
                    method: Some(method.to_string()),
                    url: Some(shown_url()),
                    ..EntryError::default()
                }),
                target_id: target_id.map(str::to_string),
                // Every record would fail the same way: abort_after stops the run.
                contract_level: true,
                outcome_unknown: false,
            },
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
                        url: Some(shown_url()),
                        response_excerpt: None,
                    }),
                    target_id: target_id.map(str::to_string),
                    contract_level: false,
                    outcome_unknown,
                }
            }
        }
    }
    /// Whether the payload can be encoded as the body of the write it would be (the create
    /// contract's when `creating`); Err says which field cannot, and why.
    pub fn check_body(&self, creating: bool, payload: &Value) -> Result<(), String> {
        let contract = match (creating, &self.create) {
            (true, Some(create)) => create,
            _ => &self.update,
        };
        match contract.body {
            // serde_json escapes whatever a string holds.
            crate::config::BodyFormat::Json => Ok(()),
            crate::config::BodyFormat::Xml { .. } => {
                body::encode(&contract.body, payload).map(drop)
            }
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
    /// A created record's id: the fetch contract's id field (or `id`) in a JSON or XML body,
    /// else the last segment of the `Location` header.
    fn created_id(&self, url: &Url, headers: &HeaderMap, body: &[u8]) -> Option<String> {
        let id_field = self.fetch.id_field.as_str();
        let from_json = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|document| {
                let envelopes = [
                    (None, Some(&document)),
                    (Some("result"), document.get("result")),
                    (Some("data"), document.get("data")),
                ];
                envelopes.into_iter().find_map(|(envelope, record)| {
                    let record = record?;
                    let (field, value) = [id_field, "id"]
                        .into_iter()
                        .find_map(|field| Some((field, get_path(record, field)?)))?;
                    let text = scalar_text(value)?;
                    // A number serde_json reads as a float keeps its exact text.
                    let path: Vec<&str> = envelope.into_iter().chain(field.split('.')).collect();
                    Some(super::exact_numbers::exact_text(body, &path, value).unwrap_or(text))
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

/// A contract path with its placeholders filled, split from any query it carries.
pub(super) struct FilledPath {
    pub(super) path: String,
    pub(super) query: Option<String>,
}

/// Replaces `{id}` and `{serial}` with their percent-encoded values.
pub(super) fn fill_placeholders(
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
    if filled.contains("{serial") {
        filled = super::placeholder::fill_segment(&filled, serial)?;
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
    path_segment(value, what)
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
pub(super) fn append_query(url: &mut Url, extra: &str) {
    let query = match url.query() {
        Some(existing) if !existing.is_empty() => format!("{existing}&{extra}"),
        _ => extra.to_string(),
    };
    url.set_query(Some(&query));
}
pub(super) fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn percent_decoding() {
        assert_eq!(percent_decode("REG-1%2F2"), "REG-1/2");
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
