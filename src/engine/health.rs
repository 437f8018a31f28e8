//! The connector health check (SPEC section 5, Connections): is the source reachable, is the
//! destination reachable, is the credential accepted (a lookup of one known serial through the
//! fetch contract)? Each step with its status and latency; a failed step says what failed and
//! the hint. The Connections view (`H`), the mass resync (before it asks) and `syncdeck check`
//! all use [`check_connection`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::store::{Store, StoreError};

/// The steps, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// The source answers its listing (first page).
    Source,
    /// The destination answers at all (its base URL, or the fetch contract's URL).
    Destination,
    /// A lookup of one known serial through the fetch contract is accepted (no 401/403).
    Credential,
}

impl StepKind {
    pub fn label(self) -> &'static str {
        match self {
            StepKind::Source => "source reachable",
            StepKind::Destination => "destination reachable",
            StepKind::Credential => "credential accepted",
        }
    }
}

/// How one step went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Ok,
    Failed,
    /// Not tried because an earlier step failed.
    Skipped,
}

/// One step's result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthStep {
    pub kind: StepKind,
    pub status: StepStatus,
    /// How long the step's request took (None when skipped).
    pub latency_ms: Option<u64>,
    /// What was tried and what came back, redacted: "GET http://127.0.0.1:7300/fleet?page=1 →
    /// 200 in 4 ms", "connection refused", "401 Unauthorized".
    pub detail: String,
    /// What to do about a failure (SPEC section 4's hints).
    pub hint: Option<String>,
}

/// A whole check of one connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthReport {
    pub connection: String,
    pub checked_at: DateTime<Utc>,
    /// Source, Destination, Credential, in that order.
    pub steps: Vec<HealthStep>,
}

impl HealthReport {
    /// True when every step is Ok.
    pub fn is_ok(&self) -> bool {
        self.steps.iter().all(|s| s.status == StepStatus::Ok)
    }

    /// The first step that failed.
    pub fn failed_step(&self) -> Option<&HealthStep> {
        self.steps.iter().find(|s| s.status == StepStatus::Failed)
    }
}

/// The settings key the last check of a connection is kept under (JSON of [`HealthReport`]).
pub fn health_key(connection: &str) -> String {
    format!("health.{connection}")
}

/// Keeps a check's result in the store, so the Connections view shows it after a restart.
pub fn save(store: &Store, report: &HealthReport) -> Result<(), StoreError> {
    let text = serde_json::to_string(report).expect("a health report serializes");
    store.set_setting(&health_key(&report.connection), &text)
}

/// The last check kept for a connection, if any (an unreadable one counts as none).
pub fn load(store: &Store, connection: &str) -> Result<Option<HealthReport>, StoreError> {
    Ok(store
        .get_setting(&health_key(connection))?
        .and_then(|text| serde_json::from_str(&text).ok()))
}

/// Checks one connection: source, destination, credential, stopping at the first failure (the
/// later steps are Skipped). The known serial is the first contract's origin id in `store`, else
/// the first record of the source's first page. Err only for a connection not in the config.
pub async fn check_connection(
    config: &Config,
    store: Option<&Store>,
    connection: &str,
) -> Result<HealthReport, String> {
    let _ = (config, store);
    Err(format!("health check of {connection}: not built yet"))
}
