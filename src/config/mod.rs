//! Configuration: the TOML model of SPEC section 7, validated with every problem reported at
//! once (file, line, key path, what was expected), and secret references resolved.

mod alerts;
mod credentials;
mod fields;
mod listing;
mod mapping;
mod model;
mod position;
mod problem;
mod reader;
pub mod secret;
mod sections;

use std::path::{Path, PathBuf};

pub use model::*;
pub use problem::{ConfigError, Problem};
pub use secret::{Environment, Secret, SecretRef};

use reader::{Reader, Table};

/// Reads, validates and resolves a config file.
pub fn load(path: &Path, env: &Environment) -> Result<Config, ConfigError> {
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
        file: path.to_path_buf(),
        source,
    })?;
    parse_bytes(&bytes, path, env)
}

/// [`parse`] for raw file bytes: text that is not UTF-8 is one problem at the line and column
/// of the first bad byte (TOML is UTF-8 by definition, and an editor can show that spot).
pub fn parse_bytes(bytes: &[u8], path: &Path, env: &Environment) -> Result<Config, ConfigError> {
    let error = match std::str::from_utf8(bytes) {
        Ok(text) => return parse(text, path, env),
        Err(error) => error,
    };
    let good = String::from_utf8_lossy(&bytes[..error.valid_up_to()]);
    let line = good.matches('\n').count() + 1;
    let column = good
        .rsplit('\n')
        .next()
        .map_or(0, |last| last.chars().count())
        + 1;
    let byte = bytes.get(error.valid_up_to()).copied().unwrap_or_default();
    Err(ConfigError::Invalid {
        file: path.to_path_buf(),
        problems: vec![Problem {
            line,
            column,
            key: String::new(),
            message: format!(
                "the file is not UTF-8 text (byte 0x{byte:02X} here); save it as UTF-8"
            ),
        }],
    })
}

/// Validates config text as if read from `path` (relative `file:` secrets and the store path
/// are taken from its directory).
pub fn parse(text: &str, path: &Path, env: &Environment) -> Result<Config, ConfigError> {
    let mut reader = Reader::new(text);
    let (doc, syntax_errors) = toml::de::DeTable::parse_recoverable(text);
    for error in &syntax_errors {
        let span = error.span().unwrap_or(0..0);
        let message = format!("invalid TOML: {}", error.message().trim());
        reader.problem(span, "", message);
    }
    let base_dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let config = if syntax_errors.is_empty() {
        let root = Table::root(&doc);
        sections::read_config(&mut reader, &root, path, &base_dir, env)
    } else {
        None
    };
    let mut problems = reader.problems;
    problems.sort_by_key(|p| (p.line, p.column));
    match config {
        Some(config) if problems.is_empty() => Ok(config),
        _ => Err(ConfigError::Invalid {
            file: path.to_path_buf(),
            problems,
        }),
    }
}
