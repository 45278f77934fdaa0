//! The plug-ins a configuration names: the OpenAI-compatible LLM client (feature `openai`), the
//! Docker Engine API client (feature `docker`) and the local MiniLM embedder (feature
//! `fastembed`). Hosts call this once at start-up so a public LLM endpoint is refused before
//! anything runs (G1).

#[cfg(any(feature = "openai", feature = "docker", feature = "fastembed"))]
use std::sync::Arc;

use super::Cyberbrain;
use crate::Result;

impl Cyberbrain {
    /// Attaches the LLM, container engine and embedder the configuration names, where this build
    /// has the client for them: `llm.endpoint` (refused when not local, G1), `DOCKER_HOST` (none
    /// when empty) and the MiniLM model under the models dir. None is contacted or loaded here:
    /// an unreachable or missing one only fails the steps that need it.
    pub fn with_configured_plugins(self) -> Result<Self> {
        #[allow(unused_mut)]
        let mut cb = self;
        #[cfg(feature = "openai")]
        {
            let llm = crate::llm::OpenAiLlm::new(&cb.config.llm)?;
            cb = cb.with_llm(Arc::new(llm));
        }
        #[cfg(feature = "fastembed")]
        {
            let embedder = LazyMiniLm::new(cb.config.paths.models_dir());
            cb = cb.with_embedder(Arc::new(embedder));
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

/// The MiniLM model under a models dir, loaded at its first use: a server starts without the
/// model files, and a model installed later (`scripts/models.sh`) is picked up without a
/// restart, because a failed load is not remembered.
#[cfg(feature = "fastembed")]
#[derive(Debug)]
struct LazyMiniLm {
    models_dir: std::path::PathBuf,
    loaded: tokio::sync::OnceCell<crate::embedder::MiniLmEmbedder>,
}

#[cfg(feature = "fastembed")]
impl LazyMiniLm {
    fn new(models_dir: std::path::PathBuf) -> Self {
        Self {
            models_dir,
            loaded: tokio::sync::OnceCell::new(),
        }
    }

    async fn model(&self) -> Result<&crate::embedder::MiniLmEmbedder> {
        self.loaded
            .get_or_try_init(|| async {
                let dir = self.models_dir.clone();
                tokio::task::spawn_blocking(move || crate::embedder::MiniLmEmbedder::load(dir))
                    .await
                    .map_err(|e| {
                        crate::Error::backend(format!("loading the embedding model failed: {e}"))
                    })?
            })
            .await
    }
}

#[cfg(feature = "fastembed")]
#[async_trait::async_trait]
impl crate::Embedder for LazyMiniLm {
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        self.model().await?.embed(texts).await
    }

    fn dimension(&self) -> usize {
        crate::embedder::MINILM_DIMENSION
    }

    fn model_id(&self) -> &str {
        crate::embedder::MODEL_ID
    }

    fn max_tokens(&self) -> usize {
        crate::embedder::MINILM_MAX_TOKENS
    }
}
