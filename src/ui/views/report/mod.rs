//! The sync report's state: filters, search, window, sort, the selection, and the one page of
//! entries the screen shows (read at the scroll offset, never the whole report). Counting and
//! selecting every match run on a background thread (`work.rs`). Drawing is in [`draw`], the
//! keys in [`keys`], what they do in `actions.rs`.

mod actions;
pub mod activity;
pub mod columns;
pub mod draw;
pub mod entry_details;
pub mod export_prompt;
pub mod keys;
pub mod timeline;
mod work;

use std::collections::HashSet;

use crate::ui::screen::paged_list::PagedList;
use crate::ui::views::report::activity::ReportActivity;
use crate::ui::widgets::search_field::SearchField;
use chrono::{DateTime, TimeDelta, Utc};

use crate::store::{
    EntryStatus, FailureClass, Outcome, ReportEntry, ReportFilter, ReportSort, RunId, SortColumn,
    Store, StoreError, SyncId,
};

/// The window the report opens with (SPEC section 5).
pub const DEFAULT_WINDOW_DAYS: u32 = 5;
/// The widest window.
pub const MAX_WINDOW_DAYS: u32 = 15;

/// One of the conditions the operator sets; `Esc` clears them last set first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FilterKind {
    Status,
    Outcome,
    Connection,
    Run,
    Search,
    Window,
    /// Failed entries of one class: fixable (`F`) or not syncable.
    Failure,
    /// Entries changed since a moment (a resync's start: `E` on a Resync run).
    ChangedSince,
}

/// The outcomes in the order the picker lists them.
pub const OUTCOMES: [Outcome; 8] = [
    Outcome::Updated,
    Outcome::Created,
    Outcome::WouldUpdate,
    Outcome::WouldCreate,
    Outcome::Skipped,
    Outcome::MissingSource,
    Outcome::MissingDestination,
    Outcome::Error,
];

/// The report's filters, page, cursor and selection.
#[derive(Debug)]
pub struct Report {
    /// The operator's conditions; the window's `since` is added by [`Report::query`].
    filter: ReportFilter,
    window_days: u32,
    sort: ReportSort,
    /// Extra columns: latest sync info, source id, target id.
    extra: bool,
    /// Conditions in the order they were set.
    applied: Vec<FilterKind>,
    /// The window's start, fixed at the last refresh so counts and pages agree.
    since: DateTime<Utc>,
    /// Bumped by every change of the query; counts of an older query are dropped.
    generation: u64,
    /// The entries read around the cursor, the cursor, and the count of entries matching the
    /// filters (None while counting).
    list: PagedList<ReportEntry>,
    /// All entries in the window; None while counting.
    in_window: Option<u64>,
    selection: HashSet<SyncId>,
    /// Digits of the highest sync id seen, so the id column keeps its width while scrolling.
    id_digits: usize,
    /// The search field, while typing in it (`/`).
    search: SearchField,
    /// The view was shown at least once (counting starts then).
    opened: bool,
    /// What runs in the background for the report (counting, selecting, exporting, ...).
    activity: ReportActivity,
    /// The entry details to open once the entry under the cursor is read (`n` / `N` in the
    /// details): true going forward.
    details_after_move: Option<bool>,
}

impl Report {
    pub fn new(now: DateTime<Utc>) -> Report {
        Report {
            filter: ReportFilter::default(),
            window_days: DEFAULT_WINDOW_DAYS,
            sort: ReportSort::default(),
            extra: false,
            applied: Vec::new(),
            since: window_start(now, DEFAULT_WINDOW_DAYS),
            generation: 0,
            list: PagedList::default(),
            in_window: None,
            selection: HashSet::new(),
            id_digits: 1,
            search: SearchField::default(),
            opened: false,
            activity: ReportActivity::default(),
            details_after_move: None,
        }
    }

    /// The filters as the store takes them, the window included (or the later "changed
    /// since").
    pub fn query(&self) -> ReportFilter {
        ReportFilter {
            since: Some(
                self.filter
                    .since
                    .map_or(self.since, |at| at.max(self.since)),
            ),
            ..self.filter.clone()
        }
    }

    /// Only the window: what "of M" counts.
    pub fn window_query(&self) -> ReportFilter {
        ReportFilter {
            since: Some(self.since),
            ..ReportFilter::default()
        }
    }

    /// True when a condition besides the window is set.
    pub fn is_filtered(&self) -> bool {
        self.applied.iter().any(|k| *k != FilterKind::Window)
    }

    pub fn filter(&self) -> &ReportFilter {
        &self.filter
    }

    pub fn sort(&self) -> ReportSort {
        self.sort
    }

    pub fn window_days(&self) -> u32 {
        self.window_days
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The conditions set, oldest first.
    pub fn applied(&self) -> &[FilterKind] {
        &self.applied
    }

    /// The query changed, or the store did: forget the page and the counts. The caller starts
    /// the count for the new generation.
    pub fn refresh(&mut self, now: DateTime<Utc>) {
        self.requery(now);
        self.list.forget_total();
        self.in_window = None;
    }

    /// The store changed: forget the page, keeping the counts on screen until the new ones
    /// arrive. The caller starts the count.
    pub fn requery(&mut self, now: DateTime<Utc>) {
        self.since = window_start(now, self.window_days);
        self.generation += 1;
        self.reload();
    }

    /// Forgets the loaded page only.
    pub fn reload(&mut self) {
        self.list.forget();
    }

    /// The counts of a query, if it is still the current one.
    pub fn apply_counts(&mut self, generation: u64, matching: u64, in_window: u64) -> bool {
        if generation != self.generation {
            return false;
        }
        self.list.set_total(matching);
        self.in_window = Some(in_window);
        true
    }

    pub fn matching(&self) -> Option<u64> {
        self.list.total()
    }

    pub fn in_window(&self) -> Option<u64> {
        self.in_window
    }

    /// Rows the screen shows at once, for page moves.
    pub fn page(&self) -> usize {
        self.list.page()
    }

    pub fn cursor(&self) -> usize {
        self.list.cursor()
    }

    pub fn top(&self) -> usize {
        self.list.top()
    }

    /// A store read that failed, shown in place of the rows.
    pub fn error(&self) -> Option<&str> {
        self.list.error()
    }

    pub fn move_by(&mut self, delta: isize) {
        self.list.move_by(delta);
    }

    pub fn first(&mut self) {
        self.list.first();
    }

    pub fn last(&mut self) {
        self.list.last();
    }

    /// Makes the rows `top..top + height` current: moves `top` so the cursor shows, and reads
    /// a page from the store when they are not loaded. The update step calls it before a frame.
    pub fn prepare(&mut self, store: &Store, height: usize) {
        self.list.follow_cursor(height.max(1));
        let height = self.list.page();
        if let Err(e) = self.ensure(store, self.list.top(), height) {
            self.list.fail(format!("cannot read the report: {e}"));
            return;
        }
        // A short page showed the end: keep the cursor and the view on entries.
        if let Some(end) = self.list.end() {
            let cursor = self.list.cursor().min(end.saturating_sub(1));
            let mut top = self.list.top();
            if top + height > end {
                top = end.saturating_sub(height);
            }
            self.list.place(cursor, top.min(cursor));
            if let Err(e) = self.ensure(store, self.list.top(), height) {
                self.list.fail(format!("cannot read the report: {e}"));
            }
        }
    }

    /// Reads entries so that `start..start + count` is loaded (as far as the report goes); a
    /// page around it is read, so short moves need no read.
    fn ensure(&mut self, store: &Store, start: usize, count: usize) -> Result<(), StoreError> {
        if self.list.covers(start, count) {
            return Ok(());
        }
        let from = start.saturating_sub(count);
        let limit = count * 3;
        let rows = store.report_page(&self.query(), self.sort, from, limit)?;
        if rows.len() < limit && (!rows.is_empty() || from == 0) {
            self.list.set_end(from + rows.len());
        }
        if rows.is_empty() && from > 0 && self.list.end().is_none() {
            // Past the end with the count still unknown: go back to the start.
            self.list.place(0, 0);
            return self.ensure(store, 0, count);
        }
        if let Some(widest) = rows.iter().map(|e| e.sync_id).max() {
            self.id_digits = self.id_digits.max(widest.to_string().len());
        }
        self.list.fill(from, rows);
        Ok(())
    }

    /// Digits of the highest sync id seen so far.
    pub fn id_digits(&self) -> usize {
        self.id_digits
    }

    /// The loaded entry at a position.
    pub fn row(&self, index: usize) -> Option<&ReportEntry> {
        self.list.row(index)
    }

    /// The entry under the cursor, when its page is read (the update step reads it before a
    /// key is handled).
    pub fn current(&self) -> Option<&ReportEntry> {
        self.list.current()
    }

    /// The update step before a key: reads the page of the entry under the cursor when it is
    /// not read yet (the view may not have been drawn since the cursor moved).
    fn ensure_current(&mut self, store: &Store) {
        let (cursor, page) = (self.list.cursor(), self.list.page());
        if self.list.current().is_none()
            && let Err(e) = self.ensure(store, cursor, page)
        {
            self.list.fail(format!("cannot read the report: {e}"));
        }
    }

    /// True once the loaded page says the report has no entry at all.
    pub fn is_empty(&self) -> bool {
        self.list.end() == Some(0) || self.list.total() == Some(0)
    }

    // The selection.

    pub fn is_selected(&self, sync_id: SyncId) -> bool {
        self.selection.contains(&sync_id)
    }

    /// Selects or unselects the entry under the cursor; returns its new state.
    pub fn toggle(&mut self, sync_id: SyncId) -> bool {
        if self.selection.remove(&sync_id) {
            false
        } else {
            self.selection.insert(sync_id);
            true
        }
    }

    /// Adds entries to the selection; returns how many were new.
    pub fn select(&mut self, ids: impl IntoIterator<Item = SyncId>) -> usize {
        let before = self.selection.len();
        self.selection.extend(ids);
        self.selection.len() - before
    }

    /// Clears the selection; returns how many were selected.
    pub fn clear_selection(&mut self) -> usize {
        let count = self.selection.len();
        self.selection.clear();
        count
    }

    pub fn selected(&self) -> usize {
        self.selection.len()
    }

    /// The selected ids, in sync id order.
    pub fn selected_ids(&self) -> Vec<SyncId> {
        let mut ids: Vec<SyncId> = self.selection.iter().copied().collect();
        ids.sort_unstable();
        ids
    }

    // Filters. Each setter says whether the query changed; the caller refreshes.

    fn mark(&mut self, kind: FilterKind, active: bool) {
        self.applied.retain(|k| *k != kind);
        if active {
            self.applied.push(kind);
        }
        self.list.restart();
    }

    /// Sets one condition of the filter; false when it already was `value`.
    fn set_condition<T: PartialEq>(
        &mut self,
        kind: FilterKind,
        value: T,
        active: bool,
        slot: impl FnOnce(&mut ReportFilter) -> &mut T,
    ) -> bool {
        let slot = slot(&mut self.filter);
        if *slot == value {
            return false;
        }
        *slot = value;
        self.mark(kind, active);
        true
    }

    pub fn set_statuses(&mut self, statuses: Vec<EntryStatus>) -> bool {
        let active = !statuses.is_empty();
        self.set_condition(FilterKind::Status, statuses, active, |f| &mut f.statuses)
    }

    pub fn set_outcomes(&mut self, outcomes: Vec<Outcome>) -> bool {
        let active = !outcomes.is_empty();
        self.set_condition(FilterKind::Outcome, outcomes, active, |f| &mut f.outcomes)
    }

    pub fn set_connections(&mut self, connections: Vec<String>) -> bool {
        let active = !connections.is_empty();
        self.set_condition(FilterKind::Connection, connections, active, |f| {
            &mut f.connections
        })
    }

    pub fn set_run(&mut self, run: Option<RunId>) -> bool {
        self.set_condition(FilterKind::Run, run, run.is_some(), |f| &mut f.run)
    }

    /// Only entries changed since `at` (their time: a resync's entries took its time).
    pub fn set_changed_since(&mut self, at: Option<DateTime<Utc>>) -> bool {
        self.set_condition(FilterKind::ChangedSince, at, at.is_some(), |f| &mut f.since)
    }

    pub fn set_failure(&mut self, failure: Option<FailureClass>) -> bool {
        self.set_condition(FilterKind::Failure, failure, failure.is_some(), |f| {
            &mut f.failure
        })
    }

    pub fn set_search(&mut self, text: &str) -> bool {
        let text = text.trim();
        let search = (!text.is_empty()).then(|| text.to_string());
        let active = search.is_some();
        self.set_condition(FilterKind::Search, search, active, |f| &mut f.search)
    }

    /// Sets the window, 1 to 15 days.
    pub fn set_window(&mut self, days: u32) -> bool {
        let days = days.clamp(1, MAX_WINDOW_DAYS);
        if days == self.window_days {
            return false;
        }
        self.window_days = days;
        self.mark(FilterKind::Window, days != DEFAULT_WINDOW_DAYS);
        true
    }

    /// Clears the condition set last; None when nothing is set.
    pub fn pop_filter(&mut self) -> Option<FilterKind> {
        let kind = *self.applied.last()?;
        match kind {
            FilterKind::Status => self.set_statuses(Vec::new()),
            FilterKind::Outcome => self.set_outcomes(Vec::new()),
            FilterKind::Connection => self.set_connections(Vec::new()),
            FilterKind::Run => self.set_run(None),
            FilterKind::Search => self.set_search(""),
            FilterKind::Window => self.set_window(DEFAULT_WINDOW_DAYS),
            FilterKind::Failure => self.set_failure(None),
            FilterKind::ChangedSince => self.set_changed_since(None),
        };
        Some(kind)
    }

    /// The conditions in words, in the order set: `status failed`, `search "SD-0001"`.
    pub fn describe(&self) -> Vec<String> {
        self.applied
            .iter()
            .map(|kind| match kind {
                FilterKind::Status => format!(
                    "status {}",
                    self.filter
                        .statuses
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join("|")
                ),
                FilterKind::Outcome => format!(
                    "outcome {}",
                    self.filter
                        .outcomes
                        .iter()
                        .map(|o| o.label())
                        .collect::<Vec<_>>()
                        .join("|")
                ),
                FilterKind::Connection => {
                    format!("connection {}", self.filter.connections.join("|"))
                }
                FilterKind::Run => format!("run #{}", self.filter.run.unwrap_or_default()),
                FilterKind::Search => {
                    format!("search \"{}\"", self.filter.search.as_deref().unwrap_or(""))
                }
                FilterKind::Window => format!("window {} days", self.window_days),
                FilterKind::ChangedSince => match self.filter.since {
                    Some(at) => format!("changed since {}", at.format("%m-%d %H:%M:%S")),
                    None => String::new(),
                },
                FilterKind::Failure => match self.filter.failure {
                    Some(FailureClass::Fixable) => "failed, fixable".to_string(),
                    Some(FailureClass::NotSyncable) => "not syncable".to_string(),
                    None => String::new(),
                },
            })
            .collect()
    }

    // Sort.

    pub fn set_sort_column(&mut self, column: SortColumn) -> bool {
        if self.sort.column == column {
            return false;
        }
        self.sort = ReportSort {
            column,
            descending: column.natural_descending(),
        };
        true
    }

    pub fn reverse_sort(&mut self) {
        self.sort.descending = !self.sort.descending;
    }

    // The search field.

    /// Opens the search field with the current search.
    pub fn start_search(&mut self) {
        self.search.open(self.filter.search.as_deref());
    }
}

/// The start of a window of `days` ending now.
pub fn window_start(now: DateTime<Utc>, days: u32) -> DateTime<Utc> {
    now - TimeDelta::days(i64::from(days))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        Report::new(DateTime::UNIX_EPOCH + TimeDelta::days(100))
    }

    #[test]
    fn esc_clears_the_last_condition_set_first() {
        let mut r = report();
        assert!(r.set_statuses(vec![EntryStatus::Failed]));
        assert!(r.set_connections(vec!["mdm".into()]));
        assert!(r.set_search("SD-0001"));
        assert!(r.set_window(7));
        // Setting a condition again moves it to the end.
        assert!(r.set_statuses(vec![EntryStatus::Failed, EntryStatus::Pending]));
        assert_eq!(
            r.describe(),
            vec![
                "connection mdm",
                "search \"SD-0001\"",
                "window 7 days",
                "status failed|pending"
            ]
        );
        assert_eq!(r.pop_filter(), Some(FilterKind::Status));
        assert!(r.filter().statuses.is_empty());
        assert_eq!(r.pop_filter(), Some(FilterKind::Window));
        assert_eq!(r.window_days(), DEFAULT_WINDOW_DAYS);
        assert_eq!(r.pop_filter(), Some(FilterKind::Search));
        assert_eq!(r.pop_filter(), Some(FilterKind::Connection));
        assert_eq!(r.pop_filter(), None);
        assert!(!r.is_filtered());
    }

    #[test]
    fn the_window_stays_between_one_and_fifteen_days() {
        let mut r = report();
        assert!(r.set_window(0));
        assert_eq!(r.window_days(), 1);
        assert!(r.set_window(40));
        assert_eq!(r.window_days(), MAX_WINDOW_DAYS);
        assert!(!r.set_window(16));
        r.refresh(DateTime::UNIX_EPOCH + TimeDelta::days(100));
        assert_eq!(
            r.query().since,
            Some(DateTime::UNIX_EPOCH + TimeDelta::days(85))
        );
    }

    #[test]
    fn stale_counts_are_dropped() {
        let mut r = report();
        r.refresh(DateTime::UNIX_EPOCH);
        let old = r.generation();
        r.refresh(DateTime::UNIX_EPOCH);
        assert!(!r.apply_counts(old, 3, 10));
        assert_eq!(r.matching(), None);
        assert!(r.apply_counts(r.generation(), 3, 10));
        assert_eq!((r.matching(), r.in_window()), (Some(3), Some(10)));
        r.move_by(10);
        assert_eq!(r.cursor(), 2);
    }

    #[test]
    fn the_selection_counts_each_entry_once() {
        let mut r = report();
        assert!(r.toggle(7));
        assert_eq!(r.select([7, 8, 9]), 2);
        assert!(!r.toggle(8));
        assert_eq!(r.selected_ids(), vec![7, 9]);
        assert_eq!(r.clear_selection(), 2);
    }
}
