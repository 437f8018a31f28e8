//! A run lists each source once (SPEC section 11), however many of its connections read it.
//!
//! A source read by one connection of the run is listed as it always was: pages stream to the
//! connection's workers with backpressure, none kept. A source read by several is listed by
//! the first of them, its pages kept as they pass (the listing goes on to its end even when
//! that connection stops early, so the next one gets every record), and replayed to the
//! others. Only then is the listing held in memory: one copy, for the length of the run.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::http::HttpClient;
use super::listing_request::canceled;
use super::retry::RetryPolicy;
use super::source::{self, ListingEnd, ListingError, ListingSummary, Scope, SourceRecord};
use crate::config::Source;

type Listed = Result<ListingSummary, ListingError>;

/// The source listings of one run.
#[derive(Default)]
pub(crate) struct SourceListings {
    /// Connection runs of this run that list each source, by source name.
    readers: HashMap<String, usize>,
    kept: Mutex<HashMap<String, Arc<Kept>>>,
}

/// A listing kept for the run's later connections.
struct Kept {
    pages: Mutex<Vec<Vec<SourceRecord>>>,
    done: watch::Sender<Option<Listed>>,
}

impl SourceListings {
    /// Listings for a run whose listing connection runs read these sources (one name per
    /// connection run).
    pub(crate) fn new<'a>(sources: impl IntoIterator<Item = &'a str>) -> SourceListings {
        let mut readers = HashMap::new();
        for name in sources {
            *readers.entry(name.to_string()).or_insert(0) += 1;
        }
        SourceListings {
            readers,
            kept: Mutex::new(HashMap::new()),
        }
    }

    /// Feeds `source`'s records in `scope` to `pages`: listed now, or replayed from the run's
    /// first listing of it.
    pub(crate) fn feed(
        &self,
        client: HttpClient,
        source: Source,
        scope: Scope,
        policy: RetryPolicy,
        cancel: watch::Receiver<bool>,
        pages: mpsc::Sender<Vec<SourceRecord>>,
    ) -> JoinHandle<Listed> {
        if self.readers.get(&source.name).copied().unwrap_or(0) <= 1 {
            return tokio::spawn(async move {
                source::list_source(&client, &source, &scope, policy, &cancel, pages).await
            });
        }
        let (kept, first) = {
            let mut all = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
            match all.get(&source.name) {
                Some(kept) => (kept.clone(), false),
                None => {
                    let kept = Arc::new(Kept {
                        pages: Mutex::new(Vec::new()),
                        done: watch::channel(None).0,
                    });
                    all.insert(source.name.clone(), kept.clone());
                    (kept, true)
                }
            }
        };
        if first {
            tokio::spawn(list_and_keep(
                client, source, scope, policy, cancel, pages, kept,
            ))
        } else {
            tokio::spawn(replay(kept, cancel, pages))
        }
    }
}

/// Lists the source, keeping every page and passing it on while the connection takes them.
async fn list_and_keep(
    client: HttpClient,
    source: Source,
    scope: Scope,
    policy: RetryPolicy,
    cancel: watch::Receiver<bool>,
    pages: mpsc::Sender<Vec<SourceRecord>>,
    kept: Arc<Kept>,
) -> Listed {
    let (tx, mut rx) = mpsc::channel::<Vec<SourceRecord>>(2);
    let listing = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            source::list_source(&client, &source, &scope, policy, &cancel, tx).await
        })
    };
    let mut passing = true;
    while let Some(page) = rx.recv().await {
        kept.pages
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(page.clone());
        // A connection that stopped early stops taking; the listing goes on for the others.
        if passing {
            passing = pages.send(page).await.is_ok();
        }
    }
    let listed = match listing.await {
        Ok(listed) => listed,
        Err(join) => Err(ListingError::Paging {
            url: String::new(),
            message: format!("the source listing stopped: {join}"),
        }),
    };
    kept.done.send_replace(Some(listed.clone()));
    listed
}

/// Replays a kept listing once it is complete.
async fn replay(
    kept: Arc<Kept>,
    cancel: watch::Receiver<bool>,
    pages: mpsc::Sender<Vec<SourceRecord>>,
) -> Listed {
    let mut done = kept.done.subscribe();
    let listed = tokio::select! {
        listed = done.wait_for(Option::is_some) => match listed {
            Ok(listed) => listed.clone().unwrap_or_else(|| unreachable!("waited for Some")),
            Err(_) => return Ok(canceled_summary()),
        },
        () = canceled(&cancel) => return Ok(canceled_summary()),
    };
    let copy: Vec<Vec<SourceRecord>> = kept
        .pages
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    for page in copy {
        let delivered = tokio::select! {
            sent = pages.send(page) => sent.is_ok(),
            () = canceled(&cancel) => false,
        };
        if !delivered {
            return Ok(canceled_summary());
        }
    }
    listed
}

fn canceled_summary() -> ListingSummary {
    ListingSummary {
        end: ListingEnd::Canceled,
        ..ListingSummary::default()
    }
}
