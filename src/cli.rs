//! The command line (SPEC section 6), as clap definitions.

use std::path::PathBuf;

use clap::{ArgGroup, Parser, Subcommand};

/// syncdeck: push a device fleet into destination systems, watch every run, triage and resync
/// what failed. Without a command it opens the screens: on the config when one exists, else on
/// the built-in demo systems.
#[derive(Debug, Parser)]
#[command(name = "syncdeck", version, about)]
#[command(
    after_help = "Exit codes: 0 success; 1 the job ran but some records failed; \
2 bad usage or configuration; 3 the store is unreadable (or read-only for a command that writes), \
or a connection is held by another process's Live run."
)]
pub struct Cli {
    /// Config file [default: the platform config dir, syncdeck/config.toml]
    #[arg(long, global = true, value_name = "PATH", env = "SYNCDECK_CONFIG")]
    pub config: Option<PathBuf>,

    /// Store file [default: [store] path in the config, else the platform data dir]
    #[arg(long, global = true, value_name = "PATH", env = "SYNCDECK_STORE")]
    pub store: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The screens on the built-in demo systems, with a scratch store
    Demo,
    /// Run a sync job headless: Full or Single, Dry or Live
    #[command(group(ArgGroup::new("scope").required(true).args(["full", "single", "apply"])))]
    Run {
        /// A connection to run (repeatable) [default: every connection, in config order]
        #[arg(long = "connection", value_name = "NAME")]
        connections: Vec<String>,
        /// Every record in scope
        #[arg(long)]
        full: bool,
        /// One record, by serial
        #[arg(long, value_name = "SERIAL")]
        single: Option<String>,
        /// Apply a Dry run's plan: run Live exactly the records that run planned to change;
        /// a record that changed since (source or destination) is reported drifted, not written
        #[arg(long, value_name = "RUN_ID", conflicts_with_all = ["dry_run", "live", "force"])]
        apply: Option<u64>,
        /// Write nothing: report what would happen [default: each connection's dry_run]
        #[arg(long, conflicts_with = "live")]
        dry_run: bool,
        /// Write to the destinations
        #[arg(long)]
        live: bool,
        /// Print a machine-readable summary (SPEC section 6) on stdout
        #[arg(long)]
        json: bool,
        /// Run a Full Live run even though the configuration changed since its last clean
        /// Full Dry run
        #[arg(long)]
        force: bool,
        /// What started the run, recorded with it and shown in every console: console,
        /// headless, scheduled, or a schedule's name (nightly) [default: scheduled under a
        /// systemd service, else headless]
        #[arg(long, value_name = "NAME", env = "SYNCDECK_TRIGGER")]
        trigger: Option<String>,
    },
    /// Resync report entries live: chosen ones, or every Failed one of the last 15 days
    #[command(group(ArgGroup::new("which").required(true).args(["entries", "failed"])))]
    Resync {
        /// A report entry to resync, by sync id (repeatable)
        #[arg(long = "entry", value_name = "ID")]
        entries: Vec<u64>,
        /// Every Failed entry of the last 15 days
        #[arg(long)]
        failed: bool,
        /// With --failed: only this connection's entries (repeatable)
        #[arg(long = "connection", value_name = "NAME", requires = "failed")]
        connections: Vec<String>,
        /// Resync without asking for a confirmation (needed when stdin is not a terminal)
        #[arg(long)]
        yes: bool,
        /// Print a machine-readable outcome on stdout
        #[arg(long)]
        json: bool,
        /// What started the resync, as for `run --trigger`
        #[arg(long, value_name = "NAME", env = "SYNCDECK_TRIGGER")]
        trigger: Option<String>,
    },
    /// Ask the process running a run to cancel it (it does within a second); exit 1 when the
    /// run is not running
    Cancel {
        /// The run to cancel
        #[arg(value_name = "RUN_ID")]
        run_id: u64,
        /// The run's process is gone but cannot be checked from here (another host, a pod
        /// killed outright): mark the run Interrupted now and free its connections. Refused
        /// for a process of this host that still runs
        #[arg(long)]
        abandon: bool,
    },
    /// Health check: source reachable, destination reachable, credential accepted, per
    /// connection, with latencies; exit code 1 when any step fails
    Check {
        /// A connection to check (repeatable) [default: every connection, in config order]
        #[arg(long = "connection", value_name = "NAME")]
        connections: Vec<String>,
        /// Print the results as JSON on stdout
        #[arg(long)]
        json: bool,
    },
    /// The sync contracts: what syncdeck knows about each record on each connection
    Contracts {
        /// Only this connection's contracts [default: every connection]
        #[arg(long, value_name = "NAME")]
        connection: Option<String>,
        /// Delete this serial's contract (needs --connection) so the next run treats the record
        /// as new
        #[arg(long, value_name = "SERIAL", requires = "connection")]
        delete: Option<String>,
        /// Only contracts whose serial or target id contains this text
        #[arg(long, value_name = "TEXT", conflicts_with = "delete")]
        search: Option<String>,
        /// Print JSON on stdout
        #[arg(long)]
        json: bool,
    },
    /// Validate a config file and report every problem with its line and key
    CheckConfig {
        /// The file to check [default: --config, else the platform config file]
        path: Option<PathBuf>,
    },
    /// The sync report headless: matching entries as a table, CSV or JSON on stdout
    Report {
        /// Only entries with this status (repeatable)
        #[arg(
            long = "status",
            value_name = "S",
            ignore_case = true,
            value_parser = clap::builder::PossibleValuesParser::new([
                "ok", "sent", "pending", "failed", "dry",
            ])
        )]
        statuses: Vec<String>,
        /// Only entries with this outcome (repeatable)
        #[arg(
            long = "outcome",
            value_name = "O",
            ignore_case = true,
            value_parser = clap::builder::PossibleValuesParser::new([
                "updated",
                "created",
                "would_update",
                "would_create",
                "skipped",
                "missing_source",
                "missing_destination",
                "error",
            ])
        )]
        outcomes: Vec<String>,
        /// Only Failed entries a retry may fix: 5xx, 429, timeouts and network errors,
        /// 401/403 once the credential is fixed (the JSON `status` stays `failed`)
        #[arg(long, conflicts_with = "not_syncable")]
        fixable: bool,
        /// Only Failed entries no retry can fix: missing source or destination, drifted, rule
        /// and format errors, 400, 404, 405, 415 and the other 4xx
        #[arg(long)]
        not_syncable: bool,
        /// The window: entries of the last N days, 1 to 15
        #[arg(
            long,
            value_name = "N",
            default_value_t = 5,
            value_parser = clap::value_parser!(u32).range(1..=15)
        )]
        days: u32,
        /// Search by system, sync id or reference: an exact sync id (12345 or #12345), a
        /// serial prefix or a system substring. Exactly a serial: that serial's timeline, every
        /// kept entry of it across runs and connections, oldest first, whatever --days and
        /// --sort say (JSON adds run_type, mode, reason, diff and the contract hashes)
        #[arg(long, value_name = "TEXT")]
        search: Option<String>,
        /// Only this connection's entries (repeatable)
        #[arg(long = "connection", value_name = "NAME")]
        connections: Vec<String>,
        /// Only the entries of this run
        #[arg(long, value_name = "ID")]
        run: Option<u64>,
        /// The column to sort by [default: time, newest first]
        #[arg(
            long,
            value_name = "COLUMN",
            ignore_case = true,
            value_parser = clap::builder::PossibleValuesParser::new(
                crate::store::SortColumn::ALL.map(crate::store::SortColumn::flag)
            )
        )]
        sort: Option<String>,
        /// Sort descending [default for time, sync-id and attempts]
        #[arg(long, conflicts_with = "asc")]
        desc: bool,
        /// Sort ascending [default for the other columns]
        #[arg(long)]
        asc: bool,
        /// Output format
        #[arg(
            long,
            value_name = "FORMAT",
            default_value = "table",
            ignore_case = true,
            value_parser = clap::builder::PossibleValuesParser::new(["table", "csv", "json"])
        )]
        format: String,
    },
    /// The console opened on a run's failed entries, the first one's details on screen (the
    /// command an alert names). Reads the store without the config's secrets, like report;
    /// exit 0 with a message when there is nothing to triage, 2 for a run the store lacks
    Triage {
        /// The run [default: the newest run with failed entries]
        #[arg(value_name = "RUN_ID")]
        run_id: Option<u64>,
    },
    /// Look after the store file
    #[command(subcommand)]
    Store(StoreCommand),
    /// Serve the demo source and destinations on 127.0.0.1, headless, for experiments
    DemoServer {
        /// Port to listen on (0 picks a free one; the port is printed)
        #[arg(long, default_value_t = 7300)]
        port: u16,
        /// Devices in the demo fleet
        #[arg(long, default_value_t = 2_400, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        fleet_size: u32,
        /// Seed of the demo data (the same seed gives the same fleet; 0 is `syncdeck demo`'s)
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
}

/// `syncdeck store ...`.
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Give the file's free space back (redb never shrinks a file on its own). Exit 3 while a
    /// run is going or another process is reading or writing the store
    Compact,
}
