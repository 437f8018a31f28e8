//! Screens benchmark: the time to the first frame on a large store, the render time of the jobs
//! view, and the idle CPU and peak memory of the real binary. Run with `cargo bench --bench tui`;
//! it prints figures and asserts no times.
//!
//! One store is built in a temp dir and used for everything: 10,000 runs (each with 2–4
//! connection runs, all within the default 15-day retention so the open prunes nothing) and
//! 1,000,000 report entries (100 per run). Building it takes about 10–20 s.
//!
//! 1. **In-process**: `Store::open`, then `App::new` on it and one `terminal.draw` into a 100x30
//!    `TestBackend` (the time to the first frame: the first app's, and the median of
//!    [`FIRST_FRAME_REPEATS`] more on the same open store; `Store::open` is timed apart); then, with the newest run expanded
//!    (`Enter`), the median of [`DRAWS`] draws of the jobs view. Aims: under 200 ms and 2 ms.
//! 2. **The real binary** (the one cargo builds for this bench, same profile as release) in a
//!    private tmux server at 100x30 (`syncdeck --config CFG --store STORE`, the demo config, its
//!    secrets in the environment): the time from spawning tmux until `capture-pane` shows the
//!    jobs view's title (process start, config, store open with its recovery and prune, first
//!    frame; also given from the `exec` of the binary), median of [`LAUNCHES`] starts; then, with
//!    no input, the last start's CPU use over [`IDLE`] (on-CPU ns of all its threads from
//!    `/proc/<pid>/task/*/schedstat`, utime+stime from `/proc/<pid>/stat` as a check) and
//!    its wake-ups (context switches of all its threads); then its peak memory (`VmHWM`). Aims:
//!    under 200 ms, under 1%, under 100 MiB.
//!
//! The store file stays in the OS page cache between the parts, so the first-frame figures are
//! warm-cache figures (an operator's second start, not the first after a reboot).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::sync::Arc;
use std::thread;
use std::time::{Duration as StdDuration, Instant, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Duration, Utc};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use syncdeck::config::{Config, Environment};
use syncdeck::engine::Command;
use syncdeck::store::*;
use syncdeck::ui::{App, AppOptions};

type Error = Box<dyn std::error::Error>;

const RUNS: u64 = 10_000;
const ENTRIES: u64 = 1_000_000;
const BATCH: usize = 1_000;
const WIDTH: u16 = 100;
const HEIGHT: u16 = 30;
const FIRST_FRAME_REPEATS: usize = 10;
const DRAWS: usize = 200;
const IDLE: StdDuration = StdDuration::from_secs(10);
/// Starts of the real binary for its first-frame figure (the last one is then left idle).
const LAUNCHES: usize = 5;
/// The store's size, as the figures say it.
const SIZE: &str = "10,000 runs, 1,000,000 entries";
const TITLE: &str = "Outbound Sync Jobs";
const CONNECTIONS: [&str; 4] = ["cmdb", "registry", "mdm", "cmdb-wrong-method"];

fn config_text() -> String {
    syncdeck::demo::config_for("127.0.0.1:7300".parse().expect("address"))
}

fn config() -> Result<Arc<Config>, Error> {
    let env = Environment::with_fallbacks(syncdeck::demo::demo_secrets().iter().copied());
    let config = syncdeck::config::parse(&config_text(), Path::new("demo/config.toml"), &env)?;
    Ok(Arc::new(config))
}

fn store_options(config: &Config) -> StoreOptions {
    StoreOptions {
        retention_days: config.store.retention_days,
    }
}

/// Run `id` of [`RUNS`], spread evenly over the last 14 days (oldest first), mostly finished
/// cleanly; none Running (the open would mark it Interrupted and rewrite it).
fn run(id: u64, start: DateTime<Utc>, config: &Config) -> (Run, Vec<ConnectionRun>) {
    let started_at = start + Duration::seconds(id as i64 * 120);
    let finished_at = started_at + Duration::seconds(30 + (id % 90) as i64);
    let status = match id % 20 {
        3 => RunStatus::Failed,
        7 => RunStatus::Canceled,
        11 => RunStatus::Incomplete,
        _ => RunStatus::Completed,
    };
    let mode = if id.is_multiple_of(3) {
        RunMode::Live
    } else {
        RunMode::Dry
    };
    let run_type = if id.is_multiple_of(4) {
        RunType::Single
    } else {
        RunType::Full
    };
    let count = 2 + (id % 3) as usize;
    let names: Vec<String> = CONNECTIONS[..count].iter().map(|s| s.to_string()).collect();
    let mut credentials: Vec<String> = Vec::new();
    let mut connection_runs = Vec::with_capacity(count);
    for (position, name) in names.iter().enumerate() {
        let connection = config.connection(name).expect("a demo connection");
        if let Some(credential) = &connection.credential
            && !credentials.contains(credential)
        {
            credentials.push(credential.clone());
        }
        let total = if run_type == RunType::Single {
            1
        } else {
            2_400
        };
        let failed = status == RunStatus::Failed && position + 1 == count;
        let processed = if failed { total / 2 } else { total };
        let counters = Counters {
            would_update: processed * 3 / 10,
            skipped: processed * 6 / 10,
            missing_source: processed / 100,
            missing_destination: processed * 3 / 100,
            errors: u64::from(failed),
            fetched: processed,
            ..Counters::default()
        };
        connection_runs.push(ConnectionRun {
            run_id: id,
            position: position as u32,
            connection: name.clone(),
            system: connection.system.clone(),
            credential: connection.credential.clone(),
            mode,
            status: if failed {
                RunStatus::Failed
            } else {
                RunStatus::Completed
            },
            total,
            processed,
            counters,
            error: failed.then(|| RunError {
                message: "400 Bad Request: Field ram_gb: expected a number".to_string(),
                hint: Some("check mapping target names and formatters".to_string()),
            }),
            started_at: Some(started_at),
            finished_at: Some(finished_at),
            config_hash: connection.config_hash(),
            note: None,
        });
    }
    let run = Run {
        id,
        run_type,
        mode,
        status,
        started_at,
        finished_at: Some(finished_at),
        serial: (run_type == RunType::Single).then(|| format!("SN-{:06}", id % 20_000)),
        connections: names,
        credential_contexts: credentials,
        note: None,
        owner: None,
        trigger: None,
    };
    (run, connection_runs)
}

/// Entry `i` of [`ENTRIES`]: 100 per run, in time order, about 3% Failed with error details.
fn entry(i: u64, start: DateTime<Utc>) -> ReportEntry {
    let run_id = i / (ENTRIES / RUNS) + 1;
    let time =
        start + Duration::seconds(run_id as i64 * 120) + Duration::milliseconds(i as i64 % 100);
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
        run_id,
        connection: CONNECTIONS[(i % 3) as usize].to_string(),
        system: "ServiceNow CMDB".to_string(),
        reference: serial,
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
        diff: vec![FieldChange {
            field: "ram_gb".to_string(),
            old: Some(serde_json::json!(8)),
            new: Some(serde_json::json!(16)),
        }],
        hashes: None,
    }
}

/// Writes the runs, their connection runs and the entries, a thousand of each kind per commit.
fn populate(path: &Path, config: &Config) -> Result<(), Error> {
    let store = Store::open(path, store_options(config))?;
    let start = Utc::now() - Duration::days(14);
    let mut batch = WriteBatch::new();
    for id in 1..=RUNS {
        let (run, connection_runs) = run(id, start, config);
        batch.runs.push(run);
        batch.connection_runs.extend(connection_runs);
        if batch.runs.len() == BATCH || id == RUNS {
            store.commit(&mut batch)?;
        }
    }
    for i in 0..ENTRIES {
        batch.entries.push(entry(i, start));
        if batch.entries.len() == BATCH || i + 1 == ENTRIES {
            store.commit(&mut batch)?;
        }
    }
    Ok(())
}

fn median(mut samples: Vec<StdDuration>) -> StdDuration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: StdDuration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn verdict(met: bool) -> &'static str {
    if met { "" } else { "  MISSED" }
}

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn screen_text(terminal: &Terminal<TestBackend>) -> String {
    let buffer = terminal.backend().buffer();
    buffer.content().iter().map(|cell| cell.symbol()).collect()
}

/// App::new to the first frame, and the jobs view's render time.
fn in_process(path: &Path, config: &Arc<Config>) -> Result<(), Error> {
    let began = Instant::now();
    let store = Store::open(path, store_options(config))?;
    let open = began.elapsed();
    let (commands, _receiver) = tokio::sync::mpsc::unbounded_channel::<Command>();
    let options = || AppOptions {
        theme: config.ui.theme,
        banner: None,
        triage: None,
    };

    let mut first_frames = Vec::with_capacity(FIRST_FRAME_REPEATS + 1);
    let mut app = None;
    for _ in 0..=FIRST_FRAME_REPEATS {
        let began = Instant::now();
        let mut fresh = App::new(config.clone(), store.clone(), commands.clone(), options())?;
        let mut terminal = Terminal::new(TestBackend::new(WIDTH, HEIGHT))?;
        terminal.draw(|frame| fresh.draw(frame))?;
        first_frames.push(began.elapsed());
        assert!(screen_text(&terminal).contains(TITLE), "no jobs view drawn");
        app = Some(fresh);
    }
    let mut app = app.expect("an app");
    let cold = first_frames[0];
    let warm = median(first_frames[1..].to_vec());
    println!(
        "first frame (in-process, {SIZE}): {} (aim < 200 ms){}; median of {} more {}; \
         Store::open before it {}",
        ms(cold),
        verdict(cold < StdDuration::from_millis(200)),
        FIRST_FRAME_REPEATS,
        ms(warm),
        ms(open),
    );

    let mut terminal = Terminal::new(TestBackend::new(WIDTH, HEIGHT))?;
    app.handle_key(key(KeyCode::Enter));
    terminal.draw(|frame| app.draw(frame))?;
    let text = screen_text(&terminal);
    assert!(
        text.contains("registry"),
        "Enter did not expand the newest run"
    );
    let mut samples = Vec::with_capacity(DRAWS);
    for _ in 0..DRAWS {
        let began = Instant::now();
        terminal.draw(|frame| app.draw(frame))?;
        samples.push(began.elapsed());
    }
    samples.sort();
    let render = samples[DRAWS / 2];
    println!(
        "render (jobs view, {WIDTH}x{HEIGHT}, newest run expanded): median of {DRAWS} {} (aim < 2 ms){}; \
         p95 {}, max {}",
        ms(render),
        verdict(render < StdDuration::from_millis(2)),
        ms(samples[DRAWS * 95 / 100]),
        ms(samples[DRAWS - 1]),
    );
    Ok(())
}

/// A private tmux server, its socket in the bench's temp dir; killed on drop.
struct Tmux {
    socket: PathBuf,
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
            .arg("kill-server")
            .stdout(Stdio::null())
            .status();
        let _ = fs::remove_file(&self.socket);
    }
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> Result<u64, Error> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after_name = stat.rsplit_once(')').ok_or("odd /proc/<pid>/stat")?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of stat(5); fields[0] is field 3 (state).
    Ok(fields[11].parse::<u64>()? + fields[12].parse::<u64>()?)
}

/// Time all of a process's threads spent on a CPU and waiting for one, from
/// `/proc/<pid>/task/*/schedstat` (ns); the wait shows what other load on the machine cost.
fn schedstat(pid: u32) -> Result<(StdDuration, StdDuration), Error> {
    let (mut on_cpu, mut waiting) = (0, 0);
    for task in fs::read_dir(format!("/proc/{pid}/task"))? {
        let stat = fs::read_to_string(task?.path().join("schedstat")).unwrap_or_default();
        let mut fields = stat
            .split_whitespace()
            .map(|f| f.parse::<u64>().unwrap_or(0));
        on_cpu += fields.next().unwrap_or(0);
        waiting += fields.next().unwrap_or(0);
    }
    Ok((
        StdDuration::from_nanos(on_cpu),
        StdDuration::from_nanos(waiting),
    ))
}

/// Context switches of all of a process's threads (each one a wake-up or a preemption).
fn context_switches(pid: u32) -> Result<u64, Error> {
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

fn status_kib(pid: u32, field: &str) -> Result<u64, Error> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .ok_or("field missing from /proc/<pid>/status")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .ok_or("odd /proc/<pid>/status")?
        .parse()?)
}

fn clock_ticks() -> u64 {
    Process::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100)
}

fn unix_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

/// One start of the real binary in its own tmux server, up to its first frame.
struct Launch {
    tmux: Tmux,
    pid: u32,
    first_frame: StdDuration,
    from_exec: StdDuration,
    /// On a CPU and waiting for one, up to the first frame.
    on_cpu: StdDuration,
    waiting: StdDuration,
}

/// Writes the wrapper script that records its pid and the exec time, then execs syncdeck.
fn write_script(dir: &Path, store: &Path) -> Result<PathBuf, Error> {
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_syncdeck"));
    let config_path = dir.join("config.toml");
    fs::write(&config_path, config_text())?;
    let home = dir.join("home");
    fs::create_dir_all(&home)?;
    let mut script = String::from("#!/bin/sh\necho $$ > ");
    script += &shell_quote(&dir.join("pid"));
    script += "\ndate +%s%N > ";
    script += &shell_quote(&dir.join("exec-ns"));
    // Logs and platform dirs go to the temp dir, not the operator's home.
    script += &format!(
        "\nexport HOME={h} XDG_CONFIG_HOME={h}/.config XDG_DATA_HOME={h}/.local/share \
         XDG_STATE_HOME={h}/.local/state\n",
        h = shell_quote(&home)
    );
    for (name, value) in syncdeck::demo::demo_secrets() {
        script += &format!("export {name}='{value}'\n");
    }
    script += &format!(
        "exec {} --config {} --store {} 2> {}\n",
        shell_quote(&binary),
        shell_quote(&config_path),
        shell_quote(store),
        shell_quote(&dir.join("stderr")),
    );
    let script_path = dir.join("run.sh");
    fs::write(&script_path, script)?;
    let chmod = Process::new("chmod").arg("+x").arg(&script_path).status()?;
    if !chmod.success() {
        return Err("chmod failed".into());
    }
    Ok(script_path)
}

fn launch(dir: &Path, script: &Path, number: usize) -> Result<Launch, Error> {
    let _ = fs::remove_file(dir.join("pid"));
    let _ = fs::remove_file(dir.join("exec-ns"));
    let tmux = Tmux {
        socket: dir.join(format!("tmux-{number}")),
    };
    let spawned_ns = unix_nanos();
    let spawned = Instant::now();
    let started = tmux
        .command()
        .args(["new-session", "-d", "-s", "bench"])
        .args(["-x", &WIDTH.to_string(), "-y", &HEIGHT.to_string()])
        .arg(script)
        .status()?;
    if !started.success() {
        return Err("tmux new-session failed".into());
    }
    let first_frame = loop {
        if tmux.capture().is_some_and(|screen| screen.contains(TITLE)) {
            break spawned.elapsed();
        }
        if spawned.elapsed() > StdDuration::from_secs(20) {
            let stderr = fs::read_to_string(dir.join("stderr")).unwrap_or_default();
            return Err(format!("no jobs view after 20 s; stderr: {stderr}").into());
        }
        thread::sleep(StdDuration::from_millis(2));
    };
    let pid: u32 = fs::read_to_string(dir.join("pid"))?.trim().parse()?;
    let (on_cpu, waiting) = schedstat(pid)?;
    let exec_ns: u128 = fs::read_to_string(dir.join("exec-ns"))?.trim().parse()?;
    let from_exec = first_frame.saturating_sub(StdDuration::from_nanos(
        exec_ns.saturating_sub(spawned_ns) as u64,
    ));
    Ok(Launch {
        tmux,
        pid,
        first_frame,
        from_exec,
        on_cpu,
        waiting,
    })
}

/// Sends `q` and waits for the process to end (the tmux server goes when it drops).
fn quit(launch: Launch) {
    let _ = launch
        .tmux
        .command()
        .args(["send-keys", "-t", "bench", "q"])
        .status();
    let began = Instant::now();
    while Path::new(&format!("/proc/{}", launch.pid)).exists() {
        if began.elapsed() > StdDuration::from_secs(20) {
            println!("note: syncdeck did not quit within 20 s of `q`; its tmux server is killed");
            break;
        }
        thread::sleep(StdDuration::from_millis(10));
    }
}

/// The real binary in tmux: first frame from outside, idle CPU, peak memory.
fn real_binary(dir: &Path, store: &Path) -> Result<(), Error> {
    let script = write_script(dir, store)?;
    let load = fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".to_string());
    let mut from_spawn = Vec::with_capacity(LAUNCHES);
    let mut from_exec = Vec::with_capacity(LAUNCHES);
    let mut on_cpu = Vec::with_capacity(LAUNCHES);
    let mut waiting = Vec::with_capacity(LAUNCHES);
    let mut last = None;
    for number in 0..LAUNCHES {
        let started = launch(dir, &script, number)?;
        from_spawn.push(started.first_frame);
        from_exec.push(started.from_exec);
        on_cpu.push(started.on_cpu);
        waiting.push(started.waiting);
        if number + 1 < LAUNCHES {
            quit(started);
        } else {
            last = Some(started);
        }
    }
    let started = last.expect("a launch");
    let first_frame = median(from_spawn.clone());
    println!(
        "first frame (real binary in tmux {WIDTH}x{HEIGHT}, {SIZE}): median of {LAUNCHES} starts \
         {} from spawning tmux (aim < 200 ms){}; min {}, max {}; {} from exec of the binary \
         (polled every ~2 ms)",
        ms(first_frame),
        verdict(first_frame < StdDuration::from_millis(200)),
        ms(*from_spawn.iter().min().expect("a launch")),
        ms(*from_spawn.iter().max().expect("a launch")),
        ms(median(from_exec)),
    );
    println!(
        "  of which the binary was on a CPU {} and waited for one {} (medians; load average \
         before the starts {load}, {} CPUs)",
        ms(median(on_cpu)),
        ms(median(waiting)),
        thread::available_parallelism().map_or(1, |n| n.get()),
    );

    let pid = started.pid;
    let ticks_per_second = clock_ticks();
    let cpu_before = cpu_ticks(pid)?;
    let (on_cpu_before, _) = schedstat(pid)?;
    let switches_before = context_switches(pid)?;
    let idle_began = Instant::now();
    thread::sleep(IDLE);
    let cpu_after = cpu_ticks(pid)?;
    let (on_cpu_after, _) = schedstat(pid)?;
    let switches_after = context_switches(pid)?;
    let idle = idle_began.elapsed().as_secs_f64();
    let on_cpu = on_cpu_after.saturating_sub(on_cpu_before);
    let cpu_percent = on_cpu.as_secs_f64() / idle * 100.0;
    println!(
        "idle CPU (real binary, {:.0} s after its first frame, no input): {:.3}% (aim < 1%){}; \
         {} on a CPU (schedstat), {} clock ticks of 1/{} s (utime+stime); {:.1} context \
         switches/s over all its threads",
        idle,
        cpu_percent,
        verdict(cpu_percent < 1.0),
        ms(on_cpu),
        cpu_after - cpu_before,
        ticks_per_second,
        (switches_after - switches_before) as f64 / idle,
    );

    let peak = status_kib(pid, "VmHWM:")?;
    let resident = status_kib(pid, "VmRSS:")?;
    println!(
        "peak memory (real binary, VmHWM): {:.1} MiB (aim < 100 MiB){}; resident now {:.1} MiB",
        peak as f64 / 1024.0,
        verdict(peak < 100 * 1024),
        resident as f64 / 1024.0,
    );
    quit(started);
    Ok(())
}

fn main() -> Result<(), Error> {
    let dir = tempfile::tempdir()?;
    let config = config()?;
    let store_path = dir.path().join("store.redb");
    let began = Instant::now();
    populate(&store_path, &config)?;
    println!(
        "store: {SIZE} built in {:.1} s; file {} MiB",
        began.elapsed().as_secs_f64(),
        fs::metadata(&store_path).map_or(0, |m| m.len() >> 20)
    );
    in_process(&store_path, &config)?;
    real_binary(dir.path(), &store_path)?;
    Ok(())
}
