//! `[[connections.lookups]]`: name → id tables of the destination (a Snipe-IT model's name to
//! its `model_id`, a Kandji blueprint's name to its id), each listed once per connection run,
//! paged like any listing, and kept for the run. A value a table lacks is a per-record error
//! naming it.

use std::collections::HashMap;

use serde_json::Value;
use tokio::sync::watch;

use super::http::HttpClient;
use super::paging::{Pager, Step};
use super::retry::RetryPolicy;
use super::values::{get_path, show, text_at};
use crate::config::LookupTable;

/// The tables of one connection run, by name.
#[derive(Debug, Default)]
pub struct LookupTables {
    tables: HashMap<String, Table>,
}

#[derive(Debug)]
struct Table {
    entries: HashMap<String, Entry>,
    path: String,
}

#[derive(Debug)]
enum Entry {
    One(Value),
    /// Several records have this name: which id is meant cannot be told.
    Many(usize),
}

/// A value as a table key: text as it is, a number or boolean as its text.
fn key_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl LookupTables {
    /// The id `table` gives `value`; Err names what is wrong for the record's entry.
    pub fn find(&self, table: &str, value: &Value) -> Result<&Value, String> {
        let Some(found) = self.tables.get(table) else {
            return Err(format!("lookup \"{table}\" was not loaded"));
        };
        let Some(key) = key_text(value) else {
            return Err(format!(
                "{} cannot be looked up in \"{table}\"",
                show(value)
            ));
        };
        match found.entries.get(&key) {
            Some(Entry::One(id)) => Ok(id),
            Some(Entry::Many(count)) => Err(format!(
                "{count} records of lookup \"{table}\" ({}) are named {}: which one is meant cannot be told",
                found.path,
                show(value)
            )),
            None => Err(format!(
                "{} is not in lookup \"{table}\" ({} names listed from {}): add it to the destination, or map the source value",
                show(value),
                found.entries.len(),
                found.path
            )),
        }
    }

    /// How many names a table holds (None: not loaded).
    pub fn len_of(&self, table: &str) -> Option<usize> {
        self.tables.get(table).map(|t| t.entries.len())
    }
}

/// Lists each table (paged, with its fixed query) and indexes it by `key`. Err says which
/// table failed and why; a listing cut short is an error too (a name it did not reach would
/// look missing).
pub async fn load(
    client: &HttpClient,
    tables: &[LookupTable],
    policy: RetryPolicy,
    cancel: &watch::Receiver<bool>,
) -> Result<LookupTables, String> {
    let mut loaded = LookupTables::default();
    for table in tables {
        let mut pager = Pager::new(
            client,
            &table.path,
            table.query.clone(),
            &table.results_position,
            table.pagination.clone(),
            table.stop.clone(),
            policy,
        );
        let path = pager.shown_url();
        let mut entries: HashMap<String, Entry> = HashMap::new();
        loop {
            let step = pager
                .next(Some(cancel))
                .await
                .map_err(|e| format!("lookup \"{}\" could not be listed: {e}", table.name))?;
            match step {
                Step::Page(records) => {
                    for record in records {
                        let Some(key) = text_at(&record, &table.key) else {
                            continue;
                        };
                        let Some(id) = get_path(&record, &table.value).cloned() else {
                            continue;
                        };
                        entries
                            .entry(key)
                            .and_modify(|entry| {
                                *entry = match entry {
                                    Entry::One(_) => Entry::Many(2),
                                    Entry::Many(n) => Entry::Many(*n + 1),
                                }
                            })
                            .or_insert(Entry::One(id));
                    }
                }
                Step::End => break,
                Step::Canceled => return Err("canceled".to_string()),
                Step::Capped(max_pages) => {
                    return Err(format!(
                        "lookup \"{}\" stopped after max_pages = {max_pages} pages: raise max_pages",
                        table.name
                    ));
                }
                Step::Short(reason) => {
                    return Err(format!("lookup \"{}\": {reason}", table.name));
                }
            }
        }
        loaded
            .tables
            .insert(table.name.clone(), Table { entries, path });
    }
    Ok(loaded)
}
