//! The scheduler tick (SPEC §3.5): one store transaction locks the due schedules and, for each,
//! applies what [`plan`] decides — launch a run for the due slot (the same validation and
//! snapshot as a manual launch), postpone it (limits saturated, or missed slots skipped), or
//! disable it (its task is inactive or gone). The catalogue the plan needs is read before the
//! transaction, so a tick costs the same few round trips however many schedules are due.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::TimeDelta;

use super::Cyberbrain;
use super::launch::{active_snapshot, custom_snapshot};
use crate::domain::{
    DEFAULT_DIRECTIVE_NAME, Directive, DirectiveType, FireDecision, Fired, NewRun, PageRequest,
    RunningCounts, Schedule, ScheduleType, Task3Scope, TaskDefinition, Timestamp, Trigger,
};
use crate::scheduler::Timing;
use crate::{Config, FieldErrors, Result};

/// What one tick needs to decide without asking the store.
#[derive(Debug)]
struct Catalog {
    tasks: BTreeMap<String, TaskDefinition>,
    directives: BTreeMap<i64, Directive>,
    default_directive: Option<Directive>,
}

impl Cyberbrain {
    /// Fires every due schedule (at most `limit` per call) at the clock's `now` and returns what
    /// was done. Safe to run in any number of processes at once: a due slot fires exactly once.
    pub async fn run_scheduler_tick(&self, limit: u32) -> Result<Vec<Fired>> {
        let catalog = Arc::new(self.scheduler_catalog().await?);
        let config = Arc::clone(&self.config);
        let now = self.clock.now();
        let planner = Arc::new(move |schedule: &Schedule, counts: &RunningCounts| {
            plan(schedule, counts, &catalog, &config, now)
        });
        let fired = self.store.fire_due_schedules(now, limit, planner).await?;
        if fired.iter().any(|f| matches!(f, Fired::Launched { .. })) {
            self.signal_work();
        }
        for outcome in &fired {
            match outcome {
                Fired::Launched { run, scheduled_run } => tracing::info!(
                    schedule_id = scheduled_run.schedule_id,
                    run_id = run.id,
                    scheduled_for = %scheduled_run.scheduled_for,
                    "schedule fired"
                ),
                Fired::Postponed {
                    schedule_id,
                    next_run_at,
                } => tracing::info!(schedule_id, %next_run_at, "schedule postponed"),
                Fired::Disabled {
                    schedule_id,
                    reason,
                } => tracing::warn!(schedule_id, reason = %reason, "schedule disabled"),
            }
        }
        Ok(fired)
    }

    async fn scheduler_catalog(&self) -> Result<Catalog> {
        let max = PageRequest::first(crate::domain::MAX_PAGE_SIZE);
        let mut tasks = BTreeMap::new();
        let mut page = max;
        loop {
            let listed = self.store.list_tasks(page).await?;
            let more = listed.has_next(page);
            tasks.extend(listed.items.into_iter().map(|t| (t.task_key.clone(), t)));
            if !more {
                break;
            }
            page = page.with_page(page.page + 1);
        }
        let mut directives = BTreeMap::new();
        let mut page = max;
        loop {
            let listed = self.store.list_directives(page).await?;
            let more = listed.has_next(page);
            directives.extend(listed.items.into_iter().map(|d| (d.id, d)));
            if !more {
                break;
            }
            page = page.with_page(page.page + 1);
        }
        let default_directive = directives
            .values()
            .find(|d| d.name == DEFAULT_DIRECTIVE_NAME)
            .cloned();
        Ok(Catalog {
            tasks,
            directives,
            default_directive,
        })
    }
}

/// The decision for one locked due schedule.
fn plan(
    schedule: &Schedule,
    counts: &RunningCounts,
    catalog: &Catalog,
    config: &Config,
    now: Timestamp,
) -> FireDecision {
    match catalog.tasks.get(&schedule.task_key) {
        Some(task) if task.is_active => {}
        Some(_) => {
            return disable(format!("task {:?} is inactive", schedule.task_key));
        }
        None => return disable(format!("task {:?} no longer exists", schedule.task_key)),
    }
    let timing = match timing_of(schedule) {
        Ok(timing) => timing,
        Err(e) => return disable(format!("its timing no longer parses: {e}")),
    };
    let pending = schedule.next_run_at.unwrap_or(now);
    let grace = poll_grace(config);
    let due = timing.due(pending, now, schedule.misfire_policy, grace);
    let Some(slot) = due.fire else {
        return match due.next_run_at {
            Some(next_run_at) => FireDecision::Postpone { next_run_at },
            None => disable("its only slot was missed and its misfire policy is skip".into()),
        };
    };

    if saturated(schedule, counts, config) {
        let defer = TimeDelta::seconds(i64::try_from(config.scheduler.defer_s).unwrap_or(60));
        return FireDecision::Postpone {
            next_run_at: now + defer,
        };
    }

    match new_run(schedule, catalog, now) {
        Ok(run) => FireDecision::Launch {
            run,
            scheduled_for: slot,
            next_run_at: due.next_run_at,
            enabled: due.next_run_at.is_some(),
        },
        Err(reason) => disable(reason),
    }
}

fn disable(reason: String) -> FireDecision {
    FireDecision::Disable { reason }
}

/// A late tick within one poll interval (plus slack) is on time, not a misfire.
fn poll_grace(config: &Config) -> TimeDelta {
    let poll = i64::try_from(config.scheduler.poll_interval_s).unwrap_or(30);
    TimeDelta::seconds(poll.saturating_mul(2).saturating_add(5))
}

/// The schedule's timing as stored. An interval's grid is anchored on its pending slot, which
/// lies on the grid, so the grid never drifts.
fn timing_of(schedule: &Schedule) -> Result<Timing> {
    match schedule.schedule_type {
        ScheduleType::Interval => Timing::interval(
            i64::from(schedule.interval_minutes.unwrap_or(0)),
            schedule
                .next_run_at
                .or(schedule.last_run_at)
                .unwrap_or(schedule.created_at),
        ),
        ScheduleType::Cron => Timing::cron(
            schedule.cron_expr.as_deref().unwrap_or_default(),
            &schedule.timezone,
        ),
        ScheduleType::OneShot => Ok(Timing::one_shot(
            schedule.run_at.unwrap_or(schedule.created_at),
        )),
    }
}

/// The global limit (or the schedule's stricter one) is reached, or its task's.
fn saturated(schedule: &Schedule, counts: &RunningCounts, config: &Config) -> bool {
    let stricter = |configured: u32, own: Option<i32>| {
        let configured = i64::from(configured);
        own.map_or(configured, |own| configured.min(i64::from(own)))
    };
    let max_runs = stricter(config.scheduler.max_global, schedule.max_global);
    let max_jobs = stricter(config.scheduler.max_per_task, schedule.max_per_job);
    let task_jobs = counts
        .active_jobs_per_task
        .get(&schedule.task_key)
        .copied()
        .unwrap_or(0);
    counts.active_runs >= max_runs || task_jobs >= max_jobs
}

/// The run a manual launch with the schedule's settings would create (G4 snapshot, approval,
/// scope rule), or why the schedule cannot launch any more.
fn new_run(
    schedule: &Schedule,
    catalog: &Catalog,
    now: Timestamp,
) -> std::result::Result<NewRun, String> {
    let mut errors = FieldErrors::new();
    let snapshot = match (&schedule.custom_directive_text, schedule.directive_id) {
        (Some(text), _) => custom_snapshot(&mut errors, text),
        (None, Some(id)) => match catalog.directives.get(&id) {
            Some(directive) => active_snapshot(&mut errors, directive),
            None => return Err(format!("directive {id} no longer exists")),
        },
        (None, None) => match &catalog.default_directive {
            Some(directive) => active_snapshot(&mut errors, directive),
            None => {
                return Err(format!(
                    "the {DEFAULT_DIRECTIVE_NAME:?} directive does not exist"
                ));
            }
        },
    };
    let snapshot = match (snapshot, errors.into_result()) {
        (Some(snapshot), Ok(())) => snapshot,
        (_, Err(e)) => return Err(e.to_string()),
        (None, Ok(())) => return Err("no directive".into()),
    };
    if schedule.task3_scope == Task3Scope::All && snapshot.directive_type != DirectiveType::D4 {
        return Err(format!(
            "task3_scope \"all\" needs a D4 directive and {:?} is {}",
            snapshot.name, snapshot.directive_type
        ));
    }
    Ok(NewRun::new(snapshot, vec![schedule.task_key.clone()], now)
        .with_trigger(Trigger::Schedule)
        .with_use_rag(schedule.use_rag)
        .with_task3_scope(schedule.task3_scope)
        .with_schedule(schedule.id))
}
