//! What opens over any view: the confirmation, the help, the new-run dialog, the diagnostics
//! panel, and the picker (the report's filters and sort, the jobs' status filter, the
//! contracts' sort: `f` and `s` open one wherever they are bound).

pub mod confirm;
pub mod diagnostics;
pub mod help;
pub mod keys;
pub mod new_run;
pub mod picker;
