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
            match e {
                // file:line:col lines, as compilers print them, so editors can jump to each.
                commands::CommandError::Config(_) => eprintln!("{e}"),
                _ => eprintln!("syncdeck: {e}"),
            }
            let exit: Exit = e.exit();
            exit.into()
        }
    }
}

/// mimalloc options (`mi_option_t` in mimalloc.h).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
const MI_OPTION_ALLOW_THP: libmimalloc_sys::mi_option_t = 43;

/// Keeps the resident set close to what is in use. A Full run allocates and frees record after
/// record; with mimalloc's defaults (freed memory purged after 1 s, arenas backed by transparent
/// huge pages) the 100,000-record Full Dry run peaked at ~170 MiB, with these at ~130 MiB for
/// the same CPU time (purging at once instead cost ~10% more CPU: every purged huge page was
/// zeroed again on the next fault). `MIMALLOC_PURGE_DELAY` / `MIMALLOC_ALLOW_THP` in the
/// environment still win.
fn tune_allocator() {
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        // Huge pages for this process only; mimalloc's own switch is read before `main`.
        #[cfg(target_os = "linux")]
        // SAFETY: PR_SET_THP_DISABLE takes plain integers and touches no memory of ours.
        unsafe {
            libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
        }
        // SAFETY: mi_option_set stores an integer option; 0 is valid for this one.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_ALLOW_THP, 0) };
    }
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: as above; a delay in milliseconds.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 10) };
    }
}
