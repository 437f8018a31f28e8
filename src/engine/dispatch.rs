//! Dispatching a connection run's records: one worker task per record, at most `concurrency`
//! at once, each catching its own panic so that it becomes an entry instead of a lost record.

use std::any::Any;
use std::future::poll_fn;
use std::panic::{self, AssertUnwindSafe};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::JoinHandle;

use super::deliver::RetryNotice;
use super::ledger::Ledger;
use super::protocol::Event;
use super::record::{self, RecordContext, RecordResult};
use super::resync;
use super::sink::EventSink;
use super::units::Unit;
use crate::panics::panic_message;
use crate::store::{EntryStatus, LogSeverity, ReportEntry};

/// What a worker hands back.
pub(crate) struct Finished {
    /// None: a resync whose source fetch was canceled; its entries stay as they were.
    pub result: Option<RecordResult>,
    /// In a Resync, the entries the result updates in place; empty otherwise.
    pub originals: Vec<ReportEntry>,
}

/// What the dispatcher and its workers share.
pub(crate) struct Dispatch {
    pub ctx: Arc<RecordContext>,
    pub stop: Arc<AtomicBool>,
    pub cancel: watch::Receiver<bool>,
    pub events: EventSink,
    /// The run's ledger: once the store stops recording, nothing more is dispatched.
    pub ledger: Arc<Ledger>,
    pub permits: Arc<Semaphore>,
    pub position: u32,
    /// Records being retried now (Pending).
    pub pending: Arc<AtomicU64>,
    /// Entries fed so far.
    pub listed: Arc<AtomicU64>,
}

/// Takes pages of work and runs one worker task per record, at most `concurrency` at once;
/// returns how many records it dispatched. Stops at once on cancel or `stop`.
pub(crate) fn spawn_dispatcher<T: Into<Unit> + Send + 'static>(
    shared: Dispatch,
    mut pages: mpsc::Receiver<Vec<T>>,
    results: mpsc::Sender<Finished>,
) -> JoinHandle<u64> {
    tokio::spawn(async move {
        let mut seen = 0u64;
        'pages: while let Some(page) = pages.recv().await {
            let page: Vec<Unit> = page.into_iter().map(Into::into).collect();
            let weight: u64 = page.iter().map(Unit::weight).sum();
            shared.listed.fetch_add(weight, Ordering::Relaxed);
            for unit in page {
                if shared.stop.load(Ordering::Relaxed)
                    || *shared.cancel.borrow()
                    || shared.ledger.is_broken()
                {
                    break 'pages;
                }
                let Ok(permit) = shared.permits.clone().acquire_owned().await else {
                    break 'pages;
                };
                // The wait for a permit can outlast the store: look again.
                if shared.ledger.is_broken() {
                    break 'pages;
                }
                seen += 1;
                tokio::spawn(work(
                    shared.ctx.clone(),
                    shared.events.clone(),
                    shared.pending.clone(),
                    shared.position,
                    unit,
                    results.clone(),
                    permit,
                ));
            }
        }
        seen
    })
}

/// One worker, a task of its own per unit: a panic while processing fails the connection run
/// with its message and never leaves the record without an entry.
async fn work(
    ctx: Arc<RecordContext>,
    events: EventSink,
    pending: Arc<AtomicU64>,
    position: u32,
    mut unit: Unit,
    results: mpsc::Sender<Finished>,
    permit: OwnedSemaphorePermit,
) {
    let run_id = ctx.run_id;
    let reference = unit.serial().to_string();
    let originals = unit.take_originals();
    let mut retried = false;
    let processed = {
        // Pending while retried: counted once per record.
        let mut on_retry = |notice: RetryNotice| {
            if !retried {
                retried = true;
                pending.fetch_add(1, Ordering::Relaxed);
            }
            ctx.run_log.push(
                LogSeverity::Warn,
                format!(
                    "{reference}: try {} failed ({}); retrying in {:.1} s",
                    notice.attempt,
                    notice.reason,
                    notice.delay.as_secs_f64()
                ),
            );
            events.send(Event::RetryScheduled {
                run_id,
                position,
                reference: reference.clone(),
                attempt: notice.attempt,
                delay: notice.delay,
                reason: notice.reason,
            });
        };
        let ctx = ctx.clone();
        let mut processing = pin!(async {
            match unit {
                Unit::Listed(record) => {
                    Some(record::process(ctx, record, None, &mut on_retry).await)
                }
                // Boxed: a resync's future is the larger, and rare next to listed records.
                Unit::Resync(target) => Box::pin(resync::process(ctx, target, &mut on_retry)).await,
            }
        });
        poll_fn(|cx| poll_catching(processing.as_mut(), cx)).await
    };
    let result = match processed {
        Ok(result) => result,
        Err(payload) => Some(record::panicked(&ctx, reference, panic_message(payload))),
    };
    if retried {
        pending.fetch_sub(1, Ordering::Relaxed);
    }
    // A failed record's line, with what to check.
    if let Some(entry) = result.as_ref().map(|r| &r.entry)
        && entry.status == EntryStatus::Failed
        && let Some(error) = &entry.error
    {
        ctx.run_log.push(
            LogSeverity::Error,
            match &error.hint {
                Some(hint) => format!("{}: {} · hint: {hint}", entry.reference, error.message),
                None => format!("{}: {}", entry.reference, error.message),
            },
        );
    }
    let _ = results.send(Finished { result, originals }).await;
    drop(permit);
}

/// Polls a future, a panic in the poll caught and returned as its payload (what a task's
/// `JoinHandle` gives, without a task of its own). A future that panicked must not be polled
/// again, only dropped, as tokio does with a task (hence the unwind safety).
fn poll_catching<F: Future>(
    future: Pin<&mut F>,
    cx: &mut Context<'_>,
) -> Poll<Result<F::Output, Box<dyn Any + Send>>> {
    match panic::catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
        Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
        Ok(Poll::Pending) => Poll::Pending,
        Err(payload) => Poll::Ready(Err(payload)),
    }
}
