//! Recording a connection run, one way: the connection run's phases hand what they have to the
//! [`Recorder`] (its row at the start and the end, its results' batches), and only the recorder
//! reaches the store, through the run's ledger. Entries and contracts go in batches, each with
//! the connection run's row (its counters), committed by a [`Writer`] of their own so the
//! records' results keep being folded while a commit is on disk.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tokio::task::JoinHandle;

use super::ledger::Ledger;
use super::protocol::Event;
use super::sink::EventSink;
use crate::panics::panic_text;
use crate::store::{ConnectionRun, RunError, RunId, WriteBatch};

/// Batches handed over but not yet committing: one, so at most two are in memory besides the
/// one filling, and a writer slower than the records holds them back.
const QUEUED_BATCHES: usize = 1;

/// Where one connection run records: the only way from its phases to the store.
pub(crate) struct Recorder {
    ledger: Arc<Ledger>,
    events: EventSink,
    run_id: RunId,
    position: u32,
}

impl Recorder {
    pub(crate) fn new(
        ledger: Arc<Ledger>,
        events: EventSink,
        run_id: RunId,
        position: u32,
    ) -> Self {
        Recorder {
            ledger,
            events,
            run_id,
            position,
        }
    }

    /// Records the connection run's row as it is now (at its start and its end), off the
    /// async threads; false when the store did not take it (the ledger keeps it, and logs why).
    pub(crate) async fn commit_row(&self, row: &ConnectionRun) -> bool {
        commit_rows(&self.ledger, &mut WriteBatch::new(), row).await
    }

    /// Why the store stopped recording (here or in an earlier connection run), if it did.
    pub(crate) fn failure(&self) -> Option<String> {
        self.ledger.failure()
    }

    /// Waits until the store stops recording.
    pub(crate) async fn broke(&self) {
        self.ledger.broke().await
    }

    /// Starts the writer of the connection run's batches (the record phase).
    pub(crate) fn writer(&self) -> Writer {
        Writer::start(
            self.ledger.clone(),
            self.events.clone(),
            self.run_id,
            self.position,
        )
    }
}

/// The writer of one connection run's batches.
pub(crate) struct Writer {
    batches: mpsc::Sender<WriteBatch>,
    writer: JoinHandle<Result<(), String>>,
}

impl Writer {
    /// Starts the writer: it records each batch through the run's ledger in one transaction,
    /// in the order handed over, and says `EntriesRecorded` after each commit. Once the store
    /// refuses a commit the ledger keeps the batches instead (see [`Ledger`]): the writer goes
    /// on taking them, so nothing the connection run does is dropped.
    fn start(ledger: Arc<Ledger>, events: EventSink, run_id: RunId, position: u32) -> Self {
        let (batches, mut queue) = mpsc::channel::<WriteBatch>(QUEUED_BATCHES);
        let writer = tokio::task::spawn_blocking(move || {
            while let Some(batch) = queue.blocking_recv() {
                let count = batch.entries.len();
                if ledger.record(batch) && count > 0 {
                    events.send(Event::EntriesRecorded {
                        run_id,
                        position,
                        count,
                    });
                }
            }
            Ok(())
        });
        Writer { batches, writer }
    }

    /// Hands the batch, with the row as it is now, to the writer and leaves `batch` empty;
    /// waits while the writer still has a batch queued. Err when the writer failed.
    pub(crate) async fn record(
        &mut self,
        batch: &mut WriteBatch,
        row: &ConnectionRun,
    ) -> Result<(), RunError> {
        let batch = take_with_row(batch, row);
        if self.batches.send(batch).await.is_err() {
            return Err(self.failure().await);
        }
        Ok(())
    }

    /// [`Writer::record`] when the writer can take the batch at once, true then; otherwise
    /// the batch stays as it is, to go with a later one (a writer that stopped says why
    /// through [`Writer::failure`]).
    pub(crate) fn offer(&mut self, batch: &mut WriteBatch, row: &ConnectionRun) -> bool {
        match self.batches.try_reserve() {
            Ok(permit) => {
                permit.send(take_with_row(batch, row));
                true
            }
            Err(TrySendError::Full(()) | TrySendError::Closed(())) => false,
        }
    }

    /// Hands over the last batch (the row goes even with no entries) and waits until every
    /// batch is committed.
    pub(crate) async fn finish(
        mut self,
        batch: &mut WriteBatch,
        row: &ConnectionRun,
    ) -> Result<(), RunError> {
        self.record(batch, row).await?;
        let Writer { batches, writer } = self;
        drop(batches);
        outcome(writer.await)
    }

    /// Waits for the writer to stop, which before [`Writer::finish`] only a panic makes it
    /// do: what to fail the connection run with.
    pub(crate) async fn failure(&mut self) -> RunError {
        match outcome((&mut self.writer).await) {
            Err(error) => error,
            Ok(()) => recording_error("the store writer stopped".to_string()),
        }
    }
}

/// The batch's contents with the row added, `batch` left empty with room for as many (growing
/// a Vec of a thousand entries a push at a time cost more than its allocation).
fn take_with_row(batch: &mut WriteBatch, row: &ConnectionRun) -> WriteBatch {
    let room = WriteBatch {
        entries: Vec::with_capacity(batch.entries.capacity()),
        contracts: Vec::with_capacity(batch.contracts.capacity()),
        ..WriteBatch::default()
    };
    let mut taken = std::mem::replace(batch, room);
    taken.connection_runs.push(row.clone());
    taken
}

fn outcome(joined: Result<Result<(), String>, tokio::task::JoinError>) -> Result<(), RunError> {
    match joined {
        Ok(Ok(())) => Ok(()),
        Ok(Err(message)) => Err(recording_error(message)),
        Err(join) => Err(recording_error(panic_text(join))),
    }
}

fn recording_error(message: String) -> RunError {
    RunError {
        message: format!("cannot record entries in the store: {message}"),
        hint: None,
    }
}

/// Records the batch with the connection run's current row through the run's ledger, off the
/// async threads (the rows of a connection run's start and end); false when the store did not
/// take it (the ledger keeps it).
async fn commit_rows(ledger: &Arc<Ledger>, batch: &mut WriteBatch, row: &ConnectionRun) -> bool {
    batch.connection_runs.push(row.clone());
    let ledger = ledger.clone();
    let owned = std::mem::take(batch);
    tokio::task::spawn_blocking(move || ledger.record(owned))
        .await
        .unwrap_or(false)
}
