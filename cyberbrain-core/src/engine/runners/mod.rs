//! The built-in tasks' runners (SPEC §3.2–3.4): each drives its deterministic module in
//! [`crate::tasks`] with real sources, the LLM and the artifact writer of a [`JobContext`].
//!
//! Shared rules: a reported condition (no GPUs, no container engine, an unreadable source) is
//! written into the report and the job completes; a configuration error or a failed required
//! LLM step fails the job with a message naming the cause and the fix. Results hold counts and
//! findings' severities and titles only (G2); everything else goes to the artifacts, which the
//! writer redacts (G6) and keeps inside the artifacts root (G8).
//!
//! [`JobContext`]: super::JobContext

mod gpu_report;
mod log_triage;
mod markdown;
mod service_map;
mod settings;

use std::sync::Arc;

pub use gpu_report::{GPU_REPORT_TASK, GpuReportRunner};
pub use log_triage::{LOG_TRIAGE_TASK, LogTriageRunner};
pub use service_map::ServiceMapRunner;

use super::{SERVICE_MAP_TASK, TaskRunner};

/// `(task_key, runner)` for every built-in task; the executor starts with these.
pub fn builtin_runners() -> Vec<(&'static str, Arc<dyn TaskRunner>)> {
    vec![
        (
            LOG_TRIAGE_TASK,
            Arc::new(LogTriageRunner) as Arc<dyn TaskRunner>,
        ),
        (GPU_REPORT_TASK, Arc::new(GpuReportRunner)),
        (SERVICE_MAP_TASK, Arc::new(ServiceMapRunner)),
    ]
}
