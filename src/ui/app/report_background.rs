//! The report's background work, started from keys and finished here: counting the report,
//! selecting every match, planning a resync, exporting to CSV. Each job reads the store on its
//! own thread and reports through [`crate::ui::app::background`]; nothing here blocks the screen.

use std::path::PathBuf;

use crate::engine::queries;
use crate::engine::{Command, LogLevel};
use crate::export;
use crate::store::{EntryStatus, Run, RunType, StoreError, SyncId};

use crate::ui::app::background::{BackgroundResult, ResyncScope};
use crate::ui::app::overlay_stack::Overlay;
use crate::ui::app::{App, View};
use crate::ui::overlays::confirm::{Confirm, refusal_lines};
use crate::ui::widgets::format;

fn entries(n: usize) -> String {
    format!(
        "{} entr{}",
        format::count(n as u64),
        if n == 1 { "y" } else { "ies" }
    )
}

impl App {
    /// The query changed: forget the page and the counts, and count again.
    pub(super) fn refresh_report(&mut self) {
        self.report_activity.stale = false;
        self.report.refresh(self.clock.now());
        self.start_count();
        self.dirty = true;
    }

    /// Entries changed in the store (a run recorded some, a resync updated some): read the
    /// page again and count again, keeping the old counts on screen until the new ones come.
    pub(super) fn reread_report(&mut self) {
        self.report_activity.stale = false;
        if !self.report.opened {
            return;
        }
        self.report.requery(self.clock.now());
        self.start_count();
        self.dirty = true;
    }

    /// Once a second: the report follows a run's recorded entries while it is on screen.
    pub(super) fn refresh_report_if_stale(&mut self) {
        if self.report_activity.stale && self.view == View::Report && !self.overlays.has_details() {
            self.reread_report();
        }
    }

    fn start_count(&mut self) {
        if self.report_activity.counting {
            self.report_activity.recount = true;
            return;
        }
        self.report_activity.counting = true;
        let store = self.store.clone();
        let generation = self.report.generation();
        let query = self.report.query();
        let window = self.report.window_query();
        self.background.spawn(
            "count",
            move |_| {
                let count = || -> Result<(u64, u64), StoreError> {
                    let matching = store.report_count(&query)?;
                    let in_window = if query == window {
                        matching
                    } else {
                        store.report_count(&window)?
                    };
                    Ok((matching, in_window))
                };
                BackgroundResult::Counted {
                    generation,
                    counts: count().map_err(|e| e.to_string()),
                }
            },
            move |panic| BackgroundResult::Counted {
                generation,
                counts: Err(panic),
            },
        );
    }

    /// `a`: every entry matching the filters, not only the page on screen.
    pub(super) fn start_select_all(&mut self) {
        if self.report_activity.selecting {
            self.show_message("still selecting the previous matches", false);
            return;
        }
        self.report_activity.selecting = true;
        let store = self.store.clone();
        let query = self.report.query();
        let sort = self.report.sort();
        self.background.spawn(
            "select",
            move |_| BackgroundResult::AllMatching {
                ids: store.report_ids(&query, sort).map_err(|e| e.to_string()),
            },
            |panic| BackgroundResult::AllMatching { ids: Err(panic) },
        );
        self.dirty = true;
    }

    /// Asks the engine's resync plan which entries a resync can fix; the confirmation opens
    /// when it answers. `ids` None: every failed entry matching the filters.
    pub(super) fn start_resync_plan(&mut self, scope: ResyncScope, ids: Option<Vec<SyncId>>) {
        if self.report_activity.planning {
            self.show_message("still checking the previous resync", false);
            return;
        }
        let mut failed = self.report.query();
        if ids.is_none() {
            if !failed.statuses.is_empty() && !failed.statuses.contains(&EntryStatus::Failed) {
                self.show_message(
                    "nothing selected, and the status filter hides failed entries: select \
                     entries with Space or a, or filter on failed",
                    true,
                );
                return;
            }
            failed.statuses = vec![EntryStatus::Failed];
        }
        self.report_activity.planning = true;
        // A mass resync checks the health of its connections before it asks (one entry's
        // resync shows its own outcome soon enough).
        let mass = !matches!(scope, ResyncScope::Entry(_));
        self.report_activity.checking_health = mass;
        let store = self.store.clone();
        let config = self.config.clone();
        let sort = self.report.sort();
        let panic_scope = scope.clone();
        self.background.spawn(
            "resync-plan",
            move |_| {
                let plan = || -> Result<_, StoreError> {
                    let ids = match ids {
                        Some(ids) => ids,
                        None => store.report_ids(&failed, sort)?,
                    };
                    queries::plan_resync(&config, &store, &ids)
                };
                let plan = plan().map_err(|e| e.to_string());
                let health =
                    match &plan {
                        Ok(plan) if mass && !plan.is_empty() => Some(
                            queries::check_health_blocking(&config, &store, &plan.connections),
                        ),
                        _ => None,
                    };
                BackgroundResult::Planned {
                    scope,
                    plan,
                    health,
                }
            },
            move |panic| BackgroundResult::Planned {
                scope: panic_scope,
                plan: Err(panic),
                health: None,
            },
        );
        self.dirty = true;
    }

    /// Writes every entry matching the filters to `path`, reporting progress.
    pub(super) fn start_export(&mut self, path: PathBuf) {
        if self.report_activity.exporting.is_some() {
            self.show_message("an export is still being written", true);
            return;
        }
        self.report_activity.exporting = Some((0, self.report.matching().unwrap_or(0)));
        let store = self.store.clone();
        let query = self.report.query();
        let sort = self.report.sort();
        let panic_path = path.clone();
        self.background.spawn(
            "export",
            move |reporter| {
                let mut last = std::time::Instant::now();
                let mut progress = |written: u64, total: u64| {
                    // Several thousand rows a report; at most ten a second reach the screen.
                    if last.elapsed().as_millis() >= 100 || written == 0 {
                        last = std::time::Instant::now();
                        reporter.send(BackgroundResult::ExportProgress { written, total });
                    }
                };
                let result = export::export_csv(&store, &query, sort, &path, &mut progress)
                    .map_err(|e| e.to_string());
                BackgroundResult::Exported { path, result }
            },
            move |panic| BackgroundResult::Exported {
                path: panic_path,
                result: Err(panic),
            },
        );
        self.dirty = true;
    }

    /// A Resync run finished: count how its entries ended (OK or still failed), in the
    /// background, for the message line.
    pub(super) fn check_resync(&mut self, run: &Run) {
        if run.run_type != RunType::Resync {
            return;
        }
        let Some(ids) = self.report_activity.resyncing.take() else {
            return;
        };
        let store = self.store.clone();
        let run_id = run.id;
        self.background.spawn(
            "resync-check",
            move |_| {
                let counts = store.entries_by_ids(&ids).map(|entries| {
                    let ok = entries
                        .iter()
                        .filter(|e| e.status == EntryStatus::Ok)
                        .count();
                    let failed = entries
                        .iter()
                        .filter(|e| e.status == EntryStatus::Failed)
                        .count();
                    (ok, failed, entries.len() - ok - failed)
                });
                BackgroundResult::ResyncChecked {
                    run_id,
                    counts: counts.map_err(|e| e.to_string()),
                }
            },
            move |panic| BackgroundResult::ResyncChecked {
                run_id,
                counts: Err(panic),
            },
        );
    }

    /// One background report, applied.
    pub(super) fn on_background(&mut self, done: BackgroundResult) {
        self.dirty = true;
        match done {
            BackgroundResult::PickerCounted { kind, counts } => {
                self.on_picker_counted(kind, counts)
            }
            BackgroundResult::Diagnosed {
                run_id,
                connection,
                result,
            } => self.on_diagnosed(run_id, connection, result),
            BackgroundResult::Counted { generation, counts } => {
                self.report_activity.counting = false;
                match counts {
                    Ok((matching, in_window)) => {
                        self.report.apply_counts(generation, matching, in_window);
                    }
                    Err(e) => self.show_message(format!("cannot count the report: {e}"), true),
                }
                if std::mem::take(&mut self.report_activity.recount) {
                    self.start_count();
                }
            }
            BackgroundResult::AllMatching { ids } => {
                self.report_activity.selecting = false;
                match ids {
                    Ok(ids) => {
                        let found = ids.len();
                        let added = self.report.select(ids);
                        self.show_message(
                            format!(
                                "selected {} matching the filters ({} newly); {} selected in all",
                                entries(found),
                                format::count(added as u64),
                                format::count(self.report.selected() as u64)
                            ),
                            false,
                        );
                    }
                    Err(e) => self.show_message(format!("cannot select: {e}"), true),
                }
            }
            BackgroundResult::Planned {
                scope,
                plan,
                health,
            } => {
                self.report_activity.planning = false;
                self.report_activity.checking_health = false;
                let mut failures = Vec::new();
                let mut healthy = Vec::new();
                for (connection, result) in health.into_iter().flatten() {
                    match result {
                        Ok(report) => {
                            match report.failed_step() {
                                Some(step) => failures.push((
                                    connection.clone(),
                                    format!("{} failed: {}", step.kind.label(), step.detail),
                                    step.hint.clone(),
                                )),
                                None if !report.is_ok() => failures.push((
                                    connection.clone(),
                                    "the check did not finish every step".to_string(),
                                    None,
                                )),
                                None => healthy.push(report.clone()),
                            }
                            self.connections.health.insert(connection, report);
                        }
                        Err(e) => failures.push((connection, format!("cannot check: {e}"), None)),
                    }
                }
                match plan {
                    Ok(plan) if plan.is_empty() => {
                        let reasons = refusal_lines(&plan, 2)
                            .iter()
                            .map(|l| l.trim_start_matches("  • ").to_string())
                            .collect::<Vec<_>>()
                            .join("; ");
                        let text = match (&scope, plan.refused.len()) {
                            (_, 0) => match scope {
                                ResyncScope::FailedInFilter => {
                                    "no failed entry matches the filters: nothing to resync".into()
                                }
                                _ => "nothing to resync".to_string(),
                            },
                            (ResyncScope::Entry(_), _) => {
                                let reason = plan.refused[0].1.clone();
                                if let Some(details) = self.overlays.topmost_details() {
                                    details.refused = Some(reason.clone());
                                }
                                format!("resync refused: {reason}")
                            }
                            (_, n) => {
                                format!("nothing to resync: {} refused ({reasons})", entries(n))
                            }
                        };
                        self.show_message(text, true);
                    }
                    Ok(plan) if !failures.is_empty() => {
                        self.overlays
                            .push(Overlay::Confirm(Confirm::resync_blocked(&plan, &failures)));
                    }
                    Ok(plan) => {
                        let mut confirm = Confirm::resync(&plan);
                        if !healthy.is_empty() {
                            confirm = confirm.with_health_ok(&healthy);
                        }
                        if scope == ResyncScope::FailedInFilter {
                            confirm.title = format!(
                                "Resync the {} failed in this filter?",
                                entries(plan.accepted.len())
                            );
                            confirm.lines.insert(
                                0,
                                "Nothing is selected: this takes every failed entry matching the \
                                 filters (Space or a selects instead)."
                                    .into(),
                            );
                        }
                        self.overlays.push(Overlay::Confirm(confirm));
                    }
                    Err(e) => self.show_message(format!("cannot plan the resync: {e}"), true),
                }
            }
            BackgroundResult::ResyncChecked { run_id, counts } => match counts {
                Ok((ok, failed, other)) => {
                    let total = ok + failed + other;
                    let mut text = format!(
                        "resync run #{run_id}: {} of {} now OK",
                        format::count(ok as u64),
                        entries(total)
                    );
                    if failed > 0 {
                        text.push_str(&format!(
                            ", {} still failed (Enter on one says why)",
                            format::count(failed as u64)
                        ));
                    }
                    if other > 0 {
                        text.push_str(&format!(
                            ", {} pending or sent",
                            format::count(other as u64)
                        ));
                    }
                    self.log(LogLevel::Info, text.clone());
                    self.show_message(text, failed > 0);
                }
                Err(e) => self.show_message(format!("cannot read the resynced entries: {e}"), true),
            },
            BackgroundResult::Summarized { summaries } => self.on_summarized(summaries),
            BackgroundResult::HealthChecked { connection, report } => {
                self.on_health_checked(connection, report)
            }
            BackgroundResult::Stored { write, result } => self.on_stored(write, result),
            BackgroundResult::ApplyPlanned { run_id, counts } => {
                self.on_apply_planned(run_id, counts)
            }
            BackgroundResult::ExportProgress { written, total } => {
                self.report_activity.exporting = Some((written, total));
            }
            BackgroundResult::Exported { path, result } => {
                self.report_activity.exporting = None;
                match result {
                    Ok(rows) => {
                        let text =
                            format!("exported {} to {}", entries(rows as usize), path.display());
                        self.log(LogLevel::Info, text.clone());
                        self.show_message(text, false);
                    }
                    Err(e) => {
                        let text = format!("export failed: {e}");
                        self.log(LogLevel::Error, text.clone());
                        self.show_message(text, true);
                    }
                }
            }
        }
    }

    /// The confirmed resync: the engine runs it as a Resync run.
    pub(super) fn send_resync(&mut self, ids: Vec<SyncId>) {
        let count = ids.len();
        let ids_sent = ids.clone();
        if self
            .commands
            .send(Command::Resync { entries: ids })
            .is_err()
        {
            self.show_message("the engine has stopped: restart syncdeck to resync", true);
            return;
        }
        let cleared = self.report.clear_selection();
        self.report_activity.resyncing = Some(ids_sent);
        self.follow_next_run = true;
        let mut text = format!(
            "resync of {} started: it shows as a Resync run in the jobs history",
            entries(count)
        );
        if cleared > 0 {
            text.push_str("; selection cleared");
        }
        self.show_message(text, false);
    }
}
