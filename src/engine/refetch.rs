//! Fetching one record's source afresh, as a Single run lists it: what a Resync or an Apply
//! does for a chosen record the run did not list, and why a record cannot be had.

use tokio::sync::{mpsc, watch};

use super::http::HttpClient;
use super::retry::RetryPolicy;
use super::source::{self, Scope, SourceRecord};
use crate::config::Source;
use crate::store::EntryError;

/// Why a target's source record cannot be had: the reason code and error its entries get.
#[derive(Clone, Debug)]
pub(crate) struct Unavailable {
    pub(crate) reason: &'static str,
    pub(crate) error: EntryError,
}

/// Fetches one record's source afresh, for a Resync.
pub(crate) struct SourceFetcher {
    client: HttpClient,
    source: Source,
    policy: RetryPolicy,
    cancel: watch::Receiver<bool>,
}

/// What a fetch found.
pub(crate) enum Fetched {
    Found(SourceRecord),
    Canceled,
    Unavailable(Unavailable),
}

impl SourceFetcher {
    pub(crate) fn new(
        client: HttpClient,
        source: Source,
        policy: RetryPolicy,
        cancel: watch::Receiver<bool>,
    ) -> SourceFetcher {
        SourceFetcher {
            client,
            source,
            policy,
            cancel,
        }
    }

    /// The source record of `serial`, exactly as a Single run lists it.
    pub(crate) async fn fetch(&self, serial: &str) -> Fetched {
        // A Single listing delivers at most one page: one slot is enough.
        let (tx, mut rx) = mpsc::channel(1);
        let scope = Scope::Single(serial.to_string());
        let listed = source::list_source(
            &self.client,
            &self.source,
            &scope,
            self.policy,
            &self.cancel,
            tx,
        )
        .await;
        let found = rx
            .try_recv()
            .ok()
            .and_then(|page| page.into_iter().find(|r| r.serial == serial));
        match (found, listed) {
            (Some(record), _) => Fetched::Found(record),
            (None, Ok(summary)) if summary.is_canceled() => Fetched::Canceled,
            (None, Ok(summary)) => match summary.cut() {
                Some(cut) => Fetched::Unavailable(source_failed(&cut.reason)),
                None => Fetched::Unavailable(not_in_source(serial, &self.source.id_field)),
            },
            (None, Err(error)) => Fetched::Unavailable(source_failed(&error.to_string())),
        }
    }
}

pub(crate) fn not_in_source(serial: &str, id_field: &str) -> Unavailable {
    Unavailable {
        reason: "not_in_source",
        error: EntryError {
            message: format!("serial {serial} is not in the source any more"),
            hint: Some(format!(
                "check that the record still exists and that the source's {id_field} field holds \
                 its serial"
            )),
            ..EntryError::default()
        },
    }
}

pub(crate) fn source_failed(why: &str) -> Unavailable {
    Unavailable {
        reason: "source_failed",
        error: EntryError {
            message: format!("cannot fetch the source record: {why}"),
            hint: Some("check that the source is reachable, then resync again".into()),
            ..EntryError::default()
        },
    }
}
