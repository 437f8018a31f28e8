//! The store settings the engine reads per connection, by key: shared by the engine, which
//! reads them, and the front ends, which write them.

/// Settings key of a connection's dry-run override (`"true"` / `"false"`).
pub fn dry_run_override_key(connection: &str) -> String {
    format!("dry_run.{connection}")
}

/// Settings key holding the config hash of a connection's last clean Full Dry run.
pub fn clean_full_dry_key(connection: &str) -> String {
    format!("clean_full_dry.{connection}")
}
