//! A real `cyberbrain serve` process, owned by a guard that kills it on drop.

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::components;

/// Which store the server runs on: the embedded default, or Postgres (`DATABASE_URL` naming a
/// fresh schema on the cluster `CYBERBRAIN_TEST_PG_URL` points at; dropped after the test).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// How long a debug build may take to migrate a fresh database and start listening.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// A running server. Dropping it kills the process; a test that panics also gets the server's
/// log printed, so the failure shows both sides.
#[derive(Debug)]
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    log_path: PathBuf,
    // Held so the directory outlives the process; removed on drop.
    _temp: Option<TempDir>,
    // Held so the schema outlives the process; dropped (after the process is killed) on drop.
    _schema: Option<cyberbrain_store_pg::testing::TestSchema>,
}

impl Server {
    /// `cyberbrain serve` on a free loopback port with a fresh data directory, and nothing else
    /// from the environment (no `DATABASE_URL`, no `cyberbrain.toml`).
    pub async fn start() -> Server {
        Server::start_on(Backend::Sqlite, None).await
    }

    /// Like [`Server::start`] on `backend`, with `cyberbrain.toml` in the working directory
    /// holding `config_toml` (the file the server looks for when no `--config` is given).
    pub async fn start_on(backend: Backend, config_toml: Option<&str>) -> Server {
        let schema = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(cyberbrain_store_pg::testing::TestSchema::create().await),
        };
        let temp = tempfile::tempdir().expect("create a temp dir for the server");
        if let Some(config_toml) = config_toml {
            std::fs::write(temp.path().join("cyberbrain.toml"), config_toml)
                .expect("write cyberbrain.toml");
        }
        // Another test may take the free port between our probe and the server's bind: retry.
        let mut last_log = String::new();
        for _attempt in 0..3 {
            let addr = free_port();
            let data_dir = temp.path().join("data");
            let mut command = base_command(temp.path());
            command
                .env("CYBERBRAIN_BIND", addr.to_string())
                .env("CYBERBRAIN_DATA_DIR", &data_dir);
            if let Some(schema) = &schema {
                command.env("DATABASE_URL", schema.url());
            }
            let log_path = temp.path().join(format!("server-{}.log", addr.port()));
            match Server::spawn(command, addr, log_path).await {
                Ok(mut server) => {
                    server._temp = Some(temp);
                    server._schema = schema;
                    return server;
                }
                Err(log) if log.contains("in use") || log.contains("AddrInUse") => last_log = log,
                Err(log) => panic!("cyberbrain serve did not become healthy:\n{log}"),
            }
        }
        panic!("cyberbrain serve could not bind a free port in 3 attempts:\n{last_log}")
    }

    /// `cyberbrain serve` with no configuration at all: working directory `work_dir`, only
    /// `PATH` and `HOME` set, so it must fall back to 127.0.0.1:9595 and `./cyberbrain-data/`.
    pub async fn start_unconfigured(work_dir: &Path, home: &Path) -> Result<Server, String> {
        let addr: SocketAddr = "127.0.0.1:9595".parse().expect("literal address");
        let mut command = base_command(work_dir);
        command.env("HOME", home);
        let log_path = home.join("server.log");
        Server::spawn(command, addr, log_path).await
    }

    async fn spawn(
        mut command: Command,
        addr: SocketAddr,
        log_path: PathBuf,
    ) -> Result<Server, String> {
        let log = File::create(&log_path).expect("create the server log file");
        let child = command
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log file handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {:?}: {e}", command.get_program()));
        let mut server = Server {
            child,
            addr,
            log_path,
            _temp: None,
            _schema: None,
        };
        server.wait_until_healthy().await?;
        Ok(server)
    }

    /// Polls `GET /api/health` until the server answers; fails early if the process exits.
    async fn wait_until_healthy(&mut self) -> Result<(), String> {
        let client = crate::http::client();
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "the server exited with {status} before answering\n{}",
                    self.log()
                ));
            }
            // Any answer means it is listening; the tests assert on the health payload itself.
            if client.get(self.url("/api/health")).send().await.is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "/api/health did not answer within {STARTUP_TIMEOUT:?}\n{}",
                    self.log()
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// An absolute URL for a path on this server.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The server's `CYBERBRAIN_DATA_DIR` (database, artifacts) when it was started with one.
    pub fn data_dir(&self) -> PathBuf {
        self._temp
            .as_ref()
            .map(|temp| temp.path().join("data"))
            .unwrap_or_else(|| PathBuf::from("cyberbrain-data"))
    }

    /// Everything the server printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path)
            .unwrap_or_else(|e| format!("<no log at {}: {e}>", self.log_path.display()))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "---- cyberbrain serve log ({}) ----\n{}",
                self.addr,
                self.log()
            );
        }
    }
}

/// The server binary with an empty environment but for `PATH` (so no developer's
/// `DATABASE_URL` or `CYBERBRAIN_*` leaks in), running in `work_dir`.
fn base_command(work_dir: &Path) -> Command {
    let mut command = Command::new(components::cyberbrain_bin());
    command.env_clear().current_dir(work_dir);
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    command.env("HOME", work_dir);
    // The real embedding model, when installed, so uploads are ingested and search answers.
    if let Some(models) = std::env::var_os("CYBERBRAIN_MODELS_DIR") {
        command.env("CYBERBRAIN_MODELS_DIR", models);
    }
    command
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("bind an ephemeral loopback port")
}
