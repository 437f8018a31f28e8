//! Listing the source (SPEC section 3, step 1): page by page in any of the five pagination styles,
//! the list read at the results position, the serial at `id_field`.
//!
//! The paging ([`super::paging`]) and the requests under it ([`super::listing_request`]) also
//! drive the destination's bulk listing ([`super::lookup`]), so both listings page, retry and
//! report errors the same way.
//!
//! Pages go to the engine through a bounded `mpsc` channel rather than a callback: the engine
//! maps and writes one page while the next one downloads, and a slow consumer holds the listing
//! back (backpressure) instead of letting a 100,000-record listing pile up in memory.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::{mpsc, watch};

use super::http::HttpClient;
pub use super::listing_request::ListingError;
use super::listing_request::canceled;
use super::paging::{Pager, Step, fill_query, text_at};
use super::retry::RetryPolicy;
use crate::config::{Pagination, Source};

/// How many duplicate serials and positions of records without a serial a summary names.
const EXAMPLES: usize = 20;

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
    /// The records with these serials, from one listing that stops once all have turned up
    /// (a Resync whose source has no `single_query`).
    Among(Arc<HashSet<String>>),
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
    // The fixed query goes on every request, a Single's query on top.
    let fixed = source.query.clone();
    let (query, pagination, wanted) = match scope {
        Scope::Full => (fixed, source.pagination.clone(), Wanted::All),
        // The source answers for the one serial: no pagination parameters.
        Scope::Single(serial) if !source.single_query.is_empty() => (
            [fixed, fill_query(source.single_query.iter(), serial)].concat(),
            Pagination::None,
            Wanted::One(serial.as_str()),
        ),
        Scope::Single(serial) => (
            fixed,
            source.pagination.clone(),
            Wanted::One(serial.as_str()),
        ),
        Scope::Among(serials) => (fixed, source.pagination.clone(), Wanted::Among(serials)),
    };
    // A Single's answer has no total to check against.
    let stop = if pagination == Pagination::None {
        Default::default()
    } else {
        source.stop.clone()
    };
    let mut pager = Pager::new(
        client,
        &source.endpoint,
        query,
        &source.results_position,
        pagination,
        stop,
        policy,
    )
    .with_key_fields(&[&source.id_field]);
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
            Step::Short(reason) => {
                summary.end = ListingEnd::Cut(ListingCut {
                    reason,
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
            if !wanted.admits(&serial) {
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
        // A filtered listing is done once every serial it wants has turned up.
        if wanted.all_found(summary.records) {
            return Ok(summary);
        }
    }
}

/// Which serials a listing keeps.
enum Wanted<'a> {
    All,
    One(&'a str),
    Among(&'a HashSet<String>),
}

impl Wanted<'_> {
    fn admits(&self, serial: &str) -> bool {
        match self {
            Wanted::All => true,
            Wanted::One(wanted) => *wanted == serial,
            Wanted::Among(wanted) => wanted.contains(serial),
        }
    }

    /// True once `records` distinct wanted serials cover everything wanted.
    fn all_found(&self, records: u64) -> bool {
        match self {
            Wanted::All => false,
            Wanted::One(_) => records > 0,
            Wanted::Among(wanted) => records >= wanted.len() as u64,
        }
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}
