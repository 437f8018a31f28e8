//! Settings overrides: values the operator changed from the screen (e.g. the dry-run toggle)
//! that take precedence over the configuration file.

use std::collections::BTreeMap;

use redb::ReadableTable;

use super::Store;
use super::error::{StoreError, db};
use super::tables::*;

impl Store {
    /// The override stored under `key`.
    pub fn get_setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        let txn = self.read()?;
        let table = txn.open_table(SETTINGS).map_err(db("opening settings"))?;
        let found = table.get(key).map_err(db("reading a setting"))?;
        Ok(found.map(|value| value.value().to_string()))
    }

    /// Stores an override, replacing any earlier one.
    pub fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let txn = self.write()?;
        {
            let mut table = txn.open_table(SETTINGS).map_err(db("opening settings"))?;
            table.insert(key, value).map_err(db("writing a setting"))?;
        }
        txn.commit().map_err(db("committing a setting"))
    }

    /// Removes an override; true if there was one.
    pub fn remove_setting(&self, key: &str) -> Result<bool, StoreError> {
        let txn = self.write()?;
        let existed = {
            let mut table = txn.open_table(SETTINGS).map_err(db("opening settings"))?;
            let removed = table.remove(key).map_err(db("removing a setting"))?;
            removed.is_some()
        };
        txn.commit().map_err(db("committing a setting"))?;
        Ok(existed)
    }

    /// Every override, by key.
    pub fn settings(&self) -> Result<BTreeMap<String, String>, StoreError> {
        let txn = self.read()?;
        let table = txn.open_table(SETTINGS).map_err(db("opening settings"))?;
        let mut settings = BTreeMap::new();
        for item in table.iter().map_err(db("reading settings"))? {
            let (key, value) = item.map_err(db("reading settings"))?;
            settings.insert(key.value().to_string(), value.value().to_string());
        }
        Ok(settings)
    }
}
