//! The Connections view's actions: the details pane, the dry-run toggle (a store override of the
//! configuration, written in the background), the health check in the background, and the
//! background read of contracts and last runs.

use crate::engine::health::HealthReport;
use crate::engine::{LogLevel, dry_run_override_key};
use crate::store::{RunMode, RunType};

use crate::ui::action::Action;
use crate::ui::keymap::Context;
use crate::ui::screen::background::{BackgroundResult, StoreWrite};
use crate::ui::screen::{FailedOf, Lend, Outcome, Screen};
use crate::ui::views::connections::ConnectionsView;
use crate::ui::views::connections::summary;
use crate::ui::widgets::status;

impl ConnectionsView {
    /// Something changed that the rows show (a run finished, a contract was deleted): read
    /// contracts and last runs again the next time the view is shown.
    pub fn mark_stale(&mut self) {
        self.stale = true;
    }

    /// A health check made elsewhere (before a mass resync).
    pub fn learn_health(&mut self, connection: String, report: HealthReport) {
        self.health.insert(connection, report);
    }

    /// Reads contracts and last runs again (in the background) when something changed since
    /// the last read.
    pub fn refresh_if_stale(&mut self, lend: &mut Lend) {
        if !self.stale || self.loading {
            return;
        }
        self.stale = false;
        self.loading = true;
        let config = lend.config.clone();
        let store = lend.store.clone();
        lend.background.spawn(
            "connections",
            move |_| BackgroundResult::Summarized {
                summaries: summary::summarize(&config, &store).map_err(|e| e.to_string()),
            },
            |panic| BackgroundResult::Summarized {
                summaries: Err(panic),
            },
        );
    }

    /// `D`: the selected connection's dry-run default flips; an override equal to the
    /// configuration's own value is removed instead of kept. Written in the background.
    fn toggle_dry_run(&mut self, lend: &mut Lend) {
        let Some(connection) = self.current(lend.config).cloned() else {
            return;
        };
        let (mode, _) = self.mode(&connection);
        let dry = mode == RunMode::Live;
        let key = dry_run_override_key(&connection.name);
        let write = if dry == connection.dry_run {
            StoreWrite::DryRunOverride {
                key,
                value: None,
                text: format!(
                    "{}: {} again, as the configuration says (override removed)",
                    connection.name,
                    status::mode(if dry { RunMode::Dry } else { RunMode::Live })
                ),
            }
        } else {
            StoreWrite::DryRunOverride {
                key,
                value: Some(if dry { "true" } else { "false" }),
                text: format!(
                    "{}: {} by default now (override kept in the store; the configuration says \
                     {})",
                    connection.name,
                    if dry { "Dry" } else { "Live" },
                    if connection.dry_run { "Dry" } else { "Live" }
                ),
            }
        };
        lend.background.write(lend.store, write);
    }

    /// `H`: checks one connection in the background; the row says "checking…" meanwhile.
    fn start_health_check(&mut self, name: String, lend: &mut Lend) -> Vec<Outcome> {
        if !self.checking.insert(name.clone()) {
            return vec![Outcome::say(format!("{name}: still checking"))];
        }
        let config = lend.config.clone();
        let store = lend.store.clone();
        let panic_name = name.clone();
        lend.background.spawn(
            "health",
            move |_| {
                let mut results = crate::engine::queries::check_health_blocking(
                    &config,
                    &store,
                    std::slice::from_ref(&name),
                );
                let report = results
                    .pop()
                    .map_or_else(|| Err("the check stopped".to_string()), |(_, r)| r);
                BackgroundResult::HealthChecked {
                    connection: name,
                    report,
                }
            },
            move |panic| BackgroundResult::HealthChecked {
                connection: panic_name,
                report: Err(panic),
            },
        );
        vec![Outcome::Redraw]
    }

    fn on_health_checked(
        &mut self,
        connection: String,
        report: Result<HealthReport, String>,
    ) -> Vec<Outcome> {
        self.checking.remove(&connection);
        match report {
            Ok(report) => {
                let text = match report.failed_step() {
                    Some(step) => format!(
                        "{connection}: health ✖ {} failed: {}",
                        step.kind.label(),
                        step.detail
                    ),
                    None => {
                        let ms: u64 = report.steps.iter().filter_map(|s| s.latency_ms).sum();
                        format!("{connection}: health ✔ ok ({ms} ms)")
                    }
                };
                let failed = !report.is_ok();
                self.health.insert(connection, report);
                let level = if failed {
                    LogLevel::Warn
                } else {
                    LogLevel::Info
                };
                vec![
                    Outcome::Log(level, text.clone()),
                    Outcome::Say {
                        text,
                        error: failed,
                    },
                ]
            }
            Err(e) => vec![Outcome::error(format!(
                "{connection}: cannot check the health: {e}"
            ))],
        }
    }
}

impl Screen for ConnectionsView {
    fn context(&self) -> Context {
        Context::Connections
    }

    fn handle(&mut self, action: Action, lend: &mut Lend) -> Vec<Outcome> {
        let config = lend.config;
        match action {
            Action::Up => self.move_by(config, -1),
            Action::Down => self.move_by(config, 1),
            Action::Top => self.move_by(config, isize::MIN),
            Action::Bottom => self.move_by(config, isize::MAX),
            Action::Expand => self.details = !self.details,
            Action::Back => self.details = false,
            Action::ToggleDryRun => self.toggle_dry_run(lend),
            Action::OpenEntries => {
                let Some(name) = self.current(config).map(|c| c.name.clone()) else {
                    return Vec::new();
                };
                return match self.last_run(&name) {
                    Some(last) => {
                        let (live, dry) = match last.mode {
                            RunMode::Live => (last.failed, 0),
                            RunMode::Dry => (0, last.failed),
                        };
                        let failed = FailedOf {
                            run_id: last.run_id,
                            connection: Some(name),
                            live,
                            dry,
                            resync_started: (last.run_type == RunType::Resync).then_some(last.at),
                        };
                        Outcome::entries_of(failed)
                    }
                    None => vec![Outcome::error(format!("{name} has not run yet"))],
                };
            }
            Action::CheckHealth => {
                if let Some(name) = self.current(config).map(|c| c.name.clone()) {
                    return self.start_health_check(name, lend);
                }
            }
            _ => {}
        }
        Vec::new()
    }

    fn shown(&mut self, lend: &mut Lend) -> Vec<Outcome> {
        self.refresh_if_stale(lend);
        Vec::new()
    }

    fn on_background(&mut self, done: BackgroundResult, lend: &mut Lend) -> Vec<Outcome> {
        match done {
            BackgroundResult::Summarized { summaries } => {
                self.loading = false;
                let mut out = Vec::new();
                match summaries {
                    Ok(summaries) => self.summaries = Some(summaries),
                    Err(e) => out.push(Outcome::error(format!(
                        "cannot read the connections' history: {e}"
                    ))),
                }
                out
            }
            BackgroundResult::HealthChecked { connection, report } => {
                self.on_health_checked(connection, report)
            }
            BackgroundResult::Stored {
                write: StoreWrite::DryRunOverride { text, .. },
                result: Ok(_),
            } => {
                // A background result, not a key: the overrides are a few settings.
                if let Err(e) = self.read_overrides(lend.config, lend.store) {
                    return vec![Outcome::error(format!(
                        "cannot read the dry-run overrides: {e}"
                    ))];
                }
                vec![
                    Outcome::Log(LogLevel::Info, text.clone()),
                    Outcome::say(text),
                ]
            }
            BackgroundResult::Stored {
                write: StoreWrite::DryRunOverride { .. },
                result: Err(e),
            } => vec![Outcome::error(format!(
                "cannot keep the dry-run override: {e}"
            ))],
            _ => Vec::new(),
        }
    }
}
