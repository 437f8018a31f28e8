//! Drawing pieces the views and overlays share: lists, gauges, the run card, formats, the
//! theme and the layout rules. Nothing here knows a view.

pub mod dashboard;
pub mod diagnostics;
pub mod field_change;
pub mod format;
pub mod gauge;
pub mod layout;
pub(crate) mod list;
pub(crate) mod pager;
pub mod search_field;
pub mod status;
pub mod theme;
