//! The constant tables the demo fleet is drawn from: models, sites, people, status codes.

/// Which operating systems a model ships with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Platform {
    Windows,
    Mac,
    /// Windows on most units, Ubuntu on some (engineering desks).
    WindowsOrLinux,
}

/// One hardware model of the fleet.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ModelSpec {
    pub manufacturer: &'static str,
    pub model: &'static str,
    /// Hostname prefix: `lt` laptop, `dt` desktop.
    pub kind: &'static str,
    pub platform: Platform,
    pub memory_gb: &'static [u32],
    pub cpu_cores: &'static [u32],
    pub disk_gb: &'static [u32],
}

pub(crate) const MODELS: &[ModelSpec] = &[
    ModelSpec {
        manufacturer: "Dell",
        model: "Latitude 7440",
        kind: "lt",
        platform: Platform::WindowsOrLinux,
        memory_gb: &[16, 32],
        cpu_cores: &[10, 12],
        disk_gb: &[512, 1024],
    },
    ModelSpec {
        manufacturer: "Lenovo",
        model: "ThinkPad T14 Gen 4",
        kind: "lt",
        platform: Platform::WindowsOrLinux,
        memory_gb: &[16, 32],
        cpu_cores: &[10, 12],
        disk_gb: &[512, 1024],
    },
    ModelSpec {
        manufacturer: "Apple",
        model: "MacBook Pro 14 M3",
        kind: "lt",
        platform: Platform::Mac,
        memory_gb: &[16, 36],
        cpu_cores: &[8, 12],
        disk_gb: &[512, 1024],
    },
    ModelSpec {
        manufacturer: "HP",
        model: "EliteBook 840 G10",
        kind: "lt",
        platform: Platform::Windows,
        memory_gb: &[16, 32],
        cpu_cores: &[10, 12],
        disk_gb: &[256, 512],
    },
    ModelSpec {
        manufacturer: "Microsoft",
        model: "Surface Laptop 5",
        kind: "lt",
        platform: Platform::Windows,
        memory_gb: &[8, 16],
        cpu_cores: &[10],
        disk_gb: &[256, 512],
    },
    ModelSpec {
        manufacturer: "Dell",
        model: "OptiPlex 7010",
        kind: "dt",
        platform: Platform::WindowsOrLinux,
        memory_gb: &[16, 32, 64],
        cpu_cores: &[6, 14],
        disk_gb: &[512, 1024],
    },
    ModelSpec {
        manufacturer: "Lenovo",
        model: "ThinkCentre M70q Gen 4",
        kind: "dt",
        platform: Platform::Windows,
        memory_gb: &[8, 16],
        cpu_cores: &[6, 10],
        disk_gb: &[256, 512],
    },
    ModelSpec {
        manufacturer: "Apple",
        model: "Mac mini M2",
        kind: "dt",
        platform: Platform::Mac,
        memory_gb: &[8, 16, 24],
        cpu_cores: &[8],
        disk_gb: &[256, 512],
    },
];

/// Operating system name, current versions, and the older version a stale record still shows.
pub(crate) struct OsLine {
    pub name: &'static str,
    pub versions: &'static [&'static str],
    pub older: &'static str,
}

pub(crate) const WINDOWS: OsLine = OsLine {
    name: "Windows",
    versions: &["23H2", "24H2"],
    older: "22H2",
};
pub(crate) const MACOS: OsLine = OsLine {
    name: "macOS",
    versions: &["14.7", "15.3"],
    older: "13.6",
};
pub(crate) const UBUNTU: OsLine = OsLine {
    name: "Ubuntu",
    versions: &["22.04", "24.04"],
    older: "20.04",
};

/// The OS line a device's `os.name` belongs to.
pub(crate) fn os_line(name: &str) -> &'static OsLine {
    match name {
        "macOS" => &MACOS,
        "Ubuntu" => &UBUNTU,
        _ => &WINDOWS,
    }
}

/// Site codes as the source writes them (lower case); the registry knows them in upper case.
pub(crate) const KNOWN_SITES: &[&str] = &[
    "ams1", "ber2", "lon1", "mad1", "nyc3", "par1", "sfo1", "sin1", "syd1", "tyo2",
];

/// Sites opened after the registry's site list was last updated: it answers 400 for them.
pub(crate) const UNKNOWN_SITES: &[&str] = &["osl4"];

/// The registry's site codes, as it validates them.
pub(crate) const REGISTRY_SITES: &[&str] = &[
    "AMS1", "BER2", "LON1", "MAD1", "NYC3", "PAR1", "SFO1", "SIN1", "SYD1", "TYO2",
];

/// The site a stale destination record still points at: the next known one.
pub(crate) fn other_site(site: &str) -> &'static str {
    let at = KNOWN_SITES.iter().position(|s| *s == site);
    KNOWN_SITES[at.map_or(0, |i| (i + 1) % KNOWN_SITES.len())]
}

pub(crate) const FIRST_NAMES: &[&str] = &[
    "anna", "ben", "carla", "david", "elif", "farid", "grace", "hiro", "ines", "jonas", "kemal",
    "lena", "marco", "nora", "omar", "priya", "quentin", "rosa", "sven", "tara", "umar", "vera",
    "wei", "yusuf",
];

pub(crate) const LAST_NAMES: &[&str] = &[
    "andersen",
    "baker",
    "costa",
    "dubois",
    "eriksen",
    "fischer",
    "garcia",
    "haddad",
    "ito",
    "jansen",
    "kowalski",
    "lindqvist",
    "moreau",
    "novak",
    "okafor",
    "patel",
    "rossi",
    "schmidt",
    "tanaka",
    "vargas",
    "weber",
    "zhang",
];

pub(crate) const OWNER_DOMAIN: &str = "corp.example";

/// Where a device no one owns any more ends up in stale destination records.
pub(crate) const HELPDESK_OWNER: &str = "helpdesk@corp.example";

/// Source status codes with their weights in 10,000 (the remaining 1% is a null status).
pub(crate) const STATUSES: &[(&str, u32)] = &[
    ("in_use", 7_100),
    ("in_stock", 1_200),
    ("repair", 600),
    ("retired", 1_000),
];

/// The status a stale destination record still shows: the next one in [`STATUSES`].
pub(crate) fn other_status(status: &str) -> &'static str {
    let at = STATUSES.iter().position(|(s, _)| *s == status);
    STATUSES[at.map_or(0, |i| (i + 1) % STATUSES.len())].0
}
