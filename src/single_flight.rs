//! One caller at a time for I/O that many callers need at once: a JWKS
//! fetch, a token refresh. Threads of the blocking client wait on one side,
//! tasks of the async client await on the other, so that neither blocks a
//! runtime's worker nor needs one.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// The gate: whoever holds it does the I/O; the others wait, then look at
/// what it did before doing it again.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    threads: Mutex<()>,
    /// A lock meant to be held across the I/O's `.await`.
    #[cfg(feature = "async")]
    tasks: tokio::sync::Mutex<()>,
}

impl Gate {
    /// Waits for the gate (a thread).
    pub(crate) fn enter(&self) -> MutexGuard<'_, ()> {
        // The gate guards no data: a caller that panicked holding it left
        // nothing half done.
        self.threads.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The gate if nobody holds it now (a thread).
    pub(crate) fn try_enter(&self) -> Option<MutexGuard<'_, ()>> {
        match self.threads.try_lock() {
            Ok(guard) => Some(guard),
            Err(std::sync::TryLockError::Poisoned(poison)) => Some(poison.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    /// Awaits the gate (a task).
    #[cfg(feature = "async")]
    pub(crate) async fn enter_async(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.tasks.lock().await
    }

    /// The gate if nobody holds it now (a task).
    #[cfg(feature = "async")]
    pub(crate) fn try_enter_async(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        self.tasks.try_lock().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_a_panic_leaves_it_usable() {
        let gate = Gate::default();
        let held = gate.enter();
        assert!(gate.try_enter().is_none());
        drop(held);
        assert!(gate.try_enter().is_some());
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _held = gate.enter();
            panic!("a holder that fails");
        }));
        assert!(gate.try_enter().is_some());
        drop(gate.enter());
    }
}
