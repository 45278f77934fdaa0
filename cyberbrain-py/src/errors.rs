//! The one place a core [`Error`] becomes a Python exception. Every exception derives from
//! `cyberbrain.CyberbrainError`, so callers can catch the family or one member of it.

use cyberbrain_core::{Error, FieldErrors};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

create_exception!(
    cyberbrain,
    CyberbrainError,
    PyException,
    "Base class of every error Cyberbrain raises."
);
create_exception!(
    cyberbrain,
    NotFound,
    CyberbrainError,
    "The named entity does not exist. `.entity` and `.key` say which."
);
create_exception!(
    cyberbrain,
    Conflict,
    CyberbrainError,
    "The request collides with existing state (a unique name, a protected row, a reference)."
);
create_exception!(
    cyberbrain,
    InvalidInput,
    CyberbrainError,
    "The input breaks a rule. `.fields` maps each field to its messages."
);
create_exception!(
    cyberbrain,
    TooLarge,
    InvalidInput,
    "The input is larger than a configured limit (an upload over `rag.max_upload_bytes`)."
);
create_exception!(
    cyberbrain,
    UnsupportedType,
    InvalidInput,
    "The input is of a type the operation does not accept (uploads: txt, md, json, pdf, docx)."
);
create_exception!(
    cyberbrain,
    Forbidden,
    CyberbrainError,
    "The caller is not allowed to do this (a guardrail or a role)."
);
create_exception!(
    cyberbrain,
    Unavailable,
    CyberbrainError,
    "A component cannot be reached or is not available; `.component` names it."
);
create_exception!(
    cyberbrain,
    BackendError,
    CyberbrainError,
    "A backend failed in a way the caller cannot fix; the message carries the context."
);

/// Registers the exception classes on the native module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("CyberbrainError", py.get_type::<CyberbrainError>())?;
    m.add("NotFound", py.get_type::<NotFound>())?;
    m.add("Conflict", py.get_type::<Conflict>())?;
    m.add("InvalidInput", py.get_type::<InvalidInput>())?;
    m.add("TooLarge", py.get_type::<TooLarge>())?;
    m.add("UnsupportedType", py.get_type::<UnsupportedType>())?;
    m.add("Forbidden", py.get_type::<Forbidden>())?;
    m.add("Unavailable", py.get_type::<Unavailable>())?;
    m.add("BackendError", py.get_type::<BackendError>())?;
    Ok(())
}

/// The Python exception for `error`, with the structured parts as attributes.
pub fn to_py_err(py: Python<'_>, error: Error) -> PyErr {
    let message = error.to_string();
    let attributes = match error {
        Error::NotFound { entity, key } => {
            let err = NotFound::new_err(message);
            set_attributes(py, &err, &[("entity", entity), ("key", &key)]).map(|()| err)
        }
        Error::Conflict(_) => Ok(Conflict::new_err(message)),
        Error::InvalidInput(fields) => {
            let err = InvalidInput::new_err(message);
            field_dict(py, &fields)
                .and_then(|dict| err.value(py).setattr("fields", dict))
                .map(|()| err)
        }
        // Subclasses of InvalidInput: `.fields` names the refused field like every other one.
        Error::TooLarge { .. } => file_error(py, TooLarge::new_err(message.clone()), &message),
        Error::UnsupportedType(_) => {
            file_error(py, UnsupportedType::new_err(message.clone()), &message)
        }
        Error::Forbidden(_) => Ok(Forbidden::new_err(message)),
        Error::Unavailable { component, .. } => {
            let err = Unavailable::new_err(message);
            set_attributes(py, &err, &[("component", &component)]).map(|()| err)
        }
        Error::Backend { source, .. } => {
            // The source chain is context an operator needs; the message alone may be generic.
            let full = match source {
                Some(source) => format!("{message}: {source}"),
                None => message,
            };
            Ok(BackendError::new_err(full))
        }
        // `Error` is non-exhaustive: a variant added later still reaches Python as the base class.
        other => Ok(CyberbrainError::new_err(other.to_string())),
    };
    // Setting an attribute on a fresh exception only fails when Python is out of memory; that
    // failure is then the more urgent error to raise.
    attributes.unwrap_or_else(|e| e)
}

/// `err` with `.fields = {"file": [message]}`.
fn file_error(py: Python<'_>, err: PyErr, message: &str) -> PyResult<PyErr> {
    field_dict(py, &FieldErrors::single("file", message))
        .and_then(|dict| err.value(py).setattr("fields", dict))
        .map(|()| err)
}

fn set_attributes(py: Python<'_>, err: &PyErr, attributes: &[(&str, &str)]) -> PyResult<()> {
    let value = err.value(py);
    for (name, attribute) in attributes {
        value.setattr(*name, *attribute)?;
    }
    Ok(())
}

fn field_dict<'py>(
    py: Python<'py>,
    fields: &cyberbrain_core::FieldErrors,
) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (field, messages) in fields.fields() {
        dict.set_item(field, PyList::new(py, messages)?)?;
    }
    Ok(dict)
}
