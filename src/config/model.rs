//! The validated configuration (SPEC section 7). Built only by [`super::load`], so every value
//! here has been checked: the engine never re-validates.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

pub use super::position::Position;
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
    pub const MAX_RETRY_AFTER_SECS: u64 = 120;
    /// The most requests in flight a connection with `concurrency = "auto"` grows to.
    pub const AUTO_CONCURRENCY_CEILING: usize = 64;
    /// Where an `concurrency = "auto"` connection starts.
    pub const AUTO_CONCURRENCY_START: usize = 4;
}

/// A whole configuration file.
#[derive(Clone, Debug, Serialize)]
pub struct Config {
    /// The file it was read from.
    pub file: PathBuf,
    /// The sources records are listed from (`[source]`, or `[[sources]]`), at least one.
    pub sources: Vec<Source>,
    pub credentials: Vec<Credential>,
    /// Connections in config order, which is their execution order.
    pub connections: Vec<Connection>,
    pub store: StoreSettings,
    pub ui: UiSettings,
    /// `[[alerts]]`: webhooks told when a run ends badly (SPEC section 10).
    pub alerts: Vec<Alert>,
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

    /// The source with this name.
    pub fn source(&self, name: &str) -> Option<&Source> {
        self.sources.iter().find(|s| s.name == name)
    }

    /// The source a connection reads (validated to exist, so the first source only as a
    /// fallback for a config built by hand).
    pub fn source_of(&self, connection: &Connection) -> &Source {
        self.source(&connection.source)
            .or_else(|| self.sources.first())
            .expect("a validated config has a source")
    }

    /// The sources' names, for screens: "Fleet inventory", "Jamf Pro + Intune".
    pub fn sources_label(&self) -> String {
        self.sources
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(" + ")
    }

    /// The source a connection reads, by connection name, when the config has several (None
    /// with one source: nothing to tell apart).
    pub fn shown_source(&self, connection: &str) -> Option<&str> {
        if self.sources.len() < 2 {
            return None;
        }
        self.connection(connection).map(|c| c.source.as_str())
    }

    /// The first source: the only one of a config with a single `[source]`.
    pub fn primary_source(&self) -> &Source {
        self.sources
            .first()
            .expect("a validated config has a source")
    }
}

/// Where the list of a response sits: the bare body, a position in it, or (lookups only) the
/// body is the one record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub enum ResultsPosition {
    /// `_root`: the body is the list.
    Root,
    /// `data.items` or `/value`: the list sits there.
    Path(Position),
    /// `_single`: the body is the record itself; 404 means there is none.
    Single,
}

impl ResultsPosition {
    /// Parses `_root`, `_single`, a dotted path with no empty segment or a JSON Pointer.
    pub fn parse(text: &str) -> Option<ResultsPosition> {
        match text {
            "_root" => Some(ResultsPosition::Root),
            "_single" => Some(ResultsPosition::Single),
            _ => Position::parse(text).map(ResultsPosition::Path),
        }
    }
}

impl From<ResultsPosition> for String {
    fn from(position: ResultsPosition) -> String {
        match position {
            ResultsPosition::Root => "_root".to_string(),
            ResultsPosition::Single => "_single".to_string(),
            ResultsPosition::Path(position) => position.to_string(),
        }
    }
}

/// How a listing is paged (`[source.pagination]`, `[connections.fetch.pagination]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "style", rename_all = "lowercase")]
pub enum Pagination {
    /// One request.
    None,
    /// `?page=N&per_page=M`, from `first_page`; see [`PageStop`] for where it ends.
    Page {
        page_param: String,
        size_param: String,
        size: u64,
        first_page: u64,
        max_pages: u64,
    },
    /// `?offset=O&limit=M`; see [`PageStop`] for where it ends.
    Offset {
        offset_param: String,
        size_param: String,
        size: u64,
        max_pages: u64,
    },
    /// `?cursor=C`, the next cursor read at `cursor_position`; stops when absent or null.
    Cursor {
        cursor_param: String,
        cursor_position: Position,
        size_param: Option<String>,
        size: Option<u64>,
        max_pages: u64,
    },
    /// The next page's URL read at `next_link_position`; stops when absent or null.
    Link {
        next_link_position: Position,
        max_pages: u64,
    },
    /// The next page's URL in the RFC 8288 `Link` header (`rel="next"`); stops without one.
    #[serde(rename = "link_header")]
    LinkHeader {
        size_param: Option<String>,
        size: Option<u64>,
        max_pages: u64,
    },
}

/// When a page or offset listing ends, and how a listing proves it saw everything.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PageStop {
    /// Where the listing's total record count is given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<TotalAt>,
    /// Stop a page/offset listing at a short page (else only at an empty one).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub at_short_page: bool,
}

impl PageStop {
    pub fn is_default(&self) -> bool {
        *self == PageStop::default()
    }
}

/// Where a listing's total count is read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TotalAt {
    /// `total_position`: in the body of each page.
    Position(Position),
    /// `total_header`: in a response header (`X-Total-Count`).
    Header(String),
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
    /// Totals and where page/offset listings stop.
    pub stop: PageStop,
    pub timeout_secs: u64,
    /// Fixed query parameters added to every request of the listing (`section=HARDWARE`);
    /// a key may repeat.
    pub query: Vec<(String, String)>,
    /// Extra headers sent with every request to the source (never `Authorization`).
    pub headers: Vec<(String, String)>,
    /// Requests per second at most to the source.
    pub rate_limit_per_sec: Option<f64>,
    /// The longest `Retry-After` waited out.
    pub max_retry_after_secs: u64,
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
    Bearer {
        token: Secret,
    },
    Basic {
        username: String,
        password: Secret,
    },
    Header {
        header: String,
        value: Secret,
    },
    /// An OAuth 2.0 client-credentials grant (RFC 6749 section 4.4): the token is asked for at
    /// `token_url` and sent as a bearer token.
    #[serde(rename = "oauth2_client_credentials")]
    OAuth2ClientCredentials {
        token_url: String,
        client_id: String,
        client_secret: Secret,
        scope: Option<String>,
    },
    /// A token asked for at `token_url` with basic auth (Jamf Pro's `/api/v1/auth/token`), read
    /// at `token_position` and sent as a bearer token.
    #[serde(rename = "token_exchange")]
    TokenExchange {
        /// Absolute, or relative to the system's base URL.
        token_url: String,
        username: String,
        password: Secret,
        token_position: Position,
        /// Where the answer says when the token expires: a time, or seconds from now.
        expires_position: Option<Position>,
    },
}

impl CredentialKind {
    /// `bearer`, `basic`, `header`, `none`, ...: safe to show.
    pub fn label(&self) -> &'static str {
        match self {
            CredentialKind::None => "none",
            CredentialKind::Bearer { .. } => "bearer",
            CredentialKind::Basic { .. } => "basic",
            CredentialKind::Header { .. } => "header",
            CredentialKind::OAuth2ClientCredentials { .. } => "oauth2_client_credentials",
            CredentialKind::TokenExchange { .. } => "token_exchange",
        }
    }
}

/// A check on a JSON answer: the value at `path` equals `equals` (numbers by value).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Condition {
    pub path: String,
    pub equals: serde_json::Value,
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
    /// Totals and where the bulk listing's pages stop.
    #[serde(skip_serializing_if = "PageStop::is_default")]
    pub stop: PageStop,
    /// A 2xx lookup answer that matches is Missing Destination (a "not found" inside a 200).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing_when: Option<Condition>,
}

/// How to write a record: the update contract, or the create contract.
#[derive(Clone, Debug, Serialize)]
pub struct WriteContract {
    pub method: Method,
    /// Path with `{id}` and/or `{serial}` placeholders (a create path has no `{id}`).
    pub path: String,
    pub body: BodyFormat,
    /// A 2xx whose JSON body does not match is Failed (an error inside a 200).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub success_when: Option<Condition>,
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

/// One mapping rule: source path (or a constant) → target path.
#[derive(Clone, Debug, Serialize)]
pub struct MappingRule {
    /// Dotted path in the source record; empty when the rule writes a constant `value`.
    pub source: String,
    /// A constant written instead of a source value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
    pub target: String,
    /// The destination path compared with, when it differs from `target` (NetBox's
    /// `status.value` for a `status` written as a plain value).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compare: Option<String>,
    /// The `[[connections.lookups]]` table that turns the value into the destination's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lookup: Option<String>,
    /// None: the source value as it is.
    pub format: Option<Format>,
    pub required: bool,
    pub on_null: OnNull,
    pub on_same: OnSame,
}

/// A name → id table of the destination (`[[connections.lookups]]`), listed once per run.
#[derive(Clone, Debug, Serialize)]
pub struct LookupTable {
    pub name: String,
    pub path: String,
    pub results_position: ResultsPosition,
    /// Dotted path of the name in each listed record.
    pub key: String,
    /// Dotted path of the id in each listed record.
    pub value: String,
    pub query: Vec<(String, String)>,
    pub pagination: Pagination,
    #[serde(skip_serializing_if = "PageStop::is_default")]
    pub stop: PageStop,
}

/// One destination system.
#[derive(Clone, Debug, Serialize)]
pub struct Connection {
    pub name: String,
    pub system: String,
    /// The name of the source it reads.
    #[serde(skip)]
    pub source: String,
    pub credential: Option<String>,
    pub base_url: String,
    pub dry_run: bool,
    /// Requests in flight; with `concurrency_auto`, the most it grows to.
    pub concurrency: usize,
    /// `concurrency = "auto"`: back off on 429/503/timeouts, grow back while answers stay fast.
    #[serde(skip)]
    pub concurrency_auto: bool,
    pub max_retries: u32,
    pub timeout_secs: u64,
    pub rate_limit_per_sec: Option<f64>,
    #[serde(skip)]
    pub max_retry_after_secs: u64,
    pub abort_after: u32,
    pub verify: bool,
    /// Extra headers sent with every request (never `Authorization`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<(String, String)>,
    pub fetch: FetchContract,
    pub update: WriteContract,
    pub create: Option<WriteContract>,
    pub mapping: Vec<MappingRule>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lookups: Vec<LookupTable>,
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

/// One `[[alerts]]` webhook: where to post, on which run endings, in which shape.
#[derive(Clone, Debug, Serialize)]
pub struct Alert {
    /// Its name in logs and on screen (`name`, else `alert N`): never the URL, a secret.
    pub name: String,
    /// The webhook URL, itself a secret reference (a Slack webhook URL is a credential).
    pub url: Secret,
    /// The endings it is posted on.
    pub on: Vec<AlertOn>,
    pub format: AlertFormat,
}

/// A run ending an alert can be posted on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertOn {
    /// The run ended Failed (a connection failed, or the store could not record).
    Failed,
    /// The run ran, and some of its records failed.
    RecordsFailed,
    Incomplete,
    /// The process running it ended mid-run (found by the next open of the store).
    Interrupted,
    Canceled,
}

impl AlertOn {
    pub const ALL: [AlertOn; 5] = [
        AlertOn::Failed,
        AlertOn::RecordsFailed,
        AlertOn::Incomplete,
        AlertOn::Interrupted,
        AlertOn::Canceled,
    ];

    /// The config word.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertOn::Failed => "failed",
            AlertOn::RecordsFailed => "records_failed",
            AlertOn::Incomplete => "incomplete",
            AlertOn::Interrupted => "interrupted",
            AlertOn::Canceled => "canceled",
        }
    }
}

/// The body an alert posts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertFormat {
    /// A Slack incoming-webhook message (`{"text": …}` in mrkdwn).
    Slack,
    /// syncdeck's own JSON object, for any HTTP endpoint.
    Json,
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
