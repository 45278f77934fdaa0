//! Process logs: `RUST_LOG` filters (default `info`), everything goes to stderr, and every line
//! passes through G6 redaction while redacted mode is on.
//!
//! Logging starts before the configuration is read (so configuration errors can be logged), and
//! redaction is on until the configuration says otherwise: a secret can never slip out in the
//! window between the two.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use cyberbrain_core::guardrails::redaction::redact_if;
use tracing_subscriber::fmt::MakeWriter;

/// Whether log lines are redacted; `DEBUG_REDACTED_MODE` (default on) sets it once loaded.
static REDACTED_MODE: AtomicBool = AtomicBool::new(true);

/// Installs the subscriber. A second call (tests run commands in one process) is ignored.
pub(crate) fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only for a person at a terminal; log files and pipes get plain text.
    let ansi = io::IsTerminal::is_terminal(&io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(RedactingStderr)
        .with_ansi(ansi)
        .with_target(false)
        .try_init();
}

/// Applies the configured redacted mode (G6) to every later log line.
pub(crate) fn set_redacted_mode(on: bool) {
    REDACTED_MODE.store(on, Ordering::Relaxed);
}

/// Hands the formatter a writer that redacts what it is given before it reaches stderr.
struct RedactingStderr;

impl<'a> MakeWriter<'a> for RedactingStderr {
    type Writer = RedactingWriter;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter
    }
}

/// The formatter writes one whole event per `write` call, so each call is one unit to redact.
struct RedactingWriter;

impl Write for RedactingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let redacted = redact_if(REDACTED_MODE.load(Ordering::Relaxed), &text);
        io::stderr().lock().write_all(redacted.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}
