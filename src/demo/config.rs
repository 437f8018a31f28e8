//! The demo configuration shipped with the product and the secrets its credentials reference.

use std::net::SocketAddr;

/// The syncdeck configuration that drives the demo systems (`assets/demo/config.toml`).
pub const DEMO_CONFIG: &str = include_str!("../../assets/demo/config.toml");

/// The base URL [`DEMO_CONFIG`] is written against; [`config_for`] swaps in the real address.
pub const DEMO_BASE_URL: &str = "http://127.0.0.1:7300";

pub(crate) const CMDB_TOKEN: &str = "demo-cmdb-token";
pub(crate) const REGISTRY_USER: &str = "demo";
pub(crate) const REGISTRY_PASSWORD: &str = "demo-registry-pass";
pub(crate) const MDM_API_KEY: &str = "demo-mdm-key";

const SECRETS: &[(&str, &str)] = &[
    ("SYNCDECK_DEMO_CMDB_TOKEN", CMDB_TOKEN),
    ("SYNCDECK_DEMO_REGISTRY_USER", REGISTRY_USER),
    ("SYNCDECK_DEMO_REGISTRY_PASSWORD", REGISTRY_PASSWORD),
    ("SYNCDECK_DEMO_MDM_KEY", MDM_API_KEY),
];

/// [`DEMO_CONFIG`] pointed at a demo server listening on `addr`, line for line the same.
pub fn config_for(addr: SocketAddr) -> String {
    DEMO_CONFIG.replace(DEMO_BASE_URL, &format!("http://{addr}"))
}

/// The environment variables [`DEMO_CONFIG`] references (`env:NAME`) and the values the demo
/// destinations accept; the launcher supplies them when the operator has not set them.
pub fn demo_secrets() -> &'static [(&'static str, &'static str)] {
    SECRETS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_env_reference_has_a_demo_secret_and_back() {
        let referenced: Vec<&str> = DEMO_CONFIG
            .lines()
            .filter(|line| !line.trim_start().starts_with('#'))
            .filter_map(|line| line.split("\"env:").nth(1))
            .filter_map(|rest| rest.split('"').next())
            .collect();
        for name in &referenced {
            assert!(
                SECRETS.iter().any(|(secret, _)| secret == name),
                "{name} has no demo value"
            );
        }
        for (name, _) in SECRETS {
            assert!(
                referenced.contains(name),
                "{name} is not used by the demo config"
            );
        }
    }

    #[test]
    fn config_for_keeps_line_numbers() {
        let addr: SocketAddr = ([127, 0, 0, 1], 40123).into();
        let config = config_for(addr);
        assert_eq!(config.lines().count(), DEMO_CONFIG.lines().count());
        assert!(config.contains("http://127.0.0.1:40123"));
        assert!(!config.contains(DEMO_BASE_URL));
    }
}
