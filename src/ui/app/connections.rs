//! Keys of the Connections view, carried out: the details pane, the dry-run toggle (a store
//! override of the configuration), the health check in the background, and the background read
//! of contracts and last runs.

use std::collections::HashMap;

use crate::engine::health::HealthReport;
use crate::engine::{LogLevel, dry_run_override_key};
use crate::store::{RunMode, StoreError};

use crate::ui::action::Action;
use crate::ui::app::App;
use crate::ui::keymap::Context;
use crate::ui::screen::background::{BackgroundResult, StoreWrite};
use crate::ui::views::connections::Summary;
use crate::ui::widgets::status;

impl App {
    pub(super) fn on_connections(
        &mut self,
        context: Context,
        action: Action,
    ) -> Result<(), StoreError> {
        let view = &mut self.connections;
        match action {
            Action::Up => view.move_by(&self.config, -1),
            Action::Down => view.move_by(&self.config, 1),
            Action::Top => view.move_by(&self.config, isize::MIN),
            Action::Bottom => view.move_by(&self.config, isize::MAX),
            Action::Expand => view.details = !view.details,
            Action::Back => view.details = false,
            Action::ToggleDryRun => self.toggle_dry_run()?,
            Action::CheckHealth => {
                if let Some(name) = view.current(&self.config).map(|c| c.name.clone()) {
                    self.start_health_check(name);
                }
            }
            _ if action.is_common_to_views() => return self.on_view(context, action),
            _ => {}
        }
        Ok(())
    }

    /// `D`: the selected connection's dry-run default flips; an override equal to the
    /// configuration's own value is removed instead of kept. Written in the background.
    fn toggle_dry_run(&mut self) -> Result<(), StoreError> {
        let Some(connection) = self.connections.current(&self.config).cloned() else {
            return Ok(());
        };
        let (mode, _) = self.connections.mode(&connection);
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
        self.store_in_background(write);
        Ok(())
    }

    /// Runs a small store write off the UI thread; [`App::on_stored`] tells how it went.
    pub(super) fn store_in_background(&mut self, write: StoreWrite) {
        let store = self.store.clone();
        let failed = write.clone();
        self.background.spawn(
            "store-write",
            move |_| {
                let result = write.apply(&store);
                BackgroundResult::Stored { write, result }
            },
            move |panic| BackgroundResult::Stored {
                write: failed,
                result: Err(panic),
            },
        );
    }

    /// A store write asked for by a key is done.
    pub(super) fn on_stored(&mut self, write: StoreWrite, result: Result<bool, String>) {
        match (write, result) {
            (StoreWrite::DryRunOverride { text, .. }, Ok(_)) => {
                if let Err(e) = self.connections.read_overrides(&self.config, &self.store) {
                    self.show_message(format!("cannot read the dry-run overrides: {e}"), true);
                    return;
                }
                self.log(LogLevel::Info, text.clone());
                self.show_message(text, false);
            }
            (StoreWrite::DryRunOverride { .. }, Err(e)) => {
                self.show_message(format!("cannot keep the dry-run override: {e}"), true);
            }
            (
                StoreWrite::ContractDeleted {
                    connection,
                    origin_id,
                },
                result,
            ) => self.on_contract_deleted(&connection, &origin_id, result),
            (StoreWrite::CancelRequested { run_id }, result) => {
                self.on_cancel_requested(run_id, result)
            }
        }
    }

    /// `H`: checks one connection in the background; the row says "checking…" meanwhile.
    pub(super) fn start_health_check(&mut self, name: String) {
        if !self.connections.checking.insert(name.clone()) {
            self.show_message(format!("{name}: still checking"), false);
            return;
        }
        let config = self.config.clone();
        let store = self.store.clone();
        let panic_name = name.clone();
        self.background.spawn(
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
        self.dirty = true;
    }

    pub(super) fn on_health_checked(
        &mut self,
        connection: String,
        report: Result<HealthReport, String>,
    ) {
        self.connections.checking.remove(&connection);
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
                self.log(
                    if failed {
                        LogLevel::Warn
                    } else {
                        LogLevel::Info
                    },
                    text.clone(),
                );
                self.show_message(text, failed);
                self.connections.health.insert(connection, report);
            }
            Err(e) => {
                self.show_message(format!("{connection}: cannot check the health: {e}"), true)
            }
        }
    }

    /// Reads contracts and last runs again when something changed since the last read.
    pub(super) fn refresh_connections_if_stale(&mut self) {
        if !self.connections.stale || self.connections.loading {
            return;
        }
        self.connections.stale = false;
        self.connections.loading = true;
        let config = self.config.clone();
        let store = self.store.clone();
        self.background.spawn(
            "connections",
            move |_| BackgroundResult::Summarized {
                summaries: crate::ui::views::connections::summary::summarize(&config, &store)
                    .map_err(|e| e.to_string()),
            },
            |panic| BackgroundResult::Summarized {
                summaries: Err(panic),
            },
        );
    }

    pub(super) fn on_summarized(&mut self, summaries: Result<HashMap<String, Summary>, String>) {
        self.connections.loading = false;
        match summaries {
            Ok(summaries) => self.connections.summaries = Some(summaries),
            Err(e) => self.show_message(format!("cannot read the connections' history: {e}"), true),
        }
        if self.connections.stale && self.view == crate::ui::app::View::Connections {
            self.refresh_connections_if_stale();
        }
    }
}
