//! What each subcommand does; `main` parses and hands over here.

mod cancel;
mod check;
mod check_config;
mod contracts;
mod demo_server;
mod report;
mod resync;
mod run;
mod store;
mod tui;

use std::process::ExitCode;

use std::path::{Path, PathBuf};

use crate::cli::{Cli, Command, StoreCommand};
use crate::config::{self, Config, ConfigError, Environment};
use crate::engine::{RunRequest, RunScope};
use crate::store::{RunMode, Store, StoreError, StoreOptions, Trigger};

/// The exit codes of SPEC section 6, and the conventional 128 + N after signal N.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Everything worked.
    Success,
    /// The job ran but some records failed.
    RecordsFailed,
    /// Bad usage or configuration.
    Usage,
    /// The store is unreadable (or read-only for a command that writes), or a connection is
    /// held by another process's Live run.
    Store,
    /// Ended by this signal (SIGHUP 1, SIGINT 2, SIGTERM 15).
    Signal(i32),
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::RecordsFailed => 1,
            Exit::Usage => 2,
            Exit::Store => 3,
            Exit::Signal(number) => 128u8.saturating_add(number.clamp(0, 127) as u8),
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit.code())
    }
}

/// A command that could not do its job, with the exit code that says why.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("no config at {}: write one (see config.example.toml), pass --config, or try `syncdeck demo`", .0.display())]
    NoConfig(PathBuf),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// The store could not record (a full disk): the lines that say so and what to do.
    #[error("{}", .0.join("\nsyncdeck: "))]
    Recording(Vec<String>),
}

impl CommandError {
    /// The exit code for this error.
    pub fn exit(&self) -> Exit {
        match self {
            CommandError::Config(_) | CommandError::NoConfig(_) => Exit::Usage,
            CommandError::Store(e) if e.exit_code() == 3 => Exit::Store,
            CommandError::Recording(_) => Exit::Store,
            CommandError::Store(_) | CommandError::Io { .. } => Exit::RecordsFailed,
        }
    }
}

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
            let args = report::ReportArgs {
                statuses,
                outcomes,
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

/// Loads the config named on the command line, else the platform default.
fn load_config(path: Option<&Path>) -> Result<Config, CommandError> {
    let path = path
        .map(Path::to_path_buf)
        .unwrap_or_else(crate::paths::default_config_file);
    if !path.exists() {
        return Err(CommandError::NoConfig(path));
    }
    Ok(config::load(&path, &Environment::process())?)
}

/// The config and store of a command that sends nothing (`report`, `contracts`): what it needs
/// is in the store, so no credential has to be set (an unresolved secret reads as empty), and
/// with no config file at all the store is read alone — `--store`, else the platform's default
/// store when it exists. A config that is there but wrong is still an error.
fn open_for_reading(
    config: Option<&Path>,
    store: Option<&Path>,
    access: Access,
) -> Result<(Option<Config>, Store), CommandError> {
    let config_path = config
        .map(Path::to_path_buf)
        .unwrap_or_else(crate::paths::default_config_file);
    if config_path.exists() {
        let config = config::load(&config_path, &Environment::for_reading())?;
        let store = open_store(store, &config, access)?;
        return Ok((Some(config), store));
    }
    // A config named outright must be there; the store alone is read only when none was named.
    let store_path = match (config, store) {
        (Some(_), _) => return Err(CommandError::NoConfig(config_path)),
        (None, Some(path)) => path.to_path_buf(),
        (None, None) if crate::paths::default_store_file().exists() => {
            crate::paths::default_store_file()
        }
        (None, None) => return Err(CommandError::NoConfig(config_path)),
    };
    // Reading makes nothing: a store that is not there is not created empty.
    if !store_path.exists() {
        return Err(StoreError::Unreadable {
            path: store_path,
            reason: "there is no such file (name the store with --store PATH)".to_string(),
        }
        .into());
    }
    // Without its config, the store's retention is not known here: prune nothing.
    let keep_all = StoreOptions { retention_days: 0 };
    let store = open_store_at(store_path, keep_all, access)?;
    Ok((None, store))
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

/// What a command does with the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// Only reads it: a read-only store will do.
    Read,
    /// Records what it does: a read-only store is refused before anything starts.
    Write,
}

/// The store's file: `--store`, else `[store] path`, else the platform data dir.
fn store_path(path: Option<&Path>, config: &Config) -> PathBuf {
    path.map(Path::to_path_buf)
        .or_else(|| config.store.path.clone())
        .unwrap_or_else(crate::paths::default_store_file)
}

/// Opens the store (shared with every other syncdeck process on the host) for `access`. Says
/// on stderr how a migration goes and what processes that are gone left behind.
fn open_store(path: Option<&Path>, config: &Config, access: Access) -> Result<Store, CommandError> {
    let options = StoreOptions {
        retention_days: config.store.retention_days,
    };
    open_store_at(store_path(path, config), options, access)
}

/// [`open_store`] of a path and options already known.
fn open_store_at(
    path: PathBuf,
    options: StoreOptions,
    access: Access,
) -> Result<Store, CommandError> {
    let store = Store::open_with_progress(&path, options, &mut |progress| {
        eprintln!("syncdeck: {}", progress.line);
        tracing::info!("{}", progress.line);
    })?;
    if let (Access::Write, Some(reason)) = (access, store.read_only_reason()) {
        return Err(StoreError::ReadOnly {
            path,
            reason: reason.to_string(),
        }
        .into());
    }
    if let Some(summary) = store.recovery().summary() {
        eprintln!("syncdeck: {summary}");
        tracing::warn!("{summary}");
    }
    Ok(store)
}
