//! The report's background work: counting the report, selecting every match, planning a resync,
//! exporting to CSV, and telling how a resync's entries ended. Each job reads the store on its
//! own thread through the runner the App lends ([`crate::ui::screen::background`]); nothing
//! here blocks the screen. What each job reports comes back to [`Report::finish`].

use std::path::PathBuf;

use crate::engine::queries;
use crate::engine::{Command, LogLevel};
use crate::export;
use crate::store::{EntryStatus, Run, RunType, StoreError, SyncId};

use crate::ui::overlays::confirm::{Confirm, refusal_lines};
use crate::ui::screen::background::{BackgroundResult, ResyncScope};
use crate::ui::screen::overlay_stack::Overlay;
use crate::ui::screen::{Lend, Outcome};
use crate::ui::views::report::Report;
use crate::ui::widgets::format;

/// "1 entry", "1,204 entries".
pub(super) fn entries(n: usize) -> String {
    format!(
        "{} entr{}",
        format::count(n as u64),
        if n == 1 { "y" } else { "ies" }
    )
}

impl Report {
    /// The query changed: forget the page and the counts, and count again.
    pub(super) fn refresh_report(&mut self, lend: &mut Lend) {
        self.activity.stale = false;
        self.refresh(lend.now);
        self.start_count(lend);
    }

    /// Entries changed in the store (a run recorded some, a resync updated some): read the
    /// page again and count again, keeping the old counts on screen until the new ones come.
    pub fn reread(&mut self, lend: &mut Lend) -> Vec<Outcome> {
        self.activity.stale = false;
        if !self.opened {
            return Vec::new();
        }
        self.requery(lend.now);
        self.start_count(lend);
        vec![Outcome::Redraw]
    }

    /// A run recorded entries, or another process wrote: read again at the next tick while
    /// the report is on screen.
    pub fn mark_stale(&mut self) {
        self.activity.stale = true;
    }

    /// Once a second while the report is on screen (and no details are open over it): it
    /// follows a run's recorded entries.
    pub fn reread_if_stale(&mut self, lend: &mut Lend) -> Vec<Outcome> {
        if self.activity.stale {
            return self.reread(lend);
        }
        Vec::new()
    }

    /// Shown: counts and reads its first page the first time, reads again when stale.
    pub(super) fn show(&mut self, lend: &mut Lend) {
        if !self.opened {
            self.opened = true;
            self.refresh_report(lend);
        } else if self.activity.stale {
            self.reread(lend);
        }
    }

    /// The counts for the bottom border, for the draw.
    pub fn activity_line(&self) -> Option<String> {
        self.activity.activity()
    }

    fn start_count(&mut self, lend: &mut Lend) {
        if self.activity.counting {
            self.activity.recount = true;
            return;
        }
        self.activity.counting = true;
        let store = lend.store.clone();
        let generation = self.generation();
        let query = self.query();
        let window = self.window_query();
        lend.background.spawn(
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
    pub(super) fn start_select_all(&mut self, lend: &mut Lend) -> Vec<Outcome> {
        if self.activity.selecting {
            return vec![Outcome::say("still selecting the previous matches")];
        }
        self.activity.selecting = true;
        let store = lend.store.clone();
        let query = self.query();
        let sort = self.sort();
        lend.background.spawn(
            "select",
            move |_| BackgroundResult::AllMatching {
                ids: store.report_ids(&query, sort).map_err(|e| e.to_string()),
            },
            |panic| BackgroundResult::AllMatching { ids: Err(panic) },
        );
        Vec::new()
    }

    /// Asks the engine's resync plan which entries a resync can fix; the confirmation opens
    /// when it answers. `ids` None: every failed entry matching the filters.
    pub(super) fn start_resync_plan(
        &mut self,
        scope: ResyncScope,
        ids: Option<Vec<SyncId>>,
        lend: &mut Lend,
    ) -> Vec<Outcome> {
        if self.activity.planning {
            return vec![Outcome::say("still checking the previous resync")];
        }
        let mut failed = self.query();
        if ids.is_none() {
            if !failed.statuses.is_empty() && !failed.statuses.contains(&EntryStatus::Failed) {
                return vec![Outcome::error(
                    "nothing selected, and the status filter hides failed entries: select \
                     entries with Space or a, or filter on failed",
                )];
            }
            failed.statuses = vec![EntryStatus::Failed];
        }
        self.activity.planning = true;
        // A mass resync checks the health of its connections before it asks (one entry's
        // resync shows its own outcome soon enough).
        let mass = !matches!(scope, ResyncScope::Entry(_));
        self.activity.checking_health = mass;
        let store = lend.store.clone();
        let config = lend.config.clone();
        let sort = self.sort();
        let panic_scope = scope.clone();
        lend.background.spawn(
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
        Vec::new()
    }

    /// Writes every entry matching the filters to `path`, reporting progress.
    pub(super) fn start_export(&mut self, path: PathBuf, lend: &mut Lend) -> Vec<Outcome> {
        if self.activity.exporting.is_some() {
            return vec![Outcome::error("an export is still being written")];
        }
        self.activity.exporting = Some((0, self.matching().unwrap_or(0)));
        let store = lend.store.clone();
        let query = self.query();
        let sort = self.sort();
        let panic_path = path.clone();
        lend.background.spawn(
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
        Vec::new()
    }

    /// A run finished: a resync updated entries in place (show their new status now), and a
    /// Resync run's entries are counted (OK or still failed), in the background, for the
    /// message line.
    pub fn run_finished(&mut self, run: &Run, lend: &mut Lend) -> Vec<Outcome> {
        self.check_resync(run, lend);
        self.reread(lend)
    }

    fn check_resync(&mut self, run: &Run, lend: &mut Lend) {
        if run.run_type != RunType::Resync {
            return;
        }
        let Some(ids) = self.activity.resyncing.take() else {
            return;
        };
        let store = lend.store.clone();
        let run_id = run.id;
        lend.background.spawn(
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

    /// The confirmed resync: the engine runs it as a Resync run.
    pub fn resync_confirmed(&mut self, ids: Vec<SyncId>, lend: &Lend) -> Vec<Outcome> {
        const STOPPED: &str = "the engine has stopped: restart syncdeck to resync";
        if !lend.engine_running {
            return vec![Outcome::error(STOPPED)];
        }
        let count = ids.len();
        self.activity.resyncing = Some(ids.clone());
        let cleared = self.clear_selection();
        let mut text = format!(
            "resync of {} started: it shows as a Resync run in the jobs history",
            entries(count)
        );
        if cleared > 0 {
            text.push_str("; selection cleared");
        }
        vec![
            Outcome::Send {
                command: Command::Resync { entries: ids },
                stopped: STOPPED,
            },
            Outcome::FollowNextRun,
            Outcome::say(text),
        ]
    }

    /// One report of the report's background work, applied.
    pub(super) fn finish(&mut self, done: BackgroundResult, lend: &mut Lend) -> Vec<Outcome> {
        let mut out = vec![Outcome::Redraw];
        match done {
            BackgroundResult::Counted { generation, counts } => {
                self.activity.counting = false;
                match counts {
                    Ok((matching, in_window)) => {
                        self.apply_counts(generation, matching, in_window);
                    }
                    Err(e) => out.push(Outcome::error(format!("cannot count the report: {e}"))),
                }
                if std::mem::take(&mut self.activity.recount) {
                    self.start_count(lend);
                }
            }
            BackgroundResult::AllMatching { ids } => {
                self.activity.selecting = false;
                match ids {
                    Ok(ids) => {
                        let found = ids.len();
                        let added = self.select(ids);
                        out.push(Outcome::say(format!(
                            "selected {} matching the filters ({} newly); {} selected in all",
                            entries(found),
                            format::count(added as u64),
                            format::count(self.selected() as u64)
                        )));
                    }
                    Err(e) => out.push(Outcome::error(format!("cannot select: {e}"))),
                }
            }
            BackgroundResult::Planned {
                scope,
                plan,
                health,
            } => {
                self.activity.planning = false;
                self.activity.checking_health = false;
                out.extend(planned(scope, plan, health));
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
                    out.push(Outcome::Log(LogLevel::Info, text.clone()));
                    out.push(Outcome::Say {
                        text,
                        error: failed > 0,
                    });
                }
                Err(e) => out.push(Outcome::error(format!(
                    "cannot read the resynced entries: {e}"
                ))),
            },
            BackgroundResult::ExportProgress { written, total } => {
                self.activity.exporting = Some((written, total));
            }
            BackgroundResult::Exported { path, result } => {
                self.activity.exporting = None;
                match result {
                    Ok(rows) => {
                        let text =
                            format!("exported {} to {}", entries(rows as usize), path.display());
                        out.push(Outcome::Log(LogLevel::Info, text.clone()));
                        out.push(Outcome::say(text));
                    }
                    Err(e) => {
                        let text = format!("export failed: {e}");
                        out.push(Outcome::Log(LogLevel::Error, text.clone()));
                        out.push(Outcome::error(text));
                    }
                }
            }
            _ => {}
        }
        out
    }
}

/// A resync plan came (with the health of its connections, before a mass resync): the
/// confirmation, or why there is nothing to confirm.
fn planned(
    scope: ResyncScope,
    plan: Result<crate::engine::ResyncPlan, String>,
    health: Option<Vec<(String, Result<crate::engine::health::HealthReport, String>)>>,
) -> Vec<Outcome> {
    let mut out = Vec::new();
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
                out.push(Outcome::Health(connection, report));
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
                    out.push(Outcome::RefusedInDetails(reason.clone()));
                    format!("resync refused: {reason}")
                }
                (_, n) => {
                    format!("nothing to resync: {} refused ({reasons})", entries(n))
                }
            };
            out.push(Outcome::error(text));
        }
        Ok(plan) if !failures.is_empty() => {
            out.push(Outcome::Open(Overlay::Confirm(Confirm::resync_blocked(
                &plan, &failures,
            ))));
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
            out.push(Outcome::Open(Overlay::Confirm(confirm)));
        }
        Err(e) => out.push(Outcome::error(format!("cannot plan the resync: {e}"))),
    }
    out
}
