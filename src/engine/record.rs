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
use super::mapping::{Comparison, Formatted, Mapping, Unmappable};
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
    /// The connection run's warning and error lines, kept with the run.
    pub run_log: Arc<super::run_log::RunLog>,
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
    let mut error = error;
    if error.hint.is_none() {
        error.hint = Some(
            hints::for_reason(reason)
                .unwrap_or(hints::fallback(true))
                .to_string(),
        );
    }
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
///
/// A record's way through the run, in order: [`InFlight::map`] (format it and tell new, changed
/// or unchanged), [`InFlight::look_up`] (find the destination record), [`InFlight::compare`]
/// (what a write would change, against the plan if there is one), [`InFlight::deliver`] (write
/// and verify, Live only), then [`InFlight::end`] records what happened as its entry and
/// contract. Each phase may end the record early with an [`End`].
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
    let mut record = InFlight::open(&ctx, serial);
    let end = match record.go(&ctx, &source, plan, on_retry).await {
        Ok(()) => End::Done,
        Err(end) => end,
    };
    record.end(ctx.mode, end)
}

/// How a record's way through the run ends.
enum End {
    /// As its entry and verdict now say.
    Done,
    /// It cannot be written: Dry in a dry run, Failed in a live one, with its reason.
    Problem {
        outcome: Outcome,
        reason: &'static str,
        message: String,
        /// Boxed: the phases return an `End` on every early way out.
        error: Option<Box<EntryError>>,
    },
    /// A planned record whose fresh change is not the one planned (see [`Verdict::drifted`]).
    Drifted {
        message: String,
        diff: Vec<FieldChange>,
    },
}

impl End {
    fn problem(outcome: Outcome, reason: &'static str, message: String) -> End {
        End::Problem {
            outcome,
            reason,
            message,
            error: None,
        }
    }

    fn problem_with(outcome: Outcome, reason: &'static str, error: EntryError) -> End {
        End::Problem {
            outcome,
            reason,
            message: String::new(),
            error: Some(Box::new(error)),
        }
    }
}

/// What a compared record would write.
struct Write {
    payload: serde_json::Value,
    hash: String,
    creating: bool,
}

/// One record on its way through a connection run: its entry as it fills in, what is decided
/// besides, and the contract it had.
struct InFlight {
    serial: String,
    entry: ReportEntry,
    verdict: Verdict,
    /// The record's contract before this run; taken when the record ends unchanged.
    contract: Option<SyncContract>,
}

impl InFlight {
    /// The record as it starts: its contract read, its entry Ok (Dry in a dry run) and Skipped
    /// until a phase says otherwise.
    fn open(ctx: &RecordContext, serial: String) -> InFlight {
        let name = &ctx.connection.name;
        let contract = ctx.contracts.get(&ctx.store, name, &serial);
        let entry = ReportEntry {
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
        let verdict = Verdict {
            contract: None,
            novelty: Novelty::New,
            contract_level: None,
            before: contract.as_ref().map(|c| c.last_hash.clone()),
            would_write: None,
        };
        InFlight {
            serial,
            entry,
            verdict,
            contract,
        }
    }

    /// The phases in order; Err ends the record before the last one.
    async fn go(
        &mut self,
        ctx: &RecordContext,
        source: &serde_json::Value,
        plan: Option<&Planned>,
        on_retry: &mut (dyn FnMut(RetryNotice) + Send),
    ) -> Result<(), End> {
        let formatted = self.map(ctx, source)?;
        let destination = self.look_up(ctx).await?;
        let write = self.compare(ctx, formatted, destination, plan)?;
        self.deliver(ctx, write, on_retry).await
    }

    /// Map: the formatted source record and its hash decide new / changed / unchanged before
    /// any request; the same formatted fields are compared with the destination after the
    /// lookup. A record unchanged since the last sync ends here (nothing to look up or write).
    fn map<'m>(
        &mut self,
        ctx: &'m RecordContext,
        source: &serde_json::Value,
    ) -> Result<Formatted<'m>, End> {
        let formatted = ctx.mapping.format(source);
        self.verdict.novelty = match (&self.contract, &formatted) {
            (None, _) => Novelty::New,
            (Some(c), Ok(formatted)) if c.last_hash == formatted.desired_hash() => {
                Novelty::Unchanged
            }
            _ => Novelty::Changed,
        };
        let formatted = match formatted {
            Ok(formatted) => formatted,
            Err(Unmappable::MissingSource { field }) => {
                let error = EntryError {
                    message: format!("required source field {field} is absent or null"),
                    hint: Some(hints::missing_source(&field)),
                    ..EntryError::default()
                };
                return Err(End::problem_with(
                    Outcome::MissingSource,
                    "missing_source",
                    error,
                ));
            }
            Err(Unmappable::Error {
                field,
                value,
                message,
            }) => {
                let error = EntryError {
                    message: format!("field {field}: cannot convert {value}: {message}"),
                    hint: Some(hints::format_error(&field)),
                    ..EntryError::default()
                };
                return Err(End::problem_with(Outcome::Error, "format_error", error));
            }
        };
        if self.verdict.novelty == Novelty::Unchanged && ctx.skip_unchanged {
            self.entry.outcome = Outcome::Skipped;
            self.entry.reason = Some("unchanged".into());
            if ctx.mode == RunMode::Live
                && let Some(mut c) = self.contract.take()
            {
                c.last_seen = Utc::now();
                c.last_action = ContractAction::Unchanged;
                self.verdict.contract = Some(c);
            }
            return Err(End::Done);
        }
        Ok(formatted)
    }

    /// Look up: the destination record with this serial (its id and values), None when there
    /// is none and the connection may create it. The requests' futures are boxed (here and
    /// below): a record task holds its whole future, spawned once per record, and a dry run on
    /// a bulk index never makes a request.
    async fn look_up<'c>(
        &mut self,
        ctx: &'c RecordContext,
    ) -> Result<Option<(String, Destination<'c>)>, End> {
        let found = match &ctx.bulk {
            Some(index) => index.find(&self.serial),
            None => Box::pin(lookup::lookup_one(
                &ctx.client,
                &ctx.connection.fetch,
                &self.serial,
                ctx.policy,
            ))
            .await
            .map(Match::from),
        };
        let destination = match found {
            Ok(Match::Found { target_id, record }) => Some((target_id, record)),
            Ok(Match::Missing) => None,
            Ok(Match::Ambiguous(n)) => {
                let message = format!(
                    "ambiguous destination: {n} records match serial {}",
                    self.serial
                );
                return Err(End::problem(
                    Outcome::Error,
                    "ambiguous_destination",
                    message,
                ));
            }
            Err(e) => {
                let error = e.to_entry_error();
                self.verdict.contract_level = error.http_status.map(hints::is_contract_level);
                let message = format!("lookup failed: {}", error.message);
                return Err(End::Problem {
                    outcome: Outcome::Error,
                    reason: "lookup_failed",
                    message,
                    error: Some(Box::new(error)),
                });
            }
        };
        if destination.is_none() && ctx.connection.create.is_none() {
            let message =
                "no destination record has this serial (and no create contract)".to_string();
            let error = EntryError {
                message: message.clone(),
                hint: Some(hints::MISSING_DESTINATION_SPIKE.into()),
                ..EntryError::default()
            };
            return Err(End::Problem {
                outcome: Outcome::MissingDestination,
                reason: "missing_destination",
                message,
                error: Some(Box::new(error)),
            });
        }
        Ok(destination)
    }

    /// Compare with the destination's current values: what a write would change, held against
    /// the plan of an Apply run. A record that needs no write ends here (remembered as synced
    /// in a Live run); so does a Dry run's record, as the write it would make.
    fn compare(
        &mut self,
        ctx: &RecordContext,
        formatted: Formatted<'_>,
        destination: Option<(String, Destination<'_>)>,
        plan: Option<&Planned>,
    ) -> Result<Write, End> {
        let creating = destination.is_none();
        let mapped = match destination {
            Some((target_id, record)) => {
                self.entry.target_id = Some(target_id);
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
                    return Err(End::Drifted {
                        message: apply::drift_on_skip(plan, &reason),
                        diff: Vec::new(),
                    });
                }
                self.entry.outcome = Outcome::Skipped;
                self.entry.reason = Some(reason.code().into());
                // The destination already holds what the mapping wants: remember it as synced.
                if ctx.mode == RunMode::Live {
                    self.verdict.contract = Some(SyncContract {
                        connection: self.entry.connection.clone(),
                        origin_id: self.serial.clone(),
                        target_id: self.entry.target_id.clone(),
                        last_hash: desired_hash,
                        last_seen: Utc::now(),
                        last_synced: self.contract.as_ref().and_then(|c| c.last_synced),
                        last_action: ContractAction::Unchanged,
                    });
                } else {
                    self.verdict.would_write = Some(desired_hash);
                }
                return Err(End::Done);
            }
        };
        if let Some(plan) = plan
            && let Some(message) = apply::drift_on_write(plan, creating, &diff)
        {
            return Err(End::Drifted { message, diff });
        }
        self.entry.diff = diff;
        // A value the body cannot carry (XML forbids most controls) is the record's error, in a
        // Dry run too: a plan must not promise a write that cannot be sent.
        if let Err(message) = ctx.deliverer.check_body(creating, &payload) {
            let error = EntryError {
                message,
                hint: Some(hints::UNSENDABLE_VALUE.to_string()),
                ..EntryError::default()
            };
            return Err(End::problem_with(Outcome::Error, "unsendable_value", error));
        }
        if ctx.mode == RunMode::Dry {
            self.verdict.would_write = Some(hash);
            self.entry.outcome = if creating {
                Outcome::WouldCreate
            } else {
                Outcome::WouldUpdate
            };
            return Err(End::Done);
        }
        Ok(Write {
            payload,
            hash,
            creating,
        })
    }

    /// Deliver (Live): write it, unless the store has stopped recording since the record was
    /// dispatched (a write the store cannot record is not sent); verify it when the connection
    /// asks; the contract then says what was synced.
    async fn deliver(
        &mut self,
        ctx: &RecordContext,
        write: Write,
        on_retry: &mut (dyn FnMut(RetryNotice) + Send),
    ) -> Result<(), End> {
        let Write {
            payload,
            hash,
            creating,
        } = write;
        if ctx.ledger.is_broken() {
            let message = "not written: the store stopped recording before this record's write \
                           was sent"
                .to_string();
            let error = EntryError {
                message,
                hint: Some(super::ledger::FREE_DISK_HINT.to_string()),
                ..EntryError::default()
            };
            return Err(End::problem_with(Outcome::Error, "not_written", error));
        }
        let kind = if creating {
            WriteKind::Create
        } else {
            WriteKind::Update {
                target_id: self.entry.target_id.clone(),
            }
        };
        let written = Box::pin(ctx.deliverer.write(
            WriteRequest {
                kind,
                serial: &self.serial,
                payload: &payload,
            },
            on_retry,
        ))
        .await;
        let entry = &mut self.entry;
        self.verdict.contract_level = Some(written.contract_level);
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
            entry.error = written.error.map(|mut error| {
                // A refused payload: bad source data or a mapping mismatch, where the
                // destination's message tells which.
                if matches!(error.http_status, Some(400 | 422))
                    && let Some(hint) =
                        hints::for_refused_payload(&error.message, &ctx.connection.mapping)
                {
                    error.hint = Some(hint);
                }
                error
            });
            return Err(End::Done);
        }
        if written.status == EntryStatus::Sent && ctx.connection.verify {
            match Box::pin(ctx.deliverer.verify(&self.serial, &payload)).await {
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
        self.verdict.contract = Some(SyncContract {
            connection: entry.connection.clone(),
            origin_id: self.serial.clone(),
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
        Ok(())
    }

    /// Record: the record's result as the connection run records it, its entry carrying the
    /// contract's hashes.
    fn end(self, mode: RunMode, end: End) -> RecordResult {
        let InFlight { entry, verdict, .. } = self;
        match end {
            End::Done => verdict.done(entry),
            End::Problem {
                outcome,
                reason,
                message,
                error,
            } => verdict.problem(mode, entry, outcome, reason, message, error.map(|e| *e)),
            End::Drifted { message, diff } => verdict.drifted(entry, message, diff),
        }
    }
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
        // Every Failed entry carries a hint (SPEC section 4): one nothing more specific named
        // gets the general one for its class.
        if let Some(class) = entry.failure_class() {
            let error = entry.error.get_or_insert_with(EntryError::default);
            if error.hint.as_deref().is_none_or(str::is_empty) {
                error.hint =
                    Some(hints::fallback(class == crate::store::FailureClass::Fixable).to_string());
            }
        }
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
        if error.hint.is_none() {
            error.hint = hints::for_reason(reason).map(str::to_string);
        }
        entry.error = Some(error);
        self.done(entry)
    }
}
