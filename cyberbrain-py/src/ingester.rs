//! The handle's optional in-process ingester.
//!
//! Uploads made from Python stay `queued` until an ingester turns them into searchable
//! documents. `cyberbrain serve` (or `cyberbrain ingester`) on the same database does that; a
//! program running alone can call `ingest_pending()` (ingests until nothing is queued, then
//! returns) or keep one running with `start_ingester()` / `stop_ingester()`. Either way it is
//! core's `Ingester`, with leases, so it cooperates with ingesters in other processes.

use std::sync::Mutex;

use cyberbrain_core::engine::{Ingester, IngesterHandle};
use cyberbrain_core::{Cyberbrain, Error, Result};
use tokio::runtime::Runtime;

/// At most one background ingester per handle.
#[derive(Debug, Default)]
pub struct IngesterSlot(Mutex<Option<IngesterHandle>>);

impl IngesterSlot {
    /// Starts an ingester on `runtime`; `Conflict` when this handle already runs one.
    pub fn start(&self, runtime: &Runtime, cb: Cyberbrain) -> Result<()> {
        let mut slot = self.lock();
        if slot.is_some() {
            return Err(Error::conflict(
                "an ingester is already running on this handle; call stop_ingester() first",
            ));
        }
        let _context = runtime.enter();
        *slot = Some(Ingester::new(cb).spawn());
        Ok(())
    }

    /// Takes the running ingester out of the slot (to stop it without holding the lock).
    pub fn take(&self) -> Option<IngesterHandle> {
        self.lock().take()
    }

    /// The loop runs until stopped (it retries store errors itself), so a filled slot is a
    /// running ingester.
    pub fn is_running(&self) -> bool {
        self.lock().is_some()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<IngesterHandle>> {
        // A panic while holding this lock leaves a valid `Option`; keep using it.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Ingests queued uploads (and ones whose ingester died, once their lease ended) until none is
/// claimable; how many it processed, ready or failed.
pub async fn ingest_pending(cb: Cyberbrain) -> Result<usize> {
    let ingester = Ingester::new(cb);
    let mut processed = 0;
    while ingester.ingest_next().await?.is_some() {
        processed += 1;
    }
    Ok(processed)
}
