//! `cyberbrain._cyberbrain`: the native half of the `cyberbrain` Python package.
//!
//! A thin host over `cyberbrain_core::Cyberbrain`: [`handle`] holds the `Cyberbrain` class,
//! [`errors`] maps core errors to the exception hierarchy in one place, [`convert`] moves JSON
//! values across, [`options`] maps `open`'s keywords onto the core `Config`, [`backend`] picks
//! the store a database URL names, [`llm`] and [`embedder`] wrap Python callables as the LLM
//! and the embedder, [`executor`] and [`ingester`] hold a handle's optional in-process executor
//! and ingester and [`runtime`] its tokio runtime. The hand-written `python/cyberbrain` package
//! re-exports all of it with type stubs.

mod backend;
mod convert;
mod embedder;
mod errors;
mod executor;
mod handle;
mod ingester;
mod llm;
mod options;
mod runtime;

use pyo3::prelude::*;

#[pymodule]
fn _cyberbrain(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<handle::PyCyberbrain>()?;
    errors::register(m)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
