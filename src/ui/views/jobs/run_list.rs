//! The run history behind the Outbound Sync Jobs view: runs newest first, read from the store a
//! page at a time as the selection nears the end, connection runs read when a run is expanded,
//! and live runs kept current from engine events. No rendering here.

use std::collections::{HashMap, HashSet};

use crate::store::{ConnectionRun, Counters, Run, RunId, RunStatus, Store, StoreError};

use crate::ui::widgets::status;

/// Runs read from the store at a time.
pub const PAGE_SIZE: usize = 100;
/// Rows kept loaded below the selection, so scrolling never waits at the end of a page.
const LOOKAHEAD: usize = 40;
/// Pages one key press may read while looking for runs that pass a filter.
const PAGES_PER_FILL: usize = 20;

/// One line of the folder view: a run, or one of its connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Row {
    Run(RunId),
    Connection { run_id: RunId, position: u32 },
}

impl Row {
    pub fn run_id(self) -> RunId {
        match self {
            Row::Run(id) | Row::Connection { run_id: id, .. } => id,
        }
    }
}

/// The history, its filters, expansion and selection.
#[derive(Debug, Default)]
pub struct RunList {
    /// Loaded runs, newest (highest id) first.
    runs: Vec<Run>,
    exhausted: bool,
    connection_runs: HashMap<RunId, Vec<ConnectionRun>>,
    expanded: HashSet<RunId>,
    status_filter: Option<RunStatus>,
    failures_only: bool,
    rows: Vec<Row>,
    selected: usize,
    /// `G` asked for the oldest run: the update step reads the whole history.
    want_last: bool,
}

impl RunList {
    /// The first page of the history.
    pub fn load(store: &Store) -> Result<RunList, StoreError> {
        let mut runs = RunList::default();
        runs.load_page(store)?;
        runs.rebuild(false);
        Ok(runs)
    }

    fn load_page(&mut self, store: &Store) -> Result<(), StoreError> {
        if self.exhausted {
            return Ok(());
        }
        let before = self.runs.last().map(|r| r.id);
        let page = store.list_runs(before, PAGE_SIZE)?;
        self.exhausted = page.len() < PAGE_SIZE;
        for run in page {
            // A run row says how many entries failed: its connection runs come with it.
            self.ensure_connection_runs(store, run.id)?;
            // A live run may already be here from its events.
            if self.position(run.id).is_err() {
                self.runs.push(run);
            }
        }
        Ok(())
    }

    /// Reads more pages while the selection is near the end of what passes the filters.
    pub fn fill(&mut self, store: &Store) -> Result<(), StoreError> {
        let mut pages = 0;
        while !self.exhausted
            && pages < PAGES_PER_FILL
            && self.rows.len() < self.selected + LOOKAHEAD
        {
            self.load_page(store)?;
            pages += 1;
            self.rebuild(false);
        }
        Ok(())
    }

    /// Reads the whole history (for `G`).
    pub fn load_all(&mut self, store: &Store) -> Result<(), StoreError> {
        while !self.exhausted {
            self.load_page(store)?;
        }
        self.rebuild(false);
        Ok(())
    }

    /// True once every run of the store is loaded.
    pub fn is_exhausted(&self) -> bool {
        self.exhausted
    }

    pub fn loaded(&self) -> usize {
        self.runs.len()
    }

    /// Index of a run in `runs`, or where it would go.
    fn position(&self, id: RunId) -> Result<usize, usize> {
        self.runs.binary_search_by(|r| id.cmp(&r.id))
    }

    pub fn run(&self, id: RunId) -> Option<&Run> {
        self.position(id).ok().map(|i| &self.runs[i])
    }

    /// Up to `n` loaded runs, newest first, whatever the filters.
    pub fn recent_runs(&self, n: usize) -> &[Run] {
        &self.runs[..n.min(self.runs.len())]
    }

    /// The newest run, whatever the filters.
    pub fn latest(&self) -> Option<&Run> {
        self.runs.first()
    }

    /// The connection runs known for a run, in execution order (empty until read or started).
    pub fn connection_runs(&self, id: RunId) -> &[ConnectionRun] {
        self.connection_runs.get(&id).map_or(&[], Vec::as_slice)
    }

    pub fn connection_run(&self, id: RunId, position: u32) -> Option<&ConnectionRun> {
        self.connection_runs(id)
            .iter()
            .find(|c| c.position == position)
    }

    /// Reads a run's connection runs unless they are known already.
    pub fn ensure_connection_runs(&mut self, store: &Store, id: RunId) -> Result<(), StoreError> {
        if let std::collections::hash_map::Entry::Vacant(slot) = self.connection_runs.entry(id) {
            slot.insert(store.connection_runs(id)?);
        }
        Ok(())
    }

    /// Reads every known run's connection runs again: a resync moved the counters of the
    /// runs whose entries it changed in place.
    pub fn reread_connection_runs(&mut self, store: &Store) -> Result<(), StoreError> {
        let ids: Vec<RunId> = self.connection_runs.keys().copied().collect();
        for id in ids {
            let rows = store.connection_runs(id)?;
            self.connection_runs.insert(id, rows);
        }
        self.rebuild(false);
        Ok(())
    }

    pub fn is_expanded(&self, id: RunId) -> bool {
        self.expanded.contains(&id)
    }

    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    pub fn selected(&self) -> usize {
        self.selected
    }

    pub fn selected_row(&self) -> Option<Row> {
        self.rows.get(self.selected).copied()
    }

    /// The run under the selection (the parent run of a connection row).
    pub fn selected_run(&self) -> Option<&Run> {
        self.selected_row().and_then(|row| self.run(row.run_id()))
    }

    pub fn status_filter(&self) -> Option<RunStatus> {
        self.status_filter
    }

    pub fn failures_only(&self) -> bool {
        self.failures_only
    }

    fn passes(&self, run: &Run) -> bool {
        self.status_filter.is_none_or(|s| run.status == s)
            && (!self.failures_only || status::is_failure(run.status))
    }

    /// Rebuilds the visible rows, keeping the selection on the same row where it can; with
    /// `follow_top`, a selection on the first row stays on the (new) first row.
    fn rebuild(&mut self, follow_top: bool) {
        let keep = if follow_top && self.selected == 0 {
            None
        } else {
            self.selected_row()
        };
        let mut rows = Vec::with_capacity(self.rows.len().max(self.runs.len()));
        for run in self.runs.iter().filter(|r| self.passes(r)) {
            rows.push(Row::Run(run.id));
            if self.expanded.contains(&run.id) {
                let known = self
                    .connection_runs(run.id)
                    .iter()
                    .map(|c| c.position as usize + 1)
                    .max()
                    .unwrap_or(0);
                for position in 0..run.connections.len().max(known) {
                    rows.push(Row::Connection {
                        run_id: run.id,
                        position: position as u32,
                    });
                }
            }
        }
        self.rows = rows;
        self.selected = match keep {
            Some(row) => self
                .rows
                .iter()
                .position(|r| *r == row)
                .or_else(|| self.rows.iter().position(|r| *r == Row::Run(row.run_id())))
                .unwrap_or(self.selected),
            None => 0,
        };
        self.selected = self.selected.min(self.rows.len().saturating_sub(1));
    }

    /// Moves the selection by `delta` rows; [`RunList::update`] reads more history when it nears
    /// the end.
    pub fn move_by(&mut self, delta: isize) {
        let last = self.rows.len().saturating_sub(1);
        self.selected = self.selected.saturating_add_signed(delta).min(last);
    }

    pub fn select_first(&mut self) {
        self.selected = 0;
    }

    /// Selects the oldest run: the last loaded now, the last of the whole history once
    /// [`RunList::update`] has read it.
    pub fn select_last(&mut self) {
        self.want_last = true;
        self.selected = self.rows.len().saturating_sub(1);
    }

    /// Expands the selected run (its connection runs are read by [`RunList::update`]); false
    /// when the selection is not a collapsed run.
    pub fn expand(&mut self) -> bool {
        let Some(Row::Run(id)) = self.selected_row() else {
            return false;
        };
        if !self.expanded.insert(id) {
            return false;
        }
        self.rebuild(false);
        true
    }

    /// The update step's reads (the only ones besides the first page): the whole history when
    /// the oldest run was asked for, more pages while the selection nears the end, and the
    /// connection runs of the expanded runs and of the selected one (rerun and apply read
    /// them). True when something was read.
    pub fn update(&mut self, store: &Store) -> Result<bool, StoreError> {
        let before = (self.runs.len(), self.connection_runs.len());
        if std::mem::take(&mut self.want_last) {
            self.load_all(store)?;
            self.selected = self.rows.len().saturating_sub(1);
        }
        self.fill(store)?;
        let selected = self.selected_row().map(Row::run_id);
        let missing: Vec<RunId> = self
            .expanded
            .iter()
            .copied()
            .chain(selected)
            .filter(|id| !self.connection_runs.contains_key(id) && self.run(*id).is_some())
            .collect();
        for id in missing {
            self.ensure_connection_runs(store, id)?;
        }
        let read = before != (self.runs.len(), self.connection_runs.len());
        if read {
            self.rebuild(false);
        }
        Ok(read)
    }

    /// Expands a run wherever it is (a run that just started).
    pub fn expand_run(&mut self, id: RunId) {
        self.expanded.insert(id);
        self.connection_runs.entry(id).or_default();
        self.rebuild(false);
    }

    /// Collapses the selected run; on a connection row, selects its run instead.
    pub fn collapse(&mut self) {
        match self.selected_row() {
            Some(Row::Connection { run_id, .. }) => {
                if let Some(i) = self.rows.iter().position(|r| *r == Row::Run(run_id)) {
                    self.selected = i;
                }
            }
            Some(Row::Run(id)) => {
                let removed = self.expanded.remove(&id);
                if removed {
                    self.rebuild(false);
                }
            }
            None => {}
        }
    }

    /// The status filter `f` picks (None: every status).
    pub fn set_status_filter(&mut self, status: Option<RunStatus>) {
        self.status_filter = status;
        self.rebuild(false);
    }

    pub fn toggle_failures_only(&mut self) {
        self.failures_only = !self.failures_only;
        self.rebuild(false);
    }

    /// Clears both filters; false when there was none.
    pub fn clear_filters(&mut self) -> bool {
        if self.status_filter.is_none() && !self.failures_only {
            return false;
        }
        self.status_filter = None;
        self.failures_only = false;
        self.rebuild(false);
        true
    }

    /// A run started or finished: insert or replace it.
    pub fn upsert_run(&mut self, run: Run) {
        match self.position(run.id) {
            Ok(i) => self.runs[i] = run,
            Err(i) => self.runs.insert(i, run),
        }
        self.rebuild(true);
    }

    /// A connection run started or finished: insert or replace it.
    pub fn upsert_connection_run(&mut self, row: ConnectionRun) {
        let rows = self.connection_runs.entry(row.run_id).or_default();
        match rows.iter_mut().find(|c| c.position == row.position) {
            Some(existing) => *existing = row,
            None => {
                rows.push(row);
                rows.sort_by_key(|c| c.position);
            }
        }
        self.rebuild(false);
    }

    /// A run's connection runs as the store has them now (a run of another process).
    pub fn replace_connection_runs(&mut self, run_id: RunId, mut rows: Vec<ConnectionRun>) {
        rows.sort_by_key(|c| c.position);
        self.connection_runs.insert(run_id, rows);
        self.rebuild(false);
    }

    /// Progress of a running connection run; false when the row is not known.
    pub fn apply_progress(
        &mut self,
        run_id: RunId,
        position: u32,
        processed: u64,
        total: u64,
        counters: Counters,
    ) -> bool {
        let Some(row) = self
            .connection_runs
            .get_mut(&run_id)
            .and_then(|rows| rows.iter_mut().find(|c| c.position == position))
        else {
            return false;
        };
        row.processed = processed;
        row.total = total;
        row.counters = counters;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{RunMode, RunType, StoreOptions};
    use chrono::{TimeZone, Utc};

    fn run(status: RunStatus) -> Run {
        Run {
            id: 0,
            run_type: RunType::Full,
            mode: RunMode::Dry,
            status,
            started_at: Utc.with_ymd_and_hms(2025, 3, 14, 12, 0, 0).unwrap(),
            finished_at: None,
            serial: None,
            connections: vec!["cmdb".into(), "mdm".into()],
            credential_contexts: vec![],
            note: None,
            owner: None,
            trigger: None,
        }
    }

    fn store_with(runs: usize) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let options = StoreOptions { retention_days: 0 };
        let store = Store::open(dir.path().join("store.redb"), options).unwrap();
        for i in 0..runs {
            let status = if i % 10 == 3 {
                RunStatus::Failed
            } else {
                RunStatus::Completed
            };
            store.create_run(run(status)).unwrap();
        }
        (dir, store)
    }

    #[test]
    fn pages_load_as_the_selection_nears_the_end() {
        let (_dir, store) = store_with(450);
        let mut runs = RunList::load(&store).unwrap();
        assert_eq!(runs.loaded(), PAGE_SIZE);
        assert_eq!(runs.latest().unwrap().id, 450);
        runs.move_by(70);
        runs.update(&store).unwrap();
        assert_eq!(runs.loaded(), 2 * PAGE_SIZE);
        assert_eq!(runs.selected_run().unwrap().id, 380);
        runs.select_last();
        runs.update(&store).unwrap();
        assert!(runs.is_exhausted());
        assert_eq!(runs.selected_run().unwrap().id, 1);
    }

    #[test]
    fn a_filter_reads_on_until_it_has_enough_rows() {
        let (_dir, store) = store_with(1_000);
        let mut runs = RunList::load(&store).unwrap();
        runs.toggle_failures_only();
        runs.update(&store).unwrap();
        assert!(runs.rows().len() >= LOOKAHEAD);
        assert!(
            runs.rows()
                .iter()
                .all(|r| runs.run(r.run_id()).unwrap().status == RunStatus::Failed)
        );
        runs.set_status_filter(Some(RunStatus::Running));
        runs.update(&store).unwrap();
        assert_eq!(runs.status_filter(), Some(RunStatus::Running));
        assert!(runs.rows().is_empty());
        assert!(runs.clear_filters());
        runs.update(&store).unwrap();
        assert!(!runs.rows().is_empty());
    }

    #[test]
    fn expanding_lists_connections_in_order_and_collapse_goes_back() {
        let (_dir, store) = store_with(3);
        let mut runs = RunList::load(&store).unwrap();
        runs.move_by(1);
        assert!(runs.expand());
        runs.update(&store).unwrap();
        assert_eq!(
            &runs.rows()[1..4],
            &[
                Row::Run(2),
                Row::Connection {
                    run_id: 2,
                    position: 0
                },
                Row::Connection {
                    run_id: 2,
                    position: 1
                },
            ]
        );
        runs.move_by(2);
        runs.collapse();
        assert_eq!(runs.selected_row(), Some(Row::Run(2)));
        runs.collapse();
        assert_eq!(runs.rows().len(), 3);
    }

    #[test]
    fn a_new_run_on_top_keeps_a_selection_elsewhere() {
        let (_dir, store) = store_with(3);
        let mut runs = RunList::load(&store).unwrap();
        runs.move_by(1);
        let mut live = run(RunStatus::Running);
        live.id = 4;
        runs.upsert_run(live.clone());
        assert_eq!(runs.selected_run().unwrap().id, 2);
        runs.select_first();
        live.id = 5;
        runs.upsert_run(live);
        assert_eq!(runs.selected_run().unwrap().id, 5);
    }
}
