//! The connection and system names entries share, stored once: an entry keeps a small id
//! ([`NameId`]) instead of repeating "cmdb" and "ServiceNow CMDB (demo)" a million times.
//!
//! A store holds entries of a handful of (connection, system) pairs, so the table is tiny: a
//! read transaction loads it whole ([`Names::load`]) before it decodes entries, and a commit of
//! entries adds the pairs it has not seen ([`NameIds`]). Ids are handed out in order and never
//! reused or removed (a pruned pair costs a row of a few dozen bytes), so an id means the same
//! pair for as long as the store lives.

use std::borrow::Cow;

use redb::{ReadTransaction, ReadableTable, Table, TableDefinition, TableError, WriteTransaction};

use super::error::{StoreError, db};

/// Id of a (connection, system) pair in [`ENTRY_NAMES`].
pub(crate) type NameId = u32;

/// Name id → (connection, system).
pub(crate) const ENTRY_NAMES: TableDefinition<NameId, (&str, &str)> =
    TableDefinition::new("entry_names");

/// Every (connection, system) pair of a store, by id: what decoding an entry needs.
#[derive(Clone, Debug, Default)]
pub(crate) struct Names {
    by_id: Vec<Option<(String, String)>>,
}

impl Names {
    /// The pairs a read transaction sees (none in a store without the table).
    pub(crate) fn load(txn: &ReadTransaction) -> Result<Names, StoreError> {
        match txn.open_table(ENTRY_NAMES) {
            Ok(table) => Names::from_table(&table),
            Err(TableError::TableDoesNotExist(_)) => Ok(Names::default()),
            Err(err) => Err(db("opening the entry names")(err)),
        }
    }

    /// The pairs of an open table (in a read or a write transaction).
    pub(crate) fn from_table(
        table: &impl ReadableTable<NameId, (&'static str, &'static str)>,
    ) -> Result<Names, StoreError> {
        let mut names = Names::default();
        for item in table.iter().map_err(db("reading the entry names"))? {
            let (id, pair) = item.map_err(db("reading the entry names"))?;
            let (connection, system) = pair.value();
            names.put(id.value(), connection.to_string(), system.to_string());
        }
        Ok(names)
    }

    fn put(&mut self, id: NameId, connection: String, system: String) {
        let at = id as usize;
        if self.by_id.len() <= at {
            self.by_id.resize(at + 1, None);
        }
        self.by_id[at] = Some((connection, system));
    }

    /// The connection and system of `id`.
    pub(crate) fn get(&self, id: NameId) -> Option<(Cow<'_, str>, Cow<'_, str>)> {
        let (connection, system) = self.by_id.get(id as usize)?.as_ref()?;
        Some((Cow::Borrowed(connection), Cow::Borrowed(system)))
    }

    /// Names of the given pairs, ids from 0 in order: for tests of decoding.
    #[cfg(test)]
    pub(crate) fn of_pairs(pairs: &[(&str, &str)]) -> Names {
        let mut names = Names::default();
        for (id, (connection, system)) in pairs.iter().enumerate() {
            names.put(id as NameId, connection.to_string(), system.to_string());
        }
        names
    }

    /// How many ids are handed out (the next id).
    fn next_id(&self) -> NameId {
        NameId::try_from(self.by_id.len()).unwrap_or(NameId::MAX)
    }
}

/// Hands out name ids inside a write transaction, adding the pairs the store has not seen.
pub(crate) struct NameIds<'txn> {
    table: Table<'txn, NameId, (&'static str, &'static str)>,
    names: Names,
    /// The pair asked for last: a batch is one connection run's, so nearly always the same.
    last: Option<(String, String, NameId)>,
}

impl<'txn> NameIds<'txn> {
    pub(crate) fn open(txn: &'txn WriteTransaction) -> Result<NameIds<'txn>, StoreError> {
        let table = txn
            .open_table(ENTRY_NAMES)
            .map_err(db("opening the entry names"))?;
        let names = Names::from_table(&table)?;
        Ok(NameIds {
            table,
            names,
            last: None,
        })
    }

    /// The id of (connection, system), added to the table when new.
    pub(crate) fn id(&mut self, connection: &str, system: &str) -> Result<NameId, StoreError> {
        if let Some((c, s, id)) = &self.last
            && c == connection
            && s == system
        {
            return Ok(*id);
        }
        let found = self.names.by_id.iter().position(|pair| {
            pair.as_ref()
                .is_some_and(|(c, s)| c == connection && s == system)
        });
        let id = match found {
            Some(at) => NameId::try_from(at).unwrap_or(NameId::MAX),
            None => {
                let id = self.names.next_id();
                self.table
                    .insert(id, (connection, system))
                    .map_err(db("writing the entry names"))?;
                self.names
                    .put(id, connection.to_string(), system.to_string());
                id
            }
        };
        self.last = Some((connection.to_string(), system.to_string(), id));
        Ok(id)
    }

    /// Every pair, those added by this transaction included: for decoding entries in it.
    pub(crate) fn names(&self) -> &Names {
        &self.names
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::{Database, ReadableDatabase};

    #[test]
    fn a_pair_gets_one_id_for_good_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let database = Database::create(dir.path().join("n.redb")).unwrap();
        let txn = database.begin_write().unwrap();
        {
            let mut ids = NameIds::open(&txn).unwrap();
            assert_eq!(ids.id("cmdb", "ServiceNow").unwrap(), 0);
            assert_eq!(ids.id("mdm", "Jamf").unwrap(), 1);
            assert_eq!(ids.id("cmdb", "ServiceNow").unwrap(), 0);
            // The same connection naming another system is another pair.
            assert_eq!(ids.id("cmdb", "Other").unwrap(), 2);
        }
        txn.commit().unwrap();
        let txn = database.begin_write().unwrap();
        {
            let mut ids = NameIds::open(&txn).unwrap();
            assert_eq!(ids.id("mdm", "Jamf").unwrap(), 1);
            assert_eq!(ids.id("new", "New").unwrap(), 3);
        }
        txn.commit().unwrap();
        let names = Names::load(&database.begin_read().unwrap()).unwrap();
        let (connection, system) = names.get(2).unwrap();
        assert_eq!((connection.as_ref(), system.as_ref()), ("cmdb", "Other"));
        assert!(names.get(4).is_none());
    }
}
