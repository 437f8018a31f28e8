//! `syncdeck check-config [PATH]`: validate a config and say what it describes.

use std::path::Path;

use super::exit::{CommandError, Exit};
use crate::config::{self, BodyFormat, Config, Environment, Pagination};

/// Validates the file; prints a summary on success, every problem (to stderr) on failure.
pub fn run(path: &Path) -> Result<Exit, CommandError> {
    let config = config::load(path, &Environment::process())?;
    print!("{}", summary(&config));
    Ok(Exit::Success)
}

/// What a valid config describes, in a few lines an operator can check at a glance.
pub fn summary(config: &Config) -> String {
    let mut out = format!("{}: OK\n", config.file.display());
    for source in &config.sources {
        out.push_str(&format!(
            "  source      {} — {}{} ({} pagination, list at {})\n",
            source.name,
            source.base_url,
            source.endpoint,
            pagination_label(&source.pagination),
            String::from(source.results_position.clone()),
        ));
    }
    for credential in &config.credentials {
        out.push_str(&format!(
            "  credential  {} ({})\n",
            credential.name,
            credential.kind.label()
        ));
    }
    for (i, c) in config.connections.iter().enumerate() {
        let format = match &c.update.body {
            BodyFormat::Json => "json".to_string(),
            BodyFormat::Xml { xml_root } => format!("xml <{xml_root}>"),
        };
        let reads = if config.sources.len() > 1 {
            format!(" (reads {})", c.source)
        } else {
            String::new()
        };
        out.push_str(&format!(
            "  {}. {:<18} {}{reads} — {} {} {}, {}, {} rule{}{}{}\n",
            i + 1,
            c.name,
            c.system,
            c.update.method.as_str(),
            c.update.path,
            format,
            if c.dry_run { "dry run" } else { "LIVE" },
            c.mapping.len(),
            if c.mapping.len() == 1 { "" } else { "s" },
            if c.fetch.bulk { ", bulk lookup" } else { "" },
            if c.create.is_some() { ", creates" } else { "" },
        ));
    }
    out
}

fn pagination_label(p: &Pagination) -> &'static str {
    match p {
        Pagination::None => "no",
        Pagination::Page { .. } => "page",
        Pagination::Offset { .. } => "offset",
        Pagination::Cursor { .. } => "cursor",
        Pagination::Link { .. } => "link",
        Pagination::LinkHeader { .. } => "Link header",
    }
}
