//! The bulk index's records in a compact form: what a Full run over a million destination
//! records holds in memory for its whole length.
//!
//! Per record a hash map of boxed strings cost about 350 bytes (measured: a 1,000,000-record
//! Full Dry peaked at 555 MiB, most of it here): a bucket of 65 bytes in a table kept at most
//! 7/8 full and doubled (so up to twice that while it grows), and three allocations (serial,
//! target id, record text). Here a record is a run of bytes in large chunks, and the lookup is
//! a sorted array of (hash of the serial, place of the record): 16 bytes a record, no
//! allocation per record. In the bytes:
//!
//! - the serial, kept exactly (a hash alone could not tell two serials apart for sure);
//! - the target id, as bytes when it is lower-case hex (half its text);
//! - the record's values by the position of their key in the record's shape (its list of keys,
//!   kept once); each column's values interned while the column has few distinct ones (a
//!   status, a model, an OS version: a varint), kept as text when it has many (a name).

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};

use serde_json::{Map, Value};

/// Bytes per chunk of record bytes: records never straddle chunks (a larger one gets a chunk
/// of its own).
const CHUNK: usize = 1 << 20;
/// Shapes beyond this many: records kept whole as JSON text.
const MAX_SHAPES: usize = 256;
/// A column with more distinct values than this keeps further new values as text.
const MAX_INTERNED_PER_COLUMN: usize = 4_096;

/// What the index holds for a serial.
pub(crate) enum Found<'i> {
    Missing,
    /// More than one record has the serial.
    Many(usize),
    One {
        target_id: Option<String>,
        /// The keys of the record's shape, when it was kept by shape: `record` is then the
        /// array of its values.
        keys: Option<&'i [Box<str>]>,
        record: Value,
    },
}

/// The records of a bulk listing, by serial.
pub(crate) struct CompactIndex {
    chunks: Vec<Vec<u8>>,
    /// (hash of the serial, place of its record), sorted by [`CompactIndex::finish`].
    places: Vec<(u64, u64)>,
    hasher: RandomState,
    shapes: Vec<Box<[Box<str>]>>,
    shape_ids: HashMap<Box<[Box<str>]>, u32>,
    last_shape: Option<u32>,
    /// Per shape, per key position: the column's interned values.
    columns: Vec<Vec<Column>>,
    values: Vec<Value>,
    distinct_serials: usize,
    sorted: bool,
}

#[derive(Default)]
struct Column {
    ids: HashMap<Box<str>, u32>,
}

impl Default for CompactIndex {
    fn default() -> Self {
        CompactIndex {
            chunks: Vec::new(),
            places: Vec::new(),
            hasher: RandomState::new(),
            shapes: Vec::new(),
            shape_ids: HashMap::new(),
            last_shape: None,
            columns: Vec::new(),
            values: Vec::new(),
            distinct_serials: 0,
            sorted: true,
        }
    }
}

impl CompactIndex {
    /// Adds a record; [`CompactIndex::finish`] must follow before lookups.
    pub(crate) fn insert(&mut self, serial: &str, target_id: Option<&str>, record: Value) {
        let mut bytes = Vec::with_capacity(64);
        put_bytes(&mut bytes, serial.as_bytes());
        match target_id {
            None => bytes.push(0),
            Some(id) if is_packable_hex(id) => {
                bytes.push(1);
                bytes.push((id.len() / 2) as u8);
                for pair in id.as_bytes().chunks_exact(2) {
                    bytes.push((nibble(pair[0]) << 4) | nibble(pair[1]));
                }
            }
            Some(id) => {
                bytes.push(2);
                put_bytes(&mut bytes, id.as_bytes());
            }
        }
        self.put_record(&mut bytes, record);
        let place = self.store(&bytes);
        self.places.push((self.hasher.hash_one(serial), place));
        self.sorted = false;
    }

    /// Sorts the lookup; counts the distinct serials.
    pub(crate) fn finish(&mut self) {
        self.places.sort_unstable();
        self.places.shrink_to_fit();
        let mut distinct = 0;
        let mut at = 0;
        while at < self.places.len() {
            let hash = self.places[at].0;
            let end = at + self.places[at..].partition_point(|(h, _)| *h == hash);
            // Nearly always one record per hash; otherwise count distinct serials among them.
            let mut seen: Vec<&[u8]> = Vec::new();
            for &(_, place) in &self.places[at..end] {
                let serial = self.serial_at(place);
                if !seen.contains(&serial) {
                    seen.push(serial);
                }
            }
            distinct += seen.len();
            at = end;
        }
        self.distinct_serials = distinct;
        self.sorted = true;
    }

    /// How many distinct serials are indexed.
    pub(crate) fn len(&self) -> usize {
        self.distinct_serials
    }

    /// The record(s) with exactly this serial.
    pub(crate) fn find(&self, serial: &str) -> Found<'_> {
        debug_assert!(self.sorted, "finish() before find()");
        let hash = self.hasher.hash_one(serial);
        let start = self.places.partition_point(|(h, _)| *h < hash);
        let mut found = None;
        let mut count = 0;
        for &(h, place) in &self.places[start..] {
            if h != hash {
                break;
            }
            if self.serial_at(place) == serial.as_bytes() {
                count += 1;
                found.get_or_insert(place);
            }
        }
        match (found, count) {
            (None, _) => Found::Missing,
            (Some(place), 1) => self.read(place),
            (_, count) => Found::Many(count),
        }
    }

    fn store(&mut self, bytes: &[u8]) -> u64 {
        let fits = self
            .chunks
            .last()
            .is_some_and(|chunk| chunk.len() + bytes.len() <= chunk.capacity());
        if !fits {
            self.chunks.push(Vec::with_capacity(CHUNK.max(bytes.len())));
        }
        let index = self.chunks.len() - 1;
        let chunk = &mut self.chunks[index];
        let offset = chunk.len();
        chunk.extend_from_slice(bytes);
        ((index as u64) << 32) | offset as u64
    }

    fn bytes_at(&self, place: u64) -> &[u8] {
        let chunk = &self.chunks[(place >> 32) as usize];
        &chunk[(place & 0xffff_ffff) as usize..]
    }

    fn serial_at(&self, place: u64) -> &[u8] {
        let mut reader = Reader(self.bytes_at(place));
        reader.bytes().unwrap_or_default()
    }

    fn put_record(&mut self, out: &mut Vec<u8>, record: Value) {
        let Value::Object(map) = record else {
            put_varint(out, 0);
            put_bytes(out, record.to_string().as_bytes());
            return;
        };
        let Some(shape) = self.shape_of(&map) else {
            put_varint(out, 0);
            put_bytes(out, Value::Object(map).to_string().as_bytes());
            return;
        };
        put_varint(out, u64::from(shape) + 1);
        for (position, (_, value)) in map.into_iter().enumerate() {
            let text = value.to_string();
            let columns = &mut self.columns[shape as usize];
            let column = &mut columns[position];
            let id = match column.ids.get(text.as_str()) {
                Some(&id) => Some(id),
                None if column.ids.len() < MAX_INTERNED_PER_COLUMN => {
                    let id = self.values.len() as u32;
                    self.values.push(value);
                    column.ids.insert(text.clone().into_boxed_str(), id);
                    Some(id)
                }
                None => None,
            };
            match id {
                Some(id) => put_varint(out, u64::from(id) << 1),
                None => {
                    put_varint(out, ((text.len() as u64) << 1) | 1);
                    out.extend_from_slice(text.as_bytes());
                }
            }
        }
    }

    fn shape_of(&mut self, map: &Map<String, Value>) -> Option<u32> {
        let same = |keys: &[Box<str>]| {
            keys.len() == map.len()
                && keys
                    .iter()
                    .map(|key| &**key)
                    .eq(map.keys().map(String::as_str))
        };
        if let Some(last) = self.last_shape
            && same(&self.shapes[last as usize])
        {
            return Some(last);
        }
        let keys: Box<[Box<str>]> = map.keys().map(|key| key.as_str().into()).collect();
        if let Some(id) = self.shape_ids.get(&keys) {
            self.last_shape = Some(*id);
            return Some(*id);
        }
        if self.shapes.len() >= MAX_SHAPES {
            return None;
        }
        let id = u32::try_from(self.shapes.len()).ok()?;
        self.columns
            .push((0..keys.len()).map(|_| Column::default()).collect());
        self.shapes.push(keys.clone());
        self.shape_ids.insert(keys, id);
        self.last_shape = Some(id);
        Some(id)
    }

    /// The record at `place`, parsed back. The bytes were written by this index: a part that
    /// does not read back is a bug, shown as null rather than a panic mid-run.
    fn read(&self, place: u64) -> Found<'_> {
        let mut reader = Reader(self.bytes_at(place));
        let _serial = reader.bytes();
        let target_id = match reader.byte() {
            Some(1) => reader.hex(),
            Some(2) => reader
                .bytes()
                .map(|b| String::from_utf8_lossy(b).into_owned()),
            _ => None,
        };
        let shape = reader.varint().unwrap_or(0);
        if shape == 0 {
            let record = reader
                .bytes()
                .and_then(|text| serde_json::from_slice(text).ok())
                .unwrap_or(Value::Null);
            return Found::One {
                target_id,
                keys: None,
                record,
            };
        }
        let Some(keys) = self.shapes.get(shape as usize - 1) else {
            return Found::One {
                target_id,
                keys: None,
                record: Value::Null,
            };
        };
        let mut values = Vec::with_capacity(keys.len());
        for _ in 0..keys.len() {
            let code = reader.varint().unwrap_or(0);
            let value = if code & 1 == 0 {
                self.values.get((code >> 1) as usize).cloned()
            } else {
                reader
                    .take((code >> 1) as usize)
                    .and_then(|text| serde_json::from_slice(text).ok())
            };
            values.push(value.unwrap_or(Value::Null));
        }
        Found::One {
            target_id,
            keys: Some(&keys[..]),
            record: Value::Array(values),
        }
    }
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn is_packable_hex(text: &str) -> bool {
    !text.is_empty()
        && text.len().is_multiple_of(2)
        && text.len() <= 2 * 255
        && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn nibble(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        _ => digit - b'a' + 10,
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (&first, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(first)
    }

    fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        if len > self.0.len() {
            return None;
        }
        let (taken, rest) = self.0.split_at(len);
        self.0 = rest;
        Some(taken)
    }

    fn varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.varint()?).ok()?;
        self.take(len)
    }

    fn hex(&mut self) -> Option<String> {
        let len = usize::from(self.byte()?);
        let bytes = self.take(len)?;
        Some(crate::text::lower_hex(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn whole(found: Found<'_>) -> Option<(Option<String>, Value)> {
        match found {
            Found::One {
                target_id,
                keys: Some(keys),
                record: Value::Array(values),
            } => Some((
                target_id,
                Value::Object(keys.iter().map(|k| k.to_string()).zip(values).collect()),
            )),
            Found::One {
                target_id, record, ..
            } => Some((target_id, record)),
            _ => None,
        }
    }

    #[test]
    fn records_read_back_exactly_by_serial() {
        let mut index = CompactIndex::default();
        let mut expected = Vec::new();
        for i in 0..20_000u32 {
            let serial = format!("SD-{i:06}");
            let status = ["In Use", "In Stock"][i as usize % 2];
            let ram = [8, 16, 32][i as usize % 3];
            let record = json!({
                "name": format!("lt-{i}"),
                "status": status,
                "ram": ram,
                "owner": if i % 5 == 0 { Value::Null } else { json!("x@y") },
                "nested": {"a": [1, 2.5, "z"]},
            });
            let target = match i % 3 {
                0 => Some(format!("{:032x}", u128::from(i) * 7919)),
                1 => Some(format!("Id-{i}")),
                _ => None,
            };
            index.insert(&serial, target.as_deref(), record.clone());
            expected.push((serial, target, record));
        }
        index.insert("odd", Some("1"), json!([1, {"b": 2}]));
        index.insert("text", None, json!("just text"));
        index.finish();
        assert_eq!(index.len(), 20_002);
        for (serial, target, record) in expected {
            assert_eq!(
                whole(index.find(&serial)),
                Some((target, record)),
                "{serial}"
            );
        }
        assert_eq!(
            whole(index.find("odd")),
            Some((Some("1".into()), json!([1, {"b": 2}])))
        );
        assert_eq!(whole(index.find("text")), Some((None, json!("just text"))));
        assert!(matches!(index.find("SD-999999"), Found::Missing));
        assert!(matches!(index.find("SD-00000"), Found::Missing));
        // Far more distinct names than a column interns: the rest kept as text, all exact.
        assert!(index.values.len() < 2 * MAX_INTERNED_PER_COLUMN);
    }

    #[test]
    fn duplicates_are_counted_and_distinct_serials_too() {
        let mut index = CompactIndex::default();
        for _ in 0..3 {
            index.insert("B", Some("1"), json!({}));
        }
        index.insert("A", Some("2"), json!({"v": 1}));
        index.finish();
        assert!(matches!(index.find("B"), Found::Many(3)));
        assert_eq!(index.len(), 2);
        assert_eq!(
            whole(index.find("A")),
            Some((Some("2".into()), json!({"v": 1})))
        );
    }

    #[test]
    fn a_record_larger_than_a_chunk_gets_one_of_its_own() {
        let mut index = CompactIndex::default();
        let big = "x".repeat(CHUNK + 10);
        index.insert("small", None, json!({"v": 1}));
        index.insert("big", None, json!({"v": big}));
        index.insert("after", None, json!({"v": 2}));
        index.finish();
        assert_eq!(whole(index.find("big")), Some((None, json!({"v": big}))));
        assert_eq!(whole(index.find("after")), Some((None, json!({"v": 2}))));
    }
}
