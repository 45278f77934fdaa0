//! The `cyberbrain.Cyberbrain` class. Each method is thin: convert the arguments, clone the
//! engine handle, run the core call on the handle's tokio runtime with the GIL released, map the
//! error, convert the result.

use std::future::Future;

use cyberbrain_core::domain::{
    AllowlistPatch, DirectivePatch, DirectiveType, NewAllowlistEntry, NewDirective,
    NewTaskDefinition, PageRequest, TaskDefinitionPatch,
};
use cyberbrain_core::{Cyberbrain, Error, Result};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyInt, PyString};
use serde_json::{Map, Value};
use tokio::runtime::Runtime;

use crate::backend;
use crate::convert::{from_json, kwargs_to_json, page_to_python, py_to_json, to_python};
use crate::errors::to_py_err;
use crate::options::OpenOptions;

/// Two workers: the handle's I/O is a database connection, not a compute pool, and a Python
/// process may hold several handles.
const RUNTIME_WORKERS: usize = 2;

/// A Cyberbrain SDK handle. Thread-safe: share one across Python threads.
#[pyclass(frozen, module = "cyberbrain", name = "Cyberbrain")]
#[derive(Debug)]
pub struct PyCyberbrain {
    engine: Cyberbrain,
    runtime: Runtime,
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
}

#[pymethods]
impl PyCyberbrain {
    /// Opens (creating if needed) the database `url` names, applies migrations, and returns a
    /// handle. Keyword arguments override configuration (see `_cyberbrain.pyi`).
    #[staticmethod]
    #[pyo3(signature = (url, **config))]
    fn open(py: Python<'_>, url: &str, config: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let options = OpenOptions::from_keywords(config).map_err(|e| to_py_err(py, e))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(RUNTIME_WORKERS)
            .thread_name("cyberbrain-py")
            .enable_all()
            .build()
            .map_err(|e| to_py_err(py, Error::backend_with("cannot start the tokio runtime", e)))?;
        let opened = py
            .detach(|| {
                let config = options.into_config(url)?;
                runtime.block_on(backend::open(url, config))
            })
            .map_err(|e| to_py_err(py, e))?;
        Ok(Self {
            engine: opened.engine,
            runtime,
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
