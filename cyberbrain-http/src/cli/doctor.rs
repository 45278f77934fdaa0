//! `cyberbrain doctor`: one line per component with its state and, when something is wrong,
//! the fix. Only the database is required; the exit status is 1 when it does not work.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use cyberbrain_core::Config;
use cyberbrain_core::container::DockerEngine;
use cyberbrain_core::guardrails::locality::{self, Locality};
use url::Url;

use super::{CliError, open, probe};

/// How long any network probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Ok,
    /// Works partly, or is missing but optional: the steps that need it fail.
    Warn,
    Fail,
    /// Not configured, by choice.
    Off,
}

impl State {
    fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Warn => "warn",
            Self::Fail => "FAIL",
            Self::Off => "off",
        }
    }
}

#[derive(Debug)]
struct Check {
    component: &'static str,
    state: State,
    detail: String,
}

impl Check {
    fn new(component: &'static str, state: State, detail: impl Into<String>) -> Self {
        Self {
            component,
            state,
            detail: detail.into(),
        }
    }
}

pub(crate) async fn run(config: Config) -> Result<ExitCode, CliError> {
    println!("cyberbrain doctor {}", env!("CARGO_PKG_VERSION"));
    let database = check_database(&config).await;
    let database_ok = database.state != State::Fail;
    let mut checks = vec![database, check_llm(&config).await, check_embedder(&config)];
    checks.push(check_container_engine(&config).await);
    checks.push(check_nvidia_smi(&config));
    checks.extend(check_paths(&config));
    for check in &checks {
        println!(
            "  {:<12} {:<5} {}",
            check.component,
            check.state.label(),
            check.detail
        );
    }
    if database_ok {
        Ok(ExitCode::SUCCESS)
    } else {
        println!("the database does not work; Cyberbrain cannot start until it does");
        Ok(ExitCode::FAILURE)
    }
}

async fn check_database(config: &Config) -> Check {
    let store = match open::store(config).await {
        Ok(store) => store,
        Err(e) => return Check::new("database", State::Fail, e.to_string()),
    };
    match store.info().await {
        Ok(info) => {
            let mut detail = format!(
                "{} {} at {}, schema version {}",
                info.backend, info.version, info.location, info.schema_version
            );
            for note in &info.notes {
                detail.push_str("; ");
                detail.push_str(note);
            }
            let state = if info.notes.is_empty() {
                State::Ok
            } else {
                State::Warn
            };
            Check::new("database", state, detail)
        }
        Err(e) => Check::new("database", State::Fail, e.to_string()),
    }
}

/// Locality first (G1: a public endpoint is refused however well it answers), then whether it
/// answers `GET {endpoint}/models`.
async fn check_llm(config: &Config) -> Check {
    let endpoint = &config.llm.endpoint;
    let addresses =
        match locality::check_endpoint_at_connect(endpoint, &config.llm.allow_hosts).await {
            Ok(addresses) => addresses,
            Err(cyberbrain_core::Error::Unavailable { message, .. }) => {
                return Check::new(
                    "llm",
                    State::Warn,
                    format!("{endpoint}: {message}; LLM steps fail until it resolves"),
                );
            }
            Err(e) => {
                return Check::new(
                    "llm",
                    State::Fail,
                    format!("{endpoint} is refused: {e}; set LLM_ENDPOINT to a local server"),
                );
            }
        };
    let where_ = describe_locality(&addresses);
    let Ok(url) = Url::parse(&format!("{}/models", endpoint.trim_end_matches('/'))) else {
        return Check::new("llm", State::Fail, format!("{endpoint} is not a URL"));
    };
    let host_header = match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_string(),
        (None, _) => String::new(),
    };
    let model = &config.llm.model;
    if url.scheme() == "https" {
        return match probe::connect(&addresses, PROBE_TIMEOUT).await {
            Ok(_) => Check::new(
                "llm",
                State::Ok,
                format!(
                    "{endpoint} ({where_}, model {model}) accepts connections (TLS not probed)"
                ),
            ),
            Err(e) => unreachable_llm(endpoint, &where_, &e),
        };
    }
    match probe::http_get_status(&addresses, &host_header, url.path(), PROBE_TIMEOUT).await {
        Ok(status) if (200..300).contains(&status) => Check::new(
            "llm",
            State::Ok,
            format!(
                "{endpoint} ({where_}, model {model}) answers GET {} with {status}",
                url.path()
            ),
        ),
        Ok(status) => Check::new(
            "llm",
            State::Warn,
            format!(
                "{endpoint} ({where_}) answers GET {} with {status}; is it an OpenAI-compatible \
                 base URL ending in /v1?",
                url.path()
            ),
        ),
        Err(e) => unreachable_llm(endpoint, &where_, &e),
    }
}

fn unreachable_llm(endpoint: &str, where_: &str, error: &str) -> Check {
    Check::new(
        "llm",
        State::Warn,
        format!(
            "{endpoint} ({where_}) does not answer: {error}; start the LLM server (e.g. `ollama \
             serve`) or set LLM_ENDPOINT; only the LLM steps fail meanwhile"
        ),
    )
}

fn describe_locality(addresses: &[std::net::SocketAddr]) -> String {
    let mut kinds: Vec<&str> = addresses
        .iter()
        .map(|address| match locality::classify_ip(address.ip()) {
            Some(Locality::Loopback) => "loopback",
            Some(Locality::Private) => "private network",
            Some(Locality::LinkLocal) => "link-local",
            Some(Locality::UniqueLocal) => "IPv6 unique-local",
            Some(Locality::AllowListed) | None => "allow-listed in llm.allow_hosts",
        })
        .collect();
    kinds.dedup();
    format!("local: {}", kinds.join(", "))
}

/// The embedding model runs from local files (G7): look for a model and its tokenizer.
fn check_embedder(config: &Config) -> Check {
    let dir = config.paths.models_dir();
    if !dir.is_dir() {
        return Check::new(
            "embedder",
            State::Warn,
            format!(
                "models directory {} does not exist; RAG ingestion and search need a local \
                 embedding model there (set CYBERBRAIN_MODELS_DIR)",
                dir.display()
            ),
        );
    }
    let files = files_within(&dir, 3);
    let model = files.iter().find(|path| {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        name.ends_with(".onnx") || name == "model.safetensors"
    });
    let tokenizer = files
        .iter()
        .find(|path| path.file_name().is_some_and(|n| n == "tokenizer.json"));
    match (model, tokenizer) {
        (Some(model), Some(tokenizer)) => Check::new(
            "embedder",
            State::Ok,
            format!(
                "model {} and tokenizer {}",
                model.display(),
                tokenizer.display()
            ),
        ),
        (model, tokenizer) => {
            let mut missing = Vec::new();
            if model.is_none() {
                missing.push("a model file (*.onnx or model.safetensors)");
            }
            if tokenizer.is_none() {
                missing.push("tokenizer.json");
            }
            Check::new(
                "embedder",
                State::Warn,
                format!(
                    "{} has no {}; RAG ingestion and search fail until the model files are there",
                    dir.display(),
                    missing.join(" and no ")
                ),
            )
        }
    }
}

/// Regular files up to `depth` directories below `dir`, in a stable order.
fn files_within(dir: &Path, depth: usize) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return files;
    };
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for path in entries {
        if path.is_file() {
            files.push(path);
        } else if path.is_dir() && depth > 0 {
            files.extend(files_within(&path, depth - 1));
        }
    }
    files
}

/// The container engine named by `DOCKER_HOST`: does it answer a version request? Without
/// `DOCKER_HOST`, look for the usual sockets and say how to use one.
async fn check_container_engine(config: &Config) -> Check {
    let docker_host = config.containers.docker_host.trim();
    if docker_host.is_empty() {
        let found = default_engine_sockets()
            .into_iter()
            .find(|socket| socket.exists());
        return match found {
            Some(socket) => Check::new(
                "engine",
                State::Warn,
                format!(
                    "DOCKER_HOST is not set, but an engine socket exists at {}; set \
                     DOCKER_HOST=unix://{} to use it",
                    socket.display(),
                    socket.display()
                ),
            ),
            None => Check::new(
                "engine",
                State::Off,
                "DOCKER_HOST is not set and no Docker or Podman socket was found; container \
                 steps are skipped",
            ),
        };
    }
    let engine = match DockerEngine::connect(docker_host) {
        Ok(engine) => engine.with_timeout(PROBE_TIMEOUT),
        Err(e) => {
            return Check::new(
                "engine",
                State::Warn,
                format!("DOCKER_HOST={docker_host} cannot be used: {e}"),
            );
        }
    };
    match engine.version().await {
        Ok(version) => {
            let product = if version.product.is_empty() {
                "engine"
            } else {
                version.product.as_str()
            };
            Check::new(
                "engine",
                State::Ok,
                format!(
                    "{product} {} (API {}) answers at {docker_host}",
                    version.version, version.api_version
                ),
            )
        }
        Err(e) => Check::new(
            "engine",
            State::Warn,
            format!(
                "DOCKER_HOST={docker_host} does not answer: {e}; start Docker or Podman, or fix \
                 DOCKER_HOST (container steps report container_engine_unavailable meanwhile)"
            ),
        ),
    }
}

fn default_engine_sockets() -> Vec<PathBuf> {
    let mut sockets = vec![
        PathBuf::from("/var/run/docker.sock"),
        PathBuf::from("/run/podman/podman.sock"),
    ];
    if let Some(runtime_dir) = std::env::var_os("XDG_RUNTIME_DIR") {
        sockets.push(Path::new(&runtime_dir).join("podman/podman.sock"));
        sockets.push(Path::new(&runtime_dir).join("docker.sock"));
    }
    sockets
}

fn check_nvidia_smi(config: &Config) -> Check {
    let configured = config.gpu.nvidia_smi.trim();
    match find_executable(configured) {
        Some(path) => Check::new(
            "nvidia-smi",
            State::Ok,
            format!("found at {}", path.display()),
        ),
        None => Check::new(
            "nvidia-smi",
            State::Warn,
            format!(
                "{configured:?} is not an executable on PATH; gpu_report finds no GPUs (install \
                 the NVIDIA driver utilities or set NVIDIA_SMI)"
            ),
        ),
    }
}

/// A path (when `name` has a `/`) or a name looked up on `PATH`.
fn find_executable(name: &str) -> Option<PathBuf> {
    if name.is_empty() {
        return None;
    }
    if name.contains('/') {
        let path = PathBuf::from(name);
        return is_executable(&path).then_some(path);
    }
    let search = std::env::var_os("PATH")?;
    std::env::split_paths(&search)
        .map(|dir| dir.join(name))
        .find(|path| is_executable(path))
}

fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        path.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        path.is_file()
    }
}

/// Directories Cyberbrain writes must be writable; the logs directory must be readable.
fn check_paths(config: &Config) -> Vec<Check> {
    let paths = &config.paths;
    let mut checks = vec![
        writable("data dir", &paths.data_dir),
        writable("artifacts", &paths.artifacts_dir()),
        writable("uploads", &paths.uploads_dir()),
    ];
    let logs = paths.logs_dir();
    checks.push(match std::fs::read_dir(&logs) {
        Ok(_) => Check::new("logs", State::Ok, format!("{} is readable", logs.display())),
        Err(e) => Check::new(
            "logs",
            State::Warn,
            format!(
                "{} cannot be read ({e}); log_triage has nothing to read (set CYBER_BRAIN_LOGS)",
                logs.display()
            ),
        ),
    });
    checks
}

fn writable(component: &'static str, dir: &Path) -> Check {
    if dir.is_dir() {
        let probe = dir.join(format!(".cyberbrain-doctor-{}", std::process::id()));
        return match std::fs::write(&probe, b"") {
            Ok(()) => {
                let _ = std::fs::remove_file(&probe);
                Check::new(
                    component,
                    State::Ok,
                    format!("{} is writable", dir.display()),
                )
            }
            Err(e) => Check::new(
                component,
                State::Fail,
                format!(
                    "{} is not writable ({e}); fix its permissions",
                    dir.display()
                ),
            ),
        };
    }
    // Not there yet: fine if `serve` can create it, i.e. the nearest existing parent is writable.
    let parent = dir
        .ancestors()
        .skip(1)
        .find(|p| p.as_os_str().is_empty() || p.is_dir());
    let parent = match parent {
        Some(p) if p.as_os_str().is_empty() => Path::new("."),
        Some(p) => p,
        None => Path::new("/"),
    };
    let creatable = parent.metadata().is_ok_and(|m| !m.permissions().readonly());
    if creatable {
        Check::new(
            component,
            State::Ok,
            format!(
                "{} does not exist yet; `cyberbrain serve` creates it",
                dir.display()
            ),
        )
    } else {
        Check::new(
            component,
            State::Fail,
            format!(
                "{} does not exist and {} is read-only; create it or point the setting elsewhere",
                dir.display(),
                parent.display()
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_reported_writable_or_creatable() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(writable("data dir", dir.path()).state, State::Ok);
        let missing = dir.path().join("a/b");
        let check = writable("data dir", &missing);
        assert_eq!(check.state, State::Ok);
        assert!(check.detail.contains("creates it"), "{}", check.detail);
        assert!(
            std::fs::read_dir(dir.path()).unwrap().next().is_none(),
            "no probe file left"
        );
    }

    #[test]
    fn embedder_files_are_found_below_the_models_dir() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.paths.models_dir = Some(dir.path().to_path_buf());
        assert_eq!(check_embedder(&config).state, State::Warn);
        let model_dir = dir.path().join("all-MiniLM-L6-v2");
        std::fs::create_dir(&model_dir).unwrap();
        std::fs::write(model_dir.join("model.onnx"), b"x").unwrap();
        let partial = check_embedder(&config);
        assert!(
            partial.detail.contains("tokenizer.json"),
            "{}",
            partial.detail
        );
        std::fs::write(model_dir.join("tokenizer.json"), b"{}").unwrap();
        assert_eq!(check_embedder(&config).state, State::Ok);
    }

    #[test]
    fn executables_are_found_on_path_or_by_path() {
        assert!(find_executable("sh").is_some());
        assert!(find_executable("/bin/sh").is_some());
        assert!(find_executable("definitely-not-a-command-xyz").is_none());
        assert!(find_executable("").is_none());
    }

    #[tokio::test]
    async fn the_container_engine_is_asked_for_its_version() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buffer = [0u8; 4096];
                    let _ = socket.read(&mut buffer).await;
                    let body = r#"{"Version":"4.3.1","ApiVersion":"1.41","Components":[{"Name":"Podman Engine","Version":"4.3.1"}]}"#;
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(reply.as_bytes()).await;
                });
            }
        });
        let mut config = Config::default();
        config.containers.docker_host = format!("tcp://127.0.0.1:{port}");
        let check = check_container_engine(&config).await;
        assert_eq!(check.state, State::Ok, "{}", check.detail);
        assert!(
            check.detail.contains("Podman Engine 4.3.1 (API 1.41)"),
            "{}",
            check.detail
        );

        config.containers.docker_host = "unix:///nonexistent/podman.sock".into();
        let check = check_container_engine(&config).await;
        assert_eq!(check.state, State::Warn, "{}", check.detail);
        assert!(check.detail.contains("does not answer"), "{}", check.detail);
    }

    #[tokio::test]
    async fn a_public_llm_endpoint_fails_and_a_silent_local_one_warns() {
        let mut config = Config::default();
        config.llm.endpoint = "http://8.8.8.8/v1".into();
        let check = check_llm(&config).await;
        assert_eq!(check.state, State::Fail, "{}", check.detail);
        assert!(check.detail.contains("8.8.8.8"), "{}", check.detail);

        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        config.llm.endpoint = format!("http://127.0.0.1:{port}/v1");
        let check = check_llm(&config).await;
        assert_eq!(check.state, State::Warn, "{}", check.detail);
        assert!(check.detail.contains("loopback"), "{}", check.detail);
    }
}
