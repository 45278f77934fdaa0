//! `ScheduleStore` (SPEC §2.6, §3.5): schedules and their ledger of fired slots.
//!
//! Firing is one transaction that locks the due schedules with `FOR NO KEY UPDATE SKIP LOCKED`:
//! concurrent schedulers (tasks or processes) each take schedules no one else holds, and one
//! that reads a schedule after another fired it re-checks the committed row, whose `next_run_at`
//! has moved on — a due slot is fired once. The ledger's `UNIQUE (schedule_id, scheduled_for)`
//! backs this up: the ledger row is inserted (`ON CONFLICT DO NOTHING`) before the run, so a
//! slot a run-now already took is never launched again.
//!
//! Locks: firing holds only schedule rows and inserts new runs, jobs and ledger rows; it never
//! waits for a run or job row, and claims and finishes never wait for a schedule row, so firing
//! cannot deadlock with them. `NO KEY UPDATE` (not `UPDATE`) lets a concurrent launch that names
//! a held schedule take its `KEY SHARE` lock instead of waiting for the tick to commit.
//!
//! A ledger row's status is not kept in step with its run: [`HISTORY`] derives it from the run
//! when read, so no run transition has to remember the ledger.

use async_trait::async_trait;
use cyberbrain_core::domain::{
    FireDecision, Fired, NewRun, NewSchedule, Page, PageRequest, Run, RunningCounts, Schedule,
    ScheduledRun, Timestamp,
};
use cyberbrain_core::store::{FirePlanner, ScheduleStore};
use cyberbrain_core::{Error, Result};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use super::runs::insert_run;
use super::{PageSql, PgStore, decode_all, page_of, page_sql, page_where, sql_int, wire};
use crate::error::{PgContext, on_unique};

macro_rules! columns {
    () => {
        "id, name, task_key, directive_id, custom_directive_text, enabled, schedule_type, \
         interval_minutes, cron_expr, run_at, timezone, task3_scope, use_rag, max_global, \
         max_per_job, misfire_policy, last_run_at, next_run_at, created_at, updated_at"
    };
}

macro_rules! ledger_columns {
    () => {
        "id, schedule_id, run_id, scheduled_for, status, started_at, finished_at, error_summary"
    };
}

const NAME_KEY: &str = "schedules_name_key";
const SLOT_KEY: &str = "scheduled_runs_slot_key";

/// A ledger row with its status, times and error taken from its run while the run exists
/// (`sr` the ledger, `r` the run): pending until the first job is claimed, started while the
/// run runs, then finished (completed) or failed (failed or cancelled).
macro_rules! history_columns {
    () => {
        "sr.id, sr.schedule_id, sr.run_id, sr.scheduled_for, \
         CASE WHEN r.id IS NULL THEN sr.status \
              WHEN r.status = 'pending' THEN 'pending' \
              WHEN r.status = 'running' THEN 'started' \
              WHEN r.status = 'completed' THEN 'finished' \
              ELSE 'failed' END AS status, \
         CASE WHEN r.id IS NULL THEN sr.started_at ELSE r.started_at END AS started_at, \
         CASE WHEN r.id IS NULL THEN sr.finished_at ELSE r.ended_at END AS finished_at, \
         CASE WHEN r.id IS NULL THEN sr.error_summary ELSE r.error_summary END AS error_summary"
    };
}

/// One schedule's ledger (`$1`), newest slot first.
const HISTORY: PageSql = PageSql {
    count: "SELECT COUNT(*) FROM scheduled_runs WHERE schedule_id = $1",
    page: concat!(
        "SELECT ",
        history_columns!(),
        " FROM scheduled_runs sr LEFT JOIN runs r ON r.id = sr.run_id \
          WHERE sr.schedule_id = $1 ORDER BY sr.scheduled_for DESC, sr.id DESC LIMIT $2 OFFSET $3"
    ),
};

/// Enabled schedules due at `$1`, earliest first, at most `$2`, skipping those another firing
/// holds.
const LOCK_DUE: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM schedules WHERE enabled AND next_run_at <= $1 \
      ORDER BY next_run_at, id LIMIT $2 FOR NO KEY UPDATE SKIP LOCKED"
);

/// Runs about to run or running: the ones limits are checked on.
macro_rules! active_run {
    ($r:literal) => {
        concat!(
            "(",
            $r,
            ".status = 'running' OR (",
            $r,
            ".status = 'pending' AND ",
            $r,
            ".approval_status IN ('none', 'approved')))"
        )
    };
}

const ACTIVE_RUNS: &str = concat!("SELECT COUNT(*) FROM runs r WHERE ", active_run!("r"));

const ACTIVE_JOBS: &str = concat!(
    "SELECT j.task_key, COUNT(*) FROM run_jobs j JOIN runs r ON r.id = j.run_id \
     WHERE j.status IN ('pending', 'running') AND ",
    active_run!("r"),
    " GROUP BY j.task_key"
);

fn from_row(row: &PgRow) -> Result<Schedule, sqlx::Error> {
    Ok(Schedule {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        task_key: row.try_get("task_key")?,
        directive_id: row.try_get("directive_id")?,
        custom_directive_text: row.try_get("custom_directive_text")?,
        enabled: row.try_get("enabled")?,
        schedule_type: wire(row, "schedule_type")?,
        interval_minutes: row.try_get("interval_minutes")?,
        cron_expr: row.try_get("cron_expr")?,
        run_at: row.try_get("run_at")?,
        timezone: row.try_get("timezone")?,
        task3_scope: wire(row, "task3_scope")?,
        use_rag: row.try_get("use_rag")?,
        max_global: row.try_get("max_global")?,
        max_per_job: row.try_get("max_per_job")?,
        misfire_policy: wire(row, "misfire_policy")?,
        last_run_at: row.try_get("last_run_at")?,
        next_run_at: row.try_get("next_run_at")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn ledger_from_row(row: &PgRow) -> Result<ScheduledRun, sqlx::Error> {
    Ok(ScheduledRun {
        id: row.try_get("id")?,
        schedule_id: row.try_get("schedule_id")?,
        run_id: row.try_get("run_id")?,
        scheduled_for: row.try_get("scheduled_for")?,
        status: wire(row, "status")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
        error_summary: row.try_get("error_summary")?,
    })
}

/// One schedule row, decoded; an absent row is `NotFound`.
fn one_schedule(row: Option<PgRow>, id: i64, what: &str) -> Result<Schedule> {
    row.map(|row| from_row(&row))
        .transpose()
        .context(what)?
        .ok_or_else(|| Error::not_found("schedule", id))
}

fn name_taken(name: &str) -> String {
    format!("a schedule named {name:?} already exists; choose another name or edit that schedule")
}

/// The task key and directive a schedule names must exist: `NotFound` naming the missing one
/// (checked first so the answer names it instead of a bare foreign-key failure). The
/// `KEY SHARE` locks keep them until the commit.
async fn check_references(conn: &mut PgConnection, new: &NewSchedule, what: &str) -> Result<()> {
    let task = sqlx::query("SELECT 1 FROM task_definitions WHERE task_key = $1 FOR KEY SHARE")
        .bind(&new.task_key)
        .fetch_optional(&mut *conn)
        .await
        .context(what)?;
    if task.is_none() {
        return Err(Error::not_found(
            "task definition",
            format!("{:?}", new.task_key),
        ));
    }
    if let Some(id) = new.directive_id {
        let directive = sqlx::query("SELECT 1 FROM directives WHERE id = $1 FOR KEY SHARE")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await
            .context(what)?;
        if directive.is_none() {
            return Err(Error::not_found("directive", id));
        }
    }
    Ok(())
}

/// The running counts limits are checked on, as committed now.
async fn running_counts(conn: &mut PgConnection, what: &str) -> Result<RunningCounts> {
    let active_runs: i64 = sqlx::query_scalar(ACTIVE_RUNS)
        .fetch_one(&mut *conn)
        .await
        .context(what)?;
    let per_task: Vec<(String, i64)> = sqlx::query_as(ACTIVE_JOBS)
        .fetch_all(&mut *conn)
        .await
        .context(what)?;
    Ok(RunningCounts {
        active_runs,
        active_jobs_per_task: per_task.into_iter().collect(),
    })
}

/// Claims the slot in the ledger, then writes the run with `schedule_id` and links it. `None`
/// when the slot is already in the ledger (nothing written).
async fn launch(
    conn: &mut PgConnection,
    schedule_id: i64,
    mut run: NewRun,
    scheduled_for: Timestamp,
    what: &str,
) -> Result<Option<(Run, ScheduledRun)>> {
    // Waits for a concurrent claim of the same slot to commit or roll back, then decides.
    let ledger_id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO scheduled_runs (schedule_id, scheduled_for, status) \
         VALUES ($1, $2, 'pending') ON CONFLICT ON CONSTRAINT scheduled_runs_slot_key DO NOTHING \
         RETURNING id",
    )
    .bind(schedule_id)
    .bind(scheduled_for)
    .fetch_optional(&mut *conn)
    .await
    .context(what)?;
    let Some(ledger_id) = ledger_id else {
        return Ok(None);
    };
    run.schedule_id = Some(schedule_id);
    let run = insert_run(conn, &run, what).await?;
    let row = sqlx::query(concat!(
        "UPDATE scheduled_runs SET run_id = $2 WHERE id = $1 RETURNING ",
        ledger_columns!()
    ))
    .bind(ledger_id)
    .bind(run.id)
    .fetch_one(&mut *conn)
    .await
    .context(what)?;
    let ledger = ledger_from_row(&row).context(what)?;
    Ok(Some((run, ledger)))
}

/// Applies one planner decision to the locked `schedule` and says what was done.
async fn apply(
    conn: &mut PgConnection,
    schedule: &Schedule,
    decision: FireDecision,
    counts: &mut RunningCounts,
    what: &str,
) -> Result<Fired> {
    match decision {
        FireDecision::Launch {
            run,
            scheduled_for,
            next_run_at,
            enabled,
        } => {
            let task_keys = run.task_keys.clone();
            let launched = launch(conn, schedule.id, run, scheduled_for, what).await?;
            // `last_run_at` is the slot; a slot already fired (by a run-now of the same
            // instant) only moves the schedule on, so it is not picked up again.
            sqlx::query(
                "UPDATE schedules SET last_run_at = CASE WHEN $5 THEN $2 ELSE last_run_at END, \
                 next_run_at = $3, enabled = $4 WHERE id = $1",
            )
            .bind(schedule.id)
            .bind(scheduled_for)
            .bind(next_run_at)
            .bind(enabled)
            .bind(launched.is_some())
            .execute(&mut *conn)
            .await
            .context(what)?;
            Ok(match launched {
                Some((run, scheduled_run)) => {
                    counts.count_launch(run.approval_status, &task_keys);
                    Fired::Launched { run, scheduled_run }
                }
                None => Fired::slot_taken(schedule.id, scheduled_for, next_run_at, enabled),
            })
        }
        FireDecision::Postpone { next_run_at } => {
            sqlx::query("UPDATE schedules SET next_run_at = $2 WHERE id = $1")
                .bind(schedule.id)
                .bind(next_run_at)
                .execute(&mut *conn)
                .await
                .context(what)?;
            Ok(Fired::Postponed {
                schedule_id: schedule.id,
                next_run_at,
            })
        }
        FireDecision::Disable { reason } => {
            sqlx::query("UPDATE schedules SET enabled = FALSE, next_run_at = NULL WHERE id = $1")
                .bind(schedule.id)
                .execute(&mut *conn)
                .await
                .context(what)?;
            tracing::info!(schedule_id = schedule.id, %reason, "schedule disabled");
            Ok(Fired::Disabled {
                schedule_id: schedule.id,
                reason,
            })
        }
    }
}

async fn schedule_exists(store: &PgStore, id: i64, what: &str) -> Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM schedules WHERE id = $1)")
        .bind(id)
        .fetch_one(store.pool())
        .await
        .context(what)
}

#[async_trait]
impl ScheduleStore for PgStore {
    async fn create_schedule(&self, new: NewSchedule) -> Result<Schedule> {
        let what = "creating a schedule";
        let mut tx = self.begin(what).await?;
        check_references(&mut tx, &new, what).await?;
        let row = sqlx::query(concat!(
            "INSERT INTO schedules (name, task_key, directive_id, custom_directive_text, enabled, \
             schedule_type, interval_minutes, cron_expr, run_at, timezone, task3_scope, use_rag, \
             max_global, max_per_job, misfire_policy, next_run_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
             $17) RETURNING ",
            columns!()
        ))
        .bind(&new.name)
        .bind(&new.task_key)
        .bind(new.directive_id)
        .bind(&new.custom_directive_text)
        .bind(new.enabled)
        .bind(new.schedule_type.as_str())
        .bind(new.interval_minutes)
        .bind(&new.cron_expr)
        .bind(new.run_at)
        .bind(&new.timezone)
        .bind(new.task3_scope.as_str())
        .bind(new.use_rag)
        .bind(new.max_global)
        .bind(new.max_per_job)
        .bind(new.misfire_policy.as_str())
        .bind(new.next_run_at)
        .bind(new.now)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| on_unique(e, NAME_KEY, what, || name_taken(&new.name)))?;
        let schedule = from_row(&row).context(what)?;
        tx.commit().await.context(what)?;
        Ok(schedule)
    }

    async fn get_schedule(&self, id: i64) -> Result<Schedule> {
        let what = format!("loading schedule {id}");
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM schedules WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await
        .context(&what)?;
        one_schedule(row, id, &what)
    }

    async fn next_due_at(&self) -> Result<Option<Timestamp>> {
        sqlx::query_scalar("SELECT MIN(next_run_at) FROM schedules WHERE enabled")
            .fetch_one(self.pool())
            .await
            .context("finding the next due schedule")
    }

    async fn list_schedules(&self, page: PageRequest) -> Result<Page<Schedule>> {
        page_of(
            self,
            "listing schedules",
            &page_sql!("schedules", columns!()),
            page,
            from_row,
        )
        .await
    }

    async fn replace_schedule(&self, id: i64, new: NewSchedule) -> Result<Schedule> {
        let what = format!("replacing schedule {id}");
        let mut tx = self.begin(&what).await?;
        check_references(&mut tx, &new, &what).await?;
        let row = sqlx::query(concat!(
            "UPDATE schedules SET name = $2, task_key = $3, directive_id = $4, \
             custom_directive_text = $5, enabled = $6, schedule_type = $7, \
             interval_minutes = $8, cron_expr = $9, run_at = $10, timezone = $11, \
             task3_scope = $12, use_rag = $13, max_global = $14, max_per_job = $15, \
             misfire_policy = $16, next_run_at = $17, updated_at = $18 WHERE id = $1 RETURNING ",
            columns!()
        ))
        .bind(id)
        .bind(&new.name)
        .bind(&new.task_key)
        .bind(new.directive_id)
        .bind(&new.custom_directive_text)
        .bind(new.enabled)
        .bind(new.schedule_type.as_str())
        .bind(new.interval_minutes)
        .bind(&new.cron_expr)
        .bind(new.run_at)
        .bind(&new.timezone)
        .bind(new.task3_scope.as_str())
        .bind(new.use_rag)
        .bind(new.max_global)
        .bind(new.max_per_job)
        .bind(new.misfire_policy.as_str())
        .bind(new.next_run_at)
        .bind(new.now)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| on_unique(e, NAME_KEY, &what, || name_taken(&new.name)))?;
        let schedule = one_schedule(row, id, &what)?;
        tx.commit().await.context(&what)?;
        Ok(schedule)
    }

    async fn delete_schedule(&self, id: i64) -> Result<()> {
        let what = format!("deleting schedule {id}");
        // The ledger cascades; runs keep their history with `schedule_id` cleared.
        let deleted = sqlx::query("DELETE FROM schedules WHERE id = $1")
            .bind(id)
            .execute(self.pool())
            .await
            .context(&what)?;
        if deleted.rows_affected() == 0 {
            return Err(Error::not_found("schedule", id));
        }
        Ok(())
    }

    async fn fire_due_schedules(
        &self,
        now: Timestamp,
        limit: u32,
        planner: FirePlanner,
    ) -> Result<Vec<Fired>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let what = "firing due schedules";
        let mut tx = self.begin(what).await?;
        let rows = sqlx::query(LOCK_DUE)
            .bind(now)
            .bind(sql_int(u64::from(limit)))
            .fetch_all(&mut *tx)
            .await
            .context(what)?;
        let due = decode_all(&rows, what, from_row)?;
        if due.is_empty() {
            tx.commit().await.context(what)?;
            return Ok(Vec::new());
        }
        let mut counts = running_counts(&mut tx, what).await?;
        let mut fired = Vec::with_capacity(due.len());
        for schedule in &due {
            let decision = planner(schedule, &counts);
            fired.push(apply(&mut tx, schedule, decision, &mut counts, what).await?);
        }
        tx.commit().await.context(what)?;
        Ok(fired)
    }

    async fn record_run_now(
        &self,
        schedule_id: i64,
        run: NewRun,
        scheduled_for: Timestamp,
    ) -> Result<(Run, ScheduledRun)> {
        let what = format!("running schedule {schedule_id} now");
        let mut tx = self.begin(&what).await?;
        // `insert_run` answers `NotFound` for an unknown schedule before anything is written.
        let run = NewRun {
            schedule_id: Some(schedule_id),
            ..run
        };
        let run = insert_run(&mut tx, &run, &what).await?;
        let row = sqlx::query(concat!(
            "INSERT INTO scheduled_runs (schedule_id, run_id, scheduled_for, status) \
             VALUES ($1, $2, $3, 'pending') RETURNING ",
            ledger_columns!()
        ))
        .bind(schedule_id)
        .bind(run.id)
        .bind(scheduled_for)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| {
            on_unique(e, SLOT_KEY, &what, || {
                cyberbrain_core::domain::slot_already_fired(schedule_id, scheduled_for)
            })
        })?;
        let ledger = ledger_from_row(&row).context(&what)?;
        tx.commit().await.context(&what)?;
        Ok((run, ledger))
    }

    async fn schedule_history(
        &self,
        schedule_id: i64,
        page: PageRequest,
    ) -> Result<Page<ScheduledRun>> {
        let what = format!("listing the history of schedule {schedule_id}");
        if !schedule_exists(self, schedule_id, &what).await? {
            return Err(Error::not_found("schedule", schedule_id));
        }
        page_where(
            self,
            &what,
            &HISTORY,
            page,
            move |q| q.bind(schedule_id),
            ledger_from_row,
        )
        .await
    }
}
