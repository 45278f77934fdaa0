//! The `cyberbrain` binary itself: migrate, doctor, serve (embedded default, graceful stop),
//! and the errors an operator can hit.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The binary with a clean environment: nothing from the developer's shell leaks in.
fn cyberbrain(cwd: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cyberbrain"));
    command.env_clear().current_dir(cwd).env("RUST_LOG", "info");
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    command
}

fn run(command: &mut Command) -> (Output, String, String) {
    let output = command.output().expect("run cyberbrain");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output, stdout, stderr)
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[test]
fn migrate_prints_the_schema_version_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let (output, stdout, stderr) = run(cyberbrain(dir.path()).arg("migrate"));
        assert!(output.status.success(), "{stdout}\n{stderr}");
        assert!(stdout.contains("schema version"), "{stdout}");
        assert!(stdout.contains("sqlite"), "{stdout}");
    }
    assert!(
        dir.path().join("cyberbrain-data/cyberbrain.db").is_file(),
        "embedded default location"
    );
}

#[test]
fn doctor_reports_each_component_and_exits_by_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (output, stdout, stderr) = run(cyberbrain(dir.path())
        .arg("doctor")
        .env("CYBERBRAIN_DATA_DIR", &data)
        .env(
            "LLM_ENDPOINT",
            format!("http://127.0.0.1:{}/v1", closed_port()),
        )
        .env("NVIDIA_SMI", "/nonexistent/nvidia-smi"));
    assert!(output.status.success(), "{stdout}\n{stderr}");
    for component in [
        "database",
        "llm",
        "embedder",
        "engine",
        "nvidia-smi",
        "data dir",
        "artifacts",
        "uploads",
        "logs",
    ] {
        assert!(
            stdout
                .lines()
                .any(|line| line.trim_start().starts_with(component)),
            "{component}:\n{stdout}"
        );
    }
    let line = |out: &str, name: &str| {
        out.lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap()
            .to_string()
    };
    // A fresh database works but is not migrated yet: a warning with the fix, exit 0.
    let database = line(&stdout, "database");
    assert!(
        database.contains("warn") && database.contains("cyberbrain migrate"),
        "{stdout}"
    );
    let llm = line(&stdout, "llm");
    assert!(llm.contains("warn") && llm.contains("loopback"), "{stdout}");
    assert!(
        line(&stdout, "nvidia-smi").contains("NVIDIA_SMI"),
        "{stdout}"
    );

    let (output, _, stderr) = run(cyberbrain(dir.path())
        .arg("migrate")
        .env("CYBERBRAIN_DATA_DIR", &data));
    assert!(output.status.success(), "{stderr}");
    let (output, stdout, _) = run(cyberbrain(dir.path())
        .arg("doctor")
        .env("CYBERBRAIN_DATA_DIR", &data));
    assert!(output.status.success());
    let database = line(&stdout, "database");
    assert!(
        database.contains(" ok ") && database.contains("schema version"),
        "{stdout}"
    );

    // A database that cannot be opened fails the doctor.
    let blocker = dir.path().join("file-not-dir");
    std::fs::write(&blocker, b"").unwrap();
    let (output, stdout, _) = run(cyberbrain(dir.path()).arg("doctor").env(
        "DATABASE_URL",
        format!("sqlite://{}/sub/cb.db", blocker.display()),
    ));
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("database") && l.contains("FAIL")),
        "{stdout}"
    );
}

#[test]
fn unreachable_postgres_fails_clearly_without_the_password() {
    let dir = tempfile::tempdir().unwrap();
    for command in ["serve", "migrate"] {
        // Port 1 on loopback: nothing listens there, so the connection is refused at once.
        let (output, _, stderr) = run(cyberbrain(dir.path())
            .arg(command)
            .env("DATABASE_URL", "postgres://cb:hunter2@127.0.0.1:1/cb"));
        assert_eq!(output.status.code(), Some(1), "{command}: {stderr}");
        assert!(
            stderr.contains("PostgreSQL") && stderr.contains("127.0.0.1:1"),
            "{stderr}"
        );
        assert!(
            !stderr.contains("hunter2"),
            "the password must not be printed: {stderr}"
        );
    }
}

#[test]
fn configuration_mistakes_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (output, _, stderr) =
        run(cyberbrain(dir.path()).args(["--config", "missing.toml", "migrate"]));
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("missing.toml"), "{stderr}");

    let (output, _, stderr) = run(cyberbrain(dir.path())
        .arg("serve")
        .env("LLM_ENDPOINT", "http://8.8.8.8/v1"));
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("8.8.8.8") && stderr.contains("llm.endpoint"),
        "{stderr}"
    );

    let (output, _, stderr) = run(cyberbrain(dir.path()).arg("mcp"));
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--stdio"), "{stderr}");
}

/// A running `cyberbrain serve`, stopped with SIGTERM when dropped.
struct Server {
    child: Child,
    address: String,
    log: Vec<String>,
}

impl Server {
    fn start(mut command: Command) -> Self {
        // The listen address is read from the log, and G6 masks IP addresses there by default.
        command.env("DEBUG_REDACTED_MODE", "off");
        Self::start_redacted(command)
    }

    /// Like [`Server::start`] with the configured redacted mode (`address` is then masked too).
    fn start_redacted(mut command: Command) -> Self {
        let child = command
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn");
        // Owned by `Server` from here on, so every panic below still kills and reaps it.
        let mut server = Self {
            child,
            address: String::new(),
            log: Vec::new(),
        };
        let stderr = server.child.stderr.take().unwrap();
        let (lines_tx, lines_rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            match lines_rx.recv_timeout(Duration::from_millis(200)) {
                Ok(line) => {
                    let found = line
                        .split_once("listening on http://")
                        .map(|(_, rest)| rest.split('/').next().unwrap_or_default().to_string());
                    server.log.push(line);
                    if let Some(address) = found {
                        // Keep draining stderr so the server never blocks on a full pipe.
                        std::thread::spawn(move || while lines_rx.recv().is_ok() {});
                        server.address = address;
                        return server;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Ok(Some(status)) = server.child.try_wait() {
                        panic!("server exited with {status}: {:#?}", server.log);
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    panic!("server closed stderr: {:#?}", server.log)
                }
            }
        }
        panic!("server did not report its address: {:#?}", server.log);
    }

    /// A plain HTTP/1.1 GET; returns the status line and body.
    fn get(&self, path: &str) -> (String, String) {
        let connect_to = self.address.replace("0.0.0.0", "127.0.0.1");
        let mut stream = std::net::TcpStream::connect(&connect_to).expect("connect");
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        (
            head.lines().next().unwrap_or_default().to_string(),
            body.to_string(),
        )
    }

    /// SIGTERM, then the exit status (graceful shutdown means success).
    fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("server ignored SIGTERM"); // Drop kills and reaps it
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[test]
fn serve_with_no_configuration_uses_the_embedded_default_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = cyberbrain(dir.path());
    // Port 0 instead of 9595 so parallel test runs never collide; nothing else is configured.
    command.arg("serve").env("CYBERBRAIN_BIND", "127.0.0.1:0");
    let mut server = Server::start(command);

    let data = dir.path().join("cyberbrain-data");
    assert!(data.join("cyberbrain.db").is_file());
    assert!(data.join("artifacts").is_dir());
    assert!(data.join("uploads").is_dir());

    let (status, body) = server.get("/api/health");
    assert!(status.contains("200"), "{status}: {body}");
    assert!(body.contains("\"database\""), "{body}");
    let (status, body) = server.get("/api/directives/");
    assert!(
        status.contains("200") && body.contains("Read-only Diagnostics"),
        "{status}: {body}"
    );
    assert!(
        !server
            .log
            .iter()
            .any(|l| l.contains("AUTHENTICATION IS OFF")),
        "{:#?}",
        server.log
    );

    let exit = server.terminate();
    assert!(exit.success(), "graceful shutdown exits 0, got {exit}");
}

#[test]
fn serve_on_a_public_interface_without_auth_warns_loudly() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = cyberbrain(dir.path());
    command
        .arg("serve")
        .env("CYBERBRAIN_BIND", "0.0.0.0:0")
        .env("CYBERBRAIN_DATA_DIR", dir.path().join("data"));
    let mut server = Server::start(command);
    assert!(
        server
            .log
            .iter()
            .any(|l| l.contains("AUTHENTICATION IS OFF")),
        "{:#?}",
        server.log
    );
    let (status, _) = server.get("/api/");
    assert!(status.contains("200"), "{status}");
    assert!(server.terminate().success());
}

#[test]
fn mcp_over_stdio_answers_on_stdout_and_logs_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = cyberbrain(dir.path())
        .args(["mcp", "--stdio"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().unwrap();
    for message in [
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"cli-test","version":"0"}}}"#,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#,
    ] {
        writeln!(stdin, "{message}").unwrap();
    }
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let initialized = lines.next().expect("a reply").expect("read");
    assert!(initialized.contains("\"serverInfo\""), "{initialized}");
    let tools = lines.next().expect("a reply").expect("read");
    assert!(tools.contains("\"set_allowlist\""), "{tools}");
    drop(stdin); // the client hangs up: the server stops cleanly
    let output = child.wait_with_output().expect("wait");
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("serving MCP on stdin/stdout"),
        "logs go to stderr: {stderr}"
    );
}

#[tokio::test]
async fn migrate_and_doctor_select_postgres_from_the_url() {
    let schema = cyberbrain_store_pg::testing::TestSchema::create().await;
    let dir = tempfile::tempdir().unwrap();
    let (output, stdout, stderr) = run(cyberbrain(dir.path())
        .arg("migrate")
        .env("DATABASE_URL", schema.url()));
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("postgres"), "{stdout}");

    let (output, stdout, stderr) = run(cyberbrain(dir.path())
        .arg("doctor")
        .env("DATABASE_URL", schema.url()));
    assert!(output.status.success(), "{stdout}{stderr}");
    let database = stdout
        .lines()
        .find(|l| l.contains("database"))
        .unwrap_or_default();
    assert!(
        database.contains("postgres") && database.contains("pgvector"),
        "{stdout}"
    );
}

#[test]
fn process_logs_are_redacted_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = cyberbrain(dir.path());
    command
        .arg("serve")
        .env("CYBERBRAIN_BIND", "127.0.0.1:0")
        .env("CYBERBRAIN_DATA_DIR", dir.path().join("data"));
    let mut server = Server::start_redacted(command);
    let listening = server
        .log
        .iter()
        .find(|l| l.contains("listening on"))
        .cloned()
        .unwrap_or_default();
    assert!(
        listening.contains("http://<ip>:"),
        "G6 masks IP addresses in logs: {listening}"
    );
    assert!(!listening.contains("127.0.0.1"), "{listening}");
    assert!(server.terminate().success());
}
