//! The runner tests' [`Harness`]: a [`Cyberbrain`] over a fresh SQLite store that drives a
//! launched run's jobs the way an executor does (feature `testing`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, SubsecRound, Utc};
use cyberbrain_core::container::{ContainerSummary, LogLine, PortMapping};
use cyberbrain_core::domain::{
    ApprovalStatus, Artifact, ArtifactQuery, ClaimJobs, FinishJob, InventoryQuery,
    InventorySnapshot, JobStatus, LlmCall, NetworkPolicyRecommendation, NewAllowlistEntry, Page,
    PageRequest, Run, RunJob, TaskDefinitionPatch,
};
use cyberbrain_core::engine::{JobContext, LaunchRequest, TaskRunner, builtin_runners};
use cyberbrain_core::testing::ManualClock;
use cyberbrain_core::{Config, ContainerEngine, Cyberbrain, Error, Llm, StoreAdmin};
use cyberbrain_store_sqlite::SqliteStore;
use serde_json::Value;
use tempfile::TempDir;

/// The lease owner the harness claims jobs as.
pub const OWNER: &str = "runner-test-executor";

/// A Cyberbrain over a fresh SQLite database in a temp dir.
pub struct Harness {
    pub cb: Cyberbrain,
    pub clock: Arc<ManualClock>,
    pub db_path: PathBuf,
    pub logs_dir: PathBuf,
    pub artifacts_dir: PathBuf,
    /// Kept last: the directory outlives everything that points into it.
    pub dir: TempDir,
}

impl Harness {
    /// A fresh store and directories; `configure` adjusts the configuration (the paths are set
    /// before it is called). The clock is a manual one starting now (whole seconds).
    pub async fn new(configure: impl FnOnce(&mut Config)) -> Harness {
        let dir = tempfile::tempdir().expect("temp dir");
        let base = dir.path().canonicalize().expect("canonical temp dir");
        let db_path = base.join("cyberbrain.db");
        let logs_dir = base.join("logs");
        let artifacts_dir = base.join("artifacts");
        std::fs::create_dir_all(&logs_dir).expect("logs dir");
        let mut config = Config::default();
        config.paths.data_dir = base.clone();
        config.paths.logs_dir = Some(logs_dir.clone());
        config.paths.artifacts_dir = Some(artifacts_dir.clone());
        configure(&mut config);
        // What the test configured is where the runners read and write.
        let logs_dir = config.paths.logs_dir();
        let artifacts_dir = config.paths.artifacts_dir();
        let store = SqliteStore::connect(db_path.to_str().expect("utf-8 path"))
            .await
            .expect("connect to SQLite");
        store.migrate().await.expect("migrate");
        let clock = Arc::new(ManualClock::new(Utc::now().trunc_subsecs(0)));
        let cb = Cyberbrain::new(Arc::new(store), config).with_clock(clock.clone());
        Harness {
            cb,
            clock,
            db_path,
            logs_dir,
            artifacts_dir,
            dir,
        }
    }

    pub fn with_llm(mut self, llm: Arc<dyn Llm>) -> Self {
        self.cb = self.cb.with_llm(llm);
        self
    }

    pub fn with_embedder(mut self, embedder: Arc<dyn cyberbrain_core::Embedder>) -> Self {
        self.cb = self.cb.with_embedder(embedder);
        self
    }

    pub fn with_engine(mut self, engine: Arc<dyn ContainerEngine>) -> Self {
        self.cb = self.cb.with_container_engine(engine);
        self
    }

    pub fn now(&self) -> DateTime<Utc> {
        cyberbrain_core::Clock::now(self.clock.as_ref())
    }

    /// Writes `relative` under the logs directory (parents created).
    pub fn write_log(&self, relative: &str, content: impl AsRef<[u8]>) {
        let path = self.logs_dir.join(relative);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("log parent dir");
        std::fs::write(&path, content).expect("write log file");
    }

    /// Copies a fixture from `tests/fixtures/logs` into the logs directory.
    pub fn copy_log_fixture(&self, name: &str) {
        let bytes = std::fs::read(fixtures_dir().join("logs").join(name)).expect("fixture");
        self.write_log(name, bytes);
    }

    pub async fn directive_id(&self, name: &str) -> i64 {
        self.cb
            .store()
            .get_directive_by_name(name)
            .await
            .expect("seeded directive")
            .id
    }

    /// Sets `values` in the task definition's configuration (other keys are kept).
    pub async fn configure_task(&self, task: &str, values: Value) {
        let definition = self.cb.get_task_by_key(task).await.expect("seeded task");
        let mut config = definition.config;
        for (key, value) in values.as_object().expect("an object of settings") {
            config.insert(key.clone(), value.clone());
        }
        let patch = TaskDefinitionPatch {
            config: Some(config),
            ..TaskDefinitionPatch::default()
        };
        self.cb
            .update_task(definition.id, patch)
            .await
            .expect("update the task configuration");
    }

    /// Adds an enabled allowlist entry for `container` (a name or id).
    pub async fn allow(&self, container: &str) {
        self.cb
            .create_allowlist_entry(NewAllowlistEntry::new(container))
            .await
            .expect("allowlist entry");
    }

    /// Launches `request`, approves it when it waits for approval, and drives every job.
    pub async fn run(&self, request: LaunchRequest) -> RunOutcome {
        let mut run = self.cb.launch(request).await.expect("launch");
        if run.approval_status == ApprovalStatus::Pending {
            run = self
                .cb
                .approve_run(run.id, "runner-tests")
                .await
                .expect("approve");
        }
        let mut jobs = Vec::new();
        for pending in self.cb.store().list_run_jobs(run.id).await.expect("jobs") {
            jobs.push(self.drive(&run, &pending).await);
        }
        let run = self.cb.store().get_run(run.id).await.expect("run");
        RunOutcome { run, jobs }
    }

    /// Launches one task (by key) with `request`'s other settings and drives it.
    pub async fn run_task(&self, task: &str, request: LaunchRequest) -> JobOutcome {
        let mut outcome = self.run(request.with_tasks([task])).await;
        assert_eq!(outcome.jobs.len(), 1, "one task, one job");
        let mut job = outcome.jobs.remove(0);
        job.run = outcome.run;
        job
    }

    /// What an executor does for one job.
    async fn drive(&self, run: &Run, pending: &RunJob) -> JobOutcome {
        let store = self.cb.store();
        let claimed = store
            .claim_jobs(ClaimJobs::new(
                OWNER,
                self.now(),
                chrono::Duration::minutes(10),
            ))
            .await
            .expect("claim");
        assert_eq!(
            claimed.iter().map(|j| j.id).collect::<Vec<_>>(),
            [pending.id],
            "the harness claims the job it drives"
        );
        let job = claimed.into_iter().next().expect("one claimed job");
        let run = store.get_run(run.id).await.expect("run");
        let ctx = JobContext::load(self.cb.clone(), run, job.clone())
            .await
            .expect("job context");
        let result = runner(&job.task_key).run(&ctx).await;
        let (status, value, error_summary) = match &result {
            Ok(value) => (JobStatus::Completed, value.clone(), None),
            Err(e) => (
                JobStatus::Failed,
                Value::Object(Default::default()),
                Some(e.to_string()),
            ),
        };
        let finished = store
            .finish_job(FinishJob {
                job_id: job.id,
                owner: OWNER.into(),
                status,
                result: value,
                error_summary,
                now: self.now(),
            })
            .await
            .expect("finish job");
        if finished.run_ended {
            self.cb
                .finalize_run(&finished.run)
                .await
                .expect("finalize the run");
        }
        let calls: Vec<LlmCall> = store
            .list_llm_calls(job.run_id)
            .await
            .expect("llm calls")
            .into_iter()
            .filter(|c| c.run_job_id == Some(job.id))
            .collect();
        let artifacts = self
            .artifacts_of(job.run_id)
            .await
            .into_iter()
            .filter(|a| a.run_job_id == Some(job.id))
            .collect();
        JobOutcome {
            run: store.get_run(job.run_id).await.expect("run"),
            job: store.get_run_job(job.id).await.expect("job"),
            result,
            calls,
            artifacts,
        }
    }

    pub async fn artifacts_of(&self, run_id: i64) -> Vec<Artifact> {
        self.cb
            .store()
            .list_artifacts(ArtifactQuery {
                run_id: Some(run_id),
                page: PageRequest::first(200),
            })
            .await
            .expect("artifacts")
            .items
    }

    /// The inventory snapshots the run recorded (the first 50).
    pub async fn inventory_of(&self, run_id: i64) -> Page<InventorySnapshot> {
        self.cb
            .store()
            .list_inventory(InventoryQuery {
                run_id: Some(run_id),
                page: PageRequest::first(50),
            })
            .await
            .expect("inventory")
    }

    /// The network policies the run recorded (the first 50).
    pub async fn policies_of(&self, run_id: i64) -> Page<NetworkPolicyRecommendation> {
        self.cb
            .store()
            .list_network_policies(Some(run_id), PageRequest::first(50))
            .await
            .expect("policies")
    }

    /// The bytes of the database and its WAL and shared-memory files (what is on disk).
    pub fn database_bytes(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let mut files = Vec::new();
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let path = PathBuf::from(format!("{}{suffix}", self.db_path.display()));
            if let Ok(bytes) = std::fs::read(&path) {
                files.push((path, bytes));
            }
        }
        assert!(
            !files.is_empty(),
            "no database file at {}",
            self.db_path.display()
        );
        files
    }
}

/// A run after the harness drove its jobs.
#[derive(Debug)]
pub struct RunOutcome {
    pub run: Run,
    pub jobs: Vec<JobOutcome>,
}

/// One driven job: what the runner returned and what the store holds afterwards.
#[derive(Debug)]
pub struct JobOutcome {
    pub run: Run,
    pub job: RunJob,
    pub result: Result<Value, Error>,
    /// This job's accounting rows.
    pub calls: Vec<LlmCall>,
    /// This job's registered artifacts.
    pub artifacts: Vec<Artifact>,
}

impl JobOutcome {
    /// The result of a job that must have succeeded.
    pub fn value(&self) -> &Value {
        match &self.result {
            Ok(value) => value,
            Err(e) => panic!("the {} job failed: {e}", self.job.task_key),
        }
    }

    /// The error message of a job that must have failed.
    pub fn error(&self) -> String {
        match &self.result {
            Ok(value) => panic!("the {} job succeeded: {value}", self.job.task_key),
            Err(e) => e.to_string(),
        }
    }

    /// The artifact registered as `run_<id>/<name>`.
    pub fn artifact(&self, name: &str) -> &Artifact {
        let path = format!("run_{}/{name}", self.run.id);
        self.artifacts
            .iter()
            .find(|a| a.relative_path == path)
            .unwrap_or_else(|| panic!("{path} is not registered: {:#?}", self.artifacts))
    }

    /// The text of an artifact file, read from the artifacts root, with its registration
    /// checked against the bytes.
    pub fn artifact_text(&self, harness: &Harness, name: &str) -> String {
        let artifact = self.artifact(name);
        let bytes = std::fs::read(harness.artifacts_dir.join(&artifact.relative_path))
            .unwrap_or_else(|e| panic!("reading {}: {e}", artifact.relative_path));
        assert_eq!(artifact.size_bytes, bytes.len() as i64, "{name} size");
        use sha2::Digest as _;
        assert_eq!(
            artifact.sha256,
            hex::encode(sha2::Sha256::digest(&bytes)),
            "{name} hash"
        );
        String::from_utf8(bytes).expect("UTF-8 artifact")
    }

    pub fn artifact_json(&self, harness: &Harness, name: &str) -> Value {
        serde_json::from_str(&self.artifact_text(harness, name)).expect("JSON artifact")
    }

    /// Asserts that the job made exactly one LLM call, with `(prompt, completion)` tokens as
    /// reported, and that the totals are its sums.
    pub fn assert_one_call(&self, usage: (i64, i64)) {
        assert_eq!(self.calls.len(), 1, "{:#?}", self.calls);
        assert_eq!(
            (self.calls[0].prompt_tokens, self.calls[0].completion_tokens),
            usage
        );
        self.assert_totals_match_calls();
    }

    /// Asserts the accounting invariant: the job's and run's totals are the sums of the rows.
    pub fn assert_totals_match_calls(&self) {
        let sum = |f: fn(&LlmCall) -> i64| self.calls.iter().map(f).sum::<i64>();
        let (prompt, completion, total) = (
            sum(|c| c.prompt_tokens),
            sum(|c| c.completion_tokens),
            sum(|c| c.total_tokens),
        );
        assert_eq!(
            (
                self.job.prompt_tokens,
                self.job.completion_tokens,
                self.job.total_tokens
            ),
            (prompt, completion, total),
            "job totals are the sums of its calls"
        );
        assert_eq!(
            (
                self.run.prompt_tokens,
                self.run.completion_tokens,
                self.run.total_tokens
            ),
            (prompt, completion, total),
            "run totals are the sums of its (single job's) calls"
        );
    }
}

/// The built-in runner for `task`.
pub fn runner(task: &str) -> Arc<dyn TaskRunner> {
    builtin_runners()
        .into_iter()
        .find(|(key, _)| *key == task)
        .map(|(_, runner)| runner)
        .unwrap_or_else(|| panic!("no built-in runner for {task}"))
}

/// `cyberbrain-core/tests/fixtures`.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A container as an engine lists it, for the fake engine.
pub fn container(
    id: &str,
    name: &str,
    labels: &[(&str, &str)],
    networks: &[&str],
    ports: &[(u16, Option<u16>)],
) -> ContainerSummary {
    ContainerSummary {
        id: id.into(),
        name: name.into(),
        image: "localhost/busybox:latest".into(),
        state: "running".into(),
        labels: labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<BTreeMap<_, _>>(),
        networks: networks.iter().map(|n| (*n).to_owned()).collect(),
        ports: ports
            .iter()
            .map(|(private, public)| PortMapping {
                private_port: *private,
                public_port: *public,
                protocol: "tcp".into(),
            })
            .collect(),
    }
}

/// The edges of a `services.json` topology as `(source, target, port, shared_network)`, the
/// endpoints read from the `source` and `target` keys given (names or compose services).
pub fn edge_tuples(
    topology: &Value,
    source: &str,
    target: &str,
) -> Vec<(String, String, Value, Value)> {
    topology["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| {
            (
                e[source].as_str().unwrap_or_default().to_owned(),
                e[target].as_str().unwrap_or_default().to_owned(),
                e["port"].clone(),
                e["shared_network"].clone(),
            )
        })
        .collect()
}

/// A stamped container log line.
pub fn log_line(at: DateTime<Utc>, text: &str) -> LogLine {
    LogLine {
        timestamp: Some(at),
        stream: "stdout".into(),
        line: text.into(),
    }
}

/// A 64-hex container id made of one repeated digit, e.g. `id('a')`.
pub fn id(digit: char) -> String {
    std::iter::repeat_n(digit, 64).collect()
}

/// Every place `needle` occurs in the database files, for leak assertions.
pub fn occurrences(files: &[(PathBuf, Vec<u8>)], needle: &str) -> Vec<String> {
    files
        .iter()
        .filter(|(_, bytes)| {
            bytes
                .windows(needle.len())
                .any(|window| window == needle.as_bytes())
        })
        .map(|(path, _)| path.display().to_string())
        .collect()
}
