//! Severity of one log line, decided from what the line says about itself.
//!
//! Order of the checks, first hit wins:
//! 1. **Fatal phrases** anywhere in the line: `panic`/`panicked`, `Segmentation fault`, `segfault`,
//!    `SIGSEGV`, `core dumped`, `Out of memory`, `OOM`, `oom-kill`, `Killed process`, `OOMKilled`.
//!    They win over a level token because a crash is a crash whatever level the logger used.
//! 2. **The leftmost explicit level marker**: upper-case level words (`FATAL`, `CRITICAL`, `ERROR`,
//!    `ERR`, `SEVERE`, `FAILED`, `WARN`, `WARNING`, `INFO`, `DEBUG`, …), nginx-style `[error]`,
//!    `level=error` / `"level":"error"` / `severity: warning` key-value forms, klog's `E0501 12:…`
//!    prefixes, and `error:` / `error[E0308]` at the start of a line. Leftmost, because the logger's
//!    own level comes first (`INFO retrying after ERROR 503` is info).
//! 3. **Access-log status** (combined log format `"GET /x HTTP/1.1" 502 …`): 5xx is an error, 4xx
//!    a warning, anything else info.
//! 4. **Words**, for lines without any level (syslog, journal short output): `error`, `failed`,
//!    `failure`, `exception`, `refused`, `denied` make an error; `warning`, `deprecated` a warning.
//! 5. Otherwise info.
//!
//! Lower-case words are only trusted in step 4 or in a level position (`[warn]`, `level=warn`):
//! prose such as "no error was found" says less than a logger's level.

use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// How bad an event is. The derived order is "most severe first", which is the order reports
/// and prompts list things in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// A crash: panic, segfault, out-of-memory kill, `FATAL`/`CRITICAL`/`EMERG` levels.
    Fatal,
    /// An exception with a stack trace (Python traceback, Java stack trace), folded into one
    /// event.
    Exception,
    Error,
    Warning,
    /// Info, notice, debug, trace, and lines that say nothing about their severity.
    Info,
}

impl Severity {
    /// Every severity, most severe first.
    pub const ALL: [Severity; 5] = [
        Severity::Fatal,
        Severity::Exception,
        Severity::Error,
        Severity::Warning,
        Severity::Info,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Fatal => "fatal",
            Severity::Exception => "exception",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }

    /// 0 for the most severe; the sort key reports use.
    pub fn rank(self) -> u8 {
        self as u8
    }

    /// Whether the event deserves an operator's attention (everything but info).
    pub fn is_problem(self) -> bool {
        self != Severity::Info
    }

    /// Maps a level name as loggers write it (`warn`, `ERR`, `crit`, `notice`, …) or a syslog
    /// priority (`0`–`7`) or a pino/bunyan numeric level (`10`–`60`) to a severity.
    pub fn from_level_name(level: &str) -> Option<Severity> {
        let level = level.trim().trim_matches(|c| c == '"' || c == '\'');
        if let Ok(number) = level.parse::<u32>() {
            return Some(Self::from_level_number(number));
        }
        let lower = level.to_ascii_lowercase();
        let severity = match lower.as_str() {
            "fatal" | "panic" | "crit" | "critical" | "emerg" | "emergency" | "alert" | "f" => {
                Severity::Fatal
            }
            "error" | "err" | "eror" | "erro" | "severe" | "e" => Severity::Error,
            "warn" | "warning" | "wrn" | "w" => Severity::Warning,
            "info" | "inf" | "information" | "informational" | "notice" | "debug" | "dbg"
            | "trace" | "trc" | "verbose" | "log" | "i" | "d" | "t" => Severity::Info,
            _ => return None,
        };
        Some(severity)
    }

    /// Syslog priorities (0 emerg … 7 debug) up to 7; pino/bunyan levels (10 trace … 60 fatal)
    /// above.
    pub fn from_level_number(number: u32) -> Severity {
        match number {
            0..=2 => Severity::Fatal,
            3 => Severity::Error,
            4 => Severity::Warning,
            5..=9 => Severity::Info,
            60.. => Severity::Fatal,
            50..=59 => Severity::Error,
            40..=49 => Severity::Warning,
            _ => Severity::Info,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = crate::Error;

    fn from_str(s: &str) -> crate::Result<Self> {
        Severity::ALL
            .into_iter()
            .find(|severity| severity.as_str() == s)
            .ok_or_else(|| {
                crate::Error::invalid(
                    "severity",
                    "must be one of fatal, exception, error, warning, info",
                )
            })
    }
}

/// Event counts per severity; every severity is present in the JSON form, zeros included.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeverityCounts {
    pub fatal: u64,
    pub exception: u64,
    pub error: u64,
    pub warning: u64,
    pub info: u64,
}

impl SeverityCounts {
    pub fn add(&mut self, severity: Severity, count: u64) {
        *self.slot(severity) += count;
    }

    pub fn get(&self, severity: Severity) -> u64 {
        match severity {
            Severity::Fatal => self.fatal,
            Severity::Exception => self.exception,
            Severity::Error => self.error,
            Severity::Warning => self.warning,
            Severity::Info => self.info,
        }
    }

    pub fn total(&self) -> u64 {
        Severity::ALL.into_iter().map(|s| self.get(s)).sum()
    }

    /// Fatal + exception + error + warning.
    pub fn problems(&self) -> u64 {
        self.total() - self.info
    }

    fn slot(&mut self, severity: Severity) -> &mut u64 {
        match severity {
            Severity::Fatal => &mut self.fatal,
            Severity::Exception => &mut self.exception,
            Severity::Error => &mut self.error,
            Severity::Warning => &mut self.warning,
            Severity::Info => &mut self.info,
        }
    }
}

fn regex(pattern: &str) -> Regex {
    // Constant patterns, compiled by every test run: a typo is a programming error.
    Regex::new(pattern).expect("severity pattern compiles")
}

static FATAL_PHRASE: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"(?i:\bpanic(?:ked)?\b|\bsegmentation fault\b|\bsegfault\b|\bcore dumped\b|\bout of memory\b|\boom[-_]?kill(?:er|ed)?\b|\bkilled process\b)|\bSIGSEGV\b|\bOOM\b|\bOOMKilled\b",
    )
});

/// Level markers; the named group that matched decides, the leftmost match wins.
static LEVEL: LazyLock<Regex> = LazyLock::new(|| {
    regex(concat!(
        // key=value, "key":"value", key: value — the value is mapped by `from_level_name`.
        r#"(?i:\b(?:level|lvl|severity|loglevel|log_level|levelname)["']?\s*[=:]\s*["']?(?P<named>[A-Za-z]+|\d{1,2})\b)"#,
        r"|(?:^|\s)(?P<klog>[IWEF])\d{4} \d{2}:\d{2}:\d{2}",
        r"|\[(?P<bracket>(?i:fatal|crit|critical|alert|emerg|error|err|warn|warning|notice|info|debug|trace))\]",
        r"|(?P<fatal>\b(?:FATAL|CRITICAL|CRIT|EMERG|EMERGENCY|ALERT|PANIC)\b)",
        r"|(?P<error>\b(?:ERROR|ERR|ERRO|SEVERE|FAILED|FAILURE)\b|^\s*(?i:error)(?:\[\w+\])?:)",
        r"|(?P<warning>\b(?:WARN|WARNING|WRN)\b)",
        r"|(?P<info>\b(?:INFO|INF|NOTICE|DEBUG|DBG|TRACE|TRC|VERBOSE)\b|\bLOG:)",
    ))
});

/// `… "GET /path HTTP/1.1" 502 157 …`: the status follows the quoted request line.
static ACCESS_STATUS: LazyLock<Regex> = LazyLock::new(|| {
    regex(r#""(?:[A-Z]+ \S+(?: HTTP/[\d.]+)?|-)" (?P<status>[1-5]\d\d) (?:\d+|-)"#)
});

static ERROR_WORD: LazyLock<Regex> = LazyLock::new(|| {
    regex(r"(?i)\b(?:error|failed|failure|fail|exception|refused|denied|unreachable|fatal)\b")
});

static WARNING_WORD: LazyLock<Regex> =
    LazyLock::new(|| regex(r"(?i)\b(?:warning|deprecated|degraded)\b"));

/// Classifies one line (see the module documentation for the rules).
pub fn classify_line(line: &str) -> Severity {
    if FATAL_PHRASE.is_match(line) {
        return Severity::Fatal;
    }
    if let Some(severity) = explicit_level(line) {
        return severity;
    }
    if let Some(caps) = ACCESS_STATUS.captures(line) {
        return match caps["status"].as_bytes()[0] {
            b'5' => Severity::Error,
            b'4' => Severity::Warning,
            _ => Severity::Info,
        };
    }
    if ERROR_WORD.is_match(line) {
        return Severity::Error;
    }
    if WARNING_WORD.is_match(line) {
        return Severity::Warning;
    }
    Severity::Info
}

/// The leftmost level marker the line carries, if any.
pub fn explicit_level(line: &str) -> Option<Severity> {
    let caps = LEVEL.captures(line)?;
    if let Some(named) = caps.name("named") {
        // `level=foo` with an unknown name says nothing; look further right.
        return Severity::from_level_name(named.as_str()).or_else(|| {
            let rest = &line[named.end()..];
            explicit_level(rest)
        });
    }
    if let Some(letter) = caps.name("klog") {
        return Severity::from_level_name(letter.as_str());
    }
    if let Some(word) = caps.name("bracket") {
        return Severity::from_level_name(word.as_str());
    }
    let severity = if caps.name("fatal").is_some() {
        Severity::Fatal
    } else if caps.name("error").is_some() {
        Severity::Error
    } else if caps.name("warning").is_some() {
        Severity::Warning
    } else {
        Severity::Info
    };
    Some(severity)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_table() {
        use Severity::*;
        let cases: &[(&str, Severity)] = &[
            // Fatal phrases.
            ("thread 'main' panicked at src/main.rs:10:5:", Fatal),
            (
                "panic: runtime error: invalid memory address or nil pointer dereference",
                Fatal,
            ),
            (
                "2024-05-01T12:00:00Z INFO worker panicked, restarting",
                Fatal,
            ),
            ("Kernel panic - not syncing: Fatal exception", Fatal),
            (
                "bash: line 1:  4242 Segmentation fault      (core dumped) ./app",
                Fatal,
            ),
            (
                "kernel: app[4242]: segfault at 0 ip 00007f sp 00007ffd error 4",
                Fatal,
            ),
            (
                "Out of memory: Killed process 4321 (python3) total-vm:8123456kB",
                Fatal,
            ),
            (
                "kernel: oom-kill:constraint=CONSTRAINT_NONE,task=python3,pid=4321",
                Fatal,
            ),
            ("container web exited: OOMKilled", Fatal),
            ("worker 3 OOM, restarting", Fatal),
            ("2024-05-01 12:00:00 FATAL could not bind socket", Fatal),
            (
                "2024-05-01 12:00:00 UTC [77] FATAL:  password authentication failed",
                Fatal,
            ),
            (
                "2024-05-01 12:00:00 UTC [77] PANIC:  could not write to file",
                Fatal,
            ),
            ("CRITICAL:root:disk full", Fatal),
            (
                "2024/05/01 12:03:00 [crit] 31#31: open() failed (13: Permission denied)",
                Fatal,
            ),
            (
                "nginx: [emerg] bind() to 0.0.0.0:80 failed (98: Address already in use)",
                Fatal,
            ),
            ("F0501 12:00:00.000000       1 main.go:10] fatal", Fatal),
            ("time=2024-05-01T12:00:00Z level=fatal msg=boom", Fatal),
            // Errors.
            (
                "2024-05-01 12:00:00,001 ERROR [worker] Job 1234 failed",
                Error,
            ),
            ("ERROR:root:something broke", Error),
            (
                "2024/05/01 12:00:03 [error] 31#31: *1234 connect() failed",
                Error,
            ),
            (
                "time=\"2024-05-01T12:00:00Z\" level=error msg=\"query failed\"",
                Error,
            ),
            (r#"{"level":"error","msg":"request failed"}"#, Error),
            (r#"{"severity": "ERROR", "message": "x"}"#, Error),
            (
                "E0501 12:00:00.123456       1 reflector.go:138] Failed to watch",
                Error,
            ),
            ("time=\"x\" level=erro msg=\"logrus style\"", Error),
            (
                "error: could not compile `app` due to 2 previous errors",
                Error,
            ),
            ("error[E0308]: mismatched types", Error),
            ("[FAILED] Failed to start nginx.service.", Error),
            ("SEVERE: Servlet.service() threw exception", Error),
            ("<3>ERR something", Error),
            // Warnings.
            (
                "2024-05-01 12:00:02,000 WARNING [worker] Retrying job 1234 in 5s",
                Warning,
            ),
            ("2024-05-01T12:00:01Z WARN cache miss ratio high", Warning),
            ("level=warn msg=\"slow query\"", Warning),
            ("2024/05/01 12:01:00 [warn] 31#31: *1300 buffered", Warning),
            (
                "W0501 12:00:00.000000       1 warnings.go:70] deprecated",
                Warning,
            ),
            ("DeprecationWarning: this API is deprecated", Warning),
            // Leftmost level wins over later words.
            ("INFO retrying after ERROR 503 from upstream", Info),
            (
                "2024-05-01 12:00:00 INFO level=error in the payload is fine",
                Info,
            ),
            ("DEBUG failed to parse optional header", Info),
            ("level=info msg=\"no error\"", Info),
            // Access logs.
            (
                r#"10.0.0.7 - - [01/May/2024:12:00:03 +0000] "POST /api/orders HTTP/1.1" 502 157 "-" "curl/8.5.0""#,
                Error,
            ),
            (
                r#"203.0.113.5 - - [01/May/2024:12:00:10 +0000] "GET /wp-login.php HTTP/1.1" 404 153 "-" "x""#,
                Warning,
            ),
            (
                r#"192.168.1.20 - - [01/May/2024:12:00:01 +0000] "GET /api/users/42 HTTP/1.1" 200 512 "-" "x""#,
                Info,
            ),
            // Words, without a level.
            (
                "May 01 12:00:00 host systemd[1]: Failed to start nginx.service.",
                Error,
            ),
            (
                "May 01 12:00:00 host sshd[99]: Connection refused by peer",
                Error,
            ),
            (
                "May 01 12:00:00 host app[1]: warning: low disk space",
                Warning,
            ),
            // Nothing.
            (
                "May 01 12:00:00 host systemd[1]: Started nginx.service.",
                Info,
            ),
            ("", Info),
            ("error_count=0 errors=0 panic_on_oops=1", Info),
            ("the tokenizer is ready", Info),
        ];
        for (line, expected) in cases {
            assert_eq!(classify_line(line), *expected, "{line:?}");
        }
    }

    #[test]
    fn level_names_and_numbers() {
        assert_eq!(Severity::from_level_name("WARN"), Some(Severity::Warning));
        assert_eq!(Severity::from_level_name("\"crit\""), Some(Severity::Fatal));
        assert_eq!(Severity::from_level_name("3"), Some(Severity::Error));
        assert_eq!(Severity::from_level_name("6"), Some(Severity::Info));
        assert_eq!(Severity::from_level_name("50"), Some(Severity::Error));
        assert_eq!(Severity::from_level_name("60"), Some(Severity::Fatal));
        assert_eq!(Severity::from_level_name("40"), Some(Severity::Warning));
        assert_eq!(Severity::from_level_name("30"), Some(Severity::Info));
        assert_eq!(Severity::from_level_name("banana"), None);
        assert_eq!(
            explicit_level("level=banana ERROR x"),
            Some(Severity::Error)
        );
    }

    #[test]
    fn order_names_and_counts() {
        let mut sorted = vec![
            Severity::Info,
            Severity::Error,
            Severity::Fatal,
            Severity::Warning,
            Severity::Exception,
        ];
        sorted.sort();
        assert_eq!(sorted, Severity::ALL);
        for severity in Severity::ALL {
            assert_eq!(severity.as_str().parse::<Severity>().ok(), Some(severity));
            assert_eq!(
                serde_json::to_value(severity).ok(),
                Some(serde_json::json!(severity.as_str()))
            );
        }
        assert!("FATAL".parse::<Severity>().is_err());

        let mut counts = SeverityCounts::default();
        counts.add(Severity::Error, 2);
        counts.add(Severity::Info, 5);
        counts.add(Severity::Exception, 1);
        assert_eq!(counts.total(), 8);
        assert_eq!(counts.problems(), 3);
        assert_eq!(
            serde_json::to_value(counts).ok(),
            Some(serde_json::json!({
                "fatal": 0, "exception": 1, "error": 2, "warning": 0, "info": 5
            }))
        );
    }
}
