//! Reading, cancelling, approving and waiting for runs (SPEC §2.3, §3.1, §3.7).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::Cyberbrain;
use super::validate;
use crate::domain::{
    ApprovalStatus, LlmCall, Page, PageRequest, Run, RunJob, RunQuery, RunStatus, TaskKey,
};
use crate::{Error, Result};

/// A run with its jobs and LLM calls (`GET /api/runs/{id}/`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunDetail {
    #[serde(flatten)]
    pub run: Run,
    pub jobs: Vec<RunJob>,
    pub llm_calls: Vec<LlmCall>,
}

/// A run's report (`GET /api/runs/{id}/report/`): `report.md` and `summary.json` once the run
/// ended, else `markdown: null` and the summary stored so far.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunReport {
    pub id: i64,
    pub status: RunStatus,
    pub markdown: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub json: Value,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub total_tokens: i64,
}

/// When a task last succeeded (`GET /api/runs/since-last-success/`): the start of its next
/// `log_triage` window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TaskLastSuccess {
    pub task_key: String,
    pub last_success_at: Option<DateTime<Utc>>,
    pub run_id: Option<i64>,
    pub job_id: Option<i64>,
}

/// The approver recorded when a host has no authenticated user.
pub const ANONYMOUS_APPROVER: &str = "anonymous";

impl Cyberbrain {
    /// Runs, newest first, filtered by status, task (key or alias) and approval state.
    pub async fn list_runs(&self, mut query: RunQuery) -> Result<Page<Run>> {
        if let Some(task) = &query.task_key {
            query.task_key = Some(self.known_task_key("task", task).await?);
        }
        self.store.list_runs(query).await
    }

    pub async fn get_run(&self, id: i64) -> Result<Run> {
        self.store.get_run(id).await
    }

    pub async fn run_detail(&self, id: i64) -> Result<RunDetail> {
        let run = self.store.get_run(id).await?;
        let jobs = self.store.list_run_jobs(id).await?;
        let llm_calls = self.store.list_llm_calls(id).await?;
        Ok(RunDetail {
            run,
            jobs,
            llm_calls,
        })
    }

    pub async fn run_jobs(&self, id: i64) -> Result<Vec<RunJob>> {
        self.store.list_run_jobs(id).await
    }

    /// The report of a run: the files when written, the stored summary before.
    ///
    /// A run is visible as ended a moment before its executor writes the report, and an
    /// executor that died in that moment never writes it; an ended run without a stored summary
    /// is therefore reported here (`finalize_run` is idempotent, so racing the executor only
    /// writes the same files twice).
    pub async fn run_report(&self, id: i64) -> Result<RunReport> {
        let mut run = self.store.get_run(id).await?;
        if run.status.is_terminal() && !is_reported(&run) {
            run = self.finalize_run(&run).await?;
        }
        let (markdown, json) = if run.status.is_terminal() {
            let markdown = self.read_report_file(id, super::report::REPORT_MD).await?;
            let json = self
                .read_report_file(id, super::report::SUMMARY_JSON)
                .await?
                .and_then(|text| serde_json::from_str(&text).ok());
            (markdown, json.unwrap_or_else(|| run.report_summary.clone()))
        } else {
            (None, run.report_summary.clone())
        };
        Ok(RunReport {
            id,
            status: run.status,
            markdown,
            json,
            started_at: run.started_at,
            completed_at: run.ended_at,
            prompt_tokens: run.prompt_tokens,
            completion_tokens: run.completion_tokens,
            total_tokens: run.total_tokens,
        })
    }

    /// A report file of a run, or `None` when it was not written (yet).
    async fn read_report_file(&self, run_id: i64, name: &str) -> Result<Option<String>> {
        // Nothing was ever written (a run cancelled before any artifact on a fresh install).
        if !self.config.paths.artifacts_dir().exists() {
            return Ok(None);
        }
        match self
            .read_artifact_file(&format!("run_{run_id}/{name}"))
            .await
        {
            Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
            Err(Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Cancels a run: at once when no job is running, else at the running jobs' next lease
    /// check. An ended run is `Conflict`.
    pub async fn cancel_run(&self, id: i64) -> Result<Run> {
        let run = self.store.cancel_run(id, self.clock.now()).await?;
        tracing::info!(
            run_id = id,
            status = run.status.as_str(),
            "run cancel requested"
        );
        self.after_run_change(run).await
    }

    /// Approves a run awaiting approval; records who, when and the snapshot hash (G4).
    pub async fn approve_run(&self, id: i64, approver: &str) -> Result<Run> {
        let approver = validate_approver(approver)?;
        let run = self
            .store
            .approve_run(id, &approver, self.clock.now())
            .await?;
        tracing::info!(run_id = id, "run approved");
        self.signal_work();
        Ok(run)
    }

    /// Denies a run awaiting approval, which cancels it.
    pub async fn deny_run(&self, id: i64, approver: &str) -> Result<Run> {
        let approver = validate_approver(approver)?;
        let run = self.store.deny_run(id, &approver, self.clock.now()).await?;
        tracing::info!(run_id = id, "run denied");
        self.after_run_change(run).await
    }

    /// Runs awaiting approval, newest first (a run cancelled while it waited is not).
    pub async fn pending_approvals(&self, page: PageRequest) -> Result<Page<Run>> {
        self.store
            .list_runs(
                RunQuery::new(page)
                    .with_approval_status(ApprovalStatus::Pending)
                    .with_status(RunStatus::Pending),
            )
            .await
    }

    /// When each task (or the one named, key or alias) last succeeded.
    pub async fn since_last_success(&self, task: Option<&str>) -> Result<Vec<TaskLastSuccess>> {
        let keys = match task {
            Some(task) => vec![self.known_task_key("task", task).await?],
            None => self
                .store
                .list_tasks(PageRequest::first(crate::domain::MAX_PAGE_SIZE))
                .await?
                .items
                .into_iter()
                .map(|task| task.task_key)
                .collect(),
        };
        let mut out = Vec::with_capacity(keys.len());
        for task_key in keys {
            let job = self.store.last_success(&task_key).await?;
            out.push(TaskLastSuccess {
                task_key,
                last_success_at: job.as_ref().and_then(|job| job.ended_at),
                run_id: job.as_ref().map(|job| job.run_id),
                job_id: job.as_ref().map(|job| job.id),
            });
        }
        Ok(out)
    }

    /// Polls until the run ended or waits for approval; `Unavailable` after `timeout`.
    pub async fn wait_for_run(&self, id: i64, timeout: Duration) -> Result<Run> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let run = self.store.get_run(id).await?;
            if (run.status.is_terminal() && is_reported(&run))
                || run.approval_status == ApprovalStatus::Pending
            {
                return Ok(run);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::unavailable(
                    "run",
                    format!(
                        "run {id} is still {} after {}s; is an executor running \
                         (`cyberbrain serve` or `cyberbrain scheduler`)?",
                        run.status.as_str(),
                        timeout.as_secs()
                    ),
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Writes the report when a cancel or deny ended the run.
    async fn after_run_change(&self, run: Run) -> Result<Run> {
        if run.status.is_terminal() {
            self.finalize_run(&run).await
        } else {
            Ok(run)
        }
    }

    /// The canonical key of an existing task given by key or alias, or a field error.
    async fn known_task_key(&self, field: &str, task: &str) -> Result<String> {
        let key = TaskKey::canonical(task.trim());
        match self.store.get_task_by_key(key).await {
            Ok(task) => Ok(task.task_key),
            Err(Error::NotFound { .. }) => Err(Error::invalid(
                field,
                format!(
                    "unknown task {:?}; see GET /api/tasks/ for the task keys",
                    task
                ),
            )),
            Err(e) => Err(e),
        }
    }
}

fn validate_approver(approver: &str) -> Result<String> {
    let mut errors = crate::FieldErrors::new();
    let approver = validate::name(&mut errors, "approver", approver);
    errors.into_result()?;
    Ok(approver)
}

/// Whether the run's report was written: `finalize_run` stores the summary last, so a non-empty
/// summary means the report files are readable.
fn is_reported(run: &Run) -> bool {
    run.report_summary
        .as_object()
        .is_some_and(|summary| !summary.is_empty())
}
