//! What each subcommand does; `main` parses and hands over here.

mod cancel;
mod check;
mod check_config;
mod contracts;
mod demo_server;
mod exit;
mod report;
mod resync;
mod run;
mod setup;
mod store;
pub mod triage;
mod tui;

pub use exit::{CommandError, Exit};

use crate::cli::{Cli, Command, StoreCommand};
use crate::engine::{RunRequest, RunScope};
use crate::store::{FailureClass, RunMode, StoreOptions, Trigger};
use setup::{Access, load_config, open_for_reading, open_store, open_store_at, store_path};

/// Runs the parsed command line.
pub fn dispatch(cli: Cli) -> Result<Exit, CommandError> {
    match cli.command {
        Some(Command::Run {
            connections,
            full,
            single,
            apply,
            dry_run,
            live,
            json,
            force,
            trigger,
        }) => {
            let Some(trigger) = headless_trigger(trigger.as_deref()) else {
                return Ok(Exit::Usage);
            };
            let config = load_config(cli.config.as_deref())?;
            crate::store::use_write_cache();
            let store = open_store(cli.store.as_deref(), &config, Access::Write)?;
            if let Some(run_id) = apply {
                return run::apply(config, store, trigger, run_id, connections, json);
            }
            let scope = match (full, single) {
                (_, Some(serial)) => RunScope::Single(serial),
                _ => RunScope::Full,
            };
            let mode = match (dry_run, live) {
                (true, _) => Some(RunMode::Dry),
                (_, true) => Some(RunMode::Live),
                _ => None,
            };
            let request = RunRequest {
                scope,
                connections,
                mode,
                force,
            };
            run::run(config, store, trigger, request, json)
        }
        Some(Command::Resync {
            entries,
            failed,
            connections,
            yes,
            json,
            trigger,
        }) => {
            let Some(trigger) = headless_trigger(trigger.as_deref()) else {
                return Ok(Exit::Usage);
            };
            let config = load_config(cli.config.as_deref())?;
            let store = open_store(cli.store.as_deref(), &config, Access::Write)?;
            let chosen = match failed {
                true => resync::Chosen::Failed { connections },
                false => resync::Chosen::Entries(entries),
            };
            resync::run(config, store, trigger, chosen, yes, json)
        }
        Some(Command::Cancel { run_id, abandon }) => {
            let config = load_config(cli.config.as_deref())?;
            let store = open_store(cli.store.as_deref(), &config, Access::Write)?;
            match abandon {
                true => cancel::abandon(&store, run_id),
                false => cancel::run(&store, run_id),
            }
        }
        Some(Command::Check { connections, json }) => {
            let config = load_config(cli.config.as_deref())?;
            check::run(config, cli.store.as_deref(), connections, json)
        }
        Some(Command::Contracts {
            connection,
            delete,
            search,
            json,
        }) => {
            let access = match delete {
                Some(_) => Access::Write,
                None => Access::Read,
            };
            let (config, store) =
                open_for_reading(cli.config.as_deref(), cli.store.as_deref(), access)?;
            contracts::run(config.as_ref(), &store, connection, delete, search, json)
        }
        Some(Command::CheckConfig { path }) => {
            let path = path
                .or(cli.config)
                .unwrap_or_else(crate::paths::default_config_file);
            check_config::run(&path)
        }
        Some(Command::DemoServer {
            port,
            fleet_size,
            seed,
        }) => demo_server::run(port, fleet_size as usize, seed),
        Some(Command::Report {
            statuses,
            outcomes,
            fixable,
            not_syncable,
            days,
            search,
            connections,
            run,
            sort,
            desc,
            asc,
            format,
        }) => {
            let (config, store) =
                open_for_reading(cli.config.as_deref(), cli.store.as_deref(), Access::Read)?;
            let failure = if fixable {
                Some(FailureClass::Fixable)
            } else if not_syncable {
                Some(FailureClass::NotSyncable)
            } else {
                None
            };
            let args = report::ReportArgs {
                statuses,
                outcomes,
                failure,
                days,
                search,
                connections,
                run,
                sort,
                descending: desc,
                ascending: asc,
                format,
            };
            report::run(config.as_ref(), &store, &args)
        }
        Some(Command::Triage { run_id }) => {
            triage::run(cli.config.as_deref(), cli.store.as_deref(), run_id)
        }
        Some(Command::Store(StoreCommand::Compact)) => {
            // The store's path is all it needs: a config is read only when there is one.
            let (path, options) = match (load_config(cli.config.as_deref()), cli.store) {
                (Ok(config), given) => (
                    store_path(given.as_deref(), &config),
                    StoreOptions {
                        retention_days: config.store.retention_days,
                    },
                ),
                // Without the config its retention is unknown: prune nothing.
                (Err(CommandError::NoConfig(_)), Some(given)) => {
                    (given, StoreOptions { retention_days: 0 })
                }
                (Err(error), _) => return Err(error),
            };
            let store = open_store_at(path, options, Access::Write)?;
            store::compact(&store)
        }
        Some(Command::Demo) => tui::run(None, cli.store.as_deref(), true),
        None => tui::run(cli.config.as_deref(), cli.store.as_deref(), false),
    }
}

/// The trigger of a headless command (`--trigger`, `SYNCDECK_TRIGGER`, systemd); None, with
/// the reason printed, when the name given is not one.
fn headless_trigger(given: Option<&str>) -> Option<Trigger> {
    match Trigger::for_headless(given) {
        Ok(trigger) => Some(trigger),
        Err(reason) => {
            eprintln!("syncdeck: --trigger: {reason}");
            None
        }
    }
}
