//! The systems a connection run talks to: the source's client and the destination's, each
//! with its credential, headers, throttle and retry policy; and the destination's name → id
//! tables, listed before any record needs one.

use std::time::Duration;

use tokio::sync::watch;

use super::http::{HttpClient, HttpSetupError};
use super::lookup_tables::{self, LookupTables};
use super::protocol::LogLevel;
use super::retry::RetryPolicy;
use super::sink::EventSink;
use super::throttle::Throttle;
use crate::config::{Config, Connection, Source, defaults};
use crate::store::RunError;

/// The clients and policies of one connection run.
pub(crate) struct Systems {
    pub source_client: HttpClient,
    pub client: HttpClient,
    pub policy: RetryPolicy,
    pub source_policy: RetryPolicy,
}

impl Systems {
    /// Clients for `connection` and its `source`; the source's throttle is the run's.
    pub(crate) fn build(
        config: &Config,
        connection: &Connection,
        source: &Source,
        source_throttle: Throttle,
    ) -> Result<Systems, RunError> {
        let setup = |e: HttpSetupError| RunError {
            message: e.to_string(),
            hint: None,
        };
        let source_credential = source
            .credential
            .as_deref()
            .and_then(|name| config.credential(name));
        let source_client = HttpClient::new(
            &source.base_url,
            source_credential,
            Duration::from_secs(source.timeout_secs),
            4,
        )
        .map_err(setup)?
        .with_headers(&source.headers)
        .with_throttle(source_throttle);
        let credential = connection
            .credential
            .as_deref()
            .and_then(|name| config.credential(name));
        // Every request of the connection — lookups, writes, verifications — passes one
        // throttle.
        let throttle = Throttle::new(
            connection.rate_limit_per_sec,
            connection.concurrency_auto,
            defaults::AUTO_CONCURRENCY_START,
            connection.concurrency,
        );
        let client = HttpClient::new(
            &connection.base_url,
            credential,
            Duration::from_secs(connection.timeout_secs),
            connection.concurrency,
        )
        .map_err(setup)?
        .with_headers(&connection.headers)
        .with_throttle(throttle);
        Ok(Systems {
            source_client,
            client,
            policy: RetryPolicy::new(connection.max_retries)
                .with_max_retry_after(connection.max_retry_after_secs),
            source_policy: RetryPolicy::new(connection.max_retries)
                .with_max_retry_after(source.max_retry_after_secs),
        })
    }
}

/// The connection's `[[connections.lookups]]`, listed once for the run (none: empty tables).
pub(crate) async fn load_lookups(
    connection: &Connection,
    events: &EventSink,
    cancel: &watch::Receiver<bool>,
    client: &HttpClient,
    policy: RetryPolicy,
) -> Result<LookupTables, RunError> {
    if connection.lookups.is_empty() {
        return Ok(LookupTables::default());
    }
    events.log(
        LogLevel::Info,
        format!("{}: listing its lookup tables", connection.name),
    );
    let tables = lookup_tables::load(client, &connection.lookups, policy, cancel)
        .await
        .map_err(|message| RunError {
            message,
            hint: Some(
                "check the [[connections.lookups]] path, results_position and credential"
                    .to_string(),
            ),
        })?;
    for table in &connection.lookups {
        events.log(
            LogLevel::Info,
            format!(
                "{}: lookup \"{}\" holds {} names",
                connection.name,
                table.name,
                tables.len_of(&table.name).unwrap_or(0)
            ),
        );
    }
    Ok(tables)
}
