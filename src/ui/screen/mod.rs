//! What every view and overlay shares with the App: the background runner its slow reads go to,
//! and the stack of what is open over the view.

pub mod background;
pub mod overlay_stack;
