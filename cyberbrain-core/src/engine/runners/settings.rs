//! Reading a task's configuration object (the task definition's `config`, overlaid by the
//! directive's `task_config[<task>]`). A missing key or `null` takes the default, unknown keys
//! are ignored (the object is shared with other settings), and every bad value is reported at
//! once as a field error on `config.<key>`, the naming [`Thresholds`] uses.
//!
//! [`Thresholds`]: crate::tasks::gpu::Thresholds

use serde_json::{Map, Value};

use crate::{FieldErrors, Result};

/// Collects the values a runner reads and the errors of the bad ones.
pub(super) struct SettingsReader<'a> {
    config: &'a Map<String, Value>,
    errors: FieldErrors,
}

impl<'a> SettingsReader<'a> {
    pub(super) fn new(config: &'a Map<String, Value>) -> Self {
        Self {
            config,
            errors: FieldErrors::new(),
        }
    }

    fn value(&self, key: &str) -> Option<&'a Value> {
        self.config.get(key).filter(|value| !value.is_null())
    }

    /// A whole number from 1 to `max`.
    pub(super) fn count(&mut self, key: &str, default: u64, max: u64) -> u64 {
        let Some(value) = self.value(key) else {
            return default;
        };
        match value.as_u64() {
            Some(number) if (1..=max).contains(&number) => number,
            _ => {
                self.errors.add(
                    format!("config.{key}"),
                    format!("must be a whole number from 1 to {max}, got {value}"),
                );
                default
            }
        }
    }

    /// A non-empty list of strings.
    pub(super) fn strings(&mut self, key: &str, default: &[&str]) -> Vec<String> {
        let fallback = || default.iter().map(|s| (*s).to_owned()).collect();
        let Some(value) = self.value(key) else {
            return fallback();
        };
        let list: Option<Vec<String>> = value.as_array().and_then(|items| {
            items
                .iter()
                .map(|item| item.as_str().map(str::to_owned))
                .collect()
        });
        match list {
            Some(list) if !list.is_empty() => list,
            _ => {
                self.errors.add(
                    format!("config.{key}"),
                    format!(
                        "must be a non-empty list of strings such as {}, got {value}",
                        Value::from(default.to_vec())
                    ),
                );
                fallback()
            }
        }
    }

    /// Every value read so far was valid, or all the field errors at once.
    pub(super) fn finish(self) -> Result<()> {
        self.errors.into_result()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::Error;

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().cloned().expect("an object")
    }

    #[test]
    fn defaults_values_and_errors() {
        let config = object(json!({
            "tail_lines": 50,
            "globs": ["*.log"],
            "empty": null,
        }));
        let mut reader = SettingsReader::new(&config);
        assert_eq!(reader.count("tail_lines", 1000, 100_000), 50);
        assert_eq!(reader.count("missing", 7, 10), 7);
        assert_eq!(reader.count("empty", 7, 10), 7);
        assert_eq!(reader.strings("globs", &["**/*.log"]), ["*.log"]);
        assert_eq!(reader.strings("other", &["a", "b"]), ["a", "b"]);
        assert!(reader.finish().is_ok());

        let config = object(json!({"n": 0, "m": "12", "k": 11, "g": [], "h": ["x", 1]}));
        let mut reader = SettingsReader::new(&config);
        reader.count("n", 1, 10);
        reader.count("m", 1, 10);
        reader.count("k", 1, 10);
        reader.strings("g", &["**/*.log"]);
        reader.strings("h", &["**/*.log"]);
        let Err(Error::InvalidInput(errors)) = reader.finish() else {
            panic!("bad values are field errors");
        };
        let text = errors.to_string();
        for field in ["config.n", "config.m", "config.k", "config.g", "config.h"] {
            assert!(text.contains(field), "{field} missing from {text}");
        }
        assert!(text.contains("from 1 to 10, got 0"), "{text}");
        assert!(text.contains("[\"**/*.log\"]"), "{text}");
    }
}
