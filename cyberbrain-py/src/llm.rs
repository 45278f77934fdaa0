//! A Python callable as the engine's LLM (SPEC §7): `Cyberbrain.open(url, llm=callable)`.
//!
//! The callable takes the chat messages, `[{"role": "system" | "user" | "assistant",
//! "content": str}, …]`, and returns `{"text": str, "prompt_tokens": int, "completion_tokens":
//! int, "total_tokens": int}` (`total_tokens` may be left out: it is then the sum of the other two;
//! `"model": str` may name the model that answered). It runs on a blocking thread that attaches
//! to the interpreter only for the call, so the executor's other jobs and Python's other threads
//! keep running.
//!
//! G2 holds as for the HTTP client: a result without `prompt_tokens` and `completion_tokens` is
//! an error (counts are never estimated), and no error message quotes the prompt, the returned
//! text or the callable's exception message (which could quote either) — only the exception's
//! type name.

use std::sync::Arc;

use async_trait::async_trait;
use cyberbrain_core::llm::{Completion, CompletionRequest, TokenUsage};
use cyberbrain_core::{Error, Llm, Result};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict};

use crate::convert::to_python;

/// What the accounting rows record as the endpoint of an in-process callable.
pub const PYTHON_ENDPOINT_HOST: &str = "python";

/// The callable, with the names and sizes the engine asks an `Llm` for.
pub struct PyLlm {
    /// Shared with the blocking thread of each call; `Arc` because cloning a `Py` itself needs
    /// the interpreter.
    callable: Arc<Py<PyAny>>,
    model: String,
    context_tokens: u32,
}

impl std::fmt::Debug for PyLlm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PyLlm")
            .field("model", &self.model)
            .field("context_tokens", &self.context_tokens)
            .finish_non_exhaustive()
    }
}

impl PyLlm {
    /// Wraps `callable`; `model` is recorded when a result names none, `context_tokens` sizes
    /// the prompts (both from the configuration: `llm_model`, `llm.context_tokens`).
    pub fn new(callable: Py<PyAny>, model: String, context_tokens: u32) -> Self {
        Self {
            callable: Arc::new(callable),
            model,
            context_tokens,
        }
    }
}

#[async_trait]
impl Llm for PyLlm {
    async fn complete(&self, request: CompletionRequest) -> Result<Completion> {
        let callable = Arc::clone(&self.callable);
        let model = self.model.clone();
        // A blocking thread: the callable may take seconds, and must not hold a runtime worker.
        tokio::task::spawn_blocking(move || call(&callable, &model, &request))
            .await
            .map_err(|e| Error::backend(format!("the Python LLM call did not finish: {e}")))?
    }

    fn model(&self) -> &str {
        &self.model
    }

    fn endpoint_host(&self) -> &str {
        PYTHON_ENDPOINT_HOST
    }

    fn context_tokens(&self) -> u32 {
        self.context_tokens
    }
}

/// One call, attached to the interpreter for its duration only (blocking).
fn call(
    callable: &Py<PyAny>,
    default_model: &str,
    request: &CompletionRequest,
) -> Result<Completion> {
    Python::try_attach(|py| {
        let messages = to_python(py, &request.messages).map_err(|_| {
            Error::backend("building the messages for the Python LLM callable failed")
        })?;
        let result = callable
            .bind(py)
            .call1((messages,))
            .map_err(|e| raised(py, &e))?;
        completion_from(&result, default_model)
    })
    .unwrap_or_else(|| {
        Err(Error::unavailable(
            "llm",
            "the Python LLM callable cannot run: the interpreter is shutting down",
        ))
    })
}

/// The callable's result as a completion; every rule names the key and the fix.
fn completion_from(result: &Bound<'_, PyAny>, default_model: &str) -> Result<Completion> {
    let shape = "return a dict with text (str), prompt_tokens and completion_tokens (int, as your \
                 model reported them) and optionally total_tokens and model";
    let dict = result.cast::<PyDict>().map_err(|_| {
        let got = result
            .get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_default();
        llm_error(format!("the Python LLM callable returned a {got}; {shape}"))
    })?;
    let text = match dict.get_item("text").ok().flatten() {
        Some(text) => text.extract::<String>().map_err(|_| {
            llm_error(format!(
                "the Python LLM callable's text is not a str; {shape}"
            ))
        })?,
        None => {
            return Err(llm_error(format!(
                "the Python LLM callable's result has no text; {shape}"
            )));
        }
    };
    let count = |key: &str| -> Result<Option<i64>> {
        match dict.get_item(key).ok().flatten() {
            None => Ok(None),
            Some(value) if value.is_none() => Ok(None),
            Some(value) => match value.extract::<i64>() {
                Ok(n) if n >= 0 && !value.is_instance_of::<PyBool>() => Ok(Some(n)),
                _ => Err(llm_error(format!(
                    "the Python LLM callable's {key} is not a whole number of 0 or more; {shape}"
                ))),
            },
        }
    };
    let (Some(prompt_tokens), Some(completion_tokens)) =
        (count("prompt_tokens")?, count("completion_tokens")?)
    else {
        return Err(llm_error(format!(
            "the Python LLM callable's result has no usage counts (prompt_tokens and \
             completion_tokens are both required); token counts are never estimated (G2); \
             {shape}"
        )));
    };
    // A missing total is the sum of the two reported counts: arithmetic, not an estimate.
    let total_tokens =
        count("total_tokens")?.unwrap_or(prompt_tokens.saturating_add(completion_tokens));
    let model = match dict.get_item("model").ok().flatten() {
        Some(model) if !model.is_none() => model
            .extract::<String>()
            .ok()
            .filter(|m| !m.trim().is_empty())
            .ok_or_else(|| {
                llm_error(format!(
                    "the Python LLM callable's model is not a non-empty str; {shape}"
                ))
            })?,
        _ => default_model.to_owned(),
    };
    Ok(Completion {
        text,
        usage: TokenUsage {
            prompt_tokens,
            completion_tokens,
            total_tokens,
        },
        model,
    })
}

fn llm_error(message: String) -> Error {
    Error::backend(message)
}

/// The callable raised: only the exception's type reaches the error (its message may quote the
/// prompt or the model's answer, G2).
fn raised(py: Python<'_>, error: &PyErr) -> Error {
    let kind = error
        .get_type(py)
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "an exception".to_owned());
    Error::unavailable(
        "llm",
        format!(
            "the Python LLM callable raised {kind} (its message is not shown: it may quote the \
             prompt or the answer)"
        ),
    )
}
