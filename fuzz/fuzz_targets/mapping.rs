//! Any bytes as a source record, mapped by every demo connection's mapping (JSON and XML
//! bodies, formatters of every kind): mapping, comparing and encoding never panic.

#![no_main]

use std::path::Path;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use syncdeck::config::{self, Environment, WriteContract};
use syncdeck::engine::body;
use syncdeck::engine::mapping::{Comparison, Mapping};

/// Each demo connection's mapping, made ready once, with its update contract.
static MAPPINGS: LazyLock<Vec<(Mapping, WriteContract)>> = LazyLock::new(|| {
    let text = syncdeck::demo::config_for("127.0.0.1:9".parse().expect("an address"));
    let env = Environment::with_fallbacks(syncdeck::demo::demo_secrets().iter().copied());
    let config = config::parse(&text, Path::new("demo.toml"), &env).expect("the demo config");
    config
        .connections
        .iter()
        .map(|c| (Mapping::new(&c.mapping), c.update.clone()))
        .collect()
});

fuzz_target!(|bytes: &[u8]| {
    // The same bytes as a destination's error body, in either form.
    let _ = body::error_details(bytes, Some(body::XML));
    let _ = body::error_details(bytes, Some(body::JSON));
    let Ok(record) = serde_json::from_slice::<Value>(bytes) else {
        return;
    };
    // The record compared with nothing, with itself and with a typical destination record.
    let typical = json!({"name": "x", "ram_gb": 16, "install_status": "In Use"});
    for (mapping, update) in MAPPINGS.iter() {
        for destination in [None, Some(&record), Some(&typical)] {
            let Ok(formatted) = mapping.format(&record) else {
                continue;
            };
            let hash = formatted.desired_hash().to_string();
            match formatted.compare(destination) {
                Comparison::Write {
                    payload,
                    diff,
                    desired_hash,
                } => {
                    assert!(!diff.is_empty(), "a write with an empty diff");
                    assert_eq!(desired_hash, hash);
                    let _ = body::encode(&update.body, &payload);
                }
                Comparison::Skipped { desired_hash, .. } => assert_eq!(desired_hash, hash),
            }
        }
    }
});
