//! The tokio runtime each handle owns.
//!
//! Dropping a tokio runtime normally waits for its blocking threads. One of those may be a
//! Python LLM callable waiting to attach to the interpreter, while the thread dropping the
//! handle holds it: that wait would never end. So a dropped handle shuts its runtime down in
//! the background instead; an executor still running then stops mid-job, and the job's lease
//! expires and another executor runs it again, as after a crash. `stop_executor()` first is the
//! graceful way.

use std::ops::Deref;

use cyberbrain_core::{Error, Result};
use tokio::runtime::Runtime;

/// Two workers: the handle's I/O is a database connection, not a compute pool, and a Python
/// process may hold several handles.
const RUNTIME_WORKERS: usize = 2;

/// A runtime that never blocks the thread that drops it.
#[derive(Debug)]
pub struct HandleRuntime(Option<Runtime>);

impl HandleRuntime {
    pub fn new() -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(RUNTIME_WORKERS)
            .thread_name("cyberbrain-py")
            .enable_all()
            .build()
            .map_err(|e| Error::backend_with("cannot start the tokio runtime", e))?;
        Ok(Self(Some(runtime)))
    }
}

impl Deref for HandleRuntime {
    type Target = Runtime;

    fn deref(&self) -> &Runtime {
        // `None` only inside `drop`, after which nothing can reach `self`.
        self.0
            .as_ref()
            .expect("the runtime is present until the handle is dropped")
    }
}

impl Drop for HandleRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}
