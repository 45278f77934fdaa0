//! The plug-ins a configuration names: the OpenAI-compatible LLM client (feature `openai`) and
//! the Docker Engine API client (feature `docker`). Hosts call this once at start-up so a
//! public LLM endpoint is refused before anything runs (G1).

#[cfg(any(feature = "openai", feature = "docker"))]
use std::sync::Arc;

use super::Cyberbrain;
use crate::Result;

impl Cyberbrain {
    /// Attaches the LLM and container engine the configuration names, where this build has the
    /// client for them: `llm.endpoint` (refused when not local, G1) and `DOCKER_HOST` (none
    /// when empty). Neither is contacted here: an unreachable one only fails the steps that
    /// need it.
    pub fn with_configured_plugins(self) -> Result<Self> {
        #[allow(unused_mut)]
        let mut cb = self;
        #[cfg(feature = "openai")]
        {
            let llm = crate::llm::OpenAiLlm::new(&cb.config.llm)?;
            cb = cb.with_llm(Arc::new(llm));
        }
        #[cfg(feature = "docker")]
        if !cb.config.containers.docker_host.trim().is_empty() {
            let engine =
                crate::container::DockerEngine::connect(&cb.config.containers.docker_host)?;
            cb = cb.with_container_engine(Arc::new(engine));
        }
        Ok(cb)
    }
}
