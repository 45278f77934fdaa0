//! Schedules (SPEC §2.6, §4): one validation for create, replace (PUT) and patch (PATCH), so
//! every host accepts the same input and names the same fields; run-now through the one launch
//! path with its ledger row.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::Cyberbrain;
use super::launch::LaunchRequest;
use super::validate;
use crate::domain::{
    MisfirePolicy, NewSchedule, Page, PageRequest, Run, Schedule, ScheduleType, ScheduledRun,
    Task3Scope, TaskKey, Trigger,
};
use crate::scheduler::{Timing, TimingSpec, parse_timezone};
use crate::{Error, FieldErrors, Result};

/// The body of `POST`/`PUT`/`PATCH /api/schedules/…`, and what MCP and Python pass. Every field
/// is optional here; [`Cyberbrain::create_schedule`] says which are required. The task may be
/// named as `task_key`, `job_key` (the build plan's word), `task_id` or `job_id`; `null` clears
/// a nullable field in a patch.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ScheduleInput {
    pub name: Option<String>,
    pub task_key: Option<String>,
    pub job_key: Option<String>,
    pub task_id: Option<i64>,
    pub job_id: Option<i64>,
    #[serde(default, with = "crate::domain::double_option")]
    pub directive_id: Option<Option<i64>>,
    #[serde(default, with = "crate::domain::double_option")]
    pub custom_directive_text: Option<Option<String>>,
    pub enabled: Option<bool>,
    /// `interval`, `cron` or `one_shot`; kept as text so a wrong value is a field error.
    pub schedule_type: Option<String>,
    #[serde(default, with = "crate::domain::double_option")]
    pub interval_minutes: Option<Option<i64>>,
    #[serde(default, with = "crate::domain::double_option")]
    pub cron_expr: Option<Option<String>>,
    #[serde(default, with = "crate::domain::double_option")]
    pub run_at: Option<Option<DateTime<Utc>>>,
    /// An IANA zone such as `Europe/Berlin` (default `UTC`).
    pub timezone: Option<String>,
    /// `allowlist` (default) or `all` (D4 directives only).
    pub task3_scope: Option<String>,
    pub use_rag: Option<bool>,
    #[serde(default, with = "crate::domain::double_option")]
    pub max_global: Option<Option<i32>>,
    #[serde(default, with = "crate::domain::double_option")]
    pub max_per_job: Option<Option<i32>>,
    /// `run_once` (default) or `skip`.
    pub misfire_policy: Option<String>,
}

impl ScheduleInput {
    /// Whether the input touches what decides the fire times.
    fn touches_timing(&self) -> bool {
        self.schedule_type.is_some()
            || self.interval_minutes.is_some()
            || self.cron_expr.is_some()
            || self.run_at.is_some()
            || self.timezone.is_some()
    }
}

/// How an input applies to the current schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A new schedule: every required field must be given.
    Create,
    /// PUT: like create, for an existing id.
    Replace,
    /// PATCH: absent fields keep their values.
    Patch,
}

impl Cyberbrain {
    pub async fn list_schedules(&self, page: PageRequest) -> Result<Page<Schedule>> {
        self.store.list_schedules(page).await
    }

    pub async fn get_schedule(&self, id: i64) -> Result<Schedule> {
        self.store.get_schedule(id).await
    }

    /// Creates a schedule. Required: `name`, the task, `schedule_type` and its timing field
    /// (`interval_minutes` ≥ 1, a 5- or 6-field `cron_expr`, or a future `run_at`). Every
    /// problem is reported at once naming the field, and nothing is saved.
    pub async fn create_schedule(&self, input: ScheduleInput) -> Result<Schedule> {
        let new = self.resolve_schedule(None, &input, Mode::Create).await?;
        self.store.create_schedule(new).await
    }

    /// PUT: the whole schedule again, validated like a create.
    pub async fn replace_schedule(&self, id: i64, input: ScheduleInput) -> Result<Schedule> {
        let current = self.store.get_schedule(id).await?;
        let new = self
            .resolve_schedule(Some(&current), &input, Mode::Replace)
            .await?;
        self.store.replace_schedule(id, new).await
    }

    /// PATCH: changes the fields given. `next_run_at` is recomputed only when timing fields (or
    /// `enabled`, from off to on) change.
    pub async fn update_schedule(&self, id: i64, input: ScheduleInput) -> Result<Schedule> {
        let current = self.store.get_schedule(id).await?;
        let new = self
            .resolve_schedule(Some(&current), &input, Mode::Patch)
            .await?;
        self.store.replace_schedule(id, new).await
    }

    /// Enables (next slot from now on) or disables a schedule.
    pub async fn set_schedule_enabled(&self, id: i64, enabled: bool) -> Result<Schedule> {
        self.update_schedule(
            id,
            ScheduleInput {
                enabled: Some(enabled),
                ..ScheduleInput::default()
            },
        )
        .await
    }

    pub async fn delete_schedule(&self, id: i64) -> Result<()> {
        self.store.delete_schedule(id).await
    }

    /// The schedule's fired slots, newest first.
    pub async fn schedule_history(&self, id: i64, page: PageRequest) -> Result<Page<ScheduledRun>> {
        self.store.schedule_history(id, page).await
    }

    /// Launches the schedule's task now (enabled or not) through the one launch path, with the
    /// schedule's directive, scope and RAG setting, and records the slot in its history.
    /// Approval is respected like any launch; the timing is not touched.
    pub async fn run_schedule_now(&self, id: i64) -> Result<(Run, ScheduledRun)> {
        let schedule = self.store.get_schedule(id).await?;
        let mut request = LaunchRequest::new()
            .with_tasks([schedule.task_key.clone()])
            .with_use_rag(schedule.use_rag)
            .with_task3_scope(schedule.task3_scope)
            .with_trigger(Trigger::Schedule)
            .with_schedule(schedule.id);
        match (&schedule.custom_directive_text, schedule.directive_id) {
            (Some(text), _) => request = request.with_custom_directive_text(text.clone()),
            (None, Some(directive_id)) => request = request.with_directive(directive_id),
            (None, None) => {}
        }
        let new = self.prepare_launch(&request).await?;
        let now = self.clock.now();
        let (run, scheduled_run) = self.store.record_run_now(id, new, now).await?;
        if run.approval_status == crate::domain::ApprovalStatus::None {
            self.signal_work();
        }
        tracing::info!(schedule_id = id, run_id = run.id, "schedule run now");
        Ok((run, scheduled_run))
    }

    /// Merges `input` over `current` (patch) or takes it whole (create, replace), validates
    /// everything at once and computes `next_run_at`.
    async fn resolve_schedule(
        &self,
        current: Option<&Schedule>,
        input: &ScheduleInput,
        mode: Mode,
    ) -> Result<NewSchedule> {
        let now = self.clock.now();
        let mut errors = FieldErrors::new();
        let base = if mode == Mode::Patch { current } else { None };

        let name = match (&input.name, base) {
            (Some(name), _) => validate::name(&mut errors, "name", name),
            (None, Some(current)) => current.name.clone(),
            (None, None) => {
                errors.add("name", "is required");
                String::new()
            }
        };
        let task_key = self.resolve_schedule_task(&mut errors, input, base).await?;
        let (directive_id, custom_directive_text) = self
            .resolve_schedule_directive(&mut errors, input, base)
            .await?;

        let schedule_type = match (&input.schedule_type, base) {
            (Some(text), _) => match text.trim().parse::<ScheduleType>() {
                Ok(schedule_type) => Some(schedule_type),
                Err(message) => {
                    errors.add("schedule_type", message);
                    None
                }
            },
            (None, Some(current)) => Some(current.schedule_type),
            (None, None) => {
                errors.add(
                    "schedule_type",
                    format!("is required: one of {}", ScheduleType::allowed()),
                );
                None
            }
        };
        let interval_minutes = merged(
            &input.interval_minutes,
            base.map(|c| c.interval_minutes.map(i64::from)),
        );
        let cron_expr = merged(&input.cron_expr, base.map(|c| c.cron_expr.clone()));
        let run_at = merged(&input.run_at, base.map(|c| c.run_at));
        let timezone = input
            .timezone
            .clone()
            .or_else(|| base.map(|c| c.timezone.clone()))
            .unwrap_or_else(|| "UTC".to_string());

        let task3_scope = parse_or(
            &mut errors,
            "task3_scope",
            &input.task3_scope,
            base.map(|c| c.task3_scope),
            Task3Scope::Allowlist,
        );
        let misfire_policy = parse_or(
            &mut errors,
            "misfire_policy",
            &input.misfire_policy,
            base.map(|c| c.misfire_policy),
            MisfirePolicy::RunOnce,
        );
        let max_global = merged(&input.max_global, base.map(|c| c.max_global));
        let max_per_job = merged(&input.max_per_job, base.map(|c| c.max_per_job));
        for (field, value) in [("max_global", max_global), ("max_per_job", max_per_job)] {
            if value.is_some_and(|v| v < 1) {
                errors.add(
                    field,
                    "must be 1 or more (or null for the configured limit)",
                );
            }
        }
        let enabled = input
            .enabled
            .or_else(|| base.map(|c| c.enabled))
            .unwrap_or(true);
        let use_rag = input
            .use_rag
            .or_else(|| base.map(|c| c.use_rag))
            .unwrap_or(false);

        // Timing: validated whenever given or created; a patch that leaves it alone keeps it.
        let timing_changed = mode != Mode::Patch || input.touches_timing();
        let mut next_run_at = current.and_then(|c| c.next_run_at);
        let mut timezone_name = timezone.trim().to_string();
        if let Some(schedule_type) = schedule_type
            && timing_changed
        {
            let spec = TimingSpec {
                schedule_type,
                interval_minutes,
                cron_expr: cron_expr.as_deref(),
                run_at,
                timezone: &timezone,
            };
            match Timing::from_spec(&spec, now) {
                Ok(timing) => next_run_at = timing.first_run_at(now),
                Err(Error::InvalidInput(fields)) => {
                    for (field, messages) in fields.fields() {
                        for message in messages {
                            errors.add(field, message.clone());
                        }
                    }
                }
                Err(other) => return Err(other),
            }
            if let Ok(tz) = parse_timezone(&timezone) {
                timezone_name = tz.name().to_string();
            }
        }
        // Turning a schedule back on starts from the next slot after now, not a stale one.
        let was_enabled = current.is_some_and(|c| c.enabled);
        if enabled
            && !was_enabled
            && mode == Mode::Patch
            && !timing_changed
            && let Some(schedule_type) = schedule_type
        {
            let spec = TimingSpec {
                schedule_type,
                interval_minutes,
                cron_expr: cron_expr.as_deref(),
                run_at,
                timezone: &timezone,
            };
            if let Ok(timing) = Timing::from_spec(&spec, now) {
                next_run_at = timing.first_run_at(now);
            }
        }
        errors.into_result()?;

        // The scope rule is checked against the directive the runs will get.
        if task3_scope == Task3Scope::All {
            let probe = LaunchRequest {
                tasks: Some(vec![task_key.clone()]),
                directive_id,
                custom_directive_text: custom_directive_text.clone(),
                task3_scope: Some(task3_scope.as_str().into()),
                ..LaunchRequest::default()
            };
            self.prepare_launch(&probe).await?;
        }

        let schedule_type = schedule_type.unwrap_or(ScheduleType::Interval);
        Ok(NewSchedule {
            name,
            task_key,
            directive_id,
            custom_directive_text,
            enabled,
            schedule_type,
            interval_minutes: (schedule_type == ScheduleType::Interval)
                .then_some(interval_minutes)
                .flatten()
                .and_then(|m| i32::try_from(m).ok()),
            cron_expr: (schedule_type == ScheduleType::Cron)
                .then(|| cron_expr.map(|c| c.trim().to_string()))
                .flatten(),
            run_at: (schedule_type == ScheduleType::OneShot)
                .then_some(run_at)
                .flatten(),
            timezone: timezone_name,
            task3_scope,
            use_rag,
            max_global,
            max_per_job,
            misfire_policy,
            next_run_at: if enabled { next_run_at } else { None },
            now,
        })
    }

    /// The task named by one of `task_key`, `job_key`, `task_id`, `job_id` (exactly one), which
    /// must exist; a patch without one keeps the current task.
    async fn resolve_schedule_task(
        &self,
        errors: &mut FieldErrors,
        input: &ScheduleInput,
        base: Option<&Schedule>,
    ) -> Result<String> {
        let keys: Vec<(&str, &String)> =
            [("task_key", &input.task_key), ("job_key", &input.job_key)]
                .into_iter()
                .filter_map(|(field, value)| value.as_ref().map(|v| (field, v)))
                .collect();
        let ids: Vec<(&str, i64)> = [("task_id", input.task_id), ("job_id", input.job_id)]
            .into_iter()
            .filter_map(|(field, value)| value.map(|v| (field, v)))
            .collect();
        if keys.len() + ids.len() > 1 {
            for (field, _) in &keys {
                errors.add(
                    *field,
                    "name the task once: task_key, job_key, task_id or job_id",
                );
            }
            for (field, _) in &ids {
                errors.add(
                    *field,
                    "name the task once: task_key, job_key, task_id or job_id",
                );
            }
            return Ok(String::new());
        }
        if let Some((field, key)) = keys.first() {
            let canonical = TaskKey::canonical(key.trim());
            return match self.store.get_task_by_key(canonical).await {
                Ok(task) => Ok(task.task_key),
                Err(Error::NotFound { .. }) => {
                    errors.add(*field, format!("unknown task {key:?}; see GET /api/tasks/"));
                    Ok(String::new())
                }
                Err(e) => Err(e),
            };
        }
        if let Some((field, id)) = ids.first() {
            return match self.store.get_task(*id).await {
                Ok(task) => Ok(task.task_key),
                Err(Error::NotFound { .. }) => {
                    errors.add(
                        *field,
                        format!("task {id} does not exist; see GET /api/tasks/"),
                    );
                    Ok(String::new())
                }
                Err(e) => Err(e),
            };
        }
        match base {
            Some(current) => Ok(current.task_key.clone()),
            None => {
                errors.add("task_key", "is required (or job_key, task_id, job_id)");
                Ok(String::new())
            }
        }
    }

    /// `directive_id` or `custom_directive_text` (not both; neither = the default directive).
    async fn resolve_schedule_directive(
        &self,
        errors: &mut FieldErrors,
        input: &ScheduleInput,
        base: Option<&Schedule>,
    ) -> Result<(Option<i64>, Option<String>)> {
        let mut directive_id = merged(&input.directive_id, base.map(|c| c.directive_id));
        let mut custom = merged(
            &input.custom_directive_text,
            base.map(|c| c.custom_directive_text.clone()),
        );
        // A patch that sets one clears the other, so switching needs no explicit null.
        if input.directive_id.flatten().is_some() && input.custom_directive_text.is_none() {
            custom = None;
        }
        if input.custom_directive_text.clone().flatten().is_some() && input.directive_id.is_none() {
            directive_id = None;
        }
        if directive_id.is_some() && custom.is_some() {
            for field in ["directive_id", "custom_directive_text"] {
                errors.add(
                    field,
                    "give a directive_id or custom_directive_text, not both",
                );
            }
            return Ok((None, None));
        }
        if let Some(text) = &custom {
            validate::text(
                errors,
                "custom_directive_text",
                text,
                validate::MAX_TEXT_CHARS,
            );
            if text.trim().is_empty() {
                errors.add("custom_directive_text", "must not be blank");
            }
        }
        if let Some(id) = directive_id {
            match self.store.get_directive(id).await {
                Ok(_) => {}
                Err(Error::NotFound { .. }) => errors.add(
                    "directive_id",
                    format!("directive {id} does not exist; use an id from /api/directives/"),
                ),
                Err(e) => return Err(e),
            }
        }
        Ok((directive_id, custom))
    }
}

/// The input's value when given (`null` clears), else the current one.
fn merged<T: Clone>(input: &Option<Option<T>>, current: Option<Option<T>>) -> Option<T> {
    match input {
        Some(value) => value.clone(),
        None => current.flatten(),
    }
}

/// Parses a wire enum given as text, else keeps the current value, else the default.
fn parse_or<T>(
    errors: &mut FieldErrors,
    field: &str,
    input: &Option<String>,
    current: Option<T>,
    default: T,
) -> T
where
    T: std::str::FromStr<Err = String> + Copy,
{
    match input {
        Some(text) => match text.trim().parse::<T>() {
            Ok(value) => value,
            Err(message) => {
                errors.add(field, message);
                default
            }
        },
        None => current.unwrap_or(default),
    }
}
