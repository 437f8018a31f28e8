//! `syncdeck triage [RUN_ID]` (SPEC sections 6 and 10): the console opened on a run's Failed
//! entries, the first one's details on screen — the command an alert names.
//!
//! It reads the store like `report`: with no config, or a config whose secrets are not set here,
//! the console still opens on the store alone (it can look, not run or resync: that needs the
//! connections and their credentials, and the banner says so).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::exit::{CommandError, Exit};
use super::setup::{Access, open_for_reading};
use crate::config::{self, Config, Environment, StoreSettings, UiSettings};
use crate::store::{EntryStatus, ReportFilter, RunId, Store};
use crate::ui::{self, AppOptions, UiExit};

/// Which run a triage opens on, or why it opens on none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolved {
    /// This run, which has Failed entries.
    Run(RunId),
    /// Nothing to open: the message, and how the command ends.
    Nothing(String, Exit),
}

/// The run to open: the one named, else the newest with Failed entries.
pub fn resolve(store: &Store, run_id: Option<RunId>) -> Result<Resolved, CommandError> {
    let Some(run_id) = run_id else {
        return Ok(match store.newest_run_with_failed_entries()? {
            Some(run_id) => Resolved::Run(run_id),
            None => Resolved::Nothing(
                format!(
                    "no run in {} has failed entries: nothing to triage",
                    store.path().display()
                ),
                Exit::Success,
            ),
        });
    };
    if store.get_run(run_id)?.is_none() {
        return Ok(Resolved::Nothing(
            format!(
                "no run {run_id} in {} (pruned, or another store?): `syncdeck report` lists what \
                 it keeps",
                store.path().display()
            ),
            Exit::Usage,
        ));
    }
    let failed = store.report_count(&ReportFilter {
        run: Some(run_id),
        statuses: vec![EntryStatus::Failed],
        ..ReportFilter::default()
    })?;
    Ok(match failed {
        0 => Resolved::Nothing(
            format!("run {run_id} has no failed entries (any more): nothing to triage"),
            Exit::Success,
        ),
        _ => Resolved::Run(run_id),
    })
}

/// Opens the console on the run's failures.
pub fn run(
    config_path: Option<&Path>,
    store_path: Option<&Path>,
    run_id: Option<RunId>,
) -> Result<Exit, CommandError> {
    let (reading, store) = open_for_reading(config_path, store_path, Access::Read)?;
    let run_id = match resolve(&store, run_id)? {
        Resolved::Run(run_id) => run_id,
        Resolved::Nothing(message, exit) => {
            eprintln!("syncdeck: {message}");
            return Ok(exit);
        }
    };
    let (config, banner) = console_config(reading, config_path, store.path());
    let runtime = tokio::runtime::Runtime::new().map_err(|source| CommandError::Io {
        context: "cannot start the async runtime".into(),
        source,
    })?;
    let theme = config.ui.theme;
    let exit = runtime
        .block_on(ui::run(
            Arc::new(config),
            store,
            AppOptions {
                theme,
                banner,
                triage: Some(run_id),
            },
        ))
        .map_err(|source| CommandError::Io {
            context: "the terminal".into(),
            source,
        })?;
    Ok(match exit {
        UiExit::Quit => Exit::Success,
        UiExit::Signal(number) => Exit::Signal(number),
    })
}

/// The config the console runs on: the real one when its secrets resolve here (the console can
/// then resync); else the store alone, with no connections, and a banner that says why.
fn console_config(
    reading: Option<Config>,
    config_path: Option<&Path>,
    store_path: &Path,
) -> (Config, Option<String>) {
    let Some(reading) = reading else {
        // One line at 80 columns; the store's path is in the jobs and report views' titles.
        let banner =
            "TRIAGE · no config: the store alone · look and export, no runs or resyncs".to_string();
        return (store_alone(store_path, UiSettings::default()), Some(banner));
    };
    match config::load(&reading.file, &Environment::process()) {
        Ok(config) => (config, None),
        Err(_) => {
            let file = config_path.map_or_else(|| reading.file.clone(), Path::to_path_buf);
            let banner = format!(
                "TRIAGE · secrets of {} not set: look and export, no runs or resyncs",
                file.file_name()
                    .map_or(file.display(), |name| Path::new(name).display())
            );
            (store_alone(store_path, reading.ui), Some(banner))
        }
    }
}

/// A config with no source, credential or connection: the console shows the store's history,
/// and refuses what would send.
fn store_alone(store_path: &Path, ui: UiSettings) -> Config {
    Config {
        file: PathBuf::from(store_path),
        sources: Vec::new(),
        credentials: Vec::new(),
        connections: Vec::new(),
        store: StoreSettings {
            path: Some(store_path.to_path_buf()),
            retention_days: 0,
        },
        ui,
        alerts: Vec::new(),
    }
}
