//! The embedded redb store: runs, connection runs, report entries, sync contracts, settings.
//!
//! One file, shared by every syncdeck process on the host at once (redb's multi-writer mode:
//! write transactions take turns, reads see other processes' commits), durable commits. Writes
//! come in batches ([`WriteBatch`]) so that a Full run records many entries per transaction;
//! reads are paged through indexes and never load a whole table. Runs name their owner
//! ([`RunOwner`]); connections are leased to one Live run at a time ([`leases`]); a change
//! counter tells a console when to read again ([`Store::change_count`]).

mod batch;
mod cancel;
mod changes;
mod compact;
mod contract_codec;
mod contracts;
mod database;
pub mod diagnostics;
mod entries;
mod entry_codec;
mod entry_names;
mod error;
mod leases;
mod migrate;
mod open;
pub mod owner;
mod recovered;
mod recovery;
pub mod recovery_file;
mod report;
mod report_scan;
mod report_summary;
mod report_systems;
mod retention;
mod rows;
mod run_log;
mod runs;
mod settings;
mod tables;
mod timeline;
pub mod types;

pub use batch::{Recount, WriteBatch};
pub use cancel::{CancelOutcome, CancelRequest};
pub use compact::{COMPACT_AFTER_GROWTH, COMPACT_AFTER_PRUNED, Compacted, SpaceStats, TableSpace};
pub use contracts::{ContractPage, ContractQuery, ContractSort};
pub use database::{DEFAULT_RETENTION_DAYS, Store, StoreOptions};
pub use entries::{EntryCursor, EntryPage, EntryQuery};
pub use error::{GONE, StoreError};
pub use migrate::{MigrationProgress, backup_path};
pub use open::{WRITE_CACHE_SIZE_BYTES, use_write_cache};
pub use owner::{Liveness, origin};
pub use recovered::Recovery;
pub use recovery::{INTERRUPTED_MESSAGE, INTERRUPTED_NOTE};
pub use report::{ReportFilter, ReportSort, SortColumn};
pub use retention::PruneStats;
pub use run_log::{LogLine, LogSeverity, MAX_RUN_LOG_LINES};
pub use tables::SCHEMA_VERSION;
pub use types::*;
