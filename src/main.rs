use std::process::ExitCode;

// The engine allocates per record (JSON values, strings); glibc's allocator was 40% of a
// 100,000-record run's CPU, mimalloc roughly halves the run's CPU time.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;

use syncdeck::cli::Cli;
use syncdeck::commands::{self, Exit};
use syncdeck::{logging, paths};

/// mimalloc's `purge_delay` option (`mi_option_purge_delay` in mimalloc.h).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> ExitCode {
    // Give freed memory back to the OS at once instead of after mimalloc's default delay (1 s in
    // mimalloc 3): a Full run frees page after page, and with the delay the resident set of a
    // 100,000-record run peaked ~30 MiB higher for no speed gained. MIMALLOC_PURGE_DELAY in the
    // environment is read at process start, before this, and is overridden here.
    // SAFETY: mi_option_set only stores an integer option; any value is valid for this one.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
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
