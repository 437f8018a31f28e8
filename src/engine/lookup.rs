//! The fetch contract (SPEC section 3, step 2): find the destination record of a serial, one
//! lookup per serial or one bulk listing of the destination joined in memory.
//!
//! Matches are always checked against `serial_field`: a destination that ignores the query (and
//! answers with everything, or with a neighbour) never produces a false match.
//!
//! The bulk index keeps, per serial, the target id and the record cut down to the fields the
//! mapping compares (`keep`), in the compact form of [`super::lookup_index`] (the values of
//! each record by their key's position in its shape, few-valued columns interned), parsed back
//! only when [`BulkIndex::find`] is asked for it; the join reads a field at its key's position
//! in the shape rather than rebuilding the object.

use serde_json::{Map, Value};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::http::HttpClient;
use super::listing_request::ListingError;
use super::listing_request::get_json;
use super::lookup_index::{CompactIndex, Found};
use super::mapping::{Fields, get_path};
use super::paging::{
    Pager, Step, fill_path, fill_query, keep_exact_keys, records_route, take_results, text_at,
    value_at,
};
use super::retry::RetryPolicy;
use crate::config::{FetchContract, ResultsPosition};

/// The destination record of a serial.
#[derive(Clone, Debug, PartialEq)]
pub struct DestinationRecord {
    /// The destination's own id, read at `id_field` (numbers as text).
    pub target_id: String,
    pub record: Value,
}

/// What the fetch contract found for one serial.
#[derive(Clone, Debug, PartialEq)]
pub enum Lookup {
    Found(DestinationRecord),
    /// No record has this serial (Missing Destination, or a create).
    Missing,
    /// This many records have it: an error, never a guess.
    Ambiguous(usize),
}

/// Why a lookup, or the bulk listing, failed.
#[derive(Clone, Debug, thiserror::Error)]
pub enum LookupError {
    /// The GET failed: no answer, an error status, a body that is not JSON, the list not at
    /// the results position.
    #[error(transparent)]
    Request(Box<ListingError>),
    #[error("destination record has no id at {id_field} (serial {serial}, GET {url})")]
    NoId {
        serial: String,
        id_field: String,
        url: String,
    },
    /// The bulk listing ended early: joining it would report records wrongly missing.
    #[error(
        "the bulk listing of the destination ended early after {pages_read} page{}: {reason}",
        if *.pages_read == 1 { "" } else { "s" }
    )]
    Incomplete {
        reason: String,
        pages_read: u64,
        url: String,
        error: Option<Box<ListingError>>,
    },
    #[error("the bulk listing of the destination was canceled")]
    Canceled,
    /// The serial cannot go in the fetch contract's path (`.`, `..`).
    #[error("{0}")]
    Unaddressable(String),
}

impl From<ListingError> for LookupError {
    fn from(error: ListingError) -> Self {
        LookupError::Request(Box::new(error))
    }
}

impl LookupError {
    /// The error details kept with an entry (SPEC section 4), with the hint for the symptom.
    pub fn to_entry_error(&self) -> crate::store::EntryError {
        let http_status = self.http_status();
        let hint = match (self, http_status) {
            (LookupError::Unaddressable(_), _) => Some(
                "the serial cannot name a record in the fetch contract path: put {serial} in \
                 the fetch contract's query instead, or check the source's id_field"
                    .to_string(),
            ),
            (_, status) => self.hint_for(status),
        };
        crate::store::EntryError {
            http_status,
            code: self.code().map(str::to_string),
            message: self.to_string(),
            hint,
            method: Some(self.method().to_string()),
            url: self.url().map(str::to_string),
            response_excerpt: self.excerpt().map(str::to_string),
        }
    }

    /// The hint of SPEC section 4 for a failed lookup answered with `http_status`.
    fn hint_for(&self, http_status: Option<u16>) -> Option<String> {
        let hint = match (http_status, self.request()) {
            (Some(404), _) => "the lookup endpoint does not exist: check the fetch contract path",
            (Some(status), _) => {
                return super::hints::for_status(status, self.code()).map(str::to_string);
            }
            (None, Some(ListingError::NotJson { .. })) => {
                "the destination answered something that is not JSON (a login page, a proxy?): \
                 check the connection's base_url, the fetch contract path and the credential"
            }
            (None, Some(ListingError::Credential { .. })) => super::credentials::TOKEN_HINT,
            (None, Some(ListingError::TooDeep { .. })) => {
                "the destination's answer is not a list of records: check the fetch contract path"
            }
            (None, Some(ListingError::TooLarge { .. })) => {
                "a page of the destination's listing is larger than syncdeck reads: lower \
                 [connections.fetch.pagination] size"
            }
            (None, Some(ListingError::ResultsPosition { .. })) => {
                "the answer has no list where the fetch contract says: check results_position, \
                 and missing_when for a \"not found\" answered with 200"
            }
            (None, Some(ListingError::Paging { .. })) => {
                "the listing cannot go on: check [connections.fetch.pagination]"
            }
            (None, _) if matches!(self, LookupError::NoId { .. }) => {
                "check the fetch contract's id_field against the destination's records"
            }
            (None, _) => super::hints::DESTINATION_DOWN,
        };
        Some(hint.to_string())
    }

    /// The request method (lookups only GET).
    pub fn method(&self) -> &'static str {
        "GET"
    }

    /// The redacted URL of the request that failed (or of the listing).
    pub fn url(&self) -> Option<&str> {
        match self {
            LookupError::Request(error) => Some(error.url()),
            LookupError::NoId { url, .. } | LookupError::Incomplete { url, .. } => Some(url),
            LookupError::Canceled | LookupError::Unaddressable(_) => None,
        }
    }

    /// The request failure underneath, if there is one.
    pub fn request(&self) -> Option<&ListingError> {
        match self {
            LookupError::Request(error) => Some(error.as_ref()),
            LookupError::Incomplete { error, .. } => error.as_deref(),
            _ => None,
        }
    }

    pub fn http_status(&self) -> Option<u16> {
        self.request().and_then(ListingError::http_status)
    }

    /// The destination's error code, when its body gave one.
    pub fn code(&self) -> Option<&str> {
        self.request().and_then(ListingError::code)
    }

    /// The destination's error message, when its body gave one.
    pub fn destination_message(&self) -> Option<&str> {
        self.request().and_then(ListingError::destination_message)
    }

    /// A redacted excerpt of the response body (at most 4 KiB).
    pub fn excerpt(&self) -> Option<&str> {
        self.request().and_then(ListingError::excerpt)
    }

    /// Requests sent for the lookup before giving up.
    pub fn attempts(&self) -> u32 {
        self.request().map_or(1, ListingError::attempts)
    }

    /// Whether it is transient in the sense of [`super::retry`] (429, 5xx but 501, timeouts,
    /// connection errors), as opposed to a contract or data problem.
    pub fn is_retryable(&self) -> bool {
        match self {
            LookupError::Request(error) => error.is_retryable(),
            LookupError::Incomplete { error, .. } => {
                error.as_deref().is_some_and(ListingError::is_retryable)
            }
            LookupError::NoId { .. } | LookupError::Canceled | LookupError::Unaddressable(_) => {
                false
            }
        }
    }
}

/// Looks one serial up: `fetch.path` and `fetch.query` with `{serial}` replaced, one request,
/// the list at `results_position`, then only the records whose `serial_field` equals `serial`.
/// An answer matching `missing_when`, and a 404 to a `_single` lookup, are Missing.
pub async fn lookup_one(
    client: &HttpClient,
    fetch: &FetchContract,
    serial: &str,
    policy: RetryPolicy,
) -> Result<Lookup, LookupError> {
    let path = fill_path(&fetch.path, serial).map_err(LookupError::Unaddressable)?;
    let query = fill_query(fetch.query.iter(), serial);
    let url = client.url(&path, &query);
    let shown_url = || client.redact_url(&url);
    let fetched = match get_json(client, &url, policy, None).await {
        Ok(Some(fetched)) => fetched,
        Ok(None) => return Ok(Lookup::Missing),
        Err(error)
            if fetch.results_position == ResultsPosition::Single
                && error.http_status() == Some(404) =>
        {
            return Ok(Lookup::Missing);
        }
        Err(error) => return Err(error.into()),
    };
    let mut body = fetched.body;
    if let Some(condition) = &fetch.missing_when
        && super::answers::matches(&body, condition)
    {
        return Ok(Lookup::Missing);
    }
    // The serial and the id keep their exact text when they are numbers.
    let keys = [fetch.serial_field.clone(), fetch.id_field.clone()];
    let route = records_route(&body, &fetch.results_position);
    let mut records = take_results(&mut body, &fetch.results_position)
        .map_err(|error| LookupError::from(error.at(shown_url())))?;
    keep_exact_keys(&fetched.raw, route, &keys, &mut records);
    let mut matches = records
        .into_iter()
        .filter(|record| text_at(record, &fetch.serial_field).as_deref() == Some(serial));
    let Some(record) = matches.next() else {
        return Ok(Lookup::Missing);
    };
    let others = matches.count();
    if others > 0 {
        return Ok(Lookup::Ambiguous(others + 1));
    }
    match text_at(&record, &fetch.id_field) {
        Some(target_id) => Ok(Lookup::Found(DestinationRecord { target_id, record })),
        None => Err(LookupError::NoId {
            serial: serial.to_string(),
            id_field: fetch.id_field.clone(),
            url: shown_url(),
        }),
    }
}

/// A record of the bulk index as the join reads it: for a record kept by shape, the array of
/// its values, each key's value found at the key's position in the shape (no object rebuilt).
pub struct IndexedRecord<'i> {
    keys: Option<&'i [Box<str>]>,
    value: Value,
}

impl IndexedRecord<'_> {
    /// The record as the object it was.
    pub fn into_value(self) -> Value {
        match (self.keys, self.value) {
            (Some(keys), Value::Array(values)) => {
                Value::Object(keys.iter().map(|key| key.to_string()).zip(values).collect())
            }
            (_, value) => value,
        }
    }
}

impl Fields for IndexedRecord<'_> {
    fn field(&self, dotted: &str) -> Option<&Value> {
        let (Some(keys), Value::Array(values)) = (self.keys, &self.value) else {
            return get_path(&self.value, dotted);
        };
        let (first, rest) = match dotted.split_once('.') {
            Some((first, rest)) => (first, Some(rest)),
            None => (dotted, None),
        };
        let at = keys.iter().position(|key| **key == *first)?;
        let value = values.get(at)?;
        match rest {
            None => Some(value),
            Some(rest) => get_path(value, rest),
        }
    }
}

/// A destination record found for the join: fetched by a lookup, or read from the bulk index.
pub enum Destination<'i> {
    Fetched(Value),
    Indexed(IndexedRecord<'i>),
}

impl Fields for Destination<'_> {
    fn field(&self, dotted: &str) -> Option<&Value> {
        match self {
            Destination::Fetched(record) => get_path(record, dotted),
            Destination::Indexed(record) => record.field(dotted),
        }
    }
}

/// What the fetch contract found for one serial, the record borrowed from the bulk index when
/// it came from there; see [`Lookup`].
pub enum Match<'i> {
    Found {
        target_id: String,
        record: Destination<'i>,
    },
    Missing,
    Ambiguous(usize),
}

impl From<Lookup> for Match<'_> {
    fn from(lookup: Lookup) -> Self {
        match lookup {
            Lookup::Found(found) => Match::Found {
                target_id: found.target_id,
                record: Destination::Fetched(found.record),
            },
            Lookup::Missing => Match::Missing,
            Lookup::Ambiguous(count) => Match::Ambiguous(count),
        }
    }
}

/// The destination listed once and indexed by serial, for a Full run's in-memory join.
pub struct BulkIndex {
    records_by_serial: CompactIndex,
    id_field: String,
    url: String,
    pages_read: u64,
    records: u64,
    without_serial: u64,
}

impl BulkIndex {
    fn new(id_field: &str, url: String) -> Self {
        BulkIndex {
            records_by_serial: CompactIndex::default(),
            id_field: id_field.to_string(),
            url,
            pages_read: 0,
            records: 0,
            without_serial: 0,
        }
    }

    /// What the fetch contract finds for `serial`; Err when its one record has no id.
    pub fn get(&self, serial: &str) -> Result<Lookup, LookupError> {
        Ok(match self.find(serial)? {
            Match::Found { target_id, record } => Lookup::Found(DestinationRecord {
                target_id,
                record: match record {
                    Destination::Fetched(record) => record,
                    Destination::Indexed(record) => record.into_value(),
                },
            }),
            Match::Missing => Lookup::Missing,
            Match::Ambiguous(count) => Lookup::Ambiguous(count),
        })
    }

    /// [`BulkIndex::get`] with the record read in place rather than rebuilt as an object.
    pub fn find(&self, serial: &str) -> Result<Match<'_>, LookupError> {
        match self.records_by_serial.find(serial) {
            Found::Missing => Ok(Match::Missing),
            Found::Many(count) => Ok(Match::Ambiguous(count)),
            Found::One {
                target_id,
                keys,
                record,
            } => {
                let Some(target_id) = target_id else {
                    return Err(LookupError::NoId {
                        serial: serial.to_string(),
                        id_field: self.id_field.clone(),
                        url: self.url.clone(),
                    });
                };
                Ok(Match::Found {
                    target_id,
                    record: Destination::Indexed(IndexedRecord {
                        keys,
                        value: record,
                    }),
                })
            }
        }
    }

    /// How many serials are indexed.
    pub fn len(&self) -> usize {
        self.records_by_serial.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records listed (with or without a serial).
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Records listed without a serial at `serial_field` (they can match nothing).
    pub fn without_serial(&self) -> u64 {
        self.without_serial
    }

    pub fn pages_read(&self) -> u64 {
        self.pages_read
    }

    fn insert(&mut self, serial: &str, target_id: Option<&str>, record: Value) {
        self.records_by_serial.insert(serial, target_id, record);
    }

    /// Ready for lookups once every record is in.
    fn finish(&mut self) {
        self.records_by_serial.finish();
    }
}

/// Lists the destination once for a Full run with `bulk = true` (paged with
/// `fetch.pagination`; query entries that contain `{serial}` left out) and indexes it by serial.
///
/// `keep`: the dotted paths of the record to keep (the mapping's targets); None keeps whole
/// records. The listing must be complete: one that ends early is an error (Incomplete), since
/// joining it would report the records it did not see as Missing Destination.
pub async fn list_destination(
    client: &HttpClient,
    fetch: &FetchContract,
    policy: RetryPolicy,
    cancel: &watch::Receiver<bool>,
    keep: Option<&[&str]>,
) -> Result<BulkIndex, LookupError> {
    let query: Vec<(String, String)> = fetch
        .query
        .iter()
        .filter(|(_, value)| !value.contains("{serial"))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    let url = Pager::new(
        client,
        &fetch.path,
        query.clone(),
        &fetch.results_position,
        fetch.pagination.clone(),
        fetch.stop.clone(),
        policy,
    )
    .shown_url();
    let mut index = BulkIndex::new(&fetch.id_field, url);
    let mut pages = Prefetch::start(client.clone(), fetch.clone(), query, policy, cancel.clone());
    loop {
        if *cancel.borrow() {
            return Err(LookupError::Canceled);
        }
        let (step, pages_read) = pages.next().await;
        let step = match step {
            Ok(step) => step,
            Err(error) if pages_read == 0 => return Err(error.into()),
            Err(error) => {
                return Err(LookupError::Incomplete {
                    reason: error.to_string(),
                    pages_read,
                    url: index.url,
                    error: Some(Box::new(error)),
                });
            }
        };
        index.pages_read = pages_read;
        match step {
            Step::Page(records) => {
                for record in records {
                    index.records += 1;
                    let Some(serial) = text_at(&record, &fetch.serial_field) else {
                        index.without_serial += 1;
                        continue;
                    };
                    let target_id = text_at(&record, &fetch.id_field);
                    let kept = match keep {
                        Some(paths) => project(&record, paths),
                        None => record,
                    };
                    index.insert(&serial, target_id.as_deref(), kept);
                }
            }
            Step::End => {
                index.finish();
                return Ok(index);
            }
            Step::Capped(max_pages) => {
                return Err(LookupError::Incomplete {
                    reason: format!(
                        "stopped after max_pages = {max_pages} pages; raise max_pages or set bulk = false"
                    ),
                    pages_read,
                    url: index.url,
                    error: None,
                });
            }
            Step::Short(reason) => {
                return Err(LookupError::Incomplete {
                    reason,
                    pages_read,
                    url: index.url,
                    error: None,
                });
            }
            Step::Canceled => return Err(LookupError::Canceled),
        }
    }
}

/// The bulk listing's pages fetched by a task of their own, the next one downloading and
/// parsing while the engine indexes this one. Dropping it stops the task.
struct Prefetch {
    pages: mpsc::Receiver<(Result<Step, ListingError>, u64)>,
    task: JoinHandle<()>,
}

impl Prefetch {
    fn start(
        client: HttpClient,
        fetch: FetchContract,
        query: Vec<(String, String)>,
        policy: RetryPolicy,
        cancel: watch::Receiver<bool>,
    ) -> Prefetch {
        // One page waits here while the next downloads: a slow indexer holds the listing back.
        let (tx, pages) = mpsc::channel(1);
        let task = tokio::spawn(async move {
            let mut pager = Pager::new(
                &client,
                &fetch.path,
                query,
                &fetch.results_position,
                fetch.pagination.clone(),
                fetch.stop.clone(),
                policy,
            )
            .with_key_fields(&[&fetch.serial_field, &fetch.id_field]);
            loop {
                let step = pager.next(Some(&cancel)).await;
                let more = matches!(step, Ok(Step::Page(_)));
                if tx.send((step, pager.pages_read())).await.is_err() || !more {
                    return;
                }
            }
        });
        Prefetch { pages, task }
    }

    /// The next step of the listing and the pages read by then, as [`Pager::next`] gives them.
    async fn next(&mut self) -> (Result<Step, ListingError>, u64) {
        if let Some(paged) = self.pages.recv().await {
            return paged;
        }
        // The task sends until its last step: it ended early only by panicking, and the panic
        // goes on here, where it would have happened with the pager in this task.
        match (&mut self.task).await {
            Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
            _ => (Ok(Step::Canceled), 0),
        }
    }
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The record cut down to the values at `paths`, nested as they were.
fn project(record: &Value, paths: &[&str]) -> Value {
    let mut kept = Map::new();
    for path in paths {
        let Some(value) = value_at(record, path) else {
            continue;
        };
        let mut segments = path.split('.').peekable();
        let mut map = &mut kept;
        while let Some(segment) = segments.next() {
            if segments.peek().is_none() {
                map.insert(segment.to_string(), value.clone());
                break;
            }
            let child = map
                .entry(segment.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !child.is_object() {
                *child = Value::Object(Map::new());
            }
            match child {
                Value::Object(child) => map = child,
                _ => break,
            }
        }
    }
    Value::Object(kept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn projection_keeps_nested_paths_only() {
        let record = json!({"a": 1, "b": 2, "user": {"email": "x", "name": "y"}, "n": null});
        assert_eq!(
            project(&record, &["a", "user.email", "n", "absent", "user.absent"]),
            json!({"a": 1, "user": {"email": "x"}, "n": null})
        );
    }

    #[test]
    fn the_index_counts_duplicates_and_keeps_missing_ids_as_errors() {
        let mut index = BulkIndex::new("sys_id", "http://x/".into());
        index.insert("A", Some("1"), json!({"v": 1}));
        index.insert("B", Some("2"), json!({}));
        index.insert("B", Some("3"), json!({}));
        index.insert("B", Some("4"), json!({}));
        index.insert("C", None, json!({}));
        index.finish();
        assert_eq!(
            index.get("A").ok(),
            Some(Lookup::Found(DestinationRecord {
                target_id: "1".into(),
                record: json!({"v": 1})
            }))
        );
        assert_eq!(index.get("B").ok(), Some(Lookup::Ambiguous(3)));
        assert_eq!(index.get("Z").ok(), Some(Lookup::Missing));
        let error = index
            .get("C")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            error.contains("destination record has no id at sys_id"),
            "{error}"
        );
        assert_eq!(index.len(), 3);
    }
}
