//! The embedded redb store: runs, connection runs, report entries, sync contracts, settings.

pub mod types;

pub use types::*;
