//! `syncdeck contracts`: list, search or delete sync contracts.

use std::io::Write;

use super::exit::{CommandError, Exit};
use crate::config::Config;
use crate::engine::health::unknown_connection;
use crate::store::{ContractQuery, ContractSort, Store, SyncContract};
use crate::text::{terminal_line, to_json_string_pretty};

/// How many characters of a contract's hash the table shows.
const HASH_SHOWN: usize = 12;

/// Lists the contracts of one connection (all when None), or deletes one.
pub fn run(
    config: Option<&Config>,
    store: &Store,
    connection: Option<String>,
    delete: Option<String>,
    search: Option<String>,
    json: bool,
) -> Result<Exit, CommandError> {
    if let Some(name) = &connection
        && let Some(config) = config
        && config.connection(name).is_none()
    {
        eprintln!("syncdeck: {}", unknown_connection(config, name));
        return Ok(Exit::Usage);
    }
    if let Some(serial) = delete {
        let Some(name) = connection else {
            eprintln!(
                "syncdeck: --delete needs --connection NAME: whose contract of {}?",
                terminal_line(&serial)
            );
            return Ok(Exit::Usage);
        };
        return if store.delete_contract(&name, &serial)? {
            println!(
                "deleted the contract of {} on {name}: the next run treats it as new",
                terminal_line(&serial)
            );
            Ok(Exit::Success)
        } else {
            eprintln!(
                "syncdeck: {name} has no contract of {}: nothing deleted",
                terminal_line(&serial)
            );
            Ok(Exit::RecordsFailed)
        };
    }
    let names: Vec<String> = match connection {
        Some(name) => vec![name],
        None => match config {
            Some(config) => config.connections.iter().map(|c| c.name.clone()).collect(),
            // Read from the store alone: every connection it keeps contracts of.
            None => store.contract_connections()?,
        },
    };
    let mut contracts = Vec::new();
    for name in names {
        let query = ContractQuery {
            connection: name,
            search: search.clone(),
            sort: ContractSort::Origin,
            descending: false,
        };
        contracts.extend(store.query_contracts(&query, 0, usize::MAX)?.contracts);
    }
    let text = if json {
        format!(
            "{}\n",
            to_json_string_pretty(&contracts).unwrap_or_default()
        )
    } else {
        table(&contracts)
    };
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    Ok(Exit::Success)
}

/// The contracts as an aligned table with a header line; "no contracts" when there are none.
fn table(contracts: &[SyncContract]) -> String {
    if contracts.is_empty() {
        return "no contracts\n".to_string();
    }
    let header = [
        "CONNECTION",
        "SERIAL",
        "TARGET",
        "HASH",
        "LAST SEEN",
        "LAST SYNCED",
        "ACTION",
    ]
    .map(str::to_string);
    let time = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M:%S").to_string();
    let rows: Vec<[String; 7]> = contracts
        .iter()
        .map(|c| {
            [
                terminal_line(&c.connection).into_owned(),
                terminal_line(&c.origin_id).into_owned(),
                c.target_id
                    .as_deref()
                    .map_or_else(|| "-".to_string(), |t| terminal_line(t).into_owned()),
                c.last_hash.chars().take(HASH_SHOWN).collect(),
                time(c.last_seen),
                c.last_synced.map(time).unwrap_or_else(|| "-".to_string()),
                action(c),
            ]
        })
        .collect();
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

fn action(contract: &SyncContract) -> String {
    serde_json::to_value(contract.last_action)
        .ok()
        .and_then(|value| value.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{:?}", contract.last_action).to_lowercase())
}
