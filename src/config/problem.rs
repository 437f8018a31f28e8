//! What is wrong with a config file: each problem at its line and key, and the error a load
//! ends with.

use std::fmt;
use std::path::{Path, PathBuf};

/// One thing wrong with a config file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// Dotted key path, e.g. `connections[1].update.method`.
    pub key: String,
    /// What is wrong and what was expected. Never contains a secret value.
    pub message: String,
}

/// Why a config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {}: {source}", file.display())]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", format_problems(file, problems))]
    Invalid {
        file: PathBuf,
        problems: Vec<Problem>,
    },
}

impl ConfigError {
    /// The problems found, empty for a file that could not be read.
    pub fn problems(&self) -> &[Problem] {
        match self {
            ConfigError::Read { .. } => &[],
            ConfigError::Invalid { problems, .. } => problems,
        }
    }
}

fn format_problems(file: &Path, problems: &[Problem]) -> String {
    let mut out = String::new();
    for p in problems {
        out.push_str(&format!(
            "{}:{}:{}: {}: {}\n",
            file.display(),
            p.line,
            p.column,
            if p.key.is_empty() { "(file)" } else { &p.key },
            p.message
        ));
    }
    let n = problems.len();
    out.push_str(&format!(
        "{n} problem{} in {}",
        if n == 1 { "" } else { "s" },
        file.display()
    ));
    out
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}: {}", self.line, self.key, self.message)
    }
}
