//! `GET /metrics` (Prometheus text exposition format 0.0.4) and `GET /metrics/json/`.
//!
//! The numbers come from the store, summed over `runs`, `run_jobs` and `llm_calls`, so every
//! process on one database reports the same values and a restart loses nothing: the counters
//! are totals over the recorded rows, never in-memory tallies.

use std::fmt::Write as _;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use cyberbrain_core::engine::MetricsSnapshot;

use crate::error::ApiError;
use crate::state::AppState;

/// The content type Prometheus expects for the text format.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Metrics in the Prometheus text exposition format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "meta",
    operation_id = "metrics",
    responses((status = 200, description = "Prometheus text exposition format 0.0.4",
               content_type = "text/plain; version=0.0.4", body = String))
)]
pub async fn prometheus(State(state): State<AppState>) -> Result<Response, ApiError> {
    let snapshot = state.cb.metrics().await?;
    let mut response = exposition(&snapshot).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(PROMETHEUS_CONTENT_TYPE),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// The same numbers as JSON.
#[utoipa::path(
    get,
    path = "/metrics/json/",
    tag = "meta",
    operation_id = "metrics_json",
    responses((status = 200, description = "Runs, jobs, queue depth, LLM tokens and latency",
               body = MetricsSnapshot))
)]
pub async fn json(State(state): State<AppState>) -> Result<Json<MetricsSnapshot>, ApiError> {
    Ok(Json(state.cb.metrics().await?))
}

/// One metric family: `# HELP`, `# TYPE`, then its samples.
struct Family<'a> {
    out: &'a mut String,
    name: &'static str,
}

impl<'a> Family<'a> {
    fn new(out: &'a mut String, name: &'static str, kind: &str, help: &str) -> Self {
        let _ = writeln!(out, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(out, "# TYPE {name} {kind}");
        Self { out, name }
    }

    fn sample(&mut self, value: impl std::fmt::Display) -> &mut Self {
        let _ = writeln!(self.out, "{} {value}", self.name);
        self
    }

    fn labelled(&mut self, label: &str, label_value: &str, value: impl std::fmt::Display) {
        let _ = writeln!(
            self.out,
            "{}{{{label}=\"{}\"}} {value}",
            self.name,
            escape_label(label_value)
        );
    }

    fn suffixed(&mut self, suffix: &str, value: impl std::fmt::Display) -> &mut Self {
        let _ = writeln!(self.out, "{}{suffix} {value}", self.name);
        self
    }
}

/// Renders the snapshot; every family has its HELP and TYPE lines, label values are escaped.
pub fn exposition(snapshot: &MetricsSnapshot) -> String {
    let store = &snapshot.store;
    let mut out = String::new();

    let mut runs = Family::new(&mut out, "cyberbrain_runs", "gauge", "Runs by status.");
    for (status, count) in &store.runs_by_status {
        runs.labelled("status", status, count);
    }
    let mut jobs = Family::new(
        &mut out,
        "cyberbrain_jobs",
        "gauge",
        "Run jobs (one per task of a run) by status.",
    );
    for (status, count) in &store.jobs_by_status {
        jobs.labelled("status", status, count);
    }
    Family::new(
        &mut out,
        "cyberbrain_executor_queue_depth",
        "gauge",
        "Pending jobs an executor could claim now, concurrency limits aside.",
    )
    .sample(store.runnable_jobs);
    Family::new(
        &mut out,
        "cyberbrain_llm_prompt_tokens_total",
        "counter",
        "Prompt tokens over every recorded LLM call, as the LLM server reported them.",
    )
    .sample(store.llm_prompt_tokens);
    Family::new(
        &mut out,
        "cyberbrain_llm_completion_tokens_total",
        "counter",
        "Completion tokens over every recorded LLM call, as the LLM server reported them.",
    )
    .sample(store.llm_completion_tokens);
    let mut calls = Family::new(
        &mut out,
        "cyberbrain_llm_calls_total",
        "counter",
        "LLM calls by outcome.",
    );
    calls.labelled("outcome", "ok", store.llm_calls_ok);
    calls.labelled("outcome", "error", store.llm_calls_error);
    Family::new(
        &mut out,
        "cyberbrain_llm_call_duration_seconds",
        "summary",
        "Duration of LLM calls.",
    )
    .suffixed("_sum", seconds(store.llm_duration_ms_sum))
    .suffixed(
        "_count",
        store.llm_calls_ok.saturating_add(store.llm_calls_error),
    );
    Family::new(
        &mut out,
        "cyberbrain_max_running_runs",
        "gauge",
        "Most runs running at once across every executor (scheduler.max_global).",
    )
    .sample(snapshot.max_running_runs);
    Family::new(
        &mut out,
        "cyberbrain_max_running_jobs_per_task",
        "gauge",
        "Most running jobs of one task across every executor (scheduler.max_per_task).",
    )
    .sample(snapshot.max_running_jobs_per_task);
    Family::new(
        &mut out,
        "cyberbrain_build_info",
        "gauge",
        "Always 1; the version label names the server version.",
    )
    .labelled("version", env!("CARGO_PKG_VERSION"), 1);
    out
}

/// Milliseconds as seconds, in a form Prometheus parses (`1.5`, `0`).
fn seconds(milliseconds: i64) -> String {
    let value = milliseconds as f64 / 1000.0;
    format!("{value}")
}

/// HELP text escapes `\` and line feeds.
fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

/// Label values escape `\`, `"` and line feeds.
fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use cyberbrain_core::domain::StoreMetrics;

    use super::*;

    #[test]
    fn every_family_is_described_and_values_are_escaped() {
        let snapshot = MetricsSnapshot {
            store: StoreMetrics {
                runs_by_status: BTreeMap::from([("completed".into(), 3), ("we\"ird\n".into(), 1)]),
                jobs_by_status: BTreeMap::from([("pending".into(), 2)]),
                runnable_jobs: 2,
                llm_calls_ok: 4,
                llm_calls_error: 1,
                llm_prompt_tokens: 1200,
                llm_completion_tokens: 300,
                llm_duration_ms_sum: 2500,
            },
            max_running_runs: 4,
            max_running_jobs_per_task: 2,
        };
        let text = exposition(&snapshot);
        assert!(
            text.contains("cyberbrain_runs{status=\"completed\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("cyberbrain_runs{status=\"we\\\"ird\\n\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("cyberbrain_llm_call_duration_seconds_sum 2.5\n"));
        assert!(text.contains("cyberbrain_llm_call_duration_seconds_count 5\n"));
        assert!(text.contains("cyberbrain_llm_calls_total{outcome=\"error\"} 1\n"));
        assert!(text.contains("cyberbrain_executor_queue_depth 2\n"));
        // Each TYPE line follows its HELP line, and every sample belongs to a declared family.
        let mut declared = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                declared.push(rest.split(' ').next().unwrap().to_string());
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap();
                assert!(
                    declared.iter().any(|family| name == family
                        || name
                            .strip_prefix(family.as_str())
                            .is_some_and(|s| s == "_sum" || s == "_count")),
                    "{name} has no TYPE line"
                );
            }
        }
        assert_eq!(seconds(0), "0");
    }
}
