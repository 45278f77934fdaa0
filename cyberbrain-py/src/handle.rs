//! The `cyberbrain.Cyberbrain` class. Each method is thin: convert the arguments, clone the
//! engine handle, run the core call on the handle's tokio runtime with the GIL released, map the
//! error, convert the result. The knowledge-base methods' bodies are in [`rag`].

mod rag;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use cyberbrain_core::domain::{
    AllowlistPatch, ApprovalStatus, ArtifactQuery, DirectivePatch, DirectiveType,
    NewAllowlistEntry, NewDirective, NewTaskDefinition, PageRequest, Run, RunQuery, RunStatus,
    TaskDefinitionPatch, Trigger,
};
use cyberbrain_core::engine::{ANONYMOUS_APPROVER, LaunchRequest, ScheduleInput, SearchRequest};
use cyberbrain_core::{Cyberbrain, Error, Result};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyInt, PyString};
use serde_json::{Map, Value};

use crate::backend;
use crate::convert::{from_json, kwargs_to_json, page_to_python, py_to_json, to_python};
use crate::embedder::PyEmbedder;
use crate::errors::to_py_err;
use crate::executor::ExecutorSlot;
use crate::ingester::IngesterSlot;
use crate::llm::PyLlm;
use crate::options::OpenOptions;
use crate::runtime::HandleRuntime;

/// How often a long wait looks up from the runtime to let Python handle signals (Ctrl-C).
const SIGNAL_CHECK: Duration = Duration::from_millis(200);

/// The model recorded for a Python LLM callable when neither `llm_model` nor its result names one.
const PYTHON_LLM_MODEL: &str = "python";

/// A Cyberbrain SDK handle. Thread-safe: share one across Python threads.
#[pyclass(frozen, module = "cyberbrain", name = "Cyberbrain")]
#[derive(Debug)]
pub struct PyCyberbrain {
    engine: Cyberbrain,
    runtime: HandleRuntime,
    executor: ExecutorSlot,
    ingester: IngesterSlot,
    backend: &'static str,
    /// The database location for `repr`; only SQLite paths reach here, which hold no secrets.
    location: String,
}

impl PyCyberbrain {
    /// Runs one core call on the runtime with the GIL released, so other Python threads keep
    /// running (and may call this handle) while it waits on the database.
    fn block<T, F, Fut>(&self, py: Python<'_>, call: F) -> PyResult<T>
    where
        F: FnOnce(Cyberbrain) -> Fut + Send,
        Fut: Future<Output = Result<T>> + Send,
        T: Send,
    {
        let engine = self.engine.clone();
        let runtime = &self.runtime;
        py.detach(move || runtime.block_on(call(engine)))
            .map_err(|e| to_py_err(py, e))
    }

    /// Waits for `future` with the GIL released, looking up every [`SIGNAL_CHECK`] so Ctrl-C
    /// (or any signal handler that raises) interrupts the wait.
    fn block_interruptibly<T, Fut>(&self, py: Python<'_>, future: Fut) -> PyResult<T>
    where
        Fut: Future<Output = Result<T>> + Send,
        T: Send,
    {
        let mut future: Pin<Box<Fut>> = Box::pin(future);
        let runtime = &self.runtime;
        loop {
            let step = py.detach(|| {
                runtime.block_on(async { tokio::time::timeout(SIGNAL_CHECK, &mut future).await })
            });
            match step {
                Ok(result) => return result.map_err(|e| to_py_err(py, e)),
                Err(_elapsed) => py.check_signals()?,
            }
        }
    }

    /// Waits for run `id` to end (or to need approval), interruptibly.
    fn wait(&self, py: Python<'_>, id: i64, timeout: Duration) -> PyResult<Run> {
        let engine = self.engine.clone();
        self.block_interruptibly(py, async move { engine.wait_for_run(id, timeout).await })
    }

    /// Stops the executor in `slot`, if any, with the GIL released; whether one was running.
    fn stop_executor_in_slot(&self, py: Python<'_>) -> PyResult<bool> {
        match self.executor.take() {
            Some(handle) => {
                let runtime = &self.runtime;
                py.detach(|| runtime.block_on(handle.shutdown()))
                    .map_err(|e| to_py_err(py, e))?;
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

#[pymethods]
impl PyCyberbrain {
    /// Opens (creating if needed) the database `url` names, applies migrations, attaches the
    /// configured LLM client (refusing a public endpoint, G1), container engine and embedder,
    /// and returns a handle. `llm` and `embedder` replace the LLM and the embedder with Python
    /// callables. Keyword arguments override configuration (see `_cyberbrain.pyi`).
    #[staticmethod]
    #[pyo3(signature = (url, *, llm = None, embedder = None, **config))]
    fn open(
        py: Python<'_>,
        url: &str,
        llm: Option<&Bound<'_, PyAny>>,
        embedder: Option<&Bound<'_, PyAny>>,
        config: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let options = OpenOptions::from_keywords(config).map_err(|e| to_py_err(py, e))?;
        let callable = llm_callable(llm).map_err(|e| to_py_err(py, e))?;
        let embedder = embedder_callable(embedder).map_err(|e| to_py_err(py, e))?;
        let llm_model = options.llm_model().unwrap_or(PYTHON_LLM_MODEL).to_owned();
        let runtime = HandleRuntime::new().map_err(|e| to_py_err(py, e))?;
        let opened = py
            .detach(|| {
                let config = options.into_config(url)?;
                let context_tokens = config.llm.context_tokens;
                let mut opened = runtime.block_on(backend::open(url, config))?;
                opened.engine = opened.engine.with_configured_plugins()?;
                if let Some(callable) = callable {
                    let llm = PyLlm::new(callable, llm_model, context_tokens);
                    opened.engine = opened.engine.with_llm(Arc::new(llm));
                }
                if let Some(embedder) = embedder {
                    opened.engine = opened.engine.with_embedder(Arc::new(embedder));
                }
                Ok(opened)
            })
            .map_err(|e| to_py_err(py, e))?;
        Ok(Self {
            engine: opened.engine,
            runtime,
            executor: ExecutorSlot::default(),
            ingester: IngesterSlot::default(),
            backend: opened.backend,
            location: location_of(url).to_owned(),
        })
    }

    /// The backend name, e.g. `"sqlite"`.
    #[getter]
    fn backend(&self) -> &'static str {
        self.backend
    }

    fn __repr__(&self) -> String {
        format!(
            "<cyberbrain.Cyberbrain backend={} database={:?}>",
            self.backend, self.location
        )
    }

    /// Component states: database, LLM, embedder, container engine.
    fn health<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let health = self.block(py, |cb| async move { Ok(cb.health().await) })?;
        to_python(py, &health)
    }

    // ----- directives ----------------------------------------------------------------------

    #[pyo3(signature = (page = 1, page_size = 50))]
    fn list_directives<'py>(
        &self,
        py: Python<'py>,
        page: i64,
        page_size: i64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let request = page_request(page, page_size).map_err(|e| to_py_err(py, e))?;
        let page = self.block(py, |cb| async move { cb.list_directives(request).await })?;
        page_to_python(py, &page)
    }

    fn get_directive<'py>(&self, py: Python<'py>, id: i64) -> PyResult<Bound<'py, PyAny>> {
        let directive = self.block(py, |cb| async move { cb.get_directive(id).await })?;
        to_python(py, &directive)
    }

    #[pyo3(signature = (
        name,
        directive_type,
        *,
        description = "",
        directive_text = "",
        task_config = None,
        is_active = true,
        approval_required = None,
    ))]
    #[allow(clippy::too_many_arguments)] // mirrors the Python signature, keyword by keyword
    fn create_directive<'py>(
        &self,
        py: Python<'py>,
        name: String,
        directive_type: &str,
        description: &str,
        directive_text: &str,
        task_config: Option<&Bound<'py, PyAny>>,
        is_active: bool,
        approval_required: Option<bool>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let new = (|| -> Result<NewDirective> {
            let directive_type = parse_directive_type(directive_type)?;
            Ok(NewDirective {
                name,
                directive_type,
                description: description.to_owned(),
                directive_text: directive_text.to_owned(),
                task_config: object_argument("task_config", task_config)?,
                is_active,
                approval_required,
            })
        })()
        .map_err(|e| to_py_err(py, e))?;
        let directive = self.block(py, |cb| async move { cb.create_directive(new).await })?;
        to_python(py, &directive)
    }

    /// Changes only the given fields: `update_directive(3, name="…", is_active=False)`.
    #[pyo3(signature = (id, **fields))]
    fn update_directive<'py>(
        &self,
        py: Python<'py>,
        id: i64,
        fields: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let patch: DirectivePatch = patch_from(fields).map_err(|e| to_py_err(py, e))?;
        let directive = self.block(py, |cb| async move { cb.update_directive(id, patch).await })?;
        to_python(py, &directive)
    }

    fn delete_directive(&self, py: Python<'_>, id: i64) -> PyResult<()> {
        self.block(py, |cb| async move { cb.delete_directive(id).await })
    }

    // ----- task definitions ----------------------------------------------------------------

    #[pyo3(signature = (page = 1, page_size = 50))]
    fn list_tasks<'py>(
        &self,
        py: Python<'py>,
        page: i64,
        page_size: i64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let request = page_request(page, page_size).map_err(|e| to_py_err(py, e))?;
        let page = self.block(py, |cb| async move { cb.list_tasks(request).await })?;
        page_to_python(py, &page)
    }

    /// By id (`int`) or by key or alias (`str`: `"log_triage"`, `"task1"`).
    fn get_task<'py>(
        &self,
        py: Python<'py>,
        id_or_key: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let task = match TaskRef::extract(id_or_key)? {
            TaskRef::Id(id) => self.block(py, |cb| async move { cb.get_task(id).await })?,
            TaskRef::Key(key) => {
                self.block(py, |cb| async move { cb.get_task_by_key(&key).await })?
            }
        };
        to_python(py, &task)
    }

    #[pyo3(signature = (
        task_key,
        name,
        *,
        description = "",
        default_directive_id = None,
        config = None,
        is_active = true,
    ))]
    #[allow(clippy::too_many_arguments)] // mirrors the Python signature, keyword by keyword
    fn create_task<'py>(
        &self,
        py: Python<'py>,
        task_key: String,
        name: String,
        description: &str,
        default_directive_id: Option<i64>,
        config: Option<&Bound<'py, PyAny>>,
        is_active: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let config = object_argument("config", config).map_err(|e| to_py_err(py, e))?;
        let new = NewTaskDefinition {
            task_key,
            name,
            description: description.to_owned(),
            default_directive_id,
            config,
            is_active,
        };
        let task = self.block(py, |cb| async move { cb.create_task(new).await })?;
        to_python(py, &task)
    }

    /// Changes only the given fields; `default_directive_id=None` clears the default.
    #[pyo3(signature = (id, **fields))]
    fn update_task<'py>(
        &self,
        py: Python<'py>,
        id: i64,
        fields: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let patch: TaskDefinitionPatch = patch_from(fields).map_err(|e| to_py_err(py, e))?;
        let task = self.block(py, |cb| async move { cb.update_task(id, patch).await })?;
        to_python(py, &task)
    }

    fn delete_task(&self, py: Python<'_>, id: i64) -> PyResult<()> {
        self.block(py, |cb| async move { cb.delete_task(id).await })
    }

    // ----- container allowlist -------------------------------------------------------------

    #[pyo3(signature = (page = 1, page_size = 50))]
    fn get_allowlist<'py>(
        &self,
        py: Python<'py>,
        page: i64,
        page_size: i64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let request = page_request(page, page_size).map_err(|e| to_py_err(py, e))?;
        let page = self.block(py, |cb| async move { cb.list_allowlist(request).await })?;
        page_to_python(py, &page)
    }

    fn get_allowlist_entry<'py>(&self, py: Python<'py>, id: i64) -> PyResult<Bound<'py, PyAny>> {
        let entry = self.block(py, |cb| async move { cb.get_allowlist_entry(id).await })?;
        to_python(py, &entry)
    }

    /// Adds the entry, or replaces the one with the same `container_id` (keeping its id).
    #[pyo3(signature = (
        container_id,
        *,
        name = "",
        description = "",
        enabled = true,
        tags = None,
    ))]
    fn set_allowlist<'py>(
        &self,
        py: Python<'py>,
        container_id: String,
        name: &str,
        description: &str,
        enabled: bool,
        tags: Option<Vec<String>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let new = NewAllowlistEntry {
            container_id,
            name: name.to_owned(),
            description: description.to_owned(),
            enabled,
            tags: tags.unwrap_or_default(),
        };
        let entry = self.block(py, |cb| async move { cb.set_allowlist_entry(new).await })?;
        to_python(py, &entry)
    }

    #[pyo3(signature = (id, **fields))]
    fn update_allowlist_entry<'py>(
        &self,
        py: Python<'py>,
        id: i64,
        fields: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let patch: AllowlistPatch = patch_from(fields).map_err(|e| to_py_err(py, e))?;
        let entry = self.block(py, |cb| async move {
            cb.update_allowlist_entry(id, patch).await
        })?;
        to_python(py, &entry)
    }

    fn delete_allowlist_entry(&self, py: Python<'_>, id: i64) -> PyResult<()> {
        self.block(py, |cb| async move { cb.delete_allowlist_entry(id).await })
    }

    // ----- runs ----------------------------------------------------------------------------

    /// Launches a run (trigger `python`) through the one engine launch path; see the stub.
    #[pyo3(signature = (
        tasks = None,
        *,
        task_ids = None,
        directive_id = None,
        custom_directive_text = None,
        use_rag = None,
        task3_scope = None,
    ))]
    #[allow(clippy::too_many_arguments)] // mirrors the Python signature, keyword by keyword
    fn launch<'py>(
        &self,
        py: Python<'py>,
        tasks: Option<&Bound<'py, PyAny>>,
        task_ids: Option<&Bound<'py, PyAny>>,
        directive_id: Option<&Bound<'py, PyAny>>,
        custom_directive_text: Option<&Bound<'py, PyAny>>,
        use_rag: Option<&Bound<'py, PyAny>>,
        task3_scope: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let request = launch_request([
            ("tasks", tasks),
            ("task_ids", task_ids),
            ("directive_id", directive_id),
            ("custom_directive_text", custom_directive_text),
            ("use_rag", use_rag),
            ("task3_scope", task3_scope),
        ])
        .map_err(|e| to_py_err(py, e))?;
        let run = self.block(py, |cb| async move { cb.launch(request).await })?;
        to_python(py, &run)
    }

    /// Launches like `launch`, runs an in-process executor while waiting unless one is running
    /// already, and returns the run once it ended (or once it waits for approval).
    #[pyo3(signature = (
        tasks = None,
        *,
        task_ids = None,
        directive_id = None,
        custom_directive_text = None,
        use_rag = None,
        task3_scope = None,
        timeout_s = 300.0,
    ))]
    #[allow(clippy::too_many_arguments)] // mirrors the Python signature, keyword by keyword
    fn launch_and_wait<'py>(
        &self,
        py: Python<'py>,
        tasks: Option<&Bound<'py, PyAny>>,
        task_ids: Option<&Bound<'py, PyAny>>,
        directive_id: Option<&Bound<'py, PyAny>>,
        custom_directive_text: Option<&Bound<'py, PyAny>>,
        use_rag: Option<&Bound<'py, PyAny>>,
        task3_scope: Option<&Bound<'py, PyAny>>,
        timeout_s: f64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let timeout = timeout_argument(timeout_s).map_err(|e| to_py_err(py, e))?;
        let request = launch_request([
            ("tasks", tasks),
            ("task_ids", task_ids),
            ("directive_id", directive_id),
            ("custom_directive_text", custom_directive_text),
            ("use_rag", use_rag),
            ("task3_scope", task3_scope),
        ])
        .map_err(|e| to_py_err(py, e))?;
        let run = self.block(py, |cb| async move { cb.launch(request).await })?;
        if run.approval_status == ApprovalStatus::Pending {
            // Nothing can run it before approve_run; waiting would only time out.
            return to_python(py, &run);
        }
        let started = self
            .executor
            .start_if_idle(&self.runtime, self.engine.clone())
            .map_err(|e| to_py_err(py, e))?;
        let waited = self.wait(py, run.id, timeout);
        if started {
            // Stopped whatever the wait's outcome; an interrupted wait keeps its exception.
            let stopped = self.stop_executor_in_slot(py);
            let run = waited?;
            stopped?;
            return to_python(py, &run);
        }
        to_python(py, &waited?)
    }

    /// Runs, newest first; `status` and `task` (key or alias) filter.
    #[pyo3(signature = (status = None, task = None, page = 1, page_size = 50))]
    fn list_runs<'py>(
        &self,
        py: Python<'py>,
        status: Option<&str>,
        task: Option<String>,
        page: i64,
        page_size: i64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let query = run_query(status, task, page, page_size).map_err(|e| to_py_err(py, e))?;
        let page = self.block(py, |cb| async move { cb.list_runs(query).await })?;
        page_to_python(py, &page)
    }

    /// A run with its jobs and LLM calls (counts only).
    fn get_run<'py>(&self, py: Python<'py>, id: i64) -> PyResult<Bound<'py, PyAny>> {
        let detail = self.block(py, |cb| async move { cb.run_detail(id).await })?;
        to_python(py, &detail)
    }

    /// `{id, status, markdown, json, started_at, completed_at, *_tokens}`.
    fn run_report<'py>(&self, py: Python<'py>, id: i64) -> PyResult<Bound<'py, PyAny>> {
        let report = self.block(py, |cb| async move { cb.run_report(id).await })?;
        to_python(py, &report)
    }

    /// Waits until the run ended or waits for approval; `Unavailable` after `timeout_s`.
    #[pyo3(signature = (id, timeout_s = 300.0))]
    fn wait_for_run<'py>(
        &self,
        py: Python<'py>,
        id: i64,
        timeout_s: f64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let timeout = timeout_argument(timeout_s).map_err(|e| to_py_err(py, e))?;
        let run = self.wait(py, id, timeout)?;
        to_python(py, &run)
    }

    fn cancel_run<'py>(&self, py: Python<'py>, id: i64) -> PyResult<Bound<'py, PyAny>> {
        let run = self.block(py, |cb| async move { cb.cancel_run(id).await })?;
        to_python(py, &run)
    }

    /// `approver` defaults to `"anonymous"` (no authenticated user in an embedding program).
    #[pyo3(signature = (id, approver = None))]
    fn approve_run<'py>(
        &self,
        py: Python<'py>,
        id: i64,
        approver: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let approver = approver.unwrap_or(ANONYMOUS_APPROVER).to_owned();
        let run = self.block(py, |cb| async move { cb.approve_run(id, &approver).await })?;
        to_python(py, &run)
    }

    /// `approver` defaults to `"anonymous"` (no authenticated user in an embedding program).
    #[pyo3(signature = (id, approver = None))]
    fn deny_run<'py>(
        &self,
        py: Python<'py>,
        id: i64,
        approver: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let approver = approver.unwrap_or(ANONYMOUS_APPROVER).to_owned();
        let run = self.block(py, |cb| async move { cb.deny_run(id, &approver).await })?;
        to_python(py, &run)
    }

    /// Runs awaiting approval, newest first.
    #[pyo3(signature = (page = 1, page_size = 50))]
    fn pending_approvals<'py>(
        &self,
        py: Python<'py>,
        page: i64,
        page_size: i64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let request = page_request(page, page_size).map_err(|e| to_py_err(py, e))?;
        let page = self.block(py, |cb| async move { cb.pending_approvals(request).await })?;
        page_to_python(py, &page)
    }

    // ----- schedules -----------------------------------------------------------------------

    /// Schedules, ordered by id.
    #[pyo3(signature = (page = 1, page_size = 50))]
    fn list_schedules<'py>(
        &self,
        py: Python<'py>,
        page: i64,
        page_size: i64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let request = page_request(page, page_size).map_err(|e| to_py_err(py, e))?;
        let page = self.block(py, |cb| async move { cb.list_schedules(request).await })?;
        page_to_python(py, &page)
    }

    fn get_schedule<'py>(&self, py: Python<'py>, id: i64) -> PyResult<Bound<'py, PyAny>> {
        let schedule = self.block(py, |cb| async move { cb.get_schedule(id).await })?;
        to_python(py, &schedule)
    }

    /// `create_schedule(name="…", task_key="log_triage", schedule_type="interval",
    /// interval_minutes=60)`; the keywords are the fields of `POST /api/schedules/`, so a
    /// wrong or unknown one is `InvalidInput` naming it, and nothing is saved.
    #[pyo3(signature = (**fields))]
    fn create_schedule<'py>(
        &self,
        py: Python<'py>,
        fields: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let input: ScheduleInput = patch_from(fields).map_err(|e| to_py_err(py, e))?;
        let schedule = self.block(py, |cb| async move { cb.create_schedule(input).await })?;
        to_python(py, &schedule)
    }

    /// Changes only the given fields (`None` clears a nullable one); `next_run_at` moves only
    /// when the timing changes.
    #[pyo3(signature = (id, **fields))]
    fn update_schedule<'py>(
        &self,
        py: Python<'py>,
        id: i64,
        fields: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let input: ScheduleInput = patch_from(fields).map_err(|e| to_py_err(py, e))?;
        let schedule = self.block(py, |cb| async move { cb.update_schedule(id, input).await })?;
        to_python(py, &schedule)
    }

    fn delete_schedule(&self, py: Python<'_>, id: i64) -> PyResult<()> {
        self.block(py, |cb| async move { cb.delete_schedule(id).await })
    }

    /// Enables (from the next slot after now) or disables a schedule.
    fn set_schedule_enabled<'py>(
        &self,
        py: Python<'py>,
        id: i64,
        enabled: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let schedule = self.block(py, |cb| async move {
            cb.set_schedule_enabled(id, enabled).await
        })?;
        to_python(py, &schedule)
    }

    /// Launches the schedule's task now (enabled or not): `{run_id, scheduled_run_id}`.
    fn run_schedule_now<'py>(&self, py: Python<'py>, id: i64) -> PyResult<Bound<'py, PyAny>> {
        let (run, scheduled_run) =
            self.block(py, |cb| async move { cb.run_schedule_now(id).await })?;
        to_python(
            py,
            &serde_json::json!({"run_id": run.id, "scheduled_run_id": scheduled_run.id}),
        )
    }

    /// The schedule's fired slots, newest first.
    #[pyo3(signature = (id, page = 1, page_size = 50))]
    fn schedule_history<'py>(
        &self,
        py: Python<'py>,
        id: i64,
        page: i64,
        page_size: i64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let request = page_request(page, page_size).map_err(|e| to_py_err(py, e))?;
        let page = self.block(
            py,
            |cb| async move { cb.schedule_history(id, request).await },
        )?;
        page_to_python(py, &page)
    }

    // ----- executor ------------------------------------------------------------------------

    /// Starts an executor on this handle; `Conflict` when one is running.
    fn start_executor(&self, py: Python<'_>) -> PyResult<()> {
        self.executor
            .start(&self.runtime, self.engine.clone())
            .map_err(|e| to_py_err(py, e))
    }

    /// Stops this handle's executor (running jobs get the shutdown grace); whether one ran.
    fn stop_executor(&self, py: Python<'_>) -> PyResult<bool> {
        self.stop_executor_in_slot(py)
    }

    #[getter]
    fn executor_running(&self) -> bool {
        self.executor.is_running()
    }

    // ----- knowledge base (bodies in `rag`) -------------------------------------------------

    /// Streams the file at `path` into the knowledge base; the upload with `created`.
    fn upload<'py>(&self, py: Python<'py>, path: PathBuf) -> PyResult<Bound<'py, PyAny>> {
        self.rag_upload(py, &path)
    }

    /// Uploads `data` as a file named `filename`; the upload with `created`.
    fn upload_bytes<'py>(
        &self,
        py: Python<'py>,
        filename: String,
        data: std::borrow::Cow<'_, [u8]>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.rag_upload_bytes(py, filename, data.into_owned())
    }

    /// Uploads, newest first, optionally of one status.
    #[pyo3(signature = (status = None, page = 1, page_size = 50))]
    fn list_uploads<'py>(
        &self,
        py: Python<'py>,
        status: Option<&str>,
        page: i64,
        page_size: i64,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.rag_list_uploads(py, status, page, page_size)
    }

    fn get_upload<'py>(&self, py: Python<'py>, id: i64) -> PyResult<Bound<'py, PyAny>> {
        let upload = self.block(py, |cb| async move { cb.get_upload(id).await })?;
        to_python(py, &upload)
    }

    /// Deletes the upload with its document, chunks, vectors and file; returns what was deleted.
    fn delete_upload<'py>(&self, py: Python<'py>, id: i64) -> PyResult<Bound<'py, PyAny>> {
        let upload = self.block(py, |cb| async move { cb.delete_upload(id).await })?;
        to_python(py, &upload)
    }

    /// Queues a failed upload again.
    fn retry_upload<'py>(&self, py: Python<'py>, id: i64) -> PyResult<Bound<'py, PyAny>> {
        let upload = self.block(py, |cb| async move { cb.retry_upload(id).await })?;
        to_python(py, &upload)
    }

    /// Documents by id with their chunk counts.
    #[pyo3(signature = (page = 1, page_size = 50))]
    fn list_documents<'py>(
        &self,
        py: Python<'py>,
        page: i64,
        page_size: i64,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.rag_list_documents(py, page, page_size)
    }

    /// `{query_hash, results, total_found}`; see the stub. `top_k=None` is the engine's
    /// default (5), the same as leaving it out.
    #[pyo3(signature = (
        query_text,
        top_k = Some(5),
        *,
        document_ids = None,
        upload_ids = None,
        min_score = None,
        run_id = None,
    ))]
    #[pyo3(
        text_signature = "($self, query_text, top_k=5, *, document_ids=None, upload_ids=None, min_score=None, run_id=None)"
    )]
    #[allow(clippy::too_many_arguments)] // mirrors the Python signature, keyword by keyword
    fn search<'py>(
        &self,
        py: Python<'py>,
        query_text: String,
        top_k: Option<i64>,
        document_ids: Option<Vec<i64>>,
        upload_ids: Option<Vec<i64>>,
        min_score: Option<f32>,
        run_id: Option<i64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let request = SearchRequest {
            query_text,
            top_k,
            document_ids: document_ids.unwrap_or_default(),
            upload_ids: upload_ids.unwrap_or_default(),
            min_score,
            run_id,
        };
        self.rag_search(py, request)
    }

    /// Ingests queued uploads in this process until none is left; how many it processed.
    fn ingest_pending(&self, py: Python<'_>) -> PyResult<usize> {
        self.rag_ingest_pending(py)
    }

    /// Starts an ingester on this handle; `Conflict` when one is running.
    fn start_ingester(&self, py: Python<'_>) -> PyResult<()> {
        self.rag_start_ingester(py)
    }

    /// Stops this handle's ingester after its current upload; whether one ran.
    fn stop_ingester(&self, py: Python<'_>) -> PyResult<bool> {
        self.rag_stop_ingester(py)
    }

    #[getter]
    fn ingester_running(&self) -> bool {
        self.ingester.is_running()
    }

    // ----- artifacts and accounting --------------------------------------------------------

    #[pyo3(signature = (run_id = None, page = 1, page_size = 50))]
    fn list_artifacts<'py>(
        &self,
        py: Python<'py>,
        run_id: Option<i64>,
        page: i64,
        page_size: i64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let page = page_request(page, page_size).map_err(|e| to_py_err(py, e))?;
        let query = ArtifactQuery { run_id, page };
        let page = self.block(py, |cb| async move { cb.list_artifacts(query).await })?;
        page_to_python(py, &page)
    }

    /// An artifact file's bytes, read through the path-safety check (G8).
    fn read_artifact<'py>(&self, py: Python<'py>, id: i64) -> PyResult<Bound<'py, PyBytes>> {
        let content = self.block(py, |cb| async move { cb.read_artifact(id).await })?;
        Ok(PyBytes::new(py, &content.bytes))
    }

    fn token_stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let stats = self.block(py, |cb| async move { cb.token_stats().await })?;
        to_python(py, &stats)
    }

    fn cost_report<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let report = self.block(py, |cb| async move { cb.cost_report().await })?;
        to_python(py, &report)
    }
}

/// The launch arguments as core's `LaunchRequest` (trigger `python`): through JSON, so a value of
/// the wrong type is `InvalidInput` naming its argument, like every other input. A single str
/// for `tasks` is one task.
fn launch_request<const N: usize>(
    arguments: [(&str, Option<&Bound<'_, PyAny>>); N],
) -> Result<LaunchRequest> {
    let mut map = Map::new();
    for (name, value) in arguments {
        let Some(value) = value.filter(|value| !value.is_none()) else {
            continue;
        };
        let json = match py_to_json(name, value)? {
            Value::String(task) if name == "tasks" => Value::Array(vec![Value::String(task)]),
            other => other,
        };
        map.insert(name.to_owned(), json);
    }
    let request: LaunchRequest = from_json(Value::Object(map))?;
    Ok(request.with_trigger(Trigger::Python))
}

fn run_query(
    status: Option<&str>,
    task: Option<String>,
    page: i64,
    page_size: i64,
) -> Result<RunQuery> {
    let mut query = RunQuery::new(page_request(page, page_size)?);
    if let Some(status) = status {
        let status = status
            .trim()
            .parse::<RunStatus>()
            .map_err(|message| Error::invalid("status", message))?;
        query = query.with_status(status);
    }
    if let Some(task) = task {
        query = query.with_task_key(task);
    }
    Ok(query)
}

/// `timeout_s` as a duration: a finite number of seconds above zero.
fn timeout_argument(timeout_s: f64) -> Result<Duration> {
    if timeout_s > 0.0
        && let Ok(timeout) = Duration::try_from_secs_f64(timeout_s)
    {
        return Ok(timeout);
    }
    Err(Error::invalid(
        "timeout_s",
        format!("must be a finite number of seconds above 0 (got {timeout_s})"),
    ))
}

/// `llm=`: a callable, or None for the configured client.
fn llm_callable(llm: Option<&Bound<'_, PyAny>>) -> Result<Option<Py<PyAny>>> {
    match llm {
        None => Ok(None),
        Some(llm) if llm.is_none() => Ok(None),
        Some(llm) if llm.is_callable() => Ok(Some(llm.clone().unbind())),
        Some(llm) => {
            let got = llm
                .get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default();
            Err(Error::invalid(
                "llm",
                format!(
                    "must be a callable (messages: list[dict]) -> dict(text=…, prompt_tokens=…, \
                     completion_tokens=…), got {got}"
                ),
            ))
        }
    }
}

/// `embedder=`: a callable (wrapped here, while the GIL is held), or None for the configured
/// model.
fn embedder_callable(embedder: Option<&Bound<'_, PyAny>>) -> Result<Option<PyEmbedder>> {
    match embedder {
        None => Ok(None),
        Some(embedder) if embedder.is_none() => Ok(None),
        Some(embedder) if embedder.is_callable() => Ok(Some(PyEmbedder::new(embedder))),
        Some(embedder) => {
            let got = embedder
                .get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default();
            Err(Error::invalid(
                "embedder",
                format!(
                    "must be a callable (texts: list[str]) -> list of 384-number vectors, one \
                     per text, got {got}"
                ),
            ))
        }
    }
}

/// A task is named by its numeric id or by its key/alias.
enum TaskRef {
    Id(i64),
    Key(String),
}

impl TaskRef {
    fn extract(value: &Bound<'_, PyAny>) -> PyResult<Self> {
        // `True` is an `int` in Python; as a task id it is certainly a mistake.
        if !value.is_instance_of::<PyBool>() {
            if value.is_instance_of::<PyInt>() {
                return Ok(Self::Id(value.extract()?));
            }
            if let Ok(key) = value.cast::<PyString>() {
                return Ok(Self::Key(key.to_cow()?.into_owned()));
            }
        }
        let got = value.get_type().name()?;
        Err(PyTypeError::new_err(format!(
            "id_or_key must be an int id or a str key such as \"log_triage\" or \"task1\", got {got}"
        )))
    }
}

/// Python ints are unbounded; anything outside `u32` is out of range for the page rules anyway,
/// so it is clamped to a value `PageRequest::new` rejects (0) or accepts (`u32::MAX` pages).
fn page_request(page: i64, page_size: i64) -> Result<PageRequest> {
    let clamp = |n: i64| u32::try_from(n.max(0)).unwrap_or(u32::MAX);
    PageRequest::new(clamp(page), clamp(page_size))
}

fn parse_directive_type(value: &str) -> Result<DirectiveType> {
    value.trim().parse::<DirectiveType>().map_err(|message| {
        Error::invalid(
            "directive_type",
            format!("{message}; pass one of the listed types"),
        )
    })
}

/// An optional dict argument (`task_config`, `config`) as a JSON object.
fn object_argument(name: &str, value: Option<&Bound<'_, PyAny>>) -> Result<Map<String, Value>> {
    match value {
        None => Ok(Map::new()),
        Some(value) => match py_to_json(name, value)? {
            Value::Object(map) => Ok(map),
            Value::Null => Ok(Map::new()),
            _ => Err(Error::invalid(
                name,
                "must be a dict (or None for an empty one)",
            )),
        },
    }
}

/// A core patch type from `**fields`; an unknown keyword is `InvalidInput` naming it.
fn patch_from<T: serde::de::DeserializeOwned>(fields: Option<&Bound<'_, PyDict>>) -> Result<T> {
    from_json(Value::Object(kwargs_to_json(fields)?))
}

/// The path part of a SQLite URL (what `repr` shows).
fn location_of(url: &str) -> &str {
    url.strip_prefix("sqlite://").unwrap_or(url)
}
