//! Deterministic draws for the demo data: blake3 of (seed, purpose, serial), never an RNG, so the
//! same seed and fleet size always give the same fleet and the same destination state.

/// A stream of pseudo-random numbers read from blake3's extendable output.
pub(crate) struct Dice(blake3::OutputReader);

impl Dice {
    /// The draws for one `purpose` (e.g. "device", "presence") of one record key.
    pub(crate) fn new(seed: u64, purpose: &str, key: &str) -> Self {
        let mut hasher = blake3::Hasher::new();
        hasher.update(b"syncdeck-demo\0");
        hasher.update(&seed.to_le_bytes());
        hasher.update(purpose.as_bytes());
        hasher.update(b"\0");
        hasher.update(key.as_bytes());
        Self(hasher.finalize_xof())
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        let mut bytes = [0u8; 8];
        self.0.fill(&mut bytes);
        u64::from_le_bytes(bytes)
    }

    /// A number in `0..n` (0 when `n` is 0); the modulo bias is negligible for our table sizes.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        (self.next_u64() % n as u64) as usize
    }

    /// True with a probability of `basis_points` in 10,000.
    pub(crate) fn chance(&mut self, basis_points: u32) -> bool {
        self.below(10_000) < basis_points as usize
    }

    /// One item of a non-empty constant table.
    pub(crate) fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    /// Lowercase hex digits.
    pub(crate) fn hex(&mut self, digits: usize) -> String {
        let mut out = String::with_capacity(digits + 16);
        while out.len() < digits {
            out.push_str(&format!("{:016x}", self.next_u64()));
        }
        out.truncate(digits);
        out
    }
}

/// An opaque 32-hex-digit record id (ServiceNow `sys_id` style) for a fleet index.
///
/// The last 8 digits carry the index, masked per seed and system, so an id resolves without a
/// lookup table (start-up stays O(1) for 100,000-device fleets); the first 24 are a hash of the
/// index that [`index_of_opaque_id`] checks.
pub(crate) fn opaque_id(seed: u64, system: &str, index: u32) -> String {
    let mut dice = Dice::new(seed, system, &index.to_string());
    format!("{}{:08x}", dice.hex(24), index ^ index_mask(seed, system))
}

/// The fleet index an [`opaque_id`] was made for, if `id` is one (dashes are ignored).
pub(crate) fn index_of_opaque_id(seed: u64, system: &str, id: &str) -> Option<u32> {
    let compact: String = id.chars().filter(|c| *c != '-').collect();
    if compact.len() != 32 || !compact.is_ascii() {
        return None;
    }
    let index = u32::from_str_radix(&compact[24..], 16).ok()? ^ index_mask(seed, system);
    (opaque_id(seed, system, index) == compact.to_ascii_lowercase()).then_some(index)
}

fn index_mask(seed: u64, system: &str) -> u32 {
    // Truncation is the point: 32 bits of the hash mask a 32-bit index.
    Dice::new(seed, system, "index-mask").next_u64() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_inputs_give_same_draws() {
        let (mut a, mut b) = (Dice::new(7, "p", "k"), Dice::new(7, "p", "k"));
        for _ in 0..4 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        assert_ne!(
            Dice::new(7, "p", "k").next_u64(),
            Dice::new(8, "p", "k").next_u64()
        );
        assert_ne!(
            Dice::new(7, "p", "k").next_u64(),
            Dice::new(7, "q", "k").next_u64()
        );
    }

    #[test]
    fn opaque_ids_round_trip_and_reject_forgeries() {
        let id = opaque_id(1, "cmdb", 1234);
        assert_eq!(id.len(), 32);
        assert_eq!(index_of_opaque_id(1, "cmdb", &id), Some(1234));
        assert_eq!(index_of_opaque_id(2, "cmdb", &id), None);
        assert_eq!(index_of_opaque_id(1, "mdm", &id), None);
        let forged = format!("{}{}", &id[..24], opaque_id(1, "cmdb", 1235).split_at(24).1);
        assert_eq!(index_of_opaque_id(1, "cmdb", &forged), None);
        assert_eq!(index_of_opaque_id(1, "cmdb", "short"), None);
    }
}
