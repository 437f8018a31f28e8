//! The report's first page filtered to Failed over a store far larger than a night's run: what
//! an organisation keeping 45 million entries (500,000 devices, three connections, a Dry and a
//! Live run a day, 15 days) sees when it opens the report. Run with
//! `cargo bench --bench deep`.
//!
//! `SYNCDECK_DEEP_ENTRIES=N` sets the size (default 18,000,000). The default is what the
//! shared bench machine's disk allows: about 190 bytes an entry is 3.4 GiB of pages, in a file
//! of 4 GiB (redb grows a file by doubling up to 4 GiB, then by 4 GiB regions, so a store just
//! past 4 GiB of pages is an 8 GiB file). 45,000,000 entries need about 12 GiB free.
//! `SYNCDECK_DEEP_DIR=PATH` puts the store there instead of the temp dir; it is deleted at the
//! end either way.
//!
//! The entries are those of nightly runs: mostly "skipped, no change" Dry and OK entries,
//! 3% Failed with their error details, spread over 15 days, in batches of 5,000. Then the store
//! is closed and opened again (as `syncdeck report` does), and the first page of 100 Failed,
//! newest first, is read: the first read after the open (cold: the page cache is empty) and the
//! median of 15.

use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use syncdeck::store::*;

const PAGE: usize = 100;
const SAMPLES: usize = 15;
const BATCH: usize = 5_000;
const FLEET: u64 = 500_000;
const CONNECTIONS: [(&str, &str); 3] = [
    ("cmdb", "ServiceNow CMDB"),
    ("registry", "Device Registry"),
    ("mdm", "Jamf MDM"),
];

fn entry(i: u64, time: DateTime<Utc>) -> ReportEntry {
    let failed = i.is_multiple_of(33);
    let (connection, system) = CONNECTIONS[(i % 3) as usize];
    let serial = format!("SD-{:07}", (i / 3) % FLEET);
    let dry = (i / (3 * FLEET)).is_multiple_of(2);
    let hash = format!("{:064x}", u128::from(i % FLEET) * 0x9e37_79b9_7f4a_7c15);
    let (status, outcome) = match (failed, dry) {
        (true, _) => (EntryStatus::Failed, Outcome::Error),
        (false, true) => (EntryStatus::Dry, Outcome::Skipped),
        (false, false) => (EntryStatus::Ok, Outcome::Skipped),
    };
    ReportEntry {
        sync_id: 0,
        run_id: i / (3 * FLEET) + 1,
        connection: connection.to_string(),
        system: system.to_string(),
        reference: serial.clone(),
        source_id: Some(serial),
        target_id: Some(format!("{:032x}", u128::from(i % FLEET) * 2_654_435_761)),
        status,
        outcome,
        reason: Some(if failed { "write_failed" } else { "no_change" }.to_string()),
        time,
        attempts: Vec::new(),
        error: failed.then(|| EntryError {
            http_status: Some(400),
            code: Some("INVALID_CONTENT".to_string()),
            message: "Field ram_gb: expected a number".to_string(),
            hint: Some("check mapping target names and formatters".to_string()),
            method: Some("PATCH".to_string()),
            url: Some(format!("http://127.0.0.1:7302/api/assets/{i}")),
            response_excerpt: Some(r#"{"error":{"code":"INVALID_CONTENT"}}"#.to_string()),
        }),
        diff: Vec::new(),
        hashes: Some(ContractHashes {
            before: Some(hash.clone()),
            after: Some(hash),
        }),
    }
}

fn ms(duration: StdDuration) -> f64 {
    duration.as_secs_f64() * 1e3
}

fn main() {
    let entries: u64 = std::env::var("SYNCDECK_DEEP_ENTRIES")
        .ok()
        .and_then(|n| n.replace('_', "").parse().ok())
        .unwrap_or(18_000_000);
    let dir = match std::env::var_os("SYNCDECK_DEEP_DIR") {
        Some(dir) => tempfile::tempdir_in(dir),
        None => tempfile::tempdir(),
    }
    .expect("a directory for the store");
    let path = dir.path().join("deep.redb");
    // Retention 0: nothing is pruned at the reopen.
    let options = StoreOptions { retention_days: 0 };
    let store = Store::open(&path, options).expect("open");
    let span = Duration::days(15) - Duration::hours(1);
    let start = Utc::now() - span;
    let step_ms = (span.num_milliseconds() / entries as i64).max(1);
    let began = Instant::now();
    let mut batch = WriteBatch::new();
    for i in 0..entries {
        let time = start + Duration::milliseconds(i as i64 * step_ms);
        batch.entries.push(entry(i, time));
        if batch.entries.len() == BATCH || i + 1 == entries {
            store.commit(&mut batch).expect("commit");
        }
        if (i + 1).is_multiple_of(5_000_000) {
            println!(
                "  {} entries, {:.0} s, file {} MiB",
                i + 1,
                began.elapsed().as_secs_f64(),
                store.file_len() >> 20
            );
        }
    }
    println!(
        "populate: {entries} entries in {:.0} s, file {} MiB ({:.0} B/entry)",
        began.elapsed().as_secs_f64(),
        store.file_len() >> 20,
        store.file_len() as f64 / entries as f64
    );
    drop(store);

    let failed = ReportFilter {
        statuses: vec![EntryStatus::Failed],
        ..ReportFilter::default()
    };
    let began = Instant::now();
    let store = Store::open(&path, options).expect("reopen");
    let opened = began.elapsed();
    let mut samples = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let began = Instant::now();
        let page = store
            .report_page(&failed, ReportSort::default(), 0, PAGE)
            .expect("page");
        samples.push(began.elapsed());
        assert_eq!(page.len(), PAGE);
        assert!(page.iter().all(|e| e.status == EntryStatus::Failed));
        assert!(page.windows(2).all(|w| w[0].time >= w[1].time));
    }
    let first = samples[0];
    samples.sort();
    println!(
        "first page ({PAGE}) filtered to Failed of {entries} entries: first after reopen {:.2} ms \
         (the open itself {:.0} ms), median of {SAMPLES} {:.2} ms",
        ms(first),
        ms(opened),
        ms(samples[SAMPLES / 2])
    );
    drop(store);
    std::fs::remove_file(&path).expect("the store is deleted");
}
