//! Sync contract queries: what syncdeck knows about each record on each connection.

use std::ops::Bound;

use super::Store;
use super::error::{StoreError, db};
use super::tables::*;
use super::types::SyncContract;

impl Store {
    /// The contract of one serial on one connection.
    pub fn get_contract(
        &self,
        connection: &str,
        origin_id: &str,
    ) -> Result<Option<SyncContract>, StoreError> {
        let txn = self.read()?;
        let table = txn.open_table(CONTRACTS).map_err(db("opening contracts"))?;
        let found = table
            .get((connection, origin_id))
            .map_err(db("reading a contract"))?;
        found
            .map(|bytes| decode(bytes.value(), "decoding a contract"))
            .transpose()
    }

    /// Up to `limit` contracts of a connection in origin id order, after `after` when given.
    pub fn contracts_page(
        &self,
        connection: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<SyncContract>, StoreError> {
        let txn = self.read()?;
        let table = txn.open_table(CONTRACTS).map_err(db("opening contracts"))?;
        let start = match after {
            Some(after) => Bound::Excluded((connection, after)),
            None => Bound::Included((connection, "")),
        };
        let range = table
            .range::<(&str, &str)>((start, Bound::Unbounded))
            .map_err(db("reading contracts"))?;
        let mut contracts = Vec::with_capacity(limit.min(1024));
        for item in range {
            if contracts.len() >= limit {
                break;
            }
            let (key, bytes) = item.map_err(db("reading contracts"))?;
            if key.value().0 != connection {
                break;
            }
            contracts.push(decode(bytes.value(), "decoding a contract")?);
        }
        Ok(contracts)
    }

    /// How many contracts a connection has.
    pub fn count_contracts(&self, connection: &str) -> Result<u64, StoreError> {
        let txn = self.read()?;
        let table = txn.open_table(CONTRACTS).map_err(db("opening contracts"))?;
        let range = table
            .range::<(&str, &str)>((connection, "")..)
            .map_err(db("reading contracts"))?;
        let mut count = 0;
        for item in range {
            let (key, _) = item.map_err(db("reading contracts"))?;
            if key.value().0 != connection {
                break;
            }
            count += 1;
        }
        Ok(count)
    }

    /// Deletes one contract (to re-test the create path); true if it existed.
    pub fn delete_contract(&self, connection: &str, origin_id: &str) -> Result<bool, StoreError> {
        let txn = self.write()?;
        let existed = {
            let mut table = txn.open_table(CONTRACTS).map_err(db("opening contracts"))?;
            let removed = table
                .remove((connection, origin_id))
                .map_err(db("deleting a contract"))?;
            removed.is_some()
        };
        txn.commit().map_err(db("committing a contract delete"))?;
        Ok(existed)
    }
}
