//! The change counter: every write transaction, in any process, adds one, so a console can tell
//! with one small read whether anything changed since it last looked, and read nothing more
//! while all is quiet. The count is raised by every write transaction as it begins
//! ([`super::database::begin_write`]).

use redb::TableError;

use super::Store;
use super::error::{StoreError, db};
use super::tables::{CHANGES_KEY, META};

impl Store {
    /// The change counter: different from the last value read means some process committed
    /// something since.
    pub fn change_count(&self) -> Result<u64, StoreError> {
        let txn = self.read()?;
        let meta = match txn.open_table(META) {
            Ok(meta) => meta,
            Err(TableError::TableDoesNotExist(_)) => return Ok(0),
            Err(error) => return Err(db("opening meta")(error)),
        };
        let count = meta
            .get(CHANGES_KEY)
            .map_err(db("reading the change counter"))?;
        Ok(count.map_or(0, |count| count.value()))
    }
}
