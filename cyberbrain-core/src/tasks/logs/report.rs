//! `log_triage.md`, `log_triage.json` and the job-result summary.
//!
//! Markdown safety: the web UI renders reports as sanitised HTML, and the caller redacts every
//! artifact (G6) after rendering. Text from logs and from the model is therefore written so that
//! it can neither change the document's structure nor hide from redaction:
//! - templates, ids and examples go into code spans (mask tokens such as `<ip>` stay visible);
//! - prose is collapsed to one line and only `&`, `<`, `>` (as entities) and `[`, `]` (with a
//!   backslash) are escaped; table cells also escape `|`. Characters that redaction patterns rely
//!   on (`.`, `@`, `:`, `/`, `\`, `_`, `=`) are left alone, so `redact` still finds addresses,
//!   e-mails, home paths and secrets in the rendered text.
//!
//! The summary for the database holds counts and the findings' severities and titles only
//! (redacted), never templates, examples or explanations.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::analysis::Analysis;
use super::findings::{Finding, FindingSeverity};
use super::prompt::PromptBatch;
use super::source::LogSourceKind;
use crate::guardrails::redaction::redact;
use crate::tasks::markdown::{inline, inline_code as code};

/// Templates listed in the Markdown report; all of them are in `log_triage.json`.
pub const MARKDOWN_TOP_TEMPLATES: usize = 20;

/// [`inline`] for a table cell.
fn cell(text: &str) -> String {
    inline(text).replace('|', "\\|")
}

/// [`code`] for a table cell.
fn code_cell(text: &str) -> String {
    code(text).replace('|', "\\|")
}

fn time(at: Option<DateTime<Utc>>) -> String {
    at.map_or_else(
        || "—".to_owned(),
        |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
    )
}

fn ids(ids: &[String]) -> String {
    if ids.is_empty() {
        "—".to_owned()
    } else {
        ids.iter()
            .map(|id| code_cell(id))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn plural(count: u64, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

/// Renders `log_triage.md`: summary, findings, top templates with counts and examples, sources,
/// the window, and what the model was given (batches, shortened templates).
///
/// `findings` are written as given: pass them through [`Finding::redacted`] first when redacted
/// mode is on if the report must read well after redaction (mask tokens the caller's redaction
/// inserts into prose, such as `<ip>`, would otherwise be taken for HTML by a Markdown renderer).
pub fn render_markdown(
    analysis: &Analysis,
    findings: &[Finding],
    window_description: &str,
    plan: &[PromptBatch],
) -> String {
    let mut md = String::new();
    let by = &analysis.by_severity;
    let files = analysis
        .sources
        .iter()
        .filter(|s| s.source.kind == LogSourceKind::File)
        .count() as u64;
    let containers = analysis.sources.len() as u64 - files;

    md.push_str("# Log triage\n\n");
    let _ = writeln!(md, "- **Window:** {}", inline(window_description));
    let _ = writeln!(
        md,
        "- **Sources:** {} ({}, {})",
        analysis.sources.len(),
        plural(files, "file", "files"),
        plural(containers, "container", "containers")
    );
    let _ = writeln!(
        md,
        "- **Analysed:** {} → {} in {}",
        plural(analysis.total_lines, "line", "lines"),
        plural(analysis.events, "event", "events"),
        plural(analysis.templates.len() as u64, "template", "templates")
    );
    let _ = writeln!(
        md,
        "- **Severity:** {} fatal · {} · {} · {} · {} info",
        by.fatal,
        plural(by.exception, "exception", "exceptions"),
        plural(by.error, "error", "errors"),
        plural(by.warning, "warning", "warnings"),
        by.info
    );
    if analysis.shortened_lines > 0 {
        let _ = writeln!(
            md,
            "- **Shortened lines:** {} longer than the limit, cut with a visible marker before \
             analysis",
            analysis.shortened_lines
        );
    }

    md.push_str("\n## Findings\n\n");
    if findings.is_empty() {
        md.push_str(if plan.is_empty() {
            "No log events in the window; the model was not asked.\n"
        } else {
            "The model reported no findings.\n"
        });
    } else {
        md.push_str("| # | Severity | Finding | Templates |\n|---|---|---|---|\n");
        for (number, finding) in findings.iter().enumerate() {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} |",
                number + 1,
                finding.severity,
                cell(&finding.title),
                ids(&finding.template_ids)
            );
        }
        for (number, finding) in findings.iter().enumerate() {
            let _ = write!(
                md,
                "\n### {}. {}\n\n**Severity:** {}. **Templates:** {}\n\n",
                number + 1,
                inline(&finding.title),
                finding.severity,
                ids(&finding.template_ids)
            );
            if !finding.explanation.trim().is_empty() {
                let _ = writeln!(md, "**Explanation:** {}\n", inline(&finding.explanation));
            }
            if !finding.recommendation.trim().is_empty() {
                let _ = writeln!(
                    md,
                    "**Recommendation:** {}\n",
                    inline(&finding.recommendation)
                );
            }
        }
    }

    md.push_str("\n## Top templates\n\n");
    if analysis.templates.is_empty() {
        md.push_str("No events.\n");
    } else {
        md.push_str(
            "| # | Id | Severity | Count | Sources | First seen | Last seen | Template |\n\
             |---|---|---|---|---|---|---|---|\n",
        );
        let shown = &analysis.templates[..analysis.templates.len().min(MARKDOWN_TOP_TEMPLATES)];
        for (number, template) in shown.iter().enumerate() {
            let sources = template
                .sources
                .iter()
                .map(|(label, count)| format!("{} ({count})", cell(label)))
                .collect::<Vec<_>>()
                .join(", ");
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                number + 1,
                code_cell(&template.id),
                template.severity,
                template.count,
                sources,
                time(template.first_seen),
                time(template.last_seen),
                code_cell(&template.template)
            );
        }
        if analysis.templates.len() > shown.len() {
            let _ = writeln!(
                md,
                "\nShowing the top {} of {} templates; `log_triage.json` lists all of them.",
                shown.len(),
                analysis.templates.len()
            );
        }
        md.push_str("\n### Examples\n\n");
        for template in shown {
            let _ = writeln!(md, "- {}: {}", code(&template.id), code(&template.example));
        }
    }

    md.push_str("\n## Sources\n\n");
    if analysis.sources.is_empty() {
        md.push_str("No sources were read.\n");
    } else {
        md.push_str(
            "| Source | Lines | Events | Fatal | Exceptions | Errors | Warnings | First seen | Last seen |\n\
             |---|---|---|---|---|---|---|---|---|\n",
        );
        for source in &analysis.sources {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                cell(&source.label),
                source.lines,
                source.events,
                source.by_severity.fatal,
                source.by_severity.exception,
                source.by_severity.error,
                source.by_severity.warning,
                time(source.first_seen),
                time(source.last_seen)
            );
        }
    }

    md.push_str("\n## Model input\n\n");
    if plan.is_empty() {
        md.push_str("The model was not asked.\n");
    } else {
        let sent: usize = plan.iter().map(|b| b.entries.len()).sum();
        let _ = writeln!(
            md,
            "The top {sent} of {} templates were sent in {} (templates only, no raw lines).",
            analysis.templates.len(),
            plural(plan.len() as u64, "prompt", "prompts")
        );
        let shortened: Vec<_> = plan.iter().flat_map(|b| &b.shortened).collect();
        if !shortened.is_empty() {
            md.push_str("\nShortened to fit the model's context (marked `…[shortened N chars]` in the prompt):\n\n");
            for record in shortened {
                let _ = writeln!(
                    md,
                    "- {}: {} of {} characters kept",
                    code(&record.id),
                    record.kept_chars,
                    record.original_chars
                );
            }
        }
    }
    md
}

fn findings_by_severity(findings: &[Finding]) -> Value {
    let mut counts = serde_json::Map::new();
    for severity in FindingSeverity::ALL {
        let count = findings.iter().filter(|f| f.severity == severity).count();
        counts.insert(severity.as_str().to_owned(), json!(count));
    }
    Value::Object(counts)
}

/// The job result for the database: counts, and each finding's severity and redacted title.
/// No templates, examples, explanations, prompts or raw lines (G2, SPEC §1).
pub fn summary_json(analysis: &Analysis, findings: &[Finding]) -> Value {
    json!({
        "lines": analysis.total_lines,
        "events": analysis.events,
        "templates": analysis.templates.len(),
        "sources": analysis.sources.len(),
        "shortened_lines": analysis.shortened_lines,
        "by_severity": analysis.by_severity,
        "findings_count": findings.len(),
        "findings_by_severity": findings_by_severity(findings),
        "findings": findings
            .iter()
            .map(|f| json!({"severity": f.severity, "title": redact(&f.title)}))
            .collect::<Vec<_>>(),
    })
}

/// `log_triage.json`: the whole analysis (all templates with examples), the findings, the window
/// and what the model was given. An artifact: the caller redacts it like every report file.
pub fn report_json(
    analysis: &Analysis,
    findings: &[Finding],
    window_description: &str,
    plan: &[PromptBatch],
) -> Value {
    json!({
        "window": window_description,
        "summary": {
            "lines": analysis.total_lines,
            "events": analysis.events,
            "templates": analysis.templates.len(),
            "shortened_lines": analysis.shortened_lines,
            "by_severity": analysis.by_severity,
        },
        "findings": findings,
        "templates": analysis.templates,
        "sources": analysis.sources,
        "model_input": {
            "prompts": plan.len(),
            "templates_sent": plan.iter().map(|b| b.entries.len()).sum::<usize>(),
            "template_ids": plan
                .iter()
                .flat_map(PromptBatch::template_ids)
                .collect::<Vec<_>>(),
            "shortened": plan.iter().flat_map(|b| &b.shortened).collect::<Vec<_>>(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::logs::analysis::tests::fixture;
    use crate::tasks::logs::{
        AnalysisOptions, Analyzer, LogSource, PromptBudget, PromptFrame, plan_prompts,
    };

    fn sample() -> (Analysis, Vec<Finding>, Vec<PromptBatch>) {
        let mut analyzer = Analyzer::new(AnalysisOptions::default());
        analyzer.add_source(
            &LogSource::file("nginx/error.log"),
            fixture("nginx_error.log"),
        );
        analyzer.add_source(&LogSource::container("web"), fixture("docker_web.log"));
        analyzer.add_source(&LogSource::container("gone"), Vec::<String>::new());
        let analysis = analyzer.finish();
        let frame = PromptFrame::new("D1", "last 1000 lines per source");
        let plan =
            plan_prompts(&analysis, &PromptBudget::for_context(8192), 40, &frame).expect("plan");
        let connect = analysis
            .templates
            .iter()
            .find(|t| t.template.contains("connect() failed"))
            .expect("template")
            .id
            .clone();
        let findings = vec![
            Finding {
                severity: FindingSeverity::Error,
                title: "Orders upstream | refuses connections".to_owned(),
                explanation: "nginx gets *Connection refused* from <upstream>\n\n# not a heading"
                    .to_owned(),
                recommendation: "Check [the container](javascript:alert(1)) & restart it."
                    .to_owned(),
                template_ids: vec![connect],
            },
            Finding {
                severity: FindingSeverity::Info,
                title: "Cache misses".to_owned(),
                explanation: String::new(),
                recommendation: String::new(),
                template_ids: Vec::new(),
            },
        ];
        (analysis, findings, plan)
    }

    #[test]
    fn markdown_report_has_every_section() {
        let (analysis, findings, plan) = sample();
        let md = render_markdown(&analysis, &findings, "last 1000 lines per source", &plan);
        assert!(md.starts_with("# Log triage\n\n- **Window:** last 1000 lines per source\n"));
        assert!(md.contains("- **Sources:** 3 (1 file, 2 containers)\n"));
        assert!(md.contains(&format!(
            "- **Analysed:** {} lines → {} events in {} templates\n",
            analysis.total_lines,
            analysis.events,
            analysis.templates.len()
        )));
        assert!(md.contains("| 1 | error | Orders upstream \\| refuses connections | `"));
        assert!(md.contains("### 1. Orders upstream | refuses connections\n"));
        // Prose cannot open HTML, links or blocks.
        assert!(md.contains(
            "**Explanation:** nginx gets *Connection refused* from &lt;upstream&gt; # not a heading\n"
        ));
        assert!(md.contains(
            "**Recommendation:** Check \\[the container\\](javascript:alert(1)) &amp; restart it.\n"
        ));
        assert!(!md.contains("\n# not a heading"));
        // Templates are code spans: mask tokens stay visible.
        assert!(md.contains("`<ts> [error] <num>#<num>: *<num> connect() failed"));
        assert!(md.contains("| file:nginx/error.log (3) |"));
        assert!(md.contains("2024-05-01 12:00:03 UTC"));
        assert!(md.contains("## Sources"));
        assert!(md.contains("| container:gone | 0 | 0 | 0 | 0 | 0 | 0 | — | — |"));
        assert!(md.contains(&format!(
            "The top {} of {} templates were sent in 1 prompt",
            analysis.templates.len(),
            analysis.templates.len()
        )));
        // Second finding without explanation renders no empty paragraphs.
        assert!(!md.contains("**Explanation:** \n"));
        // Every table row has the same number of unescaped pipes as its header.
        for line in md.lines().filter(|l| l.starts_with('|')) {
            let pipes = line.replace("\\|", "").matches('|').count();
            assert!([5, 9, 10].contains(&pipes), "{line}");
        }
    }

    #[test]
    fn markdown_without_events_or_findings() {
        let md = render_markdown(&Analysis::default(), &[], "since 2024-05-01 12:00 UTC", &[]);
        assert!(md.contains("No log events in the window; the model was not asked."));
        assert!(md.contains("No events."));
        assert!(md.contains("No sources were read."));
        assert!(md.contains("The model was not asked."));
        let (analysis, _, plan) = sample();
        let md = render_markdown(&analysis, &[], "w", &plan);
        assert!(md.contains("The model reported no findings."));
    }

    #[test]
    fn markdown_lists_only_the_top_templates_and_says_so() {
        let lines: Vec<String> = (0..30)
            .map(|i| {
                format!(
                    "ERROR kind{} broke",
                    char::from(b'a' + (i % 26) as u8)
                        .to_string()
                        .repeat(1 + i / 26)
                )
            })
            .collect();
        let mut analyzer = Analyzer::new(AnalysisOptions::default());
        analyzer.add_source(&LogSource::file("x.log"), lines);
        let analysis = analyzer.finish();
        assert_eq!(analysis.templates.len(), 30);
        let md = render_markdown(&analysis, &[], "w", &[]);
        assert!(
            md.contains("Showing the top 20 of 30 templates; `log_triage.json` lists all of them.")
        );
        assert_eq!(md.matches("| error | 1 |").count(), 20);
    }

    #[test]
    fn code_spans_survive_backticks_and_pipes() {
        assert_eq!(code("plain"), "`plain`");
        assert_eq!(code("a `b` c"), "``a `b` c``");
        assert_eq!(code("`edge`"), "`` `edge` ``");
        assert_eq!(code("x ``` y"), "````x ``` y````");
        assert_eq!(code_cell("a|b"), "`a\\|b`");
        assert_eq!(code("multi\nline\ttext"), "`multi line text`");
    }

    #[test]
    fn rendered_markdown_is_safe_to_redact() {
        let mut analyzer = Analyzer::new(AnalysisOptions {
            redact_examples: false,
            ..AnalysisOptions::default()
        });
        analyzer.add_source(
            &LogSource::file("auth.log"),
            [
                "ERROR login for alice@example.com from 10.1.2.3 failed password=hunter2",
                "WARN reading /home/bob/.ssh/id_rsa",
            ],
        );
        let analysis = analyzer.finish();
        let findings = vec![Finding {
            severity: FindingSeverity::Warning,
            title: "Brute force from 10.1.2.3".to_owned(),
            explanation: "User <alice@example.com> used token=abc123def456 at /home/bob/x"
                .to_owned(),
            recommendation: "Block 10.1.2.3 & rotate api_key=sk-zzzzzzzzzzzzzzzzzzzzzzzz"
                .to_owned(),
            template_ids: vec![],
        }];
        let md = render_markdown(&analysis, &findings, "w", &[]);
        let redacted = redact(&md);
        for secret in [
            "alice@example.com",
            "10.1.2.3",
            "hunter2",
            "abc123def456",
            "sk-zzzzzzzzzzzzzzzzzzzzzzzz",
            "/home/bob",
        ] {
            assert!(
                md.contains(secret) || secret == "hunter2",
                "fixture: {secret}"
            );
            assert!(!redacted.contains(secret), "{secret} survived redaction");
        }
    }

    #[test]
    fn summary_json_holds_counts_and_titles_only() {
        let (analysis, mut findings, _) = sample();
        findings[1].title = "Cache misses on 10.9.8.7".to_owned();
        let summary = summary_json(&analysis, &findings);
        assert_eq!(summary["lines"], json!(analysis.total_lines));
        assert_eq!(summary["events"], json!(analysis.events));
        assert_eq!(summary["templates"], json!(analysis.templates.len()));
        assert_eq!(summary["sources"], json!(3));
        assert_eq!(
            summary["by_severity"]["error"],
            json!(analysis.by_severity.error)
        );
        assert_eq!(summary["findings_count"], json!(2));
        assert_eq!(
            summary["findings_by_severity"],
            json!({"critical": 0, "error": 1, "warning": 0, "info": 1})
        );
        assert_eq!(
            summary["findings"],
            json!([
                {"severity": "error", "title": "Orders upstream | refuses connections"},
                {"severity": "info", "title": "Cache misses on <ip>"}
            ])
        );
        let text = summary.to_string();
        for forbidden in ["connect() failed", "Connection refused", "Check", "<ts>"] {
            assert!(!text.contains(forbidden), "{forbidden} in {text}");
        }
    }

    #[test]
    fn report_json_is_complete() {
        let (analysis, findings, plan) = sample();
        let report = report_json(&analysis, &findings, "last 1000 lines", &plan);
        assert_eq!(report["window"], json!("last 1000 lines"));
        assert_eq!(
            report["templates"].as_array().map(Vec::len),
            Some(analysis.templates.len())
        );
        assert_eq!(report["findings"][0]["severity"], json!("error"));
        assert_eq!(report["model_input"]["prompts"], json!(1));
        assert_eq!(
            report["model_input"]["templates_sent"],
            json!(analysis.templates.len())
        );
        assert_eq!(report["sources"][2]["label"], json!("container:gone"));
    }
}
