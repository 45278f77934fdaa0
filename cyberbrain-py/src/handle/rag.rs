//! The knowledge-base methods of `cyberbrain.Cyberbrain` (SPEC §3.6, §7): uploads, documents,
//! search and ingestion. `handle.rs` declares them for Python (one `#[pymethods]` block per
//! class) and calls these.
//!
//! G3: a search's text goes to the engine, which keeps only its SHA-256; nothing here logs it.

use std::path::Path;

use cyberbrain_core::domain::{UploadCreated, UploadQuery, UploadStatus};
use cyberbrain_core::engine::SearchRequest;
use cyberbrain_core::{Error, Result};
use pyo3::exceptions::PyOSError;
use pyo3::prelude::*;
use serde_json::Value;

use super::{PyCyberbrain, page_request};
use crate::convert::{json_to_py, page_to_python, to_python};
use crate::errors::to_py_err;
use crate::ingester::ingest_pending;

impl PyCyberbrain {
    /// Streams the file at `path` into the knowledge base (never read whole into memory).
    pub(super) fn rag_upload<'py>(
        &self,
        py: Python<'py>,
        path: &Path,
    ) -> PyResult<Bound<'py, PyAny>> {
        let file = open_upload(path)?;
        let filename = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        let created = self.block(py, |cb| async move {
            let mut body = tokio::fs::File::from_std(file);
            cb.upload_document(&filename, &mut body).await
        })?;
        upload_created(py, &created)
    }

    /// Uploads bytes held in memory under `filename` (its extension names the type).
    pub(super) fn rag_upload_bytes<'py>(
        &self,
        py: Python<'py>,
        filename: String,
        data: Vec<u8>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let created = self.block(py, |cb| async move {
            let mut body = data.as_slice();
            cb.upload_document(&filename, &mut body).await
        })?;
        upload_created(py, &created)
    }

    pub(super) fn rag_list_uploads<'py>(
        &self,
        py: Python<'py>,
        status: Option<&str>,
        page: i64,
        page_size: i64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let query = upload_query(status, page, page_size).map_err(|e| to_py_err(py, e))?;
        let page = self.block(py, |cb| async move { cb.list_uploads(query).await })?;
        page_to_python(py, &page)
    }

    pub(super) fn rag_list_documents<'py>(
        &self,
        py: Python<'py>,
        page: i64,
        page_size: i64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let request = page_request(page, page_size).map_err(|e| to_py_err(py, e))?;
        let page = self.block(py, |cb| async move { cb.list_documents(request).await })?;
        page_to_python(py, &page)
    }

    pub(super) fn rag_search<'py>(
        &self,
        py: Python<'py>,
        request: SearchRequest,
    ) -> PyResult<Bound<'py, PyAny>> {
        let results = self.block(py, |cb| async move { cb.search(request).await })?;
        to_python(py, &results)
    }

    /// Ingests until nothing is claimable, interruptibly (an interrupted upload keeps its lease
    /// and is taken over when it ends, as after a crash).
    pub(super) fn rag_ingest_pending(&self, py: Python<'_>) -> PyResult<usize> {
        self.block_interruptibly(py, ingest_pending(self.engine.clone()))
    }

    pub(super) fn rag_start_ingester(&self, py: Python<'_>) -> PyResult<()> {
        self.ingester
            .start(&self.runtime, self.engine.clone())
            .map_err(|e| to_py_err(py, e))
    }

    /// Stops this handle's ingester after its current upload; whether one was running.
    pub(super) fn rag_stop_ingester(&self, py: Python<'_>) -> PyResult<bool> {
        match self.ingester.take() {
            Some(handle) => {
                let runtime = &self.runtime;
                py.detach(|| runtime.block_on(handle.shutdown()));
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

/// Opens the file to upload here, so a path that cannot be read raises the `OSError` subclass
/// Python programs expect (`FileNotFoundError`, `PermissionError`, …) naming the path.
fn open_upload(path: &Path) -> PyResult<std::fs::File> {
    let os_error = |e: std::io::Error| {
        PyOSError::new_err((
            e.raw_os_error().unwrap_or_default(),
            e.to_string(),
            path.display().to_string(),
        ))
    };
    let file = std::fs::File::open(path).map_err(os_error)?;
    let metadata = file.metadata().map_err(os_error)?;
    if metadata.is_dir() {
        return Err(os_error(std::io::Error::from_raw_os_error(EISDIR)));
    }
    Ok(file)
}

/// `IsADirectoryError`'s errno on Linux (the platform the package is built for).
const EISDIR: i32 = 21;

/// The upload as a dict, with `created` (false when the same bytes were uploaded before).
fn upload_created<'py>(py: Python<'py>, created: &UploadCreated) -> PyResult<Bound<'py, PyAny>> {
    let mut json = serde_json::to_value(&created.upload).map_err(|e| {
        to_py_err(
            py,
            Error::backend_with("cannot convert the upload to JSON", e),
        )
    })?;
    if let Value::Object(map) = &mut json {
        map.insert("created".to_owned(), Value::Bool(created.created));
    }
    json_to_py(py, &json)
}

fn upload_query(status: Option<&str>, page: i64, page_size: i64) -> Result<UploadQuery> {
    let status = status
        .map(|status| {
            status
                .trim()
                .parse::<UploadStatus>()
                .map_err(|message| Error::invalid("status", message))
        })
        .transpose()?;
    Ok(UploadQuery {
        status,
        page: page_request(page, page_size)?,
    })
}
