//! The keyword arguments of `Cyberbrain.open(url, **config)` mapped onto [`Config`].
//!
//! The Python handle does not read `cyberbrain.toml` from the working directory or the process
//! environment on its own: an embedding program says what it wants, either with `config_file=`
//! or keyword by keyword (keywords win over the file).
//!
//! Reading the keywords needs the GIL; building the configuration may read a file and resolve
//! the LLM host (the locality check), so it runs later with the GIL released.

use std::path::PathBuf;

use cyberbrain_core::config::Secret;
use cyberbrain_core::{Config, Error, FieldErrors, Result};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// Every keyword `open` accepts besides `url`, for the error that lists them.
pub const KEYWORDS: &[&str] = &[
    "config_file",
    "data_dir",
    "logs_dir",
    "artifacts_dir",
    "uploads_dir",
    "models_dir",
    "llm_endpoint",
    "llm_model",
    "llm_api_key",
    "llm_allow_hosts",
    "redacted_mode",
    "docker_host",
    "nvidia_smi",
];

/// The keywords given to `open`, as Rust values.
#[derive(Debug, Default)]
pub struct OpenOptions {
    config_file: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    logs_dir: Option<PathBuf>,
    artifacts_dir: Option<PathBuf>,
    uploads_dir: Option<PathBuf>,
    models_dir: Option<PathBuf>,
    llm_endpoint: Option<String>,
    llm_model: Option<String>,
    llm_api_key: Option<Secret>,
    llm_allow_hosts: Option<Vec<String>>,
    redacted_mode: Option<bool>,
    docker_host: Option<String>,
    nvidia_smi: Option<String>,
}

impl OpenOptions {
    /// Reads the keywords; an unknown keyword or a value of the wrong type is `InvalidInput`
    /// naming the keyword (all of them at once).
    pub fn from_keywords(keywords: Option<&Bound<'_, PyDict>>) -> Result<Self> {
        let mut options = Self::default();
        let mut errors = FieldErrors::new();
        for (key, value) in keywords.into_iter().flat_map(|k| k.iter()) {
            let key = key.extract::<String>().unwrap_or_default();
            let errors = &mut errors;
            let path = |errors: &mut FieldErrors| {
                extract::<PathBuf>(errors, &key, &value, "a str or os.PathLike")
            };
            let text = |errors: &mut FieldErrors| extract::<String>(errors, &key, &value, "a str");
            match key.as_str() {
                "config_file" => options.config_file = path(errors),
                "data_dir" => options.data_dir = path(errors),
                "logs_dir" => options.logs_dir = path(errors),
                "artifacts_dir" => options.artifacts_dir = path(errors),
                "uploads_dir" => options.uploads_dir = path(errors),
                "models_dir" => options.models_dir = path(errors),
                "llm_endpoint" => options.llm_endpoint = text(errors),
                "llm_model" => options.llm_model = text(errors),
                "llm_api_key" => options.llm_api_key = text(errors).map(Secret::new),
                "llm_allow_hosts" => {
                    options.llm_allow_hosts =
                        extract::<Vec<String>>(errors, &key, &value, "a list of str")
                }
                "redacted_mode" => {
                    options.redacted_mode = extract::<bool>(errors, &key, &value, "a bool")
                }
                "docker_host" => options.docker_host = text(errors),
                "nvidia_smi" => options.nvidia_smi = text(errors),
                other => errors.add(
                    other,
                    format!(
                        "is not an option of Cyberbrain.open; accepted: {}",
                        KEYWORDS.join(", ")
                    ),
                ),
            }
        }
        errors.into_result()?;
        Ok(options)
    }

    /// The model named with `llm_model`, if any.
    pub fn llm_model(&self) -> Option<&str> {
        self.llm_model.as_deref()
    }

    /// The configuration `open` runs with: defaults or the file, then the keywords, validated.
    /// Blocking (file read, DNS for the locality check): call it with the GIL released.
    pub fn into_config(self, url: &str) -> Result<Config> {
        let mut config = match &self.config_file {
            // The environment is deliberately not consulted (see the module comment).
            Some(path) => Config::load_with_env(Some(path), |_| None)?,
            None => Config::default(),
        };
        config.database.url = Secret::new(url);
        set(&mut config.paths.data_dir, self.data_dir);
        set(&mut config.paths.logs_dir, self.logs_dir.map(Some));
        set(
            &mut config.paths.artifacts_dir,
            self.artifacts_dir.map(Some),
        );
        set(&mut config.paths.uploads_dir, self.uploads_dir.map(Some));
        set(&mut config.paths.models_dir, self.models_dir.map(Some));
        set(&mut config.llm.endpoint, self.llm_endpoint);
        set(&mut config.llm.model, self.llm_model);
        set(&mut config.llm.api_key, self.llm_api_key);
        set(&mut config.llm.allow_hosts, self.llm_allow_hosts);
        set(&mut config.privacy.redacted_mode, self.redacted_mode);
        set(&mut config.containers.docker_host, self.docker_host);
        set(&mut config.gpu.nvidia_smi, self.nvidia_smi);
        config.validate().map_err(rename_to_keywords)?;
        Ok(config)
    }
}

fn set<T>(target: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *target = value;
    }
}

/// The value as `T`, or a message that names the keyword and the expected type.
fn extract<T>(
    errors: &mut FieldErrors,
    key: &str,
    value: &Bound<'_, PyAny>,
    expected: &str,
) -> Option<T>
where
    T: for<'a, 'py> FromPyObject<'a, 'py>,
{
    match value.extract::<T>() {
        Ok(v) => Some(v),
        Err(_) => {
            let got = value
                .get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default();
            errors.add(key, format!("must be {expected}, got {got}"));
            None
        }
    }
}

/// `Config::validate` keys its messages by TOML path (`llm.endpoint`); a Python caller set them
/// through keywords, so the messages say the keyword where one exists.
fn rename_to_keywords(error: Error) -> Error {
    let Error::InvalidInput(fields) = error else {
        return error;
    };
    let mut renamed = FieldErrors::new();
    for (field, messages) in fields.fields() {
        let keyword = match field {
            "llm.endpoint" => "llm_endpoint",
            other => other,
        };
        for message in messages {
            renamed.add(keyword, message.clone());
        }
    }
    Error::InvalidInput(renamed)
}
