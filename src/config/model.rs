//! The validated configuration (SPEC section 7). Built only by [`super::load`], so every value
//! here has been checked: the engine never re-validates.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use super::secret::Secret;

/// Defaults named by the SPEC, in one place so the docs, the example and the code agree.
pub mod defaults {
    pub const DRY_RUN: bool = true;
    pub const CONCURRENCY: usize = 8;
    pub const MAX_RETRIES: u32 = 4;
    pub const TIMEOUT_SECS: u64 = 10;
    pub const SOURCE_TIMEOUT_SECS: u64 = 30;
    pub const ABORT_AFTER: u32 = 5;
    pub const VERIFY: bool = false;
    pub const MAX_PAGES: u64 = 10_000;
    pub const PAGE_SIZE: u64 = 500;
    pub const FIRST_PAGE: u64 = 1;
    pub const RETENTION_DAYS: u32 = 15;
    pub const FPS: u32 = 15;
    pub const RESULTS_POSITION: &str = "_root";
}

/// A whole configuration file.
#[derive(Clone, Debug, Serialize)]
pub struct Config {
    /// The file it was read from.
    pub file: PathBuf,
    pub source: Source,
    pub credentials: Vec<Credential>,
    /// Connections in config order, which is their execution order.
    pub connections: Vec<Connection>,
    pub store: StoreSettings,
    pub ui: UiSettings,
}

impl Config {
    /// The connection with this name.
    pub fn connection(&self, name: &str) -> Option<&Connection> {
        self.connections.iter().find(|c| c.name == name)
    }

    /// The credential with this name.
    pub fn credential(&self, name: &str) -> Option<&Credential> {
        self.credentials.iter().find(|c| c.name == name)
    }
}

/// Where the list of a response sits: the bare body, or a dotted path into it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub enum ResultsPosition {
    /// `_root`: the body is the list.
    Root,
    /// `data.items`: the list sits under these keys.
    Path(Vec<String>),
}

impl ResultsPosition {
    /// Parses `_root` or a dotted path with no empty segment.
    pub fn parse(text: &str) -> Option<ResultsPosition> {
        if text == "_root" {
            return Some(ResultsPosition::Root);
        }
        let segments: Vec<String> = text.split('.').map(str::to_string).collect();
        if segments.iter().any(|s| s.is_empty()) {
            return None;
        }
        Some(ResultsPosition::Path(segments))
    }
}

impl From<ResultsPosition> for String {
    fn from(position: ResultsPosition) -> String {
        match position {
            ResultsPosition::Root => "_root".to_string(),
            ResultsPosition::Path(segments) => segments.join("."),
        }
    }
}

/// How a listing is paged (`[source.pagination]`, `[connections.fetch.pagination]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "style", rename_all = "lowercase")]
pub enum Pagination {
    /// One request.
    None,
    /// `?page=N&per_page=M`, from `first_page`, stopping at a short or empty page.
    Page {
        page_param: String,
        size_param: String,
        size: u64,
        first_page: u64,
        max_pages: u64,
    },
    /// `?offset=O&limit=M`, stopping at a short or empty page.
    Offset {
        offset_param: String,
        size_param: String,
        size: u64,
        max_pages: u64,
    },
    /// `?cursor=C`, the next cursor read at `cursor_position`; stops when absent or null.
    Cursor {
        cursor_param: String,
        cursor_position: Vec<String>,
        size_param: Option<String>,
        size: Option<u64>,
        max_pages: u64,
    },
    /// The next page's URL read at `next_link_position`; stops when absent or null.
    Link {
        next_link_position: Vec<String>,
        max_pages: u64,
    },
}

/// The fleet API records are listed from.
#[derive(Clone, Debug, Serialize)]
pub struct Source {
    pub name: String,
    pub base_url: String,
    pub endpoint: String,
    pub results_position: ResultsPosition,
    /// Dotted path of the serial in each record.
    pub id_field: String,
    /// Query parameters of a Single run, with `{serial}` placeholders; empty = filter the listing.
    pub single_query: BTreeMap<String, String>,
    pub credential: Option<String>,
    pub pagination: Pagination,
    pub timeout_secs: u64,
}

/// A named credential context.
#[derive(Clone, Debug, Serialize)]
pub struct Credential {
    pub name: String,
    pub kind: CredentialKind,
}

/// How a credential is presented.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum CredentialKind {
    None,
    Bearer { token: Secret },
    Basic { username: String, password: Secret },
    Header { header: String, value: Secret },
}

impl CredentialKind {
    /// `bearer`, `basic`, `header` or `none`: safe to show.
    pub fn label(&self) -> &'static str {
        match self {
            CredentialKind::None => "none",
            CredentialKind::Bearer { .. } => "bearer",
            CredentialKind::Basic { .. } => "basic",
            CredentialKind::Header { .. } => "header",
        }
    }
}

/// HTTP methods a write contract may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    Patch,
    Put,
    Post,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Patch => "PATCH",
            Method::Put => "PUT",
            Method::Post => "POST",
        }
    }
}

/// How a write body is encoded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "formatter", rename_all = "lowercase")]
pub enum BodyFormat {
    Json,
    /// XML under this root element.
    Xml {
        xml_root: String,
    },
}

/// How to find the destination record for a serial.
#[derive(Clone, Debug, Serialize)]
pub struct FetchContract {
    pub path: String,
    /// Query parameters with `{serial}` placeholders.
    pub query: BTreeMap<String, String>,
    pub results_position: ResultsPosition,
    /// Dotted path of the serial in a destination record.
    pub serial_field: String,
    /// Dotted path of the destination's own id.
    pub id_field: String,
    /// List the destination once and join in memory (Full runs).
    pub bulk: bool,
    /// How the bulk listing is paged.
    pub pagination: Pagination,
}

/// How to write a record: the update contract, or the create contract.
#[derive(Clone, Debug, Serialize)]
pub struct WriteContract {
    pub method: Method,
    /// Path with `{id}` and/or `{serial}` placeholders (a create path has no `{id}`).
    pub path: String,
    pub body: BodyFormat,
}

/// What to do with a field whose source value is null.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnNull {
    /// Drop the field (null-source protection).
    Skip,
    /// Send null.
    Clear,
}

/// What to do with a field equal to the destination's current value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnSame {
    /// Drop the field (no-change protection).
    Skip,
    /// Send it anyway.
    Write,
}

/// A field formatter.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "format", content = "arg", rename_all = "lowercase")]
pub enum Format {
    String,
    Integer,
    Float,
    Boolean,
    Upper,
    Lower,
    Trim,
    /// `date:<strftime>`.
    Date(String),
    /// A value table; a value missing from it is an error.
    Map(BTreeMap<String, serde_json::Value>),
}

/// One mapping rule: source path → target path.
#[derive(Clone, Debug, Serialize)]
pub struct MappingRule {
    pub source: String,
    pub target: String,
    /// None: the source value as it is.
    pub format: Option<Format>,
    pub required: bool,
    pub on_null: OnNull,
    pub on_same: OnSame,
}

/// One destination system.
#[derive(Clone, Debug, Serialize)]
pub struct Connection {
    pub name: String,
    pub system: String,
    pub credential: Option<String>,
    pub base_url: String,
    pub dry_run: bool,
    pub concurrency: usize,
    pub max_retries: u32,
    pub timeout_secs: u64,
    pub rate_limit_per_sec: Option<f64>,
    pub abort_after: u32,
    pub verify: bool,
    pub fetch: FetchContract,
    pub update: WriteContract,
    pub create: Option<WriteContract>,
    pub mapping: Vec<MappingRule>,
}

impl Connection {
    /// A short stable hash of everything that decides what this connection writes (contracts,
    /// mapping, credential context name — never secret values). A Full Live run asks for
    /// confirmation when it differs from the last clean Full Dry run's.
    pub fn config_hash(&self) -> String {
        let mut shape = self.clone();
        // Settings that change how fast or how safely, not what is written.
        shape.dry_run = defaults::DRY_RUN;
        shape.concurrency = defaults::CONCURRENCY;
        shape.max_retries = defaults::MAX_RETRIES;
        shape.timeout_secs = defaults::TIMEOUT_SECS;
        shape.rate_limit_per_sec = None;
        shape.abort_after = defaults::ABORT_AFTER;
        let bytes = serde_json::to_vec(&shape).unwrap_or_default();
        blake3::hash(&bytes).to_hex()[..16].to_string()
    }
}

/// `[store]`.
#[derive(Clone, Debug, Serialize)]
pub struct StoreSettings {
    /// The store file; None = the platform data dir.
    pub path: Option<PathBuf>,
    pub retention_days: u32,
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings {
            path: None,
            retention_days: defaults::RETENTION_DAYS,
        }
    }
}

/// Colour theme.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Theme {
    Default,
    /// No colours: emphasis by reverse video and bold.
    Mono,
}

/// `[ui]`.
#[derive(Clone, Debug, Serialize)]
pub struct UiSettings {
    /// Frame cap.
    pub fps: u32,
    pub theme: Theme,
}

impl Default for UiSettings {
    fn default() -> Self {
        UiSettings {
            fps: defaults::FPS,
            theme: Theme::Default,
        }
    }
}
