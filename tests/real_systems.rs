//! The example configs of `assets/examples/` against stand-ins of the real systems
//! (`tests/standins`, written from each system's public API documentation): every example
//! passes `check-config`, and each runs Full Dry → Full Live → Full Dry through the real binary
//! with exact counters, the destination left holding what the mapping says, a second Dry run
//! with nothing to do, and the Live run throttled (429 with `Retry-After`) finishing with zero
//! Failed. Only 127.0.0.1: the examples' real host names are replaced by the stand-ins'.

mod common;
mod standins;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{Value, json};
use standins::{Device, Start, expected, fleet, start_of};

const JAMF_PASSWORD: &str = "jamf-pa55-Xq81";
const JAMF_CLIENT_SECRET: &str = "jamf-client-s3cret-Lm27";
const GRAPH_SECRET: &str = "graph-client-s3cret-Pz90";
const SERVICENOW_PASSWORD: &str = "sn-pa55-Vw43";
const SNIPEIT_KEY: &str = "snipe-key-Rt56";
const NETBOX_TOKEN: &str = "nbt_abc.netbox-token-Hy12";
const KANDJI_TOKEN: &str = "kandji-token-Ju77";
const LIMIT: Duration = Duration::from_secs(180);

fn examples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/examples")
}

fn secrets() -> Vec<(&'static str, &'static str)> {
    vec![
        ("JAMF_API_PASSWORD", JAMF_PASSWORD),
        ("JAMF_CLIENT_SECRET", JAMF_CLIENT_SECRET),
        ("GRAPH_CLIENT_SECRET", GRAPH_SECRET),
        ("SERVICENOW_PASSWORD", SERVICENOW_PASSWORD),
        ("SNIPEIT_API_KEY", SNIPEIT_KEY),
        ("NETBOX_API_TOKEN", NETBOX_TOKEN),
        ("KANDJI_API_TOKEN", KANDJI_TOKEN),
    ]
}

/// An example config with its real hosts pointed at stand-ins, a store, a private home.
struct Site {
    dir: tempfile::TempDir,
    config: PathBuf,
    store: PathBuf,
}

impl Site {
    fn new(example: &str, hosts: &[(&str, SocketAddr)], edits: &[(&str, &str)]) -> Site {
        let mut text = std::fs::read_to_string(examples_dir().join(example))
            .unwrap_or_else(|e| panic!("{example}: {e}"));
        for (host, addr) in hosts {
            assert!(text.contains(host), "{example} names {host}");
            text = text.replace(host, &format!("http://{addr}"));
        }
        for (from, to) in edits {
            assert!(text.contains(from), "{example} has {from}");
            text = text.replace(from, to);
        }
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let config = dir.path().join("config.toml");
        std::fs::write(&config, text).unwrap_or_else(|e| panic!("{e}"));
        let store = dir.path().join("store.redb");
        Site { dir, config, store }
    }

    async fn syncdeck(&self, args: &[&str]) -> common::cli::Output {
        let mut command = common::cli::command(self.dir.path());
        command
            .envs(secrets())
            .arg("--config")
            .arg(&self.config)
            .arg("--store")
            .arg(&self.store)
            .args(args);
        common::cli::output(command, LIMIT).await
    }

    /// `run --full MODE --json`: the run's summary.
    async fn full(&self, mode: &str) -> Value {
        let out = self.syncdeck(&["run", "--full", mode, "--json"]).await;
        assert!(
            matches!(out.code, Some(0 | 1)),
            "run --full {mode} failed: {out:?}"
        );
        out.json()
    }
}

/// What one connection of an example should count over a fleet of `n`.
struct Expect {
    name: &'static str,
    n: usize,
    /// Absent records are created (else Missing Destination).
    creates: bool,
}

fn connection<'a>(run: &'a Value, name: &str) -> &'a Value {
    run["connections"]
        .as_array()
        .and_then(|all| all.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no connection {name} in {run:#}"))
}

fn count(c: &Value, key: &str) -> u64 {
    c["counters"][key].as_u64().unwrap_or(u64::MAX)
}

fn check_dry(run: &Value, expect: &Expect, first: bool) {
    let (current, stale, absent) = expected(expect.n);
    let c = connection(run, expect.name);
    assert_eq!(c["status"], "completed", "{c:#}");
    let planned = if first {
        stale + if expect.creates { absent } else { 0 }
    } else {
        0
    };
    let skipped = if first {
        current
    } else {
        current + stale + if expect.creates { absent } else { 0 }
    };
    let missing = if expect.creates { 0 } else { absent };
    assert_eq!(count(c, "would_update"), planned, "would_update {c:#}");
    assert_eq!(count(c, "skipped"), skipped, "skipped {c:#}");
    assert_eq!(count(c, "missing_destination"), missing, "missing {c:#}");
    assert_eq!(count(c, "errors"), 0, "errors {c:#}");
    assert_eq!(c["fetched"].as_u64(), Some(expect.n as u64), "{c:#}");
}

fn check_live(run: &Value, expect: &Expect) {
    let (current, stale, absent) = expected(expect.n);
    let c = connection(run, expect.name);
    assert_eq!(c["status"], "completed", "{c:#}");
    assert_eq!(count(c, "updated"), stale, "updated {c:#}");
    assert_eq!(
        count(c, "created"),
        if expect.creates { absent } else { 0 },
        "created {c:#}"
    );
    assert_eq!(count(c, "skipped"), current, "skipped {c:#}");
    assert_eq!(count(c, "failed"), 0, "failed {c:#}");
    assert_eq!(
        count(c, "missing_destination"),
        if expect.creates { 0 } else { absent },
        "{c:#}"
    );
}

/// Full Dry → Full Live (throttled by `throttle`) → Full Dry, checking each run.
async fn cycle(site: &Site, expects: &[Expect], throttle: impl Fn(bool)) {
    let dry = site.full("--dry-run").await;
    for expect in expects {
        check_dry(&dry, expect, true);
    }
    throttle(true);
    let live = site.full("--live").await;
    throttle(false);
    for expect in expects {
        check_live(&live, expect);
    }
    let again = site.full("--dry-run").await;
    for expect in expects {
        check_dry(&again, expect, false);
    }
}

#[test]
fn every_example_config_passes_check_config() {
    let mut checked = 0;
    for entry in std::fs::read_dir(examples_dir()).unwrap_or_else(|e| panic!("{e}")) {
        let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_syncdeck"))
            .env_remove("SYNCDECK_CONFIG")
            .envs(secrets())
            .arg("check-config")
            .arg(&path)
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}: {}{}",
            path.display(),
            stdout,
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains(": OK"), "{stdout}");
        checked += 1;
    }
    assert_eq!(checked, 7, "one example per system of SPEC section 11");
}

// ----- the examples, each against its stand-ins ---------------------------------------------

async fn jamf_source(fleet: Vec<Device>) -> (Arc<standins::jamf::Jamf>, SocketAddr) {
    let jamf = standins::jamf::Jamf::new(fleet, JAMF_PASSWORD, JAMF_CLIENT_SECRET);
    let addr = standins::serve(standins::jamf::router(jamf.clone())).await;
    (jamf, addr)
}

async fn graph(fleet: &[Device], page: usize) -> (Arc<standins::graph::Graph>, SocketAddr) {
    let graph = standins::graph::Graph::new(fleet, GRAPH_SECRET, page);
    let addr = standins::serve(standins::graph::router(graph.clone())).await;
    let _ = graph.addr.set(addr);
    (graph, addr)
}

async fn kandji(fleet: &[Device]) -> (Arc<standins::kandji::Kandji>, SocketAddr) {
    let kandji = standins::kandji::Kandji::new(fleet, KANDJI_TOKEN);
    let addr = standins::serve(standins::kandji::router(kandji.clone())).await;
    let _ = kandji.addr.set(addr);
    (kandji, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servicenow_from_jamf_and_intune_with_trimmed_pages_and_hourly_throttling() {
    let macs = fleet("C02J", 24);
    let pcs = fleet("PC", 20);
    let (jamf, jamf_addr) = jamf_source(macs.clone()).await;
    let (graph, graph_addr) = graph(&pcs, 10).await;
    let sn = standins::servicenow::ServiceNow::new(SERVICENOW_PASSWORD);
    let sn_addr = standins::serve(standins::servicenow::router(sn.clone())).await;
    let _ = sn.addr.set(sn_addr);
    for (i, d) in macs.iter().enumerate() {
        let tag = if start_of(i) == Start::Stale {
            "OLD".to_string()
        } else {
            format!("AT-{i:04}")
        };
        if start_of(i) != Start::Absent {
            sn.insert(
                &d.serial,
                json!({"name": d.name, "asset_tag": tag, "u_mdm": "Jamf Pro"}),
            );
        }
    }
    for (i, d) in pcs.iter().enumerate() {
        let mdm = if start_of(i) == Start::Stale {
            "SCCM"
        } else {
            "Intune"
        };
        if start_of(i) != Start::Absent {
            sn.insert(&d.serial, json!({"name": d.name, "u_mdm": mdm}));
        }
        // Servers the sync account may not see: a query ACL trims them from every page.
        sn.insert(
            &format!("{}-SRV", d.serial),
            json!({"name": format!("srv-{i}")}),
        );
    }
    sn.acl.store(true, Ordering::SeqCst);
    let site = Site::new(
        "servicenow.toml",
        &[
            ("https://yourcompany.jamfcloud.com", jamf_addr),
            ("https://graph.microsoft.com", graph_addr),
            ("https://login.microsoftonline.com", graph_addr),
            ("https://yourcompany.service-now.com", sn_addr),
        ],
        &[],
    );
    let expects = [
        Expect {
            name: "cmdb-macs",
            n: macs.len(),
            creates: false,
        },
        Expect {
            name: "cmdb-pcs",
            n: pcs.len(),
            creates: false,
        },
    ];
    cycle(&site, &expects, |on| {
        if on {
            // An hourly rate limit rule: Retry-After beyond the 120 s default would fail; the
            // example raises max_retry_after_secs. Here it asks for a short wait.
            sn.throttling.start(4, "1");
        } else {
            sn.throttling.stop();
        }
    })
    .await;
    assert!(sn.throttling.answered_429.load(Ordering::SeqCst) > 0);
    // The destination holds what the mapping writes.
    let records = sn.records.lock().unwrap_or_else(|e| e.into_inner());
    for (i, d) in macs.iter().enumerate() {
        if let Some(r) = records.get(&d.serial) {
            assert_eq!(r["asset_tag"], format!("AT-{i:04}"), "{r}");
            assert_eq!(r["u_mdm"], "Jamf Pro");
        }
    }
    for d in &pcs {
        if let Some(r) = records.get(&d.serial) {
            assert_eq!(r["u_mdm"], "Intune", "{r}");
        }
    }
    drop(records);
    // The Jamf listing asked for the HARDWARE section every time; one token per run.
    assert_eq!(jamf.without_hardware.load(Ordering::SeqCst), 0);
    assert_eq!(jamf.tokens.count(), 3, "one Jamf token per run");
    assert_eq!(graph.tokens.count(), 3, "one Graph token per run");
    // The per-serial query escapes ^ (none here) and names the serial.
    assert!(
        sn.queries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty(),
        "bulk: no per-serial lookups"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intune_from_jamf_with_auto_concurrency_fractional_retry_after_and_a_token_renewed_after_401()
 {
    let macs = fleet("C02J", 24);
    let (jamf, jamf_addr) = jamf_source(macs.clone()).await;
    let (graph, graph_addr) = graph(&[], 10).await;
    graph.as_destination(&macs, |i, d, stale| {
        let notes = if stale {
            "old".to_string()
        } else {
            format!("AT-{i:04}")
        };
        standins::graph::managed_device(d, &notes)
    });
    let site = Site::new(
        "intune.toml",
        &[
            ("https://yourcompany.jamfcloud.com", jamf_addr),
            ("https://graph.microsoft.com", graph_addr),
            ("https://login.microsoftonline.com", graph_addr),
        ],
        &[],
    );
    let expects = [Expect {
        name: "intune",
        n: macs.len(),
        creates: false,
    }];
    let checks_before = std::cell::Cell::new(0);
    cycle(&site, &expects, |on| {
        if on {
            graph.throttling.start(3, "0.25");
            // The token runs out a few requests into the Live run.
            let now = graph.tokens.checks.load(Ordering::SeqCst);
            checks_before.set(now);
            graph
                .tokens
                .expire_at_check
                .store(now + 6, Ordering::SeqCst);
        } else {
            graph.throttling.stop();
        }
    })
    .await;
    assert!(graph.throttling.answered_429.load(Ordering::SeqCst) > 0);
    // Three runs, one token each, and one renewal after the 401.
    assert_eq!(graph.tokens.count(), 4, "tokens asked for");
    assert_eq!(jamf.tokens.count(), 3);
    let devices = graph.devices.lock().unwrap_or_else(|e| e.into_inner());
    for (i, d) in macs.iter().enumerate() {
        if start_of(i) == Start::Absent {
            continue;
        }
        let device = devices
            .values()
            .find(|x| x["serialNumber"] == d.serial)
            .unwrap_or_else(|| panic!("{}", d.serial));
        assert_eq!(device["notes"], format!("AT-{i:04}"));
        assert_eq!(device["managedDeviceName"], d.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jamf_pro_from_kandji_with_oauth_client_credentials() {
    let macs = fleet("C02K", 22);
    let (_kandji, kandji_addr) = kandji(&macs).await;
    let (jamf, jamf_addr) = jamf_source(Vec::new()).await;
    jamf.as_destination(&macs, |i, d, stale| {
        let tag = if stale {
            "OLD".to_string()
        } else {
            format!("KT-{i:04}")
        };
        let pro = json!({
            "id": (500 + i).to_string(),
            "general": {"name": d.name, "assetTag": tag},
            "hardware": {"serialNumber": d.serial, "model": d.model},
            "userAndLocation": {"email": d.user},
        });
        (pro, json!({}))
    });
    let site = Site::new(
        "jamf-pro.toml",
        &[
            ("https://yourcompany.api.kandji.io", kandji_addr),
            ("https://yourcompany.jamfcloud.com", jamf_addr),
        ],
        &[],
    );
    let expects = [Expect {
        name: "jamf-pro",
        n: macs.len(),
        creates: false,
    }];
    cycle(&site, &expects, |on| {
        if on {
            jamf.throttling.start(4, "0.2")
        } else {
            jamf.throttling.stop()
        }
    })
    .await;
    assert_eq!(jamf.tokens.count(), 3, "one OAuth token per run");
    let computers = jamf.computers.lock().unwrap_or_else(|e| e.into_inner());
    for (i, d) in macs.iter().enumerate() {
        if let Some(c) = computers.get(&d.serial) {
            assert_eq!(c["general"]["assetTag"], format!("KT-{i:04}"), "{c}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jamf_classic_xml_from_kandji_with_single_object_lookups() {
    let macs = fleet("C02K", 22);
    let (_kandji, kandji_addr) = kandji(&macs).await;
    let (jamf, jamf_addr) = jamf_source(Vec::new()).await;
    jamf.as_destination(&macs, |i, d, stale| {
        let building = if stale { "Old HQ" } else { d.site };
        let classic = json!({"general": {"id": 700 + i, "name": d.name, "serial_number": d.serial,
                                          "asset_tag": format!("KT-{i:04}")},
                              "location": {"building": building, "username": d.user}});
        (json!({"id": (700 + i).to_string()}), classic)
    });
    let site = Site::new(
        "jamf-classic.toml",
        &[
            ("https://yourcompany.api.kandji.io", kandji_addr),
            ("https://yourcompany.jamfcloud.com", jamf_addr),
        ],
        &[],
    );
    let expects = [Expect {
        name: "jamf-classic",
        n: macs.len(),
        creates: false,
    }];
    cycle(&site, &expects, |on| {
        if on {
            jamf.throttling.start(4, "0.2")
        } else {
            jamf.throttling.stop()
        }
    })
    .await;
    let classic = jamf.classic.lock().unwrap_or_else(|e| e.into_inner());
    for (i, d) in macs.iter().enumerate() {
        if let Some(c) = classic.get(&d.serial) {
            assert_eq!(c["location"]["building"], d.site, "{c}");
            assert_eq!(c["general"]["asset_tag"], format!("KT-{i:04}"));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snipe_it_from_jamf_with_lookups_creates_and_errors_inside_a_200() {
    let macs = fleet("C02J", 24);
    let (_jamf, jamf_addr) = jamf_source(macs.clone()).await;
    let snipe = standins::snipeit::SnipeIt::new(SNIPEIT_KEY);
    let snipe_addr = standins::serve(standins::snipeit::router(snipe.clone())).await;
    {
        let mut assets = snipe.assets.lock().unwrap_or_else(|e| e.into_inner());
        for (i, d) in macs.iter().enumerate() {
            let status = match start_of(i) {
                Start::Absent => continue,
                Start::Stale => 1,
                Start::Current => 2,
            };
            let id = 1 + i as u64;
            assets.insert(
                id,
                standins::snipeit::asset(id, &d.serial, &d.name, d.model, d.site, status),
            );
        }
    }
    let site = Site::new(
        "snipe-it.toml",
        &[
            ("https://yourcompany.jamfcloud.com", jamf_addr),
            ("https://snipeit.example.com", snipe_addr),
        ],
        // Snipe-IT's 120 a minute would make this test take minutes.
        &[("rate_limit_per_sec = 2 ", "rate_limit_per_sec = 200 ")],
    );
    let expects = [Expect {
        name: "snipe-it",
        n: macs.len(),
        creates: true,
    }];
    cycle(&site, &expects, |on| {
        if on {
            snipe.throttling.start(5, "0.2")
        } else {
            snipe.throttling.stop()
        }
    })
    .await;
    let assets = snipe.assets.lock().unwrap_or_else(|e| e.into_inner());
    assert_eq!(assets.len(), macs.len(), "every absent asset created");
    for d in &macs {
        let a = assets
            .values()
            .find(|a| a["serial"] == d.serial)
            .unwrap_or_else(|| panic!("{}", d.serial));
        assert_eq!(
            a["model"]["id"].as_u64(),
            standins::snipeit::model_id(d.model),
            "{a}"
        );
        assert_eq!(
            a["location"]["id"].as_u64(),
            standins::snipeit::location_id(d.site),
            "{a}"
        );
        assert_eq!(a["status_label"]["id"], 2, "{a}");
        assert_eq!(a["name"], d.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn netbox_from_kandji_with_compare_paths_and_a_site_lookup() {
    let macs = fleet("C02K", 22);
    let (_kandji, kandji_addr) = kandji(&macs).await;
    let netbox = standins::netbox::NetBox::new(NETBOX_TOKEN);
    let netbox_addr = standins::serve(standins::netbox::router(netbox.clone())).await;
    let _ = netbox.addr.set(netbox_addr);
    {
        let mut devices = netbox.devices.lock().unwrap_or_else(|e| e.into_inner());
        for (i, d) in macs.iter().enumerate() {
            let status = match start_of(i) {
                Start::Absent => continue,
                Start::Stale => "planned",
                Start::Current => "active",
            };
            let id = 1 + i as u64;
            devices.insert(
                id,
                standins::netbox::device(
                    id,
                    &d.name,
                    &d.serial,
                    status,
                    d.site,
                    &format!("KT-{i:04}"),
                ),
            );
        }
    }
    let site = Site::new(
        "netbox.toml",
        &[
            ("https://yourcompany.api.kandji.io", kandji_addr),
            ("https://netbox.example.com", netbox_addr),
        ],
        &[],
    );
    let expects = [Expect {
        name: "netbox",
        n: macs.len(),
        creates: false,
    }];
    cycle(&site, &expects, |on| {
        if on {
            netbox.throttling.start(4, "0.2")
        } else {
            netbox.throttling.stop()
        }
    })
    .await;
    let devices = netbox.devices.lock().unwrap_or_else(|e| e.into_inner());
    for d in devices.values() {
        assert_eq!(d["status"]["value"], "active", "{d}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kandji_from_intune_with_a_blueprint_lookup_and_a_constant() {
    let macs = fleet("C02I", 20);
    let (_graph, graph_addr) = graph(&macs, 10).await;
    let (kandji, kandji_addr) = kandji(&[]).await;
    let devices = macs
        .iter()
        .enumerate()
        .filter(|(i, _)| start_of(*i) != Start::Absent)
        .map(|(i, d)| {
            let blueprint = if start_of(i) == Start::Stale {
                "Paris"
            } else {
                "Standard Mac"
            };
            standins::kandji::device(
                i,
                &d.serial,
                &d.name,
                d.model,
                blueprint,
                &d.name.to_uppercase(),
                &d.user,
            )
        })
        .collect();
    kandji.set(devices);
    let site = Site::new(
        "kandji.toml",
        &[
            ("https://graph.microsoft.com", graph_addr),
            ("https://login.microsoftonline.com", graph_addr),
            ("https://yourcompany.api.kandji.io", kandji_addr),
        ],
        &[],
    );
    let expects = [Expect {
        name: "kandji",
        n: macs.len(),
        creates: false,
    }];
    cycle(&site, &expects, |on| {
        if on {
            kandji.throttling.start(4, "0.2")
        } else {
            kandji.throttling.stop()
        }
    })
    .await;
    let standard = standins::kandji::blueprint_id("Standard Mac");
    let all = kandji.devices.lock().unwrap_or_else(|e| e.into_inner());
    for d in all.values() {
        assert_eq!(
            d["blueprint_id"].as_str().map(str::to_string),
            standard,
            "{d}"
        );
    }
}
