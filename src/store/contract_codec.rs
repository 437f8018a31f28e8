//! The stored form of a sync contract (schema version 5): a compact binary record instead of
//! JSON, without the connection and serial its key already holds.
//!
//! A Live run writes a contract for every record it sees, so on a million-record fleet the
//! contracts table is as large as a run's entries. As JSON a contract repeated its key, kept
//! the 64-character blake3 hex of its hash as text and its times as RFC 3339 text: about 250
//! bytes. Here the hash and a hex target id are their bytes, times are varint milliseconds
//! (`entry_codec`'s helpers), and absent parts cost a bit of the flags.
//!
//! JSON (versions up to 4, starting with `{`) is still read, so that a contract the migration
//! has not reached is never lost.

use chrono::{DateTime, Utc};

use super::entry_codec::{
    Reader, damaged, is_packable_hex, join_time, put_hex, put_str, put_varint, split_time,
    unzigzag, zigzag,
};
use super::error::StoreError;
use super::types::{ContractAction, SyncContract};

/// The first byte of a contract in this layout; never `{`.
const TAG_V5: u8 = 0x05;

const HAS_TARGET: u64 = 1;
const TARGET_HEX: u64 = 1 << 1;
const HASH_HEX: u64 = 1 << 2;
const HAS_SYNCED: u64 = 1 << 3;
const SEEN_SUBMILLI: u64 = 1 << 4;
const SYNCED_SUBMILLI: u64 = 1 << 5;

fn action_code(action: ContractAction) -> u8 {
    match action {
        ContractAction::Created => 0,
        ContractAction::Updated => 1,
        ContractAction::Unchanged => 2,
    }
}

fn action_from(code: u8) -> Option<ContractAction> {
    Some(match code {
        0 => ContractAction::Created,
        1 => ContractAction::Updated,
        2 => ContractAction::Unchanged,
        _ => return None,
    })
}

/// True for a contract in the form this version writes.
pub(crate) fn is_current(bytes: &[u8]) -> bool {
    bytes.first() == Some(&TAG_V5)
}

/// Writes `contract` in the compact form into `out` (cleared first); its connection and serial
/// are left to the key.
pub(crate) fn encode_contract(contract: &SyncContract, out: &mut Vec<u8>) {
    out.clear();
    out.push(TAG_V5);
    let mut flags = 0;
    if let Some(target) = &contract.target_id {
        flags |= HAS_TARGET;
        if is_packable_hex(target) {
            flags |= TARGET_HEX;
        }
    }
    if is_packable_hex(&contract.last_hash) {
        flags |= HASH_HEX;
    }
    let (seen_ms, seen_sub) = split_time(&contract.last_seen);
    if seen_sub != 0 {
        flags |= SEEN_SUBMILLI;
    }
    let synced = contract.last_synced.as_ref().map(split_time);
    if let Some((_, sub)) = synced {
        flags |= HAS_SYNCED;
        if sub != 0 {
            flags |= SYNCED_SUBMILLI;
        }
    }
    put_varint(out, flags);
    out.push(action_code(contract.last_action));
    if let Some(target) = &contract.target_id {
        if flags & TARGET_HEX != 0 {
            put_hex(out, target);
        } else {
            put_str(out, target);
        }
    }
    if flags & HASH_HEX != 0 {
        put_hex(out, &contract.last_hash);
    } else {
        put_str(out, &contract.last_hash);
    }
    put_time(out, seen_ms, seen_sub);
    if let Some((ms, sub)) = synced {
        put_time(out, ms, sub);
    }
}

fn put_time(out: &mut Vec<u8>, ms: i64, submilli: u32) {
    put_varint(out, zigzag(ms));
    if submilli != 0 {
        put_varint(out, u64::from(submilli));
    }
}

/// Reads a contract stored in either form; `connection` and `origin_id` are its key's.
pub(crate) fn decode_contract(
    connection: &str,
    origin_id: &str,
    bytes: &[u8],
    what: &'static str,
) -> Result<SyncContract, StoreError> {
    if super::entry_codec::is_json(bytes) {
        return super::tables::decode(bytes, what);
    }
    read_contract(connection, origin_id, bytes).map_err(|message| damaged(what, message))
}

fn read_contract(
    connection: &str,
    origin_id: &str,
    bytes: &[u8],
) -> Result<SyncContract, &'static str> {
    let mut reader = Reader::new(bytes);
    if reader.byte()? != TAG_V5 {
        return Err("an unknown layout");
    }
    let flags = reader.varint()?;
    let last_action = action_from(reader.byte()?).ok_or("an unknown contract action")?;
    let target_id = if flags & HAS_TARGET == 0 {
        None
    } else if flags & TARGET_HEX != 0 {
        Some(reader.hex()?)
    } else {
        Some(reader.string()?)
    };
    let last_hash = if flags & HASH_HEX != 0 {
        reader.hex()?
    } else {
        reader.string()?
    };
    let last_seen = read_time(&mut reader, flags & SEEN_SUBMILLI != 0)?;
    let last_synced = if flags & HAS_SYNCED != 0 {
        Some(read_time(&mut reader, flags & SYNCED_SUBMILLI != 0)?)
    } else {
        None
    };
    if !reader.rest().is_empty() {
        return Err("bytes after the contract");
    }
    Ok(SyncContract {
        connection: connection.to_string(),
        origin_id: origin_id.to_string(),
        target_id,
        last_hash,
        last_seen,
        last_synced,
        last_action,
    })
}

fn read_time(reader: &mut Reader, submilli: bool) -> Result<DateTime<Utc>, &'static str> {
    let ms = unzigzag(reader.varint()?);
    let sub = if submilli {
        u32::try_from(reader.varint()?).map_err(|_| "time")?
    } else {
        0
    };
    join_time(ms, sub).ok_or("time out of range")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn contract() -> SyncContract {
        SyncContract {
            connection: "cmdb".into(),
            origin_id: "SD-000042".into(),
            target_id: Some("211d258c52bbdd05e3b44ee0e3e06b4e".into()),
            last_hash: "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262".into(),
            last_seen: Utc.timestamp_opt(1_764_000_000, 964_123_456).unwrap(),
            last_synced: Some(Utc.timestamp_opt(1_763_000_000, 0).unwrap()),
            last_action: ContractAction::Updated,
        }
    }

    fn round_trip(contract: &SyncContract) -> SyncContract {
        let mut bytes = Vec::new();
        encode_contract(contract, &mut bytes);
        decode_contract(&contract.connection, &contract.origin_id, &bytes, "test").unwrap()
    }

    #[test]
    fn a_contract_is_small_and_reads_back_json_ones_too() {
        let contract = contract();
        let mut bytes = Vec::new();
        encode_contract(&contract, &mut bytes);
        let json = serde_json::to_vec(&contract).unwrap();
        assert!(bytes.len() <= 72, "{} bytes", bytes.len());
        assert!(
            bytes.len() * 3 < json.len(),
            "{} vs {}",
            bytes.len(),
            json.len()
        );
        assert_eq!(round_trip(&contract), contract);
        assert_eq!(
            decode_contract("cmdb", "SD-000042", &json, "test").unwrap(),
            contract
        );
    }

    #[test]
    fn damaged_bytes_are_an_error_not_a_panic() {
        let mut bytes = Vec::new();
        encode_contract(&contract(), &mut bytes);
        for len in 0..bytes.len() {
            assert!(
                decode_contract("c", "s", &bytes[..len], "test").is_err(),
                "{len}"
            );
        }
        bytes.push(0);
        assert!(decode_contract("c", "s", &bytes, "test").is_err());
    }

    proptest! {
        #[test]
        fn any_contract_reads_back_as_written(
            target in proptest::option::of(prop_oneof!["[a-f0-9]{0,40}", any::<String>()]),
            hash in prop_oneof!["[a-f0-9]{0,64}", any::<String>()],
            seen in -10_000_000_000i64..10_000_000_000,
            seen_nanos in 0u32..1_000_000_000,
            synced in proptest::option::of(-10_000_000_000i64..10_000_000_000),
            action in 0u8..3,
        ) {
            let contract = SyncContract {
                target_id: target,
                last_hash: hash,
                last_seen: Utc.timestamp_opt(seen, seen_nanos).unwrap(),
                last_synced: synced.map(|s| Utc.timestamp_opt(s, 1_000).unwrap()),
                last_action: action_from(action).unwrap(),
                ..contract()
            };
            prop_assert_eq!(round_trip(&contract), contract);
        }
    }
}
