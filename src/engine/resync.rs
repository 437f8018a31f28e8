//! Resync (SPEC section 4): re-run chosen report entries live for their connection, as a run of
//! type Resync. [`plan_resync`] decides which entries a retry can fix (the UI and the CLI ask it
//! before they ask for a confirmation); the run itself goes through the same connection run and
//! record code as any Live run and then updates each original entry in place.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::deliver::RetryNotice;
use super::http::HttpClient;
use super::record::{self, RecordContext, RecordResult};
use super::refetch::{Fetched, not_in_source, source_failed};
use super::retry::RetryPolicy;
use super::source::{self, Scope, SourceRecord};
use super::units::{DRIFT_HINT, DRIFTED, Target, TargetSource, Unit};
use crate::config::{Config, Source};
use crate::store::{Attempt, EntryStatus, Outcome, ReportEntry, Store, StoreError, SyncId};

/// Which of the chosen entries a resync would re-run, and which it refuses and why.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResyncPlan {
    /// Entries to re-run, with their connection, in the order chosen.
    pub accepted: Vec<(SyncId, String)>,
    /// Entries left out, with a reason an operator can act on.
    pub refused: Vec<(SyncId, String)>,
    /// The connections involved, in config order.
    pub connections: Vec<String>,
}

impl ResyncPlan {
    /// True when nothing would be re-run.
    pub fn is_empty(&self) -> bool {
        self.accepted.is_empty()
    }
}

/// Sorts the chosen entries into those a resync re-runs and those it refuses (unknown ids,
/// entries already OK, dry-run entries, Missing Source, Missing Destination without a create
/// contract, records that drifted from an applied plan, connections no longer configured). Reads the store; writes nothing.
pub fn plan_resync(
    config: &Config,
    store: &Store,
    entries: &[SyncId],
) -> Result<ResyncPlan, StoreError> {
    plan_entries(config, store, entries).map(|(plan, _)| plan)
}

/// [`plan_resync`], with the accepted entries as read.
pub(crate) fn plan_entries(
    config: &Config,
    store: &Store,
    entries: &[SyncId],
) -> Result<(ResyncPlan, Vec<ReportEntry>), StoreError> {
    let mut plan = ResyncPlan::default();
    let mut accepted = Vec::new();
    let mut seen = HashSet::new();
    for &sync_id in entries {
        if !seen.insert(sync_id) {
            continue;
        }
        let Some(entry) = store.get_entry(sync_id)? else {
            plan.refused
                .push((sync_id, format!("no entry with sync id {sync_id}")));
            continue;
        };
        match refusal(config, &entry) {
            Some(reason) => plan.refused.push((sync_id, reason)),
            None => {
                plan.accepted.push((sync_id, entry.connection.clone()));
                accepted.push(entry);
            }
        }
    }
    plan.connections = config
        .connections
        .iter()
        .filter(|c| plan.accepted.iter().any(|(_, name)| *name == c.name))
        .map(|c| c.name.clone())
        .collect();
    Ok((plan, accepted))
}

/// Why a retry cannot fix this entry, if it cannot.
fn refusal(config: &Config, entry: &ReportEntry) -> Option<String> {
    let Some(connection) = config.connection(&entry.connection) else {
        return Some(format!(
            "its connection \"{}\" is no longer in the config",
            entry.connection
        ));
    };
    if entry.reason.as_deref() == Some(DRIFTED) {
        // A retry would write values nobody reviewed: the plan is what the operator approved.
        return Some(format!(
            "it drifted from the plan it applied: {}",
            DRIFT_HINT
        ));
    }
    match entry.status {
        EntryStatus::Ok => return Some("already synced".into()),
        EntryStatus::Dry => return Some("a dry-run entry: run Live instead".into()),
        EntryStatus::Failed | EntryStatus::Pending | EntryStatus::Sent => {}
    }
    match entry.outcome {
        Outcome::MissingSource => Some(
            "the source record has no value for a required field: fix it in the source, then \
             run Single"
                .into(),
        ),
        Outcome::MissingDestination if connection.create.is_none() => Some(format!(
            "no destination record has this serial and {} has no create contract: create the \
             record in {}, or add a create contract, then run Single",
            connection.name, connection.system
        )),
        _ => None,
    }
}

/// Groups chosen entries into targets, one per serial, in the order first chosen.
pub(crate) fn targets(entries: Vec<ReportEntry>) -> Vec<Target> {
    let mut targets: Vec<Target> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for entry in entries {
        match index.get(&entry.reference) {
            Some(&i) => targets[i].originals.push(entry),
            None => {
                index.insert(entry.reference.clone(), targets.len());
                targets.push(Target {
                    serial: entry.reference.clone(),
                    originals: vec![entry],
                    source: TargetSource::Fetch,
                    plan: None,
                });
            }
        }
    }
    targets
}

/// Feeds a Resync connection run its targets. With a `single_query` (or one target) each worker
/// fetches its record; otherwise one listing of the source, filtered to the serials wanted and
/// stopped once all have turned up, finds them all (one filtered listing per record would read
/// the whole source again for each).
pub(crate) fn spawn_feed(
    targets: Vec<Target>,
    client: HttpClient,
    source: Source,
    policy: RetryPolicy,
    cancel: watch::Receiver<bool>,
    units: mpsc::Sender<Vec<Unit>>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        if !source.single_query.is_empty() || targets.len() <= 1 {
            let mut targets = targets.into_iter().peekable();
            while targets.peek().is_some() {
                let chunk: Vec<Unit> = targets
                    .by_ref()
                    .take(FEED_CHUNK)
                    .map(Unit::Resync)
                    .collect();
                if units.send(chunk).await.is_err() {
                    return;
                }
            }
            return;
        }
        let wanted: HashSet<String> = targets.iter().map(|t| t.serial.clone()).collect();
        let mut waiting: HashMap<String, Target> =
            targets.into_iter().map(|t| (t.serial.clone(), t)).collect();
        let (page_tx, mut page_rx) = mpsc::channel::<Vec<SourceRecord>>(2);
        let listing = {
            let scope = Scope::Among(Arc::new(wanted));
            let source = source.clone();
            let cancel = cancel.clone();
            tokio::spawn(async move {
                source::list_source(&client, &source, &scope, policy, &cancel, page_tx).await
            })
        };
        while let Some(page) = page_rx.recv().await {
            let chunk: Vec<Unit> = page
                .into_iter()
                .filter_map(|record| {
                    let mut target = waiting.remove(&record.serial)?;
                    target.source = TargetSource::Listed(record);
                    Some(Unit::Resync(target))
                })
                .collect();
            if !chunk.is_empty() && units.send(chunk).await.is_err() {
                listing.abort();
                return;
            }
        }
        let failure = match listing.await {
            // Canceled: what was not found stays as it was.
            Ok(Ok(summary)) if summary.is_canceled() => return,
            Ok(Ok(summary)) => summary.cut().map(|cut| source_failed(&cut.reason)),
            Ok(Err(error)) => Some(source_failed(&error.to_string())),
            Err(join) => Some(source_failed(&crate::panics::panic_text(join))),
        };
        // The listing ended without these serials: not in the source, or not reached.
        let chunk: Vec<Unit> = waiting
            .into_values()
            .map(|mut target| {
                let why = failure
                    .clone()
                    .unwrap_or_else(|| not_in_source(&target.serial, &source.id_field));
                target.source = TargetSource::Unavailable(why);
                Unit::Resync(target)
            })
            .collect();
        if !chunk.is_empty() {
            let _ = units.send(chunk).await;
        }
    })
}

/// Targets per page of work handed to the dispatcher.
const FEED_CHUNK: usize = 64;

/// Resyncs (or applies) one target exactly as a Live run processes a listed record; None when its
/// fetch was canceled (its entries stay as they were).
pub(crate) async fn process(
    ctx: Arc<RecordContext>,
    target: Target,
    on_retry: &mut (dyn FnMut(RetryNotice) + Send),
) -> Option<RecordResult> {
    let Target {
        serial,
        source,
        plan,
        ..
    } = target;
    let fetched = match source {
        TargetSource::Listed(record) => Fetched::Found(record),
        TargetSource::Unavailable(why) => Fetched::Unavailable(why),
        TargetSource::Fetch => match &ctx.refetch {
            // Boxed: only a resync's record task carries this future.
            Some(fetcher) => Box::pin(fetcher.fetch(&serial)).await,
            None => Fetched::Unavailable(source_failed("no source fetcher in this run")),
        },
    };
    match fetched {
        Fetched::Found(record) => Some(record::process(ctx, record, plan.as_ref(), on_retry).await),
        Fetched::Canceled => None,
        Fetched::Unavailable(why) => Some(record::unprocessed(&ctx, serial, why.reason, why.error)),
    }
}

/// The original entry updated in place with a resync's result: status, outcome, reason, error,
/// diff, target and time from the new attempt; its attempts appended to the earlier ones. A
/// failure that never reached a write (a lookup or format error) had no attempt of its own: it
/// is kept as one, so the history still shows it.
pub(crate) fn merge(original: &ReportEntry, new: &ReportEntry) -> ReportEntry {
    let mut attempts = original.attempts.clone();
    if attempts.is_empty()
        && let Some(error) = &original.error
    {
        attempts.push(Attempt {
            at: original.time,
            http_status: error.http_status,
            error: Some(error.message.clone()),
        });
    }
    attempts.extend(new.attempts.iter().cloned());
    ReportEntry {
        sync_id: original.sync_id,
        run_id: original.run_id,
        connection: original.connection.clone(),
        system: new.system.clone(),
        reference: original.reference.clone(),
        source_id: new.source_id.clone().or_else(|| original.source_id.clone()),
        target_id: new.target_id.clone().or_else(|| original.target_id.clone()),
        status: new.status,
        outcome: new.outcome,
        reason: new.reason.clone(),
        time: new.time,
        attempts,
        error: new.error.clone(),
        diff: new.diff.clone(),
        hashes: new.hashes.clone(),
    }
}
