//! How big a demo fleet is and which seed draws it: what [`super::start`] is given.

/// The largest fleet [`super::start`] accepts (record ids carry a 32-bit fleet index).
pub const MAX_FLEET_SIZE: usize = 10_000_000;

/// How big a demo fleet is and which seed draws it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoOptions {
    pub fleet_size: usize,
    pub seed: u64,
}

impl DemoOptions {
    /// The fleet size `syncdeck demo` starts with.
    pub const DEFAULT_FLEET_SIZE: usize = 2_400;
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            fleet_size: Self::DEFAULT_FLEET_SIZE,
            seed: 0,
        }
    }
}
