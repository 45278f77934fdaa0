//! `ScheduleStore` (SPEC §2.6, §3.5): schedules and their ledger of fired slots.
//!
//! Firing runs in the writer's `BEGIN IMMEDIATE` transaction: SQLite's write lock is held from
//! reading the due schedules to the commit, so concurrent schedulers (tasks or processes) run one
//! after the other and the second sees the first's `next_run_at` already moved — a due slot is
//! fired once. The ledger's `UNIQUE (schedule_id, scheduled_for)` backs this up.
//!
//! A ledger row's status is not kept in step with its run:
//! [`ScheduleStore::schedule_history`] derives it from the run when read, so no run transition
//! has to remember the ledger.

use std::collections::BTreeMap;

use async_trait::async_trait;
use cyberbrain_core::domain::{
    FireDecision, Fired, MisfirePolicy, NewRun, NewSchedule, Page, PageRequest, Run, RunningCounts,
    Schedule, ScheduleType, ScheduledRun, ScheduledRunStatus, Task3Scope, Timestamp,
};
use cyberbrain_core::store::{FirePlanner, ScheduleStore};
use cyberbrain_core::{Error, Result};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::runs::insert_run;
use super::{Listing, SqliteStore, exists, page_matching, page_of};
use crate::codec::{Time, Wire, sql_int};
use crate::error::{SqlContext, on_unique};

const SCHEDULE_COLUMNS: &str = "id, name, task_key, directive_id, custom_directive_text, \
     enabled, schedule_type, interval_minutes, cron_expr, run_at, timezone, task3_scope, \
     use_rag, max_global, max_per_job, misfire_policy, last_run_at, next_run_at, created_at, \
     updated_at";

/// A ledger row with its status, times and error taken from its run while the run exists
/// (`sr` the ledger, `r` the run).
const HISTORY_COLUMNS: &str = "sr.id, sr.schedule_id, sr.run_id, sr.scheduled_for, \
     CASE WHEN r.id IS NULL THEN sr.status \
          WHEN r.status = 'pending' THEN 'pending' \
          WHEN r.status = 'running' THEN 'started' \
          WHEN r.status = 'completed' THEN 'finished' \
          ELSE 'failed' END AS status, \
     CASE WHEN r.id IS NULL THEN sr.started_at ELSE r.started_at END AS started_at, \
     CASE WHEN r.id IS NULL THEN sr.finished_at ELSE r.ended_at END AS finished_at, \
     CASE WHEN r.id IS NULL THEN sr.error_summary ELSE r.error_summary END AS error_summary";

fn schedule_from_row(row: &Row<'_>) -> rusqlite::Result<Schedule> {
    Ok(Schedule {
        id: row.get("id")?,
        name: row.get("name")?,
        task_key: row.get("task_key")?,
        directive_id: row.get("directive_id")?,
        custom_directive_text: row.get("custom_directive_text")?,
        enabled: row.get("enabled")?,
        schedule_type: row.get::<_, Wire<ScheduleType>>("schedule_type")?.0,
        interval_minutes: row.get("interval_minutes")?,
        cron_expr: row.get("cron_expr")?,
        run_at: row.get::<_, Option<Time>>("run_at")?.map(|t| t.0),
        timezone: row.get("timezone")?,
        task3_scope: row.get::<_, Wire<Task3Scope>>("task3_scope")?.0,
        use_rag: row.get("use_rag")?,
        max_global: row.get("max_global")?,
        max_per_job: row.get("max_per_job")?,
        misfire_policy: row.get::<_, Wire<MisfirePolicy>>("misfire_policy")?.0,
        last_run_at: row.get::<_, Option<Time>>("last_run_at")?.map(|t| t.0),
        next_run_at: row.get::<_, Option<Time>>("next_run_at")?.map(|t| t.0),
        created_at: row.get::<_, Time>("created_at")?.0,
        updated_at: row.get::<_, Time>("updated_at")?.0,
    })
}

fn ledger_from_row(row: &Row<'_>) -> rusqlite::Result<ScheduledRun> {
    Ok(ScheduledRun {
        id: row.get("id")?,
        schedule_id: row.get("schedule_id")?,
        run_id: row.get("run_id")?,
        scheduled_for: row.get::<_, Time>("scheduled_for")?.0,
        status: row.get::<_, Wire<ScheduledRunStatus>>("status")?.0,
        started_at: row.get::<_, Option<Time>>("started_at")?.map(|t| t.0),
        finished_at: row.get::<_, Option<Time>>("finished_at")?.map(|t| t.0),
        error_summary: row.get("error_summary")?,
    })
}

fn load_schedule(conn: &Connection, id: i64) -> Result<Schedule> {
    conn.prepare_cached(&format!(
        "SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE id = ?1"
    ))
    .and_then(|mut s| s.query_row([id], schedule_from_row).optional())
    .context(&format!("loading schedule {id}"))?
    .ok_or_else(|| Error::not_found("schedule", id))
}

/// The task key and directive a schedule names must exist: `NotFound` naming the missing one
/// (checked first so the answer names it instead of a bare foreign-key failure).
fn check_references(conn: &Connection, new: &NewSchedule) -> Result<()> {
    let task_known: bool = conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM task_definitions WHERE task_key = ?1)")
        .and_then(|mut s| s.query_row([&new.task_key], |r| r.get(0)))
        .context("looking up the schedule's task")?;
    if !task_known {
        return Err(Error::not_found(
            "task definition",
            format!("{:?}", new.task_key),
        ));
    }
    match new.directive_id {
        Some(id) if !exists(conn, "directives", id)? => Err(Error::not_found("directive", id)),
        _ => Ok(()),
    }
}

fn name_taken(name: &str) -> String {
    format!("a schedule named {name:?} already exists; choose another name or edit that schedule")
}

/// The values of a [`NewSchedule`] in `?2`…`?17` order (`?1` is left to the statement).
macro_rules! schedule_params {
    ($first:expr, $new:expr) => {
        params![
            $first,
            $new.name,
            $new.task_key,
            $new.directive_id,
            $new.custom_directive_text,
            $new.enabled,
            Wire($new.schedule_type),
            $new.interval_minutes,
            $new.cron_expr,
            $new.run_at.map(Time),
            $new.timezone,
            Wire($new.task3_scope),
            $new.use_rag,
            $new.max_global,
            $new.max_per_job,
            Wire($new.misfire_policy),
            $new.next_run_at.map(Time),
            Time($new.now),
        ]
    };
}

/// Runs as the limits count them: running, or pending and not waiting on (or refused) approval.
const ACTIVE_RUN: &str = "(r.status = 'running' OR (r.status = 'pending' \
     AND r.approval_status IN ('none', 'approved')))";

fn running_counts(conn: &Connection) -> Result<RunningCounts> {
    let what = "counting active runs and jobs for the scheduler";
    let active_runs = conn
        .prepare_cached(&format!("SELECT COUNT(*) FROM runs r WHERE {ACTIVE_RUN}"))
        .and_then(|mut s| s.query_row([], |r| r.get(0)))
        .context(what)?;
    let active_jobs_per_task = conn
        .prepare_cached(&format!(
            "SELECT j.task_key, COUNT(*) FROM run_jobs j JOIN runs r ON r.id = j.run_id \
             WHERE j.status IN ('pending', 'running') AND {ACTIVE_RUN} GROUP BY j.task_key"
        ))
        .and_then(|mut s| {
            s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<BTreeMap<String, i64>>>()
        })
        .context(what)?;
    Ok(RunningCounts {
        active_runs,
        active_jobs_per_task,
    })
}

fn slot_taken(conn: &Connection, schedule_id: i64, scheduled_for: Timestamp) -> Result<bool> {
    conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM scheduled_runs \
         WHERE schedule_id = ?1 AND scheduled_for = ?2)",
    )
    .and_then(|mut s| s.query_row(params![schedule_id, Time(scheduled_for)], |r| r.get(0)))
    .context(&format!("looking up the ledger of schedule {schedule_id}"))
}

/// Writes `run` for the schedule and its pending ledger row for `scheduled_for`.
fn launch(
    conn: &Connection,
    schedule_id: i64,
    mut run: NewRun,
    scheduled_for: Timestamp,
) -> Result<(Run, ScheduledRun)> {
    run.schedule_id = Some(schedule_id);
    let run = insert_run(conn, &run)?;
    let ledger = conn
        .prepare_cached(
            "INSERT INTO scheduled_runs (schedule_id, run_id, scheduled_for, status) \
             VALUES (?1, ?2, ?3, 'pending') \
             RETURNING id, schedule_id, run_id, scheduled_for, status, started_at, \
             finished_at, error_summary",
        )
        .and_then(|mut s| {
            s.query_row(
                params![schedule_id, run.id, Time(scheduled_for)],
                ledger_from_row,
            )
        })
        .map_err(|e| {
            on_unique(
                e,
                "scheduled_runs.scheduled_for",
                &format!("recording a run of schedule {schedule_id}"),
                || cyberbrain_core::domain::slot_already_fired(schedule_id, scheduled_for),
            )
        })?;
    Ok((run, ledger))
}

fn fire_due(
    conn: &Connection,
    now: Timestamp,
    limit: u32,
    planner: &FirePlanner,
) -> Result<Vec<Fired>> {
    let what = "firing due schedules";
    let due = conn
        .prepare_cached(&format!(
            "SELECT {SCHEDULE_COLUMNS} FROM schedules \
             WHERE enabled = 1 AND next_run_at IS NOT NULL AND next_run_at <= ?1 \
             ORDER BY next_run_at, id LIMIT ?2"
        ))
        .and_then(|mut s| {
            s.query_map(
                params![Time(now), sql_int(u64::from(limit))],
                schedule_from_row,
            )?
            .collect::<rusqlite::Result<Vec<_>>>()
        })
        .context(what)?;
    let mut counts = running_counts(conn)?;
    let mut set_next = conn
        .prepare_cached("UPDATE schedules SET next_run_at = ?2 WHERE id = ?1")
        .context(what)?;
    let mut fired = Vec::with_capacity(due.len());
    for schedule in due {
        match planner(&schedule, &counts) {
            FireDecision::Launch {
                run,
                scheduled_for,
                next_run_at,
                enabled,
            } => {
                let task_keys = run.task_keys.clone();
                let already = slot_taken(conn, schedule.id, scheduled_for)?;
                if !already {
                    let (run, scheduled_run) = launch(conn, schedule.id, run, scheduled_for)?;
                    counts.count_launch(run.approval_status, &task_keys);
                    fired.push(Fired::Launched { run, scheduled_run });
                }
                // `last_run_at` is the slot; an already fired slot (a run-now of the same
                // instant) only moves the schedule on.
                conn.prepare_cached(
                    "UPDATE schedules SET last_run_at = CASE WHEN ?5 THEN last_run_at ELSE ?2 \
                     END, next_run_at = ?3, enabled = ?4 WHERE id = ?1",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        schedule.id,
                        Time(scheduled_for),
                        next_run_at.map(Time),
                        enabled,
                        already,
                    ])
                })
                .context(what)?;
                if already {
                    fired.push(Fired::slot_taken(
                        schedule.id,
                        scheduled_for,
                        next_run_at,
                        enabled,
                    ));
                }
            }
            FireDecision::Postpone { next_run_at } => {
                set_next
                    .execute(params![schedule.id, Time(next_run_at)])
                    .context(what)?;
                fired.push(Fired::Postponed {
                    schedule_id: schedule.id,
                    next_run_at,
                });
            }
            FireDecision::Disable { reason } => {
                conn.prepare_cached(
                    "UPDATE schedules SET enabled = 0, next_run_at = NULL WHERE id = ?1",
                )
                .and_then(|mut s| s.execute([schedule.id]))
                .context(what)?;
                tracing::warn!(schedule_id = schedule.id, %reason, "schedule disabled");
                fired.push(Fired::Disabled {
                    schedule_id: schedule.id,
                    reason,
                });
            }
        }
    }
    Ok(fired)
}

#[async_trait]
impl ScheduleStore for SqliteStore {
    async fn create_schedule(&self, new: NewSchedule) -> Result<Schedule> {
        self.write(move |conn| {
            check_references(conn, &new)?;
            conn.prepare_cached(
                "INSERT INTO schedules (name, task_key, directive_id, custom_directive_text, \
                 enabled, schedule_type, interval_minutes, cron_expr, run_at, timezone, \
                 task3_scope, use_rag, max_global, max_per_job, misfire_policy, next_run_at, \
                 created_at, updated_at) \
                 VALUES (?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, \
                 ?17, ?18, ?18)",
            )
            .and_then(|mut s| s.execute(schedule_params!(0, new)))
            .map_err(|e| {
                on_unique(e, "schedules.name", "creating a schedule", || {
                    name_taken(&new.name)
                })
            })?;
            load_schedule(conn, conn.last_insert_rowid())
        })
        .await
    }

    async fn get_schedule(&self, id: i64) -> Result<Schedule> {
        self.read(move |conn| load_schedule(conn, id)).await
    }

    async fn next_due_at(&self) -> Result<Option<Timestamp>> {
        self.read(|conn| {
            conn.query_row(
                "SELECT MIN(next_run_at) FROM schedules WHERE enabled = 1",
                [],
                |row| row.get::<_, Option<Time>>(0),
            )
            .map(|time| time.map(|t| t.0))
            .context("finding the next due schedule")
        })
        .await
    }

    async fn list_schedules(&self, page: PageRequest) -> Result<Page<Schedule>> {
        self.read(move |conn| page_of(conn, "schedules", SCHEDULE_COLUMNS, page, schedule_from_row))
            .await
    }

    async fn replace_schedule(&self, id: i64, new: NewSchedule) -> Result<Schedule> {
        self.write(move |conn| {
            if !exists(conn, "schedules", id)? {
                return Err(Error::not_found("schedule", id));
            }
            check_references(conn, &new)?;
            conn.prepare_cached(
                "UPDATE schedules SET name = ?2, task_key = ?3, directive_id = ?4, \
                 custom_directive_text = ?5, enabled = ?6, schedule_type = ?7, \
                 interval_minutes = ?8, cron_expr = ?9, run_at = ?10, timezone = ?11, \
                 task3_scope = ?12, use_rag = ?13, max_global = ?14, max_per_job = ?15, \
                 misfire_policy = ?16, next_run_at = ?17, updated_at = ?18 WHERE id = ?1",
            )
            .and_then(|mut s| s.execute(schedule_params!(id, new)))
            .map_err(|e| {
                on_unique(
                    e,
                    "schedules.name",
                    &format!("replacing schedule {id}"),
                    || name_taken(&new.name),
                )
            })?;
            load_schedule(conn, id)
        })
        .await
    }

    async fn delete_schedule(&self, id: i64) -> Result<()> {
        self.write(move |conn| {
            // The ledger cascades; runs keep their history with `schedule_id` cleared.
            let deleted = conn
                .execute("DELETE FROM schedules WHERE id = ?1", [id])
                .context(&format!("deleting schedule {id}"))?;
            if deleted == 0 {
                return Err(Error::not_found("schedule", id));
            }
            Ok(())
        })
        .await
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
        self.write(move |conn| fire_due(conn, now, limit, &planner))
            .await
    }

    async fn record_run_now(
        &self,
        schedule_id: i64,
        run: NewRun,
        scheduled_for: Timestamp,
    ) -> Result<(Run, ScheduledRun)> {
        self.write(move |conn| {
            if !exists(conn, "schedules", schedule_id)? {
                return Err(Error::not_found("schedule", schedule_id));
            }
            if slot_taken(conn, schedule_id, scheduled_for)? {
                return Err(Error::conflict(
                    cyberbrain_core::domain::slot_already_fired(schedule_id, scheduled_for),
                ));
            }
            launch(conn, schedule_id, run, scheduled_for)
        })
        .await
    }

    async fn schedule_history(
        &self,
        schedule_id: i64,
        page: PageRequest,
    ) -> Result<Page<ScheduledRun>> {
        self.read(move |conn| {
            if !exists(conn, "schedules", schedule_id)? {
                return Err(Error::not_found("schedule", schedule_id));
            }
            page_matching(
                conn,
                Listing {
                    table: "scheduled_runs sr LEFT JOIN runs r ON r.id = sr.run_id",
                    columns: HISTORY_COLUMNS,
                    filter: "sr.schedule_id = ?1",
                    order: "sr.scheduled_for DESC, sr.id DESC",
                },
                &[&schedule_id],
                page,
                ledger_from_row,
            )
        })
        .await
    }
}
