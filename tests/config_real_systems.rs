//! The config keys of SPEC section 11: every mistake with them is reported at once with its
//! line and key path, and a valid use loads into the model.

use std::path::Path;

use syncdeck::config::{
    self, ConfigError, CredentialKind, Environment, Pagination, Problem, ResultsPosition, TotalAt,
};

fn env() -> Environment {
    Environment::with_fallbacks([("SYNCDECK_TEST_RS_SECRET", "s3cret-value")])
}

fn problems(text: &str) -> Vec<Problem> {
    match config::parse(text, Path::new("/etc/syncdeck/real.toml"), &env()) {
        Ok(_) => panic!("expected problems, the config was accepted"),
        Err(ConfigError::Invalid { problems, .. }) => problems,
        Err(other) => panic!("unexpected error {other}"),
    }
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle} not in text"))
        + 1
}

fn assert_problem(problems: &[Problem], line: usize, key: &str, words: &str) {
    assert!(
        problems
            .iter()
            .any(|p| p.line == line && p.key == key && p.message.contains(words)),
        "no problem at line {line} for {key} saying {words:?}; got:\n{problems:#?}"
    );
}

const VALID: &str = r#"
[[sources]]
name = "Jamf Pro"
base_url = "https://jamf.example.com"
endpoint = "/api/v1/computers-inventory"
query = { section = ["GENERAL", "HARDWARE"], sort = "id:asc" }
headers = { Accept = "application/json" }
results_position = "/results"
id_field = "hardware.serialNumber"
credential = "jamf"
rate_limit_per_sec = 5
max_retry_after_secs = 3600
[sources.pagination]
style = "page"
first_page = 0
size_param = "page-size"
size = 100
total_position = "totalCount"

[[sources]]
name = "Intune"
base_url = "https://graph.example.com"
endpoint = "/v1.0/deviceManagement/managedDevices"
results_position = "value"
id_field = "serialNumber"
credential = "graph"
[sources.pagination]
style = "link"
next_link_position = "/@odata.nextLink"

[[credentials]]
name = "jamf"
kind = "token_exchange"
token_url = "/api/v1/auth/token"
username = "sync-bot"
password = "env:SYNCDECK_TEST_RS_SECRET"
token_position = "token"
expires_position = "expires"

[[credentials]]
name = "graph"
kind = "oauth2_client_credentials"
token_url = "https://login.example.com/t/oauth2/v2.0/token"
client_id = "app"
client_secret = "env:SYNCDECK_TEST_RS_SECRET"
scope = "https://graph.example.com/.default"

[[connections]]
name = "snipe"
source = "Intune"
base_url = "https://snipe.example.com"
concurrency = "auto"
headers = { "X-Request-Source" = "syncdeck" }
[[connections.lookups]]
name = "models"
path = "/api/v1/models"
results_position = "rows"
key = "name"
value = "id"
query = { limit = "500" }
[connections.fetch]
path = "/api/v1/hardware/byserial/{serial}"
results_position = "rows"
serial_field = "serial"
id_field = "id"
missing_when = { path = "status", equals = "error" }
[connections.update]
method = "PATCH"
path = "/api/v1/hardware/{id}"
success_when = { path = "status", equals = "success" }
[[connections.mapping]]
source = "model"
target = "model_id"
lookup = "models"
compare = "model.id"
[[connections.mapping]]
value = 2
target = "status_id"

[[connections]]
name = "cmdb"
source = "Jamf Pro"
base_url = "https://sn.example.com"
[connections.fetch]
path = "/api/now/table/cmdb_ci_computer"
query = { sysparm_query = "serial_number={serial|sn}" }
results_position = "result"
serial_field = "serial_number"
id_field = "sys_id"
bulk = true
[connections.fetch.pagination]
style = "link_header"
size_param = "sysparm_limit"
size = 100
total_header = "X-Total-Count"
[connections.update]
method = "PATCH"
path = "/api/now/table/cmdb_ci_computer/{id}"
[[connections.mapping]]
source = "general.name"
target = "name"
"#;

#[test]
fn every_new_key_loads() {
    let config = config::parse(VALID, Path::new("/etc/syncdeck/real.toml"), &env())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.sources.len(), 2);
    let jamf = config.source("Jamf Pro").unwrap_or_else(|| unreachable!());
    assert_eq!(jamf.query.len(), 3, "section twice and sort");
    assert_eq!(jamf.max_retry_after_secs, 3600);
    assert!(matches!(jamf.results_position, ResultsPosition::Path(ref p) if p.pointer));
    assert!(matches!(jamf.stop.total, Some(TotalAt::Position(_))));
    let intune = config.source("Intune").unwrap_or_else(|| unreachable!());
    match &intune.pagination {
        Pagination::Link {
            next_link_position, ..
        } => assert_eq!(next_link_position.segments, ["@odata.nextLink"]),
        other => panic!("{other:?}"),
    }
    let snipe = config.connection("snipe").unwrap_or_else(|| unreachable!());
    assert_eq!(snipe.source, "Intune");
    assert!(snipe.concurrency_auto);
    assert!(snipe.fetch.missing_when.is_some() && snipe.update.success_when.is_some());
    assert_eq!(snipe.mapping[0].lookup.as_deref(), Some("models"));
    assert_eq!(snipe.mapping[1].value, Some(serde_json::json!(2)));
    let cmdb = config.connection("cmdb").unwrap_or_else(|| unreachable!());
    assert!(matches!(
        cmdb.fetch.pagination,
        Pagination::LinkHeader { .. }
    ));
    assert!(matches!(cmdb.fetch.stop.total, Some(TotalAt::Header(ref h)) if h == "X-Total-Count"));
    assert!(matches!(
        config.credential("graph").map(|c| &c.kind),
        Some(CredentialKind::OAuth2ClientCredentials { .. })
    ));
    // The Debug of the credentials shows references, never values.
    assert!(!format!("{:?}", config.credentials).contains("s3cret-value"));
}

#[test]
fn a_config_without_the_new_keys_keeps_its_hash() {
    // A connection's config hash decides the Full Live safety gate: the new keys at their
    // defaults must not change the hash of a config written before them.
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
    let config = config::load(&example, &Environment::process()).unwrap_or_else(|e| panic!("{e}"));
    let shape = serde_json::to_value(&config.connections[0]).unwrap_or_default();
    for key in [
        "lookups",
        "headers",
        "missing_when",
        "success_when",
        "compare",
        "value",
        "lookup",
    ] {
        assert!(
            !shape.to_string().contains(&format!("\"{key}\"")),
            "{key} in {shape}"
        );
    }
}

#[test]
fn every_mistake_with_the_new_keys_is_named_with_its_line() {
    let text = r#"
[source]
base_url = "https://jamf.example.com"
endpoint = "/api/v1/computers-inventory?section=HARDWARE"
id_field = "serial"
results_position = "_single"
headers = { Authorization = "Bearer abc" }
[source.pagination]
style = "page"
total_position = "totalCount"
total_header = "X-Total-Count"
stop_at = "sometimes"

[[sources]]
name = "Second"
base_url = "https://x.example.com"
endpoint = "/d"
id_field = "serial"

[[credentials]]
name = "graph"
kind = "oauth2_client_credentials"
token_url = "/oauth2/token"
client_id = "app"
client_secret = "inline-secret-value"

[[credentials]]
name = "jamf"
kind = "token_exchange"
token_url = "https://user:pw@jamf.example.com/api/v1/auth/token"
username = "bot"
password = "env:SYNCDECK_TEST_RS_SECRET"
token_position = "/bad~2pointer"

[[connections]]
name = "c"
source = "Nowhere"
base_url = "https://c.example.com"
concurrency = "fast"
[connections.fetch]
path = "/x"
query = { serial = "{serial|base64}" }
results_position = "_single"
serial_field = "serial"
id_field = "id"
bulk = true
missing_when = { path = "status" }
[connections.update]
method = "PATCH"
path = "/x/{id}"
success_when = { equals = "success" }
[[connections.mapping]]
source = "a"
value = "constant"
target = "a"
[[connections.mapping]]
source = "b"
target = "b"
lookup = "models"
"#;
    let found = problems(text);
    let at = |needle: &str| line_of(text, needle);
    assert_problem(
        &found,
        at("[[sources]]"),
        "sources",
        "both [source] and [[sources]]",
    );
    assert_problem(
        &found,
        at("endpoint = \"/api/v1"),
        "source.endpoint",
        "put its parameters in `query`",
    );
    assert_problem(
        &found,
        line_of(text, "results_position = \"_single\""),
        "source.results_position",
        "lookups only",
    );
    assert_problem(
        &found,
        at("headers = { Authorization"),
        "source.headers.Authorization",
        "use a [[credentials]] entry",
    );
    assert_problem(
        &found,
        at("total_header"),
        "source.pagination.total_header",
        "in one place",
    );
    assert_problem(
        &found,
        at("stop_at"),
        "source.pagination.stop_at",
        "expected empty_page or short_page",
    );
    assert_problem(
        &found,
        at("token_url = \"/oauth2"),
        "credentials[0].token_url",
        "absolute",
    );
    assert_problem(
        &found,
        at("client_secret = \"inline"),
        "credentials[0].client_secret",
        "inline secret",
    );
    assert_problem(
        &found,
        at("token_url = \"https://user"),
        "credentials[1].token_url",
        "inline secret",
    );
    assert_problem(
        &found,
        at("token_position"),
        "credentials[1].token_position",
        "JSON Pointer",
    );
    assert_problem(
        &found,
        at("source = \"Nowhere\""),
        "connections[0].source",
        "source \"Nowhere\" is not defined",
    );
    assert_problem(
        &found,
        at("concurrency = \"fast\""),
        "connections[0].concurrency",
        "or \"auto\"",
    );
    assert_problem(
        &found,
        at("query = { serial = \"{serial|base64}\""),
        "connections[0].fetch.query.serial",
        "placeholder {serial|base64} is not allowed",
    );
    assert_problem(
        &found,
        line_of(
            &text[text.find("[connections.fetch]").unwrap_or(0)..],
            "results_position = \"_single\"",
        ) + text[..text.find("[connections.fetch]").unwrap_or(0)]
            .lines()
            .count(),
        "connections[0].fetch.results_position",
        "set bulk = false",
    );
    assert_problem(
        &found,
        at("missing_when"),
        "connections[0].fetch.missing_when.equals",
        "missing key `equals`",
    );
    assert_problem(
        &found,
        at("success_when"),
        "connections[0].update.success_when.path",
        "missing key `path`",
    );
    assert_problem(
        &found,
        at("value = \"constant\""),
        "connections[0].mapping[0].value",
        "not both",
    );
    assert_problem(
        &found,
        at("lookup = \"models\""),
        "connections[0].mapping[1].lookup",
        "lookup \"models\" is not defined",
    );
}

#[test]
fn several_sources_need_each_connection_to_name_one() {
    let text = VALID.replace("source = \"Intune\"\n", "");
    let found = problems(&text);
    assert_problem(
        &found,
        line_of(&text, "name = \"snipe\"") - 1,
        "connections[0].source",
        "each connection names the one it reads",
    );
}
