//! Everything the demo systems hold, shared by their handlers through axum's state.

use std::sync::Arc;

use super::cmdb::CmdbState;
use super::fleet::Fleet;
use super::mdm::MdmState;
use super::registry::RegistryState;
use super::stats::Counters;

/// Everything the demo systems hold, shared by the handlers.
pub(crate) struct DemoState {
    pub(crate) fleet: Fleet,
    pub(crate) counters: Counters,
    pub(crate) cmdb: CmdbState,
    pub(crate) registry: RegistryState,
    pub(crate) mdm: MdmState,
}

pub(crate) type Shared = Arc<DemoState>;
