//! Where syncdeck keeps its files: the platform config, data and state directories.

use std::path::PathBuf;

use directories::ProjectDirs;

fn project() -> Option<ProjectDirs> {
    ProjectDirs::from("", "", "syncdeck")
}

/// The default config file: `<config dir>/syncdeck/config.toml`.
pub fn default_config_file() -> PathBuf {
    project()
        .map(|p| p.config_dir().join("config.toml"))
        .unwrap_or_else(|| PathBuf::from("syncdeck.toml"))
}

/// The default store file: `<data dir>/syncdeck/syncdeck.redb`.
pub fn default_store_file() -> PathBuf {
    data_dir().join("syncdeck.redb")
}

/// The data directory (store, exports).
pub fn data_dir() -> PathBuf {
    project()
        .map(|p| p.data_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from(".syncdeck-data"))
}

/// The log directory: the platform state dir where there is one (Linux), else the local data dir.
pub fn log_dir() -> PathBuf {
    project()
        .map(|p| {
            p.state_dir()
                .unwrap_or_else(|| p.data_local_dir())
                .join("logs")
        })
        .unwrap_or_else(|| PathBuf::from(".syncdeck-logs"))
}
