//! `report` and `contracts` read a store with no config and no credentials: what they show is
//! in the store (issue 15, point 9). On-call staff handed a store (or on a host without the
//! secrets) can read it; commands that send still need everything.

use std::path::Path;

mod common;

use common::cli::{CHILD_LIMIT, DemoFiles, Output, command, output};

/// `syncdeck ARGS` with a private environment and no secrets at all.
async fn bare(home: &Path, args: &[&str]) -> Output {
    let mut command = command(home);
    command.args(args);
    output(command, CHILD_LIMIT).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_and_contracts_read_a_store_without_config_or_secrets() {
    let setup = DemoFiles::start(300, 71).await;
    let ran = setup
        .syncdeck(&["run", "--full", "--live", "--force", "--json"])
        .await;
    assert!(matches!(ran.code, Some(0 | 1)), "{ran:?}");
    let store = setup.store.to_str().unwrap();
    let config = setup.config.to_str().unwrap();
    let with_config = setup.syncdeck(&["report", "--format", "json"]).await;
    assert_eq!(with_config.code, Some(0), "{with_config:?}");
    let entries = with_config.json();
    assert!(entries.as_array().unwrap().len() >= 300, "{with_config:?}");

    // No config file anywhere, the store named: the same report.
    let home = tempfile::tempdir().unwrap();
    let alone = bare(
        home.path(),
        &["--store", store, "report", "--format", "json"],
    )
    .await;
    assert_eq!(alone.code, Some(0), "{alone:?}");
    assert_eq!(alone.json(), entries);

    // The config, but none of its secrets set: the same report, no complaint about them.
    let no_secrets = bare(
        home.path(),
        &[
            "--config", config, "--store", store, "report", "--format", "json",
        ],
    )
    .await;
    assert_eq!(no_secrets.code, Some(0), "{no_secrets:?}");
    assert_eq!(no_secrets.json(), entries);

    // Contracts: every connection the store keeps contracts of, as with the config.
    let contracts = setup.syncdeck(&["contracts", "--json"]).await;
    assert_eq!(contracts.code, Some(0), "{contracts:?}");
    let contracts_alone = bare(home.path(), &["--store", store, "contracts", "--json"]).await;
    assert_eq!(contracts_alone.code, Some(0), "{contracts_alone:?}");
    let sorted = |v: serde_json::Value| {
        let mut rows: Vec<String> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.to_string())
            .collect();
        rows.sort();
        rows
    };
    let expected = sorted(contracts.json());
    assert!(!expected.is_empty());
    assert_eq!(sorted(contracts_alone.json()), expected);

    // A command that sends still needs its secrets: a clear config error, exit 2.
    let run = bare(
        home.path(),
        &[
            "--config",
            config,
            "--store",
            store,
            "run",
            "--full",
            "--dry-run",
        ],
    )
    .await;
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(run.stderr.contains("SYNCDECK_DEMO_"), "{run:?}");
}

#[tokio::test]
async fn reading_a_store_that_is_not_there_creates_nothing() {
    let home = tempfile::tempdir().unwrap();
    let missing = home.path().join("nope.redb");
    let out = bare(
        home.path(),
        &["--store", missing.to_str().unwrap(), "report"],
    )
    .await;
    assert_eq!(out.code, Some(3), "{out:?}");
    assert!(out.stderr.contains("there is no such file"), "{out:?}");
    assert!(!missing.exists());
    // A config named but missing is still an error of its own.
    let out = bare(
        home.path(),
        &[
            "--config",
            home.path().join("absent.toml").to_str().unwrap(),
            "--store",
            missing.to_str().unwrap(),
            "contracts",
        ],
    )
    .await;
    assert_eq!(out.code, Some(2), "{out:?}");
}
