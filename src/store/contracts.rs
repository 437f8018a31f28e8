//! Sync contract queries: what syncdeck knows about each record on each connection.

use std::ops::Bound;

use super::Store;
use super::contract_codec::decode_contract;
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
            .map(|bytes| {
                decode_contract(connection, origin_id, bytes.value(), "decoding a contract")
            })
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
            let (connection, origin_id) = key.value();
            contracts.push(decode_contract(
                connection,
                origin_id,
                bytes.value(),
                "decoding a contract",
            )?);
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

    /// The connections that have contracts, in name order: one seek per connection, however
    /// many contracts each has (for `syncdeck contracts` on a store without its config).
    pub fn contract_connections(&self) -> Result<Vec<String>, StoreError> {
        let txn = self.read()?;
        let table = txn.open_table(CONTRACTS).map_err(db("opening contracts"))?;
        let mut names: Vec<String> = Vec::new();
        loop {
            // The smallest connection name after the last one found is that name + NUL.
            let from = names.last().map(|n| format!("{n}\0")).unwrap_or_default();
            let mut range = table
                .range::<(&str, &str)>((from.as_str(), "")..)
                .map_err(db("reading contracts"))?;
            match range.next() {
                Some(item) => {
                    let (key, _) = item.map_err(db("reading contracts"))?;
                    names.push(key.value().0.to_string());
                }
                None => return Ok(names),
            }
        }
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
        if query.sort == ContractSort::Origin {
            return self.query_contracts_in_origin_order(query, offset, limit);
        }
        let mut all = self.read_connection(&query.connection, |range| {
            let mut all = Vec::new();
            for item in range {
                let (key, bytes) = item.map_err(db("reading contracts"))?;
                let (connection, origin_id) = key.value();
                let contract =
                    decode_contract(connection, origin_id, bytes.value(), "decoding a contract")?;
                if query.matches(&contract) {
                    all.push(contract);
                }
            }
            Ok(all)
        })?;
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

    /// The store's own order: walk the keys (backwards when descending), decode only the
    /// contracts on the page and those a search must look into (the serial is in the key, the
    /// target id is not), count the rest.
    fn query_contracts_in_origin_order(
        &self,
        query: &ContractQuery,
        offset: usize,
        limit: usize,
    ) -> Result<ContractPage, StoreError> {
        let needle = query
            .search
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_lowercase);
        self.read_connection(&query.connection, |range| {
            let keys: Box<dyn Iterator<Item = _>> = if query.descending {
                Box::new(range.rev())
            } else {
                Box::new(range)
            };
            let end = offset.saturating_add(limit);
            let mut contracts = Vec::with_capacity(limit.min(1024));
            let mut total = 0usize;
            for item in keys {
                let (key, bytes) = item.map_err(db("reading contracts"))?;
                let (connection, origin_id) = key.value();
                let decode = |bytes: &[u8]| {
                    decode_contract(connection, origin_id, bytes, "decoding a contract")
                };
                let on_page = (offset..end).contains(&total);
                let decoded: Option<SyncContract> = match &needle {
                    None => None,
                    Some(needle) if origin_id.to_lowercase().contains(needle.as_str()) => None,
                    Some(_) => {
                        let contract = decode(bytes.value())?;
                        if !query.matches(&contract) {
                            continue;
                        }
                        Some(contract)
                    }
                };
                if on_page {
                    let contract = match decoded {
                        Some(contract) => contract,
                        None => decode(bytes.value())?,
                    };
                    contracts.push(contract);
                }
                total += 1;
            }
            Ok(ContractPage {
                contracts,
                total: total as u64,
            })
        })
    }

    /// Reads one connection's contracts, in key (origin id) order, in one read transaction.
    fn read_connection<T>(
        &self,
        connection: &str,
        read: impl FnOnce(ContractRange) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let after = name_after(connection);
        let txn = self.read()?;
        let table = txn.open_table(CONTRACTS).map_err(db("opening contracts"))?;
        let range = table
            .range::<(&str, &str)>(connection_range(connection, &after))
            .map_err(db("reading contracts"))?;
        read(range)
    }
}

/// The contracts of one connection, as the table reads them.
type ContractRange = redb::Range<'static, ContractKey<'static>, &'static [u8]>;

/// A key of the contracts table: (connection, origin id).
type ContractKey<'a> = (&'a str, &'a str);

/// Every key of one connection: from (connection, "") up to, not including, the first key of
/// the smallest name after it (the name followed by a NUL), so the range also runs backwards.
fn connection_range<'a>(
    connection: &'a str,
    after: &'a str,
) -> (Bound<ContractKey<'a>>, Bound<ContractKey<'a>>) {
    (
        Bound::Included((connection, "")),
        Bound::Excluded((after, "")),
    )
}

/// The smallest connection name after `connection` (see [`connection_range`]).
fn name_after(connection: &str) -> String {
    format!("{connection}\0")
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::store::{ContractAction, StoreOptions, WriteBatch};

    fn contract(connection: &str, i: usize) -> SyncContract {
        SyncContract {
            connection: connection.to_string(),
            origin_id: format!("SD-{i:03}"),
            target_id: (!i.is_multiple_of(5)).then(|| format!("T{}", (i * 7) % 40)),
            last_hash: format!("{:x}", i * 2654435761 % 1000),
            last_seen: Utc
                .timestamp_opt(1_700_000_000 + (i as i64 * 37) % 90, 0)
                .unwrap(),
            last_synced: None,
            last_action: ContractAction::Updated,
        }
    }

    /// The origin order's fast path gives what filtering, reversing and cutting the whole
    /// list gives, and never reaches a neighbouring connection whose name extends this one's.
    #[test]
    fn origin_order_pages_match_the_simple_model() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("s.redb"), StoreOptions::default()).unwrap();
        let mut batch = WriteBatch::new();
        for connection in ["cmd", "cmdb", "cmdb-wrong-method", "cmdb\u{1}"] {
            batch
                .contracts
                .extend((0..40).map(|i| contract(connection, i)));
        }
        store.commit(&mut batch).unwrap();
        let model: Vec<SyncContract> = (0..40).map(|i| contract("cmdb", i)).collect();
        for search in [None, Some(""), Some("sd-01"), Some("t1"), Some("zzz")] {
            for descending in [false, true] {
                let query = ContractQuery {
                    connection: "cmdb".into(),
                    search: search.map(str::to_string),
                    sort: ContractSort::Origin,
                    descending,
                };
                let mut expected: Vec<SyncContract> =
                    model.iter().filter(|c| query.matches(c)).cloned().collect();
                if descending {
                    expected.reverse();
                }
                for (offset, limit) in [(0, 10), (5, 3), (0, usize::MAX), (39, 10), (50, 1)] {
                    let page = store.query_contracts(&query, offset, limit).unwrap();
                    assert_eq!(page.total, expected.len() as u64, "{query:?}");
                    let want: Vec<_> = expected.iter().skip(offset).take(limit).cloned().collect();
                    assert_eq!(page.contracts, want, "{query:?} {offset} {limit}");
                }
            }
        }
        let query = ContractQuery {
            connection: "cmdb".into(),
            sort: ContractSort::Target,
            ..ContractQuery::default()
        };
        assert_eq!(store.query_contracts(&query, 0, 100).unwrap().total, 40);
    }
}
