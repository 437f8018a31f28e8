//! The JSON CMDB (ServiceNow-like) under `/cmdb`: lookup by serial, a paged bulk listing, and
//! PATCH by `sys_id`. About 3% of the fleet has no record; about 30% of the records are stale in
//! one or two mapped fields, the rest hold exactly what the demo mapping writes.

mod api;

pub(crate) use api::router;

use std::collections::HashMap;
use std::sync::Mutex;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use super::catalogue::{HELPDESK_OWNER, os_line, other_site, other_status};
use super::dice::{index_of_opaque_id, opaque_id};
use super::fleet::{Device, Fleet};
use super::lock::lock;
use super::record::{Kind, Schema, check_json, flatten, set_path};
use super::reply::{ErrorFormat, is_json, number_param, unsupported_media_type};

const FORMAT: ErrorFormat = ErrorFormat::Json;
const ID_SYSTEM: &str = "cmdb";
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 10_000;

const INSTALL_STATUSES: &[&str] = &["In Use", "In Stock", "In Maintenance", "Retired"];

const SCHEMA: &Schema = &[
    ("sys_id", Kind::ReadOnly),
    // Records are found by serial: renaming one would orphan it.
    ("serial_number", Kind::ReadOnly),
    ("name", Kind::Text),
    ("manufacturer", Kind::Text),
    ("model_id", Kind::Text),
    ("install_status", Kind::Choice(INSTALL_STATUSES)),
    ("ram_gb", Kind::Integer),
    ("cpu_core_count", Kind::Integer),
    ("disk_space_gb", Kind::Integer),
    ("os", Kind::Text),
    ("os_version", Kind::Text),
    ("location", Kind::Text),
    ("assigned_to", Kind::Text),
    ("purchase_date", Kind::Date("%Y-%m-%d")),
    ("sys_updated_on", Kind::ReadOnly),
];

/// The CMDB's records: computed from the fleet until written, then kept as written.
pub(crate) struct CmdbState {
    /// Fleet indices that have a record, in listing order (the bulk listing pages over these).
    present: Vec<usize>,
    written: Mutex<HashMap<usize, Map<String, Value>>>,
    /// Writes applied per record, so tests can tell a record written twice from one written once.
    write_counts: Mutex<HashMap<usize, u64>>,
}

impl CmdbState {
    pub(crate) fn new(fleet: &Fleet) -> Self {
        Self {
            present: (0..fleet.len()).filter(|i| fleet.in_cmdb(*i)).collect(),
            written: Mutex::new(HashMap::new()),
            write_counts: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn record(&self, fleet: &Fleet, index: usize) -> Option<Map<String, Value>> {
        if let Some(record) = lock(&self.written).get(&index) {
            return Some(record.clone());
        }
        fleet
            .in_cmdb(index)
            .then(|| base_record(fleet, index))
            .flatten()
    }

    /// Applies validated fields under one lock, so concurrent writes to a record never interleave.
    fn update(
        &self,
        fleet: &Fleet,
        index: usize,
        fields: Vec<(String, Value)>,
    ) -> Option<Map<String, Value>> {
        let mut written = lock(&self.written);
        let mut record = match written.get(&index) {
            Some(record) => record.clone(),
            None => base_record(fleet, index)?,
        };
        for (field, value) in fields {
            set_path(&mut record, &field, value);
        }
        let now = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
        record.insert(
            "sys_updated_on".into(),
            json!(now.replace('T', " ").trim_end_matches('Z')),
        );
        written.insert(index, record.clone());
        *lock(&self.write_counts).entry(index).or_default() += 1;
        Some(record)
    }

    /// Writes applied so far, per fleet index (records never written are absent).
    pub(crate) fn write_counts(&self) -> HashMap<usize, u64> {
        lock(&self.write_counts).clone()
    }

    /// Whether the record at `index` holds what the demo mapping writes, in every field the
    /// mapping writes (a field whose source is null is not compared: null-source protection keeps
    /// the CMDB's value); None when the CMDB has no record.
    pub(crate) fn holds_mapping(&self, fleet: &Fleet, index: usize) -> Option<bool> {
        let record = self.record(fleet, index)?;
        let device = fleet.device(index)?;
        Some(
            mapped(&device)
                .iter()
                .filter(|(_, value)| !value.is_null())
                .all(|(field, value)| record.get(field) == Some(value)),
        )
    }
}

/// The CMDB's `install_status` for a source status, as the demo mapping's `map` table has it.
fn install_status(status: &str) -> &'static str {
    match status {
        "in_stock" => "In Stock",
        "repair" => "In Maintenance",
        "retired" => "Retired",
        _ => "In Use",
    }
}

/// The record as the demo mapping would write it (nulls where the source is null).
fn mapped(device: &Device) -> Map<String, Value> {
    let memory = device.hardware.memory_gb.as_ref().map(|m| m.gigabytes());
    let fields = json!({
        "name": device.hostname.to_lowercase(),
        "manufacturer": device.manufacturer,
        "model_id": device.model,
        "install_status": device.status.map(install_status),
        "ram_gb": memory,
        "cpu_core_count": device.hardware.cpu_cores,
        "disk_space_gb": device.hardware.disk_gb,
        "os": device.os.name,
        "os_version": device.os.version,
        "location": device.site.to_uppercase(),
        "assigned_to": device.owner.as_ref().map(|owner| owner.to_lowercase()),
        "purchase_date": device.purchased_at,
    });
    match fields {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// What a stale record still holds in `field`: always different from [`mapped`].
fn stale_value(field: &str, device: &Device) -> Value {
    match field {
        "name" => json!(format!("ws-{}", &device.serial[3..])),
        "install_status" => json!(install_status(other_status(device.status.unwrap_or("")))),
        "ram_gb" => json!(
            device
                .hardware
                .memory_gb
                .as_ref()
                .map_or(8, |m| (m.gigabytes() / 2).max(4))
        ),
        "os_version" => json!(os_line(device.os.name).older),
        "location" => json!(other_site(device.site).to_uppercase()),
        "assigned_to" => json!(HELPDESK_OWNER),
        _ => Value::Null,
    }
}

fn base_record(fleet: &Fleet, index: usize) -> Option<Map<String, Value>> {
    let device = fleet.device(index)?;
    let traits = fleet.traits_of(index, &device);
    let mut record = mapped(&device);
    for field in traits.cmdb.stale_fields {
        record.insert(field.to_string(), stale_value(field, &device));
    }
    record.insert(
        "sys_id".into(),
        json!(opaque_id(
            fleet.seed(),
            ID_SYSTEM,
            u32::try_from(index).ok()?
        )),
    );
    record.insert("serial_number".into(), json!(device.serial));
    record.insert(
        "sys_updated_on".into(),
        json!(device.updated_at.replace('T', " ").trim_end_matches('Z')),
    );
    Some(record)
}
