//! The one poison-tolerant lock helper of the crate.
//!
//! Why tolerate poisoning: every mutex here guards a map or counter that each critical section
//! leaves structurally valid, and no critical section awaits. A poisoned lock only means another
//! task panicked mid-update (a bug, reported by that panic); cascading the panic into every other
//! task would turn one bug into a dead process.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Lock `mutex`, recovering the guard if a panicking holder poisoned it.
pub(crate) fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
