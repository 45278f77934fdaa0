//! Claiming jobs under the concurrency limits (SPEC §3.1).
//!
//! The caller's `BEGIN IMMEDIATE` transaction holds SQLite's write lock from the first count to
//! the commit, so counting what runs, choosing what fits and leasing it are one atomic step for
//! every claimer in every process: together they can never exceed a limit.

use std::collections::{BTreeMap, BTreeSet};

use cyberbrain_core::Result;
use cyberbrain_core::domain::{ClaimJobs, RunJob};
use rusqlite::{Connection, params};

use super::{JOB_COLUMNS, job_from_row};
use crate::codec::Time;
use crate::error::SqlContext;

/// Candidates read per query while looking for jobs that fit.
const SCAN_BATCH: i64 = 100;

/// The most candidates one claim looks at. Jobs of a task at the claim's per-task limit, and
/// jobs of new runs while the claim's run limit is reached, are left out by the query itself;
/// what is still skipped is only a schedule's stricter limits. The bound keeps a long queue of
/// such jobs from being read on every claim; jobs behind it wait until the queue moves.
const SCAN_LIMIT: usize = 500;

/// Pending jobs of runnable runs after job `?1`, at most `?2`, leaving out tasks in the JSON
/// array `?3` and, when `?4` is true, jobs of runs not yet running.
const CANDIDATES: &str = concat!(
    "SELECT j.id, j.run_id, j.task_key, r.status = 'running', s.max_global, s.max_per_job \
     FROM run_jobs j JOIN runs r ON r.id = j.run_id \
     LEFT JOIN schedules s ON s.id = r.schedule_id \
     WHERE j.status = 'pending' AND j.id > ?1 AND ",
    runnable_run!(),
    " AND j.task_key NOT IN (SELECT value FROM json_each(?3)) \
     AND (NOT ?4 OR r.status = 'running') \
     ORDER BY j.id LIMIT ?2"
);

struct Candidate {
    id: i64,
    run_id: i64,
    task_key: String,
    run_running: bool,
    schedule_max_global: Option<i64>,
    schedule_max_per_job: Option<i64>,
}

/// What is running now, as the limits count it, updated as this claim takes jobs.
struct Running {
    runs: i64,
    /// Runs this claim started (the database says `running` for them from then on).
    started: BTreeSet<i64>,
    per_task: BTreeMap<String, i64>,
}

impl Running {
    fn load(conn: &Connection) -> Result<Self> {
        let what = "counting running runs and jobs";
        let runs = conn
            .query_row(
                "SELECT COUNT(*) FROM runs WHERE status = 'running'",
                [],
                |r| r.get(0),
            )
            .context(what)?;
        let per_task = conn
            .prepare_cached(
                "SELECT task_key, COUNT(*) FROM run_jobs WHERE status = 'running' \
                 GROUP BY task_key",
            )
            .and_then(|mut s| {
                s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<rusqlite::Result<BTreeMap<String, i64>>>()
            })
            .context(what)?;
        Ok(Self {
            runs,
            started: BTreeSet::new(),
            per_task,
        })
    }

    /// The tasks at the claim's per-task limit, as a JSON array for the candidate query.
    fn full_tasks(&self, claim: &ClaimJobs) -> String {
        let full: Vec<&str> = self
            .per_task
            .iter()
            .filter(|(_, running)| **running >= i64::from(claim.max_running_per_task))
            .map(|(task, _)| task.as_str())
            .collect();
        serde_json::to_string(&full).unwrap_or_else(|_| "[]".into())
    }

    /// Takes `job` when it fits under the claim's limits and its schedule's stricter ones.
    fn take(&mut self, job: &Candidate, claim: &ClaimJobs) -> bool {
        let max_runs = stricter(claim.max_running_runs, job.schedule_max_global);
        let max_per_task = stricter(claim.max_running_per_task, job.schedule_max_per_job);
        let new_run = !job.run_running && !self.started.contains(&job.run_id);
        let task_running = self.per_task.get(&job.task_key).copied().unwrap_or(0);
        if (new_run && self.runs >= max_runs) || task_running >= max_per_task {
            return false;
        }
        if new_run {
            self.runs += 1;
            self.started.insert(job.run_id);
        }
        *self.per_task.entry(job.task_key.clone()).or_default() += 1;
        true
    }
}

/// The smaller of a claim's limit and a schedule's (when the run has one).
fn stricter(limit: u32, schedule: Option<i64>) -> i64 {
    let limit = i64::from(limit);
    schedule.map_or(limit, |s| s.min(limit))
}

/// Leases up to `claim.limit` runnable jobs that fit, in id order; marks their runs running.
pub(super) fn claim_jobs(conn: &Connection, claim: &ClaimJobs) -> Result<Vec<RunJob>> {
    let what = format!("claiming jobs for {:?}", claim.owner);
    let mut running = Running::load(conn)?;
    let wanted = usize::try_from(claim.limit).unwrap_or(usize::MAX);
    let mut candidates = conn.prepare_cached(CANDIDATES).context(&what)?;
    let mut lease = conn
        .prepare_cached(&format!(
            "UPDATE run_jobs SET status = 'running', lease_owner = ?2, lease_until = ?3, \
             attempts = attempts + 1, started_at = ?4 \
             WHERE id = ?1 AND status = 'pending' RETURNING {JOB_COLUMNS}"
        ))
        .context(&what)?;
    let mut start_run = conn
        .prepare_cached(
            "UPDATE runs SET status = 'running', started_at = COALESCE(started_at, ?2) \
             WHERE id = ?1 AND status = 'pending'",
        )
        .context(&what)?;

    let mut jobs = Vec::new();
    let mut after = 0;
    let mut scanned = 0;
    while jobs.len() < wanted && scanned < SCAN_LIMIT {
        let runs_full = running.runs >= i64::from(claim.max_running_runs);
        let batch = candidates
            .query_map(
                params![after, SCAN_BATCH, running.full_tasks(claim), runs_full],
                |r| {
                    Ok(Candidate {
                        id: r.get(0)?,
                        run_id: r.get(1)?,
                        task_key: r.get(2)?,
                        run_running: r.get(3)?,
                        schedule_max_global: r.get(4)?,
                        schedule_max_per_job: r.get(5)?,
                    })
                },
            )
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .context(&what)?;
        let exhausted = (batch.len() as i64) < SCAN_BATCH;
        for job in batch {
            scanned += 1;
            after = job.id;
            if !running.take(&job, claim) {
                continue;
            }
            let leased = lease
                .query_row(
                    params![
                        job.id,
                        claim.owner,
                        Time(claim.lease_until),
                        Time(claim.now)
                    ],
                    job_from_row,
                )
                .context(&what)?;
            start_run
                .execute(params![job.run_id, Time(claim.now)])
                .context(&what)?;
            jobs.push(leased);
            if jobs.len() == wanted {
                break;
            }
        }
        if exhausted {
            break;
        }
    }
    Ok(jobs)
}

#[cfg(test)]
mod tests {
    use cyberbrain_core::domain::{ApprovalStatus, DEFAULT_DIRECTIVE_NAME, NewRun};
    use cyberbrain_core::store::{DirectiveStore, RunStore, StoreAdmin};

    use super::*;
    use crate::SqliteStore;

    fn at(offset_s: i64) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp(1_750_000_000 + offset_s, 0).unwrap()
    }

    async fn launch(store: &SqliteStore, keys: &[&str]) -> Vec<i64> {
        let directive = store
            .get_directive_by_name(DEFAULT_DIRECTIVE_NAME)
            .await
            .unwrap();
        let mut new = NewRun::new(
            directive.snapshot(),
            keys.iter().map(|k| k.to_string()).collect(),
            at(0),
        );
        new.approval_status = ApprovalStatus::None;
        let run = store.create_run(new).await.unwrap();
        store
            .list_run_jobs(run.id)
            .await
            .unwrap()
            .into_iter()
            .map(|j| j.id)
            .collect()
    }

    async fn launch_awaiting_approval(store: &SqliteStore, key: &str) -> i64 {
        let directive = store
            .get_directive_by_name(DEFAULT_DIRECTIVE_NAME)
            .await
            .unwrap();
        let mut new = NewRun::new(directive.snapshot(), vec![key.to_string()], at(0));
        new.approval_status = ApprovalStatus::Pending;
        store.create_run(new).await.unwrap().id
    }

    async fn claim_one(store: &SqliteStore) -> Vec<i64> {
        let request = ClaimJobs::new("executor", at(1), chrono::Duration::minutes(5));
        store
            .claim_jobs(request)
            .await
            .unwrap()
            .into_iter()
            .map(|j| j.id)
            .collect()
    }

    async fn claim(store: &SqliteStore, limits: (u32, u32)) -> Vec<i64> {
        let request = ClaimJobs::new("executor", at(1), chrono::Duration::minutes(5))
            .with_limit(100)
            .with_limits(limits.0, limits.1);
        store
            .claim_jobs(request)
            .await
            .unwrap()
            .into_iter()
            .map(|j| j.id)
            .collect()
    }

    async fn fresh() -> (SqliteStore, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::connect(dir.path().join("cb.db").to_str().unwrap())
            .await
            .unwrap();
        store.migrate().await.unwrap();
        (store, dir)
    }

    /// Jobs waiting on a full task do not hold up other tasks, however long their queue: the
    /// query leaves them out instead of reading past them.
    #[tokio::test]
    async fn a_long_queue_over_a_limit_does_not_hold_up_jobs_that_fit() {
        let (store, _dir) = fresh().await;
        let first = launch(&store, &["log_triage", "service_map"]).await;
        for _ in 0..SCAN_LIMIT + 10 {
            launch(&store, &["log_triage"]).await;
        }
        let tail = launch(&store, &["gpu_report"]).await;
        assert_eq!(
            claim(&store, (u32::MAX, 1)).await,
            [first[0], first[1], tail[0]]
        );

        // Runs awaiting approval are never candidates; once approved, 510 new runs queue in
        // front of the last job of the one run already running.
        let (store, _dir) = fresh().await;
        let mut waiting = Vec::new();
        for _ in 0..SCAN_LIMIT + 10 {
            waiting.push(launch_awaiting_approval(&store, "service_map").await);
        }
        let last = launch(&store, &["log_triage", "gpu_report"]).await;
        assert_eq!(claim_one(&store).await, [last[0]]);
        for run in waiting {
            store.approve_run(run, "operator", at(2)).await.unwrap();
        }
        assert_eq!(
            claim(&store, (1, u32::MAX)).await,
            [last[1]],
            "one run may run: only its own job fits"
        );
    }
}
