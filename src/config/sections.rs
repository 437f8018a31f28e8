//! Reading each section of the config into the model, checking as it goes. Every check records
//! a problem and carries on with a default, so one pass finds every mistake.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use super::model::*;
use super::reader::{Reader, Table};
use super::secret::{self, Environment, Secret};

const ROOT_KEYS: &[&str] = &["source", "credentials", "connections", "store", "ui"];
const SOURCE_KEYS: &[&str] = &[
    "name",
    "base_url",
    "endpoint",
    "results_position",
    "id_field",
    "single_query",
    "credential",
    "pagination",
    "timeout_secs",
];
const PAGINATION_KEYS: &[&str] = &[
    "style",
    "page_param",
    "first_page",
    "size_param",
    "size",
    "offset_param",
    "cursor_param",
    "cursor_position",
    "next_link_position",
    "max_pages",
];
const CREDENTIAL_KEYS: &[&str] = &[
    "name", "kind", "token", "username", "password", "header", "value",
];
const CONNECTION_KEYS: &[&str] = &[
    "name",
    "system",
    "credential",
    "base_url",
    "dry_run",
    "concurrency",
    "max_retries",
    "timeout_secs",
    "rate_limit_per_sec",
    "abort_after",
    "verify",
    "fetch",
    "update",
    "create",
    "mapping",
];
const FETCH_KEYS: &[&str] = &[
    "path",
    "query",
    "results_position",
    "serial_field",
    "id_field",
    "bulk",
    "pagination",
];
const WRITE_KEYS: &[&str] = &["method", "path", "formatter", "xml_root"];
const MAPPING_KEYS: &[&str] = &[
    "source", "target", "format", "values", "required", "on_null", "on_same",
];
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
    let source = r.table(root, "source", true).map(|t| read_source(r, &t));
    let credential_tables = r.tables(root, "credentials");
    let credentials = read_credentials(r, &credential_tables, base_dir, env);
    let names: HashSet<String> = credentials.iter().map(|c| c.name.clone()).collect();

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
        let connection = read_connection(r, table, &names);
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
    if let (Some(source), Some(table)) = (&source, r.table(root, "source", false)) {
        check_credential_ref(r, &table, source.credential.as_deref(), &names);
    }

    let store = r
        .table(root, "store", false)
        .map(|t| read_store(r, &t, base_dir))
        .unwrap_or_default();
    let ui = r
        .table(root, "ui", false)
        .map(|t| read_ui(r, &t))
        .unwrap_or_default();

    if !r.problems.is_empty() {
        return None;
    }
    Some(Config {
        file: file.to_path_buf(),
        source: source?,
        credentials,
        connections,
        store,
        ui,
    })
}

fn read_source(r: &mut Reader, t: &Table) -> Source {
    r.check_keys(t, SOURCE_KEYS);
    let base_url = read_base_url(r, t);
    let endpoint = read_path(r, t, "endpoint", &[]).unwrap_or_default();
    let single_query = read_query(r, t, "single_query");
    Source {
        name: r
            .string(t, "name", false)
            .unwrap_or_else(|| "source".into()),
        base_url,
        endpoint,
        results_position: read_results_position(r, t),
        id_field: read_dotted(r, t, "id_field", true).unwrap_or_default(),
        single_query,
        credential: r.string(t, "credential", false),
        pagination: read_pagination(r, t),
        timeout_secs: r
            .uint(t, "timeout_secs", 1..=600)
            .unwrap_or(defaults::SOURCE_TIMEOUT_SECS),
    }
}

fn read_pagination(r: &mut Reader, parent: &Table) -> Pagination {
    let Some(t) = r.table(parent, "pagination", false) else {
        return Pagination::None;
    };
    r.check_keys(&t, PAGINATION_KEYS);
    let style = r.string(&t, "style", true).unwrap_or_default();
    let applicable: &[&str] = match style.as_str() {
        "none" => &[],
        "page" => &[
            "page_param",
            "first_page",
            "size_param",
            "size",
            "max_pages",
        ],
        "offset" => &["offset_param", "size_param", "size", "max_pages"],
        "cursor" => &[
            "cursor_param",
            "cursor_position",
            "size_param",
            "size",
            "max_pages",
        ],
        "link" => &["next_link_position", "max_pages"],
        "" => return Pagination::None,
        other => {
            let span = r.span_of(&t, "style");
            r.problem(
                span,
                t.key_path("style"),
                format!("unknown pagination style \"{other}\" (expected none, page, offset, cursor or link)"),
            );
            return Pagination::None;
        }
    };
    for (key, _) in t.map.iter() {
        let key = key.get_ref().as_ref();
        if key != "style" && PAGINATION_KEYS.contains(&key) && !applicable.contains(&key) {
            let span = r.span_of(&t, key);
            r.problem(
                span,
                t.key_path(key),
                format!("`{key}` does not apply to pagination style \"{style}\""),
            );
        }
    }
    let max_pages = r
        .uint(&t, "max_pages", 1..=10_000_000)
        .unwrap_or(defaults::MAX_PAGES);
    let size = r.uint(&t, "size", 1..=100_000);
    match style.as_str() {
        "page" => Pagination::Page {
            page_param: r
                .string(&t, "page_param", false)
                .unwrap_or_else(|| "page".into()),
            size_param: r
                .string(&t, "size_param", false)
                .unwrap_or_else(|| "per_page".into()),
            size: size.unwrap_or(defaults::PAGE_SIZE),
            first_page: r
                .uint(&t, "first_page", 0..=1)
                .unwrap_or(defaults::FIRST_PAGE),
            max_pages,
        },
        "offset" => Pagination::Offset {
            offset_param: r
                .string(&t, "offset_param", false)
                .unwrap_or_else(|| "offset".into()),
            size_param: r
                .string(&t, "size_param", false)
                .unwrap_or_else(|| "limit".into()),
            size: size.unwrap_or(defaults::PAGE_SIZE),
            max_pages,
        },
        "cursor" => Pagination::Cursor {
            cursor_param: r.string(&t, "cursor_param", true).unwrap_or_default(),
            cursor_position: split_dotted(
                &read_dotted(r, &t, "cursor_position", true).unwrap_or_default(),
            ),
            size_param: r.string(&t, "size_param", false),
            size,
            max_pages,
        },
        "link" => Pagination::Link {
            next_link_position: split_dotted(
                &read_dotted(r, &t, "next_link_position", true).unwrap_or_default(),
            ),
            max_pages,
        },
        _ => Pagination::None,
    }
}

fn read_credentials(
    r: &mut Reader,
    tables: &[Table],
    base_dir: &Path,
    env: &Environment,
) -> Vec<Credential> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for t in tables {
        r.check_keys(t, CREDENTIAL_KEYS);
        let name = r.string(t, "name", true).unwrap_or_default();
        if !name.is_empty() && !seen.insert(name.clone()) {
            let span = r.span_of(t, "name");
            r.problem(
                span,
                t.key_path("name"),
                format!("duplicate credential name \"{name}\""),
            );
        }
        let kind_name = r.string(t, "kind", true).unwrap_or_default();
        let applicable: &[&str] = match kind_name.as_str() {
            "none" | "" => &[],
            "bearer" => &["token"],
            "basic" => &["username", "password"],
            "header" => &["header", "value"],
            other => {
                let span = r.span_of(t, "kind");
                r.problem(
                    span,
                    t.key_path("kind"),
                    format!("unknown credential kind \"{other}\" (expected bearer, basic, header or none)"),
                );
                &[]
            }
        };
        for key in ["token", "username", "password", "header", "value"] {
            if t.map.get(key).is_some() && !applicable.contains(&key) && !kind_name.is_empty() {
                let span = r.span_of(t, key);
                r.problem(
                    span,
                    t.key_path(key),
                    format!("`{key}` does not apply to credential kind \"{kind_name}\""),
                );
            }
        }
        let kind = match kind_name.as_str() {
            "bearer" => read_secret(r, t, "token", base_dir, env)
                .map(|token| CredentialKind::Bearer { token }),
            "basic" => {
                // Not a secret, so it may be written as it is; a reference is resolved too.
                let username = match r.spanned_string(t, "username", true) {
                    Some((text, span)) if text.starts_with("env:") || text.starts_with("file:") => {
                        match secret::parse_ref(&text, base_dir)
                            .and_then(|reference| secret::resolve(&reference, env))
                        {
                            Ok(value) => Some(value.expose().to_string()),
                            Err(problem) => {
                                r.problem(
                                    span,
                                    t.key_path("username"),
                                    secret_problem(t, &problem),
                                );
                                None
                            }
                        }
                    }
                    other => other.map(|(text, _)| text),
                };
                let password = read_secret(r, t, "password", base_dir, env);
                username
                    .zip(password)
                    .map(|(username, password)| CredentialKind::Basic { username, password })
            }
            "header" => {
                let header = r.spanned_string(t, "header", true);
                if let Some((header, span)) = &header
                    && reqwest::header::HeaderName::from_bytes(header.as_bytes()).is_err()
                {
                    r.problem(
                        span.clone(),
                        t.key_path("header"),
                        format!("\"{header}\" is not a valid HTTP header name"),
                    );
                }
                let value = read_secret(r, t, "value", base_dir, env);
                header
                    .zip(value)
                    .map(|((header, _), value)| CredentialKind::Header { header, value })
            }
            _ => Some(CredentialKind::None),
        };
        out.push(Credential {
            name,
            kind: kind.unwrap_or(CredentialKind::None),
        });
    }
    out
}

/// A credential value: only `env:NAME` or `file:PATH`, resolved now so a missing one is named.
fn read_secret(
    r: &mut Reader,
    t: &Table,
    key: &str,
    base_dir: &Path,
    env: &Environment,
) -> Option<Secret> {
    let (text, span) = r.spanned_string(t, key, true)?;
    let outcome =
        secret::parse_ref(&text, base_dir).and_then(|reference| secret::resolve(&reference, env));
    match outcome {
        Ok(secret) => Some(secret),
        Err(problem) => {
            r.problem(span, t.key_path(key), secret_problem(t, &problem));
            None
        }
    }
}

/// A secret's problem, naming the credential when its value cannot be sent.
fn secret_problem(t: &Table, problem: &secret::SecretProblem) -> String {
    let name = match t.map.get("name").map(|v| v.get_ref()) {
        Some(toml::de::DeValue::String(name)) => Some(name),
        _ => None,
    };
    match (problem, name) {
        (secret::SecretProblem::Unsendable(..), Some(name)) => {
            format!("credential \"{name}\": {problem}")
        }
        _ => problem.to_string(),
    }
}

fn read_connection(r: &mut Reader, t: &Table, credentials: &HashSet<String>) -> Connection {
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
    let fetch = r.table(t, "fetch", true).map(|f| read_fetch(r, &f));
    let update = r
        .table(t, "update", true)
        .map(|u| read_write_contract(r, &u, false));
    let create = r
        .table(t, "create", false)
        .map(|c| read_write_contract(r, &c, true));
    let mapping = read_mapping(r, t);
    Connection {
        system: r.string(t, "system", false).unwrap_or_else(|| name.clone()),
        name,
        credential,
        base_url: read_base_url(r, t),
        dry_run: r.bool(t, "dry_run").unwrap_or(defaults::DRY_RUN),
        concurrency: r
            .uint(t, "concurrency", 1..=256)
            .map_or(defaults::CONCURRENCY, |n| n as usize),
        max_retries: r
            .uint(t, "max_retries", 0..=20)
            .map_or(defaults::MAX_RETRIES, |n| n as u32),
        timeout_secs: r
            .uint(t, "timeout_secs", 1..=600)
            .unwrap_or(defaults::TIMEOUT_SECS),
        rate_limit_per_sec: r.positive_float(t, "rate_limit_per_sec"),
        abort_after: r
            .uint(t, "abort_after", 1..=100_000)
            .map_or(defaults::ABORT_AFTER, |n| n as u32),
        verify: r.bool(t, "verify").unwrap_or(defaults::VERIFY),
        fetch: fetch.unwrap_or_else(empty_fetch),
        update: update.unwrap_or_else(empty_write),
        create,
        mapping,
    }
}

fn check_credential_ref(
    r: &mut Reader,
    t: &Table,
    credential: Option<&str>,
    credentials: &HashSet<String>,
) {
    if let Some(name) = credential
        && !credentials.contains(name)
    {
        let span = r.span_of(t, "credential");
        let mut known: Vec<&str> = credentials.iter().map(String::as_str).collect();
        known.sort_unstable();
        let known = if known.is_empty() {
            "no [[credentials]] are defined".to_string()
        } else {
            format!("defined: {}", known.join(", "))
        };
        r.problem(
            span,
            t.key_path("credential"),
            format!("credential \"{name}\" is not defined in [[credentials]] ({known})"),
        );
    }
}

fn read_fetch(r: &mut Reader, t: &Table) -> FetchContract {
    r.check_keys(t, FETCH_KEYS);
    let path = read_path(r, t, "path", &["serial"]).unwrap_or_default();
    let query = read_query(r, t, "query");
    let bulk = r.bool(t, "bulk").unwrap_or(false);
    let serial_in_query = query.values().any(|v| v.contains("{serial}"));
    if !path.is_empty() && !path.contains("{serial}") && !serial_in_query {
        let span = r.span_of(t, "path");
        r.problem(
            span,
            t.key_path("path"),
            "a lookup must name the serial: put {serial} in `path` or in a `query` value",
        );
    }
    if bulk && path.contains("{serial}") {
        let span = r.span_of(t, "bulk");
        r.problem(
            span,
            t.key_path("bulk"),
            "bulk = true lists the destination at `path`, which must not contain {serial} (put the serial in `query`)",
        );
    }
    FetchContract {
        path,
        query,
        results_position: read_results_position(r, t),
        serial_field: read_dotted(r, t, "serial_field", true).unwrap_or_default(),
        id_field: read_dotted(r, t, "id_field", true).unwrap_or_default(),
        bulk,
        pagination: read_pagination(r, t),
    }
}

fn read_write_contract(r: &mut Reader, t: &Table, is_create: bool) -> WriteContract {
    r.check_keys(t, WRITE_KEYS);
    let allowed: &[&str] = if is_create {
        &["serial"]
    } else {
        &["id", "serial"]
    };
    let path = read_path(r, t, "path", allowed).unwrap_or_default();
    if !is_create && !path.is_empty() && !path.contains("{id}") && !path.contains("{serial}") {
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
    WriteContract { method, path, body }
}

fn read_mapping(r: &mut Reader, connection: &Table) -> Vec<MappingRule> {
    let tables = r.tables(connection, "mapping");
    if tables.is_empty() {
        r.problem(
            connection.span.clone(),
            connection.key_path("mapping"),
            "no [[connections.mapping]] rules: a connection needs at least one field rule",
        );
    }
    let mut targets = HashSet::new();
    let mut out = Vec::new();
    for t in &tables {
        r.check_keys(t, MAPPING_KEYS);
        let source = read_dotted(r, t, "source", true).unwrap_or_default();
        let target = read_dotted(r, t, "target", true).unwrap_or_default();
        if !target.is_empty() && !targets.insert(target.clone()) {
            let span = r.span_of(t, "target");
            r.problem(
                span,
                t.key_path("target"),
                format!("target \"{target}\" is written by an earlier rule too"),
            );
        }
        let format = read_format(r, t);
        let on_null = match r.spanned_string(t, "on_null", false) {
            None => OnNull::Skip,
            Some((v, _)) if v == "skip" => OnNull::Skip,
            Some((v, _)) if v == "clear" => OnNull::Clear,
            Some((v, span)) => {
                r.problem(
                    span,
                    t.key_path("on_null"),
                    format!("unknown on_null \"{v}\" (expected skip or clear)"),
                );
                OnNull::Skip
            }
        };
        let on_same = match r.spanned_string(t, "on_same", false) {
            None => OnSame::Skip,
            Some((v, _)) if v == "skip" => OnSame::Skip,
            Some((v, _)) if v == "write" => OnSame::Write,
            Some((v, span)) => {
                r.problem(
                    span,
                    t.key_path("on_same"),
                    format!("unknown on_same \"{v}\" (expected skip or write)"),
                );
                OnSame::Skip
            }
        };
        out.push(MappingRule {
            source,
            target,
            format,
            required: r.bool(t, "required").unwrap_or(false),
            on_null,
            on_same,
        });
    }
    out
}

const FORMATS: &str = "string, integer, float, boolean, upper, lower, trim, date:<strftime> or map";

fn read_format(r: &mut Reader, t: &Table) -> Option<Format> {
    let values = r.scalar_map(t, "values");
    let spanned = r.spanned_string(t, "format", false);
    let format = match spanned.as_ref().map(|(f, _)| f.as_str()) {
        None => None,
        Some("string") => Some(Format::String),
        Some("integer") => Some(Format::Integer),
        Some("float") => Some(Format::Float),
        Some("boolean") => Some(Format::Boolean),
        Some("upper") => Some(Format::Upper),
        Some("lower") => Some(Format::Lower),
        Some("trim") => Some(Format::Trim),
        Some("map") => match &values {
            Some(values) => Some(Format::Map(values.clone())),
            None => {
                let span = r.span_of(t, "format");
                r.problem(
                    span,
                    t.key_path("values"),
                    "format = \"map\" needs a `values` table, e.g. values = { in_use = \"In Use\" }",
                );
                None
            }
        },
        Some(other) => match other.strip_prefix("date:") {
            Some(pattern) if is_valid_strftime(pattern) => Some(Format::Date(pattern.to_string())),
            Some(pattern) => {
                let span = r.span_of(t, "format");
                r.problem(
                    span,
                    t.key_path("format"),
                    format!("\"{pattern}\" is not a valid strftime pattern (e.g. date:%Y-%m-%d)"),
                );
                None
            }
            None => {
                let span = r.span_of(t, "format");
                r.problem(
                    span,
                    t.key_path("format"),
                    format!("unknown formatter \"{other}\" (expected {FORMATS})"),
                );
                None
            }
        },
    };
    if values.is_some() && !matches!(spanned.as_ref().map(|(f, _)| f.as_str()), Some("map")) {
        let span = r.span_of(t, "values");
        r.problem(
            span,
            t.key_path("values"),
            "`values` applies only to format = \"map\"",
        );
    }
    format
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

/// `base_url`: an http(s) URL with a host, no credentials, no query.
fn read_base_url(r: &mut Reader, t: &Table) -> String {
    let Some((text, span)) = r.spanned_string(t, "base_url", true) else {
        return String::new();
    };
    let key = t.key_path("base_url");
    match reqwest::Url::parse(&text) {
        Err(e) => r.problem(
            span,
            key,
            format!("\"{text}\" is not a URL ({e}); expected e.g. http://127.0.0.1:7300"),
        ),
        Ok(url) => {
            if !url.username().is_empty() || url.password().is_some() {
                // Never echo the URL: it holds a secret.
                r.problem(
                    span,
                    key,
                    "inline secret: base_url must not carry a user or password; use [[credentials]]",
                );
            } else if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
                r.problem(
                    span,
                    key,
                    format!("expected an http:// or https:// URL, found \"{text}\""),
                );
            } else if url.query().is_some() || url.fragment().is_some() {
                r.problem(
                    span,
                    key,
                    "base_url must not have a query or fragment (use `query` tables)",
                );
            }
        }
    }
    text.trim_end_matches('/').to_string()
}

/// A URL path starting with '/', with only the allowed `{placeholders}`.
fn read_path(r: &mut Reader, t: &Table, key: &str, placeholders: &[&str]) -> Option<String> {
    let (path, span) = r.spanned_string(t, key, true)?;
    if !path.starts_with('/') {
        r.problem(
            span.clone(),
            t.key_path(key),
            format!("expected a path starting with '/', found \"{path}\""),
        );
    }
    check_placeholders(r, span, &t.key_path(key), &path, placeholders);
    Some(path)
}

fn read_query(r: &mut Reader, t: &Table, key: &str) -> BTreeMap<String, String> {
    let query = r.string_map(t, key);
    for (name, value) in &query {
        let span = r.span_of(t, key);
        let path = format!("{}.{name}", t.key_path(key));
        check_placeholders(r, span.clone(), &path, value, &["serial"]);
        let lower = name.to_ascii_lowercase();
        let looks_secret = ["token", "secret", "password", "apikey", "api_key", "auth"]
            .iter()
            .any(|word| lower.contains(word));
        if looks_secret && !value.contains('{') {
            r.problem(
                span,
                path,
                "inline secret: a query parameter that looks like a credential; use a [[credentials]] entry",
            );
        }
    }
    query
}

fn check_placeholders(
    r: &mut Reader,
    span: std::ops::Range<usize>,
    key: &str,
    text: &str,
    allowed: &[&str],
) {
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            r.problem(span, key, format!("unclosed '{{' in \"{text}\""));
            return;
        };
        let name = &after[..close];
        if !allowed.contains(&name) {
            let expected = if allowed.is_empty() {
                "no placeholders here".to_string()
            } else {
                allowed
                    .iter()
                    .map(|a| format!("{{{a}}}"))
                    .collect::<Vec<_>>()
                    .join(" or ")
            };
            let why = if name == "id" {
                " (a create path cannot use {id}: the record does not exist yet)"
            } else {
                ""
            };
            r.problem(
                span.clone(),
                key,
                format!("placeholder {{{name}}} is not allowed here{why}; expected {expected}"),
            );
        }
        rest = &after[close + 1..];
    }
}

fn read_results_position(r: &mut Reader, t: &Table) -> ResultsPosition {
    match r.spanned_string(t, "results_position", false) {
        None => ResultsPosition::Root,
        Some((text, span)) => ResultsPosition::parse(&text).unwrap_or_else(|| {
            r.problem(
                span,
                t.key_path("results_position"),
                format!("\"{text}\" is not a dotted path such as data.items (or _root)"),
            );
            ResultsPosition::Root
        }),
    }
}

/// A dotted path such as `hardware.memory_gb`.
fn read_dotted(r: &mut Reader, t: &Table, key: &str, required: bool) -> Option<String> {
    let (text, span) = r.spanned_string(t, key, required)?;
    if text.split('.').any(|s| s.trim().is_empty()) {
        r.problem(
            span,
            t.key_path(key),
            format!("\"{text}\" is not a dotted path such as hardware.memory_gb"),
        );
    }
    Some(text)
}

fn split_dotted(text: &str) -> Vec<String> {
    text.split('.').map(str::to_string).collect()
}

fn is_valid_strftime(pattern: &str) -> bool {
    use chrono::format::{Item, StrftimeItems};
    !pattern.is_empty() && StrftimeItems::new(pattern).all(|item| !matches!(item, Item::Error))
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
    }
}

fn empty_write() -> WriteContract {
    WriteContract {
        method: Method::Patch,
        path: String::new(),
        body: BodyFormat::Json,
    }
}
