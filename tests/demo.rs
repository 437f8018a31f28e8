//! The demo systems over real loopback HTTP: the fleet, the three destinations, their faults,
//! credentials and counters, and the demo config that points at them.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use syncdeck::demo::{self, DemoOptions, DemoServer, DemoStats};

const LOOPBACK: ([u8; 4], u16) = ([127, 0, 0, 1], 0);
const SEED: u64 = 42;

async fn demo_with(fleet_size: usize, seed: u64) -> DemoServer {
    demo::start(LOOPBACK.into(), DemoOptions { fleet_size, seed })
        .await
        .expect("the demo server starts on loopback")
}

async fn demo(fleet_size: usize) -> DemoServer {
    demo_with(fleet_size, SEED).await
}

fn client() -> Client {
    Client::builder()
        .no_proxy()
        .connect_timeout(Duration::from_secs(5))
        .read_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(20))
        .build()
        .expect("a reqwest client")
}

async fn get_json(client: &Client, url: &str) -> (StatusCode, Value) {
    let response = client.get(url).send().await.expect("GET answered");
    let status = response.status();
    let body = response.json().await.expect("a JSON body");
    (status, body)
}

/// Sends a body with a content type; returns status, headers and the body text.
async fn send(
    client: &Client,
    method: Method,
    url: &str,
    content_type: &str,
    body: String,
) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let response = client
        .request(method, url)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("request answered");
    let status = response.status();
    let headers = response.headers().clone();
    (status, headers, response.text().await.expect("a text body"))
}

fn error_code(body: &str) -> String {
    let value: Value = serde_json::from_str(body).expect("a JSON error body");
    value["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn xml_error_code(body: &str) -> String {
    let start = body.find("<code>").map(|i| i + "<code>".len());
    let end = body.find("</code>");
    match (start, end) {
        (Some(start), Some(end)) if start <= end => body[start..end].to_string(),
        _ => panic!("no <code> in {body}"),
    }
}

async fn all_devices(client: &Client, server: &DemoServer, per_page: usize) -> Vec<Value> {
    let mut devices = Vec::new();
    for page in 1.. {
        let url = format!(
            "{}/fleet/api/devices?page={page}&per_page={per_page}",
            server.base_url()
        );
        let (status, body) = get_json(client, &url).await;
        assert_eq!(status, StatusCode::OK);
        let items = body["data"]["items"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let short = items.len() < per_page;
        devices.extend(items);
        if short {
            break;
        }
    }
    devices
}

async fn cmdb_listing(client: &Client, server: &DemoServer, limit: usize) -> Vec<Vec<Value>> {
    let mut pages = Vec::new();
    for offset in (0..).step_by(limit) {
        let url = format!(
            "{}/cmdb/api/assets?sysparm_offset={offset}&sysparm_limit={limit}",
            server.base_url()
        );
        let (status, body) = get_json(client, &url).await;
        assert_eq!(status, StatusCode::OK);
        let page = body["result"].as_array().cloned().unwrap_or_default();
        let short = page.len() < limit;
        pages.push(page);
        if short {
            break;
        }
    }
    pages
}

async fn cmdb_record(client: &Client, server: &DemoServer, serial: &str) -> Vec<Value> {
    let url = format!(
        "{}/cmdb/api/assets?serial_number={serial}",
        server.base_url()
    );
    let (status, body) = get_json(client, &url).await;
    assert_eq!(status, StatusCode::OK);
    body["result"].as_array().cloned().unwrap_or_default()
}

async fn registry_record(client: &Client, server: &DemoServer, serial: &str) -> Vec<Value> {
    let url = format!("{}/registry/devices?serial={serial}", server.base_url());
    let (status, body) = get_json(client, &url).await;
    assert_eq!(status, StatusCode::OK);
    body["devices"].as_array().cloned().unwrap_or_default()
}

async fn mdm_record(client: &Client, server: &DemoServer, serial: &str) -> Vec<Value> {
    let url = format!("{}/mdm/v1/devices?serial={serial}", server.base_url());
    let (status, body) = get_json(client, &url).await;
    assert_eq!(status, StatusCode::OK);
    body.as_array()
        .cloned()
        .expect("the MDM answers a bare array")
}

/// The first fleet index whose traits satisfy `wanted`.
fn find_index(server: &DemoServer, wanted: impl Fn(&demo::DeviceTraits) -> bool) -> usize {
    (0..server.fleet().len())
        .find(|i| server.fleet().traits(*i).is_some_and(|t| wanted(&t)))
        .expect("the demo fleet has such a device")
}

fn serial(index: usize) -> String {
    demo::Fleet::serial(index)
}

fn share(count: usize, total: usize) -> f64 {
    count as f64 * 100.0 / total as f64
}

// ----- source fleet -----------------------------------------------------------------------

#[tokio::test]
async fn fleet_pages_carry_the_envelope_sizes_and_totals() {
    let server = demo(250).await;
    let client = client();
    let mut serials = BTreeSet::new();
    for (page, expected) in [(1, 100), (2, 100), (3, 50), (4, 0)] {
        let url = format!(
            "{}/fleet/api/devices?page={page}&per_page=100",
            server.base_url()
        );
        let (status, body) = get_json(&client, &url).await;
        assert_eq!(status, StatusCode::OK);
        let data = &body["data"];
        assert_eq!(data["items"].as_array().map(Vec::len), Some(expected));
        assert_eq!(data["page"], json!(page));
        assert_eq!(data["per_page"], json!(100));
        assert_eq!(data["total"], json!(250));
        for item in data["items"].as_array().into_iter().flatten() {
            serials.insert(item["serial"].as_str().unwrap_or_default().to_string());
        }
    }
    assert_eq!(serials.len(), 250, "pages neither overlap nor skip");
    assert_eq!(serials.first().map(String::as_str), Some("SD-000001"));
    assert_eq!(serials.last().map(String::as_str), Some("SD-000250"));
}

#[tokio::test]
async fn fleet_devices_have_nested_fields_and_some_nulls() {
    let server = demo(DemoOptions::default().fleet_size).await;
    let client = client();
    let devices = all_devices(&client, &server, 1_000).await;
    assert_eq!(devices.len(), 2_400);
    let (mut null_owner, mut null_memory, mut null_status, mut text_memory) = (0, 0, 0, 0);
    for device in &devices {
        for field in ["serial", "hostname", "model", "manufacturer", "site"] {
            assert!(device[field].is_string(), "{field} of {device}");
        }
        assert!(device["os"]["name"].is_string() && device["os"]["version"].is_string());
        assert!(device["hardware"]["cpu_cores"].is_u64());
        assert!(device["hardware"]["disk_gb"].is_u64());
        let purchased = device["purchased_at"].as_str().unwrap_or_default();
        assert!(chrono::NaiveDate::parse_from_str(purchased, "%Y-%m-%d").is_ok());
        let updated = device["updated_at"].as_str().unwrap_or_default();
        assert!(chrono::DateTime::parse_from_rfc3339(updated).is_ok());
        match &device["status"] {
            Value::Null => null_status += 1,
            Value::String(s) => {
                assert!(["in_use", "in_stock", "retired", "repair"].contains(&s.as_str()))
            }
            other => panic!("status {other}"),
        }
        match &device["owner"] {
            Value::Null => null_owner += 1,
            Value::String(owner) => assert!(owner.contains('@')),
            other => panic!("owner {other}"),
        }
        match &device["hardware"]["memory_gb"] {
            Value::Null => null_memory += 1,
            Value::String(text) => {
                assert!(text.parse::<u32>().is_ok(), "numeric string, got {text}");
                text_memory += 1;
            }
            value => assert!(value.is_u64()),
        }
    }
    let total = devices.len();
    assert!(
        (1.5..4.5).contains(&share(null_owner, total)),
        "owner nulls {null_owner}"
    );
    assert!(
        (1.0..3.5).contains(&share(null_memory, total)),
        "memory nulls {null_memory}"
    );
    assert!(
        (0.3..2.0).contains(&share(null_status, total)),
        "status nulls {null_status}"
    );
    assert!(text_memory > 0, "some memory_gb values are numeric strings");
}

#[tokio::test]
async fn fleet_serial_filter_returns_that_device_or_nothing() {
    let server = demo(300).await;
    let client = client();
    let base = server.base_url();
    let (status, body) = get_json(
        &client,
        &format!("{base}/fleet/api/devices?serial=SD-000123"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let items = body["data"]["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["serial"], json!("SD-000123"));
    assert_eq!(body["data"]["total"], json!(1));
    for missing in ["SD-000301", "XYZ", "SD-123"] {
        let (status, body) = get_json(
            &client,
            &format!("{base}/fleet/api/devices?serial={missing}&page=1"),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["data"]["items"], json!([]), "{missing}");
        assert_eq!(body["data"]["total"], json!(0));
    }
}

#[tokio::test]
async fn fleet_refuses_bad_paging_instead_of_capping_it() {
    let server = demo(10).await;
    let client = client();
    for query in ["page=0", "per_page=0", "per_page=5000", "page=abc"] {
        let url = format!("{}/fleet/api/devices?{query}", server.base_url());
        let (status, body) = get_json(&client, &url).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(body["error"]["code"], json!("INVALID_PARAMETER"));
    }
}

#[tokio::test]
async fn a_large_fleet_pages_to_its_end() {
    let server = demo(100_000).await;
    let client = client();
    let url = format!(
        "{}/fleet/api/devices?page=100&per_page=1000",
        server.base_url()
    );
    let (_, body) = get_json(&client, &url).await;
    let items = body["data"]["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(items.len(), 1_000);
    assert_eq!(items[999]["serial"], json!("SD-100000"));
    assert_eq!(body["data"]["total"], json!(100_000));
}

#[tokio::test]
async fn the_same_seed_gives_the_same_fleet_and_destinations() {
    let (a, b, other) = (
        demo_with(400, 7).await,
        demo_with(400, 7).await,
        demo_with(400, 8).await,
    );
    let client = client();
    let devices = all_devices(&client, &a, 100).await;
    assert_eq!(devices, all_devices(&client, &b, 100).await);
    assert_ne!(devices, all_devices(&client, &other, 100).await);
    let cmdb = cmdb_listing(&client, &a, 1_000).await;
    assert_eq!(cmdb, cmdb_listing(&client, &b, 1_000).await);
    assert_ne!(cmdb, cmdb_listing(&client, &other, 1_000).await);
    for index in [0, 57, 399] {
        let s = serial(index);
        assert_eq!(
            registry_record(&client, &a, &s).await,
            registry_record(&client, &b, &s).await
        );
        assert_eq!(
            mdm_record(&client, &a, &s).await,
            mdm_record(&client, &b, &s).await
        );
    }
}

// ----- JSON CMDB --------------------------------------------------------------------------

#[tokio::test]
async fn cmdb_bulk_listing_pages_and_lookups_agree_with_about_3_percent_missing() {
    let server = demo(2_400).await;
    let client = client();
    let pages = cmdb_listing(&client, &server, 1_000).await;
    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert_eq!(sizes.len(), 3, "two full pages and a short one: {sizes:?}");
    assert_eq!(&sizes[..2], &[1_000, 1_000]);
    let records: Vec<Value> = pages.into_iter().flatten().collect();
    let missing = 2_400 - records.len();
    assert!(
        (1.8..4.5).contains(&share(missing, 2_400)),
        "{missing} missing"
    );
    let listed: BTreeSet<&str> = records
        .iter()
        .filter_map(|r| r["serial_number"].as_str())
        .collect();
    assert_eq!(listed.len(), records.len(), "one record per serial");

    let absent = (0..2_400)
        .map(serial)
        .find(|s| !listed.contains(s.as_str()));
    let absent = absent.expect("some serial is missing");
    assert_eq!(
        cmdb_record(&client, &server, &absent).await,
        Vec::<Value>::new()
    );
    let present = &records[10];
    let found = cmdb_record(
        &client,
        &server,
        present["serial_number"].as_str().unwrap_or_default(),
    )
    .await;
    assert_eq!(found, vec![present.clone()]);
    let sys_id = present["sys_id"].as_str().unwrap_or_default();
    assert_eq!(sys_id.len(), 32);
    let (status, body) = get_json(
        &client,
        &format!("{}/cmdb/api/assets/{sys_id}", server.base_url()),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["result"], *present);
}

#[tokio::test]
async fn cmdb_patch_changes_what_the_next_read_sees() {
    let server = demo(200).await;
    let client = client();
    let record = cmdb_record(&client, &server, "SD-000005").await.remove(0);
    let url = format!(
        "{}/cmdb/api/assets/{}",
        server.base_url(),
        record["sys_id"].as_str().unwrap_or_default()
    );
    let patch = json!({"name": "renamed-host", "ram_gb": 48});
    let (status, _, body) = send(
        &client,
        Method::PATCH,
        &url,
        "application/json",
        patch.to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let answer: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(answer["result"]["name"], json!("renamed-host"));
    let after = cmdb_record(&client, &server, "SD-000005").await.remove(0);
    assert_eq!(after["name"], json!("renamed-host"));
    assert_eq!(after["ram_gb"], json!(48));
    assert_eq!(after["sys_id"], record["sys_id"]);
    assert_eq!(
        after["model_id"], record["model_id"],
        "fields not written are kept"
    );
    // The bulk listing serves the written state too.
    let listed: Vec<Value> = cmdb_listing(&client, &server, 1_000)
        .await
        .into_iter()
        .flatten()
        .collect();
    assert!(listed.contains(&after));
}

#[tokio::test]
async fn cmdb_refuses_bad_writes_with_their_own_codes() {
    let server = demo(50).await;
    let client = client();
    let record = cmdb_record(&client, &server, "SD-000001").await.remove(0);
    let url = format!(
        "{}/cmdb/api/assets/{}",
        server.base_url(),
        record["sys_id"].as_str().unwrap_or_default()
    );
    let cases = [
        (
            json!({"ram_size": 16}).to_string(),
            "application/json",
            StatusCode::BAD_REQUEST,
            "INVALID_CONTENT",
            "ram_size",
        ),
        (
            json!({"ram_gb": "16"}).to_string(),
            "application/json",
            StatusCode::BAD_REQUEST,
            "INVALID_CONTENT",
            "ram_gb",
        ),
        (
            json!({"install_status": "Broken"}).to_string(),
            "application/json",
            StatusCode::BAD_REQUEST,
            "INVALID_CONTENT",
            "Broken",
        ),
        (
            "{not json".to_string(),
            "application/json",
            StatusCode::BAD_REQUEST,
            "INVALID_JSON",
            "JSON",
        ),
        (
            "<asset/>".to_string(),
            "application/xml",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "application/json",
        ),
    ];
    for (body, content_type, status, code, mentions) in cases {
        let (got, _, answer) = send(&client, Method::PATCH, &url, content_type, body.clone()).await;
        assert_eq!(got, status, "{body}: {answer}");
        assert_eq!(error_code(&answer), code, "{body}");
        assert!(
            answer.contains(mentions),
            "{answer} should mention {mentions}"
        );
    }
    let unknown = format!("{}/cmdb/api/assets/{}", server.base_url(), "0".repeat(32));
    let (status, _, answer) = send(
        &client,
        Method::PATCH,
        &unknown,
        "application/json",
        "{}".into(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&answer), "NOT_FOUND");
    assert_eq!(
        cmdb_record(&client, &server, "SD-000001").await.remove(0),
        record,
        "nothing written"
    );
}

#[tokio::test]
async fn cmdb_answers_put_with_405_and_allow() {
    let server = demo(50).await;
    let client = client();
    let record = cmdb_record(&client, &server, "SD-000002").await.remove(0);
    let url = format!(
        "{}/cmdb/api/assets/{}",
        server.base_url(),
        record["sys_id"].as_str().unwrap_or_default()
    );
    let (status, headers, body) = send(
        &client,
        Method::PUT,
        &url,
        "application/json",
        json!({"name": "x"}).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        headers.get("allow").and_then(|v| v.to_str().ok()),
        Some("GET, PATCH")
    );
    assert_eq!(error_code(&body), "METHOD_NOT_ALLOWED");
    assert!(
        headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .contains("json")
    );
}

// ----- XML registry -----------------------------------------------------------------------

async fn registry_url(client: &Client, server: &DemoServer, index: usize) -> (String, Value) {
    let record = registry_record(client, server, &serial(index))
        .await
        .remove(0);
    let url = format!(
        "{}/registry/devices/{}",
        server.base_url(),
        record["id"].as_str().unwrap_or_default()
    );
    (url, record)
}

#[tokio::test]
async fn registry_answers_a_json_body_with_415_in_xml() {
    let server = demo(100).await;
    let client = client();
    let index = find_index(&server, |t| !t.registry.missing);
    let (url, _) = registry_url(&client, &server, index).await;
    let (status, headers, body) = send(
        &client,
        Method::PUT,
        &url,
        "application/json",
        json!({"hostname": "X"}).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(
        headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .contains("xml")
    );
    assert_eq!(xml_error_code(&body), "UNSUPPORTED_MEDIA_TYPE");
}

#[tokio::test]
async fn registry_refuses_unknown_elements_sites_and_malformed_xml() {
    let server = demo(1_000).await;
    let client = client();
    let index = find_index(&server, |t| !t.registry.missing && !t.unknown_site);
    let (url, before) = registry_url(&client, &server, index).await;
    let cases = [
        (
            "<device><ram_gb>16</ram_gb></device>",
            "INVALID_CONTENT",
            "ram_gb",
        ),
        (
            "<device><site>ZZZ9</site></device>",
            "INVALID_CONTENT",
            "ZZZ9",
        ),
        (
            "<asset><hostname>X</hostname></asset>",
            "INVALID_CONTENT",
            "device",
        ),
        ("<device><hostname>X</device>", "INVALID_XML", "well-formed"),
    ];
    for (body, code, mentions) in cases {
        let (status, _, answer) =
            send(&client, Method::PUT, &url, "application/xml", body.into()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(xml_error_code(&answer), code, "{body}");
        assert!(
            answer.contains(mentions),
            "{answer} should mention {mentions}"
        );
    }
    assert_eq!(
        registry_record(&client, &server, &serial(index)).await,
        vec![before]
    );

    // About 1% of the fleet moved to a site the registry does not know.
    let moved = find_index(&server, |t| t.unknown_site && !t.registry.missing);
    let device = server.fleet().device(moved).expect("device");
    let (url, _) = registry_url(&client, &server, moved).await;
    let body = format!(
        "<device><site>{}</site></device>",
        device.site.to_uppercase()
    );
    let (status, _, answer) = send(&client, Method::PUT, &url, "application/xml", body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(xml_error_code(&answer), "INVALID_CONTENT");
    assert!(answer.contains("site"));
    let moved_count = (0..1_000)
        .filter(|i| server.fleet().traits(*i).is_some_and(|t| t.unknown_site))
        .count();
    assert!(
        (0.2..2.5).contains(&share(moved_count, 1_000)),
        "{moved_count} at unknown sites"
    );
}

#[tokio::test]
async fn registry_stores_a_valid_xml_put() {
    let server = demo(100).await;
    let client = client();
    let index = find_index(&server, |t| !t.registry.missing);
    let (url, before) = registry_url(&client, &server, index).await;
    let body = "<?xml version=\"1.0\"?>\n<device>\n  <hostname>LT-NEW-0001</hostname>\n  <site>BER2</site>\n  <owner/>\n</device>";
    let (status, headers, answer) = send(
        &client,
        Method::PUT,
        &url,
        "application/xml; charset=utf-8",
        body.into(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(
        headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .contains("xml")
    );
    assert!(
        answer.contains("<hostname>LT-NEW-0001</hostname>"),
        "{answer}"
    );
    assert!(answer.contains(&format!(
        "<id>{}</id>",
        before["id"].as_str().unwrap_or_default()
    )));
    let after = registry_record(&client, &server, &serial(index))
        .await
        .remove(0);
    assert_eq!(after["hostname"], json!("LT-NEW-0001"));
    assert_eq!(after["site"], json!("BER2"));
    assert_eq!(
        after["owner"],
        Value::Null,
        "an empty element clears the field"
    );
    assert_eq!(after["model"], before["model"]);
}

#[tokio::test]
async fn registry_creates_a_missing_serial_once() {
    let server = demo(400).await;
    let client = client();
    let index = find_index(&server, |t| t.registry.missing && !t.unknown_site);
    let s = serial(index);
    assert!(registry_record(&client, &server, &s).await.is_empty());
    let url = format!("{}/registry/devices", server.base_url());
    let body = format!(
        "<device><serial>{s}</serial><hostname>LT-AMS1-NEW</hostname><site>AMS1</site><lifecycle>active</lifecycle></device>"
    );
    let (status, headers, answer) =
        send(&client, Method::POST, &url, "application/xml", body.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let created = registry_record(&client, &server, &s).await;
    assert_eq!(created.len(), 1);
    let id = created[0]["id"].as_str().unwrap_or_default();
    assert!(answer.contains(&format!("<id>{id}</id>")));
    assert_eq!(
        headers.get("location").and_then(|v| v.to_str().ok()),
        Some(format!("/registry/devices/{id}").as_str())
    );
    let (again, _, answer) = send(&client, Method::POST, &url, "application/xml", body).await;
    assert_eq!(again, StatusCode::CONFLICT);
    assert_eq!(xml_error_code(&answer), "ALREADY_EXISTS");
    let missing = (0..400)
        .filter(|i| {
            server
                .fleet()
                .traits(*i)
                .is_some_and(|t| t.registry.missing)
        })
        .count();
    assert!(
        (2.0..9.0).contains(&share(missing, 400)),
        "{missing} missing from the registry"
    );
}

// ----- MDM --------------------------------------------------------------------------------

async fn mdm_patch(
    client: &Client,
    server: &DemoServer,
    index: usize,
    body: &Value,
) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let record = mdm_record(client, server, &serial(index)).await.remove(0);
    let url = format!(
        "{}/mdm/v1/devices/{}",
        server.base_url(),
        record["id"].as_str().unwrap_or_default()
    );
    send(
        client,
        Method::PATCH,
        &url,
        "application/json",
        body.to_string(),
    )
    .await
}

#[tokio::test]
async fn mdm_accepts_with_202_and_applies_at_once() {
    let server = demo(200).await;
    let client = client();
    let index = find_index(&server, |t| !t.mdm.missing && !t.mdm_flaky && !t.mdm_outage);
    let body = json!({"device_name": "renamed", "user": {"email": "new.owner@corp.example"}});
    let (status, _, answer) = mdm_patch(&client, &server, index, &body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let after = mdm_record(&client, &server, &serial(index)).await;
    assert_eq!(after.len(), 1);
    assert_eq!(after[0]["device_name"], json!("renamed"));
    assert_eq!(after[0]["user"]["email"], json!("new.owner@corp.example"));
    let missing = find_index(&server, |t| t.mdm.missing);
    assert_eq!(
        mdm_record(&client, &server, &serial(missing)).await,
        Vec::<Value>::new()
    );
}

#[tokio::test]
async fn mdm_flaky_device_answers_503_once_then_accepts() {
    let server = demo(1_000).await;
    let client = client();
    let flaky = find_index(&server, |t| t.mdm_flaky && !t.mdm.missing);
    let body = json!({"os_version": "24H2"});
    let (first, _, answer) = mdm_patch(&client, &server, flaky, &body).await;
    assert_eq!(first, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(error_code(&answer), "SERVICE_UNAVAILABLE");
    let (retry, _, _) = mdm_patch(&client, &server, flaky, &body).await;
    assert_eq!(retry, StatusCode::ACCEPTED);
    let (later, _, _) = mdm_patch(&client, &server, flaky, &body).await;
    assert_eq!(later, StatusCode::ACCEPTED);
    let steady = find_index(&server, |t| !t.mdm_flaky && !t.mdm_outage && !t.mdm.missing);
    assert_eq!(
        mdm_patch(&client, &server, steady, &body).await.0,
        StatusCode::ACCEPTED
    );
    let flaky_count = (0..1_000)
        .filter(|i| server.fleet().traits(*i).is_some_and(|t| t.mdm_flaky))
        .count();
    assert!(
        (0.8..3.5).contains(&share(flaky_count, 1_000)),
        "{flaky_count} flaky"
    );
}

#[tokio::test]
async fn mdm_outage_device_answers_503_six_times_then_accepts() {
    let server = demo(DemoOptions::DEFAULT_FLEET_SIZE).await;
    let client = client();
    let outage = find_index(&server, |t| t.mdm_outage);
    let body = json!({"os_version": "24H2"});
    assert_eq!(demo::MDM_OUTAGE_WRITES, 6);
    for attempt in 1..=demo::MDM_OUTAGE_WRITES {
        let (status, headers, answer) = mdm_patch(&client, &server, outage, &body).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "write {attempt}");
        assert_eq!(headers.get("retry-after"), None, "write {attempt}");
        assert_eq!(error_code(&answer), "MAINTENANCE", "write {attempt}");
    }
    // The record was left as it was while the outage lasted.
    let before = mdm_record(&client, &server, &serial(outage)).await;
    assert_ne!(before[0]["os_version"], json!("24H2"));
    let (seventh, _, answer) = mdm_patch(&client, &server, outage, &body).await;
    assert_eq!(seventh, StatusCode::ACCEPTED, "{answer}");
    let after = mdm_record(&client, &server, &serial(outage)).await;
    assert_eq!(after[0]["os_version"], json!("24H2"));
    assert_eq!(
        mdm_patch(&client, &server, outage, &body).await.0,
        StatusCode::ACCEPTED
    );
    // Counted per device: another outage device still starts its own six 503s.
    let other = (outage + 1..server.fleet().len())
        .find(|i| server.fleet().traits(*i).is_some_and(|t| t.mdm_outage))
        .expect("a second outage device");
    assert_eq!(
        mdm_patch(&client, &server, other, &body).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
}

#[test]
fn mdm_outage_is_about_half_a_percent_of_stale_enrolled_steady_devices() {
    let fleet = demo::Fleet::new(DemoOptions::DEFAULT_FLEET_SIZE, 0);
    let traits: Vec<demo::DeviceTraits> = (0..fleet.len())
        .map(|i| fleet.traits(i).expect("a device"))
        .collect();
    let outage: Vec<&demo::DeviceTraits> = traits.iter().filter(|t| t.mdm_outage).collect();
    assert!(outage.len() >= 3, "{} outage devices", outage.len());
    assert!(
        (0.2..1.0).contains(&share(outage.len(), fleet.len())),
        "{} outage devices",
        outage.len()
    );
    for t in &outage {
        assert!(!t.mdm.missing && !t.mdm_flaky && !t.mdm.stale_fields.is_empty());
    }
    // The outage draw came after every other one: the rest of the fleet is as it was.
    let flaky = traits.iter().filter(|t| t.mdm_flaky).count();
    let missing = traits.iter().filter(|t| t.mdm.missing).count();
    assert!((0.8..3.5).contains(&share(flaky, fleet.len())), "{flaky}");
    assert!(
        (0.8..3.5).contains(&share(missing, fleet.len())),
        "{missing}"
    );
}

#[tokio::test]
async fn mdm_throttles_exactly_one_write_with_retry_after() {
    let server = demo(300).await;
    let client = client();
    let steady: Vec<usize> = (0..300)
        .filter(|i| {
            server
                .fleet()
                .traits(*i)
                .is_some_and(|t| !t.mdm_flaky && !t.mdm_outage && !t.mdm.missing)
        })
        .take(60)
        .collect();
    let mut throttled = Vec::new();
    for (n, index) in steady.iter().enumerate() {
        let (status, headers, answer) =
            mdm_patch(&client, &server, *index, &json!({"os_version": "24H2"})).await;
        match status {
            StatusCode::ACCEPTED => {}
            StatusCode::TOO_MANY_REQUESTS => {
                assert_eq!(
                    headers.get("retry-after").and_then(|v| v.to_str().ok()),
                    Some("1")
                );
                assert_eq!(error_code(&answer), "RATE_LIMITED");
                throttled.push(n + 1);
            }
            other => panic!("write {n}: {other} {answer}"),
        }
    }
    assert_eq!(throttled, vec![demo::MDM_THROTTLED_WRITE as usize]);
}

// ----- credentials and counters -----------------------------------------------------------

#[tokio::test]
async fn a_wrong_credential_gets_401_and_none_or_the_right_one_gets_through() {
    let server = demo(20).await;
    let client = client();
    let base = server.base_url();
    let cmdb = format!("{base}/cmdb/api/assets?serial_number=SD-000001");
    let registry = format!("{base}/registry/devices?serial=SD-000001");
    let mdm = format!("{base}/mdm/v1/devices?serial=SD-000001");
    let secret = |name: &str| {
        demo::demo_secrets()
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
            .expect("a demo secret")
    };

    let status = |r: reqwest::Response| r.status();
    assert_eq!(
        status(client.get(&cmdb).send().await.expect("cmdb")),
        StatusCode::OK
    );
    assert_eq!(
        status(
            client
                .get(&cmdb)
                .bearer_auth(secret("SYNCDECK_DEMO_CMDB_TOKEN"))
                .send()
                .await
                .expect("cmdb")
        ),
        StatusCode::OK
    );
    let wrong = client
        .get(&cmdb)
        .bearer_auth("nope")
        .send()
        .await
        .expect("cmdb");
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        error_code(&wrong.text().await.unwrap_or_default()),
        "UNAUTHORIZED"
    );

    assert_eq!(
        status(client.get(&registry).send().await.expect("registry")),
        StatusCode::OK
    );
    let right = client
        .get(&registry)
        .basic_auth(
            secret("SYNCDECK_DEMO_REGISTRY_USER"),
            Some(secret("SYNCDECK_DEMO_REGISTRY_PASSWORD")),
        )
        .send()
        .await
        .expect("registry");
    assert_eq!(right.status(), StatusCode::OK);
    let wrong = client
        .get(&registry)
        .basic_auth("demo", Some("guess"))
        .send()
        .await
        .expect("registry");
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        xml_error_code(&wrong.text().await.unwrap_or_default()),
        "UNAUTHORIZED"
    );

    assert_eq!(
        status(client.get(&mdm).send().await.expect("mdm")),
        StatusCode::OK
    );
    assert_eq!(
        status(
            client
                .get(&mdm)
                .header("X-Api-Key", secret("SYNCDECK_DEMO_MDM_KEY"))
                .send()
                .await
                .expect("mdm")
        ),
        StatusCode::OK
    );
    let wrong = client
        .get(&mdm)
        .header("X-Api-Key", "nope")
        .send()
        .await
        .expect("mdm");
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        error_code(&wrong.text().await.unwrap_or_default()),
        "UNAUTHORIZED"
    );
}

#[tokio::test]
async fn write_counters_count_writes_and_not_reads() {
    let server = demo(50).await;
    let client = client();
    assert_eq!(server.stats(), DemoStats::default());
    let record = cmdb_record(&client, &server, "SD-000003").await.remove(0);
    registry_record(&client, &server, "SD-000003").await;
    mdm_record(&client, &server, "SD-000003").await;
    all_devices(&client, &server, 20).await;
    let reads = server.stats();
    assert_eq!(
        reads.destination_writes(),
        0,
        "reads are not writes: {reads:?}"
    );
    assert_eq!(
        (
            reads.cmdb.requests,
            reads.registry.requests,
            reads.mdm.requests
        ),
        (1, 1, 1)
    );
    assert_eq!(reads.fleet.requests, 3);

    let url = format!(
        "{}/cmdb/api/assets/{}",
        server.base_url(),
        record["sys_id"].as_str().unwrap_or_default()
    );
    send(
        &client,
        Method::PATCH,
        &url,
        "application/json",
        json!({"os": "Windows"}).to_string(),
    )
    .await;
    send(&client, Method::PUT, &url, "application/json", "{}".into()).await;
    let writes = server.stats();
    assert_eq!(
        writes.cmdb,
        demo::SystemStats {
            requests: 3,
            writes: 2
        },
        "refused writes count too"
    );
    assert_eq!((writes.registry.writes, writes.mdm.writes), (0, 0));

    let (status, index) = get_json(&client, &format!("{}/", server.base_url())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(index["systems"]["cmdb"], json!("/cmdb/api/assets"));
    let (status, served) = get_json(&client, &format!("{}/_demo/stats", server.base_url())).await;
    assert_eq!(status, StatusCode::OK);
    let served: DemoStats = serde_json::from_value(served).expect("DemoStats JSON");
    assert_eq!(
        served, writes,
        "the index and stats endpoints are not counted"
    );
}

#[tokio::test]
async fn the_server_refuses_non_loopback_addresses_and_shuts_down() {
    let everywhere: SocketAddr = ([0, 0, 0, 0], 0).into();
    let refused = demo::start(everywhere, DemoOptions::default()).await;
    assert_eq!(
        refused.map(|_| ()).map_err(|e| e.kind()),
        Err(std::io::ErrorKind::InvalidInput)
    );

    let too_big = DemoOptions {
        fleet_size: demo::MAX_FLEET_SIZE + 1,
        seed: 0,
    };
    let refused = demo::start(LOOPBACK.into(), too_big).await;
    assert_eq!(
        refused.map(|_| ()).map_err(|e| e.kind()),
        Err(std::io::ErrorKind::InvalidInput)
    );

    let server = demo(10).await;
    let url = format!("{}/fleet/api/devices", server.base_url());
    let http = client();
    assert!(http.get(&url).send().await.is_ok());
    server.shutdown().await;
    let fresh = client();
    assert!(
        fresh.get(&url).send().await.is_err(),
        "nothing listens after shutdown"
    );
}

// ----- the demo config --------------------------------------------------------------------

fn config(server: &DemoServer) -> toml::Table {
    toml::from_str(&demo::config_for(server.addr())).expect("the demo config is TOML")
}

fn connections(config: &toml::Table) -> Vec<toml::Table> {
    config["connections"]
        .as_array()
        .expect("connections")
        .iter()
        .filter_map(|c| c.as_table().cloned())
        .collect()
}

fn at<'a>(value: &'a Value, dotted: &str) -> &'a Value {
    if dotted == "_root" {
        return value;
    }
    dotted.split('.').fold(value, |v, key| &v[key])
}

#[tokio::test]
async fn the_demo_config_points_every_contract_at_a_working_endpoint() {
    let server = demo(100).await;
    let client = client();
    let config = config(&server);
    let base = server.base_url();
    assert_eq!(config["source"]["base_url"].as_str(), Some(base.as_str()));
    let connections = connections(&config);
    let names: Vec<&str> = connections
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, ["cmdb", "registry", "mdm", "cmdb-wrong-method"]);

    // The source as configured: endpoint, page parameters, results position, id field.
    let source = &config["source"];
    let paging = &source["pagination"];
    let url = format!(
        "{base}{}?{}=1&{}=10",
        source["endpoint"].as_str().unwrap_or_default(),
        paging["page_param"].as_str().unwrap_or_default(),
        paging["size_param"].as_str().unwrap_or_default()
    );
    let (_, body) = get_json(&client, &url).await;
    let items = at(
        &body,
        source["results_position"].as_str().unwrap_or_default(),
    );
    assert_eq!(items.as_array().map(Vec::len), Some(10));
    assert_eq!(
        items[0][source["id_field"].as_str().unwrap_or_default()],
        json!("SD-000001")
    );

    for connection in &connections {
        assert_eq!(connection["base_url"].as_str(), Some(base.as_str()));
        let fetch = &connection["fetch"];
        let (name, value) = fetch["query"]
            .as_table()
            .and_then(|q| q.iter().next())
            .expect("a query");
        let wanted = "SD-000004";
        let url = format!(
            "{base}{}?{name}={}",
            fetch["path"].as_str().unwrap_or_default(),
            value
                .as_str()
                .unwrap_or_default()
                .replace("{serial}", wanted)
        );
        let (status, body) = get_json(&client, &url).await;
        assert_eq!(status, StatusCode::OK, "{url}");
        let found = at(
            &body,
            fetch["results_position"].as_str().unwrap_or_default(),
        );
        let record = &found[0];
        assert_eq!(
            record[fetch["serial_field"].as_str().unwrap_or_default()],
            json!(wanted),
            "{url}: {body}"
        );
        assert!(record[fetch["id_field"].as_str().unwrap_or_default()].is_string());
    }

    // The misconfigured connection meets its 405 exactly as configured.
    let wrong = &connections[3];
    let record = cmdb_record(&client, &server, "SD-000004").await.remove(0);
    let path = wrong["update"]["path"]
        .as_str()
        .unwrap_or_default()
        .replace("{id}", record["sys_id"].as_str().unwrap_or_default());
    let method = Method::from_bytes(
        wrong["update"]["method"]
            .as_str()
            .unwrap_or_default()
            .as_bytes(),
    )
    .expect("a method");
    let (status, _, _) = send(
        &client,
        method,
        &format!("{base}{path}"),
        "application/json",
        json!({"name": "x"}).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn syncdecks_config_reader_accepts_the_demo_config_with_the_demo_secrets() {
    let server = demo(10).await;
    let env = syncdeck::config::Environment::with_fallbacks(demo::demo_secrets().iter().copied());
    let path = std::path::Path::new("demo/config.toml");
    let parsed = syncdeck::config::parse(&demo::config_for(server.addr()), path, &env);
    let parsed = parsed.unwrap_or_else(|error| panic!("the demo config is invalid:\n{error}"));
    let names: Vec<&str> = parsed.connections.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["cmdb", "registry", "mdm", "cmdb-wrong-method"]);
    assert!(
        parsed
            .connections
            .iter()
            .all(|c| c.base_url == server.base_url())
    );
}

/// Applies one mapping rule to a source device the way SPEC section 3 describes: `None` when
/// the rule sends nothing (null source with `on_null = "skip"`, or a required field missing).
fn map_rule(rule: &toml::Table, device: &Value) -> Option<Value> {
    let source = at(device, rule["source"].as_str().unwrap_or_default());
    if source.is_null() {
        let clear = rule.get("on_null").and_then(|v| v.as_str()) == Some("clear");
        let required = rule.get("required").and_then(|v| v.as_bool()) == Some(true);
        return (clear && !required).then_some(Value::Null);
    }
    let text = match source {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let format = rule["format"].as_str().unwrap_or("string");
    Some(match format {
        "string" => json!(text),
        "integer" => json!(text.trim().parse::<i64>().expect("an integer")),
        "upper" => json!(text.to_uppercase()),
        "lower" => json!(text.to_lowercase()),
        "map" => json!(
            rule["values"][text.as_str()]
                .as_str()
                .expect("a mapped value")
        ),
        date if date.starts_with("date:") => {
            let parsed = chrono::NaiveDate::parse_from_str(&text, "%Y-%m-%d").expect("a date");
            json!(parsed.format(&date["date:".len()..]).to_string())
        }
        other => panic!("formatter {other} is not used by the demo config"),
    })
}

#[tokio::test]
async fn destination_records_differ_from_the_demo_mapping_exactly_where_stale() {
    let server = demo(600).await;
    let client = client();
    let config = config(&server);
    let connections = connections(&config);
    let devices = all_devices(&client, &server, 1_000).await;
    let cmdb: Vec<Value> = cmdb_listing(&client, &server, 1_000)
        .await
        .into_iter()
        .flatten()
        .collect();

    for (connection, stale_share) in [
        (&connections[0], 30.0),
        (&connections[1], 25.0),
        (&connections[2], 20.0),
    ] {
        let name = connection["name"].as_str().unwrap_or_default();
        let rules: Vec<toml::Table> = connection["mapping"]
            .as_array()
            .expect("mapping rules")
            .iter()
            .filter_map(|r| r.as_table().cloned())
            .collect();
        let (mut present, mut stale) = (0, 0);
        for (index, device) in devices.iter().enumerate() {
            let s = device["serial"].as_str().unwrap_or_default();
            let traits = server.fleet().traits(index).expect("traits");
            let (record, expected) = match name {
                "cmdb" => (
                    cmdb.iter()
                        .find(|r| r["serial_number"] == json!(s))
                        .cloned(),
                    &traits.cmdb,
                ),
                "registry" => (
                    registry_record(&client, &server, s).await.pop(),
                    &traits.registry,
                ),
                _ => (mdm_record(&client, &server, s).await.pop(), &traits.mdm),
            };
            assert_eq!(record.is_none(), expected.missing, "{name} {s}");
            let Some(record) = record else { continue };
            present += 1;
            let differing: BTreeSet<String> = rules
                .iter()
                .filter_map(|rule| {
                    let target = rule["target"].as_str().unwrap_or_default();
                    let value = map_rule(rule, device)?;
                    (at(&record, target) != &value).then(|| target.to_string())
                })
                .collect();
            let wanted: BTreeSet<String> = expected
                .stale_fields
                .iter()
                .map(|f| f.to_string())
                .collect();
            assert_eq!(differing, wanted, "{name} {s}: {record}");
            assert!(differing.len() <= 3);
            stale += usize::from(!differing.is_empty());
        }
        let measured = share(stale, present);
        assert!(
            (measured - stale_share).abs() < 6.0,
            "{name}: {measured:.1}% stale"
        );
    }
}
