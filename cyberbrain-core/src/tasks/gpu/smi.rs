//! Running `nvidia-smi`: the two CSV queries, binary resolution, a deadline, and the ways it
//! fails that mean "no GPUs here" rather than "the job failed".
//!
//! Core's tokio has no `process` feature, so the queries run with [`std::process`] on a
//! blocking thread ([`tokio::task::spawn_blocking`]) that polls the child against the deadline
//! and kills it when the deadline passes.

use std::ffi::OsStr;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{Gpu, GpuProcess, parse_gpus, parse_processes};
use crate::{Error, Result};

/// The GPU fields queried, in the order [`super::parse_gpus`] reads them.
pub const GPU_FIELDS: &str =
    "index,uuid,name,memory.total,memory.used,utilization.gpu,temperature.gpu,power.draw";
/// The compute-process fields queried, in the order [`super::parse_processes`] reads them.
pub const APPS_FIELDS: &str = "gpu_uuid,pid,used_memory";
/// Arguments of the GPU query: `nvidia-smi --query-gpu=… --format=csv,noheader,nounits`.
pub const GPU_QUERY_ARGS: [&str; 2] = [
    "--query-gpu=index,uuid,name,memory.total,memory.used,utilization.gpu,temperature.gpu,power.draw",
    "--format=csv,noheader,nounits",
];
/// Arguments of the process query: `nvidia-smi --query-compute-apps=… --format=csv,noheader,nounits`.
pub const APPS_QUERY_ARGS: [&str; 2] = [
    "--query-compute-apps=gpu_uuid,pid,used_memory",
    "--format=csv,noheader,nounits",
];
/// A generous default for both queries together: `nvidia-smi` can take seconds on a machine
/// with many GPUs and persistence mode off.
pub const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_secs(30);

/// More output than any real answer (about 100 bytes per GPU or process); beyond it the
/// binary is not `nvidia-smi` or is misbehaving.
const MAX_OUTPUT_BYTES: u64 = 4 * 1024 * 1024;
/// Longest message kept from the tool's own output in a reason or warning.
const MAX_MESSAGE_CHARS: usize = 300;

/// What [`query`] found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum GpuQuery {
    /// At least one GPU.
    Available {
        gpus: Vec<Gpu>,
        processes: Vec<GpuProcess>,
        /// `WARNING:` lines the tool printed, and a failed process query (the GPUs are still
        /// reported; the processes are then empty).
        warnings: Vec<String>,
    },
    /// No GPU to report, and why (the report's `no_gpus_available`). Not an error: the job
    /// completes with this reason.
    Unavailable { reason: String },
}

impl GpuQuery {
    /// Whether any compute process was listed, i.e. whether container details are worth
    /// fetching for [`super::attribute_processes`].
    pub fn has_processes(&self) -> bool {
        matches!(self, Self::Available { processes, .. } if !processes.is_empty())
    }

    fn unavailable(reason: impl Into<String>) -> Self {
        Self::Unavailable {
            reason: reason.into(),
        }
    }
}

/// Runs the GPU query and then the process query with `nvidia_smi` (a bare name looked up on
/// `PATH`, or a path), both within `timeout` together.
///
/// [`GpuQuery::Unavailable`] (not an error) when the binary is missing or cannot be run, when
/// the GPU query exits non-zero (driver not loaded, NVML version mismatch, no devices), when it
/// does not finish in time, or when it lists no GPU. A failing process query only adds a
/// warning. `Err` ([`Error::Backend`]) when the GPU query succeeds but its output cannot be
/// parsed — that is a bug or an unknown `nvidia-smi`, and should fail loudly.
pub async fn query(nvidia_smi: &str, timeout: Duration) -> Result<GpuQuery> {
    let nvidia_smi = nvidia_smi.trim().to_string();
    let path_var = std::env::var_os("PATH");
    tokio::task::spawn_blocking(move || query_blocking(&nvidia_smi, path_var.as_deref(), timeout))
        .await
        .map_err(|e| Error::backend_with("the nvidia-smi query thread failed", e))?
}

fn query_blocking(
    nvidia_smi: &str,
    path_var: Option<&OsStr>,
    timeout: Duration,
) -> Result<GpuQuery> {
    let now = Instant::now();
    // A timeout too large to add (e.g. `Duration::MAX`) means "no practical limit".
    let deadline = now
        .checked_add(timeout)
        .unwrap_or_else(|| now + Duration::from_secs(365 * 24 * 3600));
    let Some(program) = resolve_binary_in(nvidia_smi, path_var) else {
        return Ok(GpuQuery::unavailable(not_found_reason(nvidia_smi)));
    };

    let (stdout, mut warnings) = match run(&program, &GPU_QUERY_ARGS, deadline) {
        Outcome::Exited {
            status,
            stdout,
            stderr,
        } if status.success() => {
            // Some versions print this and still exit 0.
            if let Some(line) = find_line(&stdout, "No devices were found") {
                return Ok(GpuQuery::unavailable(format!("no GPUs reported: {line}")));
            }
            let mut warnings = warning_lines(&stdout);
            warnings.extend(warning_lines(&stderr));
            (stdout, warnings)
        }
        other => {
            return Ok(GpuQuery::unavailable(
                other.failure_reason(nvidia_smi, timeout),
            ));
        }
    };
    let gpus = parse_gpus(&stdout)?;
    if gpus.is_empty() {
        return Ok(GpuQuery::unavailable("no GPUs reported"));
    }

    let processes = match run(&program, &APPS_QUERY_ARGS, deadline) {
        Outcome::Exited {
            status,
            stdout,
            stderr,
        } if status.success() => {
            warnings.extend(warning_lines(&stderr));
            match parse_processes(&stdout) {
                Ok(processes) => processes,
                Err(e) => {
                    warnings.push(format!(
                        "compute processes are not listed: {}",
                        cut(&e.to_string())
                    ));
                    Vec::new()
                }
            }
        }
        other => {
            warnings.push(format!(
                "compute processes are not listed: {}",
                other.failure_reason(nvidia_smi, timeout)
            ));
            Vec::new()
        }
    };
    warnings.dedup();
    Ok(GpuQuery::Available {
        gpus,
        processes,
        warnings,
    })
}

/// Where `name` runs from: a name containing `/` is a path (absolute, or relative to the
/// working directory) that must exist; a bare name is looked up in the process's `PATH` like
/// the shell does (the first executable file). `None` when there is no such file.
pub fn resolve_binary(name: &str) -> Option<PathBuf> {
    resolve_binary_in(name, std::env::var_os("PATH").as_deref())
}

/// [`resolve_binary`] with an explicit `PATH` value (`None`: no `PATH`, bare names resolve to
/// nothing).
pub fn resolve_binary_in(name: &str, path_var: Option<&OsStr>) -> Option<PathBuf> {
    let name = name.trim();
    if name.is_empty() {
        return None;
    }
    if name.contains('/') {
        let path = PathBuf::from(name);
        return path.is_file().then_some(path);
    }
    std::env::split_paths(path_var?)
        // An empty PATH entry means the working directory, a classic hijack: skip it.
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable_file(candidate))
}

fn is_executable_file(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn not_found_reason(nvidia_smi: &str) -> String {
    if nvidia_smi.is_empty() {
        "nvidia-smi is not configured: NVIDIA_SMI is empty (set it to the binary's name or path)"
            .into()
    } else if nvidia_smi.contains('/') {
        format!(
            "nvidia-smi not found: no file at {nvidia_smi} (install the NVIDIA driver utilities \
             or set NVIDIA_SMI to the binary's path)"
        )
    } else {
        format!(
            "nvidia-smi not found: no executable {nvidia_smi} on PATH (install the NVIDIA driver \
             utilities or set NVIDIA_SMI to the binary's path)"
        )
    }
}

/// How one run of the tool ended.
#[derive(Debug)]
enum Outcome {
    Exited {
        status: ExitStatus,
        stdout: String,
        stderr: String,
    },
    TimedOut,
    /// Could not be started, or waiting for it failed.
    Failed(io::Error),
    /// Printed more than [`MAX_OUTPUT_BYTES`].
    TooMuchOutput,
}

impl Outcome {
    /// Why this run gave no usable answer, for the report.
    fn failure_reason(&self, nvidia_smi: &str, timeout: Duration) -> String {
        match self {
            Self::Exited {
                status,
                stdout,
                stderr,
            } => {
                let exit = match status.code() {
                    Some(code) => format!("nvidia-smi exited with status {code}"),
                    None => "nvidia-smi was killed by a signal".to_string(),
                };
                if let Some(line) = find_line(stdout, "No devices were found") {
                    return format!("no GPUs reported: {line} ({exit})");
                }
                // nvidia-smi writes its errors to stdout; look there first.
                match first_line(stdout).or_else(|| first_line(stderr)) {
                    Some(message) => format!("{message} ({exit})"),
                    None => format!("{exit} without a message"),
                }
            }
            Self::TimedOut => format!(
                "nvidia-smi did not answer within {:.1} s and was stopped",
                timeout.as_secs_f64()
            ),
            Self::Failed(e) if e.kind() == io::ErrorKind::PermissionDenied => format!(
                "cannot run {nvidia_smi}: permission denied (make it executable or set \
                 NVIDIA_SMI to the nvidia-smi binary)"
            ),
            Self::Failed(e) if e.kind() == io::ErrorKind::NotFound => not_found_reason(nvidia_smi),
            Self::Failed(e) => format!("cannot run {nvidia_smi}: {e}"),
            Self::TooMuchOutput => format!(
                "{nvidia_smi} printed more than {} MiB, which is not nvidia-smi's CSV output",
                MAX_OUTPUT_BYTES / (1024 * 1024)
            ),
        }
    }
}

/// Runs `program args` with stdin closed, capturing stdout and stderr, until it exits or the
/// deadline passes (then it is killed).
fn run(program: &Path, args: &[&str], deadline: Instant) -> Outcome {
    let mut child = match Command::new(program)
        .args(args)
        // A locale with decimal commas would turn `69.84` into `69,84` and break the CSV.
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => return Outcome::Failed(e),
    };
    // Read both pipes on their own threads so a chatty child never blocks on a full pipe.
    let stdout = capture(child.stdout.take());
    let stderr = capture(child.stderr.take());

    let mut pause = Duration::from_millis(1);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => {
                stop(&mut child);
                return Outcome::Failed(e);
            }
        }
        let now = Instant::now();
        if now >= deadline {
            stop(&mut child);
            // The reader threads end when the pipes close; a grandchild holding them open
            // must not hold this thread, so they are not waited for.
            return Outcome::TimedOut;
        }
        thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(25));
    };

    // The child has exited; its output is complete once every holder of the pipes closed them.
    let mut texts = Vec::with_capacity(2);
    for receiver in [stdout, stderr] {
        let wait = deadline.saturating_duration_since(Instant::now());
        match receiver.recv_timeout(wait) {
            Ok(Captured::Text(text)) => texts.push(text),
            Ok(Captured::TooLarge) => return Outcome::TooMuchOutput,
            Ok(Captured::Failed(e)) => return Outcome::Failed(e),
            Err(mpsc::RecvTimeoutError::Timeout) => return Outcome::TimedOut,
            // The thread could not be started or died: nothing was read.
            Err(mpsc::RecvTimeoutError::Disconnected) => texts.push(String::new()),
        }
    }
    let stderr = texts.pop().unwrap_or_default();
    let stdout = texts.pop().unwrap_or_default();
    Outcome::Exited {
        status,
        stdout,
        stderr,
    }
}

fn stop(child: &mut std::process::Child) {
    // Already exited is fine; reap it either way so no zombie is left.
    let _ = child.kill();
    let _ = child.wait();
}

/// What a reader thread got from one pipe.
enum Captured {
    Text(String),
    TooLarge,
    Failed(io::Error),
}

/// Reads `pipe` to its end on a new thread, keeping at most [`MAX_OUTPUT_BYTES`] (the rest is
/// drained so the child is never stuck writing).
fn capture(pipe: Option<impl Read + Send + 'static>) -> mpsc::Receiver<Captured> {
    let (sender, receiver) = mpsc::channel();
    let Some(pipe) = pipe else {
        let _ = sender.send(Captured::Text(String::new()));
        return receiver;
    };
    let reader = move || {
        let mut pipe = pipe;
        let mut bytes = Vec::new();
        let captured = match (&mut pipe).take(MAX_OUTPUT_BYTES).read_to_end(&mut bytes) {
            Err(e) => Captured::Failed(e),
            Ok(_) if bytes.len() as u64 >= MAX_OUTPUT_BYTES => {
                let _ = io::copy(&mut pipe, &mut io::sink());
                Captured::TooLarge
            }
            Ok(_) => Captured::Text(String::from_utf8_lossy(&bytes).into_owned()),
        };
        let _ = sender.send(captured);
    };
    // If no thread can be started the sender is dropped with the closure: the receiver sees
    // `Disconnected` and the output counts as empty.
    let _ = thread::Builder::new()
        .name("nvidia-smi-pipe".into())
        .spawn(reader);
    receiver
}

/// The first non-empty line, trimmed and cut to [`MAX_MESSAGE_CHARS`].
fn first_line(text: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .map(cut)
}

/// The first line containing `needle`, trimmed and cut.
fn find_line(text: &str, needle: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .find(|line| line.contains(needle))
        .map(cut)
}

/// The tool's `WARNING:` lines, trimmed and cut.
fn warning_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|line| line.starts_with("WARNING"))
        .map(cut)
        .collect()
}

fn cut(text: &str) -> String {
    let mut chars = text.chars();
    let mut kept: String = chars.by_ref().take(MAX_MESSAGE_CHARS).collect();
    if chars.next().is_some() {
        kept.push('…');
    }
    kept
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{PermissionsExt, symlink};

    use super::*;

    /// `PATH` for tests: `dirs` joined.
    fn path_of(dirs: &[&Path]) -> std::ffi::OsString {
        std::env::join_paths(dirs).expect("test dirs contain no separator")
    }

    /// The fake `nvidia-smi` script (see its header for the scenarios).
    fn fake_script() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gpu/nvidia-smi")
    }

    /// A `nvidia-smi.<scenario>` symlink to the fake script in a fresh directory; the script
    /// picks its scenario from that name. Symlinks rather than written scripts: executing a
    /// file just written races with other test threads' forks (`ETXTBSY`).
    fn fake(scenario: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join(format!("nvidia-smi.{scenario}"));
        symlink(fake_script(), &link).unwrap();
        (dir, link)
    }

    async fn query_fake(scenario: &str, timeout: Duration) -> Result<GpuQuery> {
        let (_dir, link) = fake(scenario);
        query(link.to_str().unwrap(), timeout).await
    }

    fn reason(result: Result<GpuQuery>) -> String {
        match result {
            Ok(GpuQuery::Unavailable { reason }) => reason,
            other => panic!("expected Unavailable, got {other:?}"),
        }
    }

    #[test]
    fn arguments_are_the_documented_queries() {
        assert_eq!(GPU_QUERY_ARGS[0], format!("--query-gpu={GPU_FIELDS}"));
        assert_eq!(
            APPS_QUERY_ARGS[0],
            format!("--query-compute-apps={APPS_FIELDS}")
        );
        assert_eq!(GPU_QUERY_ARGS[1], "--format=csv,noheader,nounits");
        assert_eq!(APPS_QUERY_ARGS[1], "--format=csv,noheader,nounits");
        assert_eq!(GPU_FIELDS.split(',').count(), 8);
        assert_eq!(APPS_FIELDS.split(',').count(), 3);
    }

    #[test]
    fn the_fake_script_is_executable() {
        let mode = fake_script().metadata().unwrap().permissions().mode();
        assert_ne!(mode & 0o111, 0, "chmod +x tests/fixtures/gpu/nvidia-smi");
    }

    #[tokio::test]
    async fn runs_the_fake_binary_by_path() {
        let result = query(fake_script().to_str().unwrap(), DEFAULT_QUERY_TIMEOUT)
            .await
            .unwrap();
        let GpuQuery::Available {
            gpus,
            processes,
            warnings,
        } = result
        else {
            panic!("expected GPUs, got {result:?}");
        };
        assert_eq!(gpus.len(), 1);
        assert_eq!(gpus[0].name, "NVIDIA H100 80GB HBM3");
        assert_eq!(gpus[0].memory_total_mib, Some(81559));
        assert!(processes.is_empty());
        assert!(warnings.is_empty(), "{warnings:?}");
    }

    #[tokio::test]
    async fn busy_a100s_with_processes() {
        let result = query_fake("a100x8-busy", DEFAULT_QUERY_TIMEOUT)
            .await
            .unwrap();
        assert!(result.has_processes());
        let GpuQuery::Available {
            gpus, processes, ..
        } = result
        else {
            panic!("expected GPUs");
        };
        assert_eq!(gpus.len(), 8);
        assert_eq!(processes.len(), 10);
    }

    #[tokio::test]
    async fn mixed_na_and_inforom_warning() {
        let GpuQuery::Available { gpus, .. } =
            query_fake("mixed-na", DEFAULT_QUERY_TIMEOUT).await.unwrap()
        else {
            panic!("expected GPUs");
        };
        assert_eq!(gpus[0].power_draw_w, None);

        let GpuQuery::Available { gpus, warnings, .. } =
            query_fake("inforom-warning", DEFAULT_QUERY_TIMEOUT)
                .await
                .unwrap()
        else {
            panic!("expected GPUs");
        };
        assert_eq!(gpus.len(), 1);
        assert_eq!(
            warnings,
            ["WARNING: infoROM is corrupted at gpu 0000:01:00.0"]
        );
    }

    #[tokio::test]
    async fn found_by_bare_name_on_path() {
        let dir = tempfile::tempdir().unwrap();
        symlink(fake_script(), dir.path().join("nvidia-smi")).unwrap();
        let empty = tempfile::tempdir().unwrap();
        let path = path_of(&[Path::new("/nonexistent-dir"), empty.path(), dir.path()]);
        assert_eq!(
            resolve_binary_in("nvidia-smi", Some(&path)),
            Some(dir.path().join("nvidia-smi"))
        );
        let result = query_blocking("nvidia-smi", Some(&path), DEFAULT_QUERY_TIMEOUT).unwrap();
        assert!(matches!(result, GpuQuery::Available { .. }), "{result:?}");
    }

    #[test]
    fn resolution_rules() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("nvidia-smi");
        std::fs::write(&plain, "not executable").unwrap();
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
        let path = path_of(&[dir.path()]);
        // A bare name needs an executable file, like the shell's lookup.
        assert_eq!(resolve_binary_in("nvidia-smi", Some(&path)), None);
        // A path only needs to exist: running it then reports the permission problem.
        assert_eq!(
            resolve_binary_in(plain.to_str().unwrap(), Some(&path)),
            Some(plain.clone())
        );
        assert_eq!(resolve_binary_in("", Some(&path)), None);
        assert_eq!(resolve_binary_in("  ", Some(&path)), None);
        assert_eq!(resolve_binary_in("nvidia-smi", None), None);
        // An empty PATH entry is not the working directory here.
        assert_eq!(resolve_binary_in("Cargo.toml", Some(OsStr::new(":"))), None);
        // A directory is not a binary.
        assert_eq!(resolve_binary_in(dir.path().to_str().unwrap(), None), None);
        assert!(resolve_binary("sh").is_some(), "sh is on PATH");
    }

    #[tokio::test]
    async fn an_enormous_timeout_is_no_limit() {
        let result = query_fake("h100-idle", Duration::MAX).await.unwrap();
        assert!(matches!(result, GpuQuery::Available { .. }), "{result:?}");
    }

    #[tokio::test]
    async fn missing_binary_is_unavailable_not_an_error() {
        let on_path = reason(query("nvidia-smi-does-not-exist-here", Duration::from_secs(5)).await);
        assert!(on_path.starts_with("nvidia-smi not found"), "{on_path}");
        assert!(
            on_path.contains("not on PATH") || on_path.contains("on PATH"),
            "{on_path}"
        );
        assert!(on_path.contains("NVIDIA_SMI"), "{on_path}");

        let by_path = reason(query("/nonexistent/bin/nvidia-smi", Duration::from_secs(5)).await);
        assert!(
            by_path.contains("no file at /nonexistent/bin/nvidia-smi"),
            "{by_path}"
        );

        let empty = reason(query("", Duration::from_secs(5)).await);
        assert!(empty.contains("NVIDIA_SMI is empty"), "{empty}");
    }

    #[tokio::test]
    async fn a_file_that_cannot_run_is_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("nvidia-smi");
        std::fs::write(&plain, "not executable").unwrap();
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
        let why = reason(query(plain.to_str().unwrap(), Duration::from_secs(5)).await);
        assert!(why.contains("permission denied"), "{why}");
    }

    #[tokio::test]
    async fn driver_failure_is_unavailable_with_the_message() {
        let why = reason(query_fake("driver-failure", DEFAULT_QUERY_TIMEOUT).await);
        assert_eq!(
            why,
            "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make \
             sure that the latest NVIDIA driver is installed and running. (nvidia-smi exited \
             with status 9)"
        );
        let why = reason(query_fake("nvml-mismatch", DEFAULT_QUERY_TIMEOUT).await);
        assert_eq!(
            why,
            "Failed to initialize NVML: Driver/library version mismatch (nvidia-smi exited with \
             status 18)"
        );
    }

    #[tokio::test]
    async fn no_gpus_is_unavailable() {
        let why = reason(query_fake("no-devices", DEFAULT_QUERY_TIMEOUT).await);
        assert_eq!(
            why,
            "no GPUs reported: No devices were found (nvidia-smi exited with status 6)"
        );
        let why = reason(query_fake("empty", DEFAULT_QUERY_TIMEOUT).await);
        assert_eq!(why, "no GPUs reported");
    }

    #[tokio::test]
    async fn a_hanging_binary_is_stopped_at_the_deadline() {
        let started = Instant::now();
        let why = reason(query_fake("slow", Duration::from_millis(500)).await);
        let took = started.elapsed();
        assert!(why.contains("did not answer within 0.5 s"), "{why}");
        // The script's `sleep` keeps the pipes open after the shell is killed; the query must
        // not wait for it.
        assert!(took < Duration::from_secs(5), "took {took:?}");
        assert!(took >= Duration::from_millis(450), "took {took:?}");
    }

    #[tokio::test]
    async fn a_failing_process_query_keeps_the_gpus() {
        let GpuQuery::Available {
            gpus,
            processes,
            warnings,
        } = query_fake("apps-fail", DEFAULT_QUERY_TIMEOUT)
            .await
            .unwrap()
        else {
            panic!("expected GPUs");
        };
        assert_eq!(gpus.len(), 1);
        assert!(processes.is_empty());
        assert_eq!(
            warnings,
            [
                "compute processes are not listed: Failed to initialize NVML: Unknown Error \
              (nvidia-smi exited with status 255)"
            ]
        );

        let GpuQuery::Available { warnings, .. } =
            query_fake("apps-slow", Duration::from_millis(1500))
                .await
                .unwrap()
        else {
            panic!("expected GPUs");
        };
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("did not answer"), "{warnings:?}");
    }

    #[tokio::test]
    async fn malformed_gpu_output_is_a_backend_error() {
        let error = query_fake("malformed", DEFAULT_QUERY_TIMEOUT)
            .await
            .unwrap_err();
        assert!(matches!(error, Error::Backend { .. }), "{error:?}");
        assert!(error.to_string().contains("line 2"), "{error}");
    }

    #[tokio::test]
    async fn wrong_arguments_are_refused_by_the_fake() {
        // Guards the fake itself: it answers only the exact documented invocations, so the
        // tests above prove `query` passes exactly those.
        let output = Command::new(fake_script())
            .args(["--query-gpu=index", "--format=csv"])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2));
    }

    #[test]
    fn output_limits_and_message_cuts() {
        assert_eq!(cut("short"), "short");
        let long = "é".repeat(MAX_MESSAGE_CHARS + 5);
        let kept = cut(&long);
        assert_eq!(kept.chars().count(), MAX_MESSAGE_CHARS + 1);
        assert!(kept.ends_with('…'));
        assert_eq!(first_line("\n  \n  first \nsecond"), Some("first".into()));
        assert_eq!(first_line(" \n"), None);
        assert_eq!(
            warning_lines("WARNING: a\nx\n  WARNING: b  \n"),
            ["WARNING: a", "WARNING: b"]
        );
    }

    #[test]
    fn huge_output_is_refused() {
        let outcome = run(
            Path::new("/bin/sh"),
            &["-c", "head -c 5000000 /dev/zero"],
            Instant::now() + Duration::from_secs(20),
        );
        assert!(matches!(outcome, Outcome::TooMuchOutput), "{outcome:?}");
        assert!(
            outcome
                .failure_reason("x", Duration::from_secs(1))
                .contains("more than 4 MiB")
        );
    }

    #[test]
    fn killed_by_a_signal_is_described() {
        let outcome = run(
            Path::new("/bin/sh"),
            &["-c", "kill -KILL $$"],
            Instant::now() + Duration::from_secs(20),
        );
        assert_eq!(
            outcome.failure_reason("nvidia-smi", Duration::from_secs(1)),
            "nvidia-smi was killed by a signal without a message"
        );
    }
}
