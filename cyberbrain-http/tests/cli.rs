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
    fn start_redacted(command: Command) -> Self {
        let mut server = Self::spawn_until(command, "listening on http://");
        let line = server.log.last().cloned().unwrap_or_default();
        server.address = line
            .split_once("listening on http://")
            .map(|(_, rest)| rest.split('/').next().unwrap_or_default().to_string())
            .unwrap_or_default();
        server
    }

    /// Spawns `command` and reads its stderr until a line contains `marker` (the last line in
    /// `log` then), failing if it exits first or stays silent for 30 s.
    fn spawn_until(mut command: Command, marker: &str) -> Self {
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
                    let found = line.contains(marker);
                    server.log.push(line);
                    if found {
                        // Keep draining stderr so the process never blocks on a full pipe.
                        std::thread::spawn(move || while lines_rx.recv().is_ok() {});
                        return server;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Ok(Some(status)) = server.child.try_wait() {
                        panic!("the process exited with {status}: {:#?}", server.log);
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    panic!("the process closed stderr: {:#?}", server.log)
                }
            }
        }
        panic!(
            "no line containing {marker:?} within 30 s: {:#?}",
            server.log
        );
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

/// G1 at start-up on the real binary: a public address, and a host *name* that resolves to one,
/// stop `serve` with a message naming the host and the rule; loopback and private endpoints
/// start (an LLM that is not there only fails the LLM steps).
#[test]
fn serve_refuses_a_public_llm_endpoint_and_accepts_local_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (output, _, stderr) = run(cyberbrain(dir.path())
        .arg("serve")
        .env("CYBERBRAIN_BIND", "127.0.0.1:0")
        .env("LLM_ENDPOINT", "http://8.8.8.8/v1"));
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("\"8.8.8.8\"") && stderr.contains("public address"),
        "names the host and the rule: {stderr}"
    );
    assert!(
        stderr.contains("loopback") && stderr.contains("llm.allow_hosts"),
        "says what is allowed: {stderr}"
    );

    // Names are resolved: one mapped to a public address (in a private mount namespace whose
    // /etc/hosts says so) is refused like the address itself, a private one is accepted.
    let hosts = dir.path().join("hosts");
    std::fs::write(
        &hosts,
        "127.0.0.1 localhost\n8.8.4.4 llm-public.cyberbrain.test\n10.20.30.40 llm-private.cyberbrain.test\n",
    )
    .unwrap();
    let (output, _, stderr) = run(&mut with_hosts_file(
        &hosts,
        cyberbrain(dir.path())
            .arg("serve")
            .env("CYBERBRAIN_BIND", "127.0.0.1:0")
            .env("LLM_ENDPOINT", "http://llm-public.cyberbrain.test:11434/v1"),
    ));
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("llm-public.cyberbrain.test") && stderr.contains("8.8.4.4"),
        "names the host and where it resolves: {stderr}"
    );

    for endpoint in [
        format!("http://127.0.0.1:{}/v1", closed_port()),
        "http://10.20.30.40:8080/v1".to_string(),
        "http://llm-private.cyberbrain.test:8080/v1".to_string(),
    ] {
        let data = tempfile::tempdir().unwrap();
        let mut command = cyberbrain(dir.path());
        command
            .arg("serve")
            .env("CYBERBRAIN_BIND", "127.0.0.1:0")
            .env("CYBERBRAIN_DATA_DIR", data.path())
            .env("LLM_ENDPOINT", &endpoint);
        let command = if endpoint.contains("cyberbrain.test") {
            with_hosts_file(&hosts, &mut command)
        } else {
            command
        };
        let mut server = Server::start(command);
        let (status, body) = server.get("/api/health");
        assert!(status.contains("200"), "{endpoint}: {status}: {body}");
        let health: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            health["llm"]["state"], "unavailable",
            "{endpoint}: nothing answers there, and health says so: {health}"
        );
        assert!(server.terminate().success(), "{endpoint}");
    }
}

/// `command` run in a private mount namespace whose `/etc/hosts` is `hosts` (needs root, as the
/// test machine has; the host's own file is untouched).
fn with_hosts_file(hosts: &Path, command: &mut Command) -> Command {
    let mut wrapped = Command::new("unshare");
    wrapped
        .args(["--mount", "sh", "-c"])
        .arg(r#"mount --bind "$0" /etc/hosts && exec "$@""#)
        .arg(hosts)
        .arg(command.get_program())
        .args(command.get_args())
        .env_clear();
    for (name, value) in command.get_envs() {
        if let Some(value) = value {
            wrapped.env(name, value);
        }
    }
    if let Some(cwd) = command.get_current_dir() {
        wrapped.current_dir(cwd);
    }
    // Fail with the reason rather than with a confusing assertion later.
    let probe = Command::new("unshare")
        .args(["--mount", "sh", "-c", r#"mount --bind "$0" /etc/hosts"#])
        .arg(hosts)
        .output()
        .expect("unshare (util-linux) must be installed: apt-get install util-linux");
    assert!(
        probe.status.success(),
        "this test needs `unshare --mount` and bind mounts (root): {}",
        String::from_utf8_lossy(&probe.stderr)
    );
    wrapped
}

/// The id of a built-in directive in the SQLite database under `data`.
fn directive_id(data: &Path, name: &str) -> i64 {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        use cyberbrain_core::store::DirectiveStore;
        let url = format!("sqlite://{}", data.join("cyberbrain.db").display());
        let store = cyberbrain_store_sqlite::SqliteStore::connect(&url)
            .await
            .unwrap();
        store.get_directive_by_name(name).await.unwrap().id
    })
}

#[test]
fn run_executes_in_process_prints_the_report_and_exits_by_the_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let command = |args: &[&str]| {
        let mut command = cyberbrain(dir.path());
        command
            .arg("run")
            .args(args)
            .env("CYBERBRAIN_DATA_DIR", &data)
            .env("NVIDIA_SMI", "/nonexistent/nvidia-smi");
        command
    };

    let (output, stdout, stderr) = run(&mut command(&["--task", "task2", "--wait"]));
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.starts_with("# Cyberbrain run 1 — completed"),
        "report.md on stdout: {stdout}"
    );
    assert!(stdout.contains("no_gpus_available"), "{stdout}");
    assert!(stderr.contains("run 1 launched: gpu_report"), "{stderr}");
    let report = data.join("artifacts/run_1/report.md");
    assert_eq!(std::fs::read_to_string(report).unwrap(), stdout);

    // Without --wait: the id on stdout, the run left to an executor.
    let (output, stdout, stderr) = run(&mut command(&["--task", "gpu_report"]));
    assert!(output.status.success(), "{stderr}");
    assert_eq!(stdout.trim(), "2");

    // A directive that requires approval: a clear message and exit 3, nothing executed.
    let d3 = directive_id(&data, "Change Planning").to_string();
    let (output, stdout, stderr) = run(&mut command(&[
        "--task",
        "gpu_report",
        "--directive",
        &d3,
        "--wait",
    ]));
    assert_eq!(output.status.code(), Some(3), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("run 3 awaits approval") && stderr.contains("/api/runs/3/approve/"),
        "{stderr}"
    );
    assert!(stdout.is_empty(), "{stdout}");

    for (args, expected) in [
        (
            &["--task", "nope", "--wait"][..],
            "task \"nope\" does not exist",
        ),
        (&["--directive", "999"][..], "directive 999 does not exist"),
        (&["--task", "gpu_report", "--timeout", "5"][..], "--wait"),
        (
            &["--task", "gpu_report", "--wait", "--timeout", "0"][..],
            "--timeout",
        ),
    ] {
        let (output, _, stderr) = run(&mut command(args));
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

/// Polls `GET /api/runs/{id}/` on `server` until the run's status is `status`.
fn wait_for_status(server: &Server, id: &str, status: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, body) = server.get(&format!("/api/runs/{id}/"));
        let run: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        if run["status"] == status {
            return run;
        }
        assert!(
            Instant::now() < deadline,
            "run {id} never became {status}: {run}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn serve_executes_runs_in_process_unless_told_not_to() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let launch = || {
        let (output, stdout, stderr) = run(cyberbrain(dir.path())
            .args(["run", "--task", "gpu_report"])
            .env("CYBERBRAIN_DATA_DIR", &data));
        assert!(output.status.success(), "{stderr}");
        stdout.trim().to_string()
    };
    let serve = |extra: &[&str]| {
        let mut command = cyberbrain(dir.path());
        command
            .arg("serve")
            .args(extra)
            .env("CYBERBRAIN_BIND", "127.0.0.1:0")
            .env("CYBERBRAIN_DATA_DIR", &data)
            .env("NVIDIA_SMI", "/nonexistent/nvidia-smi");
        Server::start(command)
    };

    let mut server = serve(&["--no-executor"]);
    assert!(
        server.log.iter().any(|l| l.contains("--no-executor")),
        "{:#?}",
        server.log
    );
    let id = launch();
    std::thread::sleep(Duration::from_millis(1500));
    let (_, body) = server.get(&format!("/api/runs/{id}/"));
    assert!(
        body.contains("\"status\":\"pending\""),
        "no executor here: {body}"
    );
    assert!(server.terminate().success());

    // The same pending run is picked up by the next server's own executor.
    let mut server = serve(&[]);
    assert!(
        server
            .log
            .iter()
            .any(|l| l.contains("executing runs in this process")),
        "{:#?}",
        server.log
    );
    let run = wait_for_status(&server, &id, "completed");
    assert_eq!(run["jobs"][0]["status"], "completed", "{run}");
    let id = launch();
    wait_for_status(&server, &id, "completed");
    assert!(
        server.terminate().success(),
        "graceful stop with the executor"
    );
}

#[test]
fn the_scheduler_worker_executes_runs_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut command = cyberbrain(dir.path());
    command
        .arg("scheduler")
        .env("CYBERBRAIN_DATA_DIR", &data)
        .env("NVIDIA_SMI", "/nonexistent/nvidia-smi");
    let mut worker = Server::spawn_until(command, "worker started");

    let (output, stdout, stderr) = run(cyberbrain(dir.path())
        .args(["run", "--task", "gpu_report"])
        .env("CYBERBRAIN_DATA_DIR", &data));
    assert!(output.status.success(), "{stderr}");
    let id: i64 = stdout.trim().parse().unwrap();
    let report = data.join(format!("artifacts/run_{id}/report.md"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !report.is_file() {
        assert!(Instant::now() < deadline, "the worker never ran run {id}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let markdown = std::fs::read_to_string(&report).unwrap();
    assert!(markdown.contains("completed"), "{markdown}");
    assert!(worker.terminate().success(), "graceful stop on SIGTERM");

    // The worker refuses a public LLM endpoint like the server.
    let (output, _, stderr) = run(cyberbrain(dir.path())
        .arg("scheduler")
        .env("CYBERBRAIN_DATA_DIR", &data)
        .env("LLM_ENDPOINT", "http://8.8.8.8/v1"));
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("8.8.8.8"), "{stderr}");
}
