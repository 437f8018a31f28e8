//! The XML asset registry under `/registry`: JSON lookup by serial, XML writes (`PUT` by id,
//! `POST` to create). About 5% of the fleet is missing (so a create contract has work), about 25%
//! of the records are stale, and about 1% of the devices sit at a site the registry refuses.

mod api;

pub(crate) use api::router;

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Mutex;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{NaiveDate, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use super::catalogue::{HELPDESK_OWNER, REGISTRY_SITES, other_site, other_status};
use super::fleet::{Device, Fleet};
use super::lock::lock;
use super::record::{Kind, Schema, check_json, check_text};
use super::reply::{ErrorFormat, Refusal, is_xml, unsupported_media_type, xml};
use super::xml::{FlatDocument, XmlProblem, parse, render};

const FORMAT: ErrorFormat = ErrorFormat::Xml;
const ROOT: &str = "device";
const FIRST_ID: usize = 100_001;
const DATE_FORMAT: &str = "%d/%m/%Y";

const LIFECYCLES: &[&str] = &["active", "stock", "repair", "disposed"];

const SCHEMA: &Schema = &[
    ("id", Kind::ReadOnly),
    ("serial", Kind::Text),
    ("hostname", Kind::Text),
    ("model", Kind::Text),
    ("site", Kind::Choice(REGISTRY_SITES)),
    ("lifecycle", Kind::Choice(LIFECYCLES)),
    ("owner", Kind::Text),
    ("purchase_date", Kind::Date(DATE_FORMAT)),
    ("updated", Kind::ReadOnly),
];

/// The registry's records: computed from the fleet until written or created.
pub(crate) struct RegistryState {
    writes: Mutex<Writes>,
}

#[derive(Default)]
struct Writes {
    /// Written or created records of fleet serials, by fleet index.
    fleet: HashMap<usize, Map<String, Value>>,
    /// Records created for serials outside the fleet, in creation order.
    extra: Vec<Map<String, Value>>,
}

/// Where a record lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Fleet(usize),
    Extra(usize),
}

impl RegistryState {
    pub(crate) fn new() -> Self {
        Self {
            writes: Mutex::new(Writes::default()),
        }
    }

    fn record(&self, fleet: &Fleet, slot: Slot) -> Option<Map<String, Value>> {
        let writes = lock(&self.writes);
        match slot {
            Slot::Fleet(index) => match writes.fleet.get(&index) {
                Some(record) => Some(record.clone()),
                None => base_record(fleet, index),
            },
            Slot::Extra(k) => writes.extra.get(k).cloned(),
        }
    }

    fn slot_of_serial(&self, fleet: &Fleet, serial: &str) -> Option<Slot> {
        match fleet.index_of(serial) {
            Some(index) => Some(Slot::Fleet(index)),
            None => lock(&self.writes)
                .extra
                .iter()
                .position(|record| record.get("serial").and_then(Value::as_str) == Some(serial))
                .map(Slot::Extra),
        }
    }

    /// Applies validated fields under one lock.
    fn update(
        &self,
        fleet: &Fleet,
        slot: Slot,
        fields: Vec<(String, Option<String>)>,
    ) -> Option<Map<String, Value>> {
        let mut writes = lock(&self.writes);
        let record = match slot {
            Slot::Fleet(index) => match writes.fleet.entry(index) {
                Entry::Occupied(entry) => entry.into_mut(),
                Entry::Vacant(entry) => entry.insert(base_record(fleet, index)?),
            },
            Slot::Extra(k) => writes.extra.get_mut(k)?,
        };
        apply(record, fields);
        Some(record.clone())
    }

    /// Creates a record; `Err` holds the id of the record that already has the serial.
    fn create(
        &self,
        fleet: &Fleet,
        serial: &str,
        fields: Vec<(String, Option<String>)>,
    ) -> Result<Map<String, Value>, String> {
        let mut writes = lock(&self.writes);
        let mut record: Map<String, Value> = SCHEMA
            .iter()
            .map(|(name, _)| (name.to_string(), Value::Null))
            .collect();
        let existing = match fleet.index_of(serial) {
            Some(index) => writes
                .fleet
                .get(&index)
                .cloned()
                .or_else(|| base_record(fleet, index)),
            None => writes
                .extra
                .iter()
                .find(|r| r.get("serial").and_then(Value::as_str) == Some(serial))
                .cloned(),
        };
        if let Some(existing) = existing {
            return Err(existing
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string());
        }
        apply(&mut record, fields);
        match fleet.index_of(serial) {
            Some(index) => {
                record.insert("id".into(), json!(id_for(fleet, Slot::Fleet(index))));
                writes.fleet.insert(index, record.clone());
            }
            None => {
                let slot = Slot::Extra(writes.extra.len());
                record.insert("id".into(), json!(id_for(fleet, slot)));
                writes.extra.push(record.clone());
            }
        }
        Ok(record)
    }
}

fn apply(record: &mut Map<String, Value>, fields: Vec<(String, Option<String>)>) {
    for (field, value) in fields {
        record.insert(field, value.map_or(Value::Null, Value::String));
    }
    let now = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
    record.insert("updated".into(), json!(now));
}

fn id_for(fleet: &Fleet, slot: Slot) -> String {
    match slot {
        Slot::Fleet(index) => format!("REG-{}", FIRST_ID + index),
        Slot::Extra(k) => format!("REG-{}", FIRST_ID + fleet.len() + k),
    }
}

fn slot_of_id(fleet: &Fleet, id: &str) -> Option<Slot> {
    let number: usize = id.strip_prefix("REG-")?.parse().ok()?;
    let position = number.checked_sub(FIRST_ID)?;
    let slot = if position < fleet.len() {
        Slot::Fleet(position)
    } else {
        Slot::Extra(position - fleet.len())
    };
    (id_for(fleet, slot) == id).then_some(slot)
}

/// The registry's `lifecycle` for a source status, as the demo mapping's `map` table has it.
fn lifecycle(status: &str) -> &'static str {
    match status {
        "in_stock" => "stock",
        "repair" => "repair",
        "retired" => "disposed",
        _ => "active",
    }
}

fn registry_date(date: &str) -> String {
    NaiveDate::parse_from_str(date, "%Y-%m-%d")
        .map(|d| d.format(DATE_FORMAT).to_string())
        .unwrap_or_default()
}

/// The record as the demo mapping would write it (nulls where the source is null).
fn mapped(device: &Device) -> Map<String, Value> {
    let fields = json!({
        "serial": device.serial,
        "hostname": device.hostname.to_uppercase(),
        "model": device.model,
        "site": device.site.to_uppercase(),
        "lifecycle": device.status.map(lifecycle),
        "owner": device.owner.as_ref().map(|owner| owner.to_lowercase()),
        "purchase_date": registry_date(&device.purchased_at),
    });
    match fields {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// What a stale record still holds in `field`: always different from [`mapped`].
fn stale_value(field: &str, device: &Device) -> Value {
    match field {
        // Typed in by hand before the registry's upper-case convention.
        "hostname" => json!(device.hostname.to_lowercase()),
        "site" => json!(other_site(device.site).to_uppercase()),
        "owner" => json!(HELPDESK_OWNER),
        "lifecycle" => json!(lifecycle(other_status(device.status.unwrap_or("")))),
        _ => Value::Null,
    }
}

fn base_record(fleet: &Fleet, index: usize) -> Option<Map<String, Value>> {
    if !fleet.in_registry(index) {
        return None;
    }
    let device = fleet.device(index)?;
    let traits = fleet.traits_of(index, &device);
    let mut record = mapped(&device);
    for field in traits.registry.stale_fields {
        record.insert(field.to_string(), stale_value(field, &device));
    }
    record.insert("id".into(), json!(id_for(fleet, Slot::Fleet(index))));
    record.insert("updated".into(), json!(device.updated_at));
    Some(record)
}
