//! Shared-store benchmark: what a console following other processes costs, and how far behind
//! them it shows. Run with `cargo bench --bench shared`; it prints figures and asserts no times.
//!
//! The console is the real binary (the one cargo builds for this bench) in a private tmux server
//! at 100x30, on a fresh store, against the demo systems (100,000 devices) served from this
//! process; the other process is the real `syncdeck run` in a child.
//!
//! 1. **Idle**: the console on screen, nothing running anywhere, no input, for [`IDLE`]: its CPU
//!    use (on-CPU ns of its threads from `/proc/<pid>/task/*/schedstat`, or its utime + stime
//!    when larger: those count threads that ended) and wake-ups. Aim: under 1% of one core.
//! 2. **Beside a 100,000-record Full Dry** (`syncdeck run --full --dry-run --connection cmdb`
//!    in another process): the console's CPU over the run, in % of one core (aim: under 10%);
//!    the time from the run's row in the store to the console showing it (aim: under 1 s).
//! 3. **Lag**: how far behind the console shows the other process's progress. A thread here
//!    reads the run's committed progress from the store every [`STORE_EVERY`] (the clock of
//!    truth: what any console could show at that instant); the console's screen is captured
//!    every [`SCREEN_EVERY`] and the overall gauge's count read off it. For each capture, the lag
//!    is how long the store had already held more than the screen shows (0 when it shows the
//!    latest). p50, p95 and max over the run. Aim: p95 under 1 s.
//!
//! The store reader and the screen captures cost a little CPU on the same cores; they take it
//! from the run, not from the console, whose CPU is its own threads' only.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use syncdeck::demo::{self, DemoOptions};
use syncdeck::store::{RunStatus, Store, StoreOptions};

type Error = Box<dyn std::error::Error + Send + Sync>;

const BIN: &str = env!("CARGO_BIN_EXE_syncdeck");
const FLEET: usize = 100_000;
const WIDTH: u16 = 100;
const HEIGHT: u16 = 30;
const IDLE: Duration = Duration::from_secs(10);
const STORE_EVERY: Duration = Duration::from_millis(5);
const SCREEN_EVERY: Duration = Duration::from_millis(20);
/// Full Dry runs the console watches, one after another (the figures pool their samples).
const RUNS: usize = 3;

fn main() -> Result<(), Error> {
    let dir = tempfile::tempdir()?;
    let runtime = tokio::runtime::Runtime::new()?;
    let server = runtime.block_on(demo::start(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        DemoOptions {
            fleet_size: FLEET,
            seed: 7,
        },
    ))?;
    let config = dir.path().join("config.toml");
    fs::write(&config, demo::config_for(server.addr()))?;
    let store_path = dir.path().join("shared.redb");
    if let Ok(load) = fs::read_to_string("/proc/loadavg") {
        let load: Vec<&str> = load.split_whitespace().take(3).collect();
        println!(
            "shared bench: load average before {} ({} cores); console {WIDTH}x{HEIGHT} in tmux",
            load.join(" "),
            thread::available_parallelism().map_or(0, |n| n.get())
        );
    }

    let console = Console::start(dir.path(), &config, &store_path)?;
    // 1. Idle.
    let (cpu_before, switches_before) = (on_cpu(console.pid)?, switches(console.pid)?);
    let began = Instant::now();
    thread::sleep(IDLE);
    let idle = began.elapsed();
    let cpu = on_cpu(console.pid)?.saturating_sub(cpu_before);
    let percent = cpu.as_secs_f64() / idle.as_secs_f64() * 100.0;
    println!(
        "1. idle console, nothing running: {percent:.3}% of one core over {:.0} s (aim < 1%): \
         {}; {:.1} wake-ups/s",
        idle.as_secs_f64(),
        verdict(percent < 1.0),
        (switches(console.pid)? - switches_before) as f64 / idle.as_secs_f64()
    );

    // 2 and 3. Beside Full Dry runs of another process.
    let store = Store::open(&store_path, StoreOptions::default())?;
    let mut lags = Vec::new();
    let mut appear = Vec::new();
    let mut busy = Vec::new();
    for round in 0..RUNS {
        let watched = watch_one_run(&console, &config, &store_path, &store, round as u64 + 1)?;
        println!(
            "   run {}: {} records in {:.2} s, exit {}; the console on a CPU {:.1}% of one core; \
             shown {} ms after its row was committed; {} screen samples, {} store samples",
            round + 1,
            watched.records,
            watched.wall.as_secs_f64(),
            watched.exit,
            watched.console_percent,
            watched.appeared.as_millis(),
            watched.lags.len(),
            watched.store_samples,
        );
        lags.extend(watched.lags);
        appear.push(watched.appeared);
        busy.push(watched.console_percent);
    }
    let worst_busy = busy.iter().copied().fold(0.0, f64::max);
    println!(
        "2. console beside a {FLEET}-record Full Dry of another process: {} % of one core \
         (worst {worst_busy:.1}%, aim < 10%): {}; the run shown {} ms after it started (worst; \
         aim < 1 s): {}",
        busy.iter()
            .map(|p| format!("{p:.1}"))
            .collect::<Vec<_>>()
            .join(", "),
        verdict(worst_busy < 10.0),
        appear.iter().max().map_or(0, |d| d.as_millis()),
        verdict(appear.iter().all(|d| *d < Duration::from_secs(1))),
    );
    lags.sort();
    let at = |q: f64| lags[((lags.len() - 1) as f64 * q).round() as usize];
    println!(
        "3. lag of the console behind the other process's committed progress, {} samples: \
         p50 {} ms, p95 {} ms (aim < 1 s): {}, max {} ms",
        lags.len(),
        at(0.5).as_millis(),
        at(0.95).as_millis(),
        verdict(at(0.95) < Duration::from_secs(1)),
        at(1.0).as_millis(),
    );
    drop(console);
    runtime.block_on(server.shutdown());
    Ok(())
}

/// What watching one run gave.
struct Watched {
    records: u64,
    wall: Duration,
    exit: i32,
    console_percent: f64,
    appeared: Duration,
    lags: Vec<Duration>,
    store_samples: usize,
}

/// Starts a Full Dry in another process and samples the store and the console until it ends.
fn watch_one_run(
    console: &Console,
    config: &Path,
    store_path: &Path,
    store: &Store,
    run_id: u64,
) -> Result<Watched, Error> {
    let origin = Instant::now();
    let truth: Arc<std::sync::Mutex<Vec<(Duration, u64)>>> = Arc::default();
    let created: Arc<std::sync::Mutex<Option<Duration>>> = Arc::default();
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (truth, created, done, store) =
            (truth.clone(), created.clone(), done.clone(), store.clone());
        thread::spawn(move || {
            let mut last = None;
            while !done.load(Ordering::Relaxed) {
                let at = origin.elapsed();
                if let Ok(rows) = store.connection_runs(run_id) {
                    if let Ok(mut created) = created.lock()
                        && created.is_none()
                        && store.get_run(run_id).ok().flatten().is_some()
                    {
                        *created = Some(at);
                    }
                    let processed: u64 = rows.iter().map(|r| r.processed).sum();
                    if last != Some(processed) {
                        last = Some(processed);
                        if let Ok(mut truth) = truth.lock() {
                            truth.push((at, processed));
                        }
                    }
                }
                thread::sleep(STORE_EVERY);
            }
        })
    };
    let cpu_before = on_cpu(console.pid)?;
    let mut child = Process::new(BIN)
        .args(["--config"])
        .arg(config)
        .arg("--store")
        .arg(store_path)
        .args([
            "run",
            "--full",
            "--dry-run",
            "--connection",
            "cmdb",
            "--json",
        ])
        .envs(demo::demo_secrets().iter().copied())
        .env("XDG_STATE_HOME", console.home.join("state"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let mut screens: Vec<(Duration, u64)> = Vec::new();
    let mut shown = None;
    let needle = format!("Run #{run_id}");
    let exit = loop {
        if let Some(status) = child.try_wait()? {
            break status.code().unwrap_or(-1);
        }
        let at = origin.elapsed();
        if let Some(screen) = console.capture() {
            if shown.is_none() && screen.contains(&needle) {
                shown = Some(at);
            }
            if screen.contains(&needle)
                && let Some(done) = overall_done(&screen)
            {
                screens.push((at, done));
            }
        }
        thread::sleep(SCREEN_EVERY);
    };
    let wall = origin.elapsed();
    // The last commits and the console's last look.
    thread::sleep(Duration::from_secs(1));
    done.store(true, Ordering::Relaxed);
    let _ = reader.join();
    let console_cpu = on_cpu(console.pid)?.saturating_sub(cpu_before);
    let truth = truth.lock().map_err(|_| "store reader")?.clone();
    let created = created
        .lock()
        .map_err(|_| "store reader")?
        .ok_or("the run never reached the store")?;
    let lags = screens
        .iter()
        .map(|&(at, shown)| {
            // The first instant the store held more than the screen shows, if it did by then.
            truth
                .iter()
                .find(|&&(_, processed)| processed > shown)
                .filter(|&&(when, _)| when <= at)
                .map_or(Duration::ZERO, |&(when, _)| at - when)
        })
        .collect();
    let run = store.get_run(run_id)?.ok_or("the run is recorded")?;
    if run.status != RunStatus::Completed {
        return Err(format!("run {run_id} ended {}", run.status.as_str()).into());
    }
    Ok(Watched {
        records: truth.last().map_or(0, |&(_, processed)| processed),
        wall,
        exit,
        console_percent: console_cpu.as_secs_f64() / wall.as_secs_f64() * 100.0,
        appeared: shown
            .ok_or("the console never showed the run")?
            .saturating_sub(created),
        lags,
        store_samples: truth.len(),
    })
}

/// The records done on the card's overall gauge: `overall ███░░ 37%  3,604 of ~9,600`.
fn overall_done(screen: &str) -> Option<u64> {
    let line = screen.lines().find(|l| l.contains("overall "))?;
    let after = &line[line.find('%')? + 1..];
    after
        .split_whitespace()
        .next()?
        .replace(',', "")
        .parse()
        .ok()
}

/// The real binary in a private tmux server, on the store.
struct Console {
    tmux: Tmux,
    home: PathBuf,
    pid: u32,
}

/// A private tmux server, killed when dropped (after `q` to the console in it).
struct Tmux {
    socket: PathBuf,
}

impl Console {
    fn start(dir: &Path, config: &Path, store: &Path) -> Result<Console, Error> {
        let home = dir.join("home");
        fs::create_dir_all(&home)?;
        let pid_file = dir.join("console.pid");
        let mut script = format!(
            "#!/bin/sh\necho $$ > '{}'\nexport XDG_STATE_HOME='{h}/state' \
             XDG_DATA_HOME='{h}/data' XDG_CONFIG_HOME='{h}/config'\n",
            pid_file.display(),
            h = home.display()
        );
        for (name, value) in demo::demo_secrets() {
            script += &format!("export {name}='{value}'\n");
        }
        script += &format!(
            "exec '{BIN}' --config '{}' --store '{}' 2> '{}/stderr'\n",
            config.display(),
            store.display(),
            home.display()
        );
        let script_path = dir.join("console.sh");
        fs::write(&script_path, script)?;
        Process::new("chmod").arg("+x").arg(&script_path).status()?;
        let tmux = Tmux {
            socket: dir.join("tmux"),
        };
        let started = tmux
            .command()
            .args(["new-session", "-d", "-s", "bench"])
            .args(["-x", &WIDTH.to_string(), "-y", &HEIGHT.to_string()])
            .arg(&script_path)
            .status()?;
        if !started.success() {
            return Err("tmux new-session failed".into());
        }
        let began = Instant::now();
        while !tmux
            .capture()
            .is_some_and(|s| s.contains("Outbound Sync Jobs"))
        {
            if began.elapsed() > Duration::from_secs(20) {
                return Err("the console did not start".into());
            }
            thread::sleep(Duration::from_millis(10));
        }
        let pid = fs::read_to_string(&pid_file)?.trim().parse()?;
        Ok(Console { tmux, home, pid })
    }

    fn capture(&self) -> Option<String> {
        self.tmux.capture()
    }
}

impl Tmux {
    fn command(&self) -> Process {
        let mut command = Process::new("tmux");
        command
            .arg("-S")
            .arg(&self.socket)
            .args(["-f", "/dev/null"])
            .stdin(Stdio::null())
            .stderr(Stdio::null());
        command
    }

    fn capture(&self) -> Option<String> {
        let out = self
            .command()
            .args(["capture-pane", "-p", "-t", "bench"])
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self
            .command()
            .args(["send-keys", "-t", "bench", "q"])
            .status();
        thread::sleep(Duration::from_millis(300));
        let _ = self
            .command()
            .arg("kill-server")
            .stdout(Stdio::null())
            .status();
    }
}

/// Time a process spent on a CPU: the larger of its live threads' on-CPU ns
/// (`/proc/<pid>/task/*/schedstat`, precise) and its utime + stime (`/proc/<pid>/stat`, in clock
/// ticks, but counting threads that have ended too, such as idle blocking-pool threads).
fn on_cpu(pid: u32) -> Result<Duration, Error> {
    Ok(threads_on_cpu(pid)?.max(cpu_ticks(pid)?))
}

/// utime + stime of a process, with its ended threads.
fn cpu_ticks(pid: u32) -> Result<Duration, Error> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after_name = stat.rsplit_once(')').ok_or("odd /proc/<pid>/stat")?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of stat(5); fields[0] is field 3 (state).
    let ticks = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
    let per_second = Process::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse::<u64>()
                .ok()
        })
        .unwrap_or(100);
    Ok(Duration::from_millis(ticks * 1000 / per_second))
}

/// Time the live threads of a process spent on a CPU.
fn threads_on_cpu(pid: u32) -> Result<Duration, Error> {
    let mut total = 0;
    for task in fs::read_dir(format!("/proc/{pid}/task"))? {
        let stat = fs::read_to_string(task?.path().join("schedstat")).unwrap_or_default();
        total += stat
            .split_whitespace()
            .next()
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Ok(Duration::from_nanos(total))
}

/// Context switches of all of a process's threads.
fn switches(pid: u32) -> Result<u64, Error> {
    let mut total = 0;
    for task in fs::read_dir(format!("/proc/{pid}/task"))? {
        let status = fs::read_to_string(task?.path().join("status")).unwrap_or_default();
        total += status
            .lines()
            .filter(|l| l.contains("ctxt_switches:"))
            .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum::<u64>();
    }
    Ok(total)
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}
