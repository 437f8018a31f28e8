//! The demo systems: a source fleet and destinations that behave like real ones, on loopback.
