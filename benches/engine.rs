//! Engine benchmark: what Full runs cost against the demo systems on loopback. Run with
//! `cargo bench --bench engine` (under a minute once built); it prints figures and asserts no
//! times.
//!
//! The demo systems run as their own process (`syncdeck demo-server --port 0`) and every run is
//! the real command line (`syncdeck run ... --json`) in a child process, the binary cargo builds
//! for this bench in the same profile. So the timings are of exactly what an operator runs
//! (process start, config, store, engine, summary), and the peak memory is the engine's alone:
//! neither the demo's 100,000 devices nor this harness count in it. The demo server is the same
//! binary, so a change to it (an allocator, say) moves the demo side and the wrk figure too.
//!
//! Wall times move with whatever else runs on the machine: the bench prints the load average
//! first, and the CPU time (user + system, from `/proc/<pid>/stat`) of each run and of the demo
//! server during it, which other work disturbs much less.
//!
//! 1. **Full Dry, 100,000 records, `cmdb` (bulk lookup)**: wall time of
//!    `syncdeck run --full --dry-run --connection cmdb --json` (destination bulk listing, source
//!    listing, mapping, diff, report entries in the store), best of [`DRY_REPEATS`], against a
//!    baseline that merely downloads and parses (`serde_json::Value`) the same CMDB bulk pages
//!    and the same source pages, with the same page sizes, one request after another, with a
//!    plain reqwest client (run and baseline take turns). Aims: under 3 s, and under 2x the
//!    baseline.
//! 2. **Peak memory of that run**: the child's `VmHWM` from `/proc/<pid>/status`, read every
//!    5 ms until it exits (a high-water mark, so only growth in its last 5 ms could be missed).
//!    Aim: under 150 MiB.
//! 3. **Full Live, ~10,000 changed records through PATCH at concurrency 32**: the demo config
//!    with `concurrency = 32` (no `rate_limit_per_sec`) and the `name` rule formatted `upper`
//!    instead of `lower`, so every record the CMDB holds differs from what the mapping wants;
//!    `syncdeck run --full --live --force --connection cmdb --json`. Records/s over the whole
//!    run; PATCH requests/s over the write phase, from the demo's write counter
//!    (`GET /_demo/stats`, polled every 10 ms).
//! 4. **wrk baseline** (when `wrk` is installed, `apt-get install wrk`): the same PATCH (same
//!    JSON body shape, same bearer header) against the same endpoint at the same concurrency:
//!
//!    ```text
//!    wrk -t2 -c32 -d10s -s patch.lua http://127.0.0.1:PORT/cmdb/api/assets/<sys_id>
//!    ```
//!
//!    with `patch.lua`:
//!
//!    ```text
//!    wrk.method = "PATCH"
//!    wrk.headers["Content-Type"] = "application/json"
//!    wrk.headers["Authorization"] = "Bearer demo-cmdb-token"
//!    wrk.body = [[{"name":"LT-LON1-00001"}]]
//!    ```
//!
//!    The engine's PATCH rate is printed as a percentage of wrk's. Aim: at least 70%.
//! 5. **CPU per PATCH**, which explains that percentage: the engine and the demo server run on
//!    the same cores, so the rate cannot pass `cores / (engine + server CPU per PATCH)`,
//!    whatever the concurrency. Printed: the engine's and the server's CPU per PATCH over the
//!    live run (user + sys; the engine's includes process start, both listings and the store),
//!    wrk's and the server's CPU per request under wrk (wrk's from `getrusage(RUSAGE_CHILDREN)`),
//!    the ceiling on this machine's cores, and the rate the run's CPU per PATCH allows within
//!    the CPU wrk and the server used.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use syncdeck::config::{self, Config, Environment, Format, Pagination, ResultsPosition};
use syncdeck::demo::DemoStats;

const BIN: &str = env!("CARGO_BIN_EXE_syncdeck");
const SEED: u64 = 7;
const DRY_FLEET: usize = 100_000;
const DRY_REPEATS: usize = 3;
/// About 96% of a demo fleet has a CMDB record and a source status: this many devices give a
/// little over 10,000 PATCHes.
const LIVE_FLEET: usize = 10_450;
const LIVE_CONCURRENCY: usize = 32;
const WRK_DURATION: &str = "10s";
const RSS_SAMPLE_EVERY: Duration = Duration::from_millis(5);
const STATS_POLL_EVERY: Duration = Duration::from_millis(10);

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn main() -> BenchResult<()> {
    let dir = tempfile::tempdir()?;
    let runtime = tokio::runtime::Runtime::new()?;
    let env = ChildEnv::new(dir.path())?;
    println!("engine bench: demo systems and runs as separate processes ({BIN})");
    // Wall times on a shared machine move with whatever else runs; CPU times much less.
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        let load: Vec<&str> = load.split_whitespace().take(3).collect();
        println!(
            "load average before the bench: {} ({} cores)",
            load.join(" "),
            thread::available_parallelism().map_or(0, |n| n.get())
        );
    }

    full_dry(&runtime, &env, dir.path())?;
    full_live(&runtime, &env, dir.path())?;
    Ok(())
}

/// Sections 1 and 2: the 100,000-record dry run, its baseline and its peak memory.
fn full_dry(runtime: &tokio::runtime::Runtime, env: &ChildEnv, dir: &Path) -> BenchResult<()> {
    let demo = DemoProcess::start(DRY_FLEET, env)?;
    let text = syncdeck::demo::config_for(demo.addr);
    let config = parse_config(&text)?;
    let config_path = dir.join("dry.toml");
    std::fs::write(&config_path, &text)?;

    // Runs and baselines take turns, so a burst of other work on the machine hits both alike.
    let mut runs = Vec::new();
    let mut baselines = Vec::new();
    for attempt in 0..DRY_REPEATS {
        let store = dir.join(format!("dry-{attempt}.redb"));
        let run = cli_run(
            env,
            &demo,
            &config_path,
            &store,
            &["--full", "--dry-run", "--connection", "cmdb"],
            None,
        )?;
        runs.push(run);
        let (own, server) = (cpu_time(std::process::id()), cpu_time(demo.child.id()));
        let mut baseline = runtime.block_on(download_and_parse(&config, "cmdb"))?;
        let spent = |before: Option<Duration>, after: Option<Duration>| {
            after.zip(before).map(|(a, b)| a.saturating_sub(b))
        };
        baseline.cpu = spent(own, cpu_time(std::process::id()));
        baseline.server_cpu = spent(server, cpu_time(demo.child.id()));
        baselines.push(baseline);
    }

    let best = runs.iter().map(|r| r.wall).min().unwrap_or_default();
    let peak = runs.iter().filter_map(|r| r.peak_rss_kib).max();
    let baseline = baselines.iter().map(|b| b.wall).min().unwrap_or_default();
    let first = &runs[0];
    let row = &first.summary["connections"][0];
    let counters = &row["counters"];
    println!();
    println!("1. Full Dry, {DRY_FLEET} records, cmdb (bulk lookup), via `syncdeck run`");
    println!(
        "   run: {} of {} processed, status {}, exit {}; would update {}, skipped {}, \
         missing source {}, missing destination {}, errors {}",
        row["processed"],
        row["total"],
        first.summary["status"],
        first.exit,
        counters["would_update"],
        counters["skipped"],
        counters["missing_source"],
        counters["missing_destination"],
        counters["errors"],
    );
    println!(
        "   wall: {} (best {:.2} s, {:.0} records/s)   aim < 3 s: {}",
        seconds_list(runs.iter().map(|r| r.wall)),
        best.as_secs_f64(),
        DRY_FLEET as f64 / best.as_secs_f64(),
        verdict(best.as_secs_f64() < 3.0),
    );
    println!(
        "   cpu (user + sys): run {}; demo server meanwhile {}",
        seconds_list(runs.iter().filter_map(|r| r.cpu)),
        seconds_list(runs.iter().filter_map(|r| r.server_cpu)),
    );
    let Some(b) = baselines.iter().min_by_key(|b| b.wall) else {
        return Err("no baseline".into());
    };
    println!(
        "   baseline, download + parse only: {} (best {:.2} s): {} CMDB pages ({} records, \
         {:.1} MiB) in {:.2} s, then {} source pages ({} records, {:.1} MiB) in {:.2} s",
        seconds_list(baselines.iter().map(|b| b.wall)),
        baseline.as_secs_f64(),
        b.destination.pages,
        b.destination.records,
        b.destination.bytes as f64 / MIB,
        b.destination.wall.as_secs_f64(),
        b.source.pages,
        b.source.records,
        b.source.bytes as f64 / MIB,
        b.source.wall.as_secs_f64(),
    );
    println!(
        "   baseline cpu (user + sys): client {}; demo server meanwhile {}",
        seconds_list(baselines.iter().filter_map(|b| b.cpu)),
        seconds_list(baselines.iter().filter_map(|b| b.server_cpu)),
    );
    let ratio = best.as_secs_f64() / baseline.as_secs_f64();
    println!(
        "   ratio run / baseline: {ratio:.2}x   aim < 2x: {}",
        verdict(ratio < 2.0)
    );
    match peak {
        Some(kib) => println!(
            "2. peak RSS of the run (VmHWM): {:.1} MiB   aim < 150 MiB: {}",
            kib as f64 / 1024.0,
            verdict((kib as f64 / 1024.0) < 150.0)
        ),
        None => println!("2. peak RSS: not measurable (no /proc/<pid>/status)"),
    }
    drop(demo);
    Ok(())
}

/// Sections 3 and 4: the live run through PATCH at concurrency 32, and wrk on the same endpoint.
fn full_live(runtime: &tokio::runtime::Runtime, env: &ChildEnv, dir: &Path) -> BenchResult<()> {
    let demo = DemoProcess::start(LIVE_FLEET, env)?;
    let text = live_config(&syncdeck::demo::config_for(demo.addr))?;
    let config = parse_config(&text)?;
    let cmdb = config.connection("cmdb").ok_or("no cmdb connection")?;
    if cmdb.concurrency != LIVE_CONCURRENCY
        || cmdb.rate_limit_per_sec.is_some()
        || !matches!(cmdb.mapping[0].format, Some(Format::Upper))
    {
        return Err("the live config edit did not take".into());
    }
    let config_path = dir.join("live.toml");
    std::fs::write(&config_path, &text)?;
    // The wrk target is picked before the run, so it holds what every record holds then.
    let target = runtime.block_on(first_cmdb_record(&demo.base))?;

    let done = Arc::new(AtomicBool::new(false));
    let engine_pid = Arc::new(AtomicU32::new(0));
    let poller = runtime.spawn(poll_stats(
        demo.base.clone(),
        done.clone(),
        engine_pid.clone(),
        demo.child.id(),
    ));
    let run = cli_run(
        env,
        &demo,
        &config_path,
        &dir.join("live.redb"),
        &["--full", "--live", "--force", "--connection", "cmdb"],
        Some((&done, &engine_pid)),
    )?;
    let samples = runtime.block_on(poller)??;

    let row = &run.summary["connections"][0];
    let counters = &row["counters"];
    let processed = row["processed"].as_u64().unwrap_or(0);
    let writes = samples.last().map_or(0, |s| s.stats.cmdb.writes);
    let phase = write_phase(&samples);
    println!();
    println!(
        "3. Full Live, fleet of {LIVE_FLEET}, cmdb at concurrency {LIVE_CONCURRENCY} (no rate \
         limit), every record found changed, via `syncdeck run`"
    );
    println!(
        "   run: {} processed, status {}, exit {}; updated {}, failed {}, missing source {}, \
         missing destination {}; PATCH requests {}",
        processed,
        run.summary["status"],
        run.exit,
        counters["updated"],
        counters["failed"],
        counters["missing_source"],
        counters["missing_destination"],
        writes,
    );
    println!(
        "   cpu (user + sys): run {}; demo server meanwhile {}",
        seconds_list(run.cpu.into_iter()),
        seconds_list(run.server_cpu.into_iter()),
    );
    println!(
        "   wall {:.2} s: {:.0} records/s, {:.0} PATCH/s over the whole run",
        run.wall.as_secs_f64(),
        processed as f64 / run.wall.as_secs_f64(),
        writes as f64 / run.wall.as_secs_f64(),
    );
    let engine_rate = match &phase {
        Some(phase) => {
            let rate = phase.patches as f64 / phase.span.as_secs_f64();
            println!(
                "   write phase: {} PATCHes in {:.2} s: {rate:.0} PATCH/s",
                phase.patches,
                phase.span.as_secs_f64()
            );
            Some(rate)
        }
        None => {
            println!("   write phase: too short to measure at a {STATS_POLL_EVERY:?} poll");
            None
        }
    };

    match which("wrk") {
        None => println!("4. wrk not installed: skipped (apt-get install wrk)"),
        Some(wrk) => {
            let outcome = run_wrk(&wrk, dir, &demo, &target)?;
            println!(
                "4. wrk -t2 -c{LIVE_CONCURRENCY} -d{WRK_DURATION} PATCH {}/cmdb/api/assets/{}: \
                 {:.0} requests/s{}",
                demo.base,
                target.sys_id,
                outcome.requests_per_sec,
                match outcome.non_2xx {
                    Some(n) => format!(" (WARNING: {n} non-2xx answers)"),
                    None => String::new(),
                }
            );
            if let Some(rate) = engine_rate {
                let share = rate / outcome.requests_per_sec * 100.0;
                println!(
                    "   engine PATCH/s as a share of wrk's: {share:.0}%   aim >= 70%: {}",
                    verdict(share >= 70.0)
                );
            }
            cpu_analysis(&run, writes, phase.as_ref(), &outcome);
        }
    }
    drop(demo);
    Ok(())
}

const MIB: f64 = 1024.0 * 1024.0;

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}

fn seconds_list(walls: impl Iterator<Item = Duration>) -> String {
    walls
        .map(|w| format!("{:.2} s", w.as_secs_f64()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn parse_config(text: &str) -> BenchResult<Config> {
    let env = Environment::with_fallbacks(syncdeck::demo::demo_secrets().iter().copied());
    Ok(config::parse(text, Path::new("/bench/config.toml"), &env)?)
}

/// The demo config with the cmdb connection at concurrency 32 and its `name` rule upper-cased:
/// the CMDB holds lower-case names, so every record it has differs (and stays valid for it).
fn live_config(text: &str) -> BenchResult<String> {
    let concurrency = "concurrency = 16";
    let name_rule = "target = \"name\"\nformat = \"lower\"";
    // Both are the first occurrences: the cmdb connection comes first in the demo config.
    if !text.contains(concurrency) || !text.contains(name_rule) {
        return Err("the demo config no longer has the cmdb settings this bench edits".into());
    }
    Ok(text
        .replacen(concurrency, &format!("concurrency = {LIVE_CONCURRENCY}"), 1)
        .replacen(name_rule, "target = \"name\"\nformat = \"upper\"", 1))
}

/// Environment of the child processes: the demo secrets, and the platform dirs (logs) in the
/// temp dir, so a bench run leaves nothing behind.
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

    fn command(&self) -> Command {
        let mut command = Command::new(BIN);
        command
            .env_remove("SYNCDECK_CONFIG")
            .env_remove("SYNCDECK_STORE")
            .envs(self.vars.iter().map(|(k, v)| (k, v)));
        command
    }
}

/// `syncdeck demo-server` on a free port; killed when dropped.
struct DemoProcess {
    child: Child,
    base: String,
    addr: SocketAddr,
}

impl DemoProcess {
    fn start(fleet_size: usize, env: &ChildEnv) -> BenchResult<Self> {
        let mut child = env
            .command()
            .args(["demo-server", "--port", "0", "--fleet-size"])
            .arg(fleet_size.to_string())
            .arg("--seed")
            .arg(SEED.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        // "syncdeck demo systems listening on http://127.0.0.1:PORT", then the rest of the
        // banner in the same write: the pipe can be dropped after this line.
        let mut line = String::new();
        if let Some(stdout) = child.stdout.take() {
            BufReader::new(stdout).read_line(&mut line)?;
        }
        let base = line.trim().rsplit(' ').next().unwrap_or("").to_string();
        let addr = match base.strip_prefix("http://").map(str::parse::<SocketAddr>) {
            Some(Ok(addr)) => addr,
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("the demo server said {line:?}, not its address").into());
            }
        };
        Ok(DemoProcess { child, base, addr })
    }
}

impl Drop for DemoProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct CliRun {
    wall: Duration,
    peak_rss_kib: Option<u64>,
    /// CPU time (user + system) of the run and of the demo server during it: figures that
    /// other work on the machine disturbs much less than wall times.
    cpu: Option<Duration>,
    server_cpu: Option<Duration>,
    summary: Value,
    exit: String,
}

/// Runs `syncdeck --config C --store S run ARGS --json` to its end against the demo server
/// `server`: wall time, peak RSS, CPU times and the JSON summary. With `watch`, its pid is
/// published once it runs and the flag set when it exits.
fn cli_run(
    env: &ChildEnv,
    server: &DemoProcess,
    config: &Path,
    store: &Path,
    args: &[&str],
    watch: Option<(&Arc<AtomicBool>, &Arc<AtomicU32>)>,
) -> BenchResult<CliRun> {
    let out_path = store.with_extension("json");
    let err_path = store.with_extension("stderr");
    let mut command = env.command();
    command
        .arg("--config")
        .arg(config)
        .arg("--store")
        .arg(store)
        .arg("run")
        .args(args)
        .arg("--json")
        .stdin(Stdio::null())
        .stdout(File::create(&out_path)?)
        .stderr(File::create(&err_path)?);
    let server_before = cpu_time(server.child.id());
    let started = Instant::now();
    let mut child = command.spawn()?;
    if let Some((_, pid)) = watch {
        pid.store(child.id(), Ordering::Relaxed);
    }
    let exited = Arc::new(AtomicBool::new(false));
    let sampler = {
        let exited = exited.clone();
        let pid = child.id();
        thread::spawn(move || {
            let (mut peak, mut cpu) = (None, None);
            while !exited.load(Ordering::Relaxed) {
                if let Some(kib) = vm_hwm_kib(pid) {
                    peak = Some(peak.map_or(kib, |p: u64| p.max(kib)));
                }
                cpu = cpu_time(pid).or(cpu);
                thread::sleep(RSS_SAMPLE_EVERY);
            }
            (peak, cpu)
        })
    };
    let status: ExitStatus = child.wait()?;
    let wall = started.elapsed();
    let server_cpu = cpu_time(server.child.id())
        .zip(server_before)
        .map(|(after, before)| after.saturating_sub(before));
    exited.store(true, Ordering::Relaxed);
    if let Some((done, _)) = watch {
        done.store(true, Ordering::Relaxed);
    }
    let (peak_rss_kib, cpu) = sampler.join().unwrap_or((None, None));
    let output = std::fs::read_to_string(&out_path)?;
    let summary: Value = serde_json::from_str(&output).map_err(|e| {
        let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
        format!("`syncdeck run` ({status}) printed no JSON summary ({e}): {stderr}")
    })?;
    Ok(CliRun {
        wall,
        peak_rss_kib,
        cpu,
        server_cpu,
        summary,
        exit: status
            .code()
            .map_or_else(|| status.to_string(), |c| c.to_string()),
    })
}

/// The CPU time (user + system) a process has used so far (None once it has exited), from
/// `/proc/<pid>/stat` in clock ticks of 1/100 s (USER_HZ, fixed on Linux).
fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: count fields after its closing parenthesis (field 3).
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |field: usize| fields.get(field - 3)?.parse::<u64>().ok();
    Some(Duration::from_millis((ticks(14)? + ticks(15)?) * 10))
}

/// The process's peak resident set so far, in KiB (None once it has exited).
fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

#[derive(Default)]
struct Listed {
    wall: Duration,
    pages: u64,
    records: u64,
    bytes: u64,
}

struct Baseline {
    wall: Duration,
    /// CPU time of this process (the client) and of the demo server while it ran.
    cpu: Option<Duration>,
    server_cpu: Option<Duration>,
    destination: Listed,
    source: Listed,
}

/// Downloads and parses what the run lists, in the engine's order (the destination's bulk
/// listing, then the source), one page after another, and nothing else.
async fn download_and_parse(config: &Config, connection: &str) -> BenchResult<Baseline> {
    let connection = config.connection(connection).ok_or("no such connection")?;
    let token = cmdb_token();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let started = Instant::now();

    let mut destination = Listed::default();
    let began = Instant::now();
    let Pagination::Offset {
        offset_param,
        size_param,
        size,
        ..
    } = &connection.fetch.pagination
    else {
        return Err("the cmdb bulk listing is no longer offset-paged".into());
    };
    let url = format!("{}{}", connection.base_url, connection.fetch.path);
    loop {
        let query = [
            (offset_param.as_str(), destination.records.to_string()),
            (size_param.as_str(), size.to_string()),
        ];
        let request = client.get(&url).query(&query).bearer_auth(token);
        let count = get_page(
            request,
            &connection.fetch.results_position,
            &mut destination,
        )
        .await?;
        if count < *size {
            break;
        }
    }
    destination.wall = began.elapsed();

    let mut source = Listed::default();
    let began = Instant::now();
    let Pagination::Page {
        page_param,
        size_param,
        size,
        first_page,
        ..
    } = &config.primary_source().pagination
    else {
        return Err("the demo source is no longer page-paged".into());
    };
    let source_config = config.primary_source();
    let url = format!("{}{}", source_config.base_url, source_config.endpoint);
    let mut page = *first_page;
    loop {
        let query = [
            (page_param.as_str(), page.to_string()),
            (size_param.as_str(), size.to_string()),
        ];
        let count = get_page(
            client.get(&url).query(&query),
            &source_config.results_position,
            &mut source,
        )
        .await?;
        if count < *size {
            break;
        }
        page += 1;
    }
    source.wall = began.elapsed();
    Ok(Baseline {
        wall: started.elapsed(),
        cpu: None,
        server_cpu: None,
        destination,
        source,
    })
}

/// One page: its body parsed into a `Value`, the records at the results position counted.
async fn get_page(
    request: reqwest::RequestBuilder,
    position: &ResultsPosition,
    listed: &mut Listed,
) -> BenchResult<u64> {
    let response = request
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await?
        .error_for_status()?;
    let body = response.bytes().await?;
    let value: Value = serde_json::from_slice(&body)?;
    let list = match position {
        ResultsPosition::Root | ResultsPosition::Single => Some(&value),
        ResultsPosition::Path(path) => path.find(&value),
    };
    let count = list.and_then(Value::as_array).map_or(0, Vec::len) as u64;
    listed.pages += 1;
    listed.records += count;
    listed.bytes += body.len() as u64;
    Ok(count)
}

fn cmdb_token() -> &'static str {
    syncdeck::demo::demo_secrets()
        .iter()
        .find(|(name, _)| *name == "SYNCDECK_DEMO_CMDB_TOKEN")
        .map_or("", |(_, value)| value)
}

/// The record wrk PATCHes, and the body the engine sends it under the live config.
struct WrkTarget {
    sys_id: String,
    body: String,
}

async fn first_cmdb_record(base: &str) -> BenchResult<WrkTarget> {
    let body: Value = reqwest::Client::new()
        .get(format!("{base}/cmdb/api/assets?sysparm_limit=1"))
        .bearer_auth(cmdb_token())
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let record = &body["result"][0];
    let sys_id = record["sys_id"].as_str().ok_or("no sys_id")?.to_string();
    let name = record["name"].as_str().ok_or("no name")?.to_uppercase();
    Ok(WrkTarget {
        sys_id,
        body: serde_json::json!({ "name": name }).to_string(),
    })
}

/// One poll of the demo's counters, with the CPU time so far of the run and of the server.
struct Sample {
    at: Instant,
    stats: DemoStats,
    engine_cpu: Option<Duration>,
    server_cpu: Option<Duration>,
}

/// Samples the demo's counters, and the CPU time of the run (`engine_pid`, once set) and of
/// the server, until `done`, then once more.
async fn poll_stats(
    base: String,
    done: Arc<AtomicBool>,
    engine_pid: Arc<AtomicU32>,
    server_pid: u32,
) -> BenchResult<Vec<Sample>> {
    let client = reqwest::Client::new();
    let url = format!("{base}/_demo/stats");
    let mut samples = Vec::new();
    let mut ticker = tokio::time::interval(STATS_POLL_EVERY);
    loop {
        ticker.tick().await;
        let last = done.load(Ordering::Relaxed);
        let stats: DemoStats = client.get(&url).send().await?.json().await?;
        let pid = engine_pid.load(Ordering::Relaxed);
        samples.push(Sample {
            at: Instant::now(),
            stats,
            engine_cpu: (pid != 0).then(|| cpu_time(pid)).flatten(),
            server_cpu: cpu_time(server_pid),
        });
        if last {
            return Ok(samples);
        }
    }
}

/// The write phase: from the first sample that saw writes to the first that saw them all.
struct WritePhase {
    patches: u64,
    span: Duration,
    /// CPU time the run and the server used between those samples (at /proc's 10 ms ticks).
    engine_cpu: Option<Duration>,
    server_cpu: Option<Duration>,
}

fn write_phase(samples: &[Sample]) -> Option<WritePhase> {
    let total = samples.last()?.stats.cmdb.writes;
    let first = samples.iter().find(|s| s.stats.cmdb.writes > 0)?;
    let last = samples.iter().find(|s| s.stats.cmdb.writes == total)?;
    let span = last.at.duration_since(first.at);
    let spent = |before: Option<Duration>, after: Option<Duration>| {
        after.zip(before).map(|(a, b)| a.saturating_sub(b))
    };
    (span > STATS_POLL_EVERY * 5).then(|| WritePhase {
        patches: total - first.stats.cmdb.writes,
        span,
        engine_cpu: spent(first.engine_cpu, last.engine_cpu),
        server_cpu: spent(first.server_cpu, last.server_cpu),
    })
}

/// The wrk script: the engine's PATCH, body and bearer included.
fn wrk_script(body: &str) -> String {
    format!(
        "wrk.method = \"PATCH\"\n\
         wrk.headers[\"Content-Type\"] = \"application/json\"\n\
         wrk.headers[\"Authorization\"] = \"Bearer {}\"\n\
         wrk.body = [[{body}]]\n",
        cmdb_token()
    )
}

struct WrkOutcome {
    requests_per_sec: f64,
    non_2xx: Option<u64>,
    /// Requests wrk completed ("N requests in 10.00s").
    requests: Option<u64>,
    /// CPU time (user + sys) of wrk itself, and of the demo server while wrk ran.
    cpu: Option<Duration>,
    server_cpu: Option<Duration>,
}

/// Why the PATCH rate is what it is: the engine and the demo server share the machine's cores,
/// so their CPU per PATCH bounds the rate, whatever the concurrency. Prints the CPU per PATCH
/// of both over the whole run (process start, listings and store included) and over the write
/// phase, the CPU per request of wrk and of the server under wrk, and the ceilings these give.
fn cpu_analysis(run: &CliRun, writes: u64, phase: Option<&WritePhase>, wrk: &WrkOutcome) {
    let per = |cpu: Duration, n: u64| cpu.as_secs_f64() * 1e6 / n.max(1) as f64;
    println!("5. CPU per PATCH (user + sys): engine and demo server share the cores");
    if let (Some(engine), Some(server)) = (run.cpu, run.server_cpu)
        && writes > 0
    {
        let (engine_us, server_us) = (per(engine, writes), per(server, writes));
        println!(
            "   whole run: engine {engine_us:.1} us + demo server {server_us:.1} us = {:.1} us \
             per PATCH",
            engine_us + server_us
        );
    }
    // The write phase leaves out process start and the destination's bulk listing, which come
    // before the first PATCH; the source listing, mapping and store run through it.
    let Some((engine_us, server_us)) = phase.and_then(|p| {
        let (engine, server) = (p.engine_cpu?, p.server_cpu?);
        Some((per(engine, p.patches), per(server, p.patches)))
    }) else {
        println!("   write phase: CPU not measurable");
        return;
    };
    let run_us = engine_us + server_us;
    println!(
        "   write phase: engine {engine_us:.1} us + demo server {server_us:.1} us = {run_us:.1} us \
         per PATCH"
    );
    let cores = thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    println!(
        "   ceiling on {cores:.0} cores with nothing else running: {cores:.0} / {run_us:.1} us = \
         {:.0} PATCH/s ({:.0}% of wrk's rate)",
        cores * 1e6 / run_us,
        cores * 1e6 / run_us / wrk.requests_per_sec * 100.0
    );
    if let (Some(requests), Some(wrk_cpu), Some(wrk_server)) =
        (wrk.requests, wrk.cpu, wrk.server_cpu)
        && requests > 0
    {
        let (wrk_us, wrk_server_us) = (per(wrk_cpu, requests), per(wrk_server, requests));
        let wrk_total = wrk_us + wrk_server_us;
        println!(
            "   under wrk: wrk {wrk_us:.1} us + demo server {wrk_server_us:.1} us = \
             {wrk_total:.1} us per request ({:.2} cores busy)",
            wrk_total * wrk.requests_per_sec / 1e6,
        );
        println!(
            "   at wrk's CPU per second the write phase's {run_us:.1} us per PATCH give {:.0} \
             PATCH/s ({:.0}% of wrk's rate); 70% needs engine + server <= {:.1} us per PATCH, \
             the server alone takes {server_us:.1} us",
            wrk.requests_per_sec * wrk_total / run_us,
            wrk_total / run_us * 100.0,
            wrk_total / 0.7,
        );
    }
}

/// CPU time (user + sys) of this process's waited-for children so far.
fn children_cpu() -> Option<Duration> {
    // SAFETY: getrusage writes one rusage into the zeroed struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) } != 0 {
        return None;
    }
    let micros = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    Some(Duration::from_micros(
        micros(usage.ru_utime) + micros(usage.ru_stime),
    ))
}

fn run_wrk(
    wrk: &Path,
    dir: &Path,
    demo: &DemoProcess,
    target: &WrkTarget,
) -> BenchResult<WrkOutcome> {
    let base = &demo.base;
    let script = dir.join("patch.lua");
    std::fs::write(&script, wrk_script(&target.body))?;
    let (own_before, server_before) = (children_cpu(), cpu_time(demo.child.id()));
    let output = Command::new(wrk)
        .arg("-t2")
        .arg(format!("-c{LIVE_CONCURRENCY}"))
        .arg(format!("-d{WRK_DURATION}"))
        .arg("-s")
        .arg(&script)
        .arg(format!("{base}/cmdb/api/assets/{}", target.sys_id))
        .stdin(Stdio::null())
        .output()?;
    let spent = |before: Option<Duration>, after: Option<Duration>| {
        after.zip(before).map(|(a, b)| a.saturating_sub(b))
    };
    let cpu = spent(own_before, children_cpu());
    let server_cpu = spent(server_before, cpu_time(demo.child.id()));
    let text = String::from_utf8_lossy(&output.stdout);
    let field = |name: &str| {
        text.lines()
            .find_map(|line| line.trim().strip_prefix(name))
            .map(str::trim)
    };
    let requests_per_sec = field("Requests/sec:")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("no Requests/sec in wrk's output: {text}"))?;
    let non_2xx = field("Non-2xx or 3xx responses:").and_then(|v| v.parse().ok());
    let requests = text
        .lines()
        .find(|line| line.contains(" requests in "))
        .and_then(|line| line.split_whitespace().next())
        .and_then(|n| n.parse().ok());
    Ok(WrkOutcome {
        requests_per_sec,
        non_2xx,
        requests,
        cpu,
        server_cpu,
    })
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
}
