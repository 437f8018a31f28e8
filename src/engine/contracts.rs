//! The sync contracts a connection run reads: one store read per record in a Single run or a
//! Resync, all of the connection's loaded once at the start of a Full run (which reads nearly
//! every one of them; a read transaction per record cost more than the lookup).

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::store::{ContractAction, Store, StoreError, SyncContract};

/// Contracts read per store transaction while loading.
const LOAD_PAGE: usize = 1_000;

/// Where a connection run's records find their contracts.
pub(crate) enum Contracts {
    /// Read from the store when a record asks.
    PerRecord,
    /// Every contract of the connection as it was when the run started, by serial.
    Loaded(HashMap<Box<str>, Known>),
}

/// A loaded contract without its connection (the run's) and serial (the map's key).
pub(crate) struct Known {
    target_id: Option<Box<str>>,
    last_hash: Box<str>,
    last_seen: DateTime<Utc>,
    last_synced: Option<DateTime<Utc>>,
    last_action: ContractAction,
}

impl Contracts {
    /// Loads every contract of `connection`, a page per read transaction. Blocking: call it
    /// off the async threads.
    pub(crate) fn load(store: &Store, connection: &str) -> Result<Contracts, StoreError> {
        let mut by_serial = HashMap::new();
        let mut after: Option<Box<str>> = None;
        loop {
            let page = store.contracts_page(connection, after.as_deref(), LOAD_PAGE)?;
            let full = page.len() == LOAD_PAGE;
            for contract in page {
                let serial: Box<str> = contract.origin_id.into_boxed_str();
                after = Some(serial.clone());
                let known = Known {
                    target_id: contract.target_id.map(String::into_boxed_str),
                    last_hash: contract.last_hash.into_boxed_str(),
                    last_seen: contract.last_seen,
                    last_synced: contract.last_synced,
                    last_action: contract.last_action,
                };
                by_serial.insert(serial, known);
            }
            if !full {
                return Ok(Contracts::Loaded(by_serial));
            }
        }
    }

    /// The contract of `serial` on `connection`; None when it has none, or when it cannot be
    /// read (the record is then treated as new, as it always was).
    pub(crate) fn get(
        &self,
        store: &Store,
        connection: &str,
        serial: &str,
    ) -> Option<SyncContract> {
        match self {
            Contracts::PerRecord => store.get_contract(connection, serial).ok().flatten(),
            Contracts::Loaded(by_serial) => {
                let known = by_serial.get(serial)?;
                Some(SyncContract {
                    connection: connection.to_string(),
                    origin_id: serial.to_string(),
                    target_id: known.target_id.as_deref().map(str::to_string),
                    last_hash: known.last_hash.to_string(),
                    last_seen: known.last_seen,
                    last_synced: known.last_synced,
                    last_action: known.last_action,
                })
            }
        }
    }
}
