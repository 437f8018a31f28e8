//! Table definitions, index key encodings and value encoding.
//!
//! Index keys are plain bytes compared with `memcmp`, so every field in them is encoded to sort
//! the way the product wants: big-endian integers, times with the sign bit flipped, and serials
//! escaped so that a key prefix is exactly a serial prefix.

use redb::TableDefinition;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub(crate) use super::entry_codec::decode_entry;
use super::error::StoreError;
use super::types::{ReportEntry, RunId, SyncId};

/// Version of the table layout; a file with a higher one was written by a newer syncdeck, a
/// file with a lower one is migrated on open (see `migrate`).
///
/// 2: runs name their owner and trigger; connection leases, cancel requests and the change
/// counter; the store is shared by every process on the host.
/// 3: entries in a compact binary form (`entry_codec`) instead of JSON.
/// 4: an entry's connection and system names stored once (`entry_names`), the entry keeping
/// their id.
/// 5: sync contracts in a compact binary form (`contract_codec`) instead of JSON.
pub const SCHEMA_VERSION: u64 = 5;

/// `schema_version` → version of the table layout.
pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// Sequence name → next id to hand out.
pub(crate) const SEQUENCES: TableDefinition<&str, u64> = TableDefinition::new("sequences");
/// Run id → JSON of `Run`.
pub(crate) const RUNS: TableDefinition<u64, &[u8]> = TableDefinition::new("runs");
/// (run id, position) → JSON of `ConnectionRun`.
pub(crate) const CONNECTION_RUNS: TableDefinition<(u64, u32), &[u8]> =
    TableDefinition::new("connection_runs");
/// Sync id → `ReportEntry` in the compact form of `entry_codec` (JSON before version 3; the
/// names in full before version 4).
pub(crate) const ENTRIES: TableDefinition<u64, &[u8]> = TableDefinition::new("entries");
/// [`time_key`] → nothing.
pub(crate) const ENTRIES_BY_TIME: TableDefinition<&[u8], ()> =
    TableDefinition::new("entries_by_time");
/// [`status_key`] → nothing.
pub(crate) const ENTRIES_BY_STATUS: TableDefinition<&[u8], ()> =
    TableDefinition::new("entries_by_status");
/// [`reference_key`] → nothing.
pub(crate) const ENTRIES_BY_REFERENCE: TableDefinition<&[u8], ()> =
    TableDefinition::new("entries_by_reference");
/// [`run_key`] → nothing.
pub(crate) const ENTRIES_BY_RUN: TableDefinition<&[u8], ()> =
    TableDefinition::new("entries_by_run");
/// (connection, origin id) → `SyncContract` in the compact form of `contract_codec` (JSON
/// before version 5).
pub(crate) const CONTRACTS: TableDefinition<(&str, &str), &[u8]> =
    TableDefinition::new("contracts");
/// Setting key → value overriding the configuration.
pub(crate) const SETTINGS: TableDefinition<&str, &str> = TableDefinition::new("settings");

/// Connection name → id of the Live, Apply or Resync run holding it (SPEC section 8).
pub(crate) const LEASES: TableDefinition<&str, u64> = TableDefinition::new("leases");
/// Run id → JSON of the `CancelRequest` another process wrote for it.
pub(crate) const CANCEL_REQUESTS: TableDefinition<u64, &[u8]> =
    TableDefinition::new("cancel_requests");

/// The rows still Running: `(run id, RUN_ROW)` for a run, `(run id, position)` for a connection
/// run. Recovery on open reads only these instead of decoding the whole history.
pub(crate) const RUNNING: TableDefinition<(u64, u32), ()> = TableDefinition::new("running");
/// The position that stands for the run itself in [`RUNNING`].
pub(crate) const RUN_ROW: u32 = u32::MAX;
/// Meta key set once [`RUNNING`] is maintained for every row of the store.
pub(crate) const RUNNING_INDEXED_KEY: &str = "running_indexed";

pub(crate) const SCHEMA_VERSION_KEY: &str = "schema_version";
/// Meta key of the change counter: bumped by every write transaction, so that a console can
/// tell with one small read whether anything changed since it last looked.
pub(crate) const CHANGES_KEY: &str = "changes";
pub(crate) const NEXT_RUN_ID: &str = "next_run_id";
pub(crate) const NEXT_SYNC_ID: &str = "next_sync_id";

/// Length of [`time_key`] and [`run_key`].
pub(crate) const TIME_KEY_LEN: usize = 16;
/// Length of [`status_key`].
pub(crate) const STATUS_KEY_LEN: usize = 17;

/// Maps an i64 onto a u64 that sorts the same way unsigned (negative times before positive).
fn order_i64(value: i64) -> [u8; 8] {
    ((value as u64) ^ (1 << 63)).to_be_bytes()
}

fn unorder_i64(bytes: [u8; 8]) -> i64 {
    (u64::from_be_bytes(bytes) ^ (1 << 63)) as i64
}

/// Key of the by-time index: time (ms), then sync id to break ties.
pub(crate) fn time_key(time_ms: i64, sync_id: SyncId) -> [u8; TIME_KEY_LEN] {
    let mut key = [0u8; TIME_KEY_LEN];
    key[..8].copy_from_slice(&order_i64(time_ms));
    key[8..].copy_from_slice(&sync_id.to_be_bytes());
    key
}

/// Key of the by-status index: status code, time (ms), sync id.
pub(crate) fn status_key(code: u8, time_ms: i64, sync_id: SyncId) -> [u8; STATUS_KEY_LEN] {
    let mut key = [0u8; STATUS_KEY_LEN];
    key[0] = code;
    key[1..].copy_from_slice(&time_key(time_ms, sync_id));
    key
}

/// Key of the by-run index: run id, sync id.
pub(crate) fn run_key(run_id: RunId, sync_id: SyncId) -> [u8; TIME_KEY_LEN] {
    let mut key = [0u8; TIME_KEY_LEN];
    key[..8].copy_from_slice(&run_id.to_be_bytes());
    key[8..].copy_from_slice(&sync_id.to_be_bytes());
    key
}

/// Escapes a serial so that no escaped serial contains 0x00 and escaping preserves prefixes:
/// 0x00 → 01 01, 0x01 → 01 02, every other byte as is.
pub(crate) fn escape_serial(serial: &str, out: &mut Vec<u8>) {
    for &byte in serial.as_bytes() {
        match byte {
            0 => out.extend_from_slice(&[1, 1]),
            1 => out.extend_from_slice(&[1, 2]),
            other => out.push(other),
        }
    }
}

/// Sync ids per reference-index bucket; see [`reference_key`].
pub(crate) const REFERENCE_BUCKET_BITS: u32 = 14;
/// Length of the bucket at the start of a [`reference_key`].
pub(crate) const BUCKET_LEN: usize = 4;

/// The reference-index bucket of a sync id.
pub(crate) fn reference_bucket(sync_id: SyncId) -> u32 {
    u32::try_from(sync_id >> REFERENCE_BUCKET_BITS).unwrap_or(u32::MAX)
}

/// Key of the by-reference index: bucket of the sync id, escaped serial, 0x00, time (ms), sync id.
///
/// The bucket is there for write speed. Serials arrive in no useful order, so a plain
/// (serial, time) key puts each new entry on a different B-tree leaf: about one 4 KiB page
/// rewritten per entry once the index is large. With the bucket first, new entries (the newest
/// sync ids) land in the last bucket of 16,384 ids, a few hundred leaves at most, so a batch of
/// a thousand rewrites tens of leaves. A prefix search seeks the prefix once per bucket.
pub(crate) fn reference_key(serial: &str, time_ms: i64, sync_id: SyncId) -> Vec<u8> {
    let mut key = Vec::with_capacity(BUCKET_LEN + serial.len() + 1 + TIME_KEY_LEN);
    key.extend_from_slice(&reference_bucket(sync_id).to_be_bytes());
    escape_serial(serial, &mut key);
    key.push(0);
    key.extend_from_slice(&time_key(time_ms, sync_id));
    key
}

/// The start of the reference-index keys of `bucket` whose serial starts with `prefix`
/// (already escaped).
pub(crate) fn reference_seek(bucket: u32, escaped_prefix: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(BUCKET_LEN + escaped_prefix.len());
    key.extend_from_slice(&bucket.to_be_bytes());
    key.extend_from_slice(escaped_prefix);
    key
}

/// The bucket a reference-index key belongs to.
pub(crate) fn key_bucket(key: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(key.get(..BUCKET_LEN)?.try_into().ok()?))
}

/// Time and sync id at the end of a by-time, by-status or by-reference key.
pub(crate) fn key_tail(key: &[u8]) -> Option<(i64, SyncId)> {
    let start = key.len().checked_sub(TIME_KEY_LEN)?;
    let time: [u8; 8] = key[start..start + 8].try_into().ok()?;
    let id: [u8; 8] = key[start + 8..].try_into().ok()?;
    Some((unorder_i64(time), u64::from_be_bytes(id)))
}

/// Sync id at the end of a by-run key.
pub(crate) fn run_key_sync_id(key: &[u8]) -> Option<SyncId> {
    let start = key.len().checked_sub(8)?;
    Some(u64::from_be_bytes(key[start..].try_into().ok()?))
}

/// The four index keys of one entry, computed once so that an update can compare old and new.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct EntryKeys {
    pub time: [u8; TIME_KEY_LEN],
    pub status: [u8; STATUS_KEY_LEN],
    pub reference: Vec<u8>,
    pub run: [u8; TIME_KEY_LEN],
}

impl EntryKeys {
    pub(crate) fn of(entry: &ReportEntry) -> EntryKeys {
        let time_ms = entry.time.timestamp_millis();
        EntryKeys {
            time: time_key(time_ms, entry.sync_id),
            status: status_key(entry.status.code(), time_ms, entry.sync_id),
            reference: reference_key(&entry.reference, time_ms, entry.sync_id),
            run: run_key(entry.run_id, entry.sync_id),
        }
    }
}

/// Serialises a value for a table; `what` names it in the error.
pub(crate) fn encode<T: Serialize>(value: &T, what: &'static str) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|source| StoreError::Encoding {
        context: what,
        source,
    })
}

/// Reads a value written by [`encode`]; `what` names it in the error.
pub(crate) fn decode<T: DeserializeOwned>(
    bytes: &[u8],
    what: &'static str,
) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|source| StoreError::Encoding {
        context: what,
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_keys_sort_like_times_including_negative_ones() {
        let times = [i64::MIN, -86_400_000, -1, 0, 1, 1_700_000_000_000, i64::MAX];
        let keys: Vec<_> = times.iter().map(|&t| time_key(t, 7)).collect();
        assert!(keys.windows(2).all(|pair| pair[0] < pair[1]));
        for (&time, key) in times.iter().zip(&keys) {
            assert_eq!(key_tail(key), Some((time, 7)));
        }
    }

    #[test]
    fn equal_times_sort_by_sync_id() {
        assert!(time_key(5, 1) < time_key(5, 2));
        assert!(time_key(5, u64::MAX) < time_key(6, 0));
        assert!(status_key(3, 5, 9) < status_key(3, 6, 0));
    }

    #[test]
    fn status_keys_group_by_status_first() {
        assert!(status_key(0, i64::MAX, u64::MAX) < status_key(1, i64::MIN, 0));
        assert_eq!(key_tail(&status_key(3, -42, 99)), Some((-42, 99)));
        assert_eq!(status_key(3, -42, 99)[0], 3);
    }

    #[test]
    fn run_keys_group_by_run_and_keep_the_sync_id() {
        assert!(run_key(1, u64::MAX) < run_key(2, 0));
        assert!(run_key(2, 3) < run_key(2, 4));
        assert_eq!(run_key_sync_id(&run_key(2, 1234)), Some(1234));
    }

    #[test]
    fn reference_keys_group_by_bucket_then_serial_then_time() {
        // Same bucket: "AB" sorts wholly before "ABC" (terminator), and a serial by time.
        assert!(reference_key("AB", i64::MAX, 5) < reference_key("ABC", i64::MIN, 6));
        assert!(reference_key("AB", 1, 9) < reference_key("AB", 2, 8));
        assert_eq!(key_tail(&reference_key("SN-1", 77, 5)), Some((77, 5)));
        // Buckets come first: a later bucket sorts after every serial of an earlier one.
        let next_bucket = 1 << REFERENCE_BUCKET_BITS;
        assert!(reference_key("ZZ", 0, next_bucket - 1) < reference_key("AA", 0, next_bucket));
        assert_eq!(key_bucket(&reference_key("AA", 0, next_bucket)), Some(1));
        assert_eq!(reference_bucket(u64::MAX), u32::MAX);
        let key = reference_key("SN-12", 3, 4);
        assert!(key.starts_with(&reference_seek(0, b"SN-1")));
        assert!(!key.starts_with(&reference_seek(1, b"SN-1")));
    }

    #[test]
    fn serial_escaping_keeps_prefixes_and_removes_nul() {
        let odd = "a\u{0}b\u{1}c";
        let mut escaped = Vec::new();
        escape_serial(odd, &mut escaped);
        assert!(!escaped.contains(&0));
        let mut prefix = Vec::new();
        escape_serial("a\u{0}", &mut prefix);
        assert!(escaped.starts_with(&prefix));
        // "a\u{1}" is not a prefix of "a\u{0}b...", and its escaped form must not be either.
        let mut other = Vec::new();
        escape_serial("a\u{1}", &mut other);
        assert!(!escaped.starts_with(&other));
        assert_eq!(key_tail(&reference_key(odd, 3, 4)), Some((3, 4)));
    }

    #[test]
    fn short_keys_have_no_tail() {
        assert_eq!(key_tail(&[1, 2, 3]), None);
        assert_eq!(run_key_sync_id(&[1]), None);
    }
}
