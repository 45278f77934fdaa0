//! The run roll-up and lease-expiry rules (SPEC §2.3, §3.1), as pure functions every store
//! applies inside its own transaction, so both backends end runs with the same status and words.

use super::{JobStatus, RunStatus};

/// The longest job or run error summary stored, in characters.
pub const MAX_ERROR_SUMMARY_CHARS: usize = 1000;

/// `text` cut to [`MAX_ERROR_SUMMARY_CHARS`] characters (on a character boundary), ending in
/// "…" when cut.
pub fn clip_error_summary(text: &str) -> String {
    if text.chars().count() <= MAX_ERROR_SUMMARY_CHARS {
        return text.to_string();
    }
    let mut clipped: String = text.chars().take(MAX_ERROR_SUMMARY_CHARS - 1).collect();
    clipped.push('…');
    clipped
}

/// One job as the roll-up sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobOutcome<'a> {
    pub task_key: &'a str,
    pub status: JobStatus,
    pub error_summary: Option<&'a str>,
}

/// The status and error summary a run ends with, or `None` while a job is pending or running.
///
/// `cancelled` (a cancel request or a denial) wins; else `completed` when every job completed,
/// `failed` when any failed, `cancelled` otherwise. The summary lists `task_key: error` of every
/// failed job.
pub fn roll_up(cancelled: bool, jobs: &[JobOutcome<'_>]) -> Option<(RunStatus, Option<String>)> {
    if jobs.iter().any(|job| !job.status.is_terminal()) {
        return None;
    }
    let status = if cancelled {
        RunStatus::Cancelled
    } else if jobs.iter().all(|job| job.status == JobStatus::Completed) {
        RunStatus::Completed
    } else if jobs.iter().any(|job| job.status == JobStatus::Failed) {
        RunStatus::Failed
    } else {
        RunStatus::Cancelled
    };
    let failures: Vec<String> = jobs
        .iter()
        .filter(|job| job.status == JobStatus::Failed)
        .map(|job| {
            format!(
                "{}: {}",
                job.task_key,
                job.error_summary.unwrap_or("failed without a message")
            )
        })
        .collect();
    let summary = (!failures.is_empty()).then(|| clip_error_summary(&failures.join("; ")));
    Some((status, summary))
}

/// What happens to a running job whose lease expired: back to `pending` while attempts remain,
/// else `failed` with "lease expired"; `cancelled` when its run has a cancel request (requeued,
/// it could never be claimed again and would keep the run open).
pub fn expired_lease(
    owner: &str,
    attempts: i64,
    max_attempts: u32,
    cancel_requested: bool,
) -> (JobStatus, Option<String>) {
    if cancel_requested {
        (
            JobStatus::Cancelled,
            Some(format!(
                "lease expired (executor {owner:?} stopped renewing it) after the run was \
                 cancelled"
            )),
        )
    } else if attempts < i64::from(max_attempts) {
        (JobStatus::Pending, None)
    } else {
        (
            JobStatus::Failed,
            Some(format!(
                "lease expired: executor {owner:?} stopped renewing it (crashed or hung) on \
                 attempt {attempts} of {max_attempts}; launch the run again once the executor \
                 is healthy"
            )),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(status: JobStatus, error: Option<&'static str>) -> JobOutcome<'static> {
        JobOutcome {
            task_key: "log_triage",
            status,
            error_summary: error,
        }
    }

    #[test]
    fn open_jobs_keep_the_run_open() {
        assert_eq!(
            roll_up(
                false,
                &[
                    job(JobStatus::Completed, None),
                    job(JobStatus::Pending, None)
                ]
            ),
            None
        );
    }

    #[test]
    fn statuses_follow_the_rules() {
        let done = job(JobStatus::Completed, None);
        let failed = job(JobStatus::Failed, Some("boom"));
        let cancelled = job(JobStatus::Cancelled, None);
        assert_eq!(
            roll_up(false, &[done, done]).unwrap().0,
            RunStatus::Completed
        );
        let (status, summary) = roll_up(false, &[done, failed, cancelled]).unwrap();
        assert_eq!(status, RunStatus::Failed);
        assert_eq!(summary.as_deref(), Some("log_triage: boom"));
        assert_eq!(
            roll_up(false, &[done, cancelled]).unwrap().0,
            RunStatus::Cancelled
        );
        assert_eq!(
            roll_up(true, &[done, done]).unwrap().0,
            RunStatus::Cancelled
        );
    }

    #[test]
    fn long_summaries_are_clipped_on_a_character_boundary() {
        let long = "é".repeat(MAX_ERROR_SUMMARY_CHARS + 5);
        let clipped = clip_error_summary(&long);
        assert_eq!(clipped.chars().count(), MAX_ERROR_SUMMARY_CHARS);
        assert!(clipped.ends_with('…'));
        let exact = "x".repeat(MAX_ERROR_SUMMARY_CHARS);
        assert_eq!(clip_error_summary(&exact), exact);
    }

    #[test]
    fn expired_leases_requeue_then_fail() {
        assert_eq!(expired_lease("w", 1, 3, false), (JobStatus::Pending, None));
        let (status, error) = expired_lease("w", 3, 3, false);
        assert_eq!(status, JobStatus::Failed);
        assert!(error.unwrap().contains("lease expired"));
        assert_eq!(expired_lease("w", 1, 3, true).0, JobStatus::Cancelled);
    }
}
