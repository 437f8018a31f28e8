//! The five views, in Tab order, each in its folder: its state, its keys and its drawing.

pub mod connections;
pub mod contracts;
pub mod jobs;
pub mod logs;
pub mod report;
