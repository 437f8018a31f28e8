//! One GET of a listing page, source or destination (SPEC section 3): retries of 429, 5xx (but
//! 501), timeouts and connection errors with `Retry-After` honoured, and the typed
//! [`ListingError`] with the redacted URL, the destination's error details and an excerpt of the
//! body (SPEC section 4).

use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use reqwest::{Method, Url};
use serde_json::Value;
use tokio::sync::watch;

use super::http::{HttpClient, SendError};
use super::retry::{RetryPolicy, is_retryable_status, parse_retry_after};
pub(crate) use super::wire::error_chain;
pub use super::wire::error_details;
use super::wire::read_capped;

/// The largest page body read; a bigger one is refused rather than parsed.
const MAX_PAGE_BYTES: usize = 32 << 20;
/// The most of a response body an error keeps (SPEC section 4).
pub const EXCERPT_BYTES: usize = 4096;
/// What a one-line message quotes of a body that is not JSON.
const SHORT_EXCERPT: usize = 160;

/// Why a GET of a listing (source or destination) failed. URLs, messages and excerpts are
/// redacted: no secret value, no secret-looking query value.
#[derive(Clone, Debug, thiserror::Error)]
pub enum ListingError {
    /// No answer: connection refused, timeout, a body cut off midway.
    #[error("GET {url}: {message}{}", attempts_note(*.attempts))]
    Transport {
        url: String,
        message: String,
        timeout: bool,
        attempts: u32,
    },
    /// An answer that is not 2xx.
    #[error("GET {url} answered HTTP {status}{}{}", details_note(.code, .message, .excerpt), gave_up_note(.gave_up))]
    Status {
        url: String,
        status: u16,
        /// The destination's error code, when its body gives one.
        code: Option<String>,
        /// The destination's error message, when its body gives one.
        message: Option<String>,
        /// At most [`EXCERPT_BYTES`] of the body.
        excerpt: String,
        attempts: u32,
        /// Why retrying stopped (retryable statuses only).
        gave_up: Option<String>,
    },
    /// A 2xx whose body does not parse as JSON (an HTML login page, a proxy's error page).
    #[error(
        "GET {url}: the body is not JSON ({problem}; content type {content_type}): {}",
        short(.excerpt)
    )]
    NotJson {
        url: String,
        content_type: String,
        /// Where parsing stopped: `expected value at line 1 column 1`.
        problem: String,
        excerpt: String,
    },
    /// JSON nested deeper than the parser goes (serde_json's limit of 128 levels), which no
    /// listing of records needs.
    #[error(
        "GET {url}: the JSON nests more than 128 levels deep (at line {line}, column {column}); \
         syncdeck reads no deeper"
    )]
    TooDeep {
        url: String,
        line: usize,
        column: usize,
    },
    /// The list is not where `results_position` says.
    #[error("GET {url}: results_position \"{position}\" {found}; {seen}")]
    ResultsPosition {
        url: String,
        position: String,
        /// `matched nothing`, `matched an object, not an array`, ...
        found: String,
        /// `top-level keys seen: data, meta`, or what the body is instead.
        seen: String,
        keys: Vec<String>,
    },
    /// The next cursor or link cannot be followed.
    #[error("GET {url}: {message}")]
    Paging { url: String, message: String },
    #[error("GET {url}: the body is larger than {limit} bytes; lower the page size")]
    TooLarge { url: String, limit: usize },
    /// The credential's token could not be had (its token endpoint refused or is down).
    #[error("GET {url}: {message}")]
    Credential { url: String, message: String },
}

impl ListingError {
    /// The request method (listings only GET).
    pub fn method(&self) -> &'static str {
        "GET"
    }

    /// The redacted URL of the request that failed.
    pub fn url(&self) -> &str {
        match self {
            ListingError::Transport { url, .. }
            | ListingError::Status { url, .. }
            | ListingError::NotJson { url, .. }
            | ListingError::TooDeep { url, .. }
            | ListingError::ResultsPosition { url, .. }
            | ListingError::Paging { url, .. }
            | ListingError::TooLarge { url, .. }
            | ListingError::Credential { url, .. } => url,
        }
    }

    pub fn http_status(&self) -> Option<u16> {
        match self {
            ListingError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The destination's error code (`INVALID_CONTENT`), when its body gave one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ListingError::Status { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// The destination's error message, when its body gave one.
    pub fn destination_message(&self) -> Option<&str> {
        match self {
            ListingError::Status { message, .. } => message.as_deref(),
            _ => None,
        }
    }

    /// A redacted excerpt of the response body (at most [`EXCERPT_BYTES`]).
    pub fn excerpt(&self) -> Option<&str> {
        match self {
            ListingError::Status { excerpt, .. } | ListingError::NotJson { excerpt, .. } => {
                Some(excerpt)
            }
            _ => None,
        }
    }

    /// Requests sent before giving up.
    pub fn attempts(&self) -> u32 {
        match self {
            ListingError::Transport { attempts, .. } | ListingError::Status { attempts, .. } => {
                *attempts
            }
            _ => 1,
        }
    }

    pub fn is_timeout(&self) -> bool {
        matches!(self, ListingError::Transport { timeout: true, .. })
    }

    /// Whether the failure is transient in the sense of [`super::retry`] (429, 5xx but 501,
    /// timeouts, connection errors): worth a later resync, not a configuration fix.
    pub fn is_retryable(&self) -> bool {
        match self {
            ListingError::Transport { .. } => true,
            ListingError::Status { status, .. } => is_retryable_status(*status),
            _ => false,
        }
    }
}

fn attempts_note(attempts: u32) -> String {
    if attempts > 1 {
        format!(" (after {attempts} attempts)")
    } else {
        String::new()
    }
}

/// The destination's code and message; without them, the start of the body.
fn details_note(code: &Option<String>, message: &Option<String>, excerpt: &str) -> String {
    match (code, message) {
        (Some(code), Some(message)) => format!(" {code}: {message}"),
        (Some(code), None) => format!(" {code}"),
        (None, Some(message)) => format!(": {message}"),
        (None, None) if excerpt.trim().is_empty() => String::new(),
        (None, None) => format!(": {}", short(excerpt)),
    }
}

fn gave_up_note(gave_up: &Option<String>) -> String {
    gave_up
        .as_ref()
        .map(|reason| format!(" ({reason})"))
        .unwrap_or_default()
}

fn short(excerpt: &str) -> String {
    let line = excerpt.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(SHORT_EXCERPT) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    }
}

/// Resolves as soon as the watch says cancel; never when its sender is gone.
pub(crate) async fn canceled(cancel: &watch::Receiver<bool>) {
    let mut cancel = cancel.clone();
    if cancel.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}
/// What went wrong in one attempt, and whether another may go better.
struct Attempt {
    error: ListingError,
    retryable: bool,
    retry_after: Option<Duration>,
}

/// A page as it came: its JSON body, the headers a listing reads, and the bytes the body was
/// parsed from (the exact text of a key number is read from them, see
/// [`super::exact_numbers`]).
pub(crate) struct Fetched {
    pub(crate) body: Value,
    pub(crate) headers: HeaderMap,
    pub(crate) raw: Vec<u8>,
}

/// GETs `url` and parses its JSON body, retrying 429, 5xx (but 501), timeouts and connection
/// errors under `policy` and honouring `Retry-After`. Ok(None): canceled while waiting to retry.
pub(crate) async fn get_json(
    client: &HttpClient,
    url: &Url,
    policy: RetryPolicy,
    cancel: Option<&watch::Receiver<bool>>,
) -> Result<Option<Fetched>, ListingError> {
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let attempt = match get_once(client, url, attempts).await {
            Ok(body) => return Ok(Some(body)),
            Err(attempt) if !attempt.retryable => return Err(attempt.error),
            Err(attempt) => attempt,
        };
        let wait = match policy.delay(attempts, attempt.retry_after) {
            Ok(wait) => wait,
            Err(reason) => return Err(gave_up(attempt.error, reason)),
        };
        tracing::debug!(url = %client.redact_url(url), attempts, ?wait, "retrying a listing request");
        match cancel {
            Some(cancel) => tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = canceled(cancel) => return Ok(None),
            },
            None => tokio::time::sleep(wait).await,
        }
    }
}

fn gave_up(error: ListingError, reason: String) -> ListingError {
    match error {
        ListingError::Status {
            url,
            status,
            code,
            message,
            excerpt,
            attempts,
            ..
        } => ListingError::Status {
            url,
            status,
            code,
            message,
            excerpt,
            attempts,
            gave_up: Some(reason),
        },
        other => other,
    }
}

async fn get_once(client: &HttpClient, url: &Url, attempts: u32) -> Result<Fetched, Attempt> {
    let shown = || client.redact_url(url);
    let response = client
        .send(Method::GET, url, &|request| {
            request.header(ACCEPT, "application/json")
        })
        .await;
    let response = match response {
        Ok(response) => response,
        Err(SendError::Token(error)) => {
            return Err(Attempt {
                retryable: false,
                retry_after: None,
                error: ListingError::Credential {
                    url: shown(),
                    message: client.redact(&error.to_string()),
                },
            });
        }
        Err(SendError::Http(error)) => {
            let timeout = error.is_timeout();
            let retryable = !(error.is_builder() || error.is_redirect());
            return Err(Attempt {
                retryable,
                retry_after: None,
                error: ListingError::Transport {
                    url: shown(),
                    message: client.redact(&error_chain(error)),
                    timeout,
                    attempts,
                },
            });
        }
    };
    let status = response.status();
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        .unwrap_or_else(|| "none".to_string());
    if !status.is_success() {
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| parse_retry_after(value, chrono::Utc::now()));
        let (body, _, _) = read_capped(response, EXCERPT_BYTES + 1024).await;
        let (code, message) = error_details(&body);
        return Err(Attempt {
            retryable: is_retryable_status(status.as_u16()),
            retry_after,
            error: ListingError::Status {
                url: shown(),
                status: status.as_u16(),
                code: code.map(|code| client.redact(&code)),
                message: message.map(|message| client.redact(&message)),
                excerpt: excerpt(client, &body),
                attempts,
                gave_up: None,
            },
        });
    }
    let mut headers = HeaderMap::new();
    for name in [reqwest::header::LINK] {
        for value in response.headers().get_all(&name) {
            headers.append(name.clone(), value.clone());
        }
    }
    // Totals may come in any header (`X-Total-Count`): keep the small ones.
    for (name, value) in response.headers() {
        if name.as_str().contains("total") || name.as_str().contains("count") {
            headers.append(name.clone(), value.clone());
        }
    }
    let (body, truncated, broken) = read_capped(response, MAX_PAGE_BYTES).await;
    if let Some(message) = broken {
        return Err(Attempt {
            retryable: true,
            retry_after: None,
            error: ListingError::Transport {
                url: shown(),
                message: format!("the body broke off: {}", client.redact(&message)),
                timeout: false,
                attempts,
            },
        });
    }
    if truncated {
        return Err(Attempt {
            retryable: false,
            retry_after: None,
            error: ListingError::TooLarge {
                url: shown(),
                limit: MAX_PAGE_BYTES,
            },
        });
    }
    match serde_json::from_slice(&body) {
        Ok(value) => Ok(Fetched {
            body: value,
            headers,
            raw: body,
        }),
        Err(error) => {
            let error = if error.to_string().starts_with("recursion limit exceeded") {
                ListingError::TooDeep {
                    url: shown(),
                    line: error.line(),
                    column: error.column(),
                }
            } else {
                ListingError::NotJson {
                    url: shown(),
                    content_type: client.redact(&content_type),
                    problem: error.to_string(),
                    excerpt: excerpt(client, &body),
                }
            };
            Err(Attempt {
                retryable: false,
                retry_after: None,
                error,
            })
        }
    }
}

/// At most [`EXCERPT_BYTES`] of a body as text (bytes that are not UTF-8 replaced), secrets
/// removed before it is cut so no part of a secret survives at the cut.
pub fn excerpt(client: &HttpClient, body: &[u8]) -> String {
    let head = &body[..body.len().min(EXCERPT_BYTES + 1024)];
    let text = client.redact(&super::http::printable(head));
    if text.len() <= EXCERPT_BYTES {
        return text;
    }
    let mut cut = EXCERPT_BYTES;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text[..cut].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_details_read_json_and_xml_bodies() {
        let json = br#"{"error": {"code": "INVALID_CONTENT", "message": "bad field"}}"#;
        assert_eq!(
            error_details(json),
            (Some("INVALID_CONTENT".into()), Some("bad field".into()))
        );
        let xml =
            b"<?xml version=\"1.0\"?><error><code>BAD</code><message>a &amp; b</message></error>";
        assert_eq!(
            error_details(xml),
            (Some("BAD".into()), Some("a & b".into()))
        );
        assert_eq!(error_details(b"\xff\xfe<html>"), (None, None));
        assert_eq!(
            error_details(br#"{"error": "nope"}"#),
            (None, Some("nope".into()))
        );
    }

    #[test]
    fn excerpts_are_capped_redacted_and_survive_bad_bytes() {
        let client = HttpClient::new("http://127.0.0.1:1", None, Duration::from_secs(1), 1)
            .unwrap_or_else(|e| panic!("{e}"));
        let mut body = vec![0xffu8; 10];
        body.extend("é\u{1b}[2J".repeat(1000).bytes());
        let text = excerpt(&client, &body);
        assert!(text.len() <= EXCERPT_BYTES && text.starts_with('\u{fffd}'));
        assert!(!text.contains('\u{1b}') && text.contains("é"));
        assert_eq!(short(&"x ".repeat(500)).chars().count(), SHORT_EXCERPT + 1);
    }
}
