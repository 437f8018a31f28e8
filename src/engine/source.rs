//! Listing the source (SPEC section 3, step 1): page by page in any of the five pagination styles,
//! the list read at the results position, the serial at `id_field`.
//!
//! The paging helper here ([`Pager`]) also drives the destination's bulk listing
//! ([`super::lookup`]), so both listings page, retry and report errors the same way.
//!
//! Pages go to the engine through a bounded `mpsc` channel rather than a callback: the engine
//! maps and writes one page while the next one downloads, and a slow consumer holds the listing
//! back (backpressure) instead of letting a 100,000-record listing pile up in memory.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Method, Url};
use serde_json::Value;
use tokio::sync::{mpsc, watch};

use super::http::{HttpClient, read_capped};
use super::retry::{RetryPolicy, is_retryable_status, parse_retry_after};
use crate::config::{Pagination, ResultsPosition, Source};

/// The largest page body read; a bigger one is refused rather than parsed.
const MAX_PAGE_BYTES: usize = 32 << 20;
/// The most of a response body an error keeps (SPEC section 4).
pub const EXCERPT_BYTES: usize = 4096;
/// What a one-line message quotes of a body that is not JSON.
const SHORT_EXCERPT: usize = 160;
/// How many duplicate serials and positions of records without a serial a summary names.
const EXAMPLES: usize = 20;
/// How many top-level keys a results-position error lists.
const KEYS_SHOWN: usize = 20;

/// One record of the source listing and its serial.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceRecord {
    pub serial: String,
    pub record: Value,
}

/// Which records a run lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every record of the source.
    Full,
    /// The record with this serial.
    Single(String),
}

/// Why a listing ended early: the connection run is Incomplete with this reason; records not
/// seen are never reported missing.
#[derive(Clone, Debug)]
pub struct ListingCut {
    pub reason: String,
    pub pages_read: u64,
    /// The request failure that ended the listing, if one did (None when `max_pages` did).
    pub error: Option<ListingError>,
}

/// How a listing ended.
#[derive(Clone, Debug, Default)]
pub enum ListingEnd {
    /// Every page was read.
    #[default]
    Complete,
    /// It stopped early after at least one page.
    Cut(ListingCut),
    /// The cancel watch said stop, or the engine dropped the page receiver.
    Canceled,
}

/// What a listing saw, besides the records it delivered.
#[derive(Clone, Debug, Default)]
pub struct ListingSummary {
    pub end: ListingEnd,
    pub pages_read: u64,
    /// Records delivered (each serial once).
    pub records: u64,
    /// Records with no usable serial at `id_field` (absent, null, empty, not text or number).
    pub without_serial: u64,
    /// Where the first of them were: (1-based page, 0-based position in the page).
    pub without_serial_at: Vec<(u64, usize)>,
    /// Records whose serial had been seen before in this listing (the first one is kept).
    pub duplicates: u64,
    /// The first duplicated serials, each once.
    pub duplicate_serials: Vec<String>,
}

impl ListingSummary {
    /// The cut, when the listing ended early.
    pub fn cut(&self) -> Option<&ListingCut> {
        match &self.end {
            ListingEnd::Cut(cut) => Some(cut),
            _ => None,
        }
    }

    pub fn is_complete(&self) -> bool {
        matches!(self.end, ListingEnd::Complete)
    }

    pub fn is_canceled(&self) -> bool {
        matches!(self.end, ListingEnd::Canceled)
    }
}

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
    #[error("GET {url}: the body is not JSON (content type {content_type}): {}", short(.excerpt))]
    NotJson {
        url: String,
        content_type: String,
        excerpt: String,
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
            | ListingError::ResultsPosition { url, .. }
            | ListingError::Paging { url, .. }
            | ListingError::TooLarge { url, .. } => url,
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

/// Lists the source page by page and sends each page's records (possibly none are sent for a
/// page whose records were all filtered out) to `pages`, a bounded channel: the engine consumes
/// pages while the next one downloads. Dropping the receiver stops the listing (Canceled).
///
/// Returns Ok with how the listing ended: Complete; Cut after at least one page (`max_pages`
/// reached with more to come, an error, a 429 that outlasted retries); Canceled between pages
/// or while waiting to retry. Err when the first page failed: nothing usable came back.
pub async fn list_source(
    client: &HttpClient,
    source: &Source,
    scope: &Scope,
    policy: RetryPolicy,
    cancel: &watch::Receiver<bool>,
    pages: mpsc::Sender<Vec<SourceRecord>>,
) -> Result<ListingSummary, ListingError> {
    let (query, pagination, wanted) = match scope {
        Scope::Full => (Vec::new(), source.pagination.clone(), None),
        // The source answers for the one serial: no pagination parameters.
        Scope::Single(serial) if !source.single_query.is_empty() => (
            fill_query(source.single_query.iter(), serial),
            Pagination::None,
            Some(serial.as_str()),
        ),
        Scope::Single(serial) => (Vec::new(), source.pagination.clone(), Some(serial.as_str())),
    };
    let mut pager = Pager::new(
        client,
        &source.endpoint,
        query,
        &source.results_position,
        pagination,
        policy,
    );
    let mut summary = ListingSummary::default();
    let mut seen: HashSet<String> = HashSet::new();
    loop {
        if *cancel.borrow() {
            summary.end = ListingEnd::Canceled;
            return Ok(summary);
        }
        let step = match pager.next(Some(cancel)).await {
            Ok(step) => step,
            Err(error) if pager.pages_read() == 0 => return Err(error),
            Err(error) => {
                summary.end = ListingEnd::Cut(ListingCut {
                    reason: format!(
                        "the listing stopped after {} page{}: {error}",
                        pager.pages_read(),
                        plural(pager.pages_read())
                    ),
                    pages_read: pager.pages_read(),
                    error: Some(error),
                });
                return Ok(summary);
            }
        };
        summary.pages_read = pager.pages_read();
        let values = match step {
            Step::Page(values) => values,
            Step::End => return Ok(summary),
            Step::Capped(max_pages) => {
                summary.end = ListingEnd::Cut(ListingCut {
                    reason: format!("stopped after max_pages = {max_pages} pages"),
                    pages_read: pager.pages_read(),
                    error: None,
                });
                return Ok(summary);
            }
            Step::Canceled => {
                summary.end = ListingEnd::Canceled;
                return Ok(summary);
            }
        };
        let page_number = pager.pages_read();
        let mut records = Vec::with_capacity(values.len());
        for (position, record) in values.into_iter().enumerate() {
            let Some(serial) = text_at(&record, &source.id_field) else {
                summary.without_serial += 1;
                if summary.without_serial_at.len() < EXAMPLES {
                    summary.without_serial_at.push((page_number, position));
                }
                continue;
            };
            if wanted.is_some_and(|wanted| wanted != serial) {
                continue;
            }
            if seen.contains(&serial) {
                summary.duplicates += 1;
                if summary.duplicate_serials.len() < EXAMPLES
                    && !summary.duplicate_serials.contains(&serial)
                {
                    summary.duplicate_serials.push(serial);
                }
                continue;
            }
            seen.insert(serial.clone());
            records.push(SourceRecord { serial, record });
        }
        summary.records += records.len() as u64;
        if !records.is_empty() {
            let delivered = tokio::select! {
                sent = pages.send(records) => sent.is_ok(),
                () = canceled(cancel) => false,
            };
            if !delivered {
                summary.end = ListingEnd::Canceled;
                return Ok(summary);
            }
        }
        // A Single run filtering the listing is done once its serial has turned up.
        if wanted.is_some() && summary.records > 0 {
            return Ok(summary);
        }
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// `entries` with `{serial}` replaced in each value.
pub(crate) fn fill_query<'a>(
    entries: impl Iterator<Item = (&'a String, &'a String)>,
    serial: &str,
) -> Vec<(String, String)> {
    entries
        .map(|(key, value)| (key.clone(), value.replace("{serial}", serial)))
        .collect()
}

/// Resolves as soon as the watch says cancel; never when its sender is gone.
pub(crate) async fn canceled(cancel: &watch::Receiver<bool>) {
    let mut cancel = cancel.clone();
    if cancel.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// What [`Pager::next`] came back with.
pub(crate) enum Step {
    /// One page's records, as listed.
    Page(Vec<Value>),
    /// The listing is complete.
    End,
    /// `max_pages` pages were read and the pagination says there is more.
    Capped(u64),
    /// Canceled while waiting to retry or while a request was in flight.
    Canceled,
}

/// The request after the current one.
enum Next {
    /// Pagination `none`, or a Single query: one request.
    Once,
    Page(u64),
    Offset(u64),
    /// The cursor to send; None for the first page.
    Cursor(Option<String>),
    Link(Url),
    Done,
    Capped,
    /// The page before was delivered, but the pagination cannot go on.
    Failed(ListingError),
}

/// Pages through a listing of any pagination style: builds each request, retries it, reads
/// the list at the results position and works out the next request.
pub(crate) struct Pager<'a> {
    client: &'a HttpClient,
    path: String,
    query: Vec<(String, String)>,
    position: &'a ResultsPosition,
    pagination: Pagination,
    policy: RetryPolicy,
    next: Next,
    pages_read: u64,
}

impl<'a> Pager<'a> {
    /// A listing of `path` with `query` (without pagination parameters, which the pager adds).
    pub(crate) fn new(
        client: &'a HttpClient,
        path: &str,
        query: Vec<(String, String)>,
        position: &'a ResultsPosition,
        pagination: Pagination,
        policy: RetryPolicy,
    ) -> Self {
        let next = match &pagination {
            Pagination::None => Next::Once,
            Pagination::Page { first_page, .. } => Next::Page(*first_page),
            Pagination::Offset { .. } => Next::Offset(0),
            Pagination::Cursor { .. } => Next::Cursor(None),
            Pagination::Link { .. } => Next::Link(client.url(path, &query)),
        };
        Pager {
            client,
            path: path.to_string(),
            query,
            position,
            pagination,
            policy,
            next,
            pages_read: 0,
        }
    }

    /// Pages read so far.
    pub(crate) fn pages_read(&self) -> u64 {
        self.pages_read
    }

    /// The URL of the first request, redacted (for messages about the listing as a whole).
    pub(crate) fn shown_url(&self) -> String {
        self.client
            .redact_url(&self.client.url(&self.path, &self.query))
    }

    /// Fetches the next page. After an Err, a Step::End or a Step::Capped, the listing is over.
    pub(crate) async fn next(
        &mut self,
        cancel: Option<&watch::Receiver<bool>>,
    ) -> Result<Step, ListingError> {
        let current = match std::mem::replace(&mut self.next, Next::Done) {
            Next::Done => return Ok(Step::End),
            Next::Capped => return Ok(Step::Capped(self.max_pages())),
            Next::Failed(error) => return Err(error),
            current => current,
        };
        let url = match &current {
            Next::Link(url) => url.clone(),
            next => self.url_for(next),
        };
        let fetched = match cancel {
            Some(cancel) => tokio::select! {
                fetched = get_json(self.client, &url, self.policy, Some(cancel)) => fetched,
                () = canceled(cancel) => return Ok(Step::Canceled),
            },
            None => get_json(self.client, &url, self.policy, None).await,
        };
        let Some(mut body) = fetched? else {
            return Ok(Step::Canceled);
        };
        let records = take_results(&mut body, self.position)
            .map_err(|error| error.at(self.client.redact_url(&url)))?;
        self.pages_read += 1;
        self.next = self.after(&current, &url, &body, records.len());
        if self.pages_read >= self.max_pages()
            && matches!(
                self.next,
                Next::Page(_) | Next::Offset(_) | Next::Cursor(_) | Next::Link(_)
            )
        {
            // A full last page counts as "more to come": an exact fit is cut too, which only
            // costs an Incomplete status, never a record wrongly reported missing.
            self.next = Next::Capped;
        }
        Ok(Step::Page(records))
    }

    fn max_pages(&self) -> u64 {
        match &self.pagination {
            Pagination::None => 1,
            Pagination::Page { max_pages, .. }
            | Pagination::Offset { max_pages, .. }
            | Pagination::Cursor { max_pages, .. }
            | Pagination::Link { max_pages, .. } => *max_pages,
        }
    }

    fn url_for(&self, next: &Next) -> Url {
        let mut query = self.query.clone();
        match (&self.pagination, next) {
            (
                Pagination::Page {
                    page_param,
                    size_param,
                    size,
                    ..
                },
                Next::Page(page),
            ) => {
                query.push((page_param.clone(), page.to_string()));
                query.push((size_param.clone(), size.to_string()));
            }
            (
                Pagination::Offset {
                    offset_param,
                    size_param,
                    size,
                    ..
                },
                Next::Offset(offset),
            ) => {
                query.push((offset_param.clone(), offset.to_string()));
                query.push((size_param.clone(), size.to_string()));
            }
            (
                Pagination::Cursor {
                    cursor_param,
                    size_param,
                    size,
                    ..
                },
                Next::Cursor(cursor),
            ) => {
                if let Some(cursor) = cursor {
                    query.push((cursor_param.clone(), cursor.clone()));
                }
                if let (Some(size_param), Some(size)) = (size_param, size) {
                    query.push((size_param.clone(), size.to_string()));
                }
            }
            _ => {}
        }
        self.client.url(&self.path, &query)
    }

    /// The request after `current`, a page of `count` records fetched from `url` with `body`.
    fn after(&self, current: &Next, url: &Url, body: &Value, count: usize) -> Next {
        let shown = || self.client.redact_url(url);
        match &self.pagination {
            Pagination::None => Next::Done,
            Pagination::Page { size, .. } | Pagination::Offset { size, .. }
                if count == 0 || (count as u64) < *size =>
            {
                Next::Done
            }
            Pagination::Page { .. } => match current {
                Next::Page(page) => Next::Page(page + 1),
                _ => Next::Done,
            },
            Pagination::Offset { .. } => match current {
                // Advance by what came back, so a server that caps the size skips nothing.
                Next::Offset(offset) => Next::Offset(offset + count as u64),
                _ => Next::Done,
            },
            Pagination::Cursor {
                cursor_position, ..
            } => match next_value(body, cursor_position) {
                Err(kind) => Next::Failed(ListingError::Paging {
                    url: shown(),
                    message: format!(
                        "the cursor at \"{}\" is {kind}, not text",
                        cursor_position.join(".")
                    ),
                }),
                Ok(None) => Next::Done,
                Ok(Some(cursor)) => {
                    let sent = match current {
                        Next::Cursor(sent) => sent.as_deref(),
                        _ => None,
                    };
                    if sent == Some(cursor.as_str()) {
                        Next::Failed(ListingError::Paging {
                            url: shown(),
                            message: format!(
                                "the cursor at \"{}\" did not advance; stopping to avoid a loop",
                                cursor_position.join(".")
                            ),
                        })
                    } else {
                        Next::Cursor(Some(cursor))
                    }
                }
            },
            Pagination::Link {
                next_link_position, ..
            } => {
                let position = next_link_position.join(".");
                match next_value(body, next_link_position) {
                    Err(kind) => Next::Failed(ListingError::Paging {
                        url: shown(),
                        message: format!("the next link at \"{position}\" is {kind}, not a URL"),
                    }),
                    Ok(None) => Next::Done,
                    Ok(Some(link)) => match self.follow(url, &link) {
                        Ok(next) => Next::Link(next),
                        Err(problem) => Next::Failed(ListingError::Paging {
                            url: shown(),
                            message: format!(
                                "the next link at \"{position}\" ({}) {problem}",
                                self.client.redact(&link)
                            ),
                        }),
                    },
                }
            }
        }
    }

    /// The URL of a next link: absolute, or relative to the page that gave it; on the same
    /// origin as the base URL only, so the credential never goes to another host.
    fn follow(&self, current: &Url, link: &str) -> Result<Url, String> {
        let next = current
            .join(link)
            .map_err(|e| format!("is not a valid URL: {e}"))?;
        let base = self.client.url("", &[]);
        let same_origin = next.scheme() == base.scheme()
            && next.host_str() == base.host_str()
            && next.port_or_known_default() == base.port_or_known_default();
        if !same_origin {
            return Err(format!(
                "leaves {}; refusing to send the credential to another origin",
                base.origin().ascii_serialization()
            ));
        }
        if next == *current {
            return Err("repeats the current page; stopping to avoid a loop".to_string());
        }
        Ok(next)
    }
}

/// What went wrong in one attempt, and whether another may go better.
struct Attempt {
    error: ListingError,
    retryable: bool,
    retry_after: Option<Duration>,
}

/// GETs `url` and parses its JSON body, retrying 429, 5xx (but 501), timeouts and connection
/// errors under `policy` and honouring `Retry-After`. Ok(None): canceled while waiting to retry.
pub(crate) async fn get_json(
    client: &HttpClient,
    url: &Url,
    policy: RetryPolicy,
    cancel: Option<&watch::Receiver<bool>>,
) -> Result<Option<Value>, ListingError> {
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

async fn get_once(client: &HttpClient, url: &Url, attempts: u32) -> Result<Value, Attempt> {
    let shown = || client.redact_url(url);
    let response = client
        .request(Method::GET, url.clone())
        .header(ACCEPT, "application/json")
        .send()
        .await;
    let response = match response {
        Ok(response) => response,
        Err(error) => {
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
    serde_json::from_slice(&body).map_err(|_| Attempt {
        retryable: false,
        retry_after: None,
        error: ListingError::NotJson {
            url: shown(),
            content_type: client.redact(&content_type),
            excerpt: excerpt(client, &body),
        },
    })
}

/// A reqwest error's text with its causes ("error sending request: ... Connection refused"),
/// the URL left out.
fn error_chain(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// At most [`EXCERPT_BYTES`] of a body as text (bytes that are not UTF-8 replaced), secrets
/// removed before it is cut so no part of a secret survives at the cut.
pub fn excerpt(client: &HttpClient, body: &[u8]) -> String {
    let head = &body[..body.len().min(EXCERPT_BYTES + 1024)];
    // Control characters (an escape sequence in a body) must not reach a terminal.
    let printable: String = String::from_utf8_lossy(head)
        .chars()
        .map(|c| {
            if c.is_control() && !matches!(c, '\n' | '\r' | '\t') {
                '\u{fffd}'
            } else {
                c
            }
        })
        .collect();
    let text = client.redact(&printable);
    if text.len() <= EXCERPT_BYTES {
        return text;
    }
    let mut cut = EXCERPT_BYTES;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text[..cut].to_string()
}

/// The destination's error code and message from an error body, best effort: JSON
/// `{"error": {"code", "message"}}` (or `"error": "text"`, or top-level `code`/`message`), or
/// XML `<error><code>…</code><message>…</message></error>`.
pub fn error_details(body: &[u8]) -> (Option<String>, Option<String>) {
    if let Ok(value) = serde_json::from_slice::<Value>(body) {
        let text = |value: Option<&Value>| match value {
            Some(Value::String(text)) if !text.is_empty() => Some(text.clone()),
            Some(Value::Number(number)) => Some(number.to_string()),
            _ => None,
        };
        return match value.get("error") {
            Some(Value::Object(error)) => (
                text(error.get("code")),
                text(error.get("message")).or_else(|| text(error.get("detail"))),
            ),
            Some(Value::String(message)) => (None, Some(message.clone())),
            _ => (text(value.get("code")), text(value.get("message"))),
        };
    }
    let text = String::from_utf8_lossy(body);
    (xml_element(&text, "code"), xml_element(&text, "message"))
}

/// The unescaped text of the first `<name>…</name>` in `text`.
fn xml_element(text: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = text.find(&open)? + open.len();
    let end = start + text[start..].find(&close)?;
    let raw = text[start..end].trim();
    let unescaped = quick_xml::escape::unescape(raw)
        .map(|text| text.into_owned())
        .unwrap_or_else(|_| raw.to_string());
    (!unescaped.is_empty()).then_some(unescaped)
}

/// A results position that did not match, before the URL is known.
pub(crate) struct PositionMismatch {
    position: String,
    found: String,
    seen: String,
    keys: Vec<String>,
}

impl PositionMismatch {
    pub(crate) fn at(self, url: String) -> ListingError {
        ListingError::ResultsPosition {
            url,
            position: self.position,
            found: self.found,
            seen: self.seen,
            keys: self.keys,
        }
    }
}

/// Takes the list at `position` out of `body` (null counts as an empty list).
pub(crate) fn take_results(
    body: &mut Value,
    position: &ResultsPosition,
) -> Result<Vec<Value>, PositionMismatch> {
    let found = match position {
        ResultsPosition::Root => Some(&mut *body),
        ResultsPosition::Path(segments) => {
            let mut current = Some(&mut *body);
            for segment in segments {
                current = current.and_then(|value| value.get_mut(segment.as_str()));
            }
            current
        }
    };
    let found = match found {
        Some(Value::Array(items)) => return Ok(std::mem::take(items)),
        Some(Value::Null) => return Ok(Vec::new()),
        Some(other) => format!("matched {}, not an array", kind_of(other)),
        None => "matched nothing".to_string(),
    };
    let (seen, keys) = match &*body {
        Value::Object(map) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            let mut shown = keys
                .iter()
                .take(KEYS_SHOWN)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ");
            if keys.is_empty() {
                shown = "(none: an empty object)".to_string();
            } else if keys.len() > KEYS_SHOWN {
                shown.push_str(&format!(" and {} more", keys.len() - KEYS_SHOWN));
            }
            (format!("top-level keys seen: {shown}"), keys)
        }
        Value::Array(_) => (
            "the body is a bare array: results_position = \"_root\" reads it".to_string(),
            Vec::new(),
        ),
        other => (format!("the body is {}", kind_of(other)), Vec::new()),
    };
    Err(PositionMismatch {
        position: String::from(position.clone()),
        found,
        seen,
        keys,
    })
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The value at a dotted path (`hardware.memory_gb`).
pub fn value_at<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.')
        .try_fold(value, |value, segment| value.get(segment))
}

/// The text at a dotted path: a non-empty string as it is, a number as its text; None for
/// anything else (absent, null, empty, boolean, object, array).
pub fn text_at(value: &Value, path: &str) -> Option<String> {
    match value_at(value, path)? {
        Value::String(text) if !text.is_empty() => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// A next cursor or link at `position`: None when absent, null or empty; Err names what else
/// was found there.
fn next_value(body: &Value, position: &[String]) -> Result<Option<String>, &'static str> {
    let found = position
        .iter()
        .try_fold(body, |value, segment| value.get(segment.as_str()));
    match found {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.is_empty() => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(Value::Number(number)) => Ok(Some(number.to_string())),
        Some(other) => Err(kind_of(other)),
    }
}

/// `path` with `{serial}` replaced by the serial, percent-encoded as one path segment (a `/`
/// in a serial must not change the path).
pub(crate) fn fill_path(path: &str, serial: &str) -> String {
    if !path.contains("{serial}") {
        return path.to_string();
    }
    let mut encoded = String::with_capacity(serial.len());
    for byte in serial.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    path.replace("{serial}", &encoded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn position(text: &str) -> ResultsPosition {
        ResultsPosition::parse(text).unwrap_or(ResultsPosition::Root)
    }

    #[test]
    fn results_are_taken_at_a_dotted_path_or_the_root() {
        let mut body = json!({"data": {"items": [1, 2]}, "meta": {}});
        assert_eq!(
            take_results(&mut body, &position("data.items")).ok(),
            Some(vec![json!(1), json!(2)])
        );
        let mut body = json!([1]);
        assert_eq!(
            take_results(&mut body, &position("_root")).ok(),
            Some(vec![json!(1)])
        );
        let mut body = json!({"data": {"items": null}});
        assert_eq!(
            take_results(&mut body, &position("data.items")).ok(),
            Some(vec![])
        );
    }

    #[test]
    fn a_mismatch_lists_the_top_level_keys() {
        let mut body = json!({"data": {"rows": []}, "meta": {}});
        let error = take_results(&mut body, &position("data.items"))
            .err()
            .map(|m| m.at("http://x/".into()).to_string())
            .unwrap_or_default();
        assert!(
            error.contains(
                r#"results_position "data.items" matched nothing; top-level keys seen: data, meta"#
            ),
            "{error}"
        );
        let mut body = json!({"data": "x"});
        let error = take_results(&mut body, &position("data"))
            .err()
            .map(|m| m.at("u".into()).to_string())
            .unwrap_or_default();
        assert!(error.contains("matched a string, not an array"), "{error}");
        let mut body = json!([{"a": 1}]);
        let error = take_results(&mut body, &position("items"))
            .err()
            .map(|m| m.at("u".into()).to_string())
            .unwrap_or_default();
        assert!(
            error.contains("bare array") && error.contains("_root"),
            "{error}"
        );
    }

    #[test]
    fn serials_are_text_or_numbers() {
        let record = json!({"serial": "A1", "n": 42, "e": "", "b": true, "d": {"s": 7}});
        assert_eq!(text_at(&record, "serial").as_deref(), Some("A1"));
        assert_eq!(text_at(&record, "n").as_deref(), Some("42"));
        assert_eq!(text_at(&record, "d.s").as_deref(), Some("7"));
        assert_eq!(text_at(&record, "e"), None);
        assert_eq!(text_at(&record, "b"), None);
        assert_eq!(text_at(&record, "missing"), None);
    }

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

    #[test]
    fn serials_in_paths_are_one_segment() {
        assert_eq!(fill_path("/a/{serial}", "S 1/2"), "/a/S%201%2F2");
        assert_eq!(fill_path("/a", "S"), "/a");
    }

    #[test]
    fn next_values_stop_on_absent_null_or_empty() {
        let path = vec!["meta".to_string(), "next".to_string()];
        assert_eq!(
            next_value(&json!({"meta": {"next": "c2"}}), &path),
            Ok(Some("c2".into()))
        );
        assert_eq!(
            next_value(&json!({"meta": {"next": 3}}), &path),
            Ok(Some("3".into()))
        );
        assert_eq!(
            next_value(&json!({"meta": {"next": null}}), &path),
            Ok(None)
        );
        assert_eq!(next_value(&json!({"meta": {"next": ""}}), &path), Ok(None));
        assert_eq!(next_value(&json!({"meta": {}}), &path), Ok(None));
        assert_eq!(
            next_value(&json!({"meta": {"next": {}}}), &path),
            Err("an object")
        );
    }
}
