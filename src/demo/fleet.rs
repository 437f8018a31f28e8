//! The demo source fleet: devices computed on demand from (seed, serial), so a 100,000-device
//! fleet costs nothing to start and every page is the same on every run.

use chrono::{DateTime, SecondsFormat};
use serde::Serialize;

use super::catalogue::{
    self, FIRST_NAMES, KNOWN_SITES, LAST_NAMES, MODELS, OWNER_DOMAIN, Platform, STATUSES,
    UNKNOWN_SITES,
};
use super::dice::Dice;

/// One device as the source fleet lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Device {
    pub serial: String,
    pub hostname: String,
    pub model: &'static str,
    pub manufacturer: &'static str,
    /// `in_use`, `in_stock`, `retired` or `repair`; null for about 1% of the fleet.
    pub status: Option<&'static str>,
    pub os: OperatingSystem,
    pub hardware: Hardware,
    /// Lower-case site code, e.g. `ams1`.
    pub site: &'static str,
    /// Null for about 3% of the fleet.
    pub owner: Option<String>,
    /// A date, `2023-04-01`.
    pub purchased_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// `os` of a [`Device`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OperatingSystem {
    pub name: &'static str,
    pub version: &'static str,
}

/// `hardware` of a [`Device`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hardware {
    /// Null for about 2% of the fleet, a numeric string for about 10%.
    pub memory_gb: Option<MemoryGb>,
    pub cpu_cores: u32,
    pub disk_gb: u32,
}

/// Memory as inventory agents report it: usually a number, sometimes a numeric string.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum MemoryGb {
    Number(u32),
    Text(String),
}

impl MemoryGb {
    /// The amount in GiB, whichever way it was reported.
    pub fn gigabytes(&self) -> u32 {
        match self {
            MemoryGb::Number(n) => *n,
            MemoryGb::Text(text) => text.parse().unwrap_or(0),
        }
    }
}

/// How one destination's record for a device differs from what the demo mapping would write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DestinationTraits {
    /// The destination has no record for the serial.
    pub missing: bool,
    /// Destination field names (mapping targets) whose stored value is stale.
    pub stale_fields: Vec<&'static str>,
}

/// Everything the demo destinations decide about one device, for tests that expect exact counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceTraits {
    pub cmdb: DestinationTraits,
    pub registry: DestinationTraits,
    pub mdm: DestinationTraits,
    /// The MDM answers 503 to the first write for this device.
    pub mdm_flaky: bool,
    /// The device is caught in the MDM's maintenance outage: the MDM answers 503 (no
    /// `Retry-After`) to its first [`MDM_OUTAGE_WRITES`] writes, more than one run's retries, then
    /// accepts them. Only devices the MDM has, with a stale record (so a live run writes them),
    /// and never a flaky one.
    pub mdm_outage: bool,
    /// The device sits at a site the registry does not know (400 `INVALID_CONTENT`).
    pub unknown_site: bool,
}

/// Fractions in basis points (1/10,000); the null-status share is what `STATUSES` leaves over.
const NULL_OWNER: u32 = 300;
const NULL_MEMORY: u32 = 200;
const TEXT_MEMORY: u32 = 1_000;
const CAPITALISED_OWNER: u32 = 1_000;
const UNKNOWN_SITE: u32 = 100;
const LINUX_DESK: u32 = 1_500;
const CMDB_MISSING: u32 = 300;
const REGISTRY_MISSING: u32 = 500;
const MDM_MISSING: u32 = 200;
const MDM_FLAKY: u32 = 200;
/// Among the devices that can be caught in the outage (in the MDM, stale, not flaky: about 19%
/// of the fleet), so about 0.5% of the fleet.
const MDM_OUTAGE: u32 = 260;
const CMDB_STALE: u32 = 3_000;
const REGISTRY_STALE: u32 = 2_500;
const MDM_STALE: u32 = 2_000;

/// How many writes for an outage device the MDM answers 503 before it accepts them.
pub const MDM_OUTAGE_WRITES: u32 = 6;

/// 2019-01-01T00:00:00Z and 2025-06-01T00:00:00Z.
const PURCHASES_FROM: i64 = 1_546_300_800;
const UPDATES_FROM: i64 = 1_748_736_000;

/// The source fleet of one demo server.
#[derive(Debug, Clone)]
pub struct Fleet {
    size: usize,
    seed: u64,
}

impl Fleet {
    /// The fleet of `size` devices drawn from `seed` (nothing is generated until asked for).
    pub fn new(size: usize, seed: u64) -> Self {
        Self { size, seed }
    }

    /// How many devices the fleet has.
    pub fn len(&self) -> usize {
        self.size
    }

    /// Whether the fleet has no devices.
    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// The seed the fleet and its destination records are drawn from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The serial of the device at `index` (0-based): `SD-000001` for index 0.
    pub fn serial(index: usize) -> String {
        format!("SD-{:06}", index.saturating_add(1))
    }

    /// The index of a serial of this fleet.
    pub fn index_of(&self, serial: &str) -> Option<usize> {
        let number: usize = serial.strip_prefix("SD-")?.parse().ok()?;
        let index = number.checked_sub(1)?;
        (index < self.size && Self::serial(index) == serial).then_some(index)
    }

    /// The device at `index`, if the fleet has one.
    pub fn device(&self, index: usize) -> Option<Device> {
        (index < self.size).then(|| self.generate(index))
    }

    /// The device with this serial, if the fleet has one.
    pub fn device_by_serial(&self, serial: &str) -> Option<Device> {
        self.index_of(serial).map(|index| self.generate(index))
    }

    fn generate(&self, index: usize) -> Device {
        let serial = Self::serial(index);
        let mut dice = Dice::new(self.seed, "device", &serial);
        let spec = dice.pick(MODELS);
        let site = if dice.chance(UNKNOWN_SITE) {
            dice.pick(UNKNOWN_SITES)
        } else {
            dice.pick(KNOWN_SITES)
        };
        let os_line = match spec.platform {
            Platform::Mac => &catalogue::MACOS,
            Platform::Windows => &catalogue::WINDOWS,
            Platform::WindowsOrLinux if dice.chance(LINUX_DESK) => &catalogue::UBUNTU,
            Platform::WindowsOrLinux => &catalogue::WINDOWS,
        };
        let os = OperatingSystem {
            name: os_line.name,
            version: dice.pick(os_line.versions),
        };
        let memory = dice.pick(spec.memory_gb);
        let memory_gb = if dice.chance(NULL_MEMORY) {
            None
        } else if dice.chance(TEXT_MEMORY) {
            Some(MemoryGb::Text(memory.to_string()))
        } else {
            Some(MemoryGb::Number(memory))
        };
        let hardware = Hardware {
            memory_gb,
            cpu_cores: dice.pick(spec.cpu_cores),
            disk_gb: dice.pick(spec.disk_gb),
        };
        let status = draw_status(&mut dice);
        let first = dice.pick(FIRST_NAMES);
        let last = dice.pick(LAST_NAMES);
        let owner = if dice.chance(NULL_OWNER) {
            None
        } else if dice.chance(CAPITALISED_OWNER) {
            Some(format!(
                "{}.{}@{OWNER_DOMAIN}",
                capitalised(first),
                capitalised(last)
            ))
        } else {
            Some(format!("{first}.{last}@{OWNER_DOMAIN}"))
        };
        let purchased = PURCHASES_FROM + 86_400 * dice.below(6 * 365) as i64;
        let updated = UPDATES_FROM + dice.below(200 * 86_400) as i64;
        Device {
            hostname: format!("{}-{}-{:05}", spec.kind, site, index + 1),
            serial,
            model: spec.model,
            manufacturer: spec.manufacturer,
            status,
            os,
            hardware,
            site,
            owner,
            purchased_at: DateTime::from_timestamp(purchased, 0)
                .map(|at| at.format("%Y-%m-%d").to_string())
                .unwrap_or_default(),
            updated_at: DateTime::from_timestamp(updated, 0)
                .map(|at| at.to_rfc3339_opts(SecondsFormat::Secs, true))
                .unwrap_or_default(),
        }
    }

    /// Whether the CMDB has a record for `index`; cheap, so the bulk listing can be indexed at start.
    pub(crate) fn in_cmdb(&self, index: usize) -> bool {
        !self.presence(index).cmdb_missing
    }

    pub(crate) fn in_registry(&self, index: usize) -> bool {
        !self.presence(index).registry_missing
    }

    pub(crate) fn in_mdm(&self, index: usize) -> bool {
        !self.presence(index).mdm_missing
    }

    pub(crate) fn mdm_flaky(&self, index: usize) -> bool {
        self.presence(index).mdm_flaky
    }

    /// Whether the device is caught in the MDM's maintenance outage (see
    /// [`DeviceTraits::mdm_outage`]); cheap for the devices whose draw rules it out.
    pub(crate) fn mdm_outage(&self, index: usize) -> bool {
        self.presence(index).outage_candidate()
            && self.traits(index).is_some_and(|traits| traits.mdm_outage)
    }

    fn presence(&self, index: usize) -> Presence {
        let mut dice = Dice::new(self.seed, "presence", &Self::serial(index));
        Presence {
            cmdb_missing: dice.chance(CMDB_MISSING),
            registry_missing: dice.chance(REGISTRY_MISSING),
            mdm_missing: dice.chance(MDM_MISSING),
            mdm_flaky: dice.chance(MDM_FLAKY),
            // Drawn last, so adding it left every earlier draw (and the fleet) as it was.
            mdm_outage: dice.chance(MDM_OUTAGE),
        }
    }

    /// What the demo destinations hold for the device at `index`.
    pub fn traits(&self, index: usize) -> Option<DeviceTraits> {
        let device = self.device(index)?;
        Some(self.traits_of(index, &device))
    }

    pub(crate) fn traits_of(&self, index: usize, device: &Device) -> DeviceTraits {
        let presence = self.presence(index);
        let owner = device.owner.is_some();
        let memory = device.hardware.memory_gb.is_some();
        let status = device.status.is_some();
        let unknown_site = UNKNOWN_SITES.contains(&device.site);

        let cmdb_fields = [
            ("name", true),
            ("install_status", status),
            ("ram_gb", memory),
            ("os_version", true),
            ("location", true),
            ("assigned_to", owner),
        ];
        let registry_fields = [
            ("hostname", true),
            ("site", true),
            ("owner", owner),
            ("lifecycle", status),
        ];
        let mdm_fields = [
            ("device_name", true),
            ("os_version", true),
            ("memory_gb", memory),
            ("user.email", owner),
        ];
        let mut registry_stale = self.stale(device, "registry", REGISTRY_STALE, &registry_fields);
        // The registry still holds the site the device was at before it moved to a new one.
        if unknown_site && !registry_stale.contains(&"site") {
            registry_stale.push("site");
        }
        let mdm_stale = self.stale(device, "mdm", MDM_STALE, &mdm_fields);
        let mdm_outage = presence.outage_candidate() && !mdm_stale.is_empty();
        DeviceTraits {
            cmdb: DestinationTraits {
                missing: presence.cmdb_missing,
                stale_fields: self.stale(device, "cmdb", CMDB_STALE, &cmdb_fields),
            },
            registry: DestinationTraits {
                missing: presence.registry_missing,
                stale_fields: registry_stale,
            },
            mdm: DestinationTraits {
                missing: presence.mdm_missing,
                stale_fields: mdm_stale,
            },
            mdm_flaky: presence.mdm_flaky,
            mdm_outage,
            unknown_site,
        }
    }

    /// One or two stale fields for `basis_points` of the devices, among those that apply.
    fn stale(
        &self,
        device: &Device,
        system: &str,
        basis_points: u32,
        fields: &[(&'static str, bool)],
    ) -> Vec<&'static str> {
        let mut dice = Dice::new(self.seed, system, &device.serial);
        if !dice.chance(basis_points) {
            return Vec::new();
        }
        let mut candidates: Vec<&'static str> = fields
            .iter()
            .filter(|(_, applies)| *applies)
            .map(|(name, _)| *name)
            .collect();
        let count = 1 + dice.below(2);
        let mut chosen = Vec::with_capacity(count);
        while chosen.len() < count && !candidates.is_empty() {
            chosen.push(candidates.remove(dice.below(candidates.len())));
        }
        chosen
    }
}

struct Presence {
    cmdb_missing: bool,
    registry_missing: bool,
    mdm_missing: bool,
    mdm_flaky: bool,
    /// The outage draw alone: [`Presence::outage_candidate`] applies the exclusions.
    mdm_outage: bool,
}

impl Presence {
    /// Drawn for the outage, in the MDM and not flaky (staleness is checked by the caller).
    fn outage_candidate(&self) -> bool {
        self.mdm_outage && !self.mdm_missing && !self.mdm_flaky
    }
}

fn draw_status(dice: &mut Dice) -> Option<&'static str> {
    let mut roll = dice.below(10_000) as u32;
    for (status, weight) in STATUSES {
        if roll < *weight {
            return Some(status);
        }
        roll -= weight;
    }
    None
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_round_trip_and_reject_lookalikes() {
        let fleet = Fleet::new(20, 1);
        assert_eq!(Fleet::serial(0), "SD-000001");
        assert_eq!(fleet.index_of("SD-000020"), Some(19));
        assert_eq!(fleet.index_of("SD-000021"), None);
        assert_eq!(fleet.index_of("SD-000000"), None);
        assert_eq!(fleet.index_of("SD-1"), None);
        assert_eq!(fleet.index_of("sd-000001"), None);
    }

    #[test]
    fn draws_depend_on_the_seed() {
        let a: Vec<Device> = (0..50)
            .filter_map(|i| Fleet::new(50, 1).device(i))
            .collect();
        let b: Vec<Device> = (0..50)
            .filter_map(|i| Fleet::new(50, 1).device(i))
            .collect();
        let c: Vec<Device> = (0..50)
            .filter_map(|i| Fleet::new(50, 2).device(i))
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn unknown_sites_always_leave_the_registry_stale_on_site() {
        let fleet = Fleet::new(3_000, 0);
        let mut seen = 0;
        for index in 0..fleet.len() {
            let traits = fleet.traits(index).unwrap_or_default();
            if traits.unknown_site {
                seen += 1;
                assert!(traits.registry.stale_fields.contains(&"site"));
            }
            assert!(traits.cmdb.stale_fields.len() <= 2);
        }
        assert!(seen > 0);
    }
}
