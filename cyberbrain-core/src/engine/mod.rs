//! The engines hosts call. [`Cyberbrain`] is the SDK handle: cheap to clone, it holds the
//! plug-ins and validates every input once, so REST, MCP, Python and the CLI behave the same.

mod catalog;
mod health;
mod launch;
mod validate;

use std::sync::Arc;

pub use health::{ComponentHealth, ComponentState, Health};
pub use launch::{CUSTOM_DIRECTIVE_NAME, LaunchRequest};

use crate::{Clock, Config, Store, SystemClock};

/// The SDK handle: every host calls these methods and nothing below them.
#[derive(Clone)]
pub struct Cyberbrain {
    store: Arc<dyn Store>,
    config: Arc<Config>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Cyberbrain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cyberbrain")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Cyberbrain {
    /// A handle over `store` with the given configuration and the system clock.
    pub fn new(store: Arc<dyn Store>, config: Config) -> Self {
        Self {
            store,
            config: Arc::new(config),
            clock: Arc::new(SystemClock),
        }
    }

    /// Replaces the clock (tests drive time with a manual clock).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }
}
