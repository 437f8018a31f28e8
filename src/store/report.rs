//! The sync report's queries (SPEC section 5): filter, search, window, sort by any column, page.
//!
//! How a query runs, and what it costs (measured on a million entries, `benches/report.rs`):
//!
//! - **Candidates** come from an index: the status index for a status filter (one range per
//!   status, merged by time), else the time index; both start at the window. A search whose
//!   text is in no system's name (see [`super::report_systems`]) gathers its candidates from
//!   the reference index (serial prefix) and the entries table (exact sync id) instead, and a
//!   run filter from the run index; such sets (up to [`GATHER_CAP`]) are read entry by entry.
//! - **Filters** the indexes do not hold (connection, outcome, a search that may match a
//!   system) read only those fields of each candidate ([`Summary`]): 1–1.5 µs a candidate,
//!   mostly redb reading the entry's pages, instead of about 3 µs for a whole entry.
//! - **Order**: by time or by status the indexes give the order, so a page stops as soon as
//!   it is full and decodes only the entries it returns (plus the filter fields of the
//!   candidates it passed): well under a millisecond for the first page of Failed. Any other
//!   column reads that column of every matching entry and sorts: a scan of the matching set,
//!   about 1.5–2.5 s per million matching entries (by sync id no decoding, about 0.15 s). For
//!   those orders fetch [`Store::report_ids`] once and page with [`Store::entries_by_ids`]
//!   rather than calling [`Store::report_page`] for every page.
//! - **Counts** of status, window and gathered filters count index keys or the gathered set
//!   without decoding; a count with a connection or outcome filter, or a search that matches
//!   a system, decodes its candidates as above.

use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;
use std::sync::mpsc;

use chrono::{DateTime, Utc};
use redb::{ReadOnlyTable, ReadTransaction};

use super::Store;
use super::error::{StoreError, db};
use super::report_scan::{self, Candidate, Candidates, IndexTable};
use super::report_summary::{Needs, Summary};
use super::report_systems::known_systems;
use super::tables::*;
use super::types::{EntryStatus, FailureClass, Outcome, ReportEntry, RunId, SyncId};

/// Which entries the report shows; every condition set must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReportFilter {
    /// Any of these statuses; empty means any.
    pub statuses: Vec<EntryStatus>,
    /// Any of these outcomes; empty means any.
    pub outcomes: Vec<Outcome>,
    /// Any of these connections (exact names); empty means any.
    pub connections: Vec<String>,
    /// Entries recorded by this run.
    pub run: Option<RunId>,
    /// Search "by system, sync id or reference": an exact sync id ("12345" or "#12345"), a
    /// serial prefix (ASCII letters case-insensitive) or a system substring
    /// (case-insensitive); an entry matches if any of the three does. Blank means no search.
    pub search: Option<String>,
    /// Entries at or after this time (compared in milliseconds, as the indexes keep it).
    pub since: Option<DateTime<Utc>>,
    /// Only Failed entries of this class (a retry may fix them, or none can); combined with
    /// `statuses`, which must then allow Failed for anything to match.
    pub failure: Option<FailureClass>,
}

/// A column the report can be sorted by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SortColumn {
    Time,
    SyncId,
    /// In the order OK, Sent, Pending, Failed, Dry.
    Status,
    /// Serials bytewise.
    Reference,
    System,
    Connection,
    /// In the order of [`Outcome`]'s variants.
    Outcome,
    /// The number of attempts.
    Attempts,
}

/// The one description of the sort columns both front ends use: the console's sort picker and
/// bottom border, and `syncdeck report --sort`.
impl SortColumn {
    /// Every column, in the order the picker and `--sort` list them.
    pub const ALL: [SortColumn; 8] = [
        SortColumn::Time,
        SortColumn::SyncId,
        SortColumn::Status,
        SortColumn::Reference,
        SortColumn::System,
        SortColumn::Connection,
        SortColumn::Outcome,
        SortColumn::Attempts,
    ];

    /// The column's name on screen: "sync id".
    pub fn name(self) -> &'static str {
        match self {
            SortColumn::Time => "time",
            SortColumn::SyncId => "sync id",
            SortColumn::Status => "status",
            SortColumn::Reference => "reference",
            SortColumn::System => "system",
            SortColumn::Connection => "connection",
            SortColumn::Outcome => "outcome",
            SortColumn::Attempts => "attempts",
        }
    }

    /// The column's name on the command line: "sync-id".
    pub fn flag(self) -> &'static str {
        match self {
            SortColumn::SyncId => "sync-id",
            other => other.name(),
        }
    }

    /// The column a name means, in any case: the command-line name, the screen name, and the
    /// aliases "id", "sync_id" and "serial".
    pub fn parse(text: &str) -> Option<SortColumn> {
        let text = text.trim().to_ascii_lowercase();
        let column = match text.as_str() {
            "id" | "sync_id" => SortColumn::SyncId,
            "serial" => SortColumn::Reference,
            _ => *SortColumn::ALL
                .iter()
                .find(|c| c.flag() == text || c.name() == text)?,
        };
        Some(column)
    }

    /// The direction the column sorts in when none is asked for: newest, highest and most
    /// first for time, sync id and attempts; A to Z (and in the status and outcome orders) for
    /// the rest.
    pub fn natural_descending(self) -> bool {
        matches!(
            self,
            SortColumn::Time | SortColumn::SyncId | SortColumn::Attempts
        )
    }
}

/// The report's order: a column and a direction. Entries equal in the column come newest
/// first (time, then sync id, descending) in both directions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReportSort {
    pub column: SortColumn,
    pub descending: bool,
}

impl Default for ReportSort {
    /// Newest first.
    fn default() -> Self {
        ReportSort {
            column: SortColumn::Time,
            descending: true,
        }
    }
}

impl ReportFilter {
    /// True when `entry` meets every condition of the filter.
    pub fn matches(&self, entry: &ReportEntry) -> bool {
        (self.statuses.is_empty() || self.statuses.contains(&entry.status))
            && (self.outcomes.is_empty() || self.outcomes.contains(&entry.outcome))
            && (self.connections.is_empty() || self.connections.contains(&entry.connection))
            && self.run.is_none_or(|run| entry.run_id == run)
            && self
                .since
                .is_none_or(|since| entry.time.timestamp_millis() >= since.timestamp_millis())
            && Search::parse(self.search.as_deref())
                .is_none_or(|search| search.matches(entry.sync_id, &entry.reference, &entry.system))
            && self
                .failure
                .is_none_or(|class| entry.failure_class() == Some(class))
    }
}

/// A parsed search text.
struct Search<'a> {
    text: &'a str,
    sync_id: Option<SyncId>,
    /// Lower case, for the system substring.
    lower: String,
}

impl<'a> Search<'a> {
    fn parse(text: Option<&'a str>) -> Option<Search<'a>> {
        let text = text?.trim();
        if text.is_empty() {
            return None;
        }
        let digits = text.strip_prefix('#').unwrap_or(text);
        Some(Search {
            text,
            sync_id: digits.parse().ok(),
            lower: text.to_lowercase(),
        })
    }

    fn matches(&self, sync_id: SyncId, reference: &str, system: &str) -> bool {
        self.sync_id == Some(sync_id)
            || self.matches_reference(reference)
            || self.matches_system(system)
    }

    fn matches_reference(&self, reference: &str) -> bool {
        let prefix = self.text.as_bytes();
        reference
            .as_bytes()
            .get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
    }

    fn matches_system(&self, system: &str) -> bool {
        if system.is_ascii() && self.lower.is_ascii() {
            let needle = self.lower.as_bytes();
            needle.is_empty()
                || system
                    .as_bytes()
                    .windows(needle.len())
                    .any(|window| window.eq_ignore_ascii_case(needle))
        } else {
            system.to_lowercase().contains(&self.lower)
        }
    }
}

/// Above this many candidates a search or run filter walks the time-ordered indexes instead of
/// reading its candidates one by one (a page of a broad match fills quickly in time order).
const GATHER_CAP: usize = 20_000;

impl Store {
    /// The entries at positions `offset..offset + limit` of the filtered, sorted report.
    pub fn report_page(
        &self,
        filter: &ReportFilter,
        sort: ReportSort,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<ReportEntry>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let txn = self.read()?;
        let query = Query::plan(&txn, filter)?;
        let ids = query.ordered_ids(sort, offset, Some(limit))?;
        query.entries(&ids)
    }

    /// How many entries match.
    pub fn report_count(&self, filter: &ReportFilter) -> Result<u64, StoreError> {
        let txn = self.read()?;
        Query::plan(&txn, filter)?.count()
    }

    /// The sync ids of every matching entry, in sort order (for "select all matching the
    /// filter", mass resync and random access with [`Store::entries_by_ids`]).
    pub fn report_ids(
        &self,
        filter: &ReportFilter,
        sort: ReportSort,
    ) -> Result<Vec<SyncId>, StoreError> {
        let txn = self.read()?;
        Query::plan(&txn, filter)?.ordered_ids(sort, 0, None)
    }

    /// Visits every matching entry in sort order (for export), all from one snapshot of the
    /// store; `visit` stops the walk early by returning `ControlFlow::Break`.
    pub fn for_each_report_entry(
        &self,
        filter: &ReportFilter,
        sort: ReportSort,
        visit: &mut dyn FnMut(&ReportEntry) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        let txn = self.read()?;
        Query::plan(&txn, filter)?.for_each(sort, visit)
    }

    /// Entries by id, in the given order, skipping ids that no longer exist.
    pub fn entries_by_ids(&self, ids: &[SyncId]) -> Result<Vec<ReportEntry>, StoreError> {
        let txn = self.read()?;
        let entries = txn.open_table(ENTRIES).map_err(db("opening entries"))?;
        read_entries(&entries, ids)
    }
}

fn read_entries(
    entries: &ReadOnlyTable<u64, &'static [u8]>,
    ids: &[SyncId],
) -> Result<Vec<ReportEntry>, StoreError> {
    let mut found = Vec::with_capacity(ids.len());
    for &id in ids {
        if let Some(bytes) = entries.get(id).map_err(db("reading an entry"))? {
            found.push(decode_entry(bytes.value(), "decoding an entry")?);
        }
    }
    Ok(found)
}

/// Where a query's candidates come from.
enum Source {
    /// Nothing can match.
    Nothing,
    /// These entries (from a search or a run), read one by one; every condition is checked on
    /// each.
    Gathered {
        ids: Vec<SyncId>,
        /// Whether each is checked against the search (a run's entries are).
        search: bool,
    },
    /// A time-ordered walk of the status or time index from the window's start.
    Walk {
        /// Only these entries (a large run).
        only: Option<HashSet<SyncId>>,
        /// Whether each candidate is checked against the search.
        search: bool,
    },
}

/// Entries a reader thread hands over at once, and how many chunks it may read ahead.
const CHUNK_ENTRIES: usize = 256;
const READ_AHEAD_CHUNKS: usize = 8;

/// The stored bytes of a few hundred entries, back to back.
#[derive(Default)]
struct Chunk {
    bytes: Vec<u8>,
    /// Where each entry ends in `bytes`.
    ends: Vec<usize>,
}

type ChunkSender = mpsc::SyncSender<Result<Chunk, StoreError>>;

/// Decodes the chunks a reader sends and visits their entries, until the reader is done or
/// the visitor stops.
fn decode_and_visit(
    receiver: mpsc::Receiver<Result<Chunk, StoreError>>,
    visit: &mut dyn FnMut(&ReportEntry) -> ControlFlow<()>,
) -> Result<(), StoreError> {
    for chunk in receiver {
        let chunk = chunk?;
        let mut start = 0;
        for &end in &chunk.ends {
            let entry: ReportEntry = decode_entry(&chunk.bytes[start..end], "decoding an entry")?;
            start = end;
            if visit(&entry).is_break() {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// One matching entry with its sort value.
struct Row {
    value: u64,
    text: Option<Box<str>>,
    time_ms: i64,
    sync_id: SyncId,
}

/// A planned report query inside one read transaction.
struct Query<'f> {
    filter: &'f ReportFilter,
    search: Option<Search<'f>>,
    entries: ReadOnlyTable<u64, &'static [u8]>,
    by_time: IndexTable,
    by_status: IndexTable,
    since_ms: i64,
    /// The status filter in status order, without repeats.
    statuses: Vec<EntryStatus>,
    source: Source,
}

impl<'f> Query<'f> {
    fn plan(txn: &ReadTransaction, filter: &'f ReportFilter) -> Result<Query<'f>, StoreError> {
        let mut statuses = filter.statuses.clone();
        statuses.sort_by_key(|status| status.code());
        statuses.dedup();
        // A failure class is a kind of Failed entry: walk the Failed part of the status index.
        let mut no_status_matches = false;
        if filter.failure.is_some() {
            no_status_matches = !statuses.is_empty() && !statuses.contains(&EntryStatus::Failed);
            statuses = vec![EntryStatus::Failed];
        }
        let since_ms = filter
            .since
            .map_or(i64::MIN, |since| since.timestamp_millis());
        let search = Search::parse(filter.search.as_deref());
        let entries = txn.open_table(ENTRIES).map_err(db("opening entries"))?;

        let mut gathered: Option<Vec<SyncId>> = None;
        let mut walk_search = false;
        if let Some(search) = &search {
            let may_match_system = match known_systems(txn)? {
                Some(systems) => systems.iter().any(|system| search.matches_system(system)),
                None => true,
            };
            let by_reference = if may_match_system {
                None
            } else {
                let table = txn
                    .open_table(ENTRIES_BY_REFERENCE)
                    .map_err(db("opening the reference index"))?;
                report_scan::by_reference_prefix(&table, search.text, since_ms, GATHER_CAP)?
            };
            match by_reference {
                Some(found) => {
                    let mut ids: Vec<SyncId> = found.iter().map(|c| c.sync_id).collect();
                    if let Some(id) = search.sync_id
                        && entries.get(id).map_err(db("reading an entry"))?.is_some()
                    {
                        ids.push(id);
                    }
                    ids.sort_unstable();
                    ids.dedup();
                    gathered = Some(ids);
                }
                None => walk_search = true,
            }
        }
        let mut only = None;
        if let Some(run) = filter.run {
            let table = txn
                .open_table(ENTRIES_BY_RUN)
                .map_err(db("opening the run index"))?;
            let low = run_key(run, 0);
            let high = run_key(run, u64::MAX);
            let mut ids = Vec::new();
            for item in table
                .range::<&[u8]>(&low[..]..=&high[..])
                .map_err(db("reading the run index"))?
            {
                let (key, _) = item.map_err(db("reading the run index"))?;
                ids.extend(run_key_sync_id(key.value()));
            }
            match &mut gathered {
                Some(found) => {
                    let run_ids: HashSet<SyncId> = ids.into_iter().collect();
                    found.retain(|id| run_ids.contains(id));
                }
                None if ids.len() <= GATHER_CAP => gathered = Some(ids),
                None => only = Some(ids.into_iter().collect()),
            }
        }
        let source = match gathered {
            _ if no_status_matches => Source::Nothing,
            Some(ids) if ids.is_empty() => Source::Nothing,
            Some(ids) => Source::Gathered {
                ids,
                search: walk_search,
            },
            None => Source::Walk {
                only,
                search: walk_search,
            },
        };
        Ok(Query {
            filter,
            search,
            entries,
            by_time: txn
                .open_table(ENTRIES_BY_TIME)
                .map_err(db("opening the time index"))?,
            by_status: txn
                .open_table(ENTRIES_BY_STATUS)
                .map_err(db("opening the status index"))?,
            since_ms,
            statuses,
            source,
        })
    }

    /// The fields a walk must read from each candidate to check the filter.
    fn walk_needs(&self) -> Needs {
        let mut needs = Needs::none();
        if !self.filter.connections.is_empty() {
            needs = needs | Needs::CONNECTION;
        }
        if !self.filter.outcomes.is_empty() {
            needs = needs | Needs::OUTCOME;
        }
        if matches!(
            self.source,
            Source::Walk { search: true, .. } | Source::Gathered { search: true, .. }
        ) {
            needs = needs | Needs::SYSTEM | Needs::REFERENCE;
        }
        needs
    }

    /// The fields a gathered candidate must read: the walk's, plus what the indexes would
    /// have checked.
    fn gathered_needs(&self) -> Needs {
        self.walk_needs() | Needs::TIME | Needs::STATUS
    }

    /// Checks the conditions the source did not; `summary` holds the needed fields.
    fn accepts(&self, sync_id: SyncId, summary: &Summary) -> bool {
        let filter = self.filter;
        if !filter.connections.is_empty()
            && !filter
                .connections
                .iter()
                .any(|c| c.as_str() == summary.connection.as_ref())
        {
            return false;
        }
        if !filter.outcomes.is_empty()
            && !summary
                .outcome
                .is_some_and(|outcome| filter.outcomes.contains(&outcome))
        {
            return false;
        }
        let (in_source, check_search) = match &self.source {
            Source::Walk { only, search } => (
                only.as_ref().is_none_or(|only| only.contains(&sync_id)),
                *search,
            ),
            Source::Gathered { search, .. } => (
                summary.time_ms >= self.since_ms
                    && (self.statuses.is_empty()
                        || summary
                            .status
                            .is_some_and(|status| self.statuses.contains(&status))),
                *search,
            ),
            Source::Nothing => (false, false),
        };
        in_source
            && (!check_search
                || self.search.as_ref().is_none_or(|search| {
                    search.matches(sync_id, &summary.reference, &summary.system)
                }))
    }

    /// Reads `needs` of one entry and hands them to `use_summary`; None if the entry is gone,
    /// or is not of the filter's failure class (which the indexes and the summary do not hold:
    /// the entry is decoded whole, only for the Failed candidates of such a filter).
    fn with_summary<R>(
        &self,
        sync_id: SyncId,
        needs: Needs,
        use_summary: impl FnOnce(&Summary) -> R,
    ) -> Result<Option<R>, StoreError> {
        if needs.is_empty() && self.filter.failure.is_none() {
            return Ok(Some(use_summary(&Summary::default())));
        }
        let Some(bytes) = self.entries.get(sync_id).map_err(db("reading an entry"))? else {
            return Ok(None);
        };
        if let Some(class) = self.filter.failure {
            let entry = decode_entry(bytes.value(), "decoding an entry")?;
            if entry.failure_class() != Some(class) {
                return Ok(None);
            }
        }
        let summary = Summary::read(bytes.value(), needs)?;
        Ok(Some(use_summary(&summary)))
    }

    /// Whether a walked candidate matches.
    fn walk_accepts(&self, candidate: Candidate, needs: Needs) -> Result<bool, StoreError> {
        if let Source::Walk {
            only: Some(only), ..
        } = &self.source
            && !only.contains(&candidate.sync_id)
        {
            return Ok(false);
        }
        Ok(self
            .with_summary(candidate.sync_id, needs, |summary| {
                self.accepts(candidate.sync_id, summary)
            })?
            .unwrap_or(false))
    }

    /// The walk's candidates in time order, or for a status sort in status order (newest
    /// first within a status).
    fn candidates(&self, sort: ReportSort) -> Result<Candidates<'_>, StoreError> {
        if sort.column == SortColumn::Status {
            let mut statuses = if self.statuses.is_empty() {
                EntryStatus::ALL.to_vec()
            } else {
                self.statuses.clone()
            };
            if sort.descending {
                statuses.reverse();
            }
            let mut chain: Candidates<'_> = Box::new(std::iter::empty());
            for status in statuses {
                let stream = report_scan::by_status(&self.by_status, status, self.since_ms, true)?;
                chain = Box::new(chain.chain(stream));
            }
            return Ok(chain);
        }
        let descending = sort.column != SortColumn::Time || sort.descending;
        if self.statuses.is_empty() {
            report_scan::by_time(&self.by_time, self.since_ms, descending)
        } else {
            report_scan::by_statuses(&self.by_status, &self.statuses, self.since_ms, descending)
        }
    }

    /// The sync ids at `offset..offset + limit` of the sorted report (all from `offset`
    /// without a limit).
    fn ordered_ids(
        &self,
        sort: ReportSort,
        offset: usize,
        limit: Option<usize>,
    ) -> Result<Vec<SyncId>, StoreError> {
        let in_index_order = matches!(sort.column, SortColumn::Time | SortColumn::Status);
        match &self.source {
            Source::Nothing => Ok(Vec::new()),
            Source::Walk { .. } if in_index_order => {
                let needs = self.walk_needs();
                let mut ids = Vec::with_capacity(limit.unwrap_or(0).min(10_000));
                let mut skipped = 0;
                for candidate in self.candidates(sort)? {
                    let candidate = candidate?;
                    if !self.walk_accepts(candidate, needs)? {
                        continue;
                    }
                    if skipped < offset {
                        skipped += 1;
                        continue;
                    }
                    ids.push(candidate.sync_id);
                    if limit.is_some_and(|limit| ids.len() >= limit) {
                        break;
                    }
                }
                Ok(ids)
            }
            _ => {
                let mut rows = self.sorted_rows(sort)?;
                let end = limit.map_or(rows.len(), |limit| offset.saturating_add(limit));
                let end = end.min(rows.len());
                let start = offset.min(end);
                Ok(rows.drain(start..end).map(|row| row.sync_id).collect())
            }
        }
    }

    /// Every matching entry with its sort value, sorted.
    fn sorted_rows(&self, sort: ReportSort) -> Result<Vec<Row>, StoreError> {
        let column_needs = match sort.column {
            SortColumn::Time | SortColumn::SyncId => Needs::none(),
            SortColumn::Status => Needs::STATUS,
            SortColumn::Reference => Needs::REFERENCE,
            SortColumn::System => Needs::SYSTEM,
            SortColumn::Connection => Needs::CONNECTION,
            SortColumn::Outcome => Needs::OUTCOME,
            SortColumn::Attempts => Needs::ATTEMPTS,
        };
        // System and connection names repeat: rank them once instead of keeping each.
        let mut names: HashMap<String, u64> = HashMap::new();
        let mut rows = Vec::new();
        let mut row_of = |candidate: Option<Candidate>, sync_id: SyncId, summary: &Summary| {
            let mut row = Row {
                value: 0,
                text: None,
                time_ms: candidate.map_or(summary.time_ms, |c| c.time_ms),
                sync_id,
            };
            match sort.column {
                SortColumn::Time => {}
                SortColumn::SyncId => row.value = sync_id,
                SortColumn::Status => row.value = summary.status.map_or(0, |s| s.code().into()),
                SortColumn::Reference => row.text = Some(summary.reference.as_ref().into()),
                SortColumn::System | SortColumn::Connection => {
                    let name = if sort.column == SortColumn::System {
                        &summary.system
                    } else {
                        &summary.connection
                    };
                    let next = names.len() as u64;
                    row.value = match names.get(name.as_ref()) {
                        Some(&id) => id,
                        None => *names.entry(name.to_string()).or_insert(next),
                    };
                }
                SortColumn::Outcome => row.value = summary.outcome.map_or(0, |o| o as u64),
                SortColumn::Attempts => row.value = summary.attempts.into(),
            }
            rows.push(row);
        };
        match &self.source {
            Source::Nothing => {}
            Source::Gathered { ids, .. } => {
                let needs = self.gathered_needs() | column_needs;
                for &sync_id in ids {
                    self.with_summary(sync_id, needs, |summary| {
                        if self.accepts(sync_id, summary) {
                            row_of(None, sync_id, summary);
                        }
                    })?;
                }
            }
            Source::Walk { only, .. } => {
                // Index orders (time, status) page lazily and do not come here; this walk
                // reads the sort column of every match, in any order.
                let needs = self.walk_needs() | column_needs;
                for candidate in self.candidates(ReportSort::default())? {
                    let candidate = candidate?;
                    if only
                        .as_ref()
                        .is_some_and(|only| !only.contains(&candidate.sync_id))
                    {
                        continue;
                    }
                    self.with_summary(candidate.sync_id, needs, |summary| {
                        if self.accepts(candidate.sync_id, summary) {
                            row_of(Some(candidate), candidate.sync_id, summary);
                        }
                    })?;
                }
            }
        }
        if matches!(sort.column, SortColumn::System | SortColumn::Connection) {
            let mut sorted: Vec<(&String, u64)> = names.iter().map(|(n, &id)| (n, id)).collect();
            sorted.sort();
            let mut rank = vec![0u64; sorted.len()];
            for (position, (_, id)) in sorted.iter().enumerate() {
                rank[*id as usize] = position as u64;
            }
            for row in &mut rows {
                row.value = rank[row.value as usize];
            }
        }
        rows.sort_unstable_by(|a, b| {
            let newest_first = (b.time_ms, b.sync_id).cmp(&(a.time_ms, a.sync_id));
            if sort.column == SortColumn::Time {
                return if sort.descending {
                    newest_first
                } else {
                    newest_first.reverse()
                };
            }
            let column = a.value.cmp(&b.value).then_with(|| a.text.cmp(&b.text));
            let column = if sort.descending {
                column.reverse()
            } else {
                column
            };
            column.then(newest_first)
        });
        Ok(rows)
    }

    /// How many entries match.
    fn count(&self) -> Result<u64, StoreError> {
        match &self.source {
            Source::Nothing => Ok(0),
            Source::Gathered { .. } => Ok(self.sorted_rows(ReportSort::default())?.len() as u64),
            Source::Walk { .. } => {
                let needs = self.walk_needs();
                let mut count = 0u64;
                for candidate in self.candidates(ReportSort::default())? {
                    if self.walk_accepts(candidate?, needs)? {
                        count += 1;
                    }
                }
                Ok(count)
            }
        }
    }

    /// Visits every matching entry in order. A second thread walks the indexes and reads the
    /// stored bytes while this one decodes them and visits: for an export of a million
    /// entries the two halves take about as long as each other.
    fn for_each(
        &self,
        sort: ReportSort,
        visit: &mut dyn FnMut(&ReportEntry) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        let in_index_order = matches!(sort.column, SortColumn::Time | SortColumn::Status);
        let sorted = match (&self.source, in_index_order) {
            (Source::Walk { .. }, true) => None,
            _ => Some(self.ordered_ids(sort, 0, None)?),
        };
        std::thread::scope(|scope| {
            let (sender, receiver) = mpsc::sync_channel(READ_AHEAD_CHUNKS);
            let sorted = &sorted;
            scope.spawn(move || {
                let read = match sorted {
                    Some(ids) => self.read_ids(ids, &sender),
                    None => self.read_walk(sort, &sender),
                };
                if let Err(err) = read {
                    let _ = sender.send(Err(err));
                }
            });
            // Returning drops the receiver, which stops the reader at its next chunk.
            decode_and_visit(receiver, visit)
        })
    }

    /// Sends the stored bytes of the walk's matching entries, in order.
    fn read_walk(&self, sort: ReportSort, sender: &ChunkSender) -> Result<(), StoreError> {
        let needs = self.walk_needs();
        let mut chunk = Chunk::default();
        for candidate in self.candidates(sort)? {
            let candidate = candidate?;
            if self.walk_accepts(candidate, needs)?
                && !self.read_into(candidate.sync_id, &mut chunk, sender)?
            {
                return Ok(());
            }
        }
        let _ = sender.send(Ok(chunk));
        Ok(())
    }

    /// Sends the stored bytes of these entries, in order.
    fn read_ids(&self, ids: &[SyncId], sender: &ChunkSender) -> Result<(), StoreError> {
        let mut chunk = Chunk::default();
        for &sync_id in ids {
            if !self.read_into(sync_id, &mut chunk, sender)? {
                return Ok(());
            }
        }
        let _ = sender.send(Ok(chunk));
        Ok(())
    }

    /// Appends one entry's bytes to the chunk, sending it when full; false once nobody
    /// listens any more.
    fn read_into(
        &self,
        sync_id: SyncId,
        chunk: &mut Chunk,
        sender: &ChunkSender,
    ) -> Result<bool, StoreError> {
        if let Some(bytes) = self.entries.get(sync_id).map_err(db("reading an entry"))? {
            chunk.bytes.extend_from_slice(bytes.value());
            chunk.ends.push(chunk.bytes.len());
        }
        if chunk.ends.len() >= CHUNK_ENTRIES {
            return Ok(sender.send(Ok(std::mem::take(chunk))).is_ok());
        }
        Ok(true)
    }

    fn entries(&self, ids: &[SyncId]) -> Result<Vec<ReportEntry>, StoreError> {
        read_entries(&self.entries, ids)
    }
}

#[cfg(test)]
mod sort_column_tests {
    use super::SortColumn;

    #[test]
    fn every_column_parses_from_its_flag_and_its_screen_name() {
        for column in SortColumn::ALL {
            assert_eq!(SortColumn::parse(column.flag()), Some(column));
            assert_eq!(SortColumn::parse(column.name()), Some(column));
            assert_eq!(
                SortColumn::parse(&column.flag().to_ascii_uppercase()),
                Some(column)
            );
        }
        assert_eq!(SortColumn::parse("id"), Some(SortColumn::SyncId));
        assert_eq!(SortColumn::parse("sync_id"), Some(SortColumn::SyncId));
        assert_eq!(SortColumn::parse("serial"), Some(SortColumn::Reference));
        assert_eq!(SortColumn::parse("colour"), None);
    }

    #[test]
    fn time_ids_and_attempts_sort_highest_first_the_rest_a_to_z() {
        let descending: Vec<SortColumn> = SortColumn::ALL
            .into_iter()
            .filter(|c| c.natural_descending())
            .collect();
        assert_eq!(
            descending,
            [SortColumn::Time, SortColumn::SyncId, SortColumn::Attempts]
        );
    }
}
