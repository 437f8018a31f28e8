//! What opens over any view: the confirmation, the help, the new-run dialog.

pub mod confirm;
pub mod diagnostics;
pub mod help;
pub mod keys;
pub mod new_run;
