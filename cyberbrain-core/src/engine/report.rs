//! The run report (SPEC §3.1, §2.5): when a run ends, `run_<id>/report.md` and `summary.json`
//! are written (redacted, G6) and the database keeps only the summary: statuses, counts,
//! findings' titles and severities, paths — never prompt or response text (G2).

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::{ArtifactWriter, Cyberbrain};
use crate::Result;
use crate::domain::{Artifact, ArtifactKind, ArtifactQuery, PageRequest, Run, RunJob};

pub(crate) const REPORT_MD: &str = "report.md";
pub(crate) const SUMMARY_JSON: &str = "summary.json";

impl Cyberbrain {
    /// Writes the ended run's `report.md` and `summary.json` and stores the summary. Safe to call
    /// again (files and registrations are replaced).
    pub async fn finalize_run(&self, run: &Run) -> Result<Run> {
        let run = self.store.get_run(run.id).await?;
        let jobs = self.store.list_run_jobs(run.id).await?;
        let llm_calls = self.store.list_llm_calls(run.id).await?.len();
        let task_files = self.task_artifacts(run.id).await?;

        let summary = summary_json(&run, &jobs, llm_calls, &task_files);
        let mut markdown = render_header(&run, &jobs);
        for job in &jobs {
            self.render_job_section(&mut markdown, job, &task_files)
                .await?;
        }

        let writer = ArtifactWriter::new(self.clone(), run.id, None);
        writer
            .write(REPORT_MD, ArtifactKind::Markdown, &markdown)
            .await?;
        writer.write_json(SUMMARY_JSON, &summary).await?;
        let run = self.store.set_run_report(run.id, summary).await?;
        tracing::info!(
            run_id = run.id,
            status = run.status.as_str(),
            total_tokens = run.total_tokens,
            "run ended"
        );
        Ok(run)
    }

    /// The files the run's jobs wrote (the run-level report files excluded).
    async fn task_artifacts(&self, run_id: i64) -> Result<Vec<Artifact>> {
        let mut out = Vec::new();
        let mut page = PageRequest::first(crate::domain::MAX_PAGE_SIZE);
        loop {
            let listed = self
                .store
                .list_artifacts(ArtifactQuery {
                    run_id: Some(run_id),
                    page,
                })
                .await?;
            let more = listed.has_next(page);
            out.extend(listed.items.into_iter().filter(|a| a.run_job_id.is_some()));
            if !more {
                return Ok(out);
            }
            page = page.with_page(page.page + 1);
        }
    }

    /// A job's section: status, error, tokens, then its own Markdown report when it wrote one.
    async fn render_job_section(
        &self,
        out: &mut String,
        job: &RunJob,
        task_files: &[Artifact],
    ) -> Result<()> {
        let _ = writeln!(out, "\n## {} — {}\n", job.task_key, job.status.as_str());
        if let Some(error) = &job.error_summary {
            let _ = writeln!(out, "**Error:** {}\n", one_line(error));
        }
        let files: Vec<&Artifact> = task_files
            .iter()
            .filter(|a| a.run_job_id == Some(job.id))
            .collect();
        if !files.is_empty() {
            let names: Vec<String> = files
                .iter()
                .map(|a| format!("`{}`", a.relative_path))
                .collect();
            let _ = writeln!(out, "Files: {}\n", names.join(", "));
        }
        for file in files.iter().filter(|a| a.kind == ArtifactKind::Markdown) {
            let bytes = self.read_artifact_file(&file.relative_path).await?;
            let text = String::from_utf8_lossy(&bytes);
            // Task reports start at `#`; nest them under this section.
            for line in text.lines() {
                if line.starts_with('#') {
                    let _ = writeln!(out, "##{line}");
                } else {
                    let _ = writeln!(out, "{line}");
                }
            }
        }
        Ok(())
    }
}

fn render_header(run: &Run, jobs: &[RunJob]) -> String {
    let snapshot = &run.directive_snapshot;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Cyberbrain run {} — {}\n",
        run.id,
        run.status.as_str()
    );
    let _ = writeln!(out, "| | |\n|---|---|");
    let _ = writeln!(
        out,
        "| Directive | {} ({}, version {}) |",
        escape_cell(&snapshot.name),
        snapshot.directive_type.as_str(),
        snapshot.version
    );
    let _ = writeln!(out, "| Snapshot SHA-256 | `{}` |", run.snapshot_sha256);
    let _ = writeln!(out, "| Trigger | {} |", run.trigger.as_str());
    let _ = writeln!(out, "| Approval | {} |", run.approval_status.as_str());
    let _ = writeln!(out, "| Created | {} |", run.created_at.to_rfc3339());
    if let Some(started) = run.started_at {
        let _ = writeln!(out, "| Started | {} |", started.to_rfc3339());
    }
    if let Some(ended) = run.ended_at {
        let _ = writeln!(out, "| Ended | {} |", ended.to_rfc3339());
    }
    let _ = writeln!(
        out,
        "| Tokens | {} prompt + {} completion = {} |",
        run.prompt_tokens, run.completion_tokens, run.total_tokens
    );
    if let Some(error) = &run.error_summary {
        let _ = writeln!(out, "| Errors | {} |", escape_cell(&one_line(error)));
    }
    let _ = writeln!(
        out,
        "\n| Task | Status | Attempts | Tokens |\n|---|---|---|---|"
    );
    for job in jobs {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            job.task_key,
            job.status.as_str(),
            job.attempts,
            job.total_tokens
        );
    }
    out
}

/// The summary stored with the run and written as `summary.json`: statuses, counts, the jobs'
/// results (counts and findings' titles and severities, as the tasks produce them), paths.
fn summary_json(run: &Run, jobs: &[RunJob], llm_calls: usize, task_files: &[Artifact]) -> Value {
    let snapshot = &run.directive_snapshot;
    let mut paths: Vec<String> = task_files.iter().map(|a| a.relative_path.clone()).collect();
    paths.push(format!("run_{}/{REPORT_MD}", run.id));
    paths.push(format!("run_{}/{SUMMARY_JSON}", run.id));
    let count = |status: &str| jobs.iter().filter(|j| j.status.as_str() == status).count();
    json!({
        "run_id": run.id,
        "status": run.status.as_str(),
        "trigger": run.trigger.as_str(),
        "directive": {
            "id": snapshot.id,
            "name": snapshot.name,
            "directive_type": snapshot.directive_type.as_str(),
            "version": snapshot.version,
            "snapshot_sha256": run.snapshot_sha256,
        },
        "approval_status": run.approval_status.as_str(),
        "use_rag": run.use_rag,
        "task3_scope": run.task3_scope.as_str(),
        "created_at": run.created_at,
        "started_at": run.started_at,
        "ended_at": run.ended_at,
        "tokens": {
            "prompt": run.prompt_tokens,
            "completion": run.completion_tokens,
            "total": run.total_tokens,
        },
        "llm_calls": llm_calls,
        "job_counts": {
            "total": jobs.len(),
            "completed": count("completed"),
            "failed": count("failed"),
            "cancelled": count("cancelled"),
        },
        "jobs": jobs.iter().map(|job| json!({
            "id": job.id,
            "task_key": job.task_key,
            "status": job.status.as_str(),
            "attempts": job.attempts,
            "error_summary": job.error_summary,
            "total_tokens": job.total_tokens,
            "result": job.result,
        })).collect::<Vec<_>>(),
        "error_summary": run.error_summary,
        "artifacts": paths,
    })
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn escape_cell(text: &str) -> String {
    text.replace('|', "\\|")
}
