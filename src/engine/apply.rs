//! Plan and apply: a Live run (type Apply) over exactly the records an earlier Dry run planned to
//! change. [`plan_apply`] checks the request and gathers the planned records; each record then goes
//! through the Resync machinery (fetched afresh, looked up, mapped) and is written only when its
//! fresh field diff is still the one planned — otherwise it is reported "drifted" and left alone.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::mapping::{SkipReason, same_value};
use super::units::{Planned, Target, TargetSource};
use super::values::show;
use crate::config::{Config, Connection};
use crate::store::{
    ConnectionRun, EntryQuery, EntryStatus, FieldChange, Outcome, ReportEntry, RunId, RunMode,
    RunStatus, Store,
};

/// Entries read per store transaction while gathering a plan.
const PLAN_PAGE: usize = 1_000;

/// A checked apply request: the records to apply per connection, in config order.
pub(crate) struct ApplyPlan {
    pub plan_run: RunId,
    pub jobs: Vec<(Connection, Vec<Target>)>,
    /// Planned records over every connection.
    pub records: usize,
}

/// Checks an apply of Dry run `run_id` on `chosen` connections (every connection of that run
/// when empty) and gathers its planned records; Err is the refusal, in words an operator acts
/// on. Reads the store (blocking); writes nothing.
pub(crate) fn plan_apply(
    config: &Config,
    store: &Store,
    run_id: RunId,
    chosen: &[String],
) -> Result<ApplyPlan, String> {
    let cannot_read = |e: crate::store::StoreError| format!("cannot read run #{run_id}: {e}");
    let Some(run) = store.get_run(run_id).map_err(cannot_read)? else {
        return Err(format!("there is no run #{run_id} in this store"));
    };
    if run.mode != RunMode::Dry {
        return Err(format!(
            "run #{run_id} is a Live run: only a Dry run's plan can be applied"
        ));
    }
    if run.status == RunStatus::Running {
        return Err(format!(
            "run #{run_id} is still running: wait for it to finish, then apply its plan"
        ));
    }
    let rows = store.connection_runs(run_id).map_err(cannot_read)?;
    let mut names: Vec<String> = Vec::new();
    for name in chosen {
        if !rows.iter().any(|r| r.connection == *name) {
            let known: Vec<&str> = rows.iter().map(|r| r.connection.as_str()).collect();
            return Err(format!(
                "connection \"{name}\" is not in run #{run_id} (its connections: {})",
                known.join(", ")
            ));
        }
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    let explicit = !names.is_empty();
    if !explicit {
        names = rows.iter().map(|r| r.connection.clone()).collect();
    }

    let planned = planned_entries(store, run_id, &names).map_err(cannot_read)?;
    let records: usize = planned.values().map(Vec::len).sum();
    // Chosen by name, a connection is checked even when it planned nothing; otherwise only the
    // connections whose plan would be applied.
    let checked: Vec<&String> = names
        .iter()
        .filter(|n| explicit || planned.contains_key(*n))
        .collect();
    for name in &checked {
        let Some(connection) = config.connection(name) else {
            return Err(format!(
                "connection \"{name}\" of run #{run_id} is no longer in the config"
            ));
        };
        if let Some(row) = rows.iter().find(|r| r.connection == **name)
            && changed_since(row, connection)
        {
            return Err(format!(
                "the configuration of {name} changed since run #{run_id} planned; run a Dry \
                 run again"
            ));
        }
    }
    if records == 0 {
        return Err(format!(
            "run #{run_id} planned nothing to write on {}: it has no would-update or \
             would-create entries (entries older than retention_days are pruned)",
            names.join(", ")
        ));
    }

    let mut planned = planned;
    let jobs = config
        .connections
        .iter()
        .filter_map(|connection| {
            let entries = planned.remove(&connection.name)?;
            let targets = entries
                .into_iter()
                .map(|entry| Target {
                    serial: entry.reference,
                    originals: Vec::new(),
                    source: TargetSource::Fetch,
                    plan: Some(Planned {
                        run_id,
                        outcome: entry.outcome,
                        diff: entry.diff,
                    }),
                })
                .collect();
            Some((connection.clone(), targets))
        })
        .collect();
    Ok(ApplyPlan {
        plan_run: run_id,
        jobs,
        records,
    })
}

fn changed_since(row: &ConnectionRun, connection: &Connection) -> bool {
    row.config_hash != connection.config_hash()
}

/// The run's planned entries (Dry, would update / would create) on these connections, by
/// connection, one per serial, in the order recorded.
fn planned_entries(
    store: &Store,
    run_id: RunId,
    names: &[String],
) -> Result<HashMap<String, Vec<ReportEntry>>, crate::store::StoreError> {
    let query = EntryQuery {
        run: Some(run_id),
        ..EntryQuery::default()
    };
    let mut found: Vec<ReportEntry> = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.entries_page(&query, cursor, PLAN_PAGE)?;
        found.extend(page.entries.into_iter().filter(|e| {
            e.status == EntryStatus::Dry
                && matches!(e.outcome, Outcome::WouldUpdate | Outcome::WouldCreate)
                && names.contains(&e.connection)
        }));
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    // Pages come newest first: back to the order the Dry run recorded them.
    found.sort_by_key(|e| e.sync_id);
    let mut seen: HashSet<(String, String)> = HashSet::new();
    let mut by_connection: HashMap<String, Vec<ReportEntry>> = HashMap::new();
    for entry in found {
        if seen.insert((entry.connection.clone(), entry.reference.clone())) {
            by_connection
                .entry(entry.connection.clone())
                .or_default()
                .push(entry);
        }
    }
    Ok(by_connection)
}

/// Why a record that now needs no write drifted from its plan.
pub(crate) fn drift_on_skip(plan: &Planned, reason: &SkipReason) -> String {
    let what = match reason {
        SkipReason::NoChange => "the destination already holds the planned values",
        SkipReason::Rule => "the mapping leaves nothing to write now",
    };
    format!("drifted since run #{} planned: {what}", plan.run_id)
}

/// Why a record about to be written drifted from its plan, or None when the fresh change is the
/// one planned (same fields, same old and new values, update or create as planned).
pub(crate) fn drift_on_write(
    plan: &Planned,
    creating: bool,
    fresh: &[FieldChange],
) -> Option<String> {
    let planned_create = plan.outcome == Outcome::WouldCreate;
    let mut differences: Vec<String> = Vec::new();
    if planned_create && !creating {
        differences.push("the record was to be created, and the destination has it now".into());
    } else if !planned_create && creating {
        differences
            .push("the record was to be updated, and the destination no longer has it".into());
    }
    for change in &plan.diff {
        match fresh.iter().find(|f| f.field == change.field) {
            Some(now) if same(&change.old, &now.old) && same(&change.new, &now.new) => {}
            Some(now) => differences.push(format!(
                "{} was {}, now {}",
                change.field,
                arrow(change),
                arrow(now)
            )),
            None => differences.push(format!(
                "{} was {}, now unchanged",
                change.field,
                arrow(change)
            )),
        }
    }
    for now in fresh {
        if !plan.diff.iter().any(|c| c.field == now.field) {
            differences.push(format!("{} was unchanged, now {}", now.field, arrow(now)));
        }
    }
    if differences.is_empty() {
        return None;
    }
    Some(format!(
        "drifted since run #{} planned: {}",
        plan.run_id,
        differences.join("; ")
    ))
}

fn same(a: &Option<Value>, b: &Option<Value>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => same_value(a, b),
        _ => false,
    }
}

/// "8 → 16", with "(absent)" for a field the destination does not have.
fn arrow(change: &FieldChange) -> String {
    let side = |v: &Option<Value>| v.as_ref().map_or_else(|| "(absent)".to_string(), show);
    format!("{} → {}", side(&change.old), side(&change.new))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn change(field: &str, old: Option<Value>, new: Value) -> FieldChange {
        FieldChange {
            field: field.into(),
            old,
            new: Some(new),
        }
    }

    fn plan(outcome: Outcome, diff: Vec<FieldChange>) -> Planned {
        Planned {
            run_id: 12,
            outcome,
            diff,
        }
    }

    #[test]
    fn the_planned_change_is_not_a_drift() {
        let diff = vec![change("ram_gb", Some(json!(8)), json!(16))];
        let planned = plan(Outcome::WouldUpdate, diff.clone());
        assert_eq!(drift_on_write(&planned, false, &diff), None);
        // Numbers compare by value, as the destination sees them.
        let same = vec![change("ram_gb", Some(json!(8.0)), json!(16))];
        assert_eq!(drift_on_write(&planned, false, &same), None);
    }

    #[test]
    fn a_changed_value_names_the_field_then_and_now() {
        let planned = plan(
            Outcome::WouldUpdate,
            vec![change("ram_gb", Some(json!(8)), json!(16))],
        );
        let fresh = vec![change("ram_gb", Some(json!(8)), json!(32))];
        assert_eq!(
            drift_on_write(&planned, false, &fresh).unwrap(),
            "drifted since run #12 planned: ram_gb was 8 → 16, now 8 → 32"
        );
        let more = vec![
            change("ram_gb", Some(json!(8)), json!(16)),
            change("name", Some(json!("x")), json!("y")),
        ];
        assert_eq!(
            drift_on_write(&planned, false, &more).unwrap(),
            "drifted since run #12 planned: name was unchanged, now \"x\" → \"y\""
        );
        let fewer: Vec<FieldChange> = Vec::new();
        assert!(
            drift_on_write(&planned, false, &fewer)
                .unwrap()
                .contains("ram_gb was 8 → 16, now unchanged")
        );
    }

    #[test]
    fn create_and_update_swapping_is_a_drift() {
        let diff = vec![change("ram_gb", None, json!(16))];
        let planned = plan(Outcome::WouldCreate, diff.clone());
        let message = drift_on_write(&planned, false, &diff).unwrap();
        assert!(message.contains("to be created"), "{message}");
        let planned = plan(Outcome::WouldUpdate, diff.clone());
        let message = drift_on_write(&planned, true, &diff).unwrap();
        assert!(message.contains("no longer has it"), "{message}");
    }

    #[test]
    fn nothing_left_to_write_is_a_drift() {
        let planned = plan(Outcome::WouldUpdate, Vec::new());
        assert_eq!(
            drift_on_skip(&planned, &SkipReason::NoChange),
            "drifted since run #12 planned: the destination already holds the planned values"
        );
    }
}
