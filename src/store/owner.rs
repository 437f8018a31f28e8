//! Who runs a run and what started it (SPEC sections 8 and 10): the owning process — host,
//! user, pid and the process's start time — and the trigger (`console`, `headless`,
//! `scheduled`, or a scheduled run's name); and whether that owner is still alive, which decides
//! whether another process may settle the run or take its connections over.

use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What kind of front end started a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TriggerKind {
    /// An operator, from the screens.
    Console,
    /// A command typed or scripted: `syncdeck run`, `resync`, `run --apply`.
    Headless,
    /// The platform's scheduler: a systemd timer, cron, a Kubernetes CronJob.
    Scheduled,
}

impl TriggerKind {
    /// Lower-case name, as in JSON and on screen.
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerKind::Console => "console",
            TriggerKind::Headless => "headless",
            TriggerKind::Scheduled => "scheduled",
        }
    }
}

/// What started a run: its kind and, for a scheduled run, the schedule's name (`nightly`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Trigger {
    pub kind: TriggerKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The longest trigger name `--trigger` accepts.
pub const TRIGGER_NAME_MAX: usize = 40;

impl Trigger {
    pub fn console() -> Trigger {
        Trigger {
            kind: TriggerKind::Console,
            name: None,
        }
    }

    pub fn headless() -> Trigger {
        Trigger {
            kind: TriggerKind::Headless,
            name: None,
        }
    }

    pub fn scheduled(name: Option<String>) -> Trigger {
        Trigger {
            kind: TriggerKind::Scheduled,
            name,
        }
    }

    /// Reads `--trigger NAME` (or `SYNCDECK_TRIGGER`): `console`, `headless` or `scheduled`, or
    /// a name, which makes a scheduled run of that name. A name is what reaches every console
    /// and report, so it is kept to letters, digits and `.`, `_`, `-`, `@`, at most
    /// [`TRIGGER_NAME_MAX`] characters.
    pub fn parse(text: &str) -> Result<Trigger, String> {
        let text = text.trim();
        match text {
            "console" => return Ok(Trigger::console()),
            "headless" => return Ok(Trigger::headless()),
            "scheduled" => return Ok(Trigger::scheduled(None)),
            _ => {}
        }
        if is_trigger_name(text) {
            Ok(Trigger::scheduled(Some(text.to_string())))
        } else {
            Err(format!(
                "a trigger is console, headless, scheduled or a name of 1 to {TRIGGER_NAME_MAX} \
                 letters, digits, '.', '_', '-' or '@' (such as nightly)"
            ))
        }
    }

    /// The trigger of a headless command: `given` (from `--trigger` or `SYNCDECK_TRIGGER`) when
    /// there is one, else `scheduled` when systemd started the process as a service (it sets
    /// `INVOCATION_ID`; the unit's name becomes the trigger's name), else `headless`.
    pub fn for_headless(given: Option<&str>) -> Result<Trigger, String> {
        if let Some(given) = given {
            return Trigger::parse(given);
        }
        if std::env::var_os("INVOCATION_ID").is_some() {
            match systemd_service() {
                // In a service unit: the unit's name (without `.service`) names the schedule.
                Some(Some(unit)) => return Ok(Trigger::scheduled(Some(unit))),
                // In a login session's scope (a terminal that inherited the variable): typed.
                Some(None) => {}
                // No cgroup to look at: trust the variable.
                None => return Ok(Trigger::scheduled(None)),
            }
        }
        Ok(Trigger::headless())
    }

    /// `console`, `headless`, `scheduled`, or the scheduled run's name: the `trigger` of
    /// `run --json`.
    pub fn label(&self) -> &str {
        self.name.as_deref().unwrap_or(self.kind.as_str())
    }
}

fn is_trigger_name(text: &str) -> bool {
    (1..=TRIGGER_NAME_MAX).contains(&text.chars().count())
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
}

/// Linux: the systemd unit this process runs in, from `/proc/self/cgroup`: Some(Some(name))
/// in a service (`syncdeck-nightly.service` → `syncdeck-nightly`), Some(None) elsewhere (a
/// session scope), None when the cgroup cannot be read.
fn systemd_service() -> Option<Option<String>> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = text.lines().find_map(|line| line.strip_prefix("0::"))?;
    let unit = path.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    Some(
        unit.strip_suffix(".service")
            .filter(|name| is_trigger_name(name))
            .map(str::to_string),
    )
}

/// The process that owns a run.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RunOwner {
    pub host: String,
    pub user: String,
    pub pid: u32,
    /// When the process started, for people; None where the platform does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process_started_at: Option<DateTime<Utc>>,
    /// The process's start in clock ticks since boot (Linux: field 22 of `/proc/PID/stat`):
    /// with the pid, it names the process even once the pid is reused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_ticks: Option<u64>,
    /// The boot the process ran in (Linux: `/proc/sys/kernel/random/boot_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_id: Option<String>,
    /// The pid namespace its pid belongs to (Linux: `/proc/self/ns/pid`): a pid of another
    /// namespace (another container) cannot be looked up from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_namespace: Option<String>,
}

/// Whether a run's owner still runs, as far as this process can tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Liveness {
    Alive,
    /// Gone: its pid is free or names a later process, or its host rebooted since.
    Dead,
    /// Out of sight (another host, another pid namespace): never judged dead.
    Unknown(&'static str),
}

impl RunOwner {
    /// This process (read once).
    pub fn current() -> RunOwner {
        static CURRENT: OnceLock<RunOwner> = OnceLock::new();
        CURRENT.get_or_init(os::current).clone()
    }

    /// Whether the owner still runs: same host, same boot, and its pid alive with the same start
    /// time. A process on another host, or in another pid namespace, is never judged dead.
    pub fn liveness(&self) -> Liveness {
        let me = RunOwner::current();
        if self.host != me.host {
            return Liveness::Unknown("another host");
        }
        if let (Some(theirs), Some(mine)) = (&self.boot_id, &me.boot_id)
            && theirs != mine
        {
            return Liveness::Dead;
        }
        if let (Some(theirs), Some(mine)) = (&self.pid_namespace, &me.pid_namespace)
            && theirs != mine
        {
            return Liveness::Unknown("another pid namespace");
        }
        os::liveness(self.pid, self.start_ticks)
    }

    /// True when the owner is known to be gone.
    pub fn is_gone(&self) -> bool {
        self.liveness() == Liveness::Dead
    }

    /// True when this is the current process.
    pub fn is_current(&self) -> bool {
        let me = RunOwner::current();
        self.pid == me.pid
            && self.host == me.host
            && self.start_ticks == me.start_ticks
            && self.boot_id == me.boot_id
            && self.pid_namespace == me.pid_namespace
    }

    /// The host's first label (`jump1` of `jump1.example.com`), for screens.
    pub fn short_host(&self) -> &str {
        self.host.split('.').next().unwrap_or(&self.host)
    }

    /// `alice@jump1`.
    pub fn user_at_host(&self) -> String {
        format!("{}@{}", self.user, self.short_host())
    }

    /// `alice@jump1.example.com, pid 4242 (process started 2025-03-14 08:59:58 UTC)`: enough to
    /// find the process.
    pub fn describe(&self) -> String {
        let started = self.process_started_at.map_or_else(
            || "start time unknown".to_string(),
            |at| format!("process started {}", at.format("%Y-%m-%d %H:%M:%S UTC")),
        );
        format!("{}@{}, pid {} ({started})", self.user, self.host, self.pid)
    }
}

/// Who and what started a run, in a few words: `by alice@jump1 · console`, `nightly ·
/// scheduled on jump1`; "" when the run predates owners.
pub fn origin(owner: Option<&RunOwner>, trigger: Option<&Trigger>) -> String {
    match (owner, trigger) {
        (None, None) => String::new(),
        (Some(owner), Some(trigger)) if trigger.kind == TriggerKind::Scheduled => {
            match &trigger.name {
                Some(name) => format!("{name} · scheduled on {}", owner.short_host()),
                None => format!("scheduled on {}", owner.short_host()),
            }
        }
        (Some(owner), Some(trigger)) => {
            format!("by {} · {}", owner.user_at_host(), trigger.label())
        }
        (Some(owner), None) => format!("by {}", owner.user_at_host()),
        (None, Some(trigger)) => trigger.label().to_string(),
    }
}

#[cfg(target_os = "linux")]
mod os {
    use super::{Liveness, RunOwner};
    use chrono::{DateTime, Utc};

    pub(super) fn current() -> RunOwner {
        let pid = std::process::id();
        let start_ticks = start_ticks(pid);
        RunOwner {
            host: super::unix::host_name(),
            user: super::unix::user_name(),
            pid,
            process_started_at: start_ticks.and_then(wall_clock),
            start_ticks,
            boot_id: std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
                .ok()
                .map(|id| id.trim().to_string()),
            pid_namespace: std::fs::read_link("/proc/self/ns/pid")
                .ok()
                .map(|link| link.display().to_string()),
        }
    }

    /// Field 22 of `/proc/PID/stat`; the command name (field 2) may hold spaces and
    /// parentheses, so fields are counted after its closing parenthesis.
    pub(super) fn start_ticks(pid: u32) -> Option<u64> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let rest = &text[text.rfind(')')? + 1..];
        rest.split_whitespace().nth(19)?.parse().ok()
    }

    /// Ticks since boot as a time: the boot time of `/proc/stat` plus ticks / CLK_TCK.
    fn wall_clock(ticks: u64) -> Option<DateTime<Utc>> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let boot: i64 = stat
            .lines()
            .find_map(|line| line.strip_prefix("btime "))?
            .trim()
            .parse()
            .ok()?;
        // SAFETY: sysconf reads a constant of the system.
        let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        if per_second <= 0 {
            return None;
        }
        let millis = i64::try_from(ticks).ok()?.checked_mul(1000)? / per_second as i64;
        DateTime::from_timestamp_millis(boot.checked_mul(1000)?.checked_add(millis)?)
    }

    pub(super) fn liveness(pid: u32, ticks: Option<u64>) -> Liveness {
        match super::unix::pid_exists(pid) {
            false => Liveness::Dead,
            true => match (ticks, start_ticks(pid)) {
                (Some(theirs), Some(now)) if theirs != now => Liveness::Dead,
                // The same process, or one whose start time cannot be read (another user's
                // under hidepid): alive.
                _ => Liveness::Alive,
            },
        }
    }
}

#[cfg(all(unix, not(target_os = "linux")))]
mod os {
    use super::{Liveness, RunOwner};

    pub(super) fn current() -> RunOwner {
        RunOwner {
            host: super::unix::host_name(),
            user: super::unix::user_name(),
            pid: std::process::id(),
            process_started_at: None,
            start_ticks: None,
            boot_id: None,
            pid_namespace: None,
        }
    }

    pub(super) fn liveness(pid: u32, _ticks: Option<u64>) -> Liveness {
        if super::unix::pid_exists(pid) {
            Liveness::Alive
        } else {
            Liveness::Dead
        }
    }
}

#[cfg(not(unix))]
mod os {
    use super::{Liveness, RunOwner};

    pub(super) fn current() -> RunOwner {
        RunOwner {
            host: std::env::var("COMPUTERNAME").unwrap_or_else(|_| "localhost".into()),
            user: std::env::var("USERNAME").unwrap_or_else(|_| "unknown".into()),
            pid: std::process::id(),
            process_started_at: None,
            start_ticks: None,
            boot_id: None,
            pid_namespace: None,
        }
    }

    pub(super) fn liveness(_pid: u32, _ticks: Option<u64>) -> Liveness {
        Liveness::Unknown("this platform cannot look processes up")
    }
}

#[cfg(unix)]
mod unix {
    /// The host's name; "localhost" if the system will not say.
    pub(super) fn host_name() -> String {
        let mut buffer = [0u8; 256];
        // SAFETY: the buffer is writable for its length; gethostname NUL-terminates within it
        // when the name fits (the last byte is kept 0 in case it does not).
        let done = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len() - 1) };
        let end = buffer.iter().position(|&b| b == 0).unwrap_or(0);
        match (done, std::str::from_utf8(&buffer[..end])) {
            (0, Ok(name)) if !name.is_empty() => name.to_string(),
            _ => "localhost".to_string(),
        }
    }

    /// The effective user's login name, else `$USER`, else the uid.
    pub(super) fn user_name() -> String {
        // SAFETY: geteuid cannot fail.
        let uid = unsafe { libc::geteuid() };
        let mut buffer = vec![0 as libc::c_char; 4096];
        // SAFETY: a zeroed passwd is a valid value for getpwuid_r to fill.
        let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call, the buffer for its length.
        let code = unsafe {
            libc::getpwuid_r(
                uid,
                &mut entry,
                buffer.as_mut_ptr(),
                buffer.len(),
                &mut found,
            )
        };
        if code == 0 && !found.is_null() && !entry.pw_name.is_null() {
            // SAFETY: getpwuid_r set pw_name to a NUL-terminated string inside `buffer`.
            let name = unsafe { std::ffi::CStr::from_ptr(entry.pw_name) };
            if let Ok(name) = name.to_str()
                && !name.is_empty()
            {
                return name.to_string();
            }
        }
        std::env::var("USER").unwrap_or_else(|_| format!("uid {uid}"))
    }

    /// Whether a process with this pid exists (kill with no signal: EPERM means it does).
    pub(super) fn pid_exists(pid: u32) -> bool {
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            return false;
        };
        if pid <= 0 {
            return false;
        }
        // SAFETY: signal 0 only checks that the process exists and may be signalled.
        let sent = unsafe { libc::kill(pid, 0) };
        sent == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triggers_parse_kinds_and_names() {
        assert_eq!(Trigger::parse("console").unwrap(), Trigger::console());
        assert_eq!(Trigger::parse(" headless ").unwrap(), Trigger::headless());
        assert_eq!(
            Trigger::parse("scheduled").unwrap(),
            Trigger::scheduled(None)
        );
        let nightly = Trigger::parse("nightly").unwrap();
        assert_eq!(nightly, Trigger::scheduled(Some("nightly".into())));
        assert_eq!(nightly.label(), "nightly");
        assert_eq!(Trigger::scheduled(None).label(), "scheduled");
        for bad in ["", "two words", "\u{1b}[31mred", &"x".repeat(41), "a/b"] {
            assert!(Trigger::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn origins_say_who_and_what() {
        let owner = RunOwner {
            host: "jump1.example.com".into(),
            user: "alice".into(),
            pid: 42,
            process_started_at: None,
            start_ticks: None,
            boot_id: None,
            pid_namespace: None,
        };
        assert_eq!(
            origin(Some(&owner), Some(&Trigger::console())),
            "by alice@jump1 · console"
        );
        assert_eq!(
            origin(
                Some(&owner),
                Some(&Trigger::scheduled(Some("nightly".into())))
            ),
            "nightly · scheduled on jump1"
        );
        assert_eq!(
            origin(Some(&owner), Some(&Trigger::scheduled(None))),
            "scheduled on jump1"
        );
        assert_eq!(origin(None, None), "");
        assert!(
            owner
                .describe()
                .starts_with("alice@jump1.example.com, pid 42")
        );
    }

    #[test]
    fn this_process_is_alive_and_current() {
        let me = RunOwner::current();
        assert!(me.pid > 0 && !me.host.is_empty() && !me.user.is_empty());
        assert_eq!(me.liveness(), Liveness::Alive);
        assert!(me.is_current());
    }

    #[test]
    fn another_host_is_never_judged_and_another_boot_is_over() {
        let me = RunOwner::current();
        let elsewhere = RunOwner {
            host: format!("{}-elsewhere", me.host),
            pid: u32::MAX - 1,
            ..me.clone()
        };
        assert_eq!(elsewhere.liveness(), Liveness::Unknown("another host"));
        if me.boot_id.is_some() {
            let rebooted = RunOwner {
                boot_id: Some("another-boot".into()),
                ..me.clone()
            };
            assert!(rebooted.is_gone());
        }
        if me.pid_namespace.is_some() {
            let contained = RunOwner {
                pid_namespace: Some("pid:[1]".into()),
                pid: u32::MAX - 1,
                ..me
            };
            assert_eq!(
                contained.liveness(),
                Liveness::Unknown("another pid namespace")
            );
        }
    }

    #[cfg(unix)]
    #[test]
    fn an_ended_process_or_a_reused_pid_is_gone() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        let me = RunOwner::current();
        let ended = RunOwner { pid, ..me.clone() };
        assert!(ended.is_gone(), "{ended:?}");
        if let Some(ticks) = me.start_ticks {
            // This pid, started at another time: a later process with the same pid.
            let reused = RunOwner {
                start_ticks: Some(ticks + 1),
                ..me
            };
            assert!(reused.is_gone());
        }
    }
}
