//! Walks over the entry indexes for the report: time-ordered streams of (time, sync id) from
//! the time and status indexes, their merge, and the case-insensitive serial prefix search.

use redb::{Range, ReadOnlyTable};

use super::error::{StoreError, db};
use super::tables::*;
use super::types::{EntryStatus, SyncId};

pub(crate) type IndexTable = ReadOnlyTable<&'static [u8], ()>;

/// One candidate entry as an index knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub time_ms: i64,
    pub sync_id: SyncId,
}

impl Candidate {
    fn order(self) -> (i64, SyncId) {
        (self.time_ms, self.sync_id)
    }
}

/// Candidates in index order, newest or oldest first.
pub(crate) type Candidates<'t> = Box<dyn Iterator<Item = Result<Candidate, StoreError>> + 't>;

/// The keys of one time-ordered index range, in one direction.
struct IndexStream<'t> {
    range: Range<'t, &'static [u8], ()>,
    descending: bool,
}

impl Iterator for IndexStream<'_> {
    type Item = Result<Candidate, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let item = if self.descending {
                self.range.next_back()
            } else {
                self.range.next()
            }?;
            let (key, _) = match item {
                Ok(item) => item,
                Err(err) => return Some(Err(db("reading an entry index")(err))),
            };
            if let Some((time_ms, sync_id)) = key_tail(key.value()) {
                return Some(Ok(Candidate { time_ms, sync_id }));
            }
        }
    }
}

/// Every entry at or after `since_ms`, by the time index.
pub(crate) fn by_time(
    table: &IndexTable,
    since_ms: i64,
    descending: bool,
) -> Result<Candidates<'_>, StoreError> {
    let low = time_key(since_ms, 0);
    let high = time_key(i64::MAX, u64::MAX);
    let range = table
        .range::<&[u8]>(&low[..]..=&high[..])
        .map_err(db("reading the time index"))?;
    Ok(Box::new(IndexStream { range, descending }))
}

/// The entries with `status` at or after `since_ms`, by the status index.
pub(crate) fn by_status(
    table: &IndexTable,
    status: EntryStatus,
    since_ms: i64,
    descending: bool,
) -> Result<Candidates<'_>, StoreError> {
    let low = status_key(status.code(), since_ms, 0);
    let high = status_key(status.code(), i64::MAX, u64::MAX);
    let range = table
        .range::<&[u8]>(&low[..]..=&high[..])
        .map_err(db("reading the status index"))?;
    Ok(Box::new(IndexStream { range, descending }))
}

/// The entries with any of `statuses`, merged into one time order.
pub(crate) fn by_statuses<'t>(
    table: &'t IndexTable,
    statuses: &[EntryStatus],
    since_ms: i64,
    descending: bool,
) -> Result<Candidates<'t>, StoreError> {
    if let [status] = statuses {
        return by_status(table, *status, since_ms, descending);
    }
    let streams = statuses
        .iter()
        .map(|&status| by_status(table, status, since_ms, descending))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Box::new(Merge::new(streams, descending)))
}

/// A merge of a few time-ordered streams (at most one per status) into one.
struct Merge<'t> {
    streams: Vec<Candidates<'t>>,
    heads: Vec<Option<Candidate>>,
    started: bool,
    descending: bool,
}

impl<'t> Merge<'t> {
    fn new(streams: Vec<Candidates<'t>>, descending: bool) -> Merge<'t> {
        let heads = vec![None; streams.len()];
        Merge {
            streams,
            heads,
            started: false,
            descending,
        }
    }
}

impl Iterator for Merge<'_> {
    type Item = Result<Candidate, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if !self.started {
            self.started = true;
            for (head, stream) in self.heads.iter_mut().zip(&mut self.streams) {
                match stream.next() {
                    Some(Ok(candidate)) => *head = Some(candidate),
                    Some(Err(err)) => return Some(Err(err)),
                    None => {}
                }
            }
        }
        let mut best: Option<(usize, Candidate)> = None;
        for (index, head) in self.heads.iter().enumerate() {
            let Some(head) = *head else { continue };
            let better = best.is_none_or(|(_, best)| {
                if self.descending {
                    head.order() > best.order()
                } else {
                    head.order() < best.order()
                }
            });
            if better {
                best = Some((index, head));
            }
        }
        let (index, candidate) = best?;
        self.heads[index] = match self.streams[index].next() {
            Some(Ok(next)) => Some(next),
            Some(Err(err)) => return Some(Err(err)),
            None => None,
        };
        Some(Ok(candidate))
    }
}

/// The candidates of a case-insensitive serial prefix search, or None when there are more
/// than `cap` (the prefix is too broad for gathering them to pay).
///
/// The reference index orders serials bytewise within each sync id bucket, so a prefix is a
/// key range. Case-insensitively a prefix is many ranges, one per spelling; the walk only
/// follows a spelling (upper or lower case at each ASCII letter) while some key in the bucket
/// starts with it, so serials written in one case cost two probes per letter per bucket.
pub(crate) fn by_reference_prefix(
    table: &IndexTable,
    prefix: &str,
    since_ms: i64,
    cap: usize,
) -> Result<Option<Vec<Candidate>>, StoreError> {
    let mut escaped = Vec::with_capacity(prefix.len());
    escape_serial(prefix, &mut escaped);
    let mut found = Vec::new();
    let Some(mut bucket) = first_bucket_from(table, 0)? else {
        return Ok(Some(found));
    };
    let mut spelling = Vec::with_capacity(escaped.len());
    loop {
        spelling.clear();
        let walk = PrefixWalk {
            table,
            bucket,
            since_ms,
            cap,
        };
        if !walk.spellings(&mut spelling, &escaped, &mut found)? {
            return Ok(None);
        }
        let Some(next) = bucket.checked_add(1) else {
            break;
        };
        match first_bucket_from(table, next)? {
            Some(next) => bucket = next,
            None => break,
        }
    }
    Ok(Some(found))
}

/// The first bucket at or after `bucket` that holds a key.
fn first_bucket_from(table: &IndexTable, bucket: u32) -> Result<Option<u32>, StoreError> {
    let start = bucket.to_be_bytes();
    let mut range = table
        .range::<&[u8]>(&start[..]..)
        .map_err(db("reading the reference index"))?;
    match range.next() {
        Some(item) => {
            let (key, _) = item.map_err(db("reading the reference index"))?;
            Ok(key_bucket(key.value()))
        }
        None => Ok(None),
    }
}

struct PrefixWalk<'a> {
    table: &'a IndexTable,
    bucket: u32,
    since_ms: i64,
    cap: usize,
}

impl PrefixWalk<'_> {
    /// Follows every spelling of `rest` after `spelling` that some key of the bucket has;
    /// false when more than `cap` candidates were found.
    fn spellings(
        &self,
        spelling: &mut Vec<u8>,
        rest: &[u8],
        found: &mut Vec<Candidate>,
    ) -> Result<bool, StoreError> {
        // Bytes other than ASCII letters have one spelling: take them all at once.
        let fixed = rest
            .iter()
            .take_while(|byte| !byte.is_ascii_alphabetic())
            .count();
        spelling.extend_from_slice(&rest[..fixed]);
        let rest = &rest[fixed..];
        let result = match rest.split_first() {
            None => self.gather(spelling, found),
            Some((&letter, rest)) => {
                let mut complete = true;
                let lower = letter.to_ascii_lowercase();
                let upper = letter.to_ascii_uppercase();
                for variant in [upper, lower] {
                    spelling.push(variant);
                    if self.any_with(spelling)? {
                        complete = self.spellings(spelling, rest, found)?;
                    }
                    spelling.pop();
                    if !complete {
                        break;
                    }
                }
                Ok(complete)
            }
        };
        spelling.truncate(spelling.len() - fixed);
        result
    }

    fn range(&self, spelling: &[u8]) -> Result<Range<'_, &'static [u8], ()>, StoreError> {
        let start = reference_seek(self.bucket, spelling);
        self.table
            .range::<&[u8]>(start.as_slice()..)
            .map_err(db("reading the reference index"))
    }

    fn in_prefix(&self, key: &[u8], spelling: &[u8]) -> bool {
        key_bucket(key) == Some(self.bucket) && key[BUCKET_LEN..].starts_with(spelling)
    }

    /// Whether some key of the bucket starts with `spelling`.
    fn any_with(&self, spelling: &[u8]) -> Result<bool, StoreError> {
        match self.range(spelling)?.next() {
            Some(item) => {
                let (key, _) = item.map_err(db("reading the reference index"))?;
                Ok(self.in_prefix(key.value(), spelling))
            }
            None => Ok(false),
        }
    }

    /// Gathers the keys of the bucket that start with `spelling`.
    fn gather(&self, spelling: &[u8], found: &mut Vec<Candidate>) -> Result<bool, StoreError> {
        for item in self.range(spelling)? {
            let (key, _) = item.map_err(db("reading the reference index"))?;
            let key = key.value();
            if !self.in_prefix(key, spelling) {
                break;
            }
            let Some((time_ms, sync_id)) = key_tail(key) else {
                continue;
            };
            if time_ms >= self.since_ms {
                if found.len() >= self.cap {
                    return Ok(false);
                }
                found.push(Candidate { time_ms, sync_id });
            }
        }
        Ok(true)
    }
}
