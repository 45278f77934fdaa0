//! The engines hosts call. [`Cyberbrain`] is the SDK handle: cheap to clone, it holds the
//! plug-ins and validates every input once, so REST, MCP, Python and the CLI behave the same.

mod accounting;
mod artifacts;
mod backoff;
mod catalog;
mod executor;
mod health;
mod ingester;
mod job;
mod knowledge;
mod launch;
mod plugins;
mod report;
mod runners;
mod runs;
mod schedule_loop;
mod scheduler;
mod schedules;
mod validate;

use std::sync::Arc;

pub use accounting::{CostReport, MetricsSnapshot, ModelCost};
pub use artifacts::{ArtifactContent, ArtifactWriter};
pub use executor::{
    DEFAULT_SHUTDOWN_GRACE, DEFAULT_SLOTS, Executor, ExecutorHandle, ExecutorOptions, MAX_IDLE_POLL,
};
pub use health::{ComponentHealth, ComponentState, Health};
pub use ingester::{EMBED_BATCH, Ingester, IngesterHandle};
pub use job::{JobContext, SERVICE_MAP_TASK, TaskRunner};
pub use knowledge::{
    DEFAULT_TOP_K, MAX_QUERY_CHARS, MAX_TOP_K, SearchRequest, SearchResults, query_hash,
};
pub use launch::{CUSTOM_DIRECTIVE_NAME, LaunchRequest};
pub use runners::{
    GPU_REPORT_TASK, GpuReportRunner, LOG_TRIAGE_TASK, LogTriageRunner, ServiceMapRunner,
    builtin_runners,
};
pub use runs::{ANONYMOUS_APPROVER, RunDetail, RunReport, TaskLastSuccess};
pub use schedule_loop::{DEFAULT_SCHEDULER_BATCH, Scheduler, SchedulerHandle};
pub use schedules::ScheduleInput;

use crate::{Clock, Config, ContainerEngine, Embedder, Llm, Store, SystemClock};

/// The SDK handle: every host calls these methods and nothing below them.
#[derive(Clone)]
pub struct Cyberbrain {
    store: Arc<dyn Store>,
    config: Arc<Config>,
    clock: Arc<dyn Clock>,
    llm: Option<Arc<dyn Llm>>,
    containers: Option<Arc<dyn ContainerEngine>>,
    embedder: Option<Arc<dyn Embedder>>,
    /// Wakes this process's executors when a launch or approval makes work runnable, so a run
    /// starts at once instead of at the next poll.
    work_available: Arc<tokio::sync::Notify>,
    /// Wakes this process's ingesters when an upload or retry queued work.
    ingest_available: Arc<tokio::sync::Notify>,
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
            llm: None,
            containers: None,
            embedder: None,
            work_available: Arc::new(tokio::sync::Notify::new()),
            ingest_available: Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// The LLM the tasks ask (an [`OpenAiLlm`](crate::llm::OpenAiLlm) built from the
    /// configuration, a test double, or an embedder's own). Without one, LLM steps fail with a
    /// clear error and everything else works.
    pub fn with_llm(mut self, llm: Arc<dyn Llm>) -> Self {
        self.llm = Some(llm);
        self
    }

    /// The container engine (Docker Engine API or Podman). Tasks only ever reach it through the
    /// allowlist (G5). Without one, container steps report `container_engine_unavailable`.
    pub fn with_container_engine(mut self, engine: Arc<dyn ContainerEngine>) -> Self {
        self.containers = Some(engine);
        self
    }

    /// The embedding model ingestion and search use (the local MiniLM model, a test double, or
    /// an embedder's own). Without one, ingestion fails uploads and search answers
    /// `Unavailable`, both naming the fix; everything else works.
    pub fn with_embedder(mut self, embedder: Arc<dyn Embedder>) -> Self {
        self.embedder = Some(embedder);
        self
    }

    pub fn embedder(&self) -> Option<&Arc<dyn Embedder>> {
        self.embedder.as_ref()
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

    pub fn llm(&self) -> Option<&Arc<dyn Llm>> {
        self.llm.as_ref()
    }

    /// The raw engine; tasks must wrap it in an
    /// [`AllowlistedEngine`](crate::container::AllowlistedEngine) before use (G5).
    pub fn container_engine(&self) -> Option<&Arc<dyn ContainerEngine>> {
        self.containers.as_ref()
    }

    /// Resolves when a launch or approval in this process made jobs runnable (or at once when
    /// one did since the last call). Executors also poll, so other processes' work is found too.
    pub async fn work_available(&self) {
        self.work_available.notified().await
    }

    pub(crate) fn signal_work(&self) {
        self.work_available.notify_waiters();
        self.work_available.notify_one();
    }
}
