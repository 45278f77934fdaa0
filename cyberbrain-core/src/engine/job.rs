//! What a task sees while it runs one job: the run and its directive snapshot, the task's
//! configuration, the LLM with accounting (G2), the container engine behind the allowlist (G5)
//! and the artifact writer (G6, G8).

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use serde_json::{Map, Value};

use super::{ArtifactWriter, Cyberbrain};
use crate::container::AllowlistedEngine;
use crate::domain::{
    DirectiveSnapshot, DirectiveType, LlmOutcome, NewLlmCall, Run, RunJob, Task3Scope, Timestamp,
};
use crate::llm::{Completion, CompletionRequest};
use crate::{Config, Error, Result};

/// The task key whose containers `task3_scope = "all"` widens (the build plan's "task3").
pub const SERVICE_MAP_TASK: &str = "service_map";

/// One task implementation. The executor calls [`TaskRunner::run`] for every claimed job of the
/// runner's task key; the returned JSON becomes the job's `result` (counts and a findings
/// summary — never prompt or response text, G2). An error fails the job with its message.
///
/// Embedders register their own runners for their own task keys on the executor.
#[async_trait]
pub trait TaskRunner: Send + Sync {
    async fn run(&self, ctx: &JobContext) -> Result<Value>;
}

/// Everything one job may use.
#[derive(Debug, Clone)]
pub struct JobContext {
    cb: Cyberbrain,
    run: Run,
    job: RunJob,
    task_config: Map<String, Value>,
    artifacts: ArtifactWriter,
}

impl JobContext {
    /// Loads the task definition's configuration, overlaid by the directive snapshot's
    /// `task_config[<task key>]` object when present (a directive can tune a task).
    pub async fn load(cb: Cyberbrain, run: Run, job: RunJob) -> Result<Self> {
        let mut task_config = match cb.store.get_task_by_key(&job.task_key).await {
            Ok(task) => task.config,
            // A task deleted after launch still runs with its defaults.
            Err(Error::NotFound { .. }) => Map::new(),
            Err(e) => return Err(e),
        };
        if let Some(Value::Object(overrides)) =
            run.directive_snapshot.task_config.get(&job.task_key)
        {
            for (key, value) in overrides {
                task_config.insert(key.clone(), value.clone());
            }
        }
        let artifacts = ArtifactWriter::new(cb.clone(), run.id, Some(job.id));
        Ok(Self {
            cb,
            run,
            job,
            task_config,
            artifacts,
        })
    }

    pub fn cyberbrain(&self) -> &Cyberbrain {
        &self.cb
    }

    pub fn config(&self) -> &Config {
        &self.cb.config
    }

    pub fn now(&self) -> Timestamp {
        self.cb.clock.now()
    }

    pub fn run(&self) -> &Run {
        &self.run
    }

    pub fn job(&self) -> &RunJob {
        &self.job
    }

    pub fn directive(&self) -> &DirectiveSnapshot {
        &self.run.directive_snapshot
    }

    /// The directive's autonomy level allows recommendations (D2 and above).
    pub fn may_recommend(&self) -> bool {
        self.run.directive_snapshot.directive_type.may_recommend()
    }

    /// The task definition's configuration with the directive's overrides.
    pub fn task_config(&self) -> &Map<String, Value> {
        &self.task_config
    }

    /// Writes `run_<id>/<name>` files owned by this job.
    pub fn artifacts(&self) -> &ArtifactWriter {
        &self.artifacts
    }

    /// When this task last succeeded in an earlier run (the start of its window).
    pub async fn last_success(&self) -> Result<Option<Timestamp>> {
        let job = self.cb.store.last_success(&self.job.task_key).await?;
        Ok(job
            .filter(|job| job.run_id != self.run.id)
            .and_then(|job| job.ended_at))
    }

    /// The model's context window in tokens (the configured one without an LLM).
    pub fn context_tokens(&self) -> u32 {
        self.cb
            .llm
            .as_ref()
            .map_or(self.cb.config.llm.context_tokens, |llm| {
                llm.context_tokens()
            })
    }

    /// Asks the LLM and records the call's real token counts against this job and run (G2: the
    /// row holds counts, model, host, duration and outcome, never text). A failed call records
    /// nothing: no usage was reported, and counts are never invented.
    pub async fn complete(&self, request: CompletionRequest) -> Result<Completion> {
        let llm = self.cb.llm.as_ref().ok_or_else(|| {
            Error::unavailable(
                "llm",
                "LLM endpoint unreachable: no LLM is configured for this process \
                 (set LLM_ENDPOINT to a local OpenAI-compatible server)",
            )
        })?;
        let started = Instant::now();
        let completion = llm.complete(request).await?;
        let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        self.cb
            .store
            .record_llm_call(NewLlmCall {
                run_id: self.run.id,
                run_job_id: Some(self.job.id),
                model: completion.model.clone(),
                endpoint_host: llm.endpoint_host().to_string(),
                prompt_tokens: completion.usage.prompt_tokens,
                completion_tokens: completion.usage.completion_tokens,
                total_tokens: completion.usage.total_tokens,
                duration_ms,
                outcome: LlmOutcome::Ok,
                created_at: self.now(),
            })
            .await?;
        Ok(completion)
    }

    /// The container engine limited to what this job may touch (G5): the enabled allowlist,
    /// or every container for `service_map` with `task3_scope = "all"` on a D4 directive.
    /// `None` when no engine is configured.
    pub async fn containers(&self) -> Result<Option<AllowlistedEngine>> {
        let Some(engine) = self.cb.containers.clone() else {
            return Ok(None);
        };
        if self.all_scope() {
            return Ok(Some(AllowlistedEngine::all_scope(engine)));
        }
        let entries = self.cb.store.enabled_allowlist().await?;
        Ok(Some(AllowlistedEngine::new(Arc::clone(&engine), entries)))
    }

    fn all_scope(&self) -> bool {
        self.job.task_key == SERVICE_MAP_TASK
            && self.run.task3_scope == Task3Scope::All
            && self.run.directive_snapshot.directive_type == DirectiveType::D4
    }
}
