//! `syncdeck contracts` as a separate process against the demo systems served from this test
//! process: a Single Live run makes a contract, `contracts` lists it (table and SPEC section 6
//! JSON), `--delete` removes it so the next Single Live run treats the record as new and makes
//! the contract again; usage errors exit 2 and name what is configured.

use serde_json::Value;
use syncdeck::demo::{self, DemoServer};
use syncdeck::store::{Store, StoreOptions};

mod common;

use common::cli::{DemoFiles, Output};

/// A demo server in this process and the demo config pointing at it.
async fn setup() -> DemoFiles {
    DemoFiles::start(200, 29).await
}

async fn run(setup: &DemoFiles, args: &[&str]) -> Output {
    setup.syncdeck(args).await
}

/// A serial the demo CMDB has, with a status (so the required field maps).
fn cmdb_serial(server: &DemoServer) -> String {
    let fleet = server.fleet();
    (0..fleet.len())
        .find(|&i| {
            let device = fleet.device(i).unwrap();
            device.status.is_some() && !fleet.traits(i).unwrap().cmdb.missing
        })
        .map(|i| fleet.device(i).unwrap().serial)
        .expect("the demo CMDB has such a device")
}

/// `run --single SERIAL --live --connection cmdb --json`: the connection's JSON object.
async fn single_live(setup: &DemoFiles, serial: &str) -> Value {
    let out = run(
        setup,
        &[
            "run",
            "--connection",
            "cmdb",
            "--single",
            serial,
            "--live",
            "--json",
        ],
    )
    .await;
    assert_eq!(out.code, Some(0), "{out:?}");
    out.json()["connections"][0].clone()
}

/// The demo CMDB's bearer token, as the demo config's environment variable names it.
fn cmdb_token() -> &'static str {
    demo::demo_secrets()
        .iter()
        .find(|(name, _)| *name == "SYNCDECK_DEMO_CMDB_TOKEN")
        .map(|(_, value)| *value)
        .expect("the demo has a CMDB token")
}

/// The `name` the demo CMDB holds for one asset.
async fn destination_name(http: &reqwest::Client, asset: &str) -> String {
    let body: Value = http
        .get(asset)
        .bearer_auth(cmdb_token())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let record = body.get("result").unwrap_or(&body);
    record["name"].as_str().unwrap_or_default().to_string()
}

fn contracts_json(out: &Output) -> Vec<Value> {
    assert_eq!(out.code, Some(0), "{out:?}");
    out.json().as_array().expect("an array").clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_contract_makes_the_next_live_run_treat_the_record_as_new() {
    let setup = setup().await;
    let serial = cmdb_serial(&setup.server);

    let out = run(&setup, &["contracts"]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stdout, "no contracts\n");

    // The first run: new, written when stale, and a contract either way.
    let first = single_live(&setup, &serial).await;
    assert_eq!(first["new"], 1, "{first}");

    let listed = contracts_json(&run(&setup, &["contracts", "--json"]).await);
    assert_eq!(listed.len(), 1, "{listed:?}");
    let contract = &listed[0];
    for key in [
        "connection",
        "origin_id",
        "target_id",
        "last_hash",
        "last_seen",
        "last_synced",
        "last_action",
    ] {
        assert!(contract.get(key).is_some(), "{key} in {contract}");
    }
    assert_eq!(contract["connection"], "cmdb");
    assert_eq!(contract["origin_id"], serial.as_str());
    assert!(contract["target_id"].is_string(), "{contract}");
    let action = contract["last_action"].as_str().unwrap();
    assert!(action == "updated" || action == "unchanged", "{contract}");
    let target = contract["target_id"].as_str().unwrap().to_string();

    // The table: a header, one row with the short hash.
    let out = run(&setup, &["contracts", "--connection", "cmdb"]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{out:?}");
    for column in [
        "CONNECTION",
        "SERIAL",
        "TARGET",
        "HASH",
        "LAST SEEN",
        "LAST SYNCED",
        "ACTION",
    ] {
        assert!(lines[0].contains(column), "{out:?}");
    }
    let hash = contract["last_hash"].as_str().unwrap();
    assert!(
        lines[1].contains(&hash[..12]) && !lines[1].contains(hash),
        "{out:?}"
    );
    assert!(
        lines[1].starts_with("cmdb") && lines[1].contains(&serial),
        "{out:?}"
    );

    // Searches by serial or target id; another connection has none.
    let found = contracts_json(&run(&setup, &["contracts", "--search", &target, "--json"]).await);
    assert_eq!(found.len(), 1);
    let lower = serial.to_lowercase();
    let found = contracts_json(&run(&setup, &["contracts", "--search", &lower, "--json"]).await);
    assert_eq!(found.len(), 1);
    let none = contracts_json(
        &run(
            &setup,
            &["contracts", "--search", "no-such-serial", "--json"],
        )
        .await,
    );
    assert!(none.is_empty());
    let none = contracts_json(&run(&setup, &["contracts", "--connection", "mdm", "--json"]).await);
    assert!(none.is_empty());

    // Someone edits the record in the CMDB behind syncdeck's back.
    let asset = format!("http://{}/cmdb/api/assets/{target}", setup.server.addr());
    let http = reqwest::Client::new();
    let tampered = http
        .patch(&asset)
        .bearer_auth(cmdb_token())
        .json(&serde_json::json!({ "name": "edited-by-hand" }))
        .send()
        .await
        .unwrap();
    assert!(tampered.status().is_success(), "{tampered:?}");

    // With the contract in place and the source unchanged, the record is skipped as
    // unchanged without a compare: the hand edit goes unseen.
    let again = single_live(&setup, &serial).await;
    assert_eq!(again["counters"]["skipped"], 1, "{again}");
    assert_eq!(again["unchanged"], 1, "{again}");
    assert_eq!(destination_name(&http, &asset).await, "edited-by-hand");

    let out = run(
        &setup,
        &["contracts", "--connection", "cmdb", "--delete", &serial],
    )
    .await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(
        out.stdout.trim(),
        format!("deleted the contract of {serial} on cmdb: the next run treats it as new")
    );
    assert!(contracts_json(&run(&setup, &["contracts", "--json"]).await).is_empty());

    let out = run(
        &setup,
        &["contracts", "--connection", "cmdb", "--delete", &serial],
    )
    .await;
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.contains(&serial) && out.stderr.contains("no contract"),
        "{out:?}"
    );

    // Treated as new: compared in full, the hand edit is found and written over, and the
    // contract is back.
    let anew = single_live(&setup, &serial).await;
    assert_eq!(anew["new"], 1, "{anew}");
    assert_eq!(anew["counters"]["updated"], 1, "{anew}");
    assert_eq!(anew["counters"]["skipped"], 0, "{anew}");
    assert_ne!(destination_name(&http, &asset).await, "edited-by-hand");
    let listed = contracts_json(&run(&setup, &["contracts", "--json"]).await);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["origin_id"], serial.as_str());
    assert_eq!(listed[0]["last_action"], "updated");

    let store = Store::open(&setup.store, StoreOptions::default()).unwrap();
    let kept = store.get_contract("cmdb", &serial).unwrap().unwrap();
    assert_eq!(kept.target_id.as_deref(), Some(target.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_errors_exit_2_and_name_the_configured_connections() {
    let setup = setup().await;
    let out = run(&setup, &["contracts", "--connection", "nope"]).await;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr.contains(
            "unknown connection nope (configured: cmdb, registry, mdm, cmdb-wrong-method)"
        ),
        "{out:?}"
    );
    let out = run(
        &setup,
        &["contracts", "--connection", "nope", "--delete", "SD-1"],
    )
    .await;
    assert_eq!(out.code, Some(2), "{out:?}");
    // --delete without --connection is refused by the command line itself.
    let out = run(&setup, &["contracts", "--delete", "SD-1"]).await;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("--connection"), "{out:?}");
}
