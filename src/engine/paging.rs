//! Paging through a listing, source or destination, in any of the five pagination styles
//! (`Pager`): builds each request, reads the list at the results position and works out the
//! next request from the page, the cursor or the next link. Also the readers of values at dotted
//! paths and the `{serial}` fillers the listings and lookups share.

use reqwest::Url;
use serde_json::Value;
use tokio::sync::watch;

use super::http::HttpClient;
use super::listing_request::{ListingError, canceled, get_json};
use super::retry::RetryPolicy;
use crate::config::{Pagination, ResultsPosition};

/// How many top-level keys a results-position error lists.
const KEYS_SHOWN: usize = 20;

/// `entries` with `{serial}` replaced in each value.
pub(crate) fn fill_query<'a>(
    entries: impl Iterator<Item = (&'a String, &'a String)>,
    serial: &str,
) -> Vec<(String, String)> {
    entries
        .map(|(key, value)| (key.clone(), value.replace("{serial}", serial)))
        .collect()
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
    /// Dotted paths of each record's serial and id: numbers there keep their exact text.
    key_fields: Vec<String>,
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
            key_fields: Vec::new(),
        }
    }

    /// The records' fields that hold serials or ids: a number there keeps its exact text (a
    /// number serde_json would read as a float comes as its text, a string), see
    /// [`super::exact_numbers`].
    pub(crate) fn with_key_fields(mut self, fields: &[&str]) -> Self {
        self.key_fields = fields.iter().map(|f| f.to_string()).collect();
        self
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
        let Some(fetched) = fetched? else {
            return Ok(Step::Canceled);
        };
        let mut body = fetched.value;
        let mut records = take_results(&mut body, self.position)
            .map_err(|error| error.at(self.client.redact_url(&url)))?;
        if !self.key_fields.is_empty() {
            let list_path = match self.position {
                ResultsPosition::Root => &[][..],
                ResultsPosition::Path(segments) => &segments[..],
            };
            super::exact_numbers::restore(&fetched.body, list_path, &self.key_fields, &mut records);
        }
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
/// in a serial must not change the path); a serial that cannot be a segment is refused, see
/// [`path_segment`].
pub(crate) fn fill_path(path: &str, serial: &str) -> Result<String, String> {
    if !path.contains("{serial}") {
        return Ok(path.to_string());
    }
    Ok(path.replace("{serial}", &path_segment(serial, "serial")?))
}

/// `value` (a serial, a destination id) percent-encoded as one URL path segment. Refused when
/// empty, `.` or `..`: a URL resolves those segments away, so the request would go to the
/// parent path (`/assets/..` is `/`) instead of the record's.
pub(crate) fn path_segment(value: &str, what: &str) -> Result<String, String> {
    if value.is_empty() {
        return Err(format!(
            "the {what} is empty: it cannot be a URL path segment"
        ));
    }
    if value == "." || value == ".." {
        return Err(format!(
            "{what} \"{value}\" cannot be a URL path segment: \".\" and \"..\" would name the \
             parent path, not the record"
        ));
    }
    Ok(encode_segment(value))
}

/// The longest serial syncdeck takes, in bytes: a serial is a key, not a document; a longer one
/// means `id_field` points at the wrong value (or a system sends junk), and it would only go on
/// to fill URLs, error messages and the store's indexes.
pub const MAX_SERIAL_BYTES: usize = 1024;

/// Refuses a serial longer than [`MAX_SERIAL_BYTES`], saying how long it is.
pub(crate) fn check_serial(serial: &str) -> Result<(), String> {
    if serial.len() <= MAX_SERIAL_BYTES {
        return Ok(());
    }
    Err(format!(
        "the serial is {} bytes long, more than the {MAX_SERIAL_BYTES} a serial may have: not \
         looked up or written",
        serial.len()
    ))
}

/// Percent-encodes everything but RFC 3986's unreserved characters, so a value is always one
/// path segment (or one query value).
pub(crate) fn encode_segment(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
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
    fn serials_in_paths_are_one_segment() {
        assert_eq!(fill_path("/a/{serial}", "S 1/2").unwrap(), "/a/S%201%2F2");
        assert_eq!(fill_path("/a", "S").unwrap(), "/a");
        assert_eq!(fill_path("/a", "..").unwrap(), "/a");
        assert_eq!(fill_path("/a/{serial}", "...").unwrap(), "/a/...");
        assert_eq!(
            fill_path("/a/{serial}", "..").err().as_deref(),
            Some(
                "serial \"..\" cannot be a URL path segment: \".\" and \"..\" would name the \
                 parent path, not the record"
            )
        );
        assert!(fill_path("/a/{serial}", ".").is_err());
        assert_eq!(
            fill_path("/a/{serial}", "").err().as_deref(),
            Some("the serial is empty: it cannot be a URL path segment")
        );
    }

    #[test]
    fn serials_longer_than_a_kibibyte_are_refused() {
        assert!(check_serial(&"s".repeat(MAX_SERIAL_BYTES)).is_ok());
        assert_eq!(
            check_serial(&"s".repeat(102_400)).err().as_deref(),
            Some(
                "the serial is 102400 bytes long, more than the 1024 a serial may have: not \
                 looked up or written"
            )
        );
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
