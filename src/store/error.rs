//! What can go wrong with the store, in words an operator can act on.

use std::path::PathBuf;

/// An error opening, reading or writing the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A process that does not share the file (a syncdeck from before stores were shared,
    /// which opens a store alone) has it open.
    #[error(
        "store {} is in use by a syncdeck that opens it alone (a version from before stores \
         were shared): close that one, or update it",
        path.display()
    )]
    InUse { path: PathBuf },

    /// The store could only be opened for reading, and this needs to write it.
    #[error(
        "store {} is read-only ({reason}): this command records what it does, so it needs to \
         write the store; report, contracts and the console can read it",
        path.display()
    )]
    ReadOnly { path: PathBuf, reason: String },

    /// A store of an older layout, opened read-only: it cannot be migrated.
    #[error(
        "store {} has schema version {found} and this syncdeck reads version {supported}: it \
         is migrated when it is first opened with write access, and this one is read-only",
        path.display()
    )]
    NeedsMigration {
        path: PathBuf,
        found: u64,
        supported: u64,
    },

    /// A Live, Apply or Resync run of another process holds a connection this run needs.
    #[error(
        "store {} cannot be compacted now: {reason}; try again when no run is going",
        path.display()
    )]
    Busy { path: PathBuf, reason: String },

    #[error("{0}")]
    ConnectionHeld(Box<super::types::LeaseHolder>),

    /// The file was written by a newer syncdeck whose layout this build does not know.
    #[error(
        "store {} has schema version {found}, newer than the version {supported} this syncdeck \
         supports; upgrade syncdeck or use another --store",
        path.display()
    )]
    NewerSchema {
        path: PathBuf,
        found: u64,
        supported: u64,
    },

    /// The file is not a redb file, or it is damaged.
    #[error("store {} is unreadable: {reason}", path.display())]
    Unreadable { path: PathBuf, reason: String },

    /// A file-system operation around the store failed.
    #[error("store {}: {context}: {source}", path.display())]
    Io {
        path: PathBuf,
        context: &'static str,
        #[source]
        source: std::io::Error,
    },

    /// The store's file was removed or replaced while the store was open: commits would go to
    /// a file no one will open again.
    #[error("store {}: {}", path.display(), GONE)]
    Gone { path: PathBuf },

    /// redb failed during an operation on an open store.
    #[error("store: {context}: {source}")]
    Database {
        context: &'static str,
        #[source]
        source: redb::Error,
    },

    /// A stored value could not be encoded or decoded.
    #[error("store: {context}: {source}")]
    Encoding {
        context: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

/// What [`StoreError::Gone`] says after the path.
pub const GONE: &str = "the file was removed or replaced while syncdeck had it open";

impl StoreError {
    /// The process exit code for this error (SPEC section 6).
    pub fn exit_code(&self) -> u8 {
        // Every store failure means the store (or a connection leased in it) is in use, or it
        // cannot be read or written: code 3. The match is exhaustive on purpose, so a new
        // variant has to choose its code.
        match self {
            StoreError::InUse { .. }
            | StoreError::ReadOnly { .. }
            | StoreError::NeedsMigration { .. }
            | StoreError::ConnectionHeld(_)
            | StoreError::Busy { .. }
            | StoreError::NewerSchema { .. }
            | StoreError::Unreadable { .. }
            | StoreError::Io { .. }
            | StoreError::Gone { .. }
            | StoreError::Database { .. }
            | StoreError::Encoding { .. } => 3,
        }
    }
}

/// Wraps any redb error with what the store was doing, for `map_err`.
pub(crate) fn db<E: Into<redb::Error>>(context: &'static str) -> impl FnOnce(E) -> StoreError {
    move |source| StoreError::Database {
        context,
        source: source.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_use_and_read_only_say_what_to_do() {
        let in_use = StoreError::InUse {
            path: PathBuf::from("/x/y.redb"),
        };
        assert!(in_use.to_string().contains("close that one, or update it"));
        assert_eq!(in_use.exit_code(), 3);
        let read_only = StoreError::ReadOnly {
            path: PathBuf::from("/x/y.redb"),
            reason: "a read-only file system".into(),
        };
        let text = read_only.to_string();
        assert!(
            text.contains("read-only (a read-only file system)"),
            "{text}"
        );
        assert!(text.contains("report, contracts and the console"), "{text}");
        assert_eq!(read_only.exit_code(), 3);
    }

    #[test]
    fn newer_schema_names_both_versions() {
        let err = StoreError::NewerSchema {
            path: PathBuf::from("s.redb"),
            found: 9,
            supported: 1,
        };
        let text = err.to_string();
        assert!(text.contains("schema version 9"), "{text}");
        assert!(text.contains("version 1 this syncdeck supports"), "{text}");
    }
}
