//! Sync contract queries: what syncdeck knows about each record on each connection.

use std::ops::Bound;

use super::Store;
use super::error::{StoreError, db};
use super::tables::*;
use super::types::SyncContract;

/// How the Contracts view and `syncdeck contracts` order a connection's contracts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ContractSort {
    /// By origin id (serial): the store's own order.
    #[default]
    Origin,
    Target,
    Hash,
    LastSeen,
    LastSynced,
    Action,
}

/// Which contracts of one connection to list, and in what order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContractQuery {
    pub connection: String,
    /// Contracts whose origin id or target id contains this text (case-insensitive); empty or
    /// None means all.
    pub search: Option<String>,
    pub sort: ContractSort,
    pub descending: bool,
}

impl ContractQuery {
    /// True when the contract meets the search.
    pub fn matches(&self, contract: &SyncContract) -> bool {
        let Some(needle) = self
            .search
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        else {
            return true;
        };
        let needle = needle.to_lowercase();
        contract.origin_id.to_lowercase().contains(&needle)
            || contract
                .target_id
                .as_deref()
                .is_some_and(|t| t.to_lowercase().contains(&needle))
    }
}

/// One page of a [`ContractQuery`] and how many contracts match in all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContractPage {
    pub contracts: Vec<SyncContract>,
    pub total: u64,
}

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

    /// `limit` contracts of a query from position `offset`, and the number matching in all.
    pub fn query_contracts(
        &self,
        query: &ContractQuery,
        offset: usize,
        limit: usize,
    ) -> Result<ContractPage, StoreError> {
        let txn = self.read()?;
        let table = txn.open_table(CONTRACTS).map_err(db("opening contracts"))?;
        let connection = query.connection.as_str();
        let range = table
            .range::<(&str, &str)>((connection, "")..)
            .map_err(db("reading contracts"))?;
        let mut all = Vec::new();
        for item in range {
            let (key, bytes) = item.map_err(db("reading contracts"))?;
            if key.value().0 != connection {
                break;
            }
            let contract: SyncContract = decode(bytes.value(), "decoding a contract")?;
            if query.matches(&contract) {
                all.push(contract);
            }
        }
        match query.sort {
            ContractSort::Origin => {}
            ContractSort::Target => all.sort_by(|a, b| a.target_id.cmp(&b.target_id)),
            ContractSort::Hash => all.sort_by(|a, b| a.last_hash.cmp(&b.last_hash)),
            ContractSort::LastSeen => all.sort_by_key(|c| c.last_seen),
            ContractSort::LastSynced => all.sort_by_key(|c| c.last_synced),
            ContractSort::Action => all.sort_by_key(|c| format!("{:?}", c.last_action)),
        }
        if query.descending {
            all.reverse();
        }
        let total = all.len() as u64;
        let contracts = all.into_iter().skip(offset).take(limit).collect();
        Ok(ContractPage { contracts, total })
    }
}
