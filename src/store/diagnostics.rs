//! The diagnostics of one connection run (issue 15 point 5): why its records went the way they
//! did (no change, rule, missing source field X, missing destination, format error on field Y,
//! an HTTP status…) and which fields change most, in one pass over its entries, a page at a
//! time. Memory stays bounded: a page of entries, and at most [`MAX_KEYS`] reasons and fields
//! (the rest counted together).

use std::collections::HashMap;

use super::entries::EntryQuery;
use super::error::StoreError;
use super::types::{Outcome, ReportEntry, RunId};
use super::{EntryCursor, Store};

/// Entries read per page.
const PAGE: usize = 1_000;
/// Distinct reasons, and distinct fields, kept; more are counted as "other".
pub const MAX_KEYS: usize = 64;

/// Why an entry of a connection run went the way it did.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// Updated, created, would update or would create.
    Written(Outcome),
    /// Every field equal to the destination's and dropped by `on_same = "skip"`.
    NoChange,
    /// Unchanged since its contract's last sync (the hash matches).
    Unchanged,
    /// No rule produced a field: null-source protection (`on_null = "skip"`) or no rule at all.
    Rule,
    /// A required source field absent or null; the field when the entry names it.
    MissingSource(Option<String>),
    MissingDestination,
    /// A value a formatter could not convert; the field when the entry names it.
    FormatError(Option<String>),
    /// Refused by the destination with this HTTP status.
    Http(u16),
    /// Any other reason code (drifted, outcome unknown, a timeout…).
    Other(String),
    /// Reasons past the first [`MAX_KEYS`] distinct ones.
    More,
}

/// One reason and how many entries it holds; `outcome` is the report filter that shows them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReasonCount {
    pub reason: Reason,
    pub outcome: Outcome,
    pub count: u64,
}

/// The diagnostics of one connection run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diagnostics {
    pub run_id: RunId,
    pub connection: String,
    /// Entries read.
    pub entries: u64,
    /// Reasons, most entries first.
    pub reasons: Vec<ReasonCount>,
    /// Fields written (or to be written) with a new value: (field, entries), most first.
    pub fields: Vec<(String, u64)>,
    /// Fields sent with the value the destination already holds (`on_same` is not skip).
    pub same_value: Vec<(String, u64)>,
}

/// The field an entry's message names: `required source field status is absent or null`,
/// `field ram_gb: cannot convert "x": …`.
fn named_field(entry: &ReportEntry, before: &str, after: &str) -> Option<String> {
    let message = &entry.error.as_ref()?.message;
    let start = message.find(before)? + before.len();
    let rest = &message[start..];
    let end = rest.find(after)?;
    let field = rest[..end].trim();
    (!field.is_empty()).then(|| field.to_string())
}

/// The reason of one entry.
pub fn reason_of(entry: &ReportEntry) -> Reason {
    let code = entry.reason.as_deref();
    match entry.outcome {
        Outcome::Updated | Outcome::Created | Outcome::WouldUpdate | Outcome::WouldCreate => {
            Reason::Written(entry.outcome)
        }
        Outcome::Skipped => match code {
            Some("no_change") => Reason::NoChange,
            Some("unchanged") => Reason::Unchanged,
            Some("rule") => Reason::Rule,
            Some(other) => Reason::Other(other.to_string()),
            None => Reason::Other("skipped".into()),
        },
        Outcome::MissingSource => {
            Reason::MissingSource(named_field(entry, "source field ", " is absent"))
        }
        Outcome::MissingDestination => Reason::MissingDestination,
        Outcome::Error => match (code, entry.error.as_ref().and_then(|e| e.http_status)) {
            (Some("format_error"), _) => Reason::FormatError(named_field(entry, "field ", ":")),
            (_, Some(status)) => Reason::Http(status),
            (Some(other), None) => Reason::Other(other.to_string()),
            (None, None) => Reason::Other("error".into()),
        },
    }
}

/// Adds one to `key` in `counts`, or to `more` once `counts` holds [`MAX_KEYS`] keys.
fn bump<K: std::hash::Hash + Eq>(counts: &mut HashMap<K, u64>, key: K, more: &mut u64) {
    if let Some(n) = counts.get_mut(&key) {
        *n += 1;
    } else if counts.len() < MAX_KEYS {
        counts.insert(key, 1);
    } else {
        *more += 1;
    }
}

fn most_first<K: Ord>(counts: HashMap<K, u64>) -> Vec<(K, u64)> {
    let mut out: Vec<(K, u64)> = counts.into_iter().collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out
}

/// Folds entries into diagnostics; [`Store::connection_run_diagnostics`] feeds it a page at a
/// time.
#[derive(Default)]
pub struct Tally {
    entries: u64,
    reasons: HashMap<(Reason, Outcome), u64>,
    more_reasons: u64,
    fields: HashMap<String, u64>,
    same_value: HashMap<String, u64>,
    more_fields: u64,
}

impl Tally {
    pub fn add(&mut self, entry: &ReportEntry) {
        self.entries += 1;
        let reason = reason_of(entry);
        bump(
            &mut self.reasons,
            (reason, entry.outcome),
            &mut self.more_reasons,
        );
        if !matches!(
            entry.outcome,
            Outcome::Updated | Outcome::Created | Outcome::WouldUpdate | Outcome::WouldCreate
        ) {
            return;
        }
        for change in &entry.diff {
            let same = change.old.is_some() && change.old == change.new;
            let counts = if same {
                &mut self.same_value
            } else {
                &mut self.fields
            };
            bump(counts, change.field.clone(), &mut self.more_fields);
        }
    }

    pub fn finish(self, run_id: RunId, connection: &str) -> Diagnostics {
        let mut reasons: Vec<ReasonCount> = most_first(self.reasons)
            .into_iter()
            .map(|((reason, outcome), count)| ReasonCount {
                reason,
                outcome,
                count,
            })
            .collect();
        if self.more_reasons > 0 {
            reasons.push(ReasonCount {
                reason: Reason::More,
                outcome: Outcome::Error,
                count: self.more_reasons,
            });
        }
        Diagnostics {
            run_id,
            connection: connection.to_string(),
            entries: self.entries,
            reasons,
            fields: most_first(self.fields),
            same_value: most_first(self.same_value),
        }
    }
}

impl Store {
    /// The diagnostics of `connection`'s run inside run `run_id`: one pass over its entries,
    /// a page at a time. Reads many entries: call it off the UI thread.
    pub fn connection_run_diagnostics(
        &self,
        run_id: RunId,
        connection: &str,
    ) -> Result<Diagnostics, StoreError> {
        let query = EntryQuery {
            run: Some(run_id),
            connection: Some(connection.to_string()),
            ..EntryQuery::default()
        };
        let mut tally = Tally::default();
        let mut cursor: Option<EntryCursor> = None;
        loop {
            let page = self.entries_page(&query, cursor, PAGE)?;
            for entry in &page.entries {
                tally.add(entry);
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => return Ok(tally.finish(run_id, connection)),
            }
        }
    }
}
