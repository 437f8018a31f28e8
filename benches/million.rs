//! A million records a night: what one Full Dry and one Full Live cost in wall time, peak
//! memory and store bytes, for this build and (side by side, in the same run) for another
//! syncdeck binary such as the previous release. Run with
//!
//! ```text
//! SYNCDECK_BEFORE_BIN=/path/to/old/syncdeck cargo bench --bench million
//! ```
//!
//! `SYNCDECK_MILLION_FLEET=N` changes the fleet size (default 1,000,000).
//!
//! For each binary, in turns: a demo server of its own (`syncdeck demo-server`, this build's,
//! so both binaries meet the same data), then on a new store
//!
//! 1. **Full Dry** of the `cmdb` connection (bulk lookup): `run --full --dry-run --json`;
//! 2. **Full Live** of it, same store: about 30% of the demo CMDB's records differ from what
//!    the mapping wants (the demo data is made that way), so about 30% are PATCHed, the rest
//!    skipped as unchanged.
//!
//! Printed for each: wall time, peak RSS of the child (its `ru_maxrss` from `wait4`, so neither
//! the demo server nor this harness counts), entries recorded (the run's `processed`), store
//! file bytes added and bytes added per entry. Then the first page (100) of Failed entries of
//! the store (`report --status failed --format json`, process start included) and the file's
//! size after `syncdeck store compact` where the binary has that command.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_syncdeck");
const SEED: u64 = 7;
const DEFAULT_FLEET: usize = 1_000_000;
const MIB: f64 = 1024.0 * 1024.0;

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> BenchResult<()> {
    let fleet = std::env::var("SYNCDECK_MILLION_FLEET")
        .ok()
        .and_then(|n| n.replace('_', "").parse().ok())
        .unwrap_or(DEFAULT_FLEET);
    let mut binaries = Vec::new();
    if let Ok(before) = std::env::var("SYNCDECK_BEFORE_BIN") {
        binaries.push(("before".to_string(), PathBuf::from(before)));
    }
    binaries.push(("this build".to_string(), PathBuf::from(BIN)));
    let dir = tempfile::tempdir()?;
    let env = ChildEnv::new(dir.path())?;
    println!("million bench: fleet of {fleet}, demo server and runs as separate processes");
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        println!("load average before the bench: {}", load.trim());
    }
    let mut rows = Vec::new();
    for (name, bin) in &binaries {
        let store = dir.path().join(format!("{}.redb", name.replace(' ', "-")));
        let demo = DemoProcess::start(fleet, &env)?;
        let config = dir.path().join("config.toml");
        std::fs::write(&config, demo_config(&demo.base))?;
        for (label, args) in [
            ("Full Dry", &["--full", "--dry-run"][..]),
            ("Full Live", &["--full", "--live", "--force"][..]),
        ] {
            let run = cli_run(&env, bin, &config, &store, args)?;
            println!(
                "{name:>10} {label:<9}: {:>7.1} s (cpu {:.1} s)  peak RSS {:>6.1} MiB  {:>8} entries  \
                 +{:>7.1} MiB  {:>6.0} B/entry  (exit {}, {})",
                run.wall.as_secs_f64(),
                run.cpu.as_secs_f64(),
                run.peak_rss_kib as f64 / 1024.0,
                run.entries,
                run.bytes_added as f64 / MIB,
                run.per_entry(),
                run.exit,
                run.counters,
            );
            rows.push((name.clone(), label, run));
        }
        drop(demo);
        if bin.as_path() == Path::new(BIN) {
            // This build's store, as its run left it (compacted at the end when the run grew
            // it): where its bytes go.
            let opened =
                syncdeck::store::Store::open(&store, syncdeck::store::StoreOptions::default());
            if let Ok(space) = opened.and_then(|store| store.space()) {
                println!(
                    "{name:>10} store after both runs: file {:.1} MiB, allocated {:.1} MiB, \
                     stored in tables {:.1} MiB, redb's own {:.1} MiB",
                    space.file_bytes as f64 / MIB,
                    space.allocated_bytes as f64 / MIB,
                    space.stored_bytes as f64 / MIB,
                    space.metadata_bytes as f64 / MIB,
                );
                for table in space.tables.iter().filter(|t| t.rows >= 1_000) {
                    println!(
                        "{:>12} {:<22} {:>9} rows  stored {:>5.1} B/row  pages {:>5.1} B/row",
                        "",
                        table.name,
                        table.rows,
                        table.stored_bytes as f64 / table.rows as f64,
                        table.page_bytes as f64 / table.rows as f64,
                    );
                }
            }
        }
        let started = Instant::now();
        let failed = Command::new(bin)
            .args(["--config"])
            .arg(&config)
            .arg("--store")
            .arg(&store)
            .args(["report", "--status", "failed", "--format", "json"])
            .envs(env.vars.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .output()?;
        println!(
            "{name:>10} report --status failed (whole command): {:.0} ms, {} bytes of JSON",
            started.elapsed().as_secs_f64() * 1000.0,
            failed.stdout.len()
        );
        let size = file_size(&store);
        let started = Instant::now();
        let compact = Command::new(bin)
            .arg("--store")
            .arg(&store)
            .args(["store", "compact"])
            .envs(env.vars.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        if compact.success() {
            println!(
                "{name:>10} store compact: {:.1} MiB -> {:.1} MiB in {:.1} s",
                size as f64 / MIB,
                file_size(&store) as f64 / MIB,
                started.elapsed().as_secs_f64()
            );
        } else {
            println!("{name:>10} store compact: not available ({compact})");
        }
        let _ = std::fs::remove_file(&store);
    }
    println!();
    println!(
        "| binary | run | wall s | cpu s | peak RSS MiB | entries | store MiB added | B/entry |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (name, label, run) in &rows {
        println!(
            "| {name} | {label} | {:.1} | {:.1} | {:.1} | {} | {:.1} | {:.0} |",
            run.wall.as_secs_f64(),
            run.cpu.as_secs_f64(),
            run.peak_rss_kib as f64 / 1024.0,
            run.entries,
            run.bytes_added as f64 / MIB,
            run.per_entry()
        );
    }
    Ok(())
}

/// The demo config for a server at `base`, its cmdb connection first.
fn demo_config(base: &str) -> String {
    syncdeck::demo::DEMO_CONFIG.replace(syncdeck::demo::DEMO_BASE_URL, base)
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |meta| meta.len())
}

struct CliRun {
    wall: Duration,
    /// User + system CPU time: what other work on the machine disturbs much less.
    cpu: Duration,
    peak_rss_kib: u64,
    entries: u64,
    bytes_added: u64,
    exit: String,
    counters: String,
}

impl CliRun {
    fn per_entry(&self) -> f64 {
        self.bytes_added as f64 / self.entries.max(1) as f64
    }
}

/// `BIN --config C --store S run --connection cmdb ARGS --json` to its end.
fn cli_run(
    env: &ChildEnv,
    bin: &Path,
    config: &Path,
    store: &Path,
    args: &[&str],
) -> BenchResult<CliRun> {
    let out_path = store.with_extension("json");
    let err_path = store.with_extension("stderr");
    let before = file_size(store);
    let started = Instant::now();
    let child = Command::new(bin)
        .env_remove("SYNCDECK_CONFIG")
        .env_remove("SYNCDECK_STORE")
        .envs(env.vars.iter().map(|(k, v)| (k, v)))
        .arg("--config")
        .arg(config)
        .arg("--store")
        .arg(store)
        .args(["run", "--connection", "cmdb"])
        .args(args)
        .arg("--json")
        .stdin(Stdio::null())
        .stdout(File::create(&out_path)?)
        .stderr(File::create(&err_path)?)
        .spawn()?;
    let (status, peak_rss_kib, cpu) = wait_with_rusage(child)?;
    let wall = started.elapsed();
    let output = std::fs::read_to_string(&out_path)?;
    let summary: Value = serde_json::from_str(&output).map_err(|e| {
        let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
        format!("`syncdeck run` (exit {status}) printed no JSON summary ({e}): {stderr}")
    })?;
    let row = &summary["connections"][0];
    let counters = &row["counters"];
    Ok(CliRun {
        wall,
        cpu,
        peak_rss_kib,
        entries: row["processed"].as_u64().unwrap_or(0),
        bytes_added: file_size(store).saturating_sub(before),
        exit: status.to_string(),
        counters: format!(
            "would update {}, updated {}, skipped {}, missing dest {}, errors {}",
            counters["would_update"],
            counters["updated"],
            counters["skipped"],
            counters["missing_destination"],
            counters["errors"]
        ),
    })
}

/// Waits for `child` with `wait4`: its exit code, its peak resident set (KiB) and its CPU time
/// (user + system).
fn wait_with_rusage(child: Child) -> BenchResult<(i32, u64, Duration)> {
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain data that wait4 fills; `pid` is our own unreaped child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    if waited != pid {
        return Err(format!("wait4: {}", std::io::Error::last_os_error()).into());
    }
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    };
    // Reaped already: dropping the std handle does not wait again.
    drop(child);
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    let cpu = time(usage.ru_utime) + time(usage.ru_stime);
    Ok((code, usage.ru_maxrss as u64, cpu))
}

/// The demo secrets, and the platform dirs (logs) in the temp dir.
struct ChildEnv {
    vars: Vec<(String, String)>,
}

impl ChildEnv {
    fn new(dir: &Path) -> BenchResult<Self> {
        let mut vars: Vec<(String, String)> = syncdeck::demo::demo_secrets()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        for (name, sub) in [
            ("XDG_STATE_HOME", "state"),
            ("XDG_DATA_HOME", "data"),
            ("XDG_CONFIG_HOME", "config"),
        ] {
            let path = dir.join(sub);
            std::fs::create_dir_all(&path)?;
            vars.push((name.to_string(), path.display().to_string()));
        }
        Ok(ChildEnv { vars })
    }
}

/// `syncdeck demo-server` (this build's) on a free port of 127.0.0.1; killed when dropped.
struct DemoProcess {
    child: Child,
    base: String,
}

impl DemoProcess {
    fn start(fleet_size: usize, env: &ChildEnv) -> BenchResult<Self> {
        let mut child = Command::new(BIN)
            .envs(env.vars.iter().map(|(k, v)| (k, v)))
            .args(["demo-server", "--port", "0", "--fleet-size"])
            .arg(fleet_size.to_string())
            .arg("--seed")
            .arg(SEED.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let mut line = String::new();
        if let Some(stdout) = child.stdout.take() {
            BufReader::new(stdout).read_line(&mut line)?;
        }
        let base = line.trim().rsplit(' ').next().unwrap_or("").to_string();
        if !base.starts_with("http://127.0.0.1:") {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("the demo server said {line:?}, not its address").into());
        }
        Ok(DemoProcess { child, base })
    }
}

impl Drop for DemoProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
