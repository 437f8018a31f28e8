use std::process::ExitCode;

// The engine allocates per record (JSON values, strings); glibc's allocator was 40% of a
// 100,000-record run's CPU, mimalloc roughly halves the run's CPU time.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;

use syncdeck::cli::Cli;
use syncdeck::commands::{self, Exit};
use syncdeck::{logging, paths};

fn main() -> ExitCode {
    tune_allocator();
    let cli = Cli::parse();
    let log_dir = paths::log_dir();
    let _log = match logging::init(&log_dir) {
        Ok(guard) => Some(guard),
        Err(e) => {
            eprintln!(
                "syncdeck: logging disabled, cannot write to {}: {e}",
                log_dir.display()
            );
            None
        }
    };
    match commands::dispatch(cli) {
        Ok(exit) => exit.into(),
        Err(e) => {
            tracing::error!(error = %e, "command failed");
            // Errors may quote what a system answered: shown, never obeyed, by the terminal.
            let text = syncdeck::text::terminal_lines(&e.to_string()).into_owned();
            match e {
                // file:line:col lines, as compilers print them, so editors can jump to each.
                commands::CommandError::Config(_) => eprintln!("{text}"),
                _ => eprintln!("syncdeck: {text}"),
            }
            let exit: Exit = e.exit();
            exit.into()
        }
    }
}

/// mimalloc's `mi_option_purge_delay` (the same number in mimalloc 2 and 3; libmimalloc-sys is
/// pinned in Cargo.toml so it cannot move under us).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Keeps the resident set close to what is in use. A Full run allocates and frees record after
/// record; with mimalloc's defaults (freed memory purged after 1 s, arenas backed by transparent
/// huge pages) the 100,000-record Full Dry run peaked at ~170 MiB, with these at ~135 MiB for
/// the same CPU time (purging at once instead cost ~10% more CPU: every purged huge page was
/// zeroed again on the next fault). mimalloc is built without huge-page hints (libmimalloc-sys's
/// `no_thp`); the prctl also covers kernels set to give huge pages unasked. `MIMALLOC_PURGE_DELAY`
/// in the environment still wins.
fn tune_allocator() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes plain integers and touches no memory of ours.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: mi_option_set stores an integer option; a delay in milliseconds is valid.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 10) };
    }
}
