//! Reading only the columns a report query needs out of a stored entry.
//!
//! An entry is stored as JSON, most of it (attempts, error details, the diff) after the columns
//! the report filters and sorts on. Decoding a whole [`ReportEntry`](super::ReportEntry) costs a
//! few microseconds; this reads the fields in the order they were written and stops as soon as
//! it has the ones asked for, so a filter or sort over a million entries decodes a fraction of
//! the bytes and allocates nothing for plain strings.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::entry_names::Names;
use super::error::StoreError;
use super::types::{EntryStatus, Outcome, RunId};

/// Which fields a [`Summary`] must hold; the rest are skipped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Needs(u16);

impl Needs {
    pub const RUN: Needs = Needs(1);
    pub const CONNECTION: Needs = Needs(1 << 1);
    pub const SYSTEM: Needs = Needs(1 << 2);
    pub const REFERENCE: Needs = Needs(1 << 3);
    pub const STATUS: Needs = Needs(1 << 4);
    pub const OUTCOME: Needs = Needs(1 << 5);
    pub const TIME: Needs = Needs(1 << 6);
    pub const ATTEMPTS: Needs = Needs(1 << 7);

    pub fn none() -> Needs {
        Needs(0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn has(self, other: Needs) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn with(self, other: Needs) -> Needs {
        Needs(self.0 | other.0)
    }
}

impl std::ops::BitOr for Needs {
    type Output = Needs;
    fn bitor(self, other: Needs) -> Needs {
        self.with(other)
    }
}

/// The report columns of one entry; only the fields named by its [`Needs`] are filled.
#[derive(Debug, Default)]
pub(crate) struct Summary<'a> {
    pub run_id: RunId,
    pub connection: Cow<'a, str>,
    pub system: Cow<'a, str>,
    pub reference: Cow<'a, str>,
    pub status: Option<EntryStatus>,
    pub outcome: Option<Outcome>,
    /// Milliseconds since the epoch, as the indexes keep it.
    pub time_ms: i64,
    pub attempts: u32,
}

impl<'a> Summary<'a> {
    /// Reads the `needs` fields of a stored entry (the compact form, or JSON as versions 1 and 2
    /// stored it).
    /// `names` resolves the name id of the current form.
    pub fn read(
        bytes: &'a [u8],
        needs: Needs,
        names: &'a Names,
    ) -> Result<Summary<'a>, StoreError> {
        let mut summary = Summary::default();
        if needs.is_empty() {
            return Ok(summary);
        }
        if !super::entry_codec::is_json(bytes) {
            // The compact form has every column in its header: read it whole.
            let header = super::entry_codec::read_header(bytes, names)?;
            return Ok(Summary {
                run_id: header.run_id,
                connection: header.connection,
                system: header.system,
                reference: header.reference,
                status: Some(header.status),
                outcome: Some(header.outcome),
                time_ms: header.time_ms,
                attempts: header.attempts,
            });
        }
        let mut found = Needs::none();
        let mut deserializer = serde_json::Deserializer::from_slice(bytes);
        let seed = SummarySeed {
            summary: &mut summary,
            needs,
            found: &mut found,
        };
        let result = deserializer.deserialize_map(seed);
        // Stopping early leaves the rest of the object unread, which serde_json reports as an
        // error once the visitor returns; what was read is complete all the same.
        if found.has(needs) {
            return Ok(summary);
        }
        match result {
            Err(source) => Err(StoreError::Encoding {
                context: "decoding an entry's report columns",
                source,
            }),
            Ok(()) => Err(StoreError::Encoding {
                context: "decoding an entry's report columns",
                source: de::Error::custom("a report column is missing"),
            }),
        }
    }
}

struct SummarySeed<'s, 'a> {
    summary: &'s mut Summary<'a>,
    needs: Needs,
    found: &'s mut Needs,
}

impl<'de, 's> Visitor<'de> for SummarySeed<'s, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a report entry")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<(), M::Error> {
        while let Some(key) = map.next_key::<Text<'de>>()? {
            let field = match key.0.as_ref() {
                "run_id" => Needs::RUN,
                "connection" => Needs::CONNECTION,
                "system" => Needs::SYSTEM,
                "reference" => Needs::REFERENCE,
                "status" => Needs::STATUS,
                "outcome" => Needs::OUTCOME,
                "time" => Needs::TIME,
                "attempts" => Needs::ATTEMPTS,
                _ => Needs::none(),
            };
            if field.is_empty() || !self.needs.has(field) {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let summary = &mut *self.summary;
            match field {
                Needs::RUN => summary.run_id = map.next_value()?,
                Needs::CONNECTION => summary.connection = map.next_value::<Text>()?.0,
                Needs::SYSTEM => summary.system = map.next_value::<Text>()?.0,
                Needs::REFERENCE => summary.reference = map.next_value::<Text>()?.0,
                Needs::STATUS => summary.status = Some(map.next_value()?),
                Needs::OUTCOME => summary.outcome = Some(map.next_value()?),
                Needs::TIME => {
                    let text = map.next_value::<Text>()?;
                    let time: DateTime<Utc> = text.0.parse().map_err(de::Error::custom)?;
                    summary.time_ms = time.timestamp_millis();
                }
                _ => summary.attempts = map.next_value::<Count>()?.0,
            }
            *self.found = self.found.with(field);
            if self.found.has(self.needs) {
                return Ok(());
            }
        }
        Ok(())
    }
}

/// A string that borrows from the input when it has no escapes.
struct Text<'a>(Cow<'a, str>);

impl<'de> de::Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(text)))
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(text.to_owned())))
            }
            fn visit_string<E: de::Error>(self, text: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(text)))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

/// The length of a JSON array, its elements skipped.
struct Count(u32);

impl<'de> de::Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CountVisitor;
        impl<'de> Visitor<'de> for CountVisitor {
            type Value = Count;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Count, S::Error> {
                let mut count = 0u32;
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    count = count.saturating_add(1);
                }
                Ok(Count(count))
            }
        }
        deserializer.deserialize_seq(CountVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::types::{Attempt, EntryError, ReportEntry};

    fn entry() -> ReportEntry {
        let time: DateTime<Utc> = "2024-05-01T12:00:00.123456Z".parse().unwrap();
        ReportEntry {
            sync_id: 7,
            run_id: 3,
            connection: "cm\"db".into(),
            system: "ServiceNow CMDB".into(),
            reference: "SN-1".into(),
            source_id: None,
            target_id: Some("t".into()),
            status: EntryStatus::Failed,
            outcome: Outcome::Error,
            reason: None,
            time,
            attempts: vec![
                Attempt {
                    at: time,
                    http_status: Some(503),
                    error: Some("down".into()),
                };
                3
            ],
            error: Some(EntryError::default()),
            diff: Vec::new(),
            hashes: None,
        }
    }

    #[test]
    fn reads_only_what_is_asked_and_stops_early() {
        let names = Names::default();
        let bytes = serde_json::to_vec(&entry()).unwrap();
        let summary = Summary::read(&bytes, Needs::SYSTEM | Needs::REFERENCE, &names).unwrap();
        assert_eq!(summary.system, "ServiceNow CMDB");
        assert!(matches!(summary.system, Cow::Borrowed(_)));
        assert_eq!(summary.reference, "SN-1");
        assert_eq!(summary.connection, "");
        assert_eq!(summary.status, None);
    }

    #[test]
    fn reads_every_column() {
        let names = Names::default();
        let bytes = serde_json::to_vec(&entry()).unwrap();
        let all = Needs::RUN
            | Needs::CONNECTION
            | Needs::SYSTEM
            | Needs::REFERENCE
            | Needs::STATUS
            | Needs::OUTCOME
            | Needs::TIME
            | Needs::ATTEMPTS;
        let summary = Summary::read(&bytes, all, &names).unwrap();
        assert_eq!(summary.run_id, 3);
        assert_eq!(summary.connection, "cm\"db");
        assert_eq!(summary.status, Some(EntryStatus::Failed));
        assert_eq!(summary.outcome, Some(Outcome::Error));
        assert_eq!(summary.time_ms, entry().time.timestamp_millis());
        assert_eq!(summary.attempts, 3);
    }

    #[test]
    fn reads_the_compact_form_alike() {
        let names = Names::of_pairs(&[("cm\"db", "ServiceNow CMDB")]);
        let json = serde_json::to_vec(&entry()).unwrap();
        let compact = crate::store::entry_codec::entry_bytes(&entry(), 0);
        let all = Needs::RUN
            | Needs::CONNECTION
            | Needs::SYSTEM
            | Needs::REFERENCE
            | Needs::STATUS
            | Needs::OUTCOME
            | Needs::TIME
            | Needs::ATTEMPTS;
        let (a, b) = (
            Summary::read(&json, all, &names).unwrap(),
            Summary::read(&compact, all, &names).unwrap(),
        );
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
        assert!(matches!(b.system, Cow::Borrowed(_)));
        // Cut inside the header (tag, flags, sync id, run id, name id, the serial...).
        assert!(Summary::read(&compact[..8], all, &names).is_err());
    }

    #[test]
    fn damaged_bytes_are_an_error() {
        let names = Names::default();
        assert!(Summary::read(b"{\"run_id\": \"x\"", Needs::RUN, &names).is_err());
        assert!(Summary::read(b"{}", Needs::RUN, &names).is_err());
    }
}
