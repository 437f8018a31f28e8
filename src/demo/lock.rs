//! Locking a demo system's state.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks a destination's state; a handler that panicked mid-write leaves a usable demo behind.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
