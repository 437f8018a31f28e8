//! Any bytes given to the config reader: it must return a config or problems, never panic.

#![no_main]

use std::path::Path;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use syncdeck::config::{self, ConfigError, Environment};

/// The demo's credentials, so `env:` references can resolve as they would for an operator.
static ENV: LazyLock<Environment> =
    LazyLock::new(|| Environment::with_fallbacks(syncdeck::demo::demo_secrets().iter().copied()));

fuzz_target!(|bytes: &[u8]| {
    // A directory that does not exist: relative `file:` secrets resolve to nothing.
    let path = Path::new("/nonexistent/syncdeck-fuzz/config.toml");
    match config::parse_bytes(bytes, path, &ENV) {
        Ok(config) => {
            // What the CLI does with a loaded config must hold up too.
            let _ = serde_json::to_string(&config);
            for connection in &config.connections {
                let _ = connection.config_hash();
            }
        }
        Err(error) => {
            assert!(
                !error.problems().is_empty(),
                "an invalid config names no problem"
            );
            if let ConfigError::Invalid { problems, .. } = &error {
                for problem in problems {
                    assert!(problem.line >= 1 && problem.column >= 1, "{problem:?}");
                }
            }
            let _ = error.to_string();
        }
    }
});
