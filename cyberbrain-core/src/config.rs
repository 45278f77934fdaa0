//! Configuration: `cyberbrain.toml` (working directory or `--config`) plus environment variables,
//! which win. With nothing configured at all the embedded default applies: SQLite and every
//! data directory under `./cyberbrain-data/`, an LLM at Ollama's loopback address.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Error, FieldErrors, Result};

/// The file looked up in the working directory when no `--config` is given.
pub const CONFIG_FILE_NAME: &str = "cyberbrain.toml";

/// A value that must never be printed: `Debug` and `Display` show `"***"`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"***\"" })
    }
}

/// Everything Cyberbrain reads at start.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub paths: PathsConfig,
    pub llm: LlmConfig,
    pub privacy: PrivacyConfig,
    pub auth: AuthConfig,
    pub scheduler: SchedulerConfig,
    pub containers: ContainerConfig,
    pub gpu: GpuConfig,
    pub rag: RagConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// `CYBERBRAIN_BIND`.
    pub bind: String,
    /// Extra `Host` header values the MCP endpoint accepts besides loopback.
    pub allowed_hosts: Vec<String>,
    /// The largest JSON request body accepted, in bytes.
    pub max_body_bytes: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:9595".into(),
            allowed_hosts: Vec::new(),
            max_body_bytes: 1 << 20,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `DATABASE_URL`: `sqlite:///path.db`, `sqlite://relative.db` or `postgres://…`.
    /// Empty means `sqlite://<data_dir>/cyberbrain.db`. May carry a password: kept secret.
    pub url: Secret,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PathsConfig {
    /// `CYBERBRAIN_DATA_DIR`: parent of every default below.
    pub data_dir: PathBuf,
    /// `CYBER_BRAIN_LOGS`: log files `log_triage` reads.
    pub logs_dir: Option<PathBuf>,
    /// `CYBERBRAIN_ARTIFACTS_DIR`.
    pub artifacts_dir: Option<PathBuf>,
    /// `CYBER_BRAIN_UPLOADS`.
    pub uploads_dir: Option<PathBuf>,
    /// `CYBERBRAIN_MODELS_DIR`.
    pub models_dir: Option<PathBuf>,
}

impl Default for PathsConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("cyberbrain-data"),
            logs_dir: None,
            artifacts_dir: None,
            uploads_dir: None,
            models_dir: None,
        }
    }
}

impl PathsConfig {
    pub fn artifacts_dir(&self) -> PathBuf {
        self.artifacts_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("artifacts"))
    }

    pub fn uploads_dir(&self) -> PathBuf {
        self.uploads_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("uploads"))
    }

    pub fn models_dir(&self) -> PathBuf {
        self.models_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("models"))
    }

    pub fn logs_dir(&self) -> PathBuf {
        self.logs_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("logs"))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LlmConfig {
    /// `LLM_ENDPOINT`: an OpenAI-compatible base URL (…/v1). Must be local (G1).
    pub endpoint: String,
    /// `LLM_MODEL`.
    pub model: String,
    /// The model's context window in tokens.
    pub context_tokens: u32,
    pub timeout_s: u64,
    /// Hosts the operator explicitly allows although they are not private (G1).
    pub allow_hosts: Vec<String>,
    /// `LLM_API_KEY`, for servers that want one.
    pub api_key: Secret,
    /// Cost rates per model, per 1000 tokens.
    pub rates: BTreeMap<String, ModelRates>,
}

impl Default for LlmConfig {
    fn default() -> Self {
        Self {
            endpoint: "http://127.0.0.1:11434/v1".into(),
            model: "llama3.2".into(),
            context_tokens: 4096,
            timeout_s: 120,
            allow_hosts: Vec::new(),
            api_key: Secret::default(),
            rates: BTreeMap::new(),
        }
    }
}

/// Per-model cost rates (per 1000 tokens), prompt and completion separately.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelRates {
    pub prompt_per_1k: f64,
    pub completion_per_1k: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrivacyConfig {
    /// `DEBUG_REDACTED_MODE` (G6), on unless explicitly turned off.
    pub redacted_mode: bool,
}

impl Default for PrivacyConfig {
    fn default() -> Self {
        Self {
            redacted_mode: true,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// `AUTH_ENABLED`.
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SchedulerConfig {
    /// Most runs running at once, across processes.
    pub max_global: u32,
    /// Most running jobs per task, across processes.
    pub max_per_task: u32,
    /// 1–30 seconds.
    pub poll_interval_s: u64,
    pub defer_s: u64,
    pub max_attempts: u32,
    pub lease_s: u64,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            max_global: 4,
            max_per_task: 2,
            poll_interval_s: 10,
            defer_s: 60,
            max_attempts: 3,
            lease_s: 60,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ContainerConfig {
    /// `DOCKER_HOST`: `unix:///run/docker.sock`, `tcp://…`. Empty: no container engine.
    pub docker_host: String,
}

/// The knowledge base (SPEC §3.6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RagConfig {
    /// `RAG_MAX_UPLOAD_BYTES`: larger uploads are refused (HTTP 413).
    pub max_upload_bytes: u64,
    /// Words per chunk.
    pub chunk_words: usize,
    /// Words shared by consecutive chunks; less than `chunk_words`.
    pub chunk_overlap: usize,
    /// Seconds an ingester holds an upload between renewals; a crashed one's upload is taken
    /// over this long after its last renewal.
    pub lease_s: u64,
    /// Ingestions of one upload interrupted (lease expired) this many times fail it.
    pub max_attempts: u32,
    /// Seconds between an idle ingester's looks for queued uploads (other processes' uploads;
    /// this process's own wake it at once).
    pub poll_interval_s: u64,
}

impl Default for RagConfig {
    fn default() -> Self {
        Self {
            max_upload_bytes: 50 * 1024 * 1024,
            chunk_words: 500,
            chunk_overlap: 50,
            lease_s: 60,
            max_attempts: 3,
            poll_interval_s: 2,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GpuConfig {
    /// `NVIDIA_SMI`: path or name of the `nvidia-smi` binary.
    pub nvidia_smi: String,
}

impl Default for GpuConfig {
    fn default() -> Self {
        Self {
            nvidia_smi: "nvidia-smi".into(),
        }
    }
}

impl Config {
    /// Reads `path` (or `./cyberbrain.toml` when it exists), then applies the process environment.
    pub fn load(path: Option<&Path>) -> Result<Self> {
        Self::load_with_env(path, |key| std::env::var(key).ok())
    }

    /// As [`Config::load`], with the environment given as a lookup (tests pass a map).
    pub fn load_with_env(
        path: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self> {
        let file = match path {
            Some(path) => Some(path.to_path_buf()),
            None => Some(PathBuf::from(CONFIG_FILE_NAME)).filter(|p| p.is_file()),
        };
        let mut config = match file {
            Some(file) => Self::from_toml_file(&file)?,
            None => Self::default(),
        };
        config.apply_env(env)?;
        config.validate()?;
        Ok(config)
    }

    fn from_toml_file(file: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(file).map_err(|e| {
            Error::invalid("config", format!("cannot read {}: {e}", file.display()))
        })?;
        Self::from_toml(&text).map_err(|e| match e {
            Error::InvalidInput(errors) => {
                Error::invalid("config", format!("{}: {errors}", file.display()))
            }
            other => other,
        })
    }

    /// Parses TOML text; unknown keys are refused so typos do not pass silently.
    pub fn from_toml(text: &str) -> Result<Self> {
        toml::from_str(text).map_err(|e| Error::invalid("config", e.message().to_string()))
    }

    /// Applies the documented environment variables over the file's values.
    pub fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<()> {
        let mut errors = FieldErrors::new();
        let get = |key: &str| {
            env(key)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        if let Some(v) = get("CYBERBRAIN_BIND") {
            self.server.bind = v;
        }
        if let Some(v) = get("CYBERBRAIN_DATA_DIR") {
            self.paths.data_dir = v.into();
        }
        if let Some(v) = get("DATABASE_URL") {
            self.database.url = Secret::new(v);
        }
        if let Some(v) = get("LLM_ENDPOINT") {
            self.llm.endpoint = v;
        }
        if let Some(v) = get("LLM_MODEL") {
            self.llm.model = v;
        }
        if let Some(v) = get("LLM_API_KEY") {
            self.llm.api_key = Secret::new(v);
        }
        if let Some(v) = get("CYBER_BRAIN_LOGS") {
            self.paths.logs_dir = Some(v.into());
        }
        if let Some(v) = get("CYBERBRAIN_ARTIFACTS_DIR") {
            self.paths.artifacts_dir = Some(v.into());
        }
        if let Some(v) = get("CYBER_BRAIN_UPLOADS") {
            self.paths.uploads_dir = Some(v.into());
        }
        if let Some(v) = get("CYBERBRAIN_MODELS_DIR") {
            self.paths.models_dir = Some(v.into());
        }
        if let Some(v) = get("DOCKER_HOST") {
            self.containers.docker_host = v;
        }
        if let Some(v) = get("NVIDIA_SMI") {
            self.gpu.nvidia_smi = v;
        }
        if let Some(v) = get("RAG_MAX_UPLOAD_BYTES") {
            match v.parse::<u64>() {
                Ok(bytes) => self.rag.max_upload_bytes = bytes,
                Err(_) => errors.add(
                    "RAG_MAX_UPLOAD_BYTES",
                    format!("\"{v}\" is not a whole number of bytes such as 52428800"),
                ),
            }
        }
        for (key, target) in [
            ("DEBUG_REDACTED_MODE", &mut self.privacy.redacted_mode),
            ("AUTH_ENABLED", &mut self.auth.enabled),
        ] {
            if let Some(v) = get(key) {
                match parse_bool(&v) {
                    Some(b) => *target = b,
                    None => errors.add(
                        key,
                        format!("\"{v}\" is not a boolean: use true/false, 1/0, yes/no or on/off"),
                    ),
                }
            }
        }
        errors.into_result()
    }

    /// Rules no single field can check; messages name the key and the fix.
    pub fn validate(&self) -> Result<()> {
        let mut errors = FieldErrors::new();
        if self.server.bind.parse::<std::net::SocketAddr>().is_err() {
            errors.add(
                "server.bind",
                format!(
                    "\"{}\" is not an address:port such as 127.0.0.1:9595",
                    self.server.bind
                ),
            );
        }
        if !(1..=30).contains(&self.scheduler.poll_interval_s) {
            errors.add(
                "scheduler.poll_interval_s",
                "must be between 1 and 30 seconds",
            );
        }
        if self.scheduler.max_global == 0 {
            errors.add("scheduler.max_global", "must be 1 or more");
        }
        if self.scheduler.max_per_task == 0 {
            errors.add("scheduler.max_per_task", "must be 1 or more");
        }
        if self.rag.max_upload_bytes == 0 {
            errors.add("rag.max_upload_bytes", "must be 1 or more");
        }
        if self.rag.chunk_words == 0 {
            errors.add("rag.chunk_words", "must be 1 or more");
        } else if self.rag.chunk_overlap >= self.rag.chunk_words {
            errors.add(
                "rag.chunk_overlap",
                format!(
                    "must be less than rag.chunk_words ({})",
                    self.rag.chunk_words
                ),
            );
        }
        if !(5..=3600).contains(&self.rag.lease_s) {
            errors.add("rag.lease_s", "must be between 5 and 3600 seconds");
        }
        if self.rag.max_attempts == 0 {
            errors.add("rag.max_attempts", "must be 1 or more");
        }
        if !(1..=60).contains(&self.rag.poll_interval_s) {
            errors.add("rag.poll_interval_s", "must be between 1 and 60 seconds");
        }
        if self.llm.context_tokens < 256 {
            errors.add("llm.context_tokens", "must be at least 256");
        }
        if let Err(e) =
            crate::guardrails::locality::check_endpoint(&self.llm.endpoint, &self.llm.allow_hosts)
        {
            errors.add("llm.endpoint", e.to_string());
        }
        errors.into_result()
    }

    /// The database URL to open: the configured one, or SQLite under the data directory.
    pub fn database_url(&self) -> String {
        if self.database.url.is_empty() {
            format!(
                "sqlite://{}",
                self.paths.data_dir.join("cyberbrain.db").display()
            )
        } else {
            self.database.url.expose().to_string()
        }
    }
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |key| map.get(key).cloned()
    }

    #[test]
    fn embedded_default_needs_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.toml");
        assert!(
            Config::load_with_env(Some(&missing), env(&[])).is_err(),
            "explicit file must exist"
        );
        let config = Config::default();
        config.validate().unwrap();
        assert_eq!(config.server.bind, "127.0.0.1:9595");
        assert_eq!(
            config.database_url(),
            "sqlite://cyberbrain-data/cyberbrain.db"
        );
        assert_eq!(
            config.paths.artifacts_dir(),
            PathBuf::from("cyberbrain-data/artifacts")
        );
        assert!(config.privacy.redacted_mode);
        assert!(!config.auth.enabled);
    }

    #[test]
    fn environment_wins_over_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cyberbrain.toml");
        std::fs::write(
            &file,
            "[server]\nbind = \"127.0.0.1:1000\"\n[llm]\nendpoint = \"http://10.0.0.5:8080/v1\"\n",
        )
        .unwrap();
        let config = Config::load_with_env(
            Some(&file),
            env(&[
                ("CYBERBRAIN_BIND", "127.0.0.1:2000"),
                ("DATABASE_URL", "postgres://cb:hunter2@127.0.0.1/cb"),
                ("CYBER_BRAIN_LOGS", "/var/log/app"),
                ("CYBER_BRAIN_UPLOADS", "/srv/uploads"),
                ("DEBUG_REDACTED_MODE", "off"),
                ("AUTH_ENABLED", "1"),
            ]),
        )
        .unwrap();
        assert_eq!(config.server.bind, "127.0.0.1:2000");
        assert_eq!(config.llm.endpoint, "http://10.0.0.5:8080/v1");
        assert_eq!(config.paths.logs_dir(), PathBuf::from("/var/log/app"));
        assert_eq!(config.paths.uploads_dir(), PathBuf::from("/srv/uploads"));
        assert!(!config.privacy.redacted_mode);
        assert!(config.auth.enabled);
        assert_eq!(config.database_url(), "postgres://cb:hunter2@127.0.0.1/cb");
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let mut config = Config::default();
        config.database.url = Secret::new("postgres://cb:hunter2@db/cb");
        config.llm.api_key = Secret::new("sk-live-abcdef");
        let debug = format!("{config:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(!debug.contains("sk-live"), "{debug}");
        assert!(debug.contains("***"));
    }

    #[test]
    fn bad_values_name_the_key() {
        let err = Config::load_with_env(Some(Path::new("/definitely/not/here.toml")), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/definitely/not/here.toml"), "{err}");

        let mut config = Config::default();
        let err = config
            .apply_env(env(&[("AUTH_ENABLED", "maybe")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("AUTH_ENABLED") && err.contains("maybe"),
            "{err}"
        );

        let err = Config::from_toml("[server]\nbnd = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("bnd"), "{err}");

        config.server.bind = "localhost".into();
        config.scheduler.poll_interval_s = 0;
        let err = config.validate().unwrap_err().to_string();
        assert!(
            err.contains("server.bind") && err.contains("poll_interval_s"),
            "{err}"
        );
    }

    #[test]
    fn public_llm_endpoint_is_refused_at_load() {
        let err = Config::load_with_env(
            Some(Path::new("/dev/null")),
            env(&[("LLM_ENDPOINT", "http://8.8.8.8/v1")]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("llm.endpoint") && err.contains("8.8.8.8"),
            "{err}"
        );
    }
}
