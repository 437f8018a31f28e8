//! Report entry queries: one entry, pages newest first through the best index, counts.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::ops::Bound;

use chrono::{DateTime, Utc};
use redb::{ReadOnlyTable, ReadTransaction, ReadableTable};

use super::Store;
use super::entry_names::Names;
use super::error::{StoreError, db};
use super::tables::*;
use super::types::{EntryStatus, ReportEntry, RunId, SyncId};

/// Which entries to list or count; every condition set must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EntryQuery {
    /// Entries with this status.
    pub status: Option<EntryStatus>,
    /// Entries recorded by this run.
    pub run: Option<RunId>,
    /// The serial starts with this text (case-sensitive); empty means any serial.
    pub reference_prefix: Option<String>,
    /// The connection's name, exactly.
    pub connection: Option<String>,
    /// Entries at or after this time (compared in milliseconds, as the indexes keep it).
    pub since: Option<DateTime<Utc>>,
    /// Entries strictly before this time (compared in milliseconds).
    pub until: Option<DateTime<Utc>>,
}

fn millis(time: DateTime<Utc>) -> i64 {
    time.timestamp_millis()
}

impl EntryQuery {
    /// True when `entry` meets every condition of the query.
    pub fn matches(&self, entry: &ReportEntry) -> bool {
        self.status.is_none_or(|status| entry.status == status)
            && self.run.is_none_or(|run| entry.run_id == run)
            && self
                .reference_prefix
                .as_deref()
                .is_none_or(|prefix| entry.reference.starts_with(prefix))
            && self
                .connection
                .as_deref()
                .is_none_or(|connection| entry.connection == connection)
            && self
                .since
                .is_none_or(|since| millis(entry.time) >= millis(since))
            && self
                .until
                .is_none_or(|until| millis(entry.time) < millis(until))
    }

    fn plan(&self) -> Plan {
        if let Some(run) = self.run {
            return Plan::Run(run);
        }
        if let Some(prefix) = self.reference_prefix.as_deref().filter(|p| !p.is_empty()) {
            let mut escaped = Vec::with_capacity(prefix.len());
            escape_serial(prefix, &mut escaped);
            return Plan::Reference(escaped);
        }
        match self.status {
            Some(status) => Plan::Status(status.code()),
            None => Plan::Time,
        }
    }

    /// Whether the chosen index answers the whole query, so counting needs no decoding.
    fn index_suffices(&self, plan: &Plan) -> bool {
        match plan {
            Plan::Run(_) => {
                self.status.is_none()
                    && self.reference_prefix.as_deref().unwrap_or("").is_empty()
                    && self.connection.is_none()
                    && self.since.is_none()
                    && self.until.is_none()
            }
            Plan::Reference(_) => self.status.is_none() && self.connection.is_none(),
            Plan::Status(_) => self.connection.is_none(),
            Plan::Time => self.connection.is_none(),
        }
    }

    fn time_bounds(&self) -> (i64, i64) {
        (
            self.since.map_or(i64::MIN, millis),
            self.until.map_or(i64::MAX, millis),
        )
    }
}

/// Where a page ended; pass it back to get the next page of the same query.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EntryCursor {
    time_ms: i64,
    sync_id: SyncId,
}

/// One page of entries, newest first, and the cursor of the next page if there is one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EntryPage {
    /// The entries, newest first.
    pub entries: Vec<ReportEntry>,
    /// Where the next page starts; None on the last page.
    pub next: Option<EntryCursor>,
}

/// The index a query walks.
enum Plan {
    /// By run: (run id, sync id), so a run's entries come in the order they were recorded.
    Run(RunId),
    /// By reference: the escaped serial prefix.
    Reference(Vec<u8>),
    /// By status: the status code.
    Status(u8),
    /// By time.
    Time,
}

/// The order a scan visits candidates in.
#[derive(Clone, Copy)]
enum Order {
    /// Newest first, for a page of about this many entries.
    NewestFirst { wanted: usize },
    /// Any order (counting).
    Any,
}

/// What the visitor of a scan wants next.
pub(super) enum Step {
    More,
    Stop,
}

pub(super) type IndexTable = ReadOnlyTable<&'static [u8], ()>;

/// How many reference-index keys one round of a prefix page gathers, per entry wanted.
const REFERENCE_ROUND_FACTOR: usize = 4;

impl Store {
    /// The entry with this sync id.
    pub fn get_entry(&self, sync_id: SyncId) -> Result<Option<ReportEntry>, StoreError> {
        let txn = self.read()?;
        let names = Names::load(&txn)?;
        let entries = txn.open_table(ENTRIES).map_err(db("opening entries"))?;
        let found = entries.get(sync_id).map_err(db("reading an entry"))?;
        found
            .map(|bytes| decode_entry(bytes.value(), &names, "decoding an entry"))
            .transpose()
    }

    /// Up to `limit` entries matching `query`, newest first (by time, then sync id; within a
    /// run, by sync id, i.e. the order recorded), starting after `cursor`.
    pub fn entries_page(
        &self,
        query: &EntryQuery,
        cursor: Option<EntryCursor>,
        limit: usize,
    ) -> Result<EntryPage, StoreError> {
        if limit == 0 {
            return Ok(EntryPage::default());
        }
        let txn = self.read()?;
        let names = Names::load(&txn)?;
        let entries = txn.open_table(ENTRIES).map_err(db("opening entries"))?;
        let mut found: Vec<(EntryCursor, ReportEntry)> = Vec::with_capacity(limit + 1);
        // One more than asked, to know whether a next page exists.
        scan(
            &txn,
            query,
            cursor,
            Order::NewestFirst { wanted: limit + 1 },
            |time_ms, sync_id| {
                if let Some(entry) = load(&entries, &names, sync_id)?.filter(|e| query.matches(e)) {
                    found.push((EntryCursor { time_ms, sync_id }, entry));
                }
                Ok(if found.len() > limit {
                    Step::Stop
                } else {
                    Step::More
                })
            },
        )?;
        let next = if found.len() > limit {
            found.truncate(limit);
            found.last().map(|(cursor, _)| *cursor)
        } else {
            None
        };
        Ok(EntryPage {
            entries: found.into_iter().map(|(_, entry)| entry).collect(),
            next,
        })
    }

    /// How many entries match `query`.
    pub fn count_entries(&self, query: &EntryQuery) -> Result<u64, StoreError> {
        let txn = self.read()?;
        let names = Names::load(&txn)?;
        let entries = txn.open_table(ENTRIES).map_err(db("opening entries"))?;
        let decode_each = !query.index_suffices(&query.plan());
        let mut count = 0u64;
        scan(&txn, query, None, Order::Any, |_, sync_id| {
            if !decode_each || load(&entries, &names, sync_id)?.is_some_and(|e| query.matches(&e)) {
                count += 1;
            }
            Ok(Step::More)
        })?;
        Ok(count)
    }
}

fn load(
    entries: &ReadOnlyTable<u64, &'static [u8]>,
    names: &Names,
    sync_id: SyncId,
) -> Result<Option<ReportEntry>, StoreError> {
    // An index key without its entry cannot happen in one transaction; skip rather than fail.
    match entries.get(sync_id).map_err(db("reading an entry"))? {
        Some(bytes) => decode_entry(bytes.value(), names, "decoding an entry").map(Some),
        None => Ok(None),
    }
}

/// Walks the query's index in `order`, strictly after `cursor`, calling `visit` with each candidate's time and sync id. Time bounds are
/// applied here where the index holds the time; the visitor checks everything else.
fn scan(
    txn: &ReadTransaction,
    query: &EntryQuery,
    cursor: Option<EntryCursor>,
    order: Order,
    mut visit: impl FnMut(i64, SyncId) -> Result<Step, StoreError>,
) -> Result<(), StoreError> {
    let (since, until) = query.time_bounds();
    match query.plan() {
        Plan::Time => walk_time(txn, None, (since, until), cursor, &mut visit),
        Plan::Status(code) => walk_time(txn, Some(code), (since, until), cursor, &mut visit),
        Plan::Run(run) => {
            let table = txn
                .open_table(ENTRIES_BY_RUN)
                .map_err(db("opening the run index"))?;
            let low = run_key(run, 0);
            let high = match cursor {
                Some(c) => Bound::Excluded(run_key(run, c.sync_id)),
                None => Bound::Included(run_key(run, u64::MAX)),
            };
            let range = table
                .range::<&[u8]>((Bound::Included(&low[..]), as_slice(&high)))
                .map_err(db("reading the run index"))?;
            for item in range.rev() {
                let (key, _) = item.map_err(db("reading the run index"))?;
                let Some(sync_id) = run_key_sync_id(key.value()) else {
                    continue;
                };
                // The run index holds no time; the cursor keeps the sync id only.
                if let Step::Stop = visit(0, sync_id)? {
                    break;
                }
            }
            Ok(())
        }
        Plan::Reference(prefix) => {
            let table = txn
                .open_table(ENTRIES_BY_REFERENCE)
                .map_err(db("opening the reference index"))?;
            match order {
                Order::NewestFirst { wanted } => {
                    let round = (wanted * REFERENCE_ROUND_FACTOR).max(64);
                    let walk = reference_newest_first(
                        &table,
                        &prefix,
                        (since, until),
                        cursor,
                        round,
                        &mut visit,
                    )?;
                    match walk {
                        Walk::Done => Ok(()),
                        // Many serials match, so matching entries are dense in time: walking
                        // time (or status) order and checking the prefix is the faster way.
                        Walk::TooBroad => {
                            let status = query.status.map(EntryStatus::code);
                            walk_time(txn, status, (since, until), cursor, &mut visit)
                        }
                    }
                }
                Order::Any => each_reference(&table, &prefix, |time, sync_id| {
                    if time >= since && time < until {
                        visit(time, sync_id)
                    } else {
                        Ok(Step::More)
                    }
                }),
            }
        }
    }
}

/// Walks the by-time index, or with a status code the by-status index, newest first within
/// [since, until) and strictly after `cursor`.
fn walk_time(
    txn: &ReadTransaction,
    status: Option<u8>,
    (since, until): (i64, i64),
    cursor: Option<EntryCursor>,
    visit: &mut impl FnMut(i64, SyncId) -> Result<Step, StoreError>,
) -> Result<(), StoreError> {
    match status {
        None => {
            let table = txn
                .open_table(ENTRIES_BY_TIME)
                .map_err(db("opening the time index"))?;
            let low = time_key(since, 0);
            let high = upper(
                time_key(until, 0),
                cursor.map(|c| time_key(c.time_ms, c.sync_id)),
            );
            walk_back(&table, &low, &high, visit)
        }
        Some(code) => {
            let table = txn
                .open_table(ENTRIES_BY_STATUS)
                .map_err(db("opening the status index"))?;
            let low = status_key(code, since, 0);
            let high = upper(
                status_key(code, until, 0),
                cursor.map(|c| status_key(code, c.time_ms, c.sync_id)),
            );
            walk_back(&table, &low, &high, visit)
        }
    }
}

/// The exclusive upper bound: the query's end, or the cursor if that comes first.
fn upper<const N: usize>(end: [u8; N], cursor: Option<[u8; N]>) -> Bound<[u8; N]> {
    Bound::Excluded(cursor.map_or(end, |cursor| cursor.min(end)))
}

fn as_slice<const N: usize>(bound: &Bound<[u8; N]>) -> Bound<&[u8]> {
    match bound {
        Bound::Included(key) => Bound::Included(&key[..]),
        Bound::Excluded(key) => Bound::Excluded(&key[..]),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// Visits the keys of a time-ordered index from `high` down to `low` (inclusive).
fn walk_back<const N: usize>(
    table: &IndexTable,
    low: &[u8; N],
    high: &Bound<[u8; N]>,
    visit: &mut impl FnMut(i64, SyncId) -> Result<Step, StoreError>,
) -> Result<(), StoreError> {
    if matches!(high, Bound::Excluded(high) if high <= low) {
        return Ok(());
    }
    let range = table
        .range::<&[u8]>((Bound::Included(&low[..]), as_slice(high)))
        .map_err(db("reading an entry index"))?;
    for item in range.rev() {
        let (key, _) = item.map_err(db("reading an entry index"))?;
        let Some((time, sync_id)) = key_tail(key.value()) else {
            continue;
        };
        if let Step::Stop = visit(time, sync_id)? {
            break;
        }
    }
    Ok(())
}

/// Visits every reference-index key whose serial starts with `prefix` (escaped), bucket by
/// bucket, in key order.
pub(super) fn each_reference(
    table: &IndexTable,
    prefix: &[u8],
    mut visit: impl FnMut(i64, SyncId) -> Result<Step, StoreError>,
) -> Result<(), StoreError> {
    let first = table.first().map_err(db("reading the reference index"))?;
    let Some(mut bucket) = first.and_then(|(key, _)| key_bucket(key.value())) else {
        return Ok(());
    };
    loop {
        let start = reference_seek(bucket, prefix);
        let range = table
            .range::<&[u8]>(start.as_slice()..)
            .map_err(db("reading the reference index"))?;
        let mut next_bucket = None;
        for item in range {
            let (key, _) = item.map_err(db("reading the reference index"))?;
            let key = key.value();
            let Some(key_bucket) = key_bucket(key) else {
                continue;
            };
            if key_bucket != bucket {
                // Past this bucket's keys; seek the prefix in the bucket we landed in.
                next_bucket = Some(key_bucket);
                break;
            }
            if !key[BUCKET_LEN..].starts_with(prefix) {
                next_bucket = bucket.checked_add(1);
                break;
            }
            let Some((time, sync_id)) = key_tail(key) else {
                continue;
            };
            if let Step::Stop = visit(time, sync_id)? {
                return Ok(());
            }
        }
        match next_bucket {
            Some(next) => bucket = next,
            None => return Ok(()),
        }
    }
}

/// How a newest-first walk of the reference index ended.
enum Walk {
    Done,
    /// More than [`BROAD_PREFIX_KEYS`] keys match: nothing was visited, use another index.
    TooBroad,
}

/// Above this many matching keys, a prefix page walks time order instead of gathering keys.
/// Gathering costs about 0.1 µs a key; walking time order costs a few µs per decoded entry and
/// needs about (page size × entries / matching keys) of them, so for pages of ~100 out of a
/// million entries the two meet around fifty thousand keys.
const BROAD_PREFIX_KEYS: usize = 50_000;

/// Visits the entries of several serials newest first: the index orders them by bucket and
/// serial, so each round keeps the newest `round` keys below the last one visited (a bounded
/// heap) and visits those; a round that did not finish the page is followed by a larger one.
fn reference_newest_first(
    table: &IndexTable,
    prefix: &[u8],
    (since, until): (i64, i64),
    cursor: Option<EntryCursor>,
    round: usize,
    visit: &mut impl FnMut(i64, SyncId) -> Result<Step, StoreError>,
) -> Result<Walk, StoreError> {
    let mut below = cursor.map(|c| (c.time_ms, c.sync_id));
    let mut round = round;
    loop {
        // Min-heap of the newest `round` keys seen so far.
        let mut newest: BinaryHeap<Reverse<(i64, SyncId)>> = BinaryHeap::with_capacity(round + 1);
        let mut scanned = 0usize;
        each_reference(table, prefix, |time, sync_id| {
            scanned += 1;
            if scanned > BROAD_PREFIX_KEYS {
                return Ok(Step::Stop);
            }
            let key = (time, sync_id);
            if time >= since && time < until && below.is_none_or(|below| key < below) {
                newest.push(Reverse(key));
                if newest.len() > round {
                    newest.pop();
                }
            }
            Ok(Step::More)
        })?;
        // Every round scans the same keys (one read transaction), so only the first can stop.
        if scanned > BROAD_PREFIX_KEYS {
            return Ok(Walk::TooBroad);
        }
        let exhausted = newest.len() < round;
        // The sorted vector of `Reverse` keys is newest first.
        let batch = newest.into_sorted_vec();
        for Reverse((time, sync_id)) in &batch {
            if let Step::Stop = visit(*time, *sync_id)? {
                return Ok(Walk::Done);
            }
        }
        match batch.last() {
            Some(Reverse(last)) if !exhausted => below = Some(*last),
            _ => return Ok(Walk::Done),
        }
        // The other conditions rejected most of this round: gather more at once next time, so
        // a sparse match costs a few scans of the prefix rather than one per page-full.
        if round < BROAD_PREFIX_KEYS {
            round *= 2;
        }
    }
}
