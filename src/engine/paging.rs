//! Paging through a listing, source or destination, in any of the five pagination styles
//! (`Pager`): builds each request, reads the list at the results position and works out the
//! next request from the page, the cursor or the next link. Also the readers of values at dotted
//! paths and the `{serial}` fillers the listings and lookups share.

use std::collections::HashSet;

use reqwest::Url;
use reqwest::header::HeaderMap;
use serde_json::Value;
use tokio::sync::watch;

use super::http::HttpClient;
use super::listing_request::{ListingError, canceled, get_json};
use super::retry::RetryPolicy;
pub use super::values::{text_at, value_at};
use crate::config::{PageStop, Pagination, Position, ResultsPosition, TotalAt};

/// How many top-level keys a results-position error lists.
const KEYS_SHOWN: usize = 20;

/// `entries` with `{serial}` (and its escaped forms) replaced in each value.
pub(crate) fn fill_query<'a>(
    entries: impl Iterator<Item = (&'a String, &'a String)>,
    serial: &str,
) -> Vec<(String, String)> {
    entries
        .map(|(key, value)| (key.clone(), super::placeholder::fill_text(value, serial)))
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
    /// The pages ended, but fewer records came than the listing's total: why.
    Short(String),
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
    /// The pages ended; the total (if any) is checked.
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
    stop: PageStop,
    policy: RetryPolicy,
    next: Next,
    pages_read: u64,
    /// Records listed so far (all of them, with or without a serial).
    records: u64,
    /// The listing's total, when it gives one.
    total: Option<u64>,
    /// Every cursor and next link followed: one seen again is a loop.
    followed: HashSet<String>,
    finished: bool,
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
        stop: PageStop,
        policy: RetryPolicy,
    ) -> Self {
        let next = match &pagination {
            Pagination::None => Next::Once,
            Pagination::Page { first_page, .. } => Next::Page(*first_page),
            Pagination::Offset { .. } => Next::Offset(0),
            Pagination::Cursor { .. } => Next::Cursor(None),
            Pagination::Link { .. } => Next::Link(client.url(path, &query)),
            Pagination::LinkHeader {
                size_param, size, ..
            } => {
                let mut first = query.clone();
                if let (Some(param), Some(size)) = (size_param, size) {
                    first.push((param.clone(), size.to_string()));
                }
                Next::Link(client.url(path, &first))
            }
        };
        Pager {
            client,
            path: path.to_string(),
            query,
            position,
            pagination,
            stop,
            policy,
            next,
            pages_read: 0,
            records: 0,
            total: None,
            followed: HashSet::new(),
            finished: false,
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
        if self.finished {
            return Ok(Step::End);
        }
        let current = match std::mem::replace(&mut self.next, Next::Done) {
            Next::Done => {
                self.finished = true;
                return Ok(self.end());
            }
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
        let (mut body, headers) = (fetched.body, fetched.headers);
        let route = if self.key_fields.is_empty() {
            None
        } else {
            records_route(&body, self.position)
        };
        let mut records = take_results(&mut body, self.position)
            .map_err(|error| error.at(self.client.redact_url(&url)))?;
        keep_exact_keys(&fetched.raw, route, &self.key_fields, &mut records);
        self.pages_read += 1;
        self.records += records.len() as u64;
        if let Some(total) = self.read_total(&body, &headers) {
            self.total = Some(total);
        }
        self.next = self.after(&current, &url, &body, &headers, records.len());
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
            | Pagination::Link { max_pages, .. }
            | Pagination::LinkHeader { max_pages, .. } => *max_pages,
        }
    }

    /// The last page was read: complete, unless the listing's total says records are missing.
    fn end(&self) -> Step {
        match self.total {
            Some(total) if self.records < total => Step::Short(format!(
                "the listing gave {} of the {} records its total announced",
                crate::text::thousands(self.records),
                crate::text::thousands(total)
            )),
            _ => Step::End,
        }
    }

    /// The total announced by this page, when the listing has one.
    fn read_total(&self, body: &Value, headers: &HeaderMap) -> Option<u64> {
        let text = match self.stop.total.as_ref()? {
            TotalAt::Position(position) => match position.find(body)? {
                Value::Number(n) => return n.as_u64(),
                Value::String(text) => text.clone(),
                _ => return None,
            },
            TotalAt::Header(name) => headers.get(name.as_str())?.to_str().ok()?.to_string(),
        };
        text.trim().parse().ok()
    }

    /// Whether a page/offset listing has reached its end after a page of `count` records.
    fn page_ends(&self, count: usize, size: u64) -> bool {
        if count == 0 {
            return true;
        }
        match self.total {
            // The total decides: a short page (trimmed by an access rule) is not the end.
            Some(total) => self.records >= total,
            None => self.stop.at_short_page && (count as u64) < size,
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
    fn after(
        &mut self,
        current: &Next,
        url: &Url,
        body: &Value,
        headers: &HeaderMap,
        count: usize,
    ) -> Next {
        let shown = || self.client.redact_url(url);
        match &self.pagination {
            Pagination::None => Next::Done,
            Pagination::Page { size, .. } | Pagination::Offset { size, .. }
                if self.page_ends(count, *size) =>
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
                    message: format!("the cursor at \"{cursor_position}\" is {kind}, not text"),
                }),
                Ok(None) => Next::Done,
                Ok(Some(cursor)) => {
                    let sent = match current {
                        Next::Cursor(sent) => sent.as_deref(),
                        _ => None,
                    };
                    if sent == Some(cursor.as_str()) || self.followed.contains(&cursor) {
                        let what = if sent == Some(cursor.as_str()) {
                            "did not advance"
                        } else {
                            "came back to one already followed"
                        };
                        Next::Failed(ListingError::Paging {
                            url: shown(),
                            message: format!(
                                "the cursor at \"{cursor_position}\" {what}; stopping to avoid a loop"
                            ),
                        })
                    } else {
                        if let Some(sent) = sent {
                            self.followed.insert(sent.to_string());
                        }
                        Next::Cursor(Some(cursor))
                    }
                }
            },
            Pagination::Link {
                next_link_position, ..
            } => {
                let position = next_link_position.to_string();
                match next_value(body, next_link_position) {
                    Err(kind) => Next::Failed(ListingError::Paging {
                        url: shown(),
                        message: format!("the next link at \"{position}\" is {kind}, not a URL"),
                    }),
                    Ok(None) => Next::Done,
                    Ok(Some(link)) => self.link(url, &link, &format!("at \"{position}\"")),
                }
            }
            Pagination::LinkHeader { .. } => match super::link_header::next_link(headers) {
                None => Next::Done,
                Some(link) => self.link(url, &link, "in the Link header"),
            },
        }
    }

    /// The next page at `link`, unless it leaves the origin or was followed before.
    fn link(&mut self, url: &Url, link: &str, place: &str) -> Next {
        match self.follow(url, link) {
            Ok(next) => {
                self.followed.insert(url.to_string());
                Next::Link(next)
            }
            Err(problem) => Next::Failed(ListingError::Paging {
                url: self.client.redact_url(url),
                message: format!(
                    "the next link {place} ({}) {problem}",
                    self.client.redact(link)
                ),
            }),
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
        if self.followed.contains(next.as_str()) {
            return Err("leads back to a page already read; stopping to avoid a loop".to_string());
        }
        Ok(next)
    }
}

/// Where a page's records sit, found before [`take_results`] takes them out of the body: the
/// keys down to the list, or [`RecordsRoute::Single`] when the body is the record.
pub(crate) enum RecordsRoute {
    List(Vec<String>),
    Single,
}

/// The route to the records at `position` in `body`; None when nothing is there.
pub(crate) fn records_route(body: &Value, position: &ResultsPosition) -> Option<RecordsRoute> {
    match position {
        ResultsPosition::Root => Some(RecordsRoute::List(Vec::new())),
        ResultsPosition::Single => Some(RecordsRoute::Single),
        ResultsPosition::Path(position) => position.route(body).map(RecordsRoute::List),
    }
}

/// Numbers at the records' key `fields` (serials, ids) keep their exact text from `raw`, the
/// bytes the page was parsed from (see [`super::exact_numbers`]).
pub(crate) fn keep_exact_keys(
    raw: &[u8],
    route: Option<RecordsRoute>,
    fields: &[String],
    records: &mut [Value],
) {
    match route {
        Some(RecordsRoute::List(list)) => {
            super::exact_numbers::restore(raw, &list, fields, records);
        }
        Some(RecordsRoute::Single) => {
            if let Some(record) = records.first_mut() {
                super::exact_numbers::restore_record(raw, fields, record);
            }
        }
        None => {}
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
        // The body is the record.
        ResultsPosition::Single => return Ok(vec![std::mem::take(body)]),
        ResultsPosition::Path(position) => position.find_mut(body),
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

/// A next cursor or link at `position`: None when absent, null or empty; Err names what else
/// was found there.
fn next_value(body: &Value, position: &Position) -> Result<Option<String>, &'static str> {
    let found = position.find(body);
    match found {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.is_empty() => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(Value::Number(number)) => Ok(Some(number.to_string())),
        Some(other) => Err(kind_of(other)),
    }
}

/// `path` with `{serial}` (and its escaped forms) replaced by the serial, percent-encoded as
/// one path segment (a `/` in a serial must not change the path); a serial that cannot be a
/// segment (`.`, `..`) is refused, see [`super::placeholder::path_segment`].
pub(crate) fn fill_path(path: &str, serial: &str) -> Result<String, String> {
    super::placeholder::fill_segment(path, serial)
}

#[allow(unused_imports)]
pub(crate) use super::placeholder::encode_segment;

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
    fn next_values_stop_on_absent_null_or_empty() {
        let path = Position::parse("meta.next").unwrap_or_else(|| unreachable!());
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
        // A key holding dots, as a pointer or as a dotted path.
        let graph = json!({"value": [], "@odata.nextLink": "https://x/next"});
        for text in ["/@odata.nextLink", "@odata.nextLink"] {
            let position = Position::parse(text).unwrap_or_else(|| unreachable!());
            assert_eq!(
                next_value(&graph, &position),
                Ok(Some("https://x/next".into())),
                "{text}"
            );
        }
    }
}
