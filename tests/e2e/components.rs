//! Where the real components live, and running a helper script with a deadline.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const SETUP_HINT: &str =
    "run ./scripts/test, which installs and builds every component the end-to-end tests use";

/// The repository root (the facade crate's manifest directory).
pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A helper script under `tests/e2e/`.
pub fn e2e_script(name: &str) -> PathBuf {
    repo_root().join("tests").join("e2e").join(name)
}

/// The `cyberbrain` binary: `CYBERBRAIN_BIN`, else the one cargo built beside this test binary
/// (`<target>/<profile>/deps/e2e-…` → `<target>/<profile>/cyberbrain`). Cargo cannot build
/// another package's binary for an integration test, so `./scripts/test` builds it first.
pub fn cyberbrain_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("CYBERBRAIN_BIN") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "CYBERBRAIN_BIN={} is not a file; {SETUP_HINT}",
            path.display()
        );
        return path;
    }
    let beside_tests = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("cyberbrain")));
    match beside_tests {
        Some(path) if path.is_file() => {
            eprintln!(
                "e2e: CYBERBRAIN_BIN is unset; using {} (run `cargo build -p cyberbrain-http` first if it is stale)",
                path.display()
            );
            path
        }
        other => panic!(
            "the cyberbrain binary was not found: CYBERBRAIN_BIN is unset and {} does not exist; {SETUP_HINT} \
             (or `cargo build -p cyberbrain-http` before `cargo test`)",
            other.map_or_else(
                || "<target>/debug/cyberbrain".to_owned(),
                |p| p.display().to_string()
            )
        ),
    }
}

/// The Python interpreter of the test venv (it has the official `mcp` SDK).
pub fn python() -> PathBuf {
    let path = std::env::var_os("CYBERBRAIN_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".tools/venv/bin/python"));
    assert!(
        path.is_file(),
        "no Python with the mcp SDK at {} (CYBERBRAIN_PYTHON, default .tools/venv/bin/python); {SETUP_HINT}",
        path.display()
    );
    path
}

/// The models dir holding all-MiniLM-L6-v2 and ONNX Runtime (`CYBERBRAIN_MODELS_DIR`, which
/// `./scripts/test` sets after `scripts/models.sh` installed them).
pub fn models_dir() -> PathBuf {
    let path = std::env::var_os("CYBERBRAIN_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".tools/models"));
    assert!(
        path.join("all-MiniLM-L6-v2").is_dir(),
        "the embedding model is not installed under {} (CYBERBRAIN_MODELS_DIR, default \
         .tools/models); run `scripts/models.sh {}` or {SETUP_HINT}",
        path.display(),
        path.display()
    );
    path
}

/// Node.js (playwright-core resolves from ./node_modules or `NODE_PATH`).
pub fn node() -> PathBuf {
    let path =
        std::env::var_os("CYBERBRAIN_NODE").map_or_else(|| PathBuf::from("node"), PathBuf::from);
    let playwright = std::env::var_os("NODE_PATH")
        .map_or_else(|| repo_root().join("node_modules"), PathBuf::from)
        .join("playwright-core")
        .join("package.json");
    assert!(
        playwright.is_file(),
        "playwright-core is not installed ({} is missing); {SETUP_HINT}",
        playwright.display()
    );
    path
}

/// Debian's Chromium.
pub fn chromium() -> PathBuf {
    let path = std::env::var_os("CYBERBRAIN_CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    assert!(
        path.is_file(),
        "Chromium was not found at {}; {SETUP_HINT}",
        path.display()
    );
    path
}

/// Where screenshots go: `CYBERBRAIN_E2E_OUT` (kept after the run), else a fresh temp dir.
pub fn artifacts_dir(temp: &Path) -> PathBuf {
    let dir = std::env::var_os("CYBERBRAIN_E2E_OUT")
        .map_or_else(|| temp.join("artifacts"), PathBuf::from);
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// Environment variables that would send a child's loopback traffic to a proxy.
pub const PROXY_VARIABLES: [&str; 6] = [
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
];

#[derive(Debug)]
pub struct ScriptOutput {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs a helper script to completion, killing it after `timeout`. Panics (with its output) if it
/// cannot start, times out, or exits unsuccessfully.
pub fn run_script(mut command: Command, what: &str, timeout: Duration) -> ScriptOutput {
    for variable in PROXY_VARIABLES {
        command.env_remove(variable);
    }
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("could not start {what} ({command:?}): {e}; {SETUP_HINT}"));
    let stdout = child.stdout.take().map(drain);
    let stderr = child.stderr.take().map(drain);
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{what} did not finish within {timeout:?} and was killed");
            }
            Err(e) => panic!("waiting for {what} failed: {e}"),
        }
    };
    let output = ScriptOutput {
        status,
        stdout: stdout
            .map(|t| t.join().unwrap_or_default())
            .unwrap_or_default(),
        stderr: stderr
            .map(|t| t.join().unwrap_or_default())
            .unwrap_or_default(),
    };
    assert!(
        output.status.success(),
        "{what} failed with {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status,
        output.stdout,
        output.stderr
    );
    output
}

fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// The last JSON line a script printed on stdout (scripts print exactly one report).
pub fn json_report(output: &ScriptOutput, what: &str) -> serde_json::Value {
    let line = output
        .stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'));
    let line = line.unwrap_or_else(|| {
        panic!(
            "{what} printed no JSON report\nstdout:\n{}\nstderr:\n{}",
            output.stdout, output.stderr
        )
    });
    serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("{what} printed invalid JSON ({e}): {line}"))
}
