//! A full disk under the store (issue 12, point 1): the store is the ledger, so no destination
//! write goes unrecorded. The disk is real: a small tmpfs mounted in a user and mount namespace
//! of its own (`unshare -rm`, no privilege needed), filled with a ballast file, around the real
//! binary; the demo systems run in this test process on 127.0.0.1.
//!
//! Also here: a Live run refused when there is no room for its recovery file, a CSV export cut
//! off by a full disk (the test re-runs itself inside the namespace), and the recovery file's
//! import by the next open (once, then removed).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::Value;
use syncdeck::demo::DemoStats;
use syncdeck::export::{self, ExportError};
use syncdeck::store::recovery_file::Reservation;
use syncdeck::store::{
    ConnectionRun, Counters, EntryStatus, Outcome, ReportFilter, ReportSort, Run, RunMode,
    RunStatus, RunType, Store, StoreOptions, WriteBatch,
};

mod common;

use common::cli::DemoFiles;

const FLEET: usize = 3000;
const CONNECTIONS: [&str; 3] = ["cmdb", "mdm", "registry"];
/// Longest the script inside the namespace may take.
const LIMIT: Duration = Duration::from_secs(240);

/// A script run as `unshare -rm sh SCRIPT` with the environment given; it steps through phases,
/// touching `phase-N` in `out` when one is done and waiting for `go-N` before the next, so the
/// test can read the demo systems' counters in between.
struct Namespace {
    child: std::process::Child,
    out: PathBuf,
}

impl Namespace {
    fn start(script: &str, out: &Path, env: &[(&str, String)]) -> Namespace {
        let path = out.join("script.sh");
        std::fs::write(&path, script).unwrap();
        let mut command = Command::new("unshare");
        command.arg("-rm").arg("sh").arg(&path);
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(out.join("script.err")).unwrap())
            .spawn()
            .expect("unshare (util-linux) runs the script in a namespace of its own");
        Namespace {
            child,
            out: out.to_path_buf(),
        }
    }

    /// Waits until the script has touched `phase-N`.
    fn reached(&mut self, phase: u32) {
        let deadline = Instant::now() + LIMIT;
        let marker = self.out.join(format!("phase-{phase}"));
        while !marker.exists() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "the script ended ({status}) before phase {phase}: {}",
                    self.read("script.err")
                );
            }
            assert!(Instant::now() < deadline, "phase {phase} took too long");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn go(&self, phase: u32) {
        std::fs::write(self.out.join(format!("go-{phase}")), "").unwrap();
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.out.join(name)).unwrap_or_default()
    }

    fn code(&self, name: &str) -> i32 {
        self.read(&format!("{name}.code"))
            .trim()
            .parse()
            .unwrap_or(-1)
    }

    fn finish(mut self) {
        let status = self.child.wait().unwrap();
        assert!(
            status.success(),
            "the script failed: {}",
            self.read("script.err")
        );
    }
}

/// The lines every script starts with: mount a tmpfs of `size` at $FS, and the `syncdeck`
/// function (config, store on the tmpfs, output files named after the step).
fn prelude(size: &str) -> String {
    format!(
        r#"set -u
mount -t tmpfs -o size={size} tmpfs "$FS" || exit 90
syncdeck() {{ step=$1; shift; "$BIN" --config "$CONFIG" --store "$FS/s.redb" "$@" > "$OUT/$step.out" 2> "$OUT/$step.err"; echo $? > "$OUT/$step.code"; }}
phase() {{ touch "$OUT/phase-$1"; while [ ! -e "$OUT/go-$1" ]; do sleep 0.05; done; }}
# Fills the tmpfs but for $1 KiB.
fill() {{ avail=$(df -k --output=avail "$FS" | tail -1); dd if=/dev/zero of="$FS/ballast" bs=1k count=$((avail - $1)) 2>/dev/null; }}
"#
    )
}

fn env_for(setup: &DemoFiles, fs: &Path, out: &Path) -> Vec<(&'static str, String)> {
    let mut env: Vec<(&'static str, String)> = vec![
        ("BIN", env!("CARGO_BIN_EXE_syncdeck").to_string()),
        ("CONFIG", setup.config.display().to_string()),
        ("FS", fs.display().to_string()),
        ("OUT", out.display().to_string()),
        ("XDG_STATE_HOME", out.join("state").display().to_string()),
        ("XDG_DATA_HOME", out.join("data").display().to_string()),
        ("XDG_CONFIG_HOME", out.join("config").display().to_string()),
    ];
    for (name, value) in syncdeck::demo::demo_secrets() {
        env.push((name, value.to_string()));
    }
    env
}

fn delta(after: DemoStats, before: DemoStats) -> BTreeMap<&'static str, (u64, u64)> {
    let pair = |a: syncdeck::demo::SystemStats, b: syncdeck::demo::SystemStats| {
        (a.requests - b.requests, a.writes - b.writes)
    };
    BTreeMap::from([
        ("cmdb", pair(after.cmdb, before.cmdb)),
        ("mdm", pair(after.mdm, before.mdm)),
        ("registry", pair(after.registry, before.registry)),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_stops_the_run_keeps_every_write_and_the_next_open_imports_them() {
    let setup = DemoFiles::start(FLEET, 12).await;
    let out = setup.dir.path().join("out");
    let fs = setup.dir.path().join("fs");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::create_dir_all(&fs).unwrap();
    let connections: String = CONNECTIONS
        .iter()
        .map(|c| format!(" --connection {c}"))
        .collect();
    let script = format!(
        r#"{prelude}
syncdeck dry run --full --dry-run{connections}
# Room for the recovery file's reservation and 256 KiB more: the store fills early in the run.
fill $((8192 + 256))
phase 1
syncdeck live run --full --live --force --json{connections}
ls -1 "$FS" > "$OUT/after-live.ls"
phase 2
rm "$FS/ballast"
syncdeck report report --days 1 --format json
ls -1 "$FS" > "$OUT/after-open.ls"
cp "$FS/s.redb" "$OUT/copy.redb"
"#,
        prelude = prelude("48m")
    );
    let env = env_for(&setup, &fs, &out);
    let stats = {
        let server = &setup.server;
        let mut namespace = tokio::task::block_in_place(|| Namespace::start(&script, &out, &env));
        tokio::task::block_in_place(|| namespace.reached(1));
        assert_eq!(namespace.code("dry"), 0, "{}", namespace.read("dry.err"));
        let before = server.stats();
        namespace.go(1);
        tokio::task::block_in_place(|| namespace.reached(2));
        let after_live = server.stats();
        namespace.go(2);
        tokio::task::block_in_place(|| namespace.finish());
        (before, after_live)
    };
    let read = |name: &str| std::fs::read_to_string(out.join(name)).unwrap_or_default();
    let store_path = fs.join("s.redb");

    // The run: exit 3, the disk named on stderr, with where the entries went and the hint.
    let live_err = read("live.err");
    assert_eq!(read("live.code").trim(), "3", "{live_err}");
    let mut lines = live_err.lines();
    assert_eq!(
        lines.next(),
        Some(
            format!(
                "syncdeck: the store could not record: {}: No space left on device (os error 28)",
                store_path.display()
            )
            .as_str()
        ),
        "{live_err}"
    );
    let kept_line = lines.next().unwrap_or_default();
    let recovery_prefix = format!("{}.recovery-2-", store_path.display());
    assert!(kept_line.contains(&recovery_prefix), "{live_err}");
    assert!(
        kept_line.ends_with(".jsonl: the next syncdeck to open the store imports them"),
        "{live_err}"
    );
    assert_eq!(
        lines.last(),
        Some(
            "syncdeck: hint: free disk space where the store lives (or fix the disk), then open \
             syncdeck again: what the run did is imported from its recovery file; resync the \
             failed entries"
        )
    );
    // run --json: Failed, the disk in the note and on the connections; those after the
    // failure never started and their systems heard nothing from this run.
    let summary: Value = serde_json::from_str(&read("live.out")).unwrap();
    assert_eq!(summary["status"], "failed");
    assert!(
        summary["note"]
            .as_str()
            .unwrap()
            .starts_with("the store could not record: "),
        "{summary}"
    );
    let during = delta(stats.1, stats.0);
    let rows = summary["connections"].as_array().unwrap();
    let not_started: Vec<&str> = rows
        .iter()
        .filter(|r| {
            r["error"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("not started: the store could not record: "))
        })
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert!(
        !not_started.is_empty(),
        "the store filled before the last connection: {summary}"
    );
    let first_not_started = rows
        .iter()
        .position(|r| r["name"] == not_started[0])
        .unwrap();
    for row in &rows[first_not_started..] {
        let name = row["name"].as_str().unwrap();
        assert!(not_started.contains(&name), "none started after: {summary}");
        assert_eq!(row["status"], "failed");
        assert_eq!(row["processed"], 0);
        assert_eq!(during[name], (0, 0), "{name} heard nothing: {during:?}");
    }
    // The recovery file was complete under its name; the reservation gone.
    let after_live = read("after-live.ls");
    assert!(
        after_live
            .lines()
            .any(|l| l.starts_with("s.redb.recovery-2-") && l.ends_with(".jsonl")),
        "{after_live}"
    );
    assert!(!after_live.contains(".reserved"), "{after_live}");

    // The next open imported it, said so, and removed it.
    assert_eq!(read("report.code").trim(), "0", "{}", read("report.err"));
    let report_err = read("report.err");
    assert!(
        report_err.starts_with("syncdeck: imported ")
            && report_err.contains(" that run #2 could not record at the time (from ")
            && report_err.contains(", now removed)"),
        "{report_err}"
    );
    assert!(
        !read("after-open.ls").contains("recovery"),
        "{}",
        read("after-open.ls")
    );

    // Every write the destinations received is an attempt of an entry of the run: those the
    // store took before it filled and those imported from the recovery file.
    let entries: Value = serde_json::from_str(&read("report.out")).unwrap();
    let live: Vec<&Value> = entries
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["run_id"] == 2)
        .collect();
    for name in CONNECTIONS {
        let attempts: u64 = live
            .iter()
            .filter(|e| e["connection"] == name)
            .map(|e| e["attempts"].as_u64().unwrap())
            .sum();
        assert_eq!(
            attempts, during[name].1,
            "{name}: writes == recorded attempts"
        );
        let processed = rows.iter().find(|r| r["name"] == name).unwrap()["processed"]
            .as_u64()
            .unwrap();
        let recorded = live.iter().filter(|e| e["connection"] == name).count() as u64;
        assert_eq!(
            recorded, processed,
            "{name}: every processed record has its entry"
        );
    }
    let cmdb_writes: u64 = during["cmdb"].1;
    assert!(
        cmdb_writes > 0,
        "the CMDB was written to before the disk filled"
    );
    // Per serial, too: each CMDB write has its entry with that many attempts.
    let written = setup.server.cmdb_write_counts();
    for (serial, count) in &written {
        let entry = live
            .iter()
            .find(|e| e["connection"] == "cmdb" && e["reference"] == serial.as_str())
            .unwrap_or_else(|| panic!("the write of {serial} has no entry"));
        assert_eq!(entry["attempts"].as_u64(), Some(*count), "{serial}");
    }

    // The store as the import left it: the run Failed with the disk in its note, the
    // connections after the failure Failed without a start.
    let copy = Store::open(out.join("copy.redb"), StoreOptions::default()).unwrap();
    let run = copy.get_run(2).unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Failed);
    assert!(
        run.note
            .unwrap()
            .starts_with("the store could not record: ")
    );
    for row in copy.connection_runs(2).unwrap() {
        assert_ne!(row.status, RunStatus::Running, "{row:?}");
        if not_started.contains(&row.connection.as_str()) {
            assert_eq!((row.status, row.started_at), (RunStatus::Failed, None));
        }
    }
    assert!(copy.recovery().imported.is_empty(), "imported once only");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_run_without_room_for_its_recovery_file_does_not_start() {
    let setup = DemoFiles::start(200, 5).await;
    let out = setup.dir.path().join("out");
    let fs = setup.dir.path().join("fs");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::create_dir_all(&fs).unwrap();
    let script = format!(
        r#"{prelude}
syncdeck report report --days 1
fill 4096
syncdeck live run --full --live --force --connection cmdb
ls -1 "$FS" > "$OUT/after-live.ls"
rm "$FS/ballast"
syncdeck after report --days 1 --format json
"#,
        prelude = prelude("16m")
    );
    let env = env_for(&setup, &fs, &out);
    let namespace = tokio::task::block_in_place(|| Namespace::start(&script, &out, &env));
    tokio::task::block_in_place(|| namespace.finish());
    let read = |name: &str| std::fs::read_to_string(out.join(name)).unwrap_or_default();
    assert_eq!(read("report.code").trim(), "0", "{}", read("report.err"));
    assert_eq!(read("live.code").trim(), "3", "{}", read("live.err"));
    let store_path = fs.join("s.redb");
    assert_eq!(
        read("live.err"),
        format!(
            "syncdeck: the store could not record: no room beside {} for the run's recovery \
             file (8 MiB): No space left on device (os error 28)\nsyncdeck: hint: free disk \
             space where the store lives (or fix the disk), then open syncdeck again: what the \
             run did is imported from its recovery file; resync the failed entries\n",
            store_path.display()
        )
    );
    assert_eq!(
        setup.server.stats(),
        DemoStats::default(),
        "not even the source was asked"
    );
    assert!(!read("after-live.ls").contains("recovery"));
    assert_eq!(read("after.out").trim(), "[]", "no run, no entry");
}

/// Set in the copy of this test binary that runs inside the namespace: the directory to use.
const EXPORT_CHILD: &str = "SYNCDECK_TEST_FULL_DISK_EXPORT_DIR";

#[test]
fn a_csv_export_cut_off_by_a_full_disk_leaves_no_file_under_its_name() {
    if let Ok(dir) = std::env::var(EXPORT_CHILD) {
        return export_on_a_full_disk(Path::new(&dir));
    }
    let dir = tempfile::tempdir().unwrap();
    let fs = dir.path().join("fs");
    std::fs::create_dir_all(&fs).unwrap();
    let me = std::env::current_exe().unwrap();
    let script = format!(
        "mount -t tmpfs -o size=256k tmpfs '{}' || exit 90\nexec '{}' --exact \
         a_csv_export_cut_off_by_a_full_disk_leaves_no_file_under_its_name --nocapture \
         --test-threads 1",
        fs.display(),
        me.display()
    );
    let out = Command::new("unshare")
        .args(["-rm", "sh", "-c", &script])
        .env(EXPORT_CHILD, dir.path())
        .output()
        .expect("unshare (util-linux) is installed");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("1 passed"),
        "the export inside the namespace: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Inside the namespace: `dir/fs` is a 256 KiB tmpfs; the store sits outside it.
fn export_on_a_full_disk(dir: &Path) {
    let store = Store::open(dir.join("s.redb"), StoreOptions::default()).unwrap();
    let now = Utc::now();
    let mut batch = WriteBatch::new();
    for i in 0..5_000 {
        batch.entries.push(common::history::entry(
            1,
            "cmdb",
            "ServiceNow CMDB",
            &format!("SD-{i:06}"),
            now,
        ));
    }
    store.commit(&mut batch).unwrap();
    let path = dir.join("fs").join("report.csv");
    let failed = export::export_csv(
        &store,
        &ReportFilter::default(),
        ReportSort::default(),
        &path,
        &mut |_, _| {},
    );
    match failed {
        Err(ExportError::Io { source, .. }) => {
            assert_eq!(source.kind(), std::io::ErrorKind::StorageFull, "{source}");
        }
        other => panic!("the export should fail on the full disk: {other:?}"),
    }
    assert!(!path.exists(), "no file under the export's name");
    let left: Vec<_> = std::fs::read_dir(dir.join("fs")).unwrap().collect();
    assert!(left.is_empty(), "the partial file is removed: {left:?}");
    // A small one fits, and is whole.
    let few = ReportFilter {
        search: Some("SD-00000".into()),
        ..ReportFilter::default()
    };
    let rows =
        export::export_csv(&store, &few, ReportSort::default(), &path, &mut |_, _| {}).unwrap();
    assert_eq!(rows, 10);
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 11, "the header and every row");
}

/// A run the store could not record: its run row, its connection run and `entries` entries
/// with their contracts, as the engine keeps them.
fn kept_batches(run_id: u64, entries: usize) -> Vec<WriteBatch> {
    let now = Utc::now();
    let run = Run {
        id: run_id,
        run_type: RunType::Full,
        mode: RunMode::Live,
        status: RunStatus::Failed,
        started_at: now,
        finished_at: Some(now),
        serial: None,
        connections: vec!["cmdb".into()],
        credential_contexts: Vec::new(),
        note: Some("the store could not record: disk full".into()),
        owner: None,
        trigger: None,
    };
    let row = ConnectionRun {
        run_id,
        position: 0,
        connection: "cmdb".into(),
        system: "ServiceNow CMDB".into(),
        credential: None,
        mode: RunMode::Live,
        status: RunStatus::Failed,
        total: entries as u64,
        processed: entries as u64,
        counters: Counters::default(),
        error: None,
        started_at: Some(now),
        finished_at: Some(now),
        config_hash: String::new(),
        note: None,
    };
    let mut first = WriteBatch::new();
    for i in 0..entries {
        let mut entry =
            common::history::entry(run_id, "cmdb", "ServiceNow CMDB", &format!("SD-{i}"), now);
        entry.status = EntryStatus::Ok;
        entry.outcome = Outcome::Updated;
        entry.attempts = common::history::attempts_for(EntryStatus::Ok, now);
        first.entries.push(entry);
        first.contracts.push(syncdeck::store::SyncContract {
            connection: "cmdb".into(),
            origin_id: format!("SD-{i}"),
            target_id: Some(format!("T-{i}")),
            last_hash: "h".into(),
            last_seen: now,
            last_synced: Some(now),
            last_action: syncdeck::store::ContractAction::Updated,
        });
    }
    let mut last = WriteBatch::new();
    last.connection_runs.push(row);
    last.runs.push(run);
    vec![first, last]
}

#[test]
fn a_recovery_file_is_imported_once_by_the_next_open_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let run_id = {
        let store = Store::open(&path, StoreOptions::default()).unwrap();
        let mut running = kept_batches(0, 0).pop().unwrap().runs.pop().unwrap();
        running.status = RunStatus::Running;
        store.create_run(running).unwrap()
    };
    let kept = Reservation::create(&path)
        .unwrap()
        .keep(run_id, "disk full", &kept_batches(run_id, 25))
        .unwrap();
    assert_eq!((kept.entries, kept.entries_left_out), (25, 0));
    let saved = std::fs::read(&kept.path).unwrap();

    let store = Store::open(&path, StoreOptions::default()).unwrap();
    let recovery = store.recovery().clone();
    assert_eq!(recovery.imported.len(), 1, "{recovery:?}");
    let imported = &recovery.imported[0];
    assert_eq!((imported.entries, imported.contracts), (25, 25));
    assert_eq!(
        recovery.summary().unwrap(),
        format!(
            "imported 25 entries and 25 contracts that run #{run_id} could not record at the \
             time (from {}, now removed)",
            kept.path.display()
        )
    );
    assert!(
        recovery.runs_interrupted.is_empty(),
        "the run's end was in the file"
    );
    assert!(!kept.path.exists());
    assert_eq!(
        store.get_run(run_id).unwrap().unwrap().status,
        RunStatus::Failed
    );
    assert_eq!(common::history::entries_of_run(&store, run_id).len(), 25);
    assert!(store.get_contract("cmdb", "SD-7").unwrap().is_some());
    drop(store);

    // The same file again (a crash between the import's commit and the removal): removed,
    // nothing imported twice.
    std::fs::write(&kept.path, &saved).unwrap();
    let store = Store::open(&path, StoreOptions::default()).unwrap();
    assert!(store.recovery().imported.is_empty());
    assert!(!kept.path.exists());
    assert_eq!(common::history::entries_of_run(&store, run_id).len(), 25);
}

/// The store file removed while a Live run writes to a slow destination: the next commit sees
/// the path no longer names the file opened (on Linux it would "succeed" into a file that goes
/// with the process), so the run stops writing, and what it did from then on is kept in the
/// recovery file beside the path, which the next open imports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_file_removed_during_a_live_run_stops_its_writes_and_keeps_the_rest() {
    use common::systems::{SourceAnswer, Systems};
    const RECORDS: usize = 40;
    let systems = Systems::start().await;
    let items: Vec<String> = (0..RECORDS)
        .map(|i| format!(r#"{{"serial": "G-{i}", "name": "new"}}"#))
        .collect();
    systems.set_source(SourceAnswer::json(&format!(
        r#"{{"items": [{}]}}"#,
        items.join(", ")
    )));
    for i in 0..RECORDS {
        systems.set_record(
            &format!("G-{i}"),
            &format!(r#"{{"serial": "G-{i}", "id": "id-{i}", "name": "old"}}"#),
        );
    }
    systems.set_write_delay(Duration::from_millis(150));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    let base = systems.base_url();
    std::fs::write(
        &config,
        format!(
            r#"
[source]
base_url = "{base}"
endpoint = "/source"
results_position = "items"
id_field = "serial"

[[connections]]
name = "assets"
base_url = "{base}"
dry_run = false
concurrency = 2
max_retries = 0
[connections.fetch]
path = "/json/assets"
query = {{ serial = "{{serial}}" }}
results_position = "result"
serial_field = "serial"
id_field = "id"
[connections.update]
method = "PATCH"
path = "/json/assets/{{id}}"
[[connections.mapping]]
source = "name"
target = "name"
"#
        ),
    )
    .unwrap();
    let store = dir.path().join("s.redb");
    let syncdeck = |args: &[&str]| {
        let mut command = common::cli::command(dir.path());
        command
            .arg("--config")
            .arg(&config)
            .arg("--store")
            .arg(&store)
            .args(args);
        command
    };
    let mut run = tokio::process::Command::from(syncdeck(&["run", "--full", "--live", "--force"]));
    run.kill_on_drop(true)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = run.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while systems.writes().len() < 4 {
        assert!(Instant::now() < deadline, "the run did not start writing");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    std::fs::remove_file(&store).unwrap();
    let before = systems.writes().len();
    let out = tokio::time::timeout(LIMIT, child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert_eq!(
        stderr.lines().next(),
        Some(
            format!(
                "syncdeck: the store could not record: {}: the file was removed or replaced \
                 while syncdeck had it open",
                store.display()
            )
            .as_str()
        ),
        "{stderr}"
    );
    let written = systems.writes().len();
    assert!(
        written < RECORDS,
        "the writes stopped: {written} of {RECORDS}"
    );
    let files: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        files
            .iter()
            .any(|f| f.starts_with("s.redb.recovery-1-") && f.ends_with(".jsonl")),
        "{files:?}"
    );
    assert!(!files.iter().any(|f| f.ends_with(".reserved")), "{files:?}");

    // The next open (a new store at the path) imports what the run did after the removal:
    // every write from then on is an attempt of an imported entry.
    let report = common::cli::output(
        {
            let mut command = syncdeck(&["report", "--days", "1", "--format", "json"]);
            command.env_remove("SYNCDECK_LOG");
            command
        },
        LIMIT,
    )
    .await;
    assert_eq!(report.code, Some(0), "{report:?}");
    assert!(
        report.stderr.contains("that run #1 could not record"),
        "{report:?}"
    );
    let attempts: u64 = report
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["attempts"].as_u64().unwrap())
        .sum();
    assert!(
        (written - before) as u64 <= attempts,
        "{written} writes, {before} before the removal, {attempts} attempts kept"
    );
}
