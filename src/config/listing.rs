//! Listings in the config: the sources (`[source]` or `[[sources]]`), pagination with its
//! totals and stops, positions (dotted paths or JSON Pointers), fixed query parameters and
//! headers, and the `[[connections.lookups]]` tables.

use std::collections::HashSet;

use super::fields::{
    check_credential_ref, check_placeholders, read_base_url, read_dotted, read_path, read_query,
};
use super::model::*;
use super::reader::{Reader, Table};

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
    "query",
    "headers",
    "rate_limit_per_sec",
    "max_retry_after_secs",
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
    "total_position",
    "total_header",
    "stop_at",
];
const LOOKUP_KEYS: &[&str] = &[
    "name",
    "path",
    "results_position",
    "key",
    "value",
    "query",
    "pagination",
];
const STYLES: &str = "none, page, offset, cursor, link or link_header";

/// `[source]` or `[[sources]]` (not both), each source with a unique name.
pub(super) fn read_sources(
    r: &mut Reader,
    root: &Table,
    credentials: &HashSet<String>,
) -> Vec<Source> {
    let single = root.map.get("source").is_some();
    let many = root.map.get("sources").is_some();
    if single && many {
        let span = r.span_of(root, "sources");
        r.problem(
            span,
            "sources",
            "both [source] and [[sources]]: keep one (name each source in [[sources]])",
        );
    }
    if !single && !many {
        r.problem(
            root.span.start..root.span.start,
            "source",
            "missing [source] (or [[sources]]): the API the records are listed from",
        );
        return Vec::new();
    }
    if single {
        return r
            .table(root, "source", true)
            .map(|t| vec![read_source(r, &t, false, credentials)])
            .unwrap_or_default();
    }
    let tables = r.tables(root, "sources");
    if tables.is_empty() {
        let span = r.span_of(root, "sources");
        r.problem(
            span,
            "sources",
            "[[sources]] is empty: at least one source is needed",
        );
    }
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for t in &tables {
        let source = read_source(r, t, true, credentials);
        if !seen.insert(source.name.clone()) {
            let span = r.span_of(t, "name");
            r.problem(
                span,
                t.key_path("name"),
                format!("duplicate source name \"{}\"", source.name),
            );
        }
        out.push(source);
    }
    out
}

fn read_source(r: &mut Reader, t: &Table, named: bool, credentials: &HashSet<String>) -> Source {
    r.check_keys(t, SOURCE_KEYS);
    let credential = r.string(t, "credential", false);
    check_credential_ref(r, t, credential.as_deref(), credentials);
    let base_url = read_base_url(r, t);
    let endpoint = read_path(r, t, "endpoint", &[]).unwrap_or_default();
    if endpoint.contains('?') {
        let span = r.span_of(t, "endpoint");
        r.problem(
            span,
            t.key_path("endpoint"),
            "a '?' in the endpoint would be sent percent-encoded: put its parameters in `query` (e.g. query = { section = \"HARDWARE\" })",
        );
    }
    let single_query = read_query(r, t, "single_query");
    let results_position = read_results_position(r, t);
    if results_position == ResultsPosition::Single {
        let span = r.span_of(t, "results_position");
        r.problem(
            span,
            t.key_path("results_position"),
            "\"_single\" applies to lookups only: a source listing is a list",
        );
    }
    let (pagination, stop) = read_pagination(r, t);
    Source {
        name: r
            .string(t, "name", named)
            .unwrap_or_else(|| "source".into()),
        base_url,
        endpoint,
        results_position,
        id_field: read_dotted(r, t, "id_field", true).unwrap_or_default(),
        single_query,
        credential,
        pagination,
        stop,
        timeout_secs: r
            .uint(t, "timeout_secs", 1..=600)
            .unwrap_or(defaults::SOURCE_TIMEOUT_SECS),
        query: read_fixed_query(r, t),
        headers: read_headers(r, t),
        rate_limit_per_sec: r.positive_float(t, "rate_limit_per_sec"),
        max_retry_after_secs: read_max_retry_after(r, t),
    }
}

/// `max_retry_after_secs`, 1 second to a day (ServiceNow's hourly limits ask for an hour).
pub(super) fn read_max_retry_after(r: &mut Reader, t: &Table) -> u64 {
    r.uint(t, "max_retry_after_secs", 1..=86_400)
        .unwrap_or(defaults::MAX_RETRY_AFTER_SECS)
}

/// The pagination table of a listing, with its totals and stop.
pub(super) fn read_pagination(r: &mut Reader, parent: &Table) -> (Pagination, PageStop) {
    let Some(t) = r.table(parent, "pagination", false) else {
        return (Pagination::None, PageStop::default());
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
            "stop_at",
        ],
        "offset" => &["offset_param", "size_param", "size", "max_pages", "stop_at"],
        "cursor" => &[
            "cursor_param",
            "cursor_position",
            "size_param",
            "size",
            "max_pages",
        ],
        "link" => &["next_link_position", "max_pages"],
        "link_header" => &["size_param", "size", "max_pages"],
        "" => return (Pagination::None, PageStop::default()),
        other => {
            let span = r.span_of(&t, "style");
            r.problem(
                span,
                t.key_path("style"),
                format!("unknown pagination style \"{other}\" (expected {STYLES})"),
            );
            return (Pagination::None, PageStop::default());
        }
    };
    let any_style = ["total_position", "total_header"];
    for (key, _) in t.map.iter() {
        let key = key.get_ref().as_ref();
        if key != "style"
            && PAGINATION_KEYS.contains(&key)
            && !applicable.contains(&key)
            && !any_style.contains(&key)
        {
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
    let stop = read_stop(r, &t);
    let pagination = match style.as_str() {
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
            cursor_position: read_position(r, &t, "cursor_position", true)
                .unwrap_or_else(empty_position),
            size_param: r.string(&t, "size_param", false),
            size,
            max_pages,
        },
        "link" => Pagination::Link {
            next_link_position: read_position(r, &t, "next_link_position", true)
                .unwrap_or_else(empty_position),
            max_pages,
        },
        "link_header" => Pagination::LinkHeader {
            size_param: r.string(&t, "size_param", false),
            size,
            max_pages,
        },
        _ => Pagination::None,
    };
    (pagination, stop)
}

fn read_stop(r: &mut Reader, t: &Table) -> PageStop {
    let position = read_position(r, t, "total_position", false);
    let header = r.spanned_string(t, "total_header", false);
    if let Some((name, span)) = &header
        && reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err()
    {
        r.problem(
            span.clone(),
            t.key_path("total_header"),
            format!("\"{name}\" is not a valid HTTP header name"),
        );
    }
    let total = match (position, header) {
        (Some(_), Some((_, span))) => {
            r.problem(
                span,
                t.key_path("total_header"),
                "give the total in one place: `total_position` or `total_header`",
            );
            None
        }
        (Some(position), None) => Some(TotalAt::Position(position)),
        (None, Some((header, _))) => Some(TotalAt::Header(header)),
        (None, None) => None,
    };
    let at_short_page = match r.spanned_string(t, "stop_at", false) {
        None => false,
        Some((v, _)) if v == "empty_page" => false,
        Some((v, _)) if v == "short_page" => true,
        Some((v, span)) => {
            r.problem(
                span,
                t.key_path("stop_at"),
                format!("unknown stop_at \"{v}\" (expected empty_page or short_page)"),
            );
            false
        }
    };
    PageStop {
        total,
        at_short_page,
    }
}

fn empty_position() -> Position {
    Position {
        segments: Vec::new(),
        pointer: false,
    }
}

/// A position: a dotted path (`meta.next`) or a JSON Pointer (`/@odata.nextLink`).
pub(super) fn read_position(
    r: &mut Reader,
    t: &Table,
    key: &str,
    required: bool,
) -> Option<Position> {
    let (text, span) = r.spanned_string(t, key, required)?;
    match Position::parse(&text) {
        Some(position) => Some(position),
        None => {
            r.problem(
                span,
                t.key_path(key),
                format!(
                    "\"{text}\" is not a dotted path such as meta.next, nor a JSON Pointer such as /@odata.nextLink"
                ),
            );
            None
        }
    }
}

pub(super) fn read_results_position(r: &mut Reader, t: &Table) -> ResultsPosition {
    match r.spanned_string(t, "results_position", false) {
        None => ResultsPosition::Root,
        Some((text, span)) => ResultsPosition::parse(&text).unwrap_or_else(|| {
            r.problem(
                span,
                t.key_path("results_position"),
                format!(
                    "\"{text}\" is not a dotted path such as data.items, a JSON Pointer such as /value, _root or _single"
                ),
            );
            ResultsPosition::Root
        }),
    }
}

/// `query = {…}` added to every request of a listing: no placeholders, nothing that looks
/// like a credential.
pub(super) fn read_fixed_query(r: &mut Reader, t: &Table) -> Vec<(String, String)> {
    let query = r.string_pairs(t, "query");
    for (name, value) in &query {
        let span = r.span_of(t, "query");
        let path = format!("{}.{name}", t.key_path("query"));
        check_placeholders(r, span.clone(), &path, value, &[]);
        if looks_secret(name) {
            r.problem(
                span,
                path,
                "inline secret: a query parameter that looks like a credential; use a [[credentials]] entry",
            );
        }
    }
    query
}

/// `headers = {…}` sent with every request of a system: valid names and values, never
/// `Authorization` or anything that looks like a credential (that is what credentials are for).
pub(super) fn read_headers(r: &mut Reader, t: &Table) -> Vec<(String, String)> {
    let headers = r.string_map(t, "headers");
    let mut out = Vec::new();
    for (name, value) in headers {
        let span = r.span_of(t, "headers");
        let path = format!("{}.{name}", t.key_path("headers"));
        let lower = name.to_ascii_lowercase();
        if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            r.problem(
                span,
                path,
                format!("\"{name}\" is not a valid HTTP header name"),
            );
        } else if matches!(
            lower.as_str(),
            "authorization" | "proxy-authorization" | "cookie"
        ) || looks_secret(&lower)
        {
            r.problem(
                span,
                path,
                format!(
                    "`{name}` carries a credential: use a [[credentials]] entry (kind = \"header\" for a custom one), never `headers`"
                ),
            );
        } else if reqwest::header::HeaderValue::from_str(&value).is_err() {
            r.problem(
                span,
                path,
                "not a valid HTTP header value (control characters?)",
            );
        } else {
            out.push((name, value));
        }
    }
    out
}

fn looks_secret(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [
        "token", "secret", "password", "apikey", "api_key", "api-key", "auth",
    ]
    .iter()
    .any(|word| lower.contains(word))
}

/// `[[connections.lookups]]`: name → id tables of the destination, each name unique.
pub(super) fn read_lookups(r: &mut Reader, connection: &Table) -> Vec<LookupTable> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for t in r.tables(connection, "lookups") {
        r.check_keys(&t, LOOKUP_KEYS);
        let name = r.string(&t, "name", true).unwrap_or_default();
        if !name.is_empty() && !seen.insert(name.clone()) {
            let span = r.span_of(&t, "name");
            r.problem(
                span,
                t.key_path("name"),
                format!("duplicate lookup name \"{name}\""),
            );
        }
        let results_position = read_results_position(r, &t);
        if results_position == ResultsPosition::Single {
            let span = r.span_of(&t, "results_position");
            r.problem(
                span,
                t.key_path("results_position"),
                "\"_single\" does not fit a lookup table: it lists many records",
            );
        }
        let (pagination, stop) = read_pagination(r, &t);
        out.push(LookupTable {
            name,
            path: read_path(r, &t, "path", &[]).unwrap_or_default(),
            results_position,
            key: read_dotted(r, &t, "key", true).unwrap_or_default(),
            value: read_dotted(r, &t, "value", true).unwrap_or_default(),
            query: read_fixed_query(r, &t),
            pagination,
            stop,
        });
    }
    out
}
