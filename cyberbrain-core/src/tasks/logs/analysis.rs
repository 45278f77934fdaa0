//! The deterministic analysis: events are counted per template and per source.
//!
//! Privacy: templates are masked (see [`template`](super::template)) and then passed through G6
//! [`redact`], so a secret that survived masking never reaches a prompt, an artifact or a job
//! result through a template. Examples are raw lines and are meant for the report artifacts
//! only, never for the database; they are redacted here too unless
//! [`AnalysisOptions::redact_examples`] is off (redacted mode disabled by the operator), and the
//! caller redacts the artifact as a whole anyway.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::events::{DEFAULT_MAX_LINE_CHARS, EventAssembler, LogEvent};
use super::severity::{Severity, SeverityCounts};
use super::source::{LogSource, SourcedLine};
use super::template::{mask, template_id};
use crate::guardrails::redaction::redact;

/// How [`Analyzer`] treats its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnalysisOptions {
    /// Redact examples with G6 (on unless the operator turned redacted mode off).
    pub redact_examples: bool,
    /// Longer lines are shortened with an explicit marker before analysis.
    pub max_line_chars: usize,
}

impl Default for AnalysisOptions {
    fn default() -> Self {
        Self {
            redact_examples: true,
            max_line_chars: DEFAULT_MAX_LINE_CHARS,
        }
    }
}

/// One template and what was counted for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateStat {
    /// First 12 hex characters of the SHA-256 of `template`.
    pub id: String,
    pub template: String,
    /// The most severe severity among its events (in practice they agree: the level is part of
    /// the text).
    pub severity: Severity,
    pub count: u64,
    /// Events per source label (`file:…`, `container:…`).
    pub sources: BTreeMap<String, u64>,
    /// The first event's example (redacted unless redaction is off): for artifacts only.
    pub example: String,
    pub first_seen: Option<DateTime<Utc>>,
    pub last_seen: Option<DateTime<Utc>>,
}

/// What was counted for one source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceStat {
    pub source: LogSource,
    /// `source.label()`, the key used in [`TemplateStat::sources`].
    pub label: String,
    /// Input lines, blank ones included.
    pub lines: u64,
    pub events: u64,
    /// Distinct templates.
    pub templates: u64,
    pub by_severity: SeverityCounts,
    pub first_seen: Option<DateTime<Utc>>,
    pub last_seen: Option<DateTime<Utc>>,
}

/// The result of the deterministic analysis.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Analysis {
    /// Input lines, blank ones included.
    pub total_lines: u64,
    /// Events after folding multi-line blocks (blank lines are no events).
    pub events: u64,
    /// Lines longer than the limit, shortened with a marker.
    pub shortened_lines: u64,
    pub by_severity: SeverityCounts,
    /// Most severe first, then most frequent, then by id.
    pub templates: Vec<TemplateStat>,
    /// Most events first, then by label; sources without lines are listed too.
    pub sources: Vec<SourceStat>,
}

impl Analysis {
    /// The template with this id.
    pub fn template(&self, id: &str) -> Option<&TemplateStat> {
        self.templates.iter().find(|t| t.id == id)
    }
}

/// Analyses `lines` with the default options. Lines of one source should be contiguous: a
/// multi-line block is only folded within a contiguous run (use [`Analyzer`] to add sources one
/// by one, including sources that returned nothing).
pub fn analyze(lines: impl IntoIterator<Item = SourcedLine>) -> Analysis {
    analyze_with(lines, AnalysisOptions::default())
}

/// [`analyze`] with explicit options.
pub fn analyze_with(
    lines: impl IntoIterator<Item = SourcedLine>,
    options: AnalysisOptions,
) -> Analysis {
    let mut analyzer = Analyzer::new(options);
    let mut run: Option<(LogSource, Vec<String>)> = None;
    for SourcedLine { source, line } in lines {
        match &mut run {
            Some((current, buffered)) if *current == source => buffered.push(line),
            _ => {
                if let Some((current, buffered)) = run.take() {
                    analyzer.add_source(&current, buffered);
                }
                run = Some((source, vec![line]));
            }
        }
    }
    if let Some((current, buffered)) = run {
        analyzer.add_source(&current, buffered);
    }
    analyzer.finish()
}

/// Accumulates sources one at a time; [`finish`](Self::finish) sorts and returns the analysis.
#[derive(Debug)]
pub struct Analyzer {
    options: AnalysisOptions,
    total_lines: u64,
    events: u64,
    shortened_lines: u64,
    by_severity: SeverityCounts,
    sources: BTreeMap<String, SourceAccumulator>,
    /// Keyed by template text.
    templates: HashMap<String, TemplateAccumulator>,
}

#[derive(Debug)]
struct SourceAccumulator {
    source: LogSource,
    lines: u64,
    events: u64,
    by_severity: SeverityCounts,
    template_ids: BTreeSet<String>,
    first_seen: Option<DateTime<Utc>>,
    last_seen: Option<DateTime<Utc>>,
}

#[derive(Debug)]
struct TemplateAccumulator {
    id: String,
    severity: Severity,
    count: u64,
    sources: BTreeMap<String, u64>,
    example: String,
    first_seen: Option<DateTime<Utc>>,
    last_seen: Option<DateTime<Utc>>,
}

fn widen(
    first: &mut Option<DateTime<Utc>>,
    last: &mut Option<DateTime<Utc>>,
    at: Option<DateTime<Utc>>,
) {
    if let Some(at) = at {
        *first = Some(first.map_or(at, |f| f.min(at)));
        *last = Some(last.map_or(at, |l| l.max(at)));
    }
}

impl Analyzer {
    pub fn new(options: AnalysisOptions) -> Self {
        Self {
            options,
            total_lines: 0,
            events: 0,
            shortened_lines: 0,
            by_severity: SeverityCounts::default(),
            sources: BTreeMap::new(),
            templates: HashMap::new(),
        }
    }

    /// Adds the lines of one source (already windowed). A source with no lines (a vanished
    /// container, an empty file) is still listed. Adding the same source twice adds up.
    pub fn add_source<I, S>(&mut self, source: &LogSource, lines: I)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let label = source.label();
        self.sources
            .entry(label.clone())
            .or_insert_with(|| SourceAccumulator {
                source: source.clone(),
                lines: 0,
                events: 0,
                by_severity: SeverityCounts::default(),
                template_ids: BTreeSet::new(),
                first_seen: None,
                last_seen: None,
            });
        let mut assembler = EventAssembler::new(self.options.max_line_chars);
        let mut line_count = 0;
        for line in lines {
            line_count += 1;
            assembler.push(line.as_ref());
            for event in assembler.take_events() {
                self.record(&label, event);
            }
        }
        assembler.finish();
        for event in assembler.take_events() {
            self.record(&label, event);
        }
        self.total_lines += line_count;
        self.shortened_lines += assembler.shortened_lines();
        if let Some(acc) = self.sources.get_mut(&label) {
            acc.lines += line_count;
        }
    }

    fn record(&mut self, label: &str, event: LogEvent) {
        let template = redact(&mask(&event.message)).into_owned();
        let redact_examples = self.options.redact_examples;
        let acc = self
            .templates
            .entry(template)
            .or_insert_with_key(|template| TemplateAccumulator {
                id: template_id(template),
                severity: event.severity,
                count: 0,
                sources: BTreeMap::new(),
                example: if redact_examples {
                    redact(&event.example).into_owned()
                } else {
                    event.example.clone()
                },
                first_seen: None,
                last_seen: None,
            });
        acc.severity = acc.severity.min(event.severity);
        acc.count += 1;
        *acc.sources.entry(label.to_owned()).or_default() += 1;
        widen(&mut acc.first_seen, &mut acc.last_seen, event.timestamp);
        let id = acc.id.clone();

        if let Some(source) = self.sources.get_mut(label) {
            source.events += 1;
            source.by_severity.add(event.severity, 1);
            source.template_ids.insert(id);
            widen(
                &mut source.first_seen,
                &mut source.last_seen,
                event.timestamp,
            );
        }
        self.events += 1;
        self.by_severity.add(event.severity, 1);
    }

    pub fn finish(self) -> Analysis {
        let mut templates: Vec<TemplateStat> = self
            .templates
            .into_iter()
            .map(|(template, acc)| TemplateStat {
                id: acc.id,
                template,
                severity: acc.severity,
                count: acc.count,
                sources: acc.sources,
                example: acc.example,
                first_seen: acc.first_seen,
                last_seen: acc.last_seen,
            })
            .collect();
        templates.sort_by(|a, b| {
            (a.severity, std::cmp::Reverse(a.count), &a.id, &a.template).cmp(&(
                b.severity,
                std::cmp::Reverse(b.count),
                &b.id,
                &b.template,
            ))
        });
        let mut sources: Vec<SourceStat> = self
            .sources
            .into_iter()
            .map(|(label, acc)| SourceStat {
                source: acc.source,
                label,
                lines: acc.lines,
                events: acc.events,
                templates: acc.template_ids.len() as u64,
                by_severity: acc.by_severity,
                first_seen: acc.first_seen,
                last_seen: acc.last_seen,
            })
            .collect();
        sources.sort_by(|a, b| b.events.cmp(&a.events).then_with(|| a.label.cmp(&b.label)));
        Analysis {
            total_lines: self.total_lines,
            events: self.events,
            shortened_lines: self.shortened_lines,
            by_severity: self.by_severity,
            templates,
            sources,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::tasks::logs::source::read_lines_lossy;

    /// The fixtures under `tests/fixtures/logs/`, as (file name, bytes).
    pub(crate) const FIXTURES: &[(&str, &[u8])] = &[
        (
            "nginx_access.log",
            include_bytes!("../../../tests/fixtures/logs/nginx_access.log"),
        ),
        (
            "nginx_error.log",
            include_bytes!("../../../tests/fixtures/logs/nginx_error.log"),
        ),
        (
            "journal_export.txt",
            include_bytes!("../../../tests/fixtures/logs/journal_export.txt"),
        ),
        (
            "journal_short.log",
            include_bytes!("../../../tests/fixtures/logs/journal_short.log"),
        ),
        (
            "python_app.log",
            include_bytes!("../../../tests/fixtures/logs/python_app.log"),
        ),
        (
            "rust_service.log",
            include_bytes!("../../../tests/fixtures/logs/rust_service.log"),
        ),
        (
            "java_app.log",
            include_bytes!("../../../tests/fixtures/logs/java_app.log"),
        ),
        (
            "json_app.log",
            include_bytes!("../../../tests/fixtures/logs/json_app.log"),
        ),
        (
            "docker_web.log",
            include_bytes!("../../../tests/fixtures/logs/docker_web.log"),
        ),
        (
            "binary_garbage.log",
            include_bytes!("../../../tests/fixtures/logs/binary_garbage.log"),
        ),
    ];

    pub(crate) fn fixture(name: &str) -> Vec<String> {
        let (_, bytes) = FIXTURES
            .iter()
            .find(|(n, _)| *n == name)
            .expect("known fixture");
        read_lines_lossy(bytes)
    }

    fn analyse_fixture(name: &str) -> Analysis {
        let mut analyzer = Analyzer::new(AnalysisOptions::default());
        analyzer.add_source(&LogSource::file(name), fixture(name));
        analyzer.finish()
    }

    /// (severity, count, template) of every template, in order.
    fn table(analysis: &Analysis) -> Vec<(Severity, u64, &str)> {
        analysis
            .templates
            .iter()
            .map(|t| (t.severity, t.count, t.template.as_str()))
            .collect()
    }

    /// [`table`] with ties broken by template text instead of id, for readable expectations.
    fn sorted_table(analysis: &Analysis) -> Vec<(Severity, u64, &str)> {
        let mut rows = table(analysis);
        rows.sort_by(|a, b| {
            (a.0, std::cmp::Reverse(a.1), a.2).cmp(&(b.0, std::cmp::Reverse(b.1), b.2))
        });
        rows
    }

    /// Every fixture's analysis is consistent: counts add up, ids are the hashes of the texts,
    /// the order is the documented one, and nothing invisible reaches a template.
    #[test]
    fn invariants_hold_for_every_fixture() {
        for (name, _) in FIXTURES {
            let analysis = analyse_fixture(name);
            let sum: u64 = analysis.templates.iter().map(|t| t.count).sum();
            assert_eq!(sum, analysis.events, "{name}");
            assert_eq!(analysis.by_severity.total(), analysis.events, "{name}");
            assert_eq!(analysis.sources.len(), 1, "{name}");
            assert_eq!(analysis.sources[0].lines, analysis.total_lines, "{name}");
            assert_eq!(
                analysis.sources[0].templates,
                analysis.templates.len() as u64,
                "{name}"
            );
            for pair in analysis.templates.windows(2) {
                let key = |t: &TemplateStat| (t.severity, std::cmp::Reverse(t.count), t.id.clone());
                assert!(key(&pair[0]) <= key(&pair[1]), "{name}: order");
            }
            for t in &analysis.templates {
                assert_eq!(t.id, template_id(&t.template), "{name}");
                assert_eq!(t.sources.values().sum::<u64>(), t.count, "{name}");
                assert!(
                    !t.template.chars().any(|c| c.is_control()),
                    "{name}: {:?}",
                    t.template
                );
                assert!(!t.example.contains('\u{1b}'), "{name}");
            }
        }
    }

    #[test]
    fn nginx_access_log() {
        let analysis = analyse_fixture("nginx_access.log");
        assert_eq!(analysis.total_lines, 7);
        assert_eq!(
            sorted_table(&analysis),
            [
                (
                    Severity::Error,
                    3,
                    r#"<ip> - - [<ts>] "POST <path> HTTP/<num>" 502 <num> "-" "curl/<num>""#
                ),
                (
                    Severity::Warning,
                    1,
                    r#"<ip> - - [<ts>] "GET <path> HTTP/<num>" 404 <num> "-" "python-requests/<num>""#
                ),
                (
                    Severity::Info,
                    3,
                    r#"<ip> - - [<ts>] "GET <path> HTTP/<num>" 200 <num> "-" "Mozilla/<num> (X11; Linux x86_<num>)""#
                ),
            ]
        );
        let errors = &analysis.templates[0];
        assert_eq!(
            errors.first_seen.map(|t| t.to_rfc3339()).as_deref(),
            Some("2024-05-01T12:00:03+00:00")
        );
        assert_eq!(
            errors.last_seen.map(|t| t.to_rfc3339()).as_deref(),
            Some("2024-05-01T12:01:15+00:00")
        );
        // The example is redacted: the client address is masked.
        assert!(
            errors
                .example
                .starts_with("<ip> - - [01/May/2024:12:00:03 +0000]")
        );
    }

    #[test]
    fn nginx_error_log() {
        let analysis = analyse_fixture("nginx_error.log");
        let got = table(&analysis);
        assert_eq!(got.len(), 4, "{got:#?}");
        assert_eq!(got[0].0, Severity::Fatal);
        assert_eq!(
            got[1],
            (
                Severity::Error,
                3,
                r#"<ts> [error] <num>#<num>: *<num> connect() failed (<num>: Connection refused) while connecting to upstream, client: <ip>, server: shop.example.com, request: "POST <path> HTTP/<num>", upstream: "<url>", host: "shop.example.com""#
            )
        );
        assert_eq!(got[2].0, Severity::Warning);
        assert_eq!(
            got[3],
            (
                Severity::Info,
                1,
                "<ts> [notice] <num>#<num>: signal process started"
            )
        );
    }

    #[test]
    fn journal_export_and_short_output() {
        let analysis = analyse_fixture("journal_export.txt");
        assert_eq!(analysis.events, 4);
        assert_eq!(
            sorted_table(&analysis),
            [
                (
                    Severity::Fatal,
                    1,
                    "[fatal] kernel: Out of memory: Killed process <num> (python3) total-vm:<num>kB, anon-rss:<num>kB"
                ),
                (
                    Severity::Error,
                    2,
                    "[error] systemd: Failed to start nginx.service - A high performance web server and a reverse proxy server."
                ),
                (
                    Severity::Info,
                    1,
                    "[info] sshd: Accepted publickey for admin from <ip> port <num> ssh2: ED25519 SHA256:<id>"
                ),
            ]
        );

        let analysis = analyse_fixture("journal_short.log");
        let by = analysis.by_severity;
        assert_eq!((by.fatal, by.error, by.warning, by.info), (2, 5, 0, 2));
        // The two failed logins differ only in user name, address, pid and port.
        let failed = analysis
            .templates
            .iter()
            .find(|t| t.template.contains("Failed password"))
            .expect("failed-password template");
        assert_eq!(failed.count, 1, "user names are words, not masked");
        assert!(
            failed
                .template
                .starts_with("<ts> host sshd[<num>]: Failed password")
        );
    }

    #[test]
    fn python_tracebacks() {
        let analysis = analyse_fixture("python_app.log");
        assert_eq!(analysis.total_lines, 31);
        assert_eq!(
            sorted_table(&analysis),
            [
                (
                    Severity::Exception,
                    1,
                    "ValueError: invalid literal for int() with base <num>: 'abc'"
                ),
                (
                    Severity::Exception,
                    1,
                    "ValueError: invalid literal for int() with base <num>: 'xyz'"
                ),
                (
                    Severity::Exception,
                    1,
                    "worker.JobError: database unavailable"
                ),
                (Severity::Error, 3, "<ts> ERROR [worker] Job <num> failed"),
                (
                    Severity::Warning,
                    1,
                    "<ts> WARNING [worker] Retrying job <num> in <dur>"
                ),
                (Severity::Info, 3, "<ts> INFO [worker] Processing job <num>"),
            ]
        );
        assert_eq!(analysis.by_severity.exception, 3);
    }

    #[test]
    fn rust_and_go_panics() {
        let analysis = analyse_fixture("rust_service.log");
        assert_eq!(
            sorted_table(&analysis),
            [
                (
                    Severity::Fatal,
                    1,
                    "panic: runtime error: invalid memory address or nil pointer dereference"
                ),
                (
                    Severity::Fatal,
                    1,
                    "thread 'tokio-runtime-worker' panicked at src/handlers/orders.rs:<num>:<num>: called `Option::unwrap()` on a `None` value"
                ),
                (
                    Severity::Error,
                    2,
                    "ERROR server::db: query failed error=connection reset by peer"
                ),
                (
                    Severity::Warning,
                    2,
                    "WARN server: request took <dur> path=<path>"
                ),
                (Severity::Info, 1, "INFO server: listening on <ip>:<num>"),
            ]
        );
        assert_eq!(analysis.events, 7);
    }

    #[test]
    fn java_stack_traces() {
        let analysis = analyse_fixture("java_app.log");
        assert_eq!(analysis.events, 5);
        let by = analysis.by_severity;
        assert_eq!((by.exception, by.error, by.warning, by.info), (2, 1, 1, 1));
        assert_eq!(
            analysis.templates[0].template,
            "Exception in thread \"scheduler-<num>\" java.lang.IllegalStateException: Pool exhausted"
        );
    }

    #[test]
    fn json_logs() {
        let analysis = analyse_fixture("json_app.log");
        assert_eq!(
            sorted_table(&analysis),
            [
                (
                    Severity::Error,
                    2,
                    "[error] request failed (error: dial tcp <ip>:<num>: connect: connection refused)"
                ),
                (Severity::Error, 1, "[error] unhandled rejection"),
                (
                    Severity::Warning,
                    1,
                    "[warning] disk usage at <num>% on <path>"
                ),
                (Severity::Info, 2, "[info] request completed"),
                (Severity::Info, 1, "not json { broken"),
            ]
        );
    }

    #[test]
    fn docker_logs_with_timestamps() {
        let analysis = analyse_fixture("docker_web.log");
        assert_eq!(
            sorted_table(&analysis),
            [
                (
                    Severity::Exception,
                    1,
                    "ModuleNotFoundError: No module named 'missing_mod'"
                ),
                // With and without the CRI stream tag: the runtime's prefix is not the template.
                (Severity::Error, 2, "ERROR: connection to <url> lost"),
                (Severity::Warning, 1, "WARN cache miss ratio high: <num>"),
                (Severity::Info, 1, "GET <path> <num> <dur>"),
                (Severity::Info, 1, "Starting server on port <num>"),
            ]
        );
        let error = &analysis.templates[1];
        assert_eq!(
            error.last_seen.map(|t| t.to_rfc3339()).as_deref(),
            Some("2024-05-01T12:00:04+00:00")
        );
    }

    #[test]
    fn binary_garbage_is_never_fatal_and_collapses() {
        let analysis = analyse_fixture("binary_garbage.log");
        let binary = analysis
            .templates
            .iter()
            .find(|t| t.template == "<binary data>")
            .expect("binary template");
        assert!(binary.count >= 1);
        assert!(binary.example.starts_with("<binary data: "));
        let colored = analysis
            .templates
            .iter()
            .find(|t| t.template.contains("colored"))
            .expect("colored line");
        assert_eq!(colored.template, "ERROR colored \u{FFFD} line");
        assert_eq!(colored.severity, Severity::Error);
        assert!(
            analysis
                .templates
                .iter()
                .any(|t| t.template == "ERROR after the garbage")
        );
        assert_eq!(analysis.by_severity.fatal, 0);
    }

    #[test]
    fn sources_are_counted_separately_and_empty_ones_listed() {
        let web = LogSource::container("web");
        let file = LogSource::file("app.log");
        let lines = vec![
            SourcedLine::new(&web, "2024-05-01T12:00:00Z ERROR db down"),
            SourcedLine::new(&web, "2024-05-01T12:00:01Z ERROR db down"),
            SourcedLine::new(&file, "2024-05-01T12:00:02Z ERROR db down"),
            SourcedLine::new(&file, ""),
        ];
        let mut analyzer = Analyzer::new(AnalysisOptions::default());
        analyzer.add_source(&LogSource::container("vanished"), Vec::<String>::new());
        let lines: Vec<_> = lines;
        for (source, group) in [(&web, &lines[..2]), (&file, &lines[2..])] {
            analyzer.add_source(source, group.iter().map(|l| l.line.as_str()));
        }
        let analysis = analyzer.finish();
        assert_eq!(analysis.total_lines, 4);
        assert_eq!(analysis.events, 3);
        assert_eq!(analysis.templates.len(), 1);
        assert_eq!(
            analysis.templates[0].sources,
            BTreeMap::from([
                ("container:web".to_owned(), 2),
                ("file:app.log".to_owned(), 1)
            ])
        );
        let labels: Vec<_> = analysis
            .sources
            .iter()
            .map(|s| (s.label.as_str(), s.lines, s.events))
            .collect();
        assert_eq!(
            labels,
            [
                ("container:web", 2, 2),
                ("file:app.log", 2, 1),
                ("container:vanished", 0, 0)
            ]
        );
        assert_eq!(analyze(lines.clone()), analysis_without_vanished(&analysis));
    }

    fn analysis_without_vanished(analysis: &Analysis) -> Analysis {
        let mut copy = analysis.clone();
        copy.sources.retain(|s| s.label != "container:vanished");
        copy
    }

    #[test]
    fn interleaved_sources_do_not_fold_into_each_other() {
        let a = LogSource::file("a.log");
        let b = LogSource::file("b.log");
        let analysis = analyze(vec![
            SourcedLine::new(&a, "Traceback (most recent call last):"),
            SourcedLine::new(&b, "  indented line of another file"),
            SourcedLine::new(&a, "ValueError: x"),
        ]);
        // `a`'s traceback is cut by `b`'s line; nothing of `b` is folded into it.
        assert_eq!(analysis.events, 3);
        assert_eq!(analysis.sources.len(), 2);
    }

    #[test]
    fn examples_are_redacted_unless_redaction_is_off() {
        let source = LogSource::file("auth.log");
        let line = "ERROR login failed for alice@example.com from 10.1.2.3 password=hunter2";
        let mut redacted = Analyzer::new(AnalysisOptions::default());
        redacted.add_source(&source, [line]);
        let redacted = redacted.finish();
        let stat = &redacted.templates[0];
        assert_eq!(
            stat.template,
            "ERROR login failed for <email> from <ip> password=[REDACTED]"
        );
        assert!(!stat.example.contains("alice"));
        assert!(!stat.example.contains("10.1.2.3"));
        assert!(!stat.example.contains("hunter2"));

        let mut plain = Analyzer::new(AnalysisOptions {
            redact_examples: false,
            ..AnalysisOptions::default()
        });
        plain.add_source(&source, [line]);
        assert_eq!(plain.finish().templates[0].example, line);
    }

    #[test]
    fn templates_are_redacted_even_when_masking_misses_a_secret() {
        let source = LogSource::file("x.log");
        let mut analyzer = Analyzer::new(AnalysisOptions::default());
        analyzer.add_source(
            &source,
            ["WARN upstream said Authorization: Bearer abc.def.ghi"],
        );
        let analysis = analyzer.finish();
        assert!(!analysis.templates[0].template.contains("abc.def.ghi"));
    }

    #[test]
    fn long_lines_are_shortened_visibly() {
        let source = LogSource::file("x.log");
        let mut analyzer = Analyzer::new(AnalysisOptions {
            max_line_chars: 20,
            ..AnalysisOptions::default()
        });
        analyzer.add_source(&source, ["ERROR ".to_owned() + &"x".repeat(100)]);
        let analysis = analyzer.finish();
        assert_eq!(analysis.shortened_lines, 1);
        assert_eq!(
            analysis.templates[0].template,
            "ERROR xxxxxxxxxxxxxx…[shortened <num> chars]"
        );
    }

    #[test]
    fn output_is_deterministic() {
        // Templates are gathered in a HashMap with a random seed per map: identical JSON from
        // several runs shows that the order comes from sorting alone.
        let run = || {
            let mut analyzer = Analyzer::new(AnalysisOptions::default());
            analyzer.add_source(&LogSource::file("one.log"), fixture("nginx_error.log"));
            analyzer.add_source(&LogSource::file("two.log"), fixture("json_app.log"));
            analyzer.add_source(&LogSource::file("three.log"), fixture("python_app.log"));
            serde_json::to_string(&analyzer.finish()).expect("serialises")
        };
        let first = run();
        for _ in 0..5 {
            assert_eq!(run(), first);
        }
        let analysis: Analysis = serde_json::from_str(&first).expect("round-trips through JSON");
        assert_eq!(analysis.sources.len(), 3);
    }
}
