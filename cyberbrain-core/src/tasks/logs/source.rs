//! Where lines come from and how a source's lines are read and windowed.
//!
//! Reading never fails on content: non-UTF-8 bytes become U+FFFD, CRLF line ends are handled, and
//! a file that ends without a newline keeps its last line. Windowing follows SPEC §3.2: lines
//! since the end of the task's last successful run, or the last N lines when there is none.

use std::fmt;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::timestamp::parse_timestamp;
use crate::{Error, Result};

/// What kind of thing a log source is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogSourceKind {
    /// A file under `logs_dir`.
    File,
    /// The logs of an allowlisted container.
    Container,
}

impl LogSourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LogSourceKind::File => "file",
            LogSourceKind::Container => "container",
        }
    }
}

/// One source of log lines.
///
/// `name` is what reports show: for files, the path relative to `logs_dir` with `/` separators
/// (see [`relative_name`]), so reports never spell out the operator's directory layout; for
/// containers, the allowlisted name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LogSource {
    pub kind: LogSourceKind,
    pub name: String,
}

impl LogSource {
    pub fn file(name: impl Into<String>) -> Self {
        Self {
            kind: LogSourceKind::File,
            name: name.into(),
        }
    }

    pub fn container(name: impl Into<String>) -> Self {
        Self {
            kind: LogSourceKind::Container,
            name: name.into(),
        }
    }

    /// `file:nginx/error.log`, `container:web`: the key sources are counted under.
    pub fn label(&self) -> String {
        format!("{}:{}", self.kind.as_str(), self.name)
    }
}

impl fmt::Display for LogSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind.as_str(), self.name)
    }
}

/// One line and where it came from: the input of [`analyze`](super::analyze).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcedLine {
    pub source: LogSource,
    pub line: String,
}

impl SourcedLine {
    pub fn new(source: &LogSource, line: impl Into<String>) -> Self {
        Self {
            source: source.clone(),
            line: line.into(),
        }
    }
}

/// Splits raw bytes into lines: invalid UTF-8 becomes U+FFFD, `\r\n` and `\n` end lines, a final
/// line without a newline is kept, and a trailing newline does not add an empty line.
///
/// Never fails. A lone `\r` inside a line (progress bars) is kept and shows up as U+FFFD after
/// analysis sanitises control characters.
pub fn read_lines_lossy(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    let mut lines: Vec<String> = text
        .split('\n')
        .map(|line| line.strip_suffix('\r').unwrap_or(line).to_owned())
        .collect();
    if text.ends_with('\n') || text.is_empty() {
        lines.pop();
    }
    lines
}

/// The last `n` items of `lines` (all of them when there are fewer).
pub fn tail<T>(lines: &[T], n: usize) -> &[T] {
    &lines[lines.len().saturating_sub(n)..]
}

/// The end of a log file as read by [`read_file_tail`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileTail {
    pub lines: Vec<String>,
    /// Bytes at the start of the file that were not read (0 when the whole file was read),
    /// including the partial line cut by the byte limit.
    pub skipped_bytes: u64,
}

/// Reads at most the last `max_bytes` of the file at `path` and splits them with
/// [`read_lines_lossy`]. When the file is larger, the first, partial line of what was read is
/// dropped and counted in [`FileTail::skipped_bytes`], so every returned line is whole.
///
/// A file that vanished is [`Error::NotFound`] (the caller reports it as empty); other I/O errors
/// are [`Error::Backend`] naming the path.
pub fn read_file_tail(path: &Path, max_bytes: u64) -> Result<FileTail> {
    let io_error = |e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::not_found("log file", path.display())
        } else {
            Error::backend_with(format!("cannot read log file {}", path.display()), e)
        }
    };
    let mut file = std::fs::File::open(path).map_err(io_error)?;
    let length = file.metadata().map_err(io_error)?.len();
    let start = length.saturating_sub(max_bytes);
    if start > 0 {
        file.seek(SeekFrom::Start(start)).map_err(io_error)?;
    }
    let mut bytes = Vec::new();
    // `take` guards against a file that grows while it is read.
    file.take(max_bytes)
        .read_to_end(&mut bytes)
        .map_err(io_error)?;
    let mut skipped_bytes = start;
    if start > 0 {
        let cut = bytes
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |i| i + 1);
        skipped_bytes += cut as u64;
        bytes.drain(..cut);
    }
    Ok(FileTail {
        lines: read_lines_lossy(&bytes),
        skipped_bytes,
    })
}

/// The path of `path` relative to `root` with `/` separators, for [`LogSource::name`]. Both are
/// compared as given (pass the canonical forms, as [`discover_files`](super::discover_files)
/// returns them); a path outside `root` is named by its file name alone.
pub fn relative_name(root: &Path, path: &Path) -> String {
    match path.strip_prefix(root) {
        Ok(relative) => relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/"),
        Err(_) => path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    }
}

/// What part of a source's lines to analyse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowSpec {
    /// End of this task's last successful run; `None` when it never succeeded.
    pub since: Option<DateTime<Utc>>,
    /// Lines per source without a `since` (SPEC default 1000), and for sources whose lines carry
    /// no timestamp.
    pub tail_lines: usize,
    /// Upper bound on a since-window, so that a task that last succeeded months ago does not
    /// read a whole archive; the newest lines are kept and the rest counted as omitted.
    pub max_lines: usize,
}

impl WindowSpec {
    pub const DEFAULT_TAIL_LINES: usize = 1000;
    pub const DEFAULT_MAX_LINES: usize = 100_000;

    pub fn new(since: Option<DateTime<Utc>>) -> Self {
        Self {
            since,
            tail_lines: Self::DEFAULT_TAIL_LINES,
            max_lines: Self::DEFAULT_MAX_LINES,
        }
    }
}

/// How a window was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowKind {
    /// No `since`: the last `tail_lines` lines.
    Tail,
    /// Lines after `since`.
    Since,
    /// Lines after `since`, more than `max_lines`: the newest `max_lines` were kept.
    SinceCapped,
    /// A `since` was given but no line carried a timestamp: the last `tail_lines` lines.
    TailWithoutTimestamps,
}

/// The lines selected by [`select_window`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window<'a, T> {
    pub lines: &'a [T],
    pub kind: WindowKind,
    /// Lines before the window (older than `since`, or beyond the tail or the cap).
    pub omitted: usize,
}

/// Selects the lines to analyse per SPEC §3.2.
///
/// With a `since`, the window starts after the newest line stamped at or before `since`, and
/// after the unstamped lines that follow it (they continue that old event: traceback frames, a
/// multi-line message). The search runs from the end, so it errs on the side of not analysing
/// old lines twice: a new line whose text merely mentions an older date also ends the window
/// there. When no line is at or before `since`, everything is new. When no line carries a
/// timestamp at all, the window falls back to the tail, and says so.
pub fn select_window<'a, T: AsRef<str>>(lines: &'a [T], spec: &WindowSpec) -> Window<'a, T> {
    let tail_window = |kind| {
        let selected = tail(lines, spec.tail_lines);
        Window {
            lines: selected,
            kind,
            omitted: lines.len() - selected.len(),
        }
    };
    let Some(since) = spec.since else {
        return tail_window(WindowKind::Tail);
    };
    let mut any_timestamp = false;
    let mut start = 0;
    let mut first_stamped_after: Option<usize> = None;
    for (index, line) in lines.iter().enumerate().rev() {
        let Some(at) = parse_timestamp(line.as_ref()) else {
            continue;
        };
        any_timestamp = true;
        if at <= since {
            start = first_stamped_after.unwrap_or(lines.len());
            break;
        }
        first_stamped_after = Some(index);
    }
    if !any_timestamp {
        return tail_window(WindowKind::TailWithoutTimestamps);
    }
    let selected = &lines[start..];
    if selected.len() > spec.max_lines {
        let capped = tail(selected, spec.max_lines);
        return Window {
            lines: capped,
            kind: WindowKind::SinceCapped,
            omitted: lines.len() - capped.len(),
        };
    }
    Window {
        lines: selected,
        kind: WindowKind::Since,
        omitted: start,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lossy_lines_table() {
        let cases: &[(&[u8], &[&str])] = &[
            (b"", &[]),
            (b"\n", &[""]),
            (b"a", &["a"]),
            (b"a\n", &["a"]),
            (b"a\nb", &["a", "b"]),
            (b"a\r\nb\r\n", &["a", "b"]),
            (b"a\r\n\r\nb", &["a", "", "b"]),
            (
                b"progress 10%\rprogress 20%\n",
                &["progress 10%\rprogress 20%"],
            ),
            (b"bad \xff\xfe bytes\n", &["bad \u{FFFD}\u{FFFD} bytes"]),
            // A multi-byte character cut in half is replaced, the line survives.
            (b"caf\xc3\n\xa9", &["caf\u{FFFD}", "\u{FFFD}"]),
            (b"trailing cr\r", &["trailing cr"]),
        ];
        for (bytes, expected) in cases {
            assert_eq!(read_lines_lossy(bytes), *expected, "{bytes:?}");
        }
    }

    #[test]
    fn tail_keeps_the_newest() {
        let lines = ["a", "b", "c"];
        assert_eq!(tail(&lines, 2), ["b", "c"]);
        assert_eq!(tail(&lines, 5), ["a", "b", "c"]);
        assert!(tail(&lines, 0).is_empty());
        assert!(tail::<&str>(&[], 3).is_empty());
    }

    #[test]
    fn labels_and_names() {
        assert_eq!(
            LogSource::file("nginx/error.log").label(),
            "file:nginx/error.log"
        );
        assert_eq!(LogSource::container("web").to_string(), "container:web");
        assert_eq!(
            relative_name(Path::new("/logs"), Path::new("/logs/nginx/error.log")),
            "nginx/error.log"
        );
        assert_eq!(
            relative_name(Path::new("/logs"), Path::new("/elsewhere/x.log")),
            "x.log"
        );
        assert_eq!(
            serde_json::to_value(LogSource::container("web")).ok(),
            Some(serde_json::json!({"kind": "container", "name": "web"}))
        );
    }

    #[test]
    fn reads_whole_files_and_tails_of_large_ones() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("app.log");
        std::fs::write(&path, b"first line\nsecond line\r\nthird \xff line\n").expect("write");

        let whole = read_file_tail(&path, 1 << 20).expect("read");
        assert_eq!(whole.skipped_bytes, 0);
        assert_eq!(
            whole.lines,
            ["first line", "second line", "third \u{FFFD} line"]
        );

        // 20 bytes from the end start inside "second line": that partial line is dropped.
        let tail = read_file_tail(&path, 20).expect("read");
        assert_eq!(tail.lines, ["third \u{FFFD} line"]);
        assert_eq!(tail.skipped_bytes, 24);

        let missing = read_file_tail(&dir.path().join("gone.log"), 10);
        assert!(
            matches!(missing, Err(Error::NotFound { .. })),
            "{missing:?}"
        );
    }

    fn spec(since: Option<&str>, tail_lines: usize, max_lines: usize) -> WindowSpec {
        WindowSpec {
            since: since.map(|s| {
                DateTime::parse_from_rfc3339(s)
                    .expect("valid test time")
                    .with_timezone(&Utc)
            }),
            tail_lines,
            max_lines,
        }
    }

    #[test]
    fn window_since_last_success() {
        let lines = [
            "2024-05-01T11:59:00Z old",
            "2024-05-01T12:00:00Z at the boundary",
            "  continuation of the boundary event",
            "2024-05-01T12:00:01Z new one",
            "  its continuation",
            "2024-05-01T12:05:00Z new two",
        ];
        let window = select_window(&lines, &spec(Some("2024-05-01T12:00:00Z"), 2, 100));
        assert_eq!(window.kind, WindowKind::Since);
        assert_eq!(window.lines, &lines[3..]);
        assert_eq!(window.omitted, 3);

        // Nothing newer: an empty window.
        let window = select_window(&lines, &spec(Some("2024-05-02T00:00:00Z"), 2, 100));
        assert_eq!(window.kind, WindowKind::Since);
        assert!(window.lines.is_empty());
        assert_eq!(window.omitted, 6);

        // Everything newer, including unstamped lines before the first stamp.
        let window = select_window(&lines, &spec(Some("2024-01-01T00:00:00Z"), 2, 100));
        assert_eq!(window.lines.len(), 6);
        assert_eq!(window.omitted, 0);

        // Capped to the newest lines.
        let window = select_window(&lines, &spec(Some("2024-01-01T00:00:00Z"), 2, 4));
        assert_eq!(window.kind, WindowKind::SinceCapped);
        assert_eq!(window.lines, &lines[2..]);
        assert_eq!(window.omitted, 2);
    }

    #[test]
    fn window_search_stops_at_the_newest_old_stamp() {
        let lines = [
            "2024-05-01T11:00:00Z old",
            "2024-05-01T12:10:00Z new",
            "replaying a record from 2024-04-01T00:00:00Z",
            "2024-05-01T12:11:00Z newer",
        ];
        let window = select_window(&lines, &spec(Some("2024-05-01T12:00:00Z"), 10, 100));
        // The old date mentioned on line 2 ends the search there: only what follows it counts as
        // new, and no old line is analysed twice.
        assert_eq!(window.lines, &lines[3..]);
    }

    #[test]
    fn window_tail_and_no_timestamps() {
        let lines = ["a", "b", "c", "d"];
        let window = select_window(&lines, &spec(None, 3, 100));
        assert_eq!(
            (window.kind, window.lines, window.omitted),
            (WindowKind::Tail, &lines[1..], 1)
        );
        let window = select_window(&lines, &spec(Some("2024-05-01T12:00:00Z"), 2, 100));
        assert_eq!(window.kind, WindowKind::TailWithoutTimestamps);
        assert_eq!(window.lines, &lines[2..]);
        assert_eq!(window.omitted, 2);
        let empty: [&str; 0] = [];
        assert!(select_window(&empty, &spec(None, 3, 100)).lines.is_empty());
    }
}
