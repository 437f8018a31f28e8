//! Resync (SPEC section 4): re-run chosen report entries live for their connection, as a run of
//! type Resync. [`plan_resync`] decides which entries a retry can fix (the UI and the CLI ask it
//! before they ask for a confirmation); the run itself goes through the same connection run and
//! record code as any Live run and then updates each original entry in place.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
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
use crate::store::{
    Attempt, EntryStatus, FailureClass, Outcome, ReportEntry, Store, StoreError, SyncId,
};

/// Which of the chosen entries a resync would re-run, and which it leaves out and why.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResyncPlan {
    /// Entries to re-run, with their connection, in the order chosen.
    pub accepted: Vec<(SyncId, String)>,
    /// Entries left out, with a reason an operator can act on.
    pub refused: Vec<(SyncId, String)>,
    /// The connections involved, in config order.
    pub connections: Vec<String>,
    /// The entries left out grouped by a short reason ("wrong method (405)", "missing
    /// source"), with their counts, most first (ties in the order first met).
    pub left_out: Vec<(String, usize)>,
}

impl ResyncPlan {
    /// True when nothing would be re-run.
    pub fn is_empty(&self) -> bool {
        self.accepted.is_empty()
    }

    /// "left out: 12 wrong method (405) · 3 missing source · 1 already synced" in at most
    /// `max_lines` lines of at most `width` characters, the groups that do not fit counted at
    /// the end ("+ 2 more reasons (4)"); no line when nothing was left out.
    pub fn left_out_lines(&self, width: usize, max_lines: usize) -> Vec<String> {
        if self.left_out.is_empty() || max_lines == 0 {
            return Vec::new();
        }
        let width = width.max(24);
        let parts: Vec<String> = self
            .left_out
            .iter()
            .map(|(label, n)| format!("{} {label}", crate::text::thousands(*n as u64)))
            .collect();
        let mut lines = vec![String::from("left out:")];
        for (i, part) in parts.iter().enumerate() {
            let rest = &self.left_out[i..];
            let rest_note = |from: &[(String, usize)]| {
                let entries: usize = from.iter().map(|(_, n)| n).sum();
                format!(
                    "+ {} more reason{} ({})",
                    from.len(),
                    if from.len() == 1 { "" } else { "s" },
                    crate::text::thousands(entries as u64)
                )
            };
            let on_last_line = lines.len() >= max_lines;
            let last = lines.last_mut().expect("one line at least");
            let separator = if last.ends_with(':') { " " } else { " · " };
            // On the last line, room must stay for the note of what would follow.
            let tail = if on_last_line && i + 1 < parts.len() {
                3 + rest_note(&rest[1..]).chars().count()
            } else {
                0
            };
            if last.chars().count() + separator.len() + part.chars().count() + tail <= width {
                last.push_str(separator);
                last.push_str(part);
                continue;
            }
            if !on_last_line {
                lines.push(format!("  {part}"));
                continue;
            }
            let last = lines.last_mut().expect("one line at least");
            let separator = if last.ends_with(':') { " " } else { " · " };
            last.push_str(separator);
            last.push_str(&rest_note(rest));
            break;
        }
        lines
    }
}

/// Sorts the chosen entries into those a resync re-runs and those it leaves out (unknown ids,
/// entries already OK, dry-run entries, Failed entries no retry can fix — missing source or
/// destination, drifted, rule and format errors, 400, 404, 405, 415 and the other 4xx, see
/// [`FailureClass`] — connections no longer configured, and entries a newer one of the same
/// serial and connection supersedes). Reads the store; writes nothing.
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
    let mut refused: Vec<(SyncId, Refusal)> = Vec::new();
    let mut candidates: Vec<ReportEntry> = Vec::new();
    let mut seen = HashSet::new();
    for &sync_id in entries {
        if !seen.insert(sync_id) {
            continue;
        }
        let Some(entry) = store.get_entry(sync_id)? else {
            refused.push((
                sync_id,
                Refusal::new("unknown entry", format!("no entry with sync id {sync_id}")),
            ));
            continue;
        };
        match refusal(config, &entry) {
            Some(why) => refused.push((sync_id, why)),
            None => candidates.push(entry),
        }
    }
    // Only the newest entry of a serial on a connection is retried: among those chosen, and
    // against what the store holds (a later Live run may have synced or failed it since).
    let mut newest: HashMap<(String, String), (DateTime<Utc>, SyncId)> = HashMap::new();
    for entry in &candidates {
        let key = (entry.connection.clone(), entry.reference.clone());
        let this = (entry.time, entry.sync_id);
        let newer = newest.get(&key).is_none_or(|known| this > *known);
        if newer {
            newest.insert(key, this);
        }
    }
    let mut latest_of: HashMap<(String, String), Option<ReportEntry>> = HashMap::new();
    let mut accepted = Vec::new();
    for entry in candidates {
        let key = (entry.connection.clone(), entry.reference.clone());
        let (_, newer) = newest[&key];
        if newer != entry.sync_id {
            refused.push((entry.sync_id, superseded(newer, None)));
            continue;
        }
        if !latest_of.contains_key(&key) {
            let latest = newest_live_entry(store, &entry.connection, &entry.reference)?;
            latest_of.insert(key.clone(), latest);
        }
        if let Some(Some(latest)) = latest_of.get(&key)
            && (latest.time, latest.sync_id) > (entry.time, entry.sync_id)
        {
            refused.push((
                entry.sync_id,
                superseded(latest.sync_id, Some(latest.status)),
            ));
            continue;
        }
        accepted.push(entry);
    }
    // In the order chosen.
    let order: HashMap<SyncId, usize> = entries
        .iter()
        .enumerate()
        .map(|(i, id)| (*id, i))
        .rev()
        .collect();
    accepted.sort_by_key(|e| order.get(&e.sync_id).copied().unwrap_or(usize::MAX));
    refused.sort_by_key(|(id, _)| order.get(id).copied().unwrap_or(usize::MAX));
    plan.accepted = accepted
        .iter()
        .map(|e| (e.sync_id, e.connection.clone()))
        .collect();
    for (_, why) in &refused {
        match plan
            .left_out
            .iter_mut()
            .find(|(label, _)| *label == why.label)
        {
            Some((_, n)) => *n += 1,
            None => plan.left_out.push((why.label.clone(), 1)),
        }
    }
    // Stable: equal counts keep the order first met.
    plan.left_out.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    plan.refused = refused
        .into_iter()
        .map(|(id, why)| (id, why.reason))
        .collect();
    plan.connections = config
        .connections
        .iter()
        .filter(|c| plan.accepted.iter().any(|(_, name)| *name == c.name))
        .map(|c| c.name.clone())
        .collect();
    Ok((plan, accepted))
}

/// The newest entry of a serial on a connection from a Live run (OK, Sent, Pending or
/// Failed): a later Dry entry says nothing of what the destination holds.
fn newest_live_entry(
    store: &Store,
    connection: &str,
    serial: &str,
) -> Result<Option<ReportEntry>, StoreError> {
    Ok(store
        .serial_timeline(serial)?
        .into_iter()
        .filter(|e| e.connection == connection && e.status != EntryStatus::Dry)
        .max_by_key(|e| (e.time, e.sync_id)))
}

/// Why an entry is left out: a short label to group by, and the reason in full.
struct Refusal {
    label: String,
    reason: String,
}

impl Refusal {
    fn new(label: impl Into<String>, reason: impl Into<String>) -> Refusal {
        Refusal {
            label: label.into(),
            reason: reason.into(),
        }
    }
}

fn superseded(newer: SyncId, status: Option<EntryStatus>) -> Refusal {
    let reason = match status {
        Some(status) => format!(
            "a newer entry of this serial on this connection supersedes it: #{newer} ({})",
            status.as_str()
        ),
        None => format!(
            "a newer entry of this serial on this connection was chosen too: #{newer} is retried"
        ),
    };
    Refusal::new("superseded by a newer entry", reason)
}

/// Why a retry cannot fix this entry, if it cannot.
fn refusal(config: &Config, entry: &ReportEntry) -> Option<Refusal> {
    let Some(connection) = config.connection(&entry.connection) else {
        return Some(Refusal::new(
            "connection not in the config",
            format!(
                "its connection \"{}\" is no longer in the config",
                entry.connection
            ),
        ));
    };
    if entry.reason.as_deref() == Some(DRIFTED) {
        // A retry would write values nobody reviewed: the plan is what the operator approved.
        return Some(Refusal::new(
            "drifted",
            format!("it drifted from the plan it applied: {DRIFT_HINT}"),
        ));
    }
    match entry.status {
        EntryStatus::Ok => return Some(Refusal::new("already synced", "already synced")),
        EntryStatus::Dry => {
            return Some(Refusal::new(
                "dry-run entry",
                "a dry-run entry: run Live instead",
            ));
        }
        EntryStatus::Failed | EntryStatus::Pending | EntryStatus::Sent => {}
    }
    match entry.outcome {
        Outcome::MissingSource => {
            return Some(Refusal::new(
                "missing source",
                "the source record has no value for a required field: fix it in the source, \
                 then run Single",
            ));
        }
        Outcome::MissingDestination if connection.create.is_none() => {
            return Some(Refusal::new(
                "missing destination",
                format!(
                    "no destination record has this serial and {} has no create contract: \
                     create the record in {}, or add a create contract, then run Single",
                    connection.name, connection.system
                ),
            ));
        }
        // With a create contract a retry creates it.
        Outcome::MissingDestination => return None,
        _ => {}
    }
    if entry.failure_class() != Some(FailureClass::NotSyncable) {
        return None;
    }
    let label = not_syncable_label(entry);
    let hint = entry
        .error
        .as_ref()
        .and_then(|e| e.hint.clone())
        .unwrap_or_else(|| "fix the cause first, then run Single".to_string());
    Some(Refusal::new(
        label.clone(),
        format!("a retry cannot fix it ({label}): {hint}"),
    ))
}

/// The short reason of a Failed entry no retry can fix.
fn not_syncable_label(entry: &ReportEntry) -> String {
    let status = entry.error.as_ref().and_then(|e| e.http_status);
    match (entry.reason.as_deref(), status) {
        (_, Some(400)) => "rejected payload (400)".into(),
        (_, Some(404)) => "not found (404)".into(),
        (_, Some(405)) => "wrong method (405)".into(),
        (_, Some(415)) => "wrong format (415)".into(),
        (_, Some(422)) => "rejected values (422)".into(),
        (_, Some(status)) if (400..500).contains(&status) => format!("HTTP {status}"),
        (Some("format_error"), _) => "format error".into(),
        (Some("unsendable_value"), _) => "value the format cannot carry".into(),
        (Some("ambiguous_destination"), _) => "ambiguous destination".into(),
        (Some("serial_too_long"), _) => "not a serial".into(),
        (Some("not_in_source"), _) => "not in the source".into(),
        (Some(reason), _) => reason.replace('_', " "),
        (None, _) => "not syncable".into(),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(left_out: &[(&str, usize)]) -> ResyncPlan {
        ResyncPlan {
            left_out: left_out.iter().map(|(l, n)| (l.to_string(), *n)).collect(),
            ..ResyncPlan::default()
        }
    }

    #[test]
    fn left_out_reads_as_one_line_when_it_fits() {
        let plan = plan(&[("wrong method (405)", 12), ("missing source", 3)]);
        assert_eq!(
            plan.left_out_lines(78, 2),
            ["left out: 12 wrong method (405) · 3 missing source"]
        );
        assert!(ResyncPlan::default().left_out_lines(78, 2).is_empty());
    }

    #[test]
    fn left_out_wraps_to_two_lines_then_counts_the_rest() {
        let plan = plan(&[
            ("wrong method (405)", 1_200),
            ("missing source", 30),
            ("missing destination", 20),
            ("rejected payload (400)", 9),
            ("superseded by a newer entry", 8),
            ("already synced", 2),
            ("dry-run entry", 1),
        ]);
        let lines = plan.left_out_lines(68, 2);
        assert_eq!(lines.len(), 2, "{lines:?}");
        for line in &lines {
            assert!(line.chars().count() <= 68, "{line:?} is {}", line.len());
        }
        assert!(
            lines[0].starts_with("left out: 1,200 wrong method (405) · "),
            "{lines:?}"
        );
        let all = lines.join(" ");
        assert!(all.contains("more reasons ("), "{lines:?}");
        // Every group is either named or counted among the rest.
        let named = plan
            .left_out
            .iter()
            .filter(|(label, _)| all.contains(label.as_str()))
            .count();
        let rest: usize = all
            .split("+ ")
            .nth(1)
            .and_then(|tail| tail.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap();
        assert_eq!(named + rest, plan.left_out.len(), "{lines:?}");
        // One line allowed: everything else is counted on it.
        let one = plan.left_out_lines(68, 1);
        assert_eq!(one.len(), 1);
        assert!(one[0].chars().count() <= 68, "{one:?}");
    }
}
