//! What can go wrong with the store, in words an operator can act on.

use std::path::PathBuf;

/// An error opening, reading or writing the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another syncdeck process (or this one) already has the store open.
    #[error("store {} is in use by {}", path.display(), holder(*pid))]
    InUse { path: PathBuf, pid: Option<u32> },

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

fn holder(pid: Option<u32>) -> String {
    match pid {
        Some(pid) => format!("syncdeck process {pid}"),
        None => "another syncdeck process".to_string(),
    }
}

impl StoreError {
    /// The process exit code for this error (SPEC section 6).
    pub fn exit_code(&self) -> u8 {
        // Every store failure means the store is in use or cannot be read or written: code 3.
        // The match is exhaustive on purpose, so a new variant has to choose its code.
        match self {
            StoreError::InUse { .. }
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
    fn in_use_names_the_pid_or_says_it_is_unknown() {
        let known = StoreError::InUse {
            path: PathBuf::from("/x/y.redb"),
            pid: Some(1234),
        };
        assert_eq!(
            known.to_string(),
            "store /x/y.redb is in use by syncdeck process 1234"
        );
        let unknown = StoreError::InUse {
            path: PathBuf::from("/x/y.redb"),
            pid: None,
        };
        assert!(unknown.to_string().ends_with("another syncdeck process"));
        assert_eq!(known.exit_code(), 3);
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
