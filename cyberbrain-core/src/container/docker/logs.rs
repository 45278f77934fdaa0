//! Docker log frames → [`LogLine`]s. Frames do not align with lines (a frame may hold several
//! lines or part of one), so bytes are buffered per stream and cut at `\n`.

use chrono::{DateTime, SubsecRound, Utc};

use bollard::container::LogOutput;

use crate::container::LogLine;
use crate::domain::Timestamp;

/// Collects frames of one logs answer into lines, in the order they complete.
#[derive(Debug, Default)]
pub(super) struct LineCollector {
    lines: Vec<LogLine>,
    /// Unfinished line per stream: stdout, stderr, stdin.
    partial: [Vec<u8>; 3],
}

const STREAMS: [&str; 3] = ["stdout", "stderr", "stdin"];

impl LineCollector {
    pub(super) fn push(&mut self, frame: LogOutput) {
        let (slot, bytes) = match frame {
            LogOutput::StdOut { message } => (0, message),
            LogOutput::StdErr { message } => (1, message),
            LogOutput::StdIn { message } => (2, message),
            // A tty container's streams are merged by the engine; Docker calls that stdout.
            LogOutput::Console { message } => (0, message),
        };
        let buffer = &mut self.partial[slot];
        buffer.extend_from_slice(&bytes);
        let mut start = 0;
        while let Some(offset) = buffer[start..].iter().position(|b| *b == b'\n') {
            let end = start + offset;
            self.lines
                .push(parse_line(&buffer[start..end], STREAMS[slot]));
            start = end + 1;
        }
        buffer.drain(..start);
    }

    /// The lines, with any unterminated last line of each stream.
    pub(super) fn finish(mut self) -> Vec<LogLine> {
        for (slot, buffer) in self.partial.iter().enumerate() {
            if !buffer.is_empty() {
                self.lines.push(parse_line(buffer, STREAMS[slot]));
            }
        }
        self.lines
    }
}

/// One line as the API gives it with `timestamps=1`: an RFC 3339 timestamp, a space, the text.
/// Docker writes nanoseconds, Podman whole seconds; a line without a parseable timestamp is
/// kept whole. Invalid UTF-8 is replaced, never fatal.
pub(super) fn parse_line(bytes: &[u8], stream: &str) -> LogLine {
    let text = String::from_utf8_lossy(bytes);
    let text = text.strip_suffix('\r').unwrap_or(&text);
    let (head, rest) = text.split_once(' ').unwrap_or((text, ""));
    match parse_timestamp(head) {
        Some(timestamp) => LogLine {
            timestamp: Some(timestamp),
            stream: stream.to_string(),
            line: rest.to_string(),
        },
        None => LogLine {
            timestamp: None,
            stream: stream.to_string(),
            line: text.to_string(),
        },
    }
}

fn parse_timestamp(text: &str) -> Option<Timestamp> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Lines after `since`. The API filters in whole seconds and engines that stamp whole seconds
/// (Podman) cannot tell where in that second a line was written, so a line stamped exactly at
/// `since`'s second is kept: a line may repeat across windows, but none is lost.
pub(super) fn keep_since(lines: Vec<LogLine>, since: Option<Timestamp>) -> Vec<LogLine> {
    let Some(since) = since else {
        return lines;
    };
    let since_second = since.trunc_subsecs(0);
    lines
        .into_iter()
        .filter(|l| match l.timestamp {
            Some(at) => at > since || at == since_second,
            None => true,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(text: &[u8]) -> LogOutput {
        LogOutput::StdOut {
            message: text.to_vec().into(),
        }
    }

    fn err(text: &[u8]) -> LogOutput {
        LogOutput::StdErr {
            message: text.to_vec().into(),
        }
    }

    #[test]
    fn second_and_nanosecond_timestamps() {
        let podman = parse_line(b"2026-11-24T05:34:19Z ERROR db timeout 32", "stdout");
        assert_eq!(
            podman.timestamp.unwrap().to_rfc3339(),
            "2026-11-24T05:34:19+00:00"
        );
        assert_eq!(podman.line, "ERROR db timeout 32");
        let docker = parse_line(b"2026-11-24T05:34:19.123456789Z warn  x", "stderr");
        assert_eq!(
            docker.timestamp.unwrap().timestamp_subsec_nanos(),
            123_456_789
        );
        assert_eq!(docker.line, "warn  x", "inner spaces are kept");
        assert_eq!(docker.stream, "stderr");
        let offset = parse_line(b"2026-11-24T07:34:19+02:00 hi", "stdout");
        assert_eq!(offset.timestamp, podman.timestamp);
    }

    #[test]
    fn lines_without_timestamp_or_text_and_bad_utf8() {
        let plain = parse_line(b"no timestamp here", "stdout");
        assert_eq!(plain.timestamp, None);
        assert_eq!(plain.line, "no timestamp here");
        let empty = parse_line(b"2026-11-24T05:34:19Z ", "stdout");
        assert!(empty.timestamp.is_some());
        assert_eq!(empty.line, "");
        let bare = parse_line(b"2026-11-24T05:34:19Z", "stdout");
        assert!(bare.timestamp.is_some());
        assert_eq!(bare.line, "");
        let bad = parse_line(b"2026-11-24T05:34:19Z caf\xe9 \xff\r", "stdout");
        assert_eq!(bad.line, "caf\u{fffd} \u{fffd}");
    }

    #[test]
    fn frames_are_cut_into_lines_per_stream() {
        let mut collector = LineCollector::default();
        collector.push(out(b"2026-11-24T05:34:19Z one\n2026-11-24T05:34:19Z tw"));
        collector.push(err(b"2026-11-24T05:34:19Z oops\n"));
        collector.push(out(b"o\n2026-11-24T05:34:20Z three"));
        let lines = collector.finish();
        let got: Vec<(&str, &str)> = lines
            .iter()
            .map(|l| (l.stream.as_str(), l.line.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("stdout", "one"),
                ("stderr", "oops"),
                ("stdout", "two"),
                ("stdout", "three")
            ]
        );
    }

    #[test]
    fn since_keeps_later_lines_and_the_ambiguous_second() {
        let line = |at: &str| parse_line(format!("{at} x").as_bytes(), "stdout");
        let lines = vec![
            line("2026-11-24T05:34:18Z"),
            line("2026-11-24T05:34:19Z"),
            line("2026-11-24T05:34:19.200Z"),
            line("2026-11-24T05:34:19.800Z"),
            line("2026-11-24T05:34:20Z"),
            parse_line(b"untimed", "stdout"),
        ];
        let since = "2026-11-24T05:34:19.500Z".parse::<Timestamp>().unwrap();
        let kept: Vec<String> = keep_since(lines.clone(), Some(since))
            .iter()
            .map(|l| {
                l.timestamp
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_else(|| l.line.clone())
            })
            .collect();
        assert_eq!(
            kept,
            vec![
                "2026-11-24T05:34:19+00:00",
                "2026-11-24T05:34:19.800+00:00",
                "2026-11-24T05:34:20+00:00",
                "untimed"
            ]
        );
        assert_eq!(keep_since(lines.clone(), None), lines);
    }
}
