//! JSON values to and from Python objects.
//!
//! Results leave as plain dicts built from the domain types' serde JSON, so Python sees exactly
//! the shapes REST returns (times as RFC 3339 strings). Inputs arrive as dicts and are
//! deserialised into the core's own input types, whose `deny_unknown_fields` turns a misspelt
//! keyword into `InvalidInput` naming it instead of a silently ignored argument.

use cyberbrain_core::domain::Page;
use cyberbrain_core::{Error, Result};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Number, Value};

use crate::errors::to_py_err;

/// Deeper input is almost certainly a cycle or a mistake; refusing it keeps the stack bounded.
const MAX_INPUT_DEPTH: usize = 64;

/// A JSON value as the equivalent Python object.
pub fn json_to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                // serde_json numbers are i64, u64 or finite f64, so this is the float case.
                n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(json_to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (key, item) in map {
                dict.set_item(key, json_to_py(py, item)?)?;
            }
            dict.into_any()
        }
    })
}

/// A domain value as a Python dict (or list, str, …) through its serde JSON.
pub fn to_python<'py, T: Serialize>(py: Python<'py>, value: &T) -> PyResult<Bound<'py, PyAny>> {
    let json = serde_json::to_value(value).map_err(|e| {
        to_py_err(
            py,
            Error::backend_with("cannot convert the result to JSON", e),
        )
    })?;
    json_to_py(py, &json)
}

/// A page as `{"count": total rows, "results": [row, …]}`, the REST collection shape.
pub fn page_to_python<'py, T: Serialize>(
    py: Python<'py>,
    page: &Page<T>,
) -> PyResult<Bound<'py, PyAny>> {
    let dict = PyDict::new(py);
    dict.set_item("count", page.count)?;
    let results = PyList::empty(py);
    for item in &page.items {
        results.append(to_python(py, item)?)?;
    }
    dict.set_item("results", results)?;
    Ok(dict.into_any())
}

/// A Python object as JSON. `path` names the argument (and the position inside it) in the
/// error, e.g. `task_config.limits[2]`.
pub fn py_to_json(path: &str, obj: &Bound<'_, PyAny>) -> Result<Value> {
    py_to_json_at(path, obj, 0)
}

fn py_to_json_at(path: &str, obj: &Bound<'_, PyAny>, depth: usize) -> Result<Value> {
    if depth > MAX_INPUT_DEPTH {
        return Err(Error::invalid(
            path,
            format!("is nested more than {MAX_INPUT_DEPTH} levels deep; flatten the value"),
        ));
    }
    if obj.is_none() {
        return Ok(Value::Null);
    }
    // `bool` is a subclass of `int` in Python, so it must be tested first.
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if obj.is_instance_of::<PyInt>() {
        if let Ok(i) = obj.extract::<i64>() {
            return Ok(Value::from(i));
        }
        if let Ok(u) = obj.extract::<u64>() {
            return Ok(Value::from(u));
        }
        return Err(Error::invalid(
            path,
            "is an integer outside the 64-bit range; pass a smaller number or a string",
        ));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return Number::from_f64(f.value())
            .map(Value::Number)
            .ok_or_else(|| {
                Error::invalid(
                    path,
                    "is NaN or infinite, which JSON cannot hold; pass a finite number",
                )
            });
    }
    if let Ok(s) = obj.cast::<PyString>() {
        let text = s
            .to_cow()
            .map_err(|_| Error::invalid(path, "is not valid UTF-8 text (lone surrogates?)"))?;
        return Ok(Value::String(text.into_owned()));
    }
    if let Ok(dict) = obj.cast::<PyDict>() {
        let mut map = Map::new();
        for (key, item) in dict.iter() {
            let Ok(key) = key.extract::<String>() else {
                return Err(Error::invalid(
                    path,
                    format!("has a {} key; dict keys must be str", type_name(&key)),
                ));
            };
            let item = py_to_json_at(&format!("{path}.{key}"), &item, depth + 1)?;
            map.insert(key, item);
        }
        return Ok(Value::Object(map));
    }
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        let mut items = Vec::new();
        for (index, item) in obj
            .try_iter()
            .map_err(|e| Error::invalid(path, e.to_string()))?
            .enumerate()
        {
            let item = item.map_err(|e| Error::invalid(path, e.to_string()))?;
            items.push(py_to_json_at(
                &format!("{path}[{index}]"),
                &item,
                depth + 1,
            )?);
        }
        return Ok(Value::Array(items));
    }
    Err(Error::invalid(
        path,
        format!(
            "is a {}, which has no JSON form; use dict, list, tuple, str, int, float, bool or None",
            type_name(obj)
        ),
    ))
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "object".to_owned())
}

/// Keyword arguments as one JSON object (keyword → value).
pub fn kwargs_to_json(kwargs: Option<&Bound<'_, PyDict>>) -> Result<Map<String, Value>> {
    let mut map = Map::new();
    if let Some(kwargs) = kwargs {
        for (key, value) in kwargs.iter() {
            // Python guarantees `**kwargs` keys are str.
            let key = key
                .extract::<String>()
                .map_err(|e| Error::invalid("fields", e.to_string()))?;
            let value = py_to_json(&key, &value)?;
            map.insert(key, value);
        }
    }
    Ok(map)
}

/// A core input type (`DirectivePatch`, …) from a JSON object. Every failure is `InvalidInput`
/// keyed by the field it concerns: the path serde reached, or the field an unknown/missing-field
/// message names.
pub fn from_json<T: DeserializeOwned>(value: Value) -> Result<T> {
    serde_path_to_error::deserialize::<_, T>(value).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        let field = if path.is_empty() || path == "." {
            quoted_field(&message).unwrap_or("fields").to_owned()
        } else {
            path
        };
        Error::invalid(field, message)
    })
}

/// The field serde names in "unknown field `x`, expected …" or "missing field `x`".
fn quoted_field(message: &str) -> Option<&str> {
    let rest = message
        .strip_prefix("unknown field `")
        .or_else(|| message.strip_prefix("missing field `"))?;
    rest.split('`').next()
}

#[cfg(test)]
mod tests {
    use super::*;
    use cyberbrain_core::domain::{DirectivePatch, TaskDefinitionPatch};
    use serde_json::json;

    fn field_of(error: Error) -> (String, String) {
        match error {
            Error::InvalidInput(fields) => {
                let (field, messages) = fields.fields().next().expect("one field");
                (field.to_owned(), messages.join("; "))
            }
            other => panic!("expected InvalidInput, got {other:?}"),
        }
    }

    #[test]
    fn unknown_fields_are_named() {
        let err = from_json::<DirectivePatch>(json!({"colour": "red"})).unwrap_err();
        let (field, message) = field_of(err);
        assert_eq!(field, "colour");
        assert!(message.contains("expected one of"), "{message}");
    }

    #[test]
    fn bad_values_are_keyed_by_their_field() {
        let err = from_json::<DirectivePatch>(json!({"directive_type": "D9"})).unwrap_err();
        let (field, message) = field_of(err);
        assert_eq!(field, "directive_type");
        assert!(message.contains("D1"), "{message}");
        let err = from_json::<DirectivePatch>(json!({"is_active": "yes"})).unwrap_err();
        assert_eq!(field_of(err).0, "is_active");
    }

    #[test]
    fn null_clears_a_task_default_directive() {
        let patch: TaskDefinitionPatch = from_json(json!({"default_directive_id": null})).unwrap();
        assert_eq!(patch.default_directive_id, Some(None));
    }
}
