//! `log_triage` (SPEC §3.2): log files under `logs_dir` and the logs of enabled allowlisted
//! containers, windowed since this task's last success, analysed into templates, explained by
//! the LLM in budgeted JSON-mode prompts, written as `log_triage.md` and `log_triage.json`.
//!
//! What fails the job, and what is only reported:
//! - a bad task configuration (`globs`, `tail_lines`, …), a prompt frame too large for the
//!   model's context, any LLM error (unreachable — "LLM endpoint unreachable" —, rate-limited,
//!   timed out, no usage), and an answer that is not findings JSON twice (one retry) fail it;
//!   no artifact is written then, and only calls the server answered with usage are recorded;
//! - a missing or unreadable `logs_dir`, an unreadable file, no container engine, an engine that
//!   does not answer and a container that vanished are reported conditions: the other sources
//!   are still read (a vanished file or container is an empty source).
//!
//! G2: the job result holds counts and the findings' severities and redacted titles only —
//! never a log line, a template, a prompt or the model's explanations, which go to the
//! (redacted, G6) artifacts alone.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use chrono::SecondsFormat;
use serde::Serialize;
use serde_json::{Value, json};

use super::markdown::code;
use super::settings::SettingsReader;
use crate::container::{ContainerEngine, LogLine};
use crate::domain::ArtifactKind;
use crate::engine::{JobContext, MAX_QUERY_CHARS, SearchRequest, TaskRunner};
use crate::llm::{ChatMessage, CompletionRequest};
use crate::tasks::logs::{
    Analysis, AnalysisOptions, Analyzer, DEFAULT_GLOBS, Finding, LogSource, PromptBatch,
    PromptBudget, PromptFrame, WindowKind, WindowSpec, discover_files, fit_knowledge,
    merge_findings, parse_findings, plan_prompts, read_file_tail, relative_name, render_markdown,
    render_prompt, report_json, retain_known_template_ids, select_window, summary_json,
};
use crate::{Error, Result};

/// The task key.
pub const LOG_TRIAGE_TASK: &str = "log_triage";
const MARKDOWN_FILE: &str = "log_triage.md";
const JSON_FILE: &str = "log_triage.json";

/// Templates sent to the model by default (task config `top_templates`); the Markdown report
/// lists as many.
const DEFAULT_TOP_TEMPLATES: u64 = 20;
/// Bytes read from the end of each file by default (task config `max_file_bytes`).
const DEFAULT_MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// One answer, then one retry (SPEC §3.2).
const ANSWER_ATTEMPTS: u32 = 2;
/// Low for a factual answer; the retry samples differently, or asking again with the same
/// greedy settings would repeat the same invalid answer.
const FIRST_TEMPERATURE: f32 = 0.2;
const RETRY_TEMPERATURE: f32 = 0.7;

/// The `log_triage` runner.
#[derive(Debug, Default)]
pub struct LogTriageRunner;

/// The task configuration (seeded: `{"globs": ["**/*.log", "**/*.txt"], "tail_lines": 1000}`).
#[derive(Debug, Clone)]
struct Settings {
    globs: Vec<String>,
    /// Lines per source without a last success (or without timestamps).
    tail_lines: usize,
    /// Newest lines per source kept of a since-window.
    max_lines: usize,
    top_templates: usize,
    max_file_bytes: u64,
}

impl Settings {
    fn read(ctx: &JobContext) -> Result<Self> {
        let mut reader = SettingsReader::new(ctx.task_config());
        let globs = reader.strings("globs", DEFAULT_GLOBS);
        let tail_lines = reader.count(
            "tail_lines",
            WindowSpec::DEFAULT_TAIL_LINES as u64,
            1_000_000,
        );
        let max_lines = reader.count(
            "max_lines",
            WindowSpec::DEFAULT_MAX_LINES as u64,
            10_000_000,
        );
        let top_templates = reader.count("top_templates", DEFAULT_TOP_TEMPLATES, 1000);
        let max_file_bytes = reader.count("max_file_bytes", DEFAULT_MAX_FILE_BYTES, 1 << 30);
        reader.finish()?;
        let size = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        Ok(Self {
            globs,
            tail_lines: size(tail_lines),
            max_lines: size(max_lines),
            top_templates: size(top_templates),
            max_file_bytes,
        })
    }
}

/// Something about one source (or a whole kind of source) the report should say.
#[derive(Debug, Clone, Serialize)]
struct SourceNote {
    /// `file:app.log`, `container:web`, or `files` / `containers` for the whole kind.
    source: String,
    note: String,
}

/// How reading the container logs went.
#[derive(Debug, Clone, PartialEq)]
enum ContainerLogs {
    /// No engine is configured: only files were read.
    NotConfigured,
    /// The engine did not answer the listing; the reason.
    Unavailable(String),
    /// This many allowlisted containers were read.
    Read(usize),
}

impl ContainerLogs {
    fn status(&self) -> &'static str {
        match self {
            Self::NotConfigured => "not_configured",
            Self::Unavailable(_) => "container_engine_unavailable",
            Self::Read(_) => "read",
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::NotConfigured => {
                "not read: no container engine is configured (set DOCKER_HOST to read the logs of \
                 allowlisted containers)"
                    .to_owned()
            }
            Self::Unavailable(reason) => format!(
                "not read: `container_engine_unavailable`: {}; the log files were still read",
                code(reason)
            ),
            Self::Read(0) => "no enabled allowlisted container is running".to_owned(),
            Self::Read(n) => format!(
                "{n} allowlisted {} read",
                if *n == 1 { "container" } else { "containers" }
            ),
        }
    }
}

/// How the windows of the sources came out.
#[derive(Debug, Clone, Default, Serialize)]
struct WindowTally {
    /// Lines older than the window (or beyond the tail or cap), over all sources.
    omitted_lines: usize,
    /// Sources whose lines carry no timestamp, so the tail was read although a last success
    /// was known.
    without_timestamps: usize,
    /// Sources whose since-window held more than `max_lines`: the newest were kept.
    capped: usize,
}

/// Everything read so far.
struct Collected {
    analyzer: Analyzer,
    notes: Vec<SourceNote>,
    tally: WindowTally,
    files: usize,
}

impl Collected {
    fn add<T: AsRef<str>>(&mut self, source: &LogSource, lines: &[T], spec: &WindowSpec) {
        let window = select_window(lines, spec);
        self.tally.omitted_lines += window.omitted;
        match window.kind {
            WindowKind::TailWithoutTimestamps => self.tally.without_timestamps += 1,
            WindowKind::SinceCapped => self.tally.capped += 1,
            WindowKind::Tail | WindowKind::Since => {}
        }
        self.analyzer.add_source(source, window.lines);
    }

    /// A source that gave nothing: it is still listed (with zero lines), and why is noted.
    fn add_empty(&mut self, source: &LogSource, note: impl Into<String>) {
        self.analyzer.add_source(source, Vec::<String>::new());
        self.notes.push(SourceNote {
            source: source.label(),
            note: note.into(),
        });
    }
}

#[async_trait]
impl TaskRunner for LogTriageRunner {
    async fn run(&self, ctx: &JobContext) -> Result<Value> {
        let settings = Settings::read(ctx)?;
        let since = ctx.last_success().await?;
        let spec = WindowSpec {
            since,
            tail_lines: settings.tail_lines,
            max_lines: settings.max_lines,
        };
        let options = AnalysisOptions {
            redact_examples: ctx.config().privacy.redacted_mode,
            ..AnalysisOptions::default()
        };
        let collected = Collected {
            analyzer: Analyzer::new(options),
            notes: Vec::new(),
            tally: WindowTally::default(),
            files: 0,
        };
        let logs_dir = ctx.config().paths.logs_dir();
        let artifacts_dir = ctx.config().paths.artifacts_dir();
        let file_settings = settings.clone();
        let mut collected = tokio::task::spawn_blocking(move || {
            read_files(&logs_dir, &artifacts_dir, &file_settings, &spec, collected)
        })
        .await
        .map_err(|e| Error::backend(format!("log_triage file reader task failed: {e}")))??;
        let containers = read_containers(ctx, &spec, &mut collected).await?;
        let Collected {
            analyzer,
            notes,
            tally,
            files,
        } = collected;
        let analysis = analyzer.finish();

        let window = describe_window(&spec);
        let budget = PromptBudget::for_context(ctx.context_tokens());
        let retrieval = retrieve(ctx, &analysis, &budget).await;
        let (findings, plan) = ask_model(
            ctx,
            &analysis,
            &window,
            settings.top_templates,
            retrieval.knowledge.clone(),
        )
        .await?;

        // Reports show redacted findings when redacted mode is on, so mask tokens the artifact
        // writer would insert later cannot be taken for HTML (see `render_markdown`).
        let redacted_mode = ctx.config().privacy.redacted_mode;
        let shown: Vec<Finding> = if redacted_mode {
            findings.iter().map(Finding::redacted).collect()
        } else {
            findings.clone()
        };
        let use_rag = ctx.run().use_rag;
        let mut markdown = render_markdown(&analysis, &shown, &window, &plan);
        append_reading_notes(
            &mut markdown,
            &containers,
            &notes,
            &tally,
            files,
            &retrieval,
        );
        let mut report = report_json(&analysis, &shown, &window, &plan);
        if let Some(object) = report.as_object_mut() {
            object.insert(
                "reading".into(),
                json!({
                    "files": files,
                    "container_logs": containers.status(),
                    "container_engine_reason": match &containers {
                        ContainerLogs::Unavailable(reason) => Some(reason.as_str()),
                        _ => None,
                    },
                    "notes": notes,
                    "windows": tally,
                }),
            );
            object.insert("rag".into(), retrieval.to_json());
        }
        ctx.artifacts()
            .write(MARKDOWN_FILE, ArtifactKind::Markdown, &markdown)
            .await?;
        ctx.artifacts().write_json(JSON_FILE, &report).await?;

        let mut result = summary_json(&analysis, &findings);
        if let Some(object) = result.as_object_mut() {
            object.insert("prompts".into(), json!(plan.len()));
            object.insert(
                "templates_sent".into(),
                json!(plan.iter().map(|b| b.entries.len()).sum::<usize>()),
            );
            object.insert("files".into(), json!(files));
            object.insert("container_logs".into(), json!(containers.status()));
            object.insert("source_notes".into(), json!(notes.len()));
            object.insert(
                "window".into(),
                json!(if since.is_some() {
                    "since_last_success"
                } else {
                    "tail"
                }),
            );
            object.insert("use_rag".into(), json!(use_rag));
            object.insert("rag_used".into(), json!(retrieval.used()));
            object.insert("rag_chunks_retrieved".into(), json!(retrieval.retrieved));
            object.insert("rag_chunks_used".into(), json!(retrieval.knowledge.len()));
        }
        Ok(result)
    }
}

/// Finds and reads the files (blocking: runs on a blocking thread).
fn read_files(
    logs_dir: &Path,
    artifacts_dir: &Path,
    settings: &Settings,
    spec: &WindowSpec,
    mut collected: Collected,
) -> Result<Collected> {
    let paths = match discover_files(logs_dir, &settings.globs, &[artifacts_dir]) {
        Ok(paths) => paths,
        // A missing or unreadable logs directory is reported; container logs are still read.
        Err(Error::Unavailable { message, .. }) => {
            collected.notes.push(SourceNote {
                source: "files".into(),
                note: message,
            });
            return Ok(collected);
        }
        Err(e) => return Err(e),
    };
    let root: PathBuf = logs_dir
        .canonicalize()
        .unwrap_or_else(|_| logs_dir.to_path_buf());
    for path in paths {
        let source = LogSource::file(relative_name(&root, &path));
        collected.files += 1;
        match read_file_tail(&path, settings.max_file_bytes) {
            Ok(tail) => {
                let before = collected.tally.omitted_lines;
                collected.add(&source, &tail.lines, spec);
                // The window reached the start of what was read, and there was more before it.
                if tail.skipped_bytes > 0 && collected.tally.omitted_lines == before {
                    collected.notes.push(SourceNote {
                        source: source.label(),
                        note: format!(
                            "only the last {} bytes were read ({} earlier bytes skipped); raise \
                             max_file_bytes in the task config to analyse more",
                            settings.max_file_bytes, tail.skipped_bytes
                        ),
                    });
                }
            }
            Err(Error::NotFound { .. }) => {
                collected.add_empty(&source, "vanished while it was read: analysed as empty")
            }
            Err(e) => collected.add_empty(&source, format!("not read: {e}")),
        }
    }
    Ok(collected)
}

/// Reads the logs of the enabled allowlisted containers through the allowlisted engine (G5).
async fn read_containers(
    ctx: &JobContext,
    spec: &WindowSpec,
    collected: &mut Collected,
) -> Result<ContainerLogs> {
    let Some(engine) = ctx.containers().await? else {
        return Ok(ContainerLogs::NotConfigured);
    };
    // Files are the task's first source: whatever the engine answers, they are analysed.
    let mut containers = match engine.list_containers().await {
        Ok(containers) => containers,
        Err(e) => return Ok(ContainerLogs::Unavailable(e.to_string())),
    };
    containers.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
    let tail = u32::try_from(spec.tail_lines).unwrap_or(u32::MAX);
    for container in &containers {
        let name = if container.name.is_empty() {
            container.id.chars().take(12).collect()
        } else {
            container.name.clone()
        };
        let source = LogSource::container(name);
        // A container that vanished since the listing answers with no lines (the engine's
        // contract), which is an empty source, not a failure.
        match engine.logs(&container.id, spec.since, tail).await {
            Ok(lines) => {
                let lines: Vec<String> = lines.into_iter().map(docker_style).collect();
                collected.add(&source, &lines, spec);
            }
            Err(e) => collected.add_empty(&source, format!("not read: {e}")),
        }
    }
    Ok(ContainerLogs::Read(containers.len()))
}

/// A container log line as `docker logs --timestamps` prints it, so the analysis sees its time.
fn docker_style(line: LogLine) -> String {
    match line.timestamp {
        Some(at) => format!(
            "{} {}",
            at.to_rfc3339_opts(SecondsFormat::Nanos, true),
            line.line
        ),
        None => line.line,
    }
}

fn describe_window(spec: &WindowSpec) -> String {
    match spec.since {
        Some(since) => format!(
            "since {} (the end of this task's last successful run), at most the newest {} lines \
             per source",
            since.format("%Y-%m-%d %H:%M:%S UTC"),
            spec.max_lines
        ),
        None => format!(
            "the last {} lines per source (this task has no earlier successful run)",
            spec.tail_lines
        ),
    }
}

/// The LLM step: one JSON-mode call per prompt batch, each answer parsed with one retry.
/// Returns no findings and no plan without templates (the model is not asked).
async fn ask_model(
    ctx: &JobContext,
    analysis: &Analysis,
    window: &str,
    top_templates: usize,
    knowledge: Vec<String>,
) -> Result<(Vec<Finding>, Vec<PromptBatch>)> {
    if analysis.templates.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let budget = PromptBudget::for_context(ctx.context_tokens());
    let frame =
        PromptFrame::new(ctx.directive().directive_text.clone(), window).with_knowledge(knowledge);
    let plan = plan_prompts(analysis, &budget, top_templates, &frame)?;
    let mut answers = Vec::with_capacity(plan.len());
    for batch in &plan {
        let messages = render_prompt(batch, &frame);
        answers.push(ask_batch(ctx, messages, &budget, batch).await?);
    }
    let mut findings = merge_findings(answers);
    retain_known_template_ids(&mut findings, analysis);
    Ok((findings, plan))
}

async fn ask_batch(
    ctx: &JobContext,
    messages: Vec<ChatMessage>,
    budget: &PromptBudget,
    batch: &PromptBatch,
) -> Result<Vec<Finding>> {
    let mut last_error = None;
    for attempt in 1..=ANSWER_ATTEMPTS {
        let mut request = CompletionRequest::new(messages.clone())
            .with_max_tokens(budget.reserved_for_answer)
            .with_json_mode(true);
        request.temperature = Some(if attempt == 1 {
            FIRST_TEMPERATURE
        } else {
            RETRY_TEMPERATURE
        });
        // Transport, status and usage errors end the job at once: retrying them is the
        // executor's and the operator's call, and a failed call records no tokens.
        let completion = ctx.complete(request).await?;
        match parse_findings(&completion.text) {
            Ok(findings) => return Ok(findings),
            Err(e) => {
                // The parser's messages describe the shape, never the answer's text (G2).
                tracing::warn!(
                    run_id = ctx.run().id,
                    job_id = ctx.job().id,
                    prompt = batch.index,
                    attempt,
                    error = %e,
                    "the LLM's answer was not findings JSON"
                );
                last_error = Some(e);
            }
        }
    }
    let reason = last_error.map_or_else(String::new, |e| e.to_string());
    Err(Error::backend(format!(
        "log_triage: the LLM answered prompt {} of {} with invalid findings JSON {ANSWER_ATTEMPTS} \
         times (the answer is retried once): {reason}; a larger or instruction-tuned model \
         (llm.model) usually answers in the requested format",
        batch.index, batch.count
    )))
}

/// Templates whose text makes the knowledge-base query: the most severe and frequent first.
const RAG_QUERY_TEMPLATES: usize = 5;
/// Chunks asked of the knowledge base; those that fit the budget go into the prompt.
const RAG_TOP_K: i64 = 5;

/// What a `use_rag` request retrieved. The chunk texts only ever reach the prompt (G2); the
/// report and result keep counts and document titles.
#[derive(Debug, Default)]
struct Retrieval {
    requested: bool,
    /// The chunks that fit the prompt budget, in rank order.
    knowledge: Vec<String>,
    /// Chunks the search returned.
    retrieved: usize,
    /// Titles of the documents the used chunks come from, in rank order, without repeats.
    documents: Vec<String>,
    /// SHA-256 of the query (the retrieval event linked to the run records the same).
    query_hash: Option<String>,
    /// Why nothing was retrieved although it was requested.
    skipped: Option<String>,
}

impl Retrieval {
    fn used(&self) -> bool {
        !self.knowledge.is_empty()
    }

    fn to_json(&self) -> Value {
        json!({
            "requested": self.requested,
            "used": self.used(),
            "chunks_retrieved": self.retrieved,
            "chunks_used": self.knowledge.len(),
            "documents": self.documents,
            "query_hash": self.query_hash,
            "skipped": self.skipped,
        })
    }
}

/// Searches the knowledge base with the top templates when the run asked for it. A knowledge
/// base that cannot answer (no model installed, nothing uploaded) does not fail the triage: the
/// report says why no notes were used.
async fn retrieve(ctx: &JobContext, analysis: &Analysis, budget: &PromptBudget) -> Retrieval {
    if !ctx.run().use_rag {
        return Retrieval::default();
    }
    let mut retrieval = Retrieval {
        requested: true,
        ..Retrieval::default()
    };
    let query: String = analysis
        .templates
        .iter()
        .take(RAG_QUERY_TEMPLATES)
        .map(|stat| stat.template.as_str())
        .collect::<Vec<_>>()
        .join("\n")
        .chars()
        .take(MAX_QUERY_CHARS)
        .collect();
    if query.trim().is_empty() {
        retrieval.skipped = Some("no log events to look up".into());
        return retrieval;
    }
    let request = SearchRequest {
        query_text: query,
        top_k: Some(RAG_TOP_K),
        run_id: Some(ctx.run().id),
        ..SearchRequest::default()
    };
    match ctx.cyberbrain().search(request).await {
        Ok(found) => {
            retrieval.retrieved = found.results.len();
            retrieval.query_hash = Some(found.query_hash);
            let texts: Vec<&str> = found
                .results
                .iter()
                .map(|hit| hit.chunk_text.as_str())
                .collect();
            for index in fit_knowledge(&texts, budget) {
                let hit = &found.results[index];
                retrieval.knowledge.push(hit.chunk_text.clone());
                if !retrieval.documents.contains(&hit.document_title) {
                    retrieval.documents.push(hit.document_title.clone());
                }
            }
            if found.results.is_empty() {
                retrieval.skipped = Some("the knowledge base has no matching documents".into());
            }
        }
        Err(e) => {
            tracing::warn!(run_id = ctx.run().id, job_id = ctx.job().id, error = %e, "log_triage: knowledge-base retrieval failed; continuing without notes");
            retrieval.skipped = Some(e.to_string());
        }
    }
    retrieval
}

/// The report's closing section: how each kind of source was read, conditions, window notes,
/// and what happened to a `use_rag` request.
fn append_reading_notes(
    markdown: &mut String,
    containers: &ContainerLogs,
    notes: &[SourceNote],
    tally: &WindowTally,
    files: usize,
    retrieval: &Retrieval,
) {
    if !markdown.ends_with('\n') {
        markdown.push('\n');
    }
    markdown.push_str("\n## Reading\n\n");
    markdown.push_str(&format!(
        "- **Log files:** {files} matched under the logs directory\n"
    ));
    markdown.push_str(&format!(
        "- **Container logs:** {}\n",
        containers.describe()
    ));
    let sources = |n: usize| format!("{n} {}", if n == 1 { "source" } else { "sources" });
    if tally.without_timestamps > 0 {
        markdown.push_str(&format!(
            "- **Without timestamps:** {}: their last lines were analysed instead of the lines \
             since the last successful run\n",
            sources(tally.without_timestamps)
        ));
    }
    if tally.capped > 0 {
        markdown.push_str(&format!(
            "- **Capped:** {} held more lines since the last successful run than max_lines \
             allows; the newest were analysed\n",
            sources(tally.capped)
        ));
    }
    markdown.push_str(&format!(
        "- **Outside the window:** {} older lines were not analysed\n",
        tally.omitted_lines
    ));
    if retrieval.requested {
        if retrieval.used() {
            let titles: Vec<String> = retrieval.documents.iter().map(|t| code(t)).collect();
            markdown.push_str(&format!(
                "- **Knowledge base:** {} of {} retrieved notes went into the prompt, from {}\n",
                retrieval.knowledge.len(),
                retrieval.retrieved,
                titles.join(", ")
            ));
        } else {
            markdown.push_str(&format!(
                "- **Knowledge base:** requested (`use_rag`), no notes used: {}\n",
                code(
                    retrieval
                        .skipped
                        .as_deref()
                        .unwrap_or("the retrieved notes did not fit the prompt budget")
                )
            ));
        }
    }
    if !notes.is_empty() {
        markdown.push_str("\n### Conditions\n\n");
        for note in notes {
            markdown.push_str(&format!("- {}: {}\n", code(&note.source), code(&note.note)));
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    #[test]
    fn container_lines_keep_their_time_like_docker_logs_timestamps() {
        let at = Utc.with_ymd_and_hms(2025, 3, 14, 9, 26, 53).unwrap();
        let line = |timestamp| LogLine {
            timestamp,
            stream: "stdout".into(),
            line: "ERROR db down".into(),
        };
        assert_eq!(
            docker_style(line(Some(at))),
            "2025-03-14T09:26:53.000000000Z ERROR db down"
        );
        assert_eq!(docker_style(line(None)), "ERROR db down");
    }

    #[test]
    fn windows_are_described_for_the_prompt_and_the_report() {
        let since = Utc.with_ymd_and_hms(2025, 3, 14, 9, 26, 53).unwrap();
        let mut spec = WindowSpec::new(Some(since));
        spec.max_lines = 500;
        assert_eq!(
            describe_window(&spec),
            "since 2025-03-14 09:26:53 UTC (the end of this task's last successful run), at \
             most the newest 500 lines per source"
        );
        spec.since = None;
        spec.tail_lines = 30;
        assert_eq!(
            describe_window(&spec),
            "the last 30 lines per source (this task has no earlier successful run)"
        );
    }

    #[test]
    fn reading_notes_name_conditions_and_the_rag_request() {
        let mut markdown = String::from("# Log triage\n");
        append_reading_notes(
            &mut markdown,
            &ContainerLogs::Unavailable("container engine unavailable: refused".into()),
            &[SourceNote {
                source: "file:a.log".into(),
                note: "not read: permission denied".into(),
            }],
            &WindowTally {
                omitted_lines: 3,
                without_timestamps: 1,
                capped: 0,
            },
            2,
            &Retrieval {
                requested: true,
                skipped: Some("embedder unavailable: no model".into()),
                ..Retrieval::default()
            },
        );
        for expected in [
            "- **Log files:** 2 matched",
            "`container_engine_unavailable`: `container engine unavailable: refused`",
            "- **Without timestamps:** 1 source: their last lines",
            "3 older lines",
            "requested (`use_rag`), no notes used: `embedder unavailable: no model`",
            "- `file:a.log`: `not read: permission denied`",
        ] {
            assert!(markdown.contains(expected), "{expected} in {markdown}");
        }
        let mut markdown = String::new();
        append_reading_notes(
            &mut markdown,
            &ContainerLogs::Read(1),
            &[],
            &WindowTally::default(),
            0,
            &Retrieval::default(),
        );
        assert!(
            markdown.contains("1 allowlisted container read"),
            "{markdown}"
        );
        assert!(!markdown.contains("Knowledge base"), "{markdown}");
        assert!(!markdown.contains("Conditions"), "{markdown}");

        let mut markdown = String::new();
        append_reading_notes(
            &mut markdown,
            &ContainerLogs::NotConfigured,
            &[],
            &WindowTally::default(),
            1,
            &Retrieval {
                requested: true,
                knowledge: vec!["a".into(), "b".into()],
                retrieved: 5,
                documents: vec!["runbook.md".into()],
                ..Retrieval::default()
            },
        );
        assert!(
            markdown.contains("2 of 5 retrieved notes went into the prompt, from `runbook.md`"),
            "{markdown}"
        );
    }
}
