//! A serial's timeline: every kept entry of one serial, across runs and connections, oldest
//! first — what the operator reads to answer "why was this skipped?".
//!
//! It reads the reference index only for keys of exactly that serial, bucket by bucket, so its
//! cost grows with the serial's entries and the number of buckets, never with the store.

use super::Store;
use super::entries::{IndexTable, Step, each_reference};
use super::error::{StoreError, db};
use super::tables::{ENTRIES, ENTRIES_BY_REFERENCE, decode_entry, escape_serial};
use super::types::{ReportEntry, SyncId};

impl Store {
    /// Every entry whose reference is exactly `serial`, on every connection and in every run
    /// still kept, oldest first (by time, then sync id).
    pub fn serial_timeline(&self, serial: &str) -> Result<Vec<ReportEntry>, StoreError> {
        let txn = self.read()?;
        let index = txn
            .open_table(ENTRIES_BY_REFERENCE)
            .map_err(db("opening the reference index"))?;
        let mut keys = serial_keys(&index, serial)?;
        keys.sort_unstable();
        let names = super::entry_names::Names::load(&txn)?;
        let entries = txn.open_table(ENTRIES).map_err(db("opening entries"))?;
        let mut found = Vec::with_capacity(keys.len());
        for (_, sync_id) in keys {
            if let Some(bytes) = entries.get(sync_id).map_err(db("reading an entry"))? {
                let entry: ReportEntry = decode_entry(bytes.value(), &names, "decoding an entry")?;
                // The key already says so; a damaged index must not show another serial.
                if entry.reference == serial {
                    found.push(entry);
                }
            }
        }
        Ok(found)
    }
}

/// (time ms, sync id) of every reference-index key of exactly `serial`: the escaped serial and
/// its 0x00 terminator, sought once per bucket that holds keys.
fn serial_keys(index: &IndexTable, serial: &str) -> Result<Vec<(i64, SyncId)>, StoreError> {
    let mut exact = Vec::with_capacity(serial.len() + 1);
    escape_serial(serial, &mut exact);
    exact.push(0);
    let mut keys = Vec::new();
    each_reference(index, &exact, |time, sync_id| {
        keys.push((time, sync_id));
        Ok(Step::More)
    })?;
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, TimeDelta, Utc};

    use super::*;
    use crate::store::types::{EntryStatus, Outcome};
    use crate::store::{StoreOptions, WriteBatch};

    fn entry(serial: &str, connection: &str, time: DateTime<Utc>) -> ReportEntry {
        ReportEntry {
            sync_id: 0,
            run_id: 1,
            connection: connection.into(),
            system: "CMDB".into(),
            reference: serial.into(),
            source_id: None,
            target_id: None,
            status: EntryStatus::Dry,
            outcome: Outcome::WouldUpdate,
            reason: None,
            time,
            attempts: Vec::new(),
            error: None,
            diff: Vec::new(),
            hashes: None,
        }
    }

    #[test]
    fn only_the_exact_serial_comes_back_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(
            dir.path().join("s.redb"),
            StoreOptions { retention_days: 0 },
        )
        .unwrap();
        let t0 = DateTime::UNIX_EPOCH + TimeDelta::days(20_000);
        let mut batch = WriteBatch::new();
        // Recorded out of time order, with neighbours that share a prefix or extend it.
        for (serial, connection, minutes) in [
            ("SD-1", "cmdb", 30),
            ("SD-10", "cmdb", 1),
            ("SD-1", "mdm", 10),
            ("SD-", "cmdb", 2),
            ("SD-1\u{0}", "cmdb", 3),
            ("SD-1", "cmdb", 10),
        ] {
            batch
                .entries
                .push(entry(serial, connection, t0 + TimeDelta::minutes(minutes)));
        }
        let ids = store.commit(&mut batch).unwrap();
        let timeline = store.serial_timeline("SD-1").unwrap();
        let got: Vec<SyncId> = timeline.iter().map(|e| e.sync_id).collect();
        // Equal times order by sync id: mdm (id 3) before cmdb (id 6), then the 30-minute one.
        assert_eq!(got, vec![ids[2], ids[5], ids[0]]);
        assert!(store.serial_timeline("SD-2").unwrap().is_empty());
        assert!(store.serial_timeline("").unwrap().is_empty());
    }
}
