//! The MDM under `/mdm`: a bare JSON array by serial, and `PATCH` answered 202 Accepted (applied
//! at once, so a verification read sees the fields). About 2% of the devices answer 503 to their
//! first write; exactly one write per server lifetime (the 25th) gets 429 with `Retry-After: 1`.
//! About 0.5% of the devices are caught in a maintenance outage: 503 (no `Retry-After`) to their
//! first [`MDM_OUTAGE_WRITES`] writes, more than one run's `1 + max_retries` attempts, so a live
//! run fails them and a later resync writes them.

mod api;

pub(crate) use api::router;

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use super::catalogue::{HELPDESK_OWNER, os_line};
use super::dice::{index_of_opaque_id, opaque_id};
use super::fleet::{Device, Fleet, MDM_OUTAGE_WRITES};
use super::lock::lock;
use super::record::{Kind, Schema, check_json, flatten, set_path};
use super::reply::{ErrorFormat, is_json, unsupported_media_type};

const FORMAT: ErrorFormat = ErrorFormat::Json;
const ID_SYSTEM: &str = "mdm";

/// The one write per server lifetime that is rate limited (counting valid writes from 1).
pub(crate) const THROTTLED_WRITE: u64 = 25;

const PLATFORMS: &[&str] = &["windows", "macos", "ubuntu"];

const SCHEMA: &Schema = &[
    ("id", Kind::ReadOnly),
    ("serial", Kind::ReadOnly),
    ("device_name", Kind::Text),
    ("platform", Kind::Choice(PLATFORMS)),
    ("os_version", Kind::Text),
    ("memory_gb", Kind::Integer),
    ("user.email", Kind::Text),
    ("enrolled_at", Kind::ReadOnly),
    ("last_check_in", Kind::ReadOnly),
    ("compliance", Kind::ReadOnly),
];

/// The MDM's records and its fault injection state.
pub(crate) struct MdmState {
    inner: Mutex<MdmInner>,
}

#[derive(Default)]
struct MdmInner {
    written: HashMap<usize, Map<String, Value>>,
    /// Valid writes received so far.
    writes_seen: u64,
    /// Flaky devices that have had their one 503.
    failed_once: HashSet<usize>,
    /// 503s answered so far to each outage device (up to [`MDM_OUTAGE_WRITES`]).
    outage_answers: HashMap<usize, u32>,
}

/// What the MDM does with one valid write.
enum WriteVerdict {
    Applied,
    Missing,
    Throttled,
    Unavailable,
    Maintenance,
}

impl MdmState {
    pub(crate) fn new() -> Self {
        Self {
            inner: Mutex::new(MdmInner::default()),
        }
    }

    fn record(&self, fleet: &Fleet, index: usize) -> Option<Map<String, Value>> {
        if let Some(record) = lock(&self.inner).written.get(&index) {
            return Some(record.clone());
        }
        base_record(fleet, index)
    }

    fn write(&self, fleet: &Fleet, index: usize, fields: Vec<(String, Value)>) -> WriteVerdict {
        let mut inner = lock(&self.inner);
        inner.writes_seen += 1;
        if inner.writes_seen == THROTTLED_WRITE {
            return WriteVerdict::Throttled;
        }
        if fleet.mdm_flaky(index) && inner.failed_once.insert(index) {
            return WriteVerdict::Unavailable;
        }
        if fleet.mdm_outage(index) {
            let answered = inner.outage_answers.entry(index).or_default();
            if *answered < MDM_OUTAGE_WRITES {
                *answered += 1;
                return WriteVerdict::Maintenance;
            }
        }
        let record = match inner.written.remove(&index) {
            Some(record) => Some(record),
            None => base_record(fleet, index),
        };
        let Some(mut record) = record else {
            return WriteVerdict::Missing;
        };
        for (field, value) in fields {
            set_path(&mut record, &field, value);
        }
        inner.written.insert(index, record);
        WriteVerdict::Applied
    }
}

/// The record as the demo mapping would write it (nulls where the source is null).
fn mapped(device: &Device) -> Map<String, Value> {
    let fields = json!({
        "device_name": device.hostname,
        "platform": device.os.name.to_lowercase(),
        "os_version": device.os.version,
        "memory_gb": device.hardware.memory_gb.as_ref().map(|m| m.gigabytes()),
        "user": {"email": device.owner.as_ref().map(|owner| owner.to_lowercase())},
    });
    match fields {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// What a stale record still holds in `field`: always different from [`mapped`].
fn stale_value(field: &str, device: &Device) -> Value {
    match field {
        // The name the device gave itself at enrolment, before the naming policy applied.
        "device_name" => {
            let first = device
                .owner
                .as_deref()
                .and_then(|owner| owner.split('.').next())
                .map(capitalised);
            match first {
                Some(first) => json!(format!("{first}'s {}", device.model)),
                None => json!(format!("Unassigned {}", device.model)),
            }
        }
        "os_version" => json!(os_line(device.os.name).older),
        "memory_gb" => json!(
            device
                .hardware
                .memory_gb
                .as_ref()
                .map_or(8, |m| (m.gigabytes() / 2).max(4))
        ),
        "user.email" => json!(HELPDESK_OWNER),
        _ => Value::Null,
    }
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first
            .to_uppercase()
            .chain(chars.map(|c| c.to_ascii_lowercase()))
            .collect(),
        None => String::new(),
    }
}

fn base_record(fleet: &Fleet, index: usize) -> Option<Map<String, Value>> {
    if !fleet.in_mdm(index) {
        return None;
    }
    let device = fleet.device(index)?;
    let traits = fleet.traits_of(index, &device);
    let mut record = mapped(&device);
    for field in traits.mdm.stale_fields {
        set_path(&mut record, field, stale_value(field, &device));
    }
    record.insert("id".into(), json!(device_id(fleet, index)?));
    record.insert("serial".into(), json!(device.serial));
    record.insert(
        "enrolled_at".into(),
        json!(format!("{}T09:00:00Z", device.purchased_at)),
    );
    record.insert("last_check_in".into(), json!(device.updated_at));
    record.insert("compliance".into(), json!("compliant"));
    Some(record)
}

/// A UUID-shaped id carrying the fleet index (see [`opaque_id`]).
fn device_id(fleet: &Fleet, index: usize) -> Option<String> {
    let hex = opaque_id(fleet.seed(), ID_SYSTEM, u32::try_from(index).ok()?);
    Some(format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    ))
}

fn resolve(fleet: &Fleet, id: &str) -> Option<usize> {
    let index = usize::try_from(index_of_opaque_id(fleet.seed(), ID_SYSTEM, id)?).ok()?;
    (index < fleet.len() && fleet.in_mdm(index) && device_id(fleet, index).as_deref() == Some(id))
        .then_some(index)
}
