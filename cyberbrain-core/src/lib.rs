//! Cyberbrain core: the domain model, the public [`Error`], the plug-in traits
//! ([`Store`], [`Llm`], [`Embedder`], [`Notifier`], [`ContainerEngine`], [`Clock`]), the engines
//! hosts call, configuration, and the privacy guardrails.
//!
//! Data flows one way: hosts (HTTP, MCP, Python, CLI) → [`Cyberbrain`] → traits → backends.
//! This crate never depends on a database driver, web framework, MCP or Python library.

mod caught_panic;
pub mod clock;
pub mod config;
pub mod container;
pub mod domain;
pub mod embedder;
pub mod engine;
pub mod error;
pub mod guardrails;
pub mod llm;
pub mod notifier;
pub mod rag;
pub mod scheduler;
pub mod store;
pub mod tasks;

#[cfg(feature = "testing")]
pub mod testing;

pub use clock::{Clock, SystemClock};
pub use config::Config;
pub use container::ContainerEngine;
pub use embedder::Embedder;
pub use engine::Cyberbrain;
pub use error::{Error, FieldErrors, Result};
pub use llm::Llm;
pub use notifier::Notifier;
pub use store::{
    AccountingStore, AllowlistStore, ArtifactStore, DirectiveStore, RagStore, RunStore,
    ScheduleStore, Store, StoreAdmin, TaskStore,
};
