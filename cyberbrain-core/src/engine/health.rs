//! Component health for `/api/health` and `cyberbrain doctor`.

use serde::Serialize;

use super::Cyberbrain;

/// Whether a component works.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ComponentState {
    Ok,
    /// Configured but not working; the product keeps running without it.
    Unavailable,
    /// Not configured (an optional component).
    NotConfigured,
}

/// One component's state and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ComponentHealth {
    pub state: ComponentState,
    /// What works, or what is wrong and how to fix it.
    pub detail: String,
}

impl ComponentHealth {
    pub fn ok(detail: impl Into<String>) -> Self {
        Self {
            state: ComponentState::Ok,
            detail: detail.into(),
        }
    }

    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self {
            state: ComponentState::Unavailable,
            detail: detail.into(),
        }
    }

    pub fn not_configured(detail: impl Into<String>) -> Self {
        Self {
            state: ComponentState::NotConfigured,
            detail: detail.into(),
        }
    }
}

/// The state of every component. `status` is `ok` when the database works: the other
/// components are optional and only degrade the steps that need them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    /// `ok` when the database works, else `degraded`.
    pub status: &'static str,
    /// Server version.
    pub version: &'static str,
    pub database: ComponentHealth,
    pub llm: ComponentHealth,
    pub embedder: ComponentHealth,
    /// The container engine.
    pub engine: ComponentHealth,
}

impl Cyberbrain {
    /// Checks each component. Never fails: a broken component is reported, not raised.
    pub async fn health(&self) -> Health {
        let database = match self.store.info().await {
            Ok(info) => ComponentHealth::ok(format!(
                "{} {} (schema {})",
                info.backend, info.version, info.schema_version
            )),
            Err(e) => ComponentHealth::unavailable(e.to_string()),
        };
        // The async check: the blocking resolver must not stall a request thread.
        let llm = match crate::guardrails::locality::check_endpoint_at_connect(
            &self.config.llm.endpoint,
            &self.config.llm.allow_hosts,
        )
        .await
        {
            Ok(_) => ComponentHealth::not_configured(format!(
                "endpoint {} (model {}); LLM runs arrive with the run engine",
                self.config.llm.endpoint, self.config.llm.model
            )),
            Err(e) => ComponentHealth::unavailable(e.to_string()),
        };
        let embedder = ComponentHealth::not_configured(format!(
            "models dir {}; the embedder arrives with RAG",
            self.config.paths.models_dir().display()
        ));
        let engine = if self.config.containers.docker_host.is_empty() {
            ComponentHealth::not_configured("DOCKER_HOST is not set")
        } else {
            ComponentHealth::not_configured(format!(
                "DOCKER_HOST={} (the engine client arrives with the run engine)",
                self.config.containers.docker_host
            ))
        };
        Health {
            status: if database.state == ComponentState::Ok {
                "ok"
            } else {
                "degraded"
            },
            version: env!("CARGO_PKG_VERSION"),
            database,
            llm,
            embedder,
            engine,
        }
    }
}
