//! The handle's optional in-process executor.
//!
//! A Python program has no `cyberbrain serve` running beside it unless it starts one, so runs it
//! launches would stay pending. It can run jobs itself in two ways: `start_executor()` /
//! `stop_executor()` keep one executor running on the handle's runtime (it claims every runnable
//! job in the database, like any executor, until stopped), and `launch_and_wait(…)` starts one
//! for the duration of the wait when none is running. Either way it is core's `Executor`, with
//! leases and the configured concurrency limits, so it cooperates with executors in other
//! processes on the same database.

use std::sync::Mutex;

use cyberbrain_core::engine::{Executor, ExecutorHandle};
use cyberbrain_core::{Cyberbrain, Error, Result};
use tokio::runtime::Runtime;

/// At most one executor per handle.
#[derive(Debug, Default)]
pub struct ExecutorSlot(Mutex<Option<ExecutorHandle>>);

impl ExecutorSlot {
    /// Starts an executor on `runtime`; `Conflict` when this handle already runs one.
    pub fn start(&self, runtime: &Runtime, cb: Cyberbrain) -> Result<()> {
        let mut slot = self.lock();
        if slot.as_ref().is_some_and(|handle| !handle.is_finished()) {
            return Err(Error::conflict(
                "an executor is already running on this handle; call stop_executor() first",
            ));
        }
        let executor = Executor::new(cb);
        // Invalid options would stop the executor at once; say why here instead.
        executor.options().validate()?;
        let _context = runtime.enter();
        *slot = Some(executor.spawn());
        Ok(())
    }

    /// Starts an executor unless one is running; returns whether it started one (which the
    /// caller then stops with [`ExecutorSlot::stop`]).
    pub fn start_if_idle(&self, runtime: &Runtime, cb: Cyberbrain) -> Result<bool> {
        if self.is_running() {
            return Ok(false);
        }
        match self.start(runtime, cb) {
            Ok(()) => Ok(true),
            // Another thread started one between the check and the start: use that one.
            Err(Error::Conflict(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Takes the running executor out of the slot (to stop it without holding the lock).
    pub fn take(&self) -> Option<ExecutorHandle> {
        self.lock().take()
    }

    pub fn is_running(&self) -> bool {
        self.lock()
            .as_ref()
            .is_some_and(|handle| !handle.is_finished())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<ExecutorHandle>> {
        // A panic while holding this lock leaves a valid `Option`; keep using it.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
