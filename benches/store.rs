//! Store benchmark: durable batched writes per second — in the shared mode every syncdeck
//! process opens stores in, against the exclusive mode they were opened in before, on the same
//! machine and code — and the time to page the first 100 Failed entries out of a million. Run
//! with `cargo bench --bench store`.

use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use syncdeck::store::*;

const BATCH: usize = 1_000;
const WRITE_ENTRIES: u64 = 200_000;
/// Entries per round of the shared-against-exclusive comparison, and rounds of each mode (they
/// take turns, so a burst of other work on the machine hits both alike).
const MODE_ENTRIES: u64 = 100_000;
const MODE_ROUNDS: usize = 5;
const PAGED_ENTRIES: u64 = 1_000_000;
const PAGE: usize = 100;
const PAGINGS: usize = 25;

/// A realistic entry: about 3% Failed (with error details), the rest OK, Sent or Dry.
fn entry(i: u64, time: DateTime<Utc>) -> ReportEntry {
    let failed = i.is_multiple_of(33);
    let status = if failed {
        EntryStatus::Failed
    } else {
        match i % 4 {
            0 => EntryStatus::Sent,
            1 => EntryStatus::Dry,
            _ => EntryStatus::Ok,
        }
    };
    let serial = format!("SN-{:06}", (i * 7919) % 20_000);
    ReportEntry {
        sync_id: 0,
        run_id: i / 20_000 + 1,
        connection: ["cmdb", "registry", "mdm"][(i % 3) as usize].to_string(),
        system: "ServiceNow CMDB".to_string(),
        reference: serial.clone(),
        source_id: Some(format!("dev-{i}")),
        target_id: Some(format!("sys-{:032x}", i * 2_654_435_761)),
        status,
        outcome: if failed {
            Outcome::Error
        } else {
            Outcome::Updated
        },
        reason: None,
        time,
        attempts: vec![Attempt {
            at: time,
            http_status: Some(if failed { 400 } else { 200 }),
            error: failed.then(|| "400 Bad Request".to_string()),
        }],
        error: failed.then(|| EntryError {
            http_status: Some(400),
            code: Some("INVALID_CONTENT".to_string()),
            message: "Field ram_gb: expected a number".to_string(),
            hint: Some("check mapping target names and formatters".to_string()),
            method: Some("PATCH".to_string()),
            url: Some(format!("http://127.0.0.1:7302/api/assets/sys-{i}")),
            response_excerpt: Some(r#"{"error":{"code":"INVALID_CONTENT"}}"#.to_string()),
        }),
        diff: vec![
            FieldChange {
                field: "ram_gb".to_string(),
                old: Some(serde_json::json!(8)),
                new: Some(serde_json::json!(16)),
            },
            FieldChange {
                field: "install_status".to_string(),
                old: Some(serde_json::json!("Retired")),
                new: Some(serde_json::json!("In Use")),
            },
        ],
        hashes: None,
    }
}

/// Writes `count` entries spread evenly from `start` over `span`, in batches; returns the time
/// spent in commits only (building the entries is not the store's work).
fn populate(store: &Store, count: u64, start: DateTime<Utc>, span: Duration) -> StdDuration {
    let step_ms = span.num_milliseconds() / count as i64;
    let mut batch = WriteBatch::new();
    let mut spent = StdDuration::ZERO;
    for i in 0..count {
        batch
            .entries
            .push(entry(i, start + Duration::milliseconds(i as i64 * step_ms)));
        if batch.entries.len() == BATCH || i + 1 == count {
            let began = Instant::now();
            store.commit(&mut batch).expect("commit");
            spent += began.elapsed();
        }
    }
    spent
}

/// Batched writes of [`MODE_ENTRIES`] into a fresh store opened shared (as every process opens
/// it now) and opened alone (as before stores were shared), in turns; and shared with another
/// handle reading the change counter four times a second, as a console following the run does.
fn compare_modes(dir: &std::path::Path, now: DateTime<Utc>) {
    let mut shared = Vec::with_capacity(MODE_ROUNDS);
    let mut alone = Vec::with_capacity(MODE_ROUNDS);
    let mut followed = Vec::with_capacity(MODE_ROUNDS);
    let start = now - Duration::days(1);
    for round in 0..MODE_ROUNDS {
        let path = dir.join(format!("alone-{round}.redb"));
        let store = Store::open_alone(&path, StoreOptions::default()).expect("open alone");
        alone.push(populate(&store, MODE_ENTRIES, start, Duration::days(1)));
        drop(store);

        let path = dir.join(format!("shared-{round}.redb"));
        let store = Store::open(&path, StoreOptions::default()).expect("open shared");
        shared.push(populate(&store, MODE_ENTRIES, start, Duration::days(1)));
        drop(store);

        let path = dir.join(format!("followed-{round}.redb"));
        let store = Store::open(&path, StoreOptions::default()).expect("open shared");
        let console = Store::open(&path, StoreOptions::default()).expect("a second handle");
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let polling = {
            let done = done.clone();
            std::thread::spawn(move || {
                let mut looks = 0u64;
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    console.change_count().expect("counter");
                    looks += 1;
                    std::thread::sleep(StdDuration::from_millis(250));
                }
                looks
            })
        };
        followed.push(populate(&store, MODE_ENTRIES, start, Duration::days(1)));
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        polling.join().expect("the polling thread");
        drop(store);
    }
    let rate = |spent: StdDuration| MODE_ENTRIES as f64 / spent.as_secs_f64();
    let list = |samples: &[StdDuration]| {
        samples
            .iter()
            .map(|s| format!("{:.0}", rate(*s)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (shared_median, alone_median) = (median(shared.clone()), median(alone.clone()));
    let ratio = rate(shared_median) / rate(alone_median);
    println!(
        "modes: {MODE_ENTRIES} entries in batches of {BATCH}, {MODE_ROUNDS} rounds each, in \
         turns (entries/s): shared {}; alone (exclusive) {}; shared with a console polling \
         {}",
        list(&shared),
        list(&alone),
        list(&followed)
    );
    println!(
        "modes: median shared {:.0} entries/s = {:.1}% of exclusive {:.0} entries/s (aim ≥ 90%): \
         {}; shared with a console polling {:.0} entries/s",
        rate(shared_median),
        ratio * 100.0,
        rate(alone_median),
        if ratio >= 0.9 { "met" } else { "NOT met" },
        rate(median(followed)),
    );
}

fn median(mut samples: Vec<StdDuration>) -> StdDuration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let now = Utc::now();

    // 1. Durable batched writes.
    let path = dir.path().join("writes.redb");
    let store = Store::open(&path, StoreOptions::default()).expect("open");
    let spent = populate(
        &store,
        WRITE_ENTRIES,
        now - Duration::days(1),
        Duration::days(1),
    );
    drop(store);
    println!(
        "write: {} entries in batches of {BATCH} (durable commits): {:.2} s, {:.0} entries/s",
        WRITE_ENTRIES,
        spent.as_secs_f64(),
        WRITE_ENTRIES as f64 / spent.as_secs_f64()
    );

    // 2. The same writes, shared against exclusive; and shared with a console polling beside it.
    compare_modes(dir.path(), now);

    // 3. First page of Failed entries out of a million spread over 15 days.
    let path = dir.path().join("million.redb");
    let store = Store::open(&path, StoreOptions::default()).expect("open");
    let span = Duration::days(15) - Duration::hours(1);
    let spent = populate(&store, PAGED_ENTRIES, now - span, span);
    drop(store);
    println!(
        "populate: {} entries: {:.2} s, {:.0} entries/s; file {} MiB",
        PAGED_ENTRIES,
        spent.as_secs_f64(),
        PAGED_ENTRIES as f64 / spent.as_secs_f64(),
        std::fs::metadata(&path).map_or(0, |m| m.len() >> 20)
    );

    let began = Instant::now();
    let store = Store::open(&path, StoreOptions::default()).expect("reopen");
    let reopen = began.elapsed();
    let failed = EntryQuery {
        status: Some(EntryStatus::Failed),
        ..EntryQuery::default()
    };
    let mut samples = Vec::with_capacity(PAGINGS);
    for _ in 0..PAGINGS {
        let began = Instant::now();
        let page = store.entries_page(&failed, None, PAGE).expect("page");
        samples.push(began.elapsed());
        assert_eq!(page.entries.len(), PAGE);
        assert!(page.entries.iter().all(|e| e.status == EntryStatus::Failed));
    }
    let first = samples[0];
    let median_page = median(samples);

    let began = Instant::now();
    let total_failed = store.count_entries(&failed).expect("count");
    let count_time = began.elapsed();
    let window = EntryQuery {
        since: Some(now - Duration::days(5)),
        ..failed.clone()
    };
    let mut window_samples = Vec::with_capacity(PAGINGS);
    for _ in 0..PAGINGS {
        let began = Instant::now();
        store.entries_page(&window, None, PAGE).expect("page");
        window_samples.push(began.elapsed());
    }
    println!(
        "page: first {PAGE} Failed of {PAGED_ENTRIES} ({total_failed} failed): first after \
         reopen {:.2} ms, median of {PAGINGS} {:.2} ms; last 5 days median {:.2} ms",
        first.as_secs_f64() * 1e3,
        median_page.as_secs_f64() * 1e3,
        median(window_samples).as_secs_f64() * 1e3,
    );
    println!(
        "other: reopen (recovery + prune check) {:.1} ms; count Failed {:.1} ms",
        reopen.as_secs_f64() * 1e3,
        count_time.as_secs_f64() * 1e3
    );
}
