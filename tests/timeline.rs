//! A serial's timeline: `Store::serial_timeline` against a simple model over 100,000 entries in
//! a real store file, and `syncdeck report --search SERIAL --format json` from the real binary,
//! over entries written directly and over three runs of the real engine against the demo.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::Value;
use syncdeck::demo;
use syncdeck::store::*;

mod common;

use common::cli::DemoFiles;

/// A small deterministic generator (xorshift), so failures reproduce.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn entry(serial: &str, run_id: RunId, connection: &str, time: DateTime<Utc>) -> ReportEntry {
    common::history::entry(
        run_id,
        connection,
        &format!("{connection} system"),
        serial,
        time,
    )
}

/// The model: every entry of exactly `serial`, by time then sync id.
fn model(entries: &[ReportEntry], serial: &str) -> Vec<SyncId> {
    let mut found: Vec<&ReportEntry> = entries.iter().filter(|e| e.reference == serial).collect();
    found.sort_by_key(|e| (e.time.timestamp_millis(), e.sync_id));
    found.iter().map(|e| e.sync_id).collect()
}

#[test]
fn the_timeline_of_a_serial_among_100k_entries_is_exactly_its_entries_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        dir.path().join("t.redb"),
        StoreOptions { retention_days: 0 },
    )
    .unwrap();
    let mut dice = Dice(0x5eed_1234_abcd);
    let base = Utc.with_ymd_and_hms(2025, 3, 1, 0, 0, 0).unwrap();
    // 2,000 serials, and neighbours that share a prefix with one or extend it: "SD-000042"
    // must not bring "SD-0000421", "SD-00004" or "sd-000042".
    let serial = |n: u64| format!("SD-{n:06}");
    let tricky = [
        "SD-0000421",
        "SD-00004",
        "sd-000042",
        "SD-000042 ",
        "SD-000042\u{0}",
    ];
    let connections = ["cmdb", "registry", "mdm"];
    let mut entries = Vec::with_capacity(100_000);
    for i in 0..100_000u64 {
        let reference = if i % 97 == 0 {
            tricky[dice.below(tricky.len() as u64) as usize].to_string()
        } else {
            serial(dice.below(2_000))
        };
        // Times out of sync-id order, with ties (coarse minutes), over fifteen days.
        let time = base + Duration::minutes(dice.below(15 * 24 * 60) as i64);
        let connection = connections[dice.below(3) as usize];
        entries.push(entry(&reference, 1 + i / 5_000, connection, time));
    }
    for chunk in entries.chunks_mut(5_000) {
        let mut batch = WriteBatch::new();
        batch.entries = chunk.to_vec();
        let ids = store.commit(&mut batch).unwrap();
        for (e, id) in chunk.iter_mut().zip(ids) {
            e.sync_id = id;
        }
    }
    let mut checked = HashSet::new();
    for wanted in [
        serial(42),
        serial(0),
        serial(1_999),
        serial(dice.below(2_000)),
        "SD-0000421".to_string(),
        "SD-00004".to_string(),
        "SD-000042\u{0}".to_string(),
    ] {
        if !checked.insert(wanted.clone()) {
            continue;
        }
        let expected = model(&entries, &wanted);
        assert!(!expected.is_empty(), "{wanted:?} has no entries to check");
        let got: Vec<SyncId> = store
            .serial_timeline(&wanted)
            .unwrap()
            .iter()
            .map(|e| {
                assert_eq!(e.reference, wanted);
                e.sync_id
            })
            .collect();
        assert_eq!(got, expected, "timeline of {wanted:?}");
    }
    assert!(store.serial_timeline("SD-999999").unwrap().is_empty());
    assert!(store.serial_timeline("SD-").unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------------
// `syncdeck report --search SERIAL` from the real binary.

/// The binary with a private environment: XDG dirs under `home`, the demo secrets set.
fn syncdeck(home: &Path, config: &Path, store: &Path) -> Command {
    let mut command = common::cli::demo_command(home);
    command
        .env_remove("NO_COLOR")
        .arg("--config")
        .arg(config)
        .arg("--store")
        .arg(store);
    command
}

fn report(home: &Path, config: &Path, store: &Path, args: &[&str]) -> (String, String) {
    let out = syncdeck(home, config, store)
        .arg("report")
        .args(args)
        .output()
        .expect("run syncdeck report");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "report {args:?}\n{stdout}\n{stderr}"
    );
    (stdout, stderr)
}

fn json_array(text: &str) -> Vec<Value> {
    match serde_json::from_str(text) {
        Ok(Value::Array(items)) => items,
        other => panic!("not a JSON array ({other:?}):\n{text}"),
    }
}

struct Written {
    dir: tempfile::TempDir,
    config: PathBuf,
    store: PathBuf,
}

fn record_run(store: &Store, run_type: RunType, mode: RunMode, at: DateTime<Utc>) -> RunId {
    store
        .create_run(Run {
            id: 0,
            run_type,
            mode,
            status: RunStatus::Completed,
            started_at: at,
            finished_at: Some(at + Duration::seconds(2)),
            serial: Some("SD-000042".into()),
            connections: vec!["cmdb".into()],
            credential_contexts: vec!["cmdb-api".into()],
            note: None,
            owner: None,
            trigger: None,
        })
        .unwrap()
}

/// Single Dry nine days ago (outside the default 5-day window), Single Live (created), Single
/// Live again (skipped, nothing changed) of SD-000042 on cmdb; and entries of other serials,
/// one that starts with SD-000042, one it starts with.
fn written() -> Written {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, demo::config_for("127.0.0.1:9".parse().unwrap())).unwrap();
    let path = dir.path().join("s.redb");
    let store = Store::open(&path, StoreOptions { retention_days: 0 }).unwrap();
    let now = Utc::now();
    let times = [
        now - Duration::days(9),
        now - Duration::hours(3),
        now - Duration::hours(1),
    ];
    let dry = record_run(&store, RunType::Single, RunMode::Dry, times[0]);
    let live = record_run(&store, RunType::Single, RunMode::Live, times[1]);
    let again = record_run(&store, RunType::Single, RunMode::Live, times[2]);
    let diff = vec![
        FieldChange {
            field: "ram_gb".into(),
            old: Some(8.into()),
            new: Some(16.into()),
        },
        FieldChange {
            field: "owner".into(),
            old: Some(Value::Null),
            new: Some("ada".into()),
        },
        FieldChange {
            field: "site".into(),
            old: None,
            new: Some("LON-1".into()),
        },
    ];
    let mut batch = WriteBatch::new();
    // Recorded newest first, so the sync ids do not give the order away.
    let mut third = entry("SD-000042", again, "cmdb", times[2]);
    third.status = EntryStatus::Ok;
    third.outcome = Outcome::Skipped;
    third.reason = Some("no_change".into());
    third.hashes = Some(ContractHashes {
        before: Some("bbbbbbbbbbbbbbbbbbbb".into()),
        after: Some("bbbbbbbbbbbbbbbbbbbb".into()),
    });
    let mut second = entry("SD-000042", live, "cmdb", times[1]);
    second.status = EntryStatus::Ok;
    second.outcome = Outcome::Updated;
    second.diff = diff.clone();
    second.hashes = Some(ContractHashes {
        before: None,
        after: Some("bbbbbbbbbbbbbbbbbbbb".into()),
    });
    let mut first = entry("SD-000042", dry, "cmdb", times[0]);
    first.diff = diff;
    first.hashes = Some(ContractHashes {
        before: None,
        after: Some("aaaaaaaaaaaaaaaaaaaa".into()),
    });
    batch.entries.extend([third, second, first]);
    for (serial, run) in [
        ("SD-0000421", live),
        ("SD-00004", again),
        ("SD-000043", live),
    ] {
        batch
            .entries
            .push(entry(serial, run, "cmdb", times[1] + Duration::minutes(1)));
    }
    store.commit(&mut batch).unwrap();
    drop(store);
    Written {
        dir,
        config,
        store: path,
    }
}

#[test]
fn report_search_of_an_exact_serial_prints_its_timeline_as_json() {
    let w = written();
    let (stdout, _) = report(
        w.dir.path(),
        &w.config,
        &w.store,
        &["--search", "SD-000042", "--format", "json"],
    );
    let entries = json_array(&stdout);
    assert_eq!(entries.len(), 3, "{stdout}");
    let field = |i: usize, key: &str| entries[i][key].clone();
    // Oldest first, whatever the window (the first is nine days old).
    let times: Vec<String> = (0..3)
        .map(|i| field(i, "time").as_str().unwrap().to_string())
        .collect();
    assert!(times.windows(2).all(|t| t[0] < t[1]), "{times:?}");
    for e in &entries {
        assert_eq!(e["reference"], "SD-000042");
        // The report entry's public fields are all there.
        for key in [
            "sync_id",
            "run_id",
            "connection",
            "system",
            "source_id",
            "target_id",
            "status",
            "outcome",
            "attempts",
            "error",
        ] {
            assert!(e.get(key).is_some(), "{key} missing in {e}");
        }
        assert_eq!(e["run_type"], "single");
    }
    let statuses: Vec<(&str, &str, &str)> = entries
        .iter()
        .map(|e| {
            (
                e["status"].as_str().unwrap(),
                e["outcome"].as_str().unwrap(),
                e["mode"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        vec![
            ("dry", "would_update", "dry"),
            ("ok", "updated", "live"),
            ("ok", "skipped", "live")
        ]
    );
    assert_eq!(field(2, "reason"), "no_change");
    assert_eq!(
        field(0, "hashes"),
        serde_json::json!({"before": null, "after": "aaaaaaaaaaaaaaaaaaaa"})
    );
    assert_eq!(
        field(1, "hashes"),
        serde_json::json!({"before": null, "after": "bbbbbbbbbbbbbbbbbbbb"})
    );
    assert_eq!(field(2, "hashes")["before"], field(2, "hashes")["after"]);
    // A null stays null, an absent old value stays absent.
    assert_eq!(
        field(1, "diff"),
        serde_json::json!([
            {"field": "ram_gb", "old": 8, "new": 16},
            {"field": "owner", "old": null, "new": "ada"},
            {"field": "site", "new": "LON-1"},
        ])
    );
    assert_eq!(field(2, "diff"), serde_json::json!([]));
}

#[test]
fn other_searches_are_answered_as_before_and_the_table_lists_a_serial_oldest_first() {
    let w = written();
    // A prefix: newest first, within the window (the nine-day-old dry entry is left out).
    let (stdout, _) = report(
        w.dir.path(),
        &w.config,
        &w.store,
        &["--search", "SD-0000", "--format", "json"],
    );
    let entries = json_array(&stdout);
    let references: Vec<&str> = entries
        .iter()
        .map(|e| e["reference"].as_str().unwrap())
        .collect();
    assert_eq!(references.len(), 5, "{stdout}");
    assert!(references.iter().all(|r| r.starts_with("SD-0000")));
    assert!(entries.iter().all(|e| e.get("hashes").is_none()));
    assert!(
        !entries
            .iter()
            .any(|e| e["status"] == "dry" && e["reference"] == "SD-000042")
    );

    // An exact serial that also starts others means that serial only.
    let (stdout, _) = report(
        w.dir.path(),
        &w.config,
        &w.store,
        &["--search", "SD-00004", "--format", "json"],
    );
    let entries = json_array(&stdout);
    assert_eq!(entries.len(), 1, "{stdout}");
    assert_eq!(entries[0]["reference"], "SD-00004");

    let (table, summary) = report(
        w.dir.path(),
        &w.config,
        &w.store,
        &["--search", "SD-000042"],
    );
    let rows: Vec<&str> = table.lines().skip(1).collect();
    assert_eq!(rows.len(), 3, "{table}");
    assert!(rows[0].starts_with("DRY"), "{table}");
    assert!(rows[2].contains("skipped"), "{table}");
    assert!(
        summary.contains("3 entries of SD-000042 across 3 runs, 1 connection, oldest first"),
        "{summary}"
    );

    // The other filters still apply to a timeline.
    let (stdout, _) = report(
        w.dir.path(),
        &w.config,
        &w.store,
        &[
            "--search",
            "SD-000042",
            "--status",
            "ok",
            "--format",
            "json",
        ],
    );
    assert_eq!(json_array(&stdout).len(), 2, "{stdout}");
}

/// The demo systems on loopback in this process, and the real binary running three Single runs
/// of one stale CMDB record: Dry, Live, Live again. The timeline shows the plan, the write and
/// the skip that followed it, with the contract hash the write left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_runs_of_the_engine_make_a_three_entry_timeline() {
    let files = DemoFiles::start(60, 23).await;
    let fleet = files.server.fleet();
    let serial = (0..fleet.len())
        .find(|&i| {
            let traits = fleet.traits(i).unwrap();
            fleet.device(i).unwrap().status.is_some()
                && !traits.cmdb.missing
                && !traits.cmdb.stale_fields.is_empty()
        })
        .map(|i| fleet.device(i).unwrap().serial)
        .expect("a stale CMDB record");
    let DemoFiles {
        dir, config, store, ..
    } = files;
    for mode in ["--dry-run", "--live", "--live"] {
        let home = dir.path().to_path_buf();
        let (config, store, serial) = (config.clone(), store.clone(), serial.clone());
        let out = tokio::task::spawn_blocking(move || {
            syncdeck(&home, &config, &store)
                .args(["run", "--single", &serial, mode, "--connection", "cmdb"])
                .args(["--json"])
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{mode}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (stdout, _) = report(
        dir.path(),
        &config,
        &store,
        &["--search", &serial, "--format", "json"],
    );
    let entries = json_array(&stdout);
    assert_eq!(entries.len(), 3, "{stdout}");
    let got: Vec<(&str, &str, &str)> = entries
        .iter()
        .map(|e| {
            (
                e["status"].as_str().unwrap(),
                e["outcome"].as_str().unwrap(),
                e["mode"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("dry", "would_update", "dry"),
            ("ok", "updated", "live"),
            ("ok", "skipped", "live")
        ],
        "{stdout}"
    );
    let run_ids: Vec<u64> = entries
        .iter()
        .map(|e| e["run_id"].as_u64().unwrap())
        .collect();
    assert!(run_ids.windows(2).all(|r| r[0] < r[1]), "{run_ids:?}");
    assert!(entries.iter().all(|e| e["run_type"] == "single"));
    // The plan and the write carry the same field changes; the re-run has none left.
    assert!(
        !entries[0]["diff"].as_array().unwrap().is_empty(),
        "{stdout}"
    );
    assert_eq!(entries[0]["diff"], entries[1]["diff"], "{stdout}");
    // The write left the hash the re-run found unchanged.
    let written = &entries[1]["hashes"]["after"];
    assert!(written.is_string(), "{stdout}");
    assert_eq!(&entries[2]["hashes"]["before"], written, "{stdout}");
    assert_eq!(&entries[2]["hashes"]["after"], written, "{stdout}");
}
