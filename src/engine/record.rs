//! One record on one connection: look up, map, compare, decide, write — and the report entry and
//! contract that say what happened.

use std::sync::Arc;

use chrono::Utc;

use super::apply;
use super::contracts::Contracts;
use super::deliver::{Deliverer, RetryNotice, WriteKind, WriteRequest};
use super::hints;
use super::http::HttpClient;
use super::lookup::{self, BulkIndex, Destination, Match};
use super::mapping::{Comparison, Mapping, Unmappable};
use super::refetch::SourceFetcher;
use super::retry::RetryPolicy;
use super::source::SourceRecord;
use super::units::{DRIFT_HINT, DRIFTED, Planned};
use crate::config::Connection;
use crate::store::{
    ContractAction, ContractHashes, EntryError, EntryStatus, FieldChange, Outcome, ReportEntry,
    RunId, RunMode, Store, SyncContract,
};

/// Everything a record task needs, shared by all of a connection run's tasks.
pub(crate) struct RecordContext {
    pub run_id: RunId,
    pub mode: RunMode,
    pub connection: Connection,
    /// The connection's mapping rules, made ready once for the run's records.
    pub mapping: Mapping,
    pub store: Store,
    /// The run's ledger: once the store stops recording, no write is sent.
    pub ledger: Arc<super::ledger::Ledger>,
    /// Where records find their contracts: loaded once in a Full run, else read per record.
    pub contracts: Contracts,
    pub client: HttpClient,
    pub deliverer: Deliverer,
    pub bulk: Option<BulkIndex>,
    pub policy: RetryPolicy,
    /// Skip a record whose mapped hash matches its contract without looking it up. False in a
    /// Resync: the operator asked for a retry, so the destination itself is compared.
    pub skip_unchanged: bool,
    /// How a Resync fetches each record's source afresh; None in runs that list the source.
    pub refetch: Option<SourceFetcher>,
}

/// Whether a record was new, changed or unchanged against its contract (SPEC test totals).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Novelty {
    New,
    Changed,
    Unchanged,
}

/// What a record task hands back to the connection run.
pub(crate) struct RecordResult {
    pub entry: ReportEntry,
    pub contract: Option<SyncContract>,
    /// None when the record's source could not be had (not fetched, so not counted).
    pub novelty: Option<Novelty>,
    /// A contract-level failure (401, 403, 404 on the endpoint, 405, 415): counts toward
    /// `abort_after`. None when the record made no request that could say.
    pub contract_level: Option<bool>,
    /// The record's task panicked with this message: the connection run fails with it.
    pub panic: Option<String>,
}

/// The result of a record whose task panicked: an Error entry carrying the message.
pub(crate) fn panicked(ctx: &RecordContext, serial: String, message: String) -> RecordResult {
    let error = EntryError {
        message: message.clone(),
        ..EntryError::default()
    };
    let mut result = unprocessed(ctx, serial, "internal_error", error);
    result.panic = Some(message);
    result
}

/// The result of a record that never reached its lookup (its task panicked, its source record
/// could not be fetched): an Error entry with this reason and error; its contract untouched.
pub(crate) fn unprocessed(
    ctx: &RecordContext,
    serial: String,
    reason: &str,
    error: EntryError,
) -> RecordResult {
    let hash = ctx
        .contracts
        .get(&ctx.store, &ctx.connection.name, &serial)
        .map(|c| c.last_hash);
    let entry = ReportEntry {
        sync_id: 0,
        run_id: ctx.run_id,
        connection: ctx.connection.name.clone(),
        system: ctx.connection.system.clone(),
        source_id: Some(serial.clone()),
        reference: serial,
        target_id: None,
        status: if ctx.mode == RunMode::Dry {
            EntryStatus::Dry
        } else {
            EntryStatus::Failed
        },
        outcome: Outcome::Error,
        reason: Some(reason.into()),
        time: Utc::now(),
        attempts: Vec::new(),
        error: Some(error),
        diff: Vec::new(),
        hashes: Some(ContractHashes {
            before: hash.clone(),
            after: hash,
        }),
    };
    RecordResult {
        entry,
        contract: None,
        novelty: None,
        contract_level: None,
        panic: None,
    }
}

/// How much of an over-long serial its entry keeps as the reference, in characters.
const SHORTENED_SERIAL_CHARS: usize = 64;

/// The start of an over-long serial, marked as cut: enough to find the record at its source,
/// without filling the report and its indexes with what is not a serial.
fn shortened(serial: &str) -> String {
    let mut cut: String = serial.chars().take(SHORTENED_SERIAL_CHARS).collect();
    cut.push('…');
    cut
}

/// Processes one source record. Never panics on input; every failure becomes an entry. With a
/// `plan` (an Apply run) the record is written only when its fresh change is the one planned;
/// otherwise it is reported drifted and nothing is written.
pub(crate) async fn process(
    ctx: Arc<RecordContext>,
    record: SourceRecord,
    plan: Option<&Planned>,
    on_retry: &mut (dyn FnMut(RetryNotice) + Send),
) -> RecordResult {
    let SourceRecord {
        serial,
        record: source,
    } = record;
    if let Err(message) = super::placeholder::check_serial(&serial) {
        let error = EntryError {
            message,
            hint: Some(hints::SERIAL_TOO_LONG.to_string()),
            ..EntryError::default()
        };
        return unprocessed(&ctx, shortened(&serial), "serial_too_long", error);
    }
    let name = &ctx.connection.name;
    let contract = ctx.contracts.get(&ctx.store, name, &serial);
    let mut entry = ReportEntry {
        sync_id: 0,
        run_id: ctx.run_id,
        connection: name.clone(),
        system: ctx.connection.system.clone(),
        reference: serial.clone(),
        source_id: Some(serial.clone()),
        target_id: contract.as_ref().and_then(|c| c.target_id.clone()),
        status: if ctx.mode == RunMode::Dry {
            EntryStatus::Dry
        } else {
            EntryStatus::Ok
        },
        outcome: Outcome::Skipped,
        reason: None,
        time: Utc::now(),
        attempts: Vec::new(),
        error: None,
        diff: Vec::new(),
        hashes: None,
    };
    let mut result = Verdict {
        contract: None,
        novelty: Novelty::New,
        contract_level: None,
        before: contract.as_ref().map(|c| c.last_hash.clone()),
        would_write: None,
    };

    // The formatted source record and its hash decide new / changed / unchanged before any
    // request; the same formatted fields are compared with the destination after the lookup.
    let formatted = ctx.mapping.format(&source);
    result.novelty = match (&contract, &formatted) {
        (None, _) => Novelty::New,
        (Some(c), Ok(formatted)) if c.last_hash == formatted.desired_hash() => Novelty::Unchanged,
        _ => Novelty::Changed,
    };
    let formatted = match formatted {
        Ok(formatted) => formatted,
        Err(Unmappable::MissingSource { field }) => {
            let message = format!("required source field {field} is absent or null");
            return result.problem(
                ctx.mode,
                entry,
                Outcome::MissingSource,
                "missing_source",
                message,
                None,
            );
        }
        Err(Unmappable::Error {
            field,
            value,
            message,
        }) => {
            let message = format!("field {field}: cannot convert {value}: {message}");
            return result.problem(
                ctx.mode,
                entry,
                Outcome::Error,
                "format_error",
                message,
                None,
            );
        }
    };
    // Unchanged since the last sync: nothing to look up or write.
    if result.novelty == Novelty::Unchanged && ctx.skip_unchanged {
        entry.outcome = Outcome::Skipped;
        entry.reason = Some("unchanged".into());
        if ctx.mode == RunMode::Live
            && let Some(mut c) = contract
        {
            c.last_seen = Utc::now();
            c.last_action = ContractAction::Unchanged;
            result.contract = Some(c);
        }
        return result.done(entry);
    }

    // Look the destination record up. The requests' futures are boxed (here and below): a
    // record task holds its whole future, spawned once per record, and a dry run on a bulk
    // index never makes a request.
    let found = match &ctx.bulk {
        Some(index) => index.find(&serial),
        None => Box::pin(lookup::lookup_one(
            &ctx.client,
            &ctx.connection.fetch,
            &serial,
            ctx.policy,
        ))
        .await
        .map(Match::from),
    };
    let destination = match found {
        Ok(Match::Found { target_id, record }) => Some((target_id, record)),
        Ok(Match::Missing) => None,
        Ok(Match::Ambiguous(n)) => {
            let message = format!("ambiguous destination: {n} records match serial {serial}");
            return result.problem(
                ctx.mode,
                entry,
                Outcome::Error,
                "ambiguous_destination",
                message,
                None,
            );
        }
        Err(e) => {
            let error = e.to_entry_error();
            result.contract_level = error.http_status.map(hints::is_contract_level);
            let message = format!("lookup failed: {}", error.message);
            return result.problem(
                ctx.mode,
                entry,
                Outcome::Error,
                "lookup_failed",
                message,
                Some(error),
            );
        }
    };
    if destination.is_none() && ctx.connection.create.is_none() {
        let message = "no destination record has this serial (and no create contract)".to_string();
        let error = EntryError {
            message: message.clone(),
            hint: Some(hints::MISSING_DESTINATION_SPIKE.into()),
            ..EntryError::default()
        };
        return result.problem(
            ctx.mode,
            entry,
            Outcome::MissingDestination,
            "missing_destination",
            message,
            Some(error),
        );
    }

    // Compare with the destination's current values.
    let creating = destination.is_none();
    let mapped = match destination {
        Some((target_id, record)) => {
            entry.target_id = Some(target_id);
            formatted.compare(Some(&record))
        }
        None => formatted.compare::<Destination>(None),
    };
    let (payload, diff, hash) = match mapped {
        Comparison::Write {
            payload,
            diff,
            desired_hash,
        } => (payload, diff, desired_hash),
        Comparison::Skipped {
            reason,
            desired_hash,
        } => {
            if let Some(plan) = plan {
                return result.drifted(entry, apply::drift_on_skip(plan, &reason), Vec::new());
            }
            entry.outcome = Outcome::Skipped;
            entry.reason = Some(reason.code().into());
            // The destination already holds what the mapping wants: remember it as synced.
            if ctx.mode == RunMode::Live {
                result.contract = Some(SyncContract {
                    connection: entry.connection.clone(),
                    origin_id: serial.clone(),
                    target_id: entry.target_id.clone(),
                    last_hash: desired_hash,
                    last_seen: Utc::now(),
                    last_synced: contract.as_ref().and_then(|c| c.last_synced),
                    last_action: ContractAction::Unchanged,
                });
            } else {
                result.would_write = Some(desired_hash);
            }
            return result.done(entry);
        }
    };
    if let Some(plan) = plan
        && let Some(message) = apply::drift_on_write(plan, creating, &diff)
    {
        return result.drifted(entry, message, diff);
    }
    entry.diff = diff;
    // A value the body cannot carry (XML forbids most controls) is the record's error, in a
    // Dry run too: a plan must not promise a write that cannot be sent.
    if let Err(message) = ctx.deliverer.check_body(creating, &payload) {
        let error = EntryError {
            message,
            hint: Some(hints::UNSENDABLE_VALUE.to_string()),
            ..EntryError::default()
        };
        return result.problem(
            ctx.mode,
            entry,
            Outcome::Error,
            "unsendable_value",
            String::new(),
            Some(error),
        );
    }
    if ctx.mode == RunMode::Dry {
        result.would_write = Some(hash);
        entry.outcome = if creating {
            Outcome::WouldCreate
        } else {
            Outcome::WouldUpdate
        };
        return result.done(entry);
    }

    // Live: write it, unless the store has stopped recording since the record was dispatched
    // (a write the store cannot record is not sent).
    if ctx.ledger.is_broken() {
        let message = "not written: the store stopped recording before this record's write was \
                       sent"
            .to_string();
        let error = EntryError {
            message,
            hint: Some(super::ledger::FREE_DISK_HINT.to_string()),
            ..EntryError::default()
        };
        return result.problem(
            ctx.mode,
            entry,
            Outcome::Error,
            "not_written",
            String::new(),
            Some(error),
        );
    }
    let kind = if creating {
        WriteKind::Create
    } else {
        WriteKind::Update {
            target_id: entry.target_id.clone(),
        }
    };
    let written = Box::pin(ctx.deliverer.write(
        WriteRequest {
            kind,
            serial: &serial,
            payload: &payload,
        },
        on_retry,
    ))
    .await;
    result.contract_level = Some(written.contract_level);
    entry.attempts = written.attempts;
    if written.target_id.is_some() {
        entry.target_id = written.target_id;
    }
    entry.outcome = if creating {
        Outcome::Created
    } else {
        Outcome::Updated
    };
    entry.status = written.status;
    if written.status == EntryStatus::Failed {
        entry.outcome = Outcome::Error;
        entry.reason = Some(if written.outcome_unknown {
            "outcome_unknown".into()
        } else {
            "write_failed".into()
        });
        entry.error = written.error;
        return result.done(entry);
    }
    if written.status == EntryStatus::Sent && ctx.connection.verify {
        match Box::pin(ctx.deliverer.verify(&serial, &payload)).await {
            Ok(true) => entry.status = EntryStatus::Ok,
            Ok(false) => {
                entry.reason = Some("not_verified".into());
            }
            Err(error) => {
                entry.reason = Some("verify_failed".into());
                entry.error = Some(error);
            }
        }
    }
    result.contract = Some(SyncContract {
        connection: entry.connection.clone(),
        origin_id: serial,
        target_id: entry.target_id.clone(),
        last_hash: hash,
        last_seen: Utc::now(),
        last_synced: Some(Utc::now()),
        last_action: if creating {
            ContractAction::Created
        } else {
            ContractAction::Updated
        },
    });
    result.done(entry)
}

/// What a record task decides besides its entry; see [`RecordResult`].
struct Verdict {
    contract: Option<SyncContract>,
    novelty: Novelty,
    contract_level: Option<bool>,
    /// The contract's last hash before this record; None without a contract.
    before: Option<String>,
    /// In a dry run, the hash a live run would write to the contract.
    would_write: Option<String>,
}

impl Verdict {
    /// The result, the entry carrying the contract's hash before and after it: the hash
    /// written, else the one a live run would write, else the one it had.
    fn done(self, mut entry: ReportEntry) -> RecordResult {
        let after = self
            .contract
            .as_ref()
            .map(|c| c.last_hash.clone())
            .or(self.would_write)
            .or_else(|| self.before.clone());
        entry.hashes = Some(ContractHashes {
            before: self.before,
            after,
        });
        RecordResult {
            entry,
            contract: self.contract,
            novelty: Some(self.novelty),
            contract_level: self.contract_level,
            panic: None,
        }
    }

    /// A planned record whose fresh change is not the one planned: Failed, Skipped "drifted",
    /// with the fresh diff; nothing written, the contract untouched.
    fn drifted(
        mut self,
        mut entry: ReportEntry,
        message: String,
        diff: Vec<FieldChange>,
    ) -> RecordResult {
        self.contract = None;
        self.would_write = None;
        entry.status = EntryStatus::Failed;
        entry.outcome = Outcome::Skipped;
        entry.reason = Some(DRIFTED.into());
        entry.error = Some(EntryError {
            message,
            hint: Some(DRIFT_HINT.into()),
            ..EntryError::default()
        });
        entry.diff = diff;
        self.done(entry)
    }

    /// A record that cannot be written: Dry in a dry run, Failed in a live one, with its reason.
    fn problem(
        self,
        mode: RunMode,
        mut entry: ReportEntry,
        outcome: Outcome,
        reason: &str,
        message: String,
        error: Option<EntryError>,
    ) -> RecordResult {
        entry.outcome = outcome;
        entry.reason = Some(reason.into());
        entry.status = if mode == RunMode::Dry {
            EntryStatus::Dry
        } else {
            EntryStatus::Failed
        };
        let mut error = error.unwrap_or_default();
        if error.message.is_empty() {
            error.message = message;
        }
        entry.error = Some(error);
        self.done(entry)
    }
}
