//! The stored form of a report entry (schema versions 3 and 4): a compact binary record
//! instead of JSON.
//!
//! A million-record run writes a million entries, most of them alike ("skipped, no change"),
//! so every byte of the common case counts. The layout is hand-written rather than derived
//! (postcard over serde was weighed): serde's tagged enums and `Option` fields cost a byte or
//! more each, the hex ids and hashes would stay text, and a layout of our own can evolve by its
//! leading tag without a second serde model of the entry to keep in step. What it does:
//!
//! - integers are LEB128 varints (times as zig-zag milliseconds, with the sub-millisecond rest
//!   only when there is one);
//! - absent fields cost one bit of a flags word, not a byte each;
//! - lower-case hex text (destination ids, contract hashes) is kept as its bytes, half the size;
//!   the source id is usually the serial and then costs nothing; a contract hash that did not
//!   change is stored once;
//! - the reason codes the engine writes ("no_change", ...) are one byte;
//! - the connection and system names are a small id into the store's table of names
//!   (`entry_names`, from version 4; version 3 kept the names in every entry);
//! - the columns the report filters and sorts on come first ([`Header`]), so reading them
//!   stops before attempts, error details and the diff.
//!
//! JSON (the form of versions 1 and 2, starting with `{`) is still read, so that a store is
//! readable while it is migrated and a value the migration has not reached yet is never lost.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::de::Error as _;

use super::entry_names::{NameId, Names};
use super::error::StoreError;
use super::types::{
    Attempt, ContractHashes, EntryError, EntryStatus, FieldChange, Outcome, ReportEntry, RunId,
    SyncId,
};

/// The first byte of an entry of version 3: the names in full. JSON starts with `{` (0x7B):
/// never this.
const TAG_V3: u8 = 0x03;
/// The first byte of an entry of version 4 on: the names as a [`NameId`].
const TAG_V4: u8 = 0x04;

// Flags of the entry: which optional parts follow. The ones a no-change entry has fit in the
// first seven bits, so its flags take one byte.
const HAS_SOURCE: u32 = 1;
const SOURCE_IS_REFERENCE: u32 = 1 << 1;
const HAS_TARGET: u32 = 1 << 2;
const TARGET_HEX: u32 = 1 << 3;
const HAS_REASON: u32 = 1 << 4;
const HAS_HASHES: u32 = 1 << 5;
const HAS_SUBMILLI: u32 = 1 << 6;
const HAS_ATTEMPTS: u32 = 1 << 7;
const HAS_ERROR: u32 = 1 << 8;
const HAS_DIFF: u32 = 1 << 9;

/// Reason codes the engine writes, kept as their position + 1 (0: the text follows). Only ever
/// appended to: a stored position must keep its meaning.
const REASONS: &[&str] = &[
    "no_change",
    "rule",
    "unchanged",
    "missing_source",
    "missing_destination",
    "ambiguous_destination",
    "format_error",
    "lookup_failed",
    "write_failed",
    "not_written",
    "outcome_unknown",
    "not_verified",
    "verify_failed",
    "unsendable_value",
    "serial_too_long",
    "internal_error",
];

// How one contract hash is kept.
const HASH_NONE: u8 = 0;
const HASH_HEX: u8 = 1;
const HASH_TEXT: u8 = 2;
/// `after` only: the same as `before`.
const HASH_SAME: u8 = 3;

fn outcome_code(outcome: Outcome) -> u8 {
    match outcome {
        Outcome::Updated => 0,
        Outcome::Created => 1,
        Outcome::WouldUpdate => 2,
        Outcome::WouldCreate => 3,
        Outcome::Skipped => 4,
        Outcome::MissingSource => 5,
        Outcome::MissingDestination => 6,
        Outcome::Error => 7,
    }
}

fn outcome_from(code: u8) -> Option<Outcome> {
    Some(match code {
        0 => Outcome::Updated,
        1 => Outcome::Created,
        2 => Outcome::WouldUpdate,
        3 => Outcome::WouldCreate,
        4 => Outcome::Skipped,
        5 => Outcome::MissingSource,
        6 => Outcome::MissingDestination,
        7 => Outcome::Error,
        _ => return None,
    })
}

/// True for the bytes of an entry in the JSON form of schema versions 1 and 2.
pub(crate) fn is_json(bytes: &[u8]) -> bool {
    bytes.first() == Some(&b'{')
}

/// True for the bytes of an entry in the form this version writes.
pub(crate) fn is_current(bytes: &[u8]) -> bool {
    bytes.first() == Some(&TAG_V4)
}

/// Writes `entry` in the compact form into `out` (cleared first); `names` is the id of its
/// connection and system.
pub(crate) fn encode_entry(entry: &ReportEntry, names: NameId, out: &mut Vec<u8>) {
    out.clear();
    out.push(TAG_V4);
    let mut flags = 0u32;
    let source_is_reference = entry.source_id.as_deref() == Some(entry.reference.as_str());
    if entry.source_id.is_some() {
        flags |= HAS_SOURCE;
        if source_is_reference {
            flags |= SOURCE_IS_REFERENCE;
        }
    }
    if let Some(target) = &entry.target_id {
        flags |= HAS_TARGET;
        if is_packable_hex(target) {
            flags |= TARGET_HEX;
        }
    }
    if entry.reason.is_some() {
        flags |= HAS_REASON;
    }
    let (time_ms, submilli) = split_time(&entry.time);
    if submilli != 0 {
        flags |= HAS_SUBMILLI;
    }
    if !entry.attempts.is_empty() {
        flags |= HAS_ATTEMPTS;
    }
    if entry.error.is_some() {
        flags |= HAS_ERROR;
    }
    if !entry.diff.is_empty() {
        flags |= HAS_DIFF;
    }
    if entry.hashes.is_some() {
        flags |= HAS_HASHES;
    }
    put_varint(out, u64::from(flags));

    // The header: the report's columns.
    put_varint(out, entry.sync_id);
    put_varint(out, entry.run_id);
    put_varint(out, u64::from(names));
    put_str(out, &entry.reference);
    out.push(entry.status.code());
    out.push(outcome_code(entry.outcome));
    put_varint(out, zigzag(time_ms));
    if submilli != 0 {
        put_varint(out, u64::from(submilli));
    }
    if !entry.attempts.is_empty() {
        put_varint(out, entry.attempts.len() as u64);
    }

    // The body.
    if let Some(source) = &entry.source_id
        && !source_is_reference
    {
        put_str(out, source);
    }
    if let Some(target) = &entry.target_id {
        if flags & TARGET_HEX != 0 {
            put_hex(out, target);
        } else {
            put_str(out, target);
        }
    }
    if let Some(reason) = &entry.reason {
        match REASONS.iter().position(|known| known == reason) {
            Some(at) => out.push(at as u8 + 1),
            None => {
                out.push(0);
                put_str(out, reason);
            }
        }
    }
    for attempt in &entry.attempts {
        let (ms, sub) = split_time(&attempt.at);
        put_varint(out, zigzag(ms));
        put_varint(out, u64::from(sub));
        put_varint(out, attempt.http_status.map_or(0, |s| u64::from(s) + 1));
        put_opt_str(out, attempt.error.as_deref());
    }
    if let Some(error) = &entry.error {
        put_varint(out, error.http_status.map_or(0, |s| u64::from(s) + 1));
        put_opt_str(out, error.code.as_deref());
        put_str(out, &error.message);
        put_opt_str(out, error.hint.as_deref());
        put_opt_str(out, error.method.as_deref());
        put_opt_str(out, error.url.as_deref());
        put_opt_str(out, error.response_excerpt.as_deref());
    }
    if !entry.diff.is_empty() {
        put_varint(out, entry.diff.len() as u64);
        for change in &entry.diff {
            put_str(out, &change.field);
            put_opt_value(out, change.old.as_ref());
            put_opt_value(out, change.new.as_ref());
        }
    }
    if let Some(hashes) = &entry.hashes {
        put_hash(out, hashes.before.as_deref());
        if hashes.after.is_some() && hashes.after == hashes.before {
            out.push(HASH_SAME);
        } else {
            put_hash(out, hashes.after.as_deref());
        }
    }
}

/// The entry's stored bytes in the form new entries are written in.
#[cfg(test)]
pub(crate) fn entry_bytes(entry: &ReportEntry, names: NameId) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    encode_entry(entry, names, &mut out);
    out
}

/// Reads an entry stored in any form; `names` resolves the name id of the current one.
pub(crate) fn decode_entry(
    bytes: &[u8],
    names: &Names,
    what: &'static str,
) -> Result<ReportEntry, StoreError> {
    if is_json(bytes) {
        // The JSON of schema 2 (serde_json here, not tables::decode: tables re-exports this).
        return serde_json::from_slice(bytes).map_err(|source| StoreError::Encoding {
            context: what,
            source,
        });
    }
    read_entry(bytes, names).map_err(|message| damaged(what, message))
}

/// The report columns of an entry in the compact form, borrowed from its bytes.
#[derive(Debug)]
pub(crate) struct Header<'a> {
    pub sync_id: SyncId,
    pub run_id: RunId,
    pub connection: Cow<'a, str>,
    pub system: Cow<'a, str>,
    pub reference: Cow<'a, str>,
    pub status: EntryStatus,
    pub outcome: Outcome,
    pub time_ms: i64,
    pub attempts: u32,
}

/// Reads the header of an entry in the compact form.
pub(crate) fn read_header<'a>(bytes: &'a [u8], names: &'a Names) -> Result<Header<'a>, StoreError> {
    let mut reader = Reader::new(bytes);
    reader
        .header(names)
        .map(|(header, _, _)| header)
        .map_err(|message| damaged("decoding an entry's report columns", message))
}

pub(super) fn damaged(what: &'static str, message: &str) -> StoreError {
    StoreError::Encoding {
        context: what,
        source: serde_json::Error::custom(format!("damaged entry: {message}")),
    }
}

fn read_entry(bytes: &[u8], names: &Names) -> Result<ReportEntry, &'static str> {
    let mut reader = Reader::new(bytes);
    let (header, flags, submilli) = reader.header(names)?;
    let time = join_time(header.time_ms, submilli).ok_or("time out of range")?;
    let reference = header.reference.into_owned();
    let source_id = if flags & HAS_SOURCE == 0 {
        None
    } else if flags & SOURCE_IS_REFERENCE != 0 {
        Some(reference.clone())
    } else {
        Some(reader.string()?)
    };
    let target_id = if flags & HAS_TARGET == 0 {
        None
    } else if flags & TARGET_HEX != 0 {
        Some(reader.hex()?)
    } else {
        Some(reader.string()?)
    };
    let reason = if flags & HAS_REASON != 0 {
        Some(match reader.byte()? {
            0 => reader.string()?,
            code => REASONS
                .get(usize::from(code) - 1)
                .ok_or("an unknown reason code")?
                .to_string(),
        })
    } else {
        None
    };
    let mut attempts = Vec::with_capacity(header.attempts as usize);
    for _ in 0..header.attempts {
        let ms = unzigzag(reader.varint()?);
        let sub = u32::try_from(reader.varint()?).map_err(|_| "attempt time")?;
        attempts.push(Attempt {
            at: join_time(ms, sub).ok_or("attempt time out of range")?,
            http_status: reader.status()?,
            error: reader.opt_string()?,
        });
    }
    let error = if flags & HAS_ERROR != 0 {
        Some(EntryError {
            http_status: reader.status()?,
            code: reader.opt_string()?,
            message: reader.string()?,
            hint: reader.opt_string()?,
            method: reader.opt_string()?,
            url: reader.opt_string()?,
            response_excerpt: reader.opt_string()?,
        })
    } else {
        None
    };
    let mut diff = Vec::new();
    if flags & HAS_DIFF != 0 {
        let count = reader.varint()?;
        for _ in 0..count {
            diff.push(FieldChange {
                field: reader.string()?,
                old: reader.opt_value()?,
                new: reader.opt_value()?,
            });
        }
    }
    let hashes = if flags & HAS_HASHES != 0 {
        let before = reader.hash(None)?;
        let after = reader.hash(before.as_deref())?;
        Some(ContractHashes { before, after })
    } else {
        None
    };
    if !reader.rest().is_empty() {
        return Err("bytes after the entry");
    }
    Ok(ReportEntry {
        sync_id: header.sync_id,
        run_id: header.run_id,
        connection: header.connection.into_owned(),
        system: header.system.into_owned(),
        reference,
        source_id,
        target_id,
        status: header.status,
        outcome: header.outcome,
        reason,
        time,
        attempts,
        error,
        diff,
        hashes,
    })
}

/// Milliseconds since the epoch and the nanoseconds beyond them.
pub(super) fn split_time(time: &DateTime<Utc>) -> (i64, u32) {
    (
        time.timestamp_millis(),
        time.timestamp_subsec_nanos() % 1_000_000,
    )
}

pub(super) fn join_time(ms: i64, submilli: u32) -> Option<DateTime<Utc>> {
    let secs = ms.div_euclid(1000);
    let nanos = u32::try_from(ms.rem_euclid(1000)).ok()? * 1_000_000 + submilli;
    DateTime::from_timestamp(secs, nanos)
}

pub(super) fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

pub(super) fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

pub(super) fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

pub(super) fn put_str(out: &mut Vec<u8>, text: &str) {
    put_varint(out, text.len() as u64);
    out.extend_from_slice(text.as_bytes());
}

fn put_opt_str(out: &mut Vec<u8>, text: Option<&str>) {
    match text {
        None => put_varint(out, 0),
        Some(text) => {
            put_varint(out, text.len() as u64 + 1);
            out.extend_from_slice(text.as_bytes());
        }
    }
}

/// A value as its JSON text; 0 for none.
fn put_opt_value(out: &mut Vec<u8>, value: Option<&serde_json::Value>) {
    // A Value always serialises: it was built from JSON or by the engine.
    let text = value.map(|value| value.to_string());
    put_opt_str(out, text.as_deref());
}

/// Non-empty lower-case hex of even length: kept as its bytes.
pub(super) fn is_packable_hex(text: &str) -> bool {
    !text.is_empty()
        && text.len().is_multiple_of(2)
        && text.len() <= 2 * 255
        && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

pub(super) fn put_hex(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    out.push((bytes.len() / 2) as u8);
    for pair in bytes.chunks_exact(2) {
        out.push((nibble(pair[0]) << 4) | nibble(pair[1]));
    }
}

fn nibble(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        _ => digit - b'a' + 10,
    }
}

fn put_hash(out: &mut Vec<u8>, hash: Option<&str>) {
    match hash {
        None => out.push(HASH_NONE),
        Some(hash) if is_packable_hex(hash) => {
            out.push(HASH_HEX);
            put_hex(out, hash);
        }
        Some(hash) => {
            out.push(HASH_TEXT);
            put_str(out, hash);
        }
    }
}

/// Reads the compact form; every error names what was damaged.
pub(super) struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes }
    }

    pub(super) fn rest(&self) -> &'a [u8] {
        self.bytes
    }

    pub(super) fn byte(&mut self) -> Result<u8, &'static str> {
        let (&first, rest) = self.bytes.split_first().ok_or("cut short")?;
        self.bytes = rest;
        Ok(first)
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], &'static str> {
        if len > self.bytes.len() {
            return Err("cut short");
        }
        let (taken, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        Ok(taken)
    }

    pub(super) fn varint(&mut self) -> Result<u64, &'static str> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("a number too long")
    }

    fn str(&mut self) -> Result<Cow<'a, str>, &'static str> {
        let len = usize::try_from(self.varint()?).map_err(|_| "a text too long")?;
        let bytes = self.take(len)?;
        std::str::from_utf8(bytes)
            .map(Cow::Borrowed)
            .map_err(|_| "text that is not UTF-8")
    }

    pub(super) fn string(&mut self) -> Result<String, &'static str> {
        self.str().map(Cow::into_owned)
    }

    fn opt_string(&mut self) -> Result<Option<String>, &'static str> {
        let len = self.varint()?;
        if len == 0 {
            return Ok(None);
        }
        let len = usize::try_from(len - 1).map_err(|_| "a text too long")?;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec())
            .map(Some)
            .map_err(|_| "text that is not UTF-8")
    }

    fn opt_value(&mut self) -> Result<Option<serde_json::Value>, &'static str> {
        match self.opt_string()? {
            None => Ok(None),
            Some(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|_| "a diff value that is not JSON"),
        }
    }

    pub(super) fn hex(&mut self) -> Result<String, &'static str> {
        let len = usize::from(self.byte()?);
        let bytes = self.take(len)?;
        Ok(crate::text::lower_hex(bytes))
    }

    fn status(&mut self) -> Result<Option<u16>, &'static str> {
        match self.varint()? {
            0 => Ok(None),
            n => u16::try_from(n - 1)
                .map(Some)
                .map_err(|_| "an HTTP status out of range"),
        }
    }

    fn hash(&mut self, before: Option<&str>) -> Result<Option<String>, &'static str> {
        match self.byte()? {
            HASH_NONE => Ok(None),
            HASH_HEX => self.hex().map(Some),
            HASH_TEXT => self.string().map(Some),
            HASH_SAME => before
                .map(|b| Some(b.to_string()))
                .ok_or("a hash the same as none"),
            _ => Err("an unknown hash kind"),
        }
    }

    /// The header, the flags and the sub-millisecond rest of the time.
    fn header(&mut self, names: &'a Names) -> Result<(Header<'a>, u32, u32), &'static str> {
        let tag = self.byte()?;
        if tag != TAG_V3 && tag != TAG_V4 {
            return Err("an unknown layout");
        }
        let flags = u32::try_from(self.varint()?).map_err(|_| "unknown flags")?;
        let sync_id = self.varint()?;
        let run_id = self.varint()?;
        let (connection, system) = if tag == TAG_V3 {
            (self.str()?, self.str()?)
        } else {
            let id = NameId::try_from(self.varint()?).map_err(|_| "a name id out of range")?;
            names.get(id).ok_or("an unknown name id")?
        };
        let reference = self.str()?;
        let status = EntryStatus::from_code(self.byte()?).ok_or("an unknown status")?;
        let outcome = outcome_from(self.byte()?).ok_or("an unknown outcome")?;
        let time_ms = unzigzag(self.varint()?);
        let submilli = if flags & HAS_SUBMILLI != 0 {
            u32::try_from(self.varint()?).map_err(|_| "time")?
        } else {
            0
        };
        let attempts = if flags & HAS_ATTEMPTS != 0 {
            u32::try_from(self.varint()?).map_err(|_| "too many attempts")?
        } else {
            0
        };
        let header = Header {
            sync_id,
            run_id,
            connection,
            system,
            reference,
            status,
            outcome,
            time_ms,
            attempts,
        };
        Ok((header, flags, submilli))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;
    use serde_json::json;

    /// The names of the entries below: id 0 is theirs.
    fn names() -> Names {
        Names::of_pairs(&[("other", "Other"), ("cmdb", "ServiceNow CMDB (demo)")])
    }

    /// The id of the entries' names in [`names`].
    const ID: NameId = 1;

    /// `bytes` of version 4 rewritten as version 3 wrote them: the names in full.
    fn as_v3(bytes: &[u8], names: &Names) -> Vec<u8> {
        let mut reader = Reader::new(&bytes[1..]);
        let (flags, sync_id, run_id) = (
            reader.varint().unwrap(),
            reader.varint().unwrap(),
            reader.varint().unwrap(),
        );
        let id = reader.varint().unwrap() as NameId;
        let (connection, system) = names.get(id).unwrap();
        let mut out = vec![TAG_V3];
        for value in [flags, sync_id, run_id] {
            put_varint(&mut out, value);
        }
        put_str(&mut out, &connection);
        put_str(&mut out, &system);
        out.extend_from_slice(reader.rest());
        out
    }

    fn skipped() -> ReportEntry {
        ReportEntry {
            sync_id: 1_234_567,
            run_id: 42,
            connection: "cmdb".into(),
            system: "ServiceNow CMDB (demo)".into(),
            reference: "SD-001999".into(),
            source_id: Some("SD-001999".into()),
            target_id: Some("211d258c52bbdd05e3b44ee0e3e06b4e".into()),
            status: EntryStatus::Dry,
            outcome: Outcome::Skipped,
            reason: Some("no_change".into()),
            time: Utc.timestamp_opt(1_764_000_000, 964_000_000).unwrap(),
            attempts: Vec::new(),
            error: None,
            diff: Vec::new(),
            hashes: Some(ContractHashes {
                before: Some("aa4fdb5c53c1834a1fc653e320c11b0b".into()),
                after: Some("aa4fdb5c53c1834a1fc653e320c11b0b".into()),
            }),
        }
    }

    #[test]
    fn a_no_change_entry_is_small_and_reads_back() {
        let entry = skipped();
        let bytes = entry_bytes(&entry, ID);
        let json = serde_json::to_vec(&entry).unwrap();
        assert!(bytes.len() < 64, "{} bytes", bytes.len());
        assert!(
            bytes.len() * 4 < json.len(),
            "{} vs {}",
            bytes.len(),
            json.len()
        );
        let names = names();
        assert_eq!(decode_entry(&bytes, &names, "test").unwrap(), entry);
        assert_eq!(decode_entry(&json, &names, "test").unwrap(), entry);
        let v3 = as_v3(&bytes, &names);
        assert_eq!(decode_entry(&v3, &Names::default(), "test").unwrap(), entry);
        let header = read_header(&bytes, &names).unwrap();
        assert_eq!(header.reference, "SD-001999");
        assert_eq!(header.system, "ServiceNow CMDB (demo)");
        assert_eq!(header.time_ms, entry.time.timestamp_millis());
    }

    #[test]
    fn a_failure_keeps_every_detail() {
        let mut entry = skipped();
        entry.status = EntryStatus::Failed;
        entry.outcome = Outcome::Error;
        entry.source_id = Some("dev-9".into());
        entry.target_id = Some("Not-Hex 12".into());
        entry.time = Utc.timestamp_opt(-86_401, 123_456_789).unwrap();
        entry.attempts = vec![
            Attempt {
                at: entry.time,
                http_status: Some(503),
                error: Some("503 Service Unavailable".into()),
            },
            Attempt {
                at: entry.time,
                http_status: None,
                error: None,
            },
        ];
        entry.error = Some(EntryError {
            http_status: Some(400),
            code: Some(String::new()),
            message: "field ram_gb: expected a number ✓".into(),
            hint: None,
            method: Some("PATCH".into()),
            url: Some("http://127.0.0.1:7300/x".into()),
            response_excerpt: Some("{\"error\":1}".into()),
        });
        entry.diff = vec![
            FieldChange {
                field: "owner".into(),
                old: None,
                new: Some(serde_json::Value::Null),
            },
            FieldChange {
                field: "ram".into(),
                old: Some(json!({"gb": 8.5, "list": [1, "x"]})),
                new: None,
            },
        ];
        entry.hashes = Some(ContractHashes {
            before: None,
            after: Some("ABC".into()),
        });
        let bytes = entry_bytes(&entry, ID);
        assert_eq!(decode_entry(&bytes, &names(), "test").unwrap(), entry);
    }

    #[test]
    fn damaged_bytes_are_an_error_not_a_panic() {
        let names = names();
        let bytes = entry_bytes(&skipped(), ID);
        for len in 0..bytes.len() {
            assert!(
                decode_entry(&bytes[..len], &names, "test").is_err(),
                "{len}"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode_entry(&longer, &names, "test").is_err());
        // A name id the store does not know.
        assert!(decode_entry(&bytes, &Names::default(), "test").is_err());
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof!["[a-f0-9]{0,40}", "[A-Za-z0-9 _\\-]{0,20}", any::<String>(),]
    }

    proptest! {
        #[test]
        fn any_entry_reads_back_as_written(
            sync_id in any::<u64>(),
            run_id in any::<u64>(),
            reference in text(),
            source in proptest::option::of(text()),
            target in proptest::option::of(text()),
            reason in proptest::option::of(prop_oneof![text(), Just("no_change".to_string())]),
            secs in -10_000_000_000i64..10_000_000_000,
            nanos in 0u32..1_000_000_000,
            status in 0u8..5,
            outcome in 0u8..8,
            before in proptest::option::of(text()),
            after in proptest::option::of(text()),
            same in any::<bool>(),
            status_code in proptest::option::of(any::<u16>()),
            field in text(),
        ) {
            let time = Utc.timestamp_opt(secs, nanos).unwrap();
            let entry = ReportEntry {
                sync_id,
                run_id,
                connection: "cmdb".into(),
                system: "ServiceNow CMDB (demo)".into(),
                reference: reference.clone(),
                source_id: source.or_else(|| same.then(|| reference.clone())),
                target_id: target,
                status: EntryStatus::from_code(status).unwrap(),
                outcome: outcome_from(outcome).unwrap(),
                reason,
                time,
                attempts: vec![Attempt { at: time, http_status: status_code, error: None }],
                error: status_code.map(|code| EntryError {
                    http_status: Some(code),
                    message: field.clone(),
                    ..EntryError::default()
                }),
                diff: vec![FieldChange {
                    field,
                    old: Some(json!(secs)),
                    new: None,
                }],
                hashes: Some(ContractHashes {
                    after: if same { before.clone() } else { after },
                    before,
                }),
            };
            let names = names();
            let bytes = entry_bytes(&entry, ID);
            prop_assert_eq!(decode_entry(&as_v3(&bytes, &names), &names, "test").unwrap(), entry.clone());
            prop_assert_eq!(decode_entry(&bytes, &names, "test").unwrap(), entry);
        }
    }
}
