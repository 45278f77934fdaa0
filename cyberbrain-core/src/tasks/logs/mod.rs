//! `log_triage` (SPEC §3.2): the deterministic analysis and the prompt budgeting.
//!
//! The run engine drives one job like this:
//!
//! 1. **Sources.** [`discover_files`] lists the files under `logs_dir` matching the task's globs
//!    (default `**/*.log`, `**/*.txt`), never under the artifacts root; [`read_file_tail`] reads
//!    each one leniently; container logs come from the engine for enabled allowlisted containers
//!    (G5 is the engine's job) and go through [`read_lines_lossy`].
//! 2. **Window.** [`select_window`] keeps the lines since the end of this task's last successful
//!    run, or the last N lines per source ([`WindowSpec`]).
//! 3. **Analysis.** [`Analyzer::add_source`] per source (empty sources too), then
//!    [`Analyzer::finish`]: severities, folded tracebacks, templates counted per source
//!    ([`Analysis`]).
//! 4. **Prompts.** [`plan_prompts`] packs the top templates into batches within a
//!    [`PromptBudget`]; [`render_prompt`] turns each batch into chat messages. One LLM call per
//!    batch with `max_tokens = budget.reserved_for_answer` and JSON mode.
//! 5. **Answer.** [`parse_findings`] per answer (retry once on error, then fail the job with the
//!    error's message, which never quotes the answer), [`merge_findings`] over the batches,
//!    [`retain_known_template_ids`].
//! 6. **Output.** [`render_markdown`] → `log_triage.md`, [`report_json`] → `log_triage.json`
//!    (both redacted by the caller as artifacts), [`summary_json`] → the job result.
//!
//! Everything here is deterministic and synchronous; only [`discover_files`] and
//! [`read_file_tail`] touch the file system.

mod analysis;
mod discover;
mod events;
mod findings;
mod prompt;
mod report;
mod severity;
mod source;
mod template;
mod timestamp;

pub use analysis::{
    Analysis, AnalysisOptions, Analyzer, SourceStat, TemplateStat, analyze, analyze_with,
};
pub use discover::{DEFAULT_GLOBS, Glob, discover_files};
pub use events::{
    BINARY_MESSAGE, DEFAULT_MAX_LINE_CHARS, EventAssembler, LogEvent, fold_events, sanitize,
};
pub use findings::{
    Finding, FindingSeverity, merge_findings, parse_findings, retain_known_template_ids,
};
pub use prompt::{
    KNOWLEDGE_SHARE_DIVISOR, MESSAGE_OVERHEAD_TOKENS, MIN_TEMPLATE_ROOM_TOKENS, PromptBatch,
    PromptBudget, PromptEntry, PromptFrame, ShortenedTemplate, estimate_messages, estimate_tokens,
    fit_knowledge, plan_prompts, render_prompt,
};
pub use report::{MARKDOWN_TOP_TEMPLATES, render_markdown, report_json, summary_json};
pub use severity::{Severity, SeverityCounts, classify_line, explicit_level};
pub use source::{
    FileTail, LogSource, LogSourceKind, SourcedLine, Window, WindowKind, WindowSpec,
    read_file_tail, read_lines_lossy, relative_name, select_window, tail,
};
pub use template::{KEPT_KEYS, mask, template_id};
pub use timestamp::{from_epoch, from_epoch_integer, from_epoch_text, parse_timestamp};
