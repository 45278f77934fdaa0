//! From lines to events: one line is usually one event, but some events span lines and are folded
//! into one, so that a 40-line stack trace counts once and is templated by what matters.
//!
//! | block | starts with | folds | message | severity |
//! |---|---|---|---|---|
//! | Python traceback | `Traceback (most recent call last):` | indented frames, the final `SomeError: msg` line, chained tracebacks (`During handling of the above exception…`) | the last exception line | exception |
//! | Java stack trace | `Exception in thread "…" X: msg`, or any line followed by `\tat …(…)` | `at` frames, `... N more`, `Caused by:`, `Suppressed:` | the header line | exception |
//! | Rust panic | `thread '…' panicked at …` | the message line of Rust ≥ 1.73, `note: run with RUST_BACKTRACE`, backtrace frames | header and message | fatal |
//! | Go panic | `panic: …` | `[signal …]`, `goroutine N [...]:`, function and indented location lines | the panic line | fatal |
//! | journal export record (`journalctl -o export`) | `__CURSOR=` | `KEY=value` fields up to the blank line | `[severity] IDENTIFIER: MESSAGE` | from `PRIORITY` |
//!
//! Single lines: JSON objects (`{"level":"error","msg":…}`, pino, Docker's json-file format, `journalctl -o
//! json`) are read by key; everything else is classified by [`classify_line`]. Docker/CRI
//! timestamp prefixes (`2024-05-01T12:00:00.123Z [stdout F] `) and syslog prefixes
//! (`May  1 12:00:00 host app[42]: `) are looked through when recognising blocks, so traces in
//! `docker logs --timestamps` and journal output fold too.
//!
//! Lines are sanitised first: ANSI colour sequences are removed, other control characters become
//! U+FFFD, and a line longer than the limit is cut with an explicit `…[shortened N chars]` marker.
//! A line of four or more characters of which at least a quarter are U+FFFD is binary data and
//! becomes the single template `<binary data>`.

use std::borrow::Cow;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use regex::Regex;
use serde_json::{Map, Value};

use super::severity::{Severity, classify_line};
use super::timestamp::{from_epoch, from_epoch_integer, from_epoch_text, parse_timestamp};

/// Lines longer than this many characters are shortened before analysis (with a marker).
pub const DEFAULT_MAX_LINE_CHARS: usize = 2048;

/// A folded block ends after this many lines, so one runaway block cannot swallow a log.
const MAX_BLOCK_LINES: u32 = 1000;

/// The message of binary garbage.
pub const BINARY_MESSAGE: &str = "<binary data>";

/// One event: a line, or a block of lines folded into one.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEvent {
    pub severity: Severity,
    /// The one line the template is mined from.
    pub message: String,
    /// A one-line example for reports: the raw line, or for a trace the exception with its most
    /// telling frame. Not redacted here.
    pub example: String,
    pub timestamp: Option<DateTime<Utc>>,
    /// How many input lines the event spans (blank lines inside a block included).
    pub lines: u32,
}

/// Folds a source's lines into events (all at once; [`EventAssembler`] streams).
pub fn fold_events<I, S>(lines: I) -> Vec<LogEvent>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut assembler = EventAssembler::new(DEFAULT_MAX_LINE_CHARS);
    for line in lines {
        assembler.push(line.as_ref());
    }
    assembler.finish();
    assembler.take_events()
}

fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).expect("event pattern compiles")
}

static ANSI: LazyLock<Regex> = LazyLock::new(|| {
    regex(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
});

static DOCKER_PREFIX: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2}) (?:(?:stdout|stderr) [FP] )?",
    )
});

static SYSLOG_PREFIX: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"^(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ \d]\d \d{2}:\d{2}:\d{2} \S+ [^\s:\[]+(?:\[\d+\])?: ",
    )
});

static PY_EXCEPTION_LINE: LazyLock<Regex> =
    LazyLock::new(|| regex(r"^[A-Za-z_][\w.]*(?::(?:\s.*)?)?$"));

static JAVA_HEADER: LazyLock<Regex> = LazyLock::new(|| regex(r#"^Exception in thread "[^"]*" \S"#));

static JAVA_FRAME: LazyLock<Regex> = LazyLock::new(|| regex(r"^\s+at [\w$.<>/\[\]-]+\("));

static JAVA_CONTINUATION: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"^\s+at \S|^\s*\.\.\. \d+ (?:more|common frames omitted)|^\s*Caused by: |^\s+Suppressed: ",
    )
});

static RUST_PANIC: LazyLock<Regex> =
    LazyLock::new(|| regex(r"^thread '[^']*' (?:\(\d+\) )?panicked at "));

static RUST_CONTINUATION: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"^note: (?:run with `RUST_BACKTRACE|Some details are omitted)|^stack backtrace:|^\s+\d+: |^\s+at ",
    )
});

static GO_PANIC: LazyLock<Regex> = LazyLock::new(|| regex(r"^panic: "));

static GO_CONTINUATION: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"^\[signal |^goroutine \d+ \[|^\s|^created by |^exit status \d+$|^[\w./*()\[\]{}-]+\(.*\)$",
    )
});

static JOURNAL_FIELD: LazyLock<Regex> =
    LazyLock::new(|| regex(r"^(?P<key>[A-Z0-9_]+)=(?P<value>.*)$"));

static JOURNAL_BINARY_FIELD: LazyLock<Regex> = LazyLock::new(|| regex(r"^[A-Z0-9_]+$"));

#[derive(Debug)]
enum PythonPhase {
    Frames,
    AfterException,
    ExpectTraceback,
}

#[derive(Debug)]
enum Block {
    Plain,
    Python(PythonPhase),
    Java,
    Rust {
        awaiting_message: bool,
    },
    Go,
    Journal {
        fields: Map<String, Value>,
        skip_binary: bool,
    },
}

#[derive(Debug)]
struct Pending {
    block: Block,
    severity: Severity,
    message: String,
    first_line: String,
    /// The frame quoted in the example (last Python frame, first Java/Go frame).
    frame: Option<String>,
    timestamp: Option<DateTime<Utc>>,
    lines: u32,
}

enum Step {
    /// The line belongs to the pending block.
    Folded,
    /// The block is complete and the line starts something new.
    Ended,
    /// The block is complete and the line (a record separator) is used up.
    EndedConsumed,
}

/// Streams lines of one source into [`LogEvent`]s. Feed every line with [`push`](Self::push),
/// call [`finish`](Self::finish) at the end of the source, collect with
/// [`take_events`](Self::take_events) at any point.
#[derive(Debug)]
pub struct EventAssembler {
    max_line_chars: usize,
    pending: Option<Pending>,
    events: Vec<LogEvent>,
    shortened_lines: u64,
}

impl EventAssembler {
    pub fn new(max_line_chars: usize) -> Self {
        Self {
            max_line_chars: max_line_chars.max(1),
            pending: None,
            events: Vec::new(),
            shortened_lines: 0,
        }
    }

    /// Lines that were longer than the limit and shortened with a marker.
    pub fn shortened_lines(&self) -> u64 {
        self.shortened_lines
    }

    /// The events completed so far.
    pub fn take_events(&mut self) -> Vec<LogEvent> {
        std::mem::take(&mut self.events)
    }

    /// Ends the source: a pending block is complete.
    pub fn finish(&mut self) {
        self.flush();
    }

    pub fn push(&mut self, raw: &str) {
        let sanitized = sanitize(raw);
        let (line, shortened) = shorten(&sanitized, self.max_line_chars);
        if shortened {
            self.shortened_lines += 1;
        }
        let line = unwrap_docker_json(&line).unwrap_or(line);
        let body = strip_prefix(&line);
        if let Some(pending) = self.pending.as_mut() {
            match pending.step(&line, body) {
                Step::Folded => return,
                Step::EndedConsumed => {
                    self.flush();
                    return;
                }
                Step::Ended => self.flush(),
            }
        }
        self.start(&line, body);
    }

    fn flush(&mut self) {
        if let Some(pending) = self.pending.take() {
            self.events.push(pending.into_event());
        }
    }

    fn start(&mut self, line: &str, body: &str) {
        let trimmed = body.trim();
        if trimmed.is_empty() {
            return;
        }
        let timestamp = parse_timestamp(line);
        let new = |block, severity, message: &str| Pending {
            block,
            severity,
            message: message.to_owned(),
            first_line: line.to_owned(),
            frame: None,
            timestamp,
            lines: 1,
        };
        if is_binary(line) {
            self.events.push(LogEvent {
                severity: Severity::Info,
                message: BINARY_MESSAGE.to_owned(),
                example: format!("<binary data: {} characters>", line.chars().count()),
                timestamp,
                lines: 1,
            });
            return;
        }
        if trimmed.starts_with("Traceback (most recent call last):") {
            self.pending = Some(new(
                Block::Python(PythonPhase::Frames),
                Severity::Exception,
                "Traceback (most recent call last):",
            ));
            return;
        }
        if line.starts_with("__CURSOR=") {
            let mut fields = Map::new();
            insert_journal_field(&mut fields, line);
            self.pending = Some(new(
                Block::Journal {
                    fields,
                    skip_binary: false,
                },
                Severity::Info,
                "",
            ));
            return;
        }
        if trimmed.starts_with('{')
            && trimmed.ends_with('}')
            && let Ok(Value::Object(map)) = serde_json::from_str::<Value>(trimmed)
        {
            self.events.push(structured_event(&map, line));
            return;
        }
        if RUST_PANIC.is_match(trimmed) {
            let awaiting_message = trimmed.ends_with(':');
            self.pending = Some(new(
                Block::Rust { awaiting_message },
                Severity::Fatal,
                trimmed,
            ));
            return;
        }
        if GO_PANIC.is_match(trimmed) {
            self.pending = Some(new(Block::Go, Severity::Fatal, trimmed));
            return;
        }
        if JAVA_HEADER.is_match(trimmed) {
            self.pending = Some(new(Block::Java, Severity::Exception, trimmed));
            return;
        }
        // The runtime's timestamp is not part of the template (the event keeps it as its time).
        let message = strip_runtime_prefix(line).trim();
        self.pending = Some(new(Block::Plain, classify_line(line), message));
    }
}

impl Pending {
    fn step(&mut self, line: &str, body: &str) -> Step {
        if self.lines >= MAX_BLOCK_LINES {
            return Step::Ended;
        }
        let blank = body.trim().is_empty();
        let folded = match &mut self.block {
            Block::Plain => {
                if JAVA_FRAME.is_match(body) {
                    // A line followed by `at …(…)` frames is the header of a Java stack trace.
                    self.block = Block::Java;
                    self.severity = self.severity.min(Severity::Exception);
                    self.message = strip_prefix(&self.first_line).trim().to_owned();
                    self.frame = body
                        .trim_start()
                        .strip_prefix("at ")
                        .map(|frame| frame.trim().to_owned());
                    true
                } else {
                    false
                }
            }
            Block::Java => {
                let is_frame = JAVA_CONTINUATION.is_match(body);
                if is_frame
                    && self.frame.is_none()
                    && let Some(frame) = body.trim_start().strip_prefix("at ")
                {
                    self.frame = Some(frame.trim().to_owned());
                }
                is_frame
            }
            Block::Python(phase) => match phase {
                PythonPhase::Frames => {
                    if !blank && body.starts_with(char::is_whitespace) {
                        let frame = body.trim();
                        if frame.starts_with("File ") {
                            self.frame = Some(frame.to_owned());
                        }
                        true
                    } else if !blank && PY_EXCEPTION_LINE.is_match(body) {
                        self.message = body.trim().to_owned();
                        *phase = PythonPhase::AfterException;
                        true
                    } else {
                        false
                    }
                }
                PythonPhase::AfterException => {
                    let trimmed = body.trim();
                    if trimmed.starts_with("During handling of the above exception")
                        || trimmed.starts_with("The above exception was the direct cause")
                    {
                        *phase = PythonPhase::ExpectTraceback;
                        true
                    } else {
                        // Blank lines may separate a chained traceback; they belong to no event
                        // either way.
                        blank
                    }
                }
                PythonPhase::ExpectTraceback => {
                    if body
                        .trim()
                        .starts_with("Traceback (most recent call last):")
                    {
                        *phase = PythonPhase::Frames;
                        true
                    } else {
                        blank
                    }
                }
            },
            Block::Rust { awaiting_message } => {
                if *awaiting_message && !blank {
                    *awaiting_message = false;
                    self.message = format!("{} {}", self.message, body.trim());
                    true
                } else {
                    RUST_CONTINUATION.is_match(body)
                }
            }
            Block::Go => {
                let is_part = blank || GO_CONTINUATION.is_match(body);
                if is_part && self.frame.is_none() && body.starts_with('\t') {
                    self.frame = Some(body.trim().to_owned());
                }
                is_part
            }
            Block::Journal {
                fields,
                skip_binary,
            } => {
                if blank {
                    return Step::EndedConsumed;
                }
                if std::mem::take(skip_binary) {
                    // The length-prefixed payload of a binary field (see the export format).
                    true
                } else if JOURNAL_FIELD.is_match(line) {
                    insert_journal_field(fields, line);
                    true
                } else if JOURNAL_BINARY_FIELD.is_match(line) {
                    *skip_binary = true;
                    true
                } else {
                    false
                }
            }
        };
        if folded {
            self.lines += 1;
            Step::Folded
        } else {
            Step::Ended
        }
    }

    fn into_event(self) -> LogEvent {
        if let Block::Journal { fields, .. } = &self.block {
            let mut event = structured_event(fields, &self.first_line);
            event.lines = self.lines;
            return event;
        }
        let example = match (&self.block, &self.frame) {
            (Block::Plain, _) => self.first_line.clone(),
            (Block::Python(_), Some(frame)) => format!("{} (last frame: {frame})", self.message),
            (_, Some(frame)) => format!("{} (at {frame})", self.message),
            (_, None) => self.message.clone(),
        };
        LogEvent {
            severity: self.severity,
            message: self.message,
            example,
            timestamp: self.timestamp,
            lines: self.lines,
        }
    }
}

/// Removes ANSI escape sequences and replaces other control characters (tabs excepted) with
/// U+FFFD, so nothing invisible reaches a template, a prompt or a report.
pub fn sanitize(line: &str) -> Cow<'_, str> {
    let without_ansi = ANSI.replace_all(line, "");
    if !without_ansi.chars().any(|c| c.is_control() && c != '\t') {
        return without_ansi;
    }
    Cow::Owned(
        without_ansi
            .chars()
            .map(|c| {
                if c.is_control() && c != '\t' {
                    '\u{FFFD}'
                } else {
                    c
                }
            })
            .collect(),
    )
}

/// Cuts `line` to `max` characters plus an explicit `…[shortened N chars]` marker.
fn shorten(line: &str, max: usize) -> (String, bool) {
    match line.char_indices().nth(max) {
        None => (line.to_owned(), false),
        Some((cut, _)) => {
            let removed = line[cut..].chars().count();
            (
                format!("{}…[shortened {removed} chars]", &line[..cut]),
                true,
            )
        }
    }
}

/// The line without the timestamp (and CRI stream tag) a container runtime put in front of what
/// the program wrote.
fn strip_runtime_prefix(line: &str) -> &str {
    DOCKER_PREFIX
        .find(line)
        .map_or(line, |found| &line[found.end()..])
}

/// The part of a line after a Docker/CRI timestamp or a syslog header.
fn strip_prefix(line: &str) -> &str {
    for prefix in [&*DOCKER_PREFIX, &*SYSLOG_PREFIX] {
        if let Some(found) = prefix.find(line) {
            return &line[found.end()..];
        }
    }
    line
}

/// Docker's json-file driver wraps each output line: `{"log":"…\n","stream":"stderr","time":…}`.
/// The inner line is what the program wrote, so it is unwrapped (prefixed with its time) and
/// takes part in folding like any other line.
fn unwrap_docker_json(line: &str) -> Option<String> {
    let trimmed = line.trim();
    if !trimmed.starts_with("{\"log\":") {
        return None;
    }
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(trimmed) else {
        return None;
    };
    let inner = map.get("log")?.as_str()?.trim_end_matches(['\n', '\r']);
    let inner = sanitize(inner);
    match map.get("time").and_then(Value::as_str) {
        Some(time) if parse_timestamp(time).is_some() && parse_timestamp(&inner).is_none() => {
            Some(format!("{time} {inner}"))
        }
        _ => Some(inner.into_owned()),
    }
}

fn is_binary(line: &str) -> bool {
    let total = line.chars().count();
    let replaced = line.chars().filter(|&c| c == '\u{FFFD}').count();
    total >= 4 && replaced * 4 >= total
}

fn insert_journal_field(fields: &mut Map<String, Value>, line: &str) {
    if let Some(caps) = JOURNAL_FIELD.captures(line) {
        fields
            .entry(caps["key"].to_owned())
            .or_insert_with(|| Value::String(caps["value"].to_owned()));
    }
}

const LEVEL_KEYS: &[&str] = &[
    "level",
    "lvl",
    "severity",
    "loglevel",
    "log_level",
    "levelname",
    "@l",
    "PRIORITY",
    "priority",
];
const MESSAGE_KEYS: &[&str] = &[
    "msg", "message", "MESSAGE", "@m", "@mt", "log", "text", "event",
];
const ERROR_KEYS: &[&str] = &[
    "error",
    "err",
    "exception",
    "exc_info",
    "stack",
    "stacktrace",
    "stack_trace",
];
const IDENTIFIER_KEYS: &[&str] = &["SYSLOG_IDENTIFIER", "_COMM", "_SYSTEMD_UNIT"];
const TIME_KEYS: &[&str] = &[
    "time",
    "ts",
    "timestamp",
    "@timestamp",
    "@t",
    "t",
    "date",
    "__REALTIME_TIMESTAMP",
];

fn first<'m>(map: &'m Map<String, Value>, keys: &[&str]) -> Option<&'m Value> {
    keys.iter().find_map(|key| map.get(*key))
}

fn first_str<'m>(map: &'m Map<String, Value>, keys: &[&str]) -> Option<&'m str> {
    keys.iter()
        .find_map(|key| map.get(*key).and_then(Value::as_str))
        .filter(|s| !s.trim().is_empty())
}

/// A text that may hold several lines (a traceback inside a JSON string): its most severe event.
fn summarise_text(text: &str) -> (Severity, String) {
    if !text.contains('\n') {
        let line = sanitize(text).trim().to_owned();
        return (classify_line(&line), line);
    }
    // `fold_events` sanitises line by line; sanitising first would turn the newlines into U+FFFD.
    fold_events(text.lines())
        .into_iter()
        .min_by_key(|event| event.severity)
        .map(|event| (event.severity, event.message))
        .unwrap_or((Severity::Info, String::new()))
}

/// An event from a structured record: a JSON log line or a journal export record.
fn structured_event(map: &Map<String, Value>, raw: &str) -> LogEvent {
    let level = first(map, LEVEL_KEYS).and_then(|value| match value {
        Value::String(s) => Severity::from_level_name(s),
        Value::Number(n) => n
            .as_u64()
            .map(|n| Severity::from_level_number(u32::try_from(n).unwrap_or(u32::MAX))),
        _ => None,
    });
    let timestamp = first(map, TIME_KEYS)
        .and_then(|value| match value {
            Value::String(s) => parse_timestamp(s).or_else(|| from_epoch_text(s)),
            Value::Number(n) => match n.as_i64() {
                Some(integer) => from_epoch_integer(integer),
                None => n.as_f64().and_then(from_epoch),
            },
            _ => None,
        })
        .or_else(|| parse_timestamp(raw));

    let Some(message) = first_str(map, MESSAGE_KEYS) else {
        // No message field: the whole record is the message.
        let severity = level.unwrap_or_else(|| classify_line(raw));
        return LogEvent {
            severity,
            message: raw.trim().to_owned(),
            example: raw.trim().to_owned(),
            timestamp,
            lines: 1,
        };
    };
    let (message_severity, message) = summarise_text(message);
    let error = first_str(map, ERROR_KEYS).map(summarise_text);
    let mut severity = level.unwrap_or(message_severity);
    // A traceback inside the message or the error field outranks an `error` level.
    for candidate in [Some(message_severity), error.as_ref().map(|(s, _)| *s)]
        .into_iter()
        .flatten()
    {
        if matches!(candidate, Severity::Fatal | Severity::Exception) {
            severity = severity.min(candidate);
        }
    }

    let mut text = String::new();
    if level.is_some() {
        text.push_str(&format!("[{severity}] "));
    }
    if let Some(identifier) = first_str(map, IDENTIFIER_KEYS) {
        text.push_str(identifier.trim());
        text.push_str(": ");
    }
    text.push_str(&message);
    if let Some((_, error)) = error.filter(|(_, e)| !e.is_empty()) {
        text.push_str(&format!(" (error: {error})"));
    }
    LogEvent {
        severity,
        example: text.clone(),
        message: text,
        timestamp,
        lines: 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(events: &[LogEvent]) -> Vec<(Severity, &str)> {
        events
            .iter()
            .map(|e| (e.severity, e.message.as_str()))
            .collect()
    }

    #[test]
    fn plain_lines_are_one_event_each_and_blank_lines_none() {
        let events = fold_events(["INFO a", "", "   ", "ERROR b", "WARN c"]);
        assert_eq!(
            summary(&events),
            [
                (Severity::Info, "INFO a"),
                (Severity::Error, "ERROR b"),
                (Severity::Warning, "WARN c")
            ]
        );
    }

    #[test]
    fn python_traceback_is_one_exception_event() {
        let lines = [
            "2024-05-01 12:00:01,517 ERROR [worker] Job 1234 failed",
            "Traceback (most recent call last):",
            "  File \"/app/worker.py\", line 88, in run",
            "    result = handler(payload)",
            "             ^^^^^^^^^^^^^^^^",
            "  File \"/app/handlers.py\", line 12, in handler",
            "    return int(payload[\"count\"])",
            "ValueError: invalid literal for int() with base 10: 'abc'",
            "2024-05-01 12:00:02,000 WARNING [worker] Retrying job 1234 in 5s",
        ];
        let events = fold_events(lines);
        assert_eq!(
            summary(&events),
            [
                (Severity::Error, lines[0]),
                (
                    Severity::Exception,
                    "ValueError: invalid literal for int() with base 10: 'abc'"
                ),
                (Severity::Warning, lines[8]),
            ]
        );
        assert_eq!(events[1].lines, 7);
        assert_eq!(
            events[1].example,
            "ValueError: invalid literal for int() with base 10: 'abc' (last frame: File \
             \"/app/handlers.py\", line 12, in handler)"
        );
    }

    #[test]
    fn chained_python_tracebacks_fold_into_the_last_exception() {
        let events = fold_events([
            "Traceback (most recent call last):",
            "  File \"/app/db.py\", line 40, in connect",
            "psycopg.OperationalError: connection failed: Connection refused",
            "",
            "During handling of the above exception, another exception occurred:",
            "",
            "Traceback (most recent call last):",
            "  File \"/app/worker.py\", line 90, in run",
            "worker.JobError: database unavailable",
            "",
            "INFO next",
        ]);
        assert_eq!(
            summary(&events),
            [
                (Severity::Exception, "worker.JobError: database unavailable"),
                (Severity::Info, "INFO next"),
            ]
        );
    }

    #[test]
    fn incomplete_traceback_still_counts() {
        let events = fold_events([
            "Traceback (most recent call last):",
            "  File \"x.py\", line 1, in <module>",
        ]);
        assert_eq!(
            summary(&events),
            [(Severity::Exception, "Traceback (most recent call last):")]
        );
        let events = fold_events([
            "Traceback (most recent call last):",
            "not an exception line",
        ]);
        assert_eq!(events.len(), 2);
    }

    #[test]
    fn tracebacks_behind_docker_timestamps_fold() {
        let events = fold_events([
            "2024-05-01T12:00:02.123456789Z Traceback (most recent call last):",
            "2024-05-01T12:00:02.123456789Z   File \"/app/main.py\", line 5, in <module>",
            "2024-05-01T12:00:02.123456789Z     import missing_mod",
            "2024-05-01T12:00:02.123456789Z ModuleNotFoundError: No module named 'missing_mod'",
            "2024-05-01T12:00:03.000000000Z stderr F ERROR: lost redis",
        ]);
        assert_eq!(
            summary(&events),
            [
                (
                    Severity::Exception,
                    "ModuleNotFoundError: No module named 'missing_mod'"
                ),
                (Severity::Error, "ERROR: lost redis"),
            ]
        );
        assert!(events[0].timestamp.is_some());
    }

    #[test]
    fn traces_behind_syslog_prefixes_fold() {
        let events = fold_events([
            "May  1 12:00:00 host app[42]: Traceback (most recent call last):",
            "May  1 12:00:00 host app[42]:   File \"/srv/app.py\", line 9, in main",
            "May  1 12:00:00 host app[42]: KeyError: 'user_id'",
            "May  1 12:00:01 host app[42]: java.io.IOException: disk gone",
            "May  1 12:00:01 host app[42]: \tat com.example.Io.write(Io.java:7)",
            "May  1 12:00:02 host app[42]: Started.",
        ]);
        assert_eq!(
            summary(&events),
            [
                (Severity::Exception, "KeyError: 'user_id'"),
                (Severity::Exception, "java.io.IOException: disk gone"),
                (Severity::Info, "May  1 12:00:02 host app[42]: Started."),
            ]
        );
    }

    #[test]
    fn java_stack_traces_fold() {
        let events = fold_events([
            "2024-05-01 12:00:00.000 ERROR 1 --- [nio-8080-exec-1] o.a.c.C : Servlet threw exception",
            "java.lang.NullPointerException: Cannot invoke \"String.length()\" because \"name\" is null",
            "\tat com.example.shop.OrderService.validate(OrderService.java:42)",
            "\tat com.example.shop.OrderController.create(OrderController.java:27)",
            "\t... 48 common frames omitted",
            "Exception in thread \"scheduler-1\" java.lang.IllegalStateException: Pool exhausted",
            "\tat com.zaxxer.hikari.pool.HikariPool.getConnection(HikariPool.java:181)",
            "Caused by: java.sql.SQLTransientConnectionException: request timed out after 30000ms.",
            "\tat com.zaxxer.hikari.pool.HikariPool.createTimeoutException(HikariPool.java:696)",
            "\t... 3 more",
            "2024-05-01 12:00:01.000  WARN 1 --- [main] o.h.e.j.e.i.JdbcEnv : HHH000342: no metadata",
        ]);
        let got = summary(&events);
        assert_eq!(got.len(), 4, "{got:?}");
        assert_eq!(got[0].0, Severity::Error);
        assert_eq!(
            got[1],
            (
                Severity::Exception,
                "java.lang.NullPointerException: Cannot invoke \"String.length()\" because \"name\" is null"
            )
        );
        assert_eq!(events[1].lines, 4);
        assert!(
            events[1]
                .example
                .ends_with("(at com.example.shop.OrderService.validate(OrderService.java:42))"),
            "{}",
            events[1].example
        );
        assert_eq!(
            got[2],
            (
                Severity::Exception,
                "Exception in thread \"scheduler-1\" java.lang.IllegalStateException: Pool exhausted"
            )
        );
        assert_eq!(events[2].lines, 5);
        assert_eq!(got[3].0, Severity::Warning);
    }

    #[test]
    fn rust_panics_fold_with_their_message() {
        let events = fold_events([
            "thread 'tokio-runtime-worker' panicked at src/handlers/orders.rs:57:14:",
            "called `Option::unwrap()` on a `None` value",
            "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace",
            "thread 'main' panicked at 'index out of bounds: the len is 3 but the index is 7', src/main.rs:10:5",
            "stack backtrace:",
            "   0: rust_begin_unwind",
            "             at /rustc/abc/library/std/src/panicking.rs:645:5",
            "INFO restarted",
        ]);
        assert_eq!(
            summary(&events),
            [
                (
                    Severity::Fatal,
                    "thread 'tokio-runtime-worker' panicked at src/handlers/orders.rs:57:14: called `Option::unwrap()` on a `None` value"
                ),
                (
                    Severity::Fatal,
                    "thread 'main' panicked at 'index out of bounds: the len is 3 but the index is 7', src/main.rs:10:5"
                ),
                (Severity::Info, "INFO restarted"),
            ]
        );
        assert_eq!(events[0].lines, 3);
        assert_eq!(events[1].lines, 4);
    }

    #[test]
    fn go_panics_fold() {
        let events = fold_events([
            "panic: runtime error: invalid memory address or nil pointer dereference",
            "[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x4a5b6c]",
            "",
            "goroutine 1 [running]:",
            "main.(*Server).handle(0x0, {0xc000012345, 0x5})",
            "\t/app/server.go:42 +0x1d",
            "main.main()",
            "\t/app/main.go:10 +0x25",
            "exit status 2",
            "INFO supervisor restarting",
        ]);
        assert_eq!(
            summary(&events),
            [
                (
                    Severity::Fatal,
                    "panic: runtime error: invalid memory address or nil pointer dereference"
                ),
                (Severity::Info, "INFO supervisor restarting"),
            ]
        );
        assert!(events[0].example.ends_with("(at /app/server.go:42 +0x1d)"));
    }

    #[test]
    fn json_lines_are_read_by_key() {
        let events = fold_events([
            r#"{"time":"2024-05-01T12:00:00.000Z","level":"info","msg":"request completed","status":200}"#,
            r#"{"time":"2024-05-01T12:00:01.000Z","level":"error","msg":"request failed","error":"dial tcp 10.0.0.5:5432: connect: connection refused"}"#,
            r#"{"level":50,"time":1714564802000,"pid":17,"msg":"unhandled rejection"}"#,
            r#"{"timestamp":"2024-05-01T12:00:03Z","severity":"WARNING","message":"disk usage at 91% on /data"}"#,
            r#"{"level":"info","msg":"worker died","exc_info":"Traceback (most recent call last):\n  File \"w.py\", line 3, in <module>\nKeyError: 'user_id'"}"#,
            r#"{"no":"message","here":true}"#,
            r#"{"broken json"#,
            r#"["an","array"]"#,
        ]);
        assert_eq!(
            summary(&events),
            [
                (Severity::Info, "[info] request completed"),
                (
                    Severity::Error,
                    "[error] request failed (error: dial tcp 10.0.0.5:5432: connect: connection refused)"
                ),
                (Severity::Error, "[error] unhandled rejection"),
                (Severity::Warning, "[warning] disk usage at 91% on /data"),
                (
                    Severity::Exception,
                    "[exception] worker died (error: KeyError: 'user_id')"
                ),
                (Severity::Info, r#"{"no":"message","here":true}"#),
                (Severity::Info, r#"{"broken json"#),
                (Severity::Info, r#"["an","array"]"#),
            ]
        );
        let stamp = |i: usize| events[i].timestamp.map(|t| t.to_rfc3339());
        assert_eq!(stamp(1).as_deref(), Some("2024-05-01T12:00:01+00:00"));
        assert_eq!(stamp(2).as_deref(), Some("2024-05-01T12:00:02+00:00"));
    }

    #[test]
    fn docker_json_file_lines_are_unwrapped_and_fold() {
        let events = fold_events([
            r#"{"log":"Traceback (most recent call last):\n","stream":"stderr","time":"2024-05-01T12:00:04.123456789Z"}"#,
            r#"{"log":"  File \"/app/x.py\", line 1, in \u003cmodule\u003e\n","stream":"stderr","time":"2024-05-01T12:00:04.123456789Z"}"#,
            r#"{"log":"RuntimeError: boom\n","stream":"stderr","time":"2024-05-01T12:00:04.123456789Z"}"#,
            r#"{"log":"2024-05-01 12:00:05,000 ERROR worker crashed\n","stream":"stderr","time":"2024-05-01T12:00:05.1Z"}"#,
        ]);
        assert_eq!(
            summary(&events),
            [
                (Severity::Exception, "RuntimeError: boom"),
                (
                    Severity::Error,
                    "2024-05-01 12:00:05,000 ERROR worker crashed"
                ),
            ]
        );
        assert_eq!(
            events[0].timestamp.map(|t| t.to_rfc3339()).as_deref(),
            Some("2024-05-01T12:00:04.123456789+00:00")
        );
    }

    #[test]
    fn journal_export_records_become_one_event_each() {
        let events = fold_events([
            "__CURSOR=s=8a0c;i=1a2b;b=77;m=1;t=5f;x=9",
            "__REALTIME_TIMESTAMP=1714564800123456",
            "PRIORITY=3",
            "SYSLOG_IDENTIFIER=systemd",
            "MESSAGE=Failed to start nginx.service - A high performance web server.",
            "",
            "__CURSOR=s=8a0c;i=1a2c",
            "__REALTIME_TIMESTAMP=1714564805000000",
            "PRIORITY=6",
            "SYSLOG_IDENTIFIER=sshd",
            "COREDUMP",
            "\u{FFFD}\u{FFFD}binary payload",
            "MESSAGE=Accepted publickey for admin from 192.168.1.50 port 51234 ssh2",
            "",
        ]);
        assert_eq!(
            summary(&events),
            [
                (
                    Severity::Error,
                    "[error] systemd: Failed to start nginx.service - A high performance web server."
                ),
                (
                    Severity::Info,
                    "[info] sshd: Accepted publickey for admin from 192.168.1.50 port 51234 ssh2"
                ),
            ]
        );
        assert_eq!(
            events[0].timestamp.map(|t| t.to_rfc3339()).as_deref(),
            Some("2024-05-01T12:00:00.123456+00:00")
        );
        assert_eq!(events[0].lines, 5);
    }

    #[test]
    fn sanitising_shortening_and_binary() {
        assert_eq!(
            sanitize("\x1b[31mERROR\x1b[0m red \x1b]0;title\x07done"),
            "ERROR red done"
        );
        assert_eq!(sanitize("a\tb\0c\x7fd"), "a\tb\u{FFFD}c\u{FFFD}d");
        assert!(matches!(sanitize("clean"), Cow::Borrowed(_)));

        let mut assembler = EventAssembler::new(10);
        assembler.push("ERROR 0123456789abcdef");
        assembler.push("\u{FFFD}\u{FFFD}\u{FFFD}x\u{FFFD}");
        assembler.finish();
        assert_eq!(assembler.shortened_lines(), 1);
        let events = assembler.take_events();
        assert_eq!(
            summary(&events),
            [
                (Severity::Error, "ERROR 0123…[shortened 12 chars]"),
                (Severity::Info, BINARY_MESSAGE),
            ]
        );
        assert_eq!(events[1].example, "<binary data: 5 characters>");
    }
}
