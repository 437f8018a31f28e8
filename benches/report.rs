//! Sync report benchmark over a million entries: the first page filtered to Failed, a search by
//! serial, the export of every entry to CSV, and the costlier orders. Run with
//! `cargo bench --bench report`.
//!
//! `SYNCDECK_REPORT_BENCH_STORE=PATH` keeps the populated store at PATH and reuses it on the
//! next run (populating takes about a minute); `SYNCDECK_REPORT_BENCH_ENTRIES=N` changes the
//! size.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use syncdeck::export::{self, CsvExport};
use syncdeck::store::*;

const BATCH: usize = 1_000;
const PAGE: usize = 100;
const SAMPLES: usize = 15;
/// Distinct serials: a fleet of 20,000 devices, each seen on several connections and runs.
const FLEET: u64 = 20_000;

const CONNECTIONS: [(&str, &str); 4] = [
    ("cmdb", "ServiceNow CMDB"),
    ("registry", "Device Registry"),
    ("mdm", "Jamf MDM"),
    ("assets", "Asset DB"),
];

/// About 3% Failed (with error details), the rest OK, Sent or Dry. (No Pending: reopening the
/// store settles those as Failed, as after a crash.)
fn entry(i: u64, time: DateTime<Utc>) -> ReportEntry {
    let failed = i.is_multiple_of(33);
    let status = if failed {
        EntryStatus::Failed
    } else {
        match i % 10 {
            0 => EntryStatus::Sent,
            1 | 2 => EntryStatus::Dry,
            _ => EntryStatus::Ok,
        }
    };
    let (connection, system) = CONNECTIONS[(i % 4) as usize];
    let serial = format!(
        "{}-{:06}",
        ["SN", "C02", "FVF"][(i % 3) as usize],
        (i * 7919) % FLEET
    );
    let outcome = match status {
        EntryStatus::Failed => Outcome::Error,
        EntryStatus::Dry => [Outcome::WouldUpdate, Outcome::Skipped][(i % 2) as usize],
        _ => [Outcome::Updated, Outcome::Created, Outcome::Skipped][(i % 3) as usize],
    };
    ReportEntry {
        sync_id: 0,
        run_id: i / 20_000 + 1,
        connection: connection.to_string(),
        system: system.to_string(),
        reference: serial,
        source_id: Some(format!("dev-{i}")),
        target_id: Some(format!("sys-{:032x}", i * 2_654_435_761)),
        status,
        outcome,
        reason: None,
        time,
        attempts: vec![
            Attempt {
                at: time,
                http_status: Some(if failed { 400 } else { 200 }),
                error: failed.then(|| "400 Bad Request".to_string()),
            };
            1 + (i % 3) as usize
        ],
        error: failed.then(|| EntryError {
            http_status: Some(400),
            code: Some("INVALID_CONTENT".to_string()),
            message: "Field ram_gb: expected a number, got \"16 GB\"".to_string(),
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

fn populate(store: &Store, count: u64, start: DateTime<Utc>, span: Duration) {
    let step_ms = span.num_milliseconds() / count as i64;
    let mut batch = WriteBatch::new();
    for i in 0..count {
        batch
            .entries
            .push(entry(i, start + Duration::milliseconds(i as i64 * step_ms)));
        if batch.entries.len() == BATCH || i + 1 == count {
            store.commit(&mut batch).expect("commit");
        }
    }
}

fn ms(duration: StdDuration) -> f64 {
    duration.as_secs_f64() * 1e3
}

/// The median and the first of `SAMPLES` runs of `work`.
fn time<T>(mut work: impl FnMut() -> T) -> (StdDuration, StdDuration, T) {
    let mut samples = Vec::with_capacity(SAMPLES);
    let mut last = None;
    for _ in 0..SAMPLES {
        let began = Instant::now();
        last = Some(work());
        samples.push(began.elapsed());
    }
    let first = samples[0];
    samples.sort();
    (samples[SAMPLES / 2], first, last.expect("samples"))
}

fn main() {
    let entries: u64 = std::env::var("SYNCDECK_REPORT_BENCH_ENTRIES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let kept = std::env::var_os("SYNCDECK_REPORT_BENCH_STORE").map(PathBuf::from);
    let path = kept
        .clone()
        .unwrap_or_else(|| dir.path().join("report.redb"));
    // Retention 0: a kept store's entries are not pruned as they age.
    let options = StoreOptions { retention_days: 0 };
    let fresh = !path.exists();
    let store = Store::open(&path, options).expect("open");
    if fresh {
        let span = Duration::days(15) - Duration::hours(1);
        let began = Instant::now();
        populate(&store, entries, Utc::now() - span, span);
        println!(
            "populate: {entries} entries in {:.1} s, file {} MiB",
            began.elapsed().as_secs_f64(),
            std::fs::metadata(&path).map_or(0, |m| m.len() >> 20)
        );
        drop(store);
    } else {
        drop(store);
        println!("reusing {}", path.display());
    }
    let store = Store::open(&path, options).expect("reopen");
    let newest = store
        .report_page(&ReportFilter::default(), ReportSort::default(), 0, 1)
        .expect("newest")
        .first()
        .map(|e| e.time)
        .expect("entries");
    let total = store.report_count(&ReportFilter::default()).expect("count");
    println!("store: {total} entries over 15 days");

    // 1. The first page filtered to Failed (the whole store, and the default 5-day window).
    let failed = ReportFilter {
        statuses: vec![EntryStatus::Failed],
        ..ReportFilter::default()
    };
    let (median, first, page) = time(|| {
        store
            .report_page(&failed, ReportSort::default(), 0, PAGE)
            .expect("page")
    });
    assert_eq!(page.len(), PAGE);
    assert!(page.iter().all(|e| e.status == EntryStatus::Failed));
    let (count_time, _, failed_count) = time(|| store.report_count(&failed).expect("count"));
    println!(
        "first page ({PAGE}) filtered to Failed: median {:.2} ms (first {:.2} ms); count \
         {failed_count} Failed: {:.1} ms",
        ms(median),
        ms(first),
        ms(count_time)
    );
    let window = ReportFilter {
        since: Some(newest - Duration::days(5)),
        ..failed.clone()
    };
    let (median, _, _) = time(|| {
        store
            .report_page(&window, ReportSort::default(), 0, PAGE)
            .expect("page")
    });
    let (count_time, _, _) = time(|| store.report_count(&window).expect("count"));
    println!(
        "  Failed, last 5 days: page {:.2} ms, count {:.1} ms",
        ms(median),
        ms(count_time)
    );
    let failed_mdm = ReportFilter {
        connections: vec!["mdm".to_string()],
        ..failed.clone()
    };
    let (median, _, _) = time(|| {
        store
            .report_page(&failed_mdm, ReportSort::default(), 0, PAGE)
            .expect("page")
    });
    let (count_time, _, _) = time(|| store.report_count(&failed_mdm).expect("count"));
    println!(
        "  Failed on one connection: page {:.2} ms, count {:.1} ms",
        ms(median),
        ms(count_time)
    );

    // 2. Search by serial: one device, and a serial prefix, with their counts.
    for text in ["C02-004242", "sn-0042", "#123456"] {
        let search = ReportFilter {
            search: Some(text.to_string()),
            ..ReportFilter::default()
        };
        let (median, first, page) = time(|| {
            store
                .report_page(&search, ReportSort::default(), 0, PAGE)
                .expect("search")
        });
        let (count_time, _, count) = time(|| store.report_count(&search).expect("count"));
        println!(
            "search {text:?}: page of {} median {:.2} ms (first {:.2} ms); count {count}: \
             {:.1} ms",
            page.len(),
            ms(median),
            ms(first),
            ms(count_time)
        );
    }
    let system_search = ReportFilter {
        search: Some("jamf".to_string()),
        ..ReportFilter::default()
    };
    let (median, _, _) = time(|| {
        store
            .report_page(&system_search, ReportSort::default(), 0, PAGE)
            .expect("search")
    });
    let began = Instant::now();
    let count = store.report_count(&system_search).expect("count");
    println!(
        "search \"jamf\" (a system): page {:.2} ms; count {count}: {:.0} ms",
        ms(median),
        ms(began.elapsed())
    );

    // 3. Export of every entry to CSV.
    let csv = dir.path().join("export.csv");
    let began = Instant::now();
    let rows = export::export_csv(
        &store,
        &ReportFilter::default(),
        ReportSort::default(),
        &csv,
        &mut |_, _| {},
    )
    .expect("export");
    let spent = began.elapsed();
    println!(
        "export to CSV: {rows} rows in {:.2} s ({:.0} rows/s), {} MiB",
        spent.as_secs_f64(),
        rows as f64 / spent.as_secs_f64(),
        std::fs::metadata(&csv).map_or(0, |m| m.len() >> 20)
    );
    let began = Instant::now();
    let mut visited = 0u64;
    store
        .for_each_report_entry(&ReportFilter::default(), ReportSort::default(), &mut |_| {
            visited += 1;
            ControlFlow::Continue(())
        })
        .expect("walk");
    println!(
        "  of which reading and decoding {visited} entries: {:.2} s",
        began.elapsed().as_secs_f64()
    );
    let mut sink = CsvExport::to_writer(std::io::sink()).expect("csv");
    let page = store
        .report_page(&ReportFilter::default(), ReportSort::default(), 0, 10_000)
        .expect("page");
    let began = Instant::now();
    for _ in 0..(total as usize).div_ceil(page.len().max(1)) {
        for entry in &page {
            sink.write(entry).expect("write");
        }
    }
    println!(
        "  and formatting as many rows: {:.2} s",
        began.elapsed().as_secs_f64()
    );

    // 4. The orders no index gives: a scan of the matching set.
    for column in [
        SortColumn::SyncId,
        SortColumn::Reference,
        SortColumn::System,
        SortColumn::Attempts,
    ] {
        let sort = ReportSort {
            column,
            descending: false,
        };
        let began = Instant::now();
        store
            .report_page(&ReportFilter::default(), sort, 0, PAGE)
            .expect("page");
        let everything = began.elapsed();
        let began = Instant::now();
        store.report_page(&window, sort, 0, PAGE).expect("page");
        println!(
            "sort by {column:?}: first page of all {total}: {:.0} ms; of Failed in 5 days: {:.1} ms",
            ms(everything),
            ms(began.elapsed())
        );
    }
    let began = Instant::now();
    let ids = store
        .report_ids(&ReportFilter::default(), ReportSort::default())
        .expect("ids");
    println!(
        "report_ids of all {}: {:.0} ms",
        ids.len(),
        ms(began.elapsed())
    );
    if kept.is_none() {
        drop(store);
    }
}
