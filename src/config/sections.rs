//! Reading each section of the config into the model, checking as it goes. Every check records
//! a problem and carries on with a default, so one pass finds every mistake.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use super::alerts::read_alerts;
use super::credentials::read_credentials;
use super::fields::{
    SERIAL_PLACEHOLDERS, check_credential_ref, read_base_url, read_dotted, read_path, read_query,
};
use super::listing::{
    read_headers, read_lookups, read_max_retry_after, read_pagination, read_results_position,
    read_sources,
};
use super::mapping::read_mapping;
use super::model::*;
use super::reader::{Reader, Table};
use super::secret::Environment;

const ROOT_KEYS: &[&str] = &[
    "source",
    "sources",
    "credentials",
    "connections",
    "store",
    "ui",
    "alerts",
];
const CONNECTION_KEYS: &[&str] = &[
    "name",
    "system",
    "source",
    "credential",
    "base_url",
    "dry_run",
    "concurrency",
    "max_retries",
    "timeout_secs",
    "rate_limit_per_sec",
    "max_retry_after_secs",
    "abort_after",
    "verify",
    "headers",
    "fetch",
    "update",
    "create",
    "mapping",
    "lookups",
];
const FETCH_KEYS: &[&str] = &[
    "path",
    "query",
    "results_position",
    "serial_field",
    "id_field",
    "bulk",
    "pagination",
    "missing_when",
];
const WRITE_KEYS: &[&str] = &["method", "path", "formatter", "xml_root", "success_when"];
const CONDITION_KEYS: &[&str] = &["path", "equals"];
const STORE_KEYS: &[&str] = &["path", "retention_days"];
const UI_KEYS: &[&str] = &["fps", "theme"];

/// Reads the whole file; None when any problem was found.
pub(super) fn read_config(
    r: &mut Reader,
    root: &Table,
    file: &Path,
    base_dir: &Path,
    env: &Environment,
) -> Option<Config> {
    r.check_keys(root, ROOT_KEYS);
    let credential_tables = r.tables(root, "credentials");
    let credentials = read_credentials(r, &credential_tables, base_dir, env);
    let names: HashSet<String> = credentials.iter().map(|c| c.name.clone()).collect();
    let sources = read_sources(r, root, &names);
    let source_names: Vec<&str> = sources.iter().map(|s| s.name.as_str()).collect();

    let connection_tables = r.tables(root, "connections");
    if connection_tables.is_empty() && root.map.get("connections").is_none() {
        r.problem(
            root.span.start..root.span.start,
            "connections",
            "no [[connections]]: at least one destination connection is needed",
        );
    }
    let mut connections = Vec::new();
    let mut seen = HashSet::new();
    for table in &connection_tables {
        let connection = read_connection(r, table, &names, &source_names);
        if !connection.name.is_empty() && !seen.insert(connection.name.clone()) {
            let span = r.span_of(table, "name");
            r.problem(
                span,
                table.key_path("name"),
                format!(
                    "duplicate connection name \"{}\" (names must be unique)",
                    connection.name
                ),
            );
        }
        connections.push(connection);
    }

    let store = r
        .table(root, "store", false)
        .map(|t| read_store(r, &t, base_dir))
        .unwrap_or_default();
    let ui = r
        .table(root, "ui", false)
        .map(|t| read_ui(r, &t))
        .unwrap_or_default();

    let alert_tables = r.tables(root, "alerts");
    let alerts = read_alerts(r, &alert_tables, base_dir, env);

    if !r.problems.is_empty() || sources.is_empty() {
        return None;
    }
    Some(Config {
        file: file.to_path_buf(),
        sources,
        credentials,
        connections,
        store,
        ui,
        alerts,
    })
}

fn read_connection(
    r: &mut Reader,
    t: &Table,
    credentials: &HashSet<String>,
    sources: &[&str],
) -> Connection {
    r.check_keys(t, CONNECTION_KEYS);
    let name = match r.spanned_string(t, "name", true) {
        Some((name, span)) => {
            if !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            {
                r.problem(
                    span,
                    t.key_path("name"),
                    format!(
                        "connection name \"{name}\" may use only letters, digits, '-', '_' and '.'"
                    ),
                );
            }
            name
        }
        None => String::new(),
    };
    let credential = r.string(t, "credential", false);
    check_credential_ref(r, t, credential.as_deref(), credentials);
    let source = read_source_ref(r, t, sources);
    let fetch = r.table(t, "fetch", true).map(|f| read_fetch(r, &f));
    let update = r
        .table(t, "update", true)
        .map(|u| read_write_contract(r, &u, false));
    let create = r
        .table(t, "create", false)
        .map(|c| read_write_contract(r, &c, true));
    let lookups = read_lookups(r, t);
    let mapping = read_mapping(r, t, &lookups);
    let (concurrency, concurrency_auto) = read_concurrency(r, t);
    Connection {
        system: r.string(t, "system", false).unwrap_or_else(|| name.clone()),
        name,
        source,
        credential,
        base_url: read_base_url(r, t),
        dry_run: r.bool(t, "dry_run").unwrap_or(defaults::DRY_RUN),
        concurrency,
        concurrency_auto,
        max_retries: r
            .uint(t, "max_retries", 0..=20)
            .map_or(defaults::MAX_RETRIES, |n| n as u32),
        timeout_secs: r
            .uint(t, "timeout_secs", 1..=600)
            .unwrap_or(defaults::TIMEOUT_SECS),
        rate_limit_per_sec: r.positive_float(t, "rate_limit_per_sec"),
        max_retry_after_secs: read_max_retry_after(r, t),
        abort_after: r
            .uint(t, "abort_after", 1..=100_000)
            .map_or(defaults::ABORT_AFTER, |n| n as u32),
        verify: r.bool(t, "verify").unwrap_or(defaults::VERIFY),
        headers: read_headers(r, t),
        fetch: fetch.unwrap_or_else(empty_fetch),
        update: update.unwrap_or_else(empty_write),
        create,
        mapping,
        lookups,
    }
}

/// `concurrency`: a number from 1 to 256, or "auto" (found by the connection as it runs, up
/// to a ceiling).
fn read_concurrency(r: &mut Reader, t: &Table) -> (usize, bool) {
    if r.is_string(t, "concurrency") {
        return match r.spanned_string(t, "concurrency", false) {
            Some((text, _)) if text == "auto" => (defaults::AUTO_CONCURRENCY_CEILING, true),
            Some((text, span)) => {
                r.problem(
                    span,
                    t.key_path("concurrency"),
                    format!("expected a whole number from 1 to 256 or \"auto\", found the string \"{text}\""),
                );
                (defaults::CONCURRENCY, false)
            }
            None => (defaults::CONCURRENCY, false),
        };
    }
    let fixed = r
        .uint(t, "concurrency", 1..=256)
        .map_or(defaults::CONCURRENCY, |n| n as usize);
    (fixed, false)
}

/// The source a connection reads: required to be named when there are several.
fn read_source_ref(r: &mut Reader, t: &Table, sources: &[&str]) -> String {
    match r.spanned_string(t, "source", false) {
        Some((name, span)) => {
            if !sources.contains(&name.as_str()) && !sources.is_empty() {
                r.problem(
                    span,
                    t.key_path("source"),
                    format!(
                        "source \"{name}\" is not defined (defined: {})",
                        sources.join(", ")
                    ),
                );
            }
            name
        }
        None if sources.len() > 1 => {
            r.problem(
                t.span.clone(),
                t.key_path("source"),
                format!(
                    "missing key `source`: with several [[sources]] each connection names the one it reads ({})",
                    sources.join(", ")
                ),
            );
            String::new()
        }
        None => sources.first().map(|s| s.to_string()).unwrap_or_default(),
    }
}

fn read_fetch(r: &mut Reader, t: &Table) -> FetchContract {
    r.check_keys(t, FETCH_KEYS);
    let path = read_path(r, t, "path", SERIAL_PLACEHOLDERS).unwrap_or_default();
    let query = read_query(r, t, "query");
    let bulk = r.bool(t, "bulk").unwrap_or(false);
    let serial_in_query = query.values().any(|v| names_serial(v));
    if !path.is_empty() && !names_serial(&path) && !serial_in_query {
        let span = r.span_of(t, "path");
        r.problem(
            span,
            t.key_path("path"),
            "a lookup must name the serial: put {serial} in `path` or in a `query` value",
        );
    }
    if bulk && names_serial(&path) {
        let span = r.span_of(t, "bulk");
        r.problem(
            span,
            t.key_path("bulk"),
            "bulk = true lists the destination at `path`, which must not contain {serial} (put the serial in `query`)",
        );
    }
    let results_position = read_results_position(r, t);
    if bulk && results_position == ResultsPosition::Single {
        let span = r.span_of(t, "results_position");
        r.problem(
            span,
            t.key_path("results_position"),
            "\"_single\" answers one record per serial: it cannot list the destination in bulk (set bulk = false)",
        );
    }
    let (pagination, stop) = read_pagination(r, t);
    FetchContract {
        path,
        query,
        results_position,
        serial_field: read_dotted(r, t, "serial_field", true).unwrap_or_default(),
        id_field: read_dotted(r, t, "id_field", true).unwrap_or_default(),
        bulk,
        pagination,
        stop,
        missing_when: read_condition(r, t, "missing_when"),
    }
}

/// `{ path = "status", equals = "error" }`.
fn read_condition(r: &mut Reader, parent: &Table, key: &str) -> Option<Condition> {
    let t = r.table(parent, key, false)?;
    r.check_keys(&t, CONDITION_KEYS);
    let path = read_dotted(r, &t, "path", true);
    let equals = r.scalar(&t, "equals");
    if t.map.get("equals").is_none() {
        r.problem(
            t.span.clone(),
            t.key_path("equals"),
            format!(
                "missing key `equals` in [{}] (expected a string, number or boolean)",
                t.path
            ),
        );
    }
    Some(Condition {
        path: path?,
        equals: equals?,
    })
}

/// True when a template names the serial, escaped or not.
fn names_serial(template: &str) -> bool {
    SERIAL_PLACEHOLDERS
        .iter()
        .any(|name| template.contains(&format!("{{{name}}}")))
}

fn read_write_contract(r: &mut Reader, t: &Table, is_create: bool) -> WriteContract {
    r.check_keys(t, WRITE_KEYS);
    let allowed: &[&str] = if is_create {
        SERIAL_PLACEHOLDERS
    } else {
        &["id", "serial", "serial|odata", "serial|sn"]
    };
    let path = read_path(r, t, "path", allowed).unwrap_or_default();
    if !is_create && !path.is_empty() && !path.contains("{id}") && !names_serial(&path) {
        let span = r.span_of(t, "path");
        r.problem(
            span,
            t.key_path("path"),
            "an update path must name the record: use {id} (the destination id) or {serial}",
        );
    }
    let method = match r.spanned_string(t, "method", true) {
        Some((m, span)) => match m.to_ascii_uppercase().as_str() {
            "PATCH" => Method::Patch,
            "PUT" => Method::Put,
            "POST" => Method::Post,
            _ => {
                r.problem(
                    span,
                    t.key_path("method"),
                    format!("unknown method \"{m}\" (expected PATCH, PUT or POST)"),
                );
                Method::Patch
            }
        },
        None => Method::Patch,
    };
    let formatter = r.spanned_string(t, "formatter", false);
    let xml_root = r.spanned_string(t, "xml_root", false);
    let body = match formatter.as_ref().map(|(f, _)| f.as_str()) {
        None | Some("json") => {
            if let Some((_, span)) = xml_root {
                r.problem(
                    span,
                    t.key_path("xml_root"),
                    "`xml_root` applies only to formatter = \"xml\"",
                );
            }
            BodyFormat::Json
        }
        Some("xml") => match xml_root {
            Some((root, span)) => {
                if !is_xml_name(&root) {
                    r.problem(
                        span,
                        t.key_path("xml_root"),
                        format!("\"{root}\" is not a valid XML element name"),
                    );
                }
                BodyFormat::Xml { xml_root: root }
            }
            None => {
                let span = formatter
                    .as_ref()
                    .map_or(t.span.clone(), |(_, s)| s.clone());
                r.problem(
                    span,
                    t.key_path("xml_root"),
                    "formatter = \"xml\" needs `xml_root`, the root element of the body",
                );
                BodyFormat::Json
            }
        },
        Some(other) => {
            let span = formatter
                .as_ref()
                .map_or(t.span.clone(), |(_, s)| s.clone());
            r.problem(
                span,
                t.key_path("formatter"),
                format!("unknown formatter \"{other}\" (expected json or xml)"),
            );
            BodyFormat::Json
        }
    };
    WriteContract {
        method,
        path,
        body,
        success_when: read_condition(r, t, "success_when"),
    }
}

fn read_store(r: &mut Reader, t: &Table, base_dir: &Path) -> StoreSettings {
    r.check_keys(t, STORE_KEYS);
    StoreSettings {
        path: r.string(t, "path", false).map(|p| base_dir.join(p)),
        retention_days: r
            .uint(t, "retention_days", 1..=3650)
            .map_or(defaults::RETENTION_DAYS, |n| n as u32),
    }
}

fn read_ui(r: &mut Reader, t: &Table) -> UiSettings {
    r.check_keys(t, UI_KEYS);
    let theme = match r.spanned_string(t, "theme", false) {
        None => Theme::Default,
        Some((v, _)) if v == "default" => Theme::Default,
        Some((v, _)) if v == "mono" => Theme::Mono,
        Some((v, span)) => {
            r.problem(
                span,
                t.key_path("theme"),
                format!("unknown theme \"{v}\" (expected default or mono)"),
            );
            Theme::Default
        }
    };
    UiSettings {
        fps: r.uint(t, "fps", 1..=60).map_or(defaults::FPS, |n| n as u32),
        theme,
    }
}

fn is_xml_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !name.to_ascii_lowercase().starts_with("xml")
}

fn empty_fetch() -> FetchContract {
    FetchContract {
        path: String::new(),
        query: BTreeMap::new(),
        results_position: ResultsPosition::Root,
        serial_field: String::new(),
        id_field: String::new(),
        bulk: false,
        pagination: Pagination::None,
        stop: PageStop::default(),
        missing_when: None,
    }
}

fn empty_write() -> WriteContract {
    WriteContract {
        method: Method::Patch,
        path: String::new(),
        body: BodyFormat::Json,
        success_when: None,
    }
}
