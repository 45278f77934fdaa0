//! A Python callable as the engine's embedder (SPEC §7): `Cyberbrain.open(url,
//! embedder=callable)`.
//!
//! The callable takes a list of texts and returns one vector per text, in order: a sequence of
//! 384 finite numbers each (the dimension the stores keep, all-MiniLM-L6-v2's). Vectors are
//! L2-normalised here, so the callable need not. It runs on a blocking thread that attaches to
//! the interpreter only for the call. Vectors are stored under the model id
//! `python:<callable name>`: a search finds only the vectors of the embedder it runs with.
//!
//! G3: no error quotes the texts or the callable's exception message (which could quote them);
//! only the exception's type name.

use std::sync::Arc;

use async_trait::async_trait;
use cyberbrain_core::domain::EMBEDDING_DIMENSION;
use cyberbrain_core::{Embedder, Error, Result};
use pyo3::prelude::*;
use pyo3::types::PyString;

/// The window all-MiniLM-L6-v2 embeds in, reported as this embedder's: the callable itself
/// receives whole chunks and decides how to treat long ones.
const MAX_TOKENS: usize = 256;

const SHAPE: &str = "return a list with one vector per text, in order, each a list of 384 finite \
                     numbers";

/// The callable, with the model id its vectors are stored under.
pub struct PyEmbedder {
    /// Shared with the blocking thread of each call; `Arc` because cloning a `Py` itself needs
    /// the interpreter.
    callable: Arc<Py<PyAny>>,
    model_id: String,
}

impl std::fmt::Debug for PyEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PyEmbedder")
            .field("model_id", &self.model_id)
            .finish_non_exhaustive()
    }
}

impl PyEmbedder {
    /// Wraps `callable`; its `__qualname__` (or `__name__`) names the model id.
    pub fn new(callable: &Bound<'_, PyAny>) -> Self {
        let name = ["__qualname__", "__name__"]
            .iter()
            .find_map(|attribute| {
                callable
                    .getattr(*attribute)
                    .ok()
                    .and_then(|name| name.cast::<PyString>().ok().map(|s| s.to_string()))
            })
            .filter(|name| !name.trim().is_empty())
            .unwrap_or_else(|| "callable".to_owned());
        Self {
            callable: Arc::new(callable.clone().unbind()),
            model_id: format!("python:{name}"),
        }
    }
}

#[async_trait]
impl Embedder for PyEmbedder {
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let callable = Arc::clone(&self.callable);
        let texts = texts.to_vec();
        // A blocking thread: the callable may take seconds, and must not hold a runtime worker.
        tokio::task::spawn_blocking(move || call(&callable, &texts))
            .await
            .map_err(|e| Error::backend(format!("the Python embedder call did not finish: {e}")))?
    }

    fn dimension(&self) -> usize {
        EMBEDDING_DIMENSION
    }

    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn max_tokens(&self) -> usize {
        MAX_TOKENS
    }
}

/// One call, attached to the interpreter for its duration only (blocking).
fn call(callable: &Py<PyAny>, texts: &[String]) -> Result<Vec<Vec<f32>>> {
    Python::try_attach(|py| {
        let result = callable
            .bind(py)
            .call1((texts.to_vec(),))
            .map_err(|e| raised(py, &e))?;
        vectors_from(&result, texts.len())
    })
    .unwrap_or_else(|| {
        Err(Error::unavailable(
            "embedder",
            "the Python embedder callable cannot run: the interpreter is shutting down",
        ))
    })
}

/// The callable's result as unit vectors; every rule names what was wrong and the fix.
fn vectors_from(result: &Bound<'_, PyAny>, expected: usize) -> Result<Vec<Vec<f32>>> {
    let rows: Vec<Bound<'_, PyAny>> = result.extract().map_err(|_| {
        embedder_error(format!(
            "the Python embedder returned a {}; {SHAPE}",
            type_name(result)
        ))
    })?;
    if rows.len() != expected {
        return Err(embedder_error(format!(
            "the Python embedder returned {} vectors for {expected} texts; {SHAPE}",
            rows.len()
        )));
    }
    rows.iter()
        .enumerate()
        .map(|(index, row)| {
            let vector: Vec<f32> = row.extract().map_err(|_| {
                embedder_error(format!(
                    "vector {index} from the Python embedder is a {}, not a list of numbers; \
                     {SHAPE}",
                    type_name(row)
                ))
            })?;
            normalised(vector).map_err(|rule| {
                embedder_error(format!(
                    "vector {index} from the Python embedder {rule}; {SHAPE}"
                ))
            })
        })
        .collect()
}

/// `vector` scaled to length 1, or the rule it breaks.
fn normalised(mut vector: Vec<f32>) -> std::result::Result<Vec<f32>, String> {
    if vector.len() != EMBEDDING_DIMENSION {
        return Err(format!("has {} numbers", vector.len()));
    }
    if vector.iter().any(|v| !v.is_finite()) {
        return Err("holds NaN or an infinite number".to_owned());
    }
    let norm = vector.iter().map(|v| v * v).sum::<f32>().sqrt();
    if norm == 0.0 || !norm.is_finite() {
        return Err("is all zeros (it has no direction to compare)".to_owned());
    }
    vector.iter_mut().for_each(|v| *v /= norm);
    Ok(vector)
}

fn embedder_error(message: String) -> Error {
    Error::backend(message)
}

fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "object".to_owned())
}

/// The callable raised: only the exception's type reaches the error (its message may quote the
/// texts, G3).
fn raised(py: Python<'_>, error: &PyErr) -> Error {
    let kind = error
        .get_type(py)
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "an exception".to_owned());
    Error::unavailable(
        "embedder",
        format!(
            "the Python embedder callable raised {kind} (its message is not shown: it may quote \
             the text)"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_are_normalised_and_checked() {
        let mut vector = vec![0.0; EMBEDDING_DIMENSION];
        vector[0] = 3.0;
        vector[1] = 4.0;
        let unit = normalised(vector).expect("a vector");
        assert!((unit[0] - 0.6).abs() < 1e-6 && (unit[1] - 0.8).abs() < 1e-6);

        assert!(normalised(vec![1.0; 3]).unwrap_err().contains("3 numbers"));
        assert!(normalised(vec![0.0; EMBEDDING_DIMENSION]).is_err());
        let mut nan = vec![1.0; EMBEDDING_DIMENSION];
        nan[7] = f32::NAN;
        assert!(normalised(nan).unwrap_err().contains("NaN"));
    }
}
