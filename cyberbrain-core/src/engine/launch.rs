//! The one launch path (SPEC §3.1): REST, MCP, Python, Rust, the scheduler and run-now all call
//! [`Cyberbrain::launch`], so every launch is validated, snapshotted (G4) and scope-checked (G5)
//! the same way before a single row is written.

use serde::Deserialize;

use super::Cyberbrain;
use super::validate::MAX_TEXT_CHARS;
use crate::domain::{
    ApprovalStatus, DEFAULT_DIRECTIVE_NAME, Directive, DirectiveSnapshot, DirectiveType, NewRun,
    PageRequest, Run, Task3Scope, TaskDefinition, TaskKey, Trigger,
};
use crate::{Error, FieldErrors, Result};

/// The name a custom-text directive snapshot carries.
pub const CUSTOM_DIRECTIVE_NAME: &str = "custom";

/// What a caller asks to launch; the body of `POST /api/runs/launch/`.
///
/// Tasks are chosen by key (or alias `task1`/`task2`/`task3`) *or* by id, not both; an empty or
/// absent list means every active task. The directive is chosen by id *or* given as custom text,
/// not both; neither means the `default` directive. Custom text runs as a D1 directive (id
/// `None`, name `"custom"`, version 1, no task config, no approval): free text can never widen
/// what a run may do.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LaunchRequest {
    #[serde(default)]
    pub tasks: Option<Vec<String>>,
    #[serde(default)]
    pub task_ids: Option<Vec<i64>>,
    #[serde(default)]
    pub directive_id: Option<i64>,
    #[serde(default)]
    pub custom_directive_text: Option<String>,
    #[serde(default)]
    pub use_rag: bool,
    /// `"allowlist"` (the default) or `"all"` (D4 directives only). Kept as text so a wrong value
    /// is a field error naming the allowed values, not a body parse failure.
    #[serde(default)]
    pub task3_scope: Option<String>,
    /// Where the launch came from; set by the host, never by the request body.
    #[serde(skip, default = "api_trigger")]
    pub trigger: Trigger,
    /// The schedule that launched this run; set by the scheduler, never by the request body.
    #[serde(skip)]
    pub schedule_id: Option<i64>,
}

impl Default for LaunchRequest {
    fn default() -> Self {
        Self {
            tasks: None,
            task_ids: None,
            directive_id: None,
            custom_directive_text: None,
            use_rag: false,
            task3_scope: None,
            trigger: api_trigger(),
            schedule_id: None,
        }
    }
}

/// Launches arrive over the API unless a host says otherwise.
fn api_trigger() -> Trigger {
    Trigger::Api
}

impl LaunchRequest {
    /// A launch of every active task under the default directive.
    pub fn new() -> Self {
        Self::default()
    }

    /// Tasks by key or alias.
    pub fn with_tasks<I, S>(mut self, tasks: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.tasks = Some(tasks.into_iter().map(Into::into).collect());
        self
    }

    /// Tasks by id.
    pub fn with_task_ids(mut self, ids: impl IntoIterator<Item = i64>) -> Self {
        self.task_ids = Some(ids.into_iter().collect());
        self
    }

    pub fn with_directive(mut self, directive_id: i64) -> Self {
        self.directive_id = Some(directive_id);
        self
    }

    pub fn with_custom_directive_text(mut self, text: impl Into<String>) -> Self {
        self.custom_directive_text = Some(text.into());
        self
    }

    pub fn with_use_rag(mut self, use_rag: bool) -> Self {
        self.use_rag = use_rag;
        self
    }

    pub fn with_task3_scope(mut self, scope: Task3Scope) -> Self {
        self.task3_scope = Some(scope.as_str().to_string());
        self
    }

    pub fn with_trigger(mut self, trigger: Trigger) -> Self {
        self.trigger = trigger;
        self
    }

    pub fn with_schedule(mut self, schedule_id: i64) -> Self {
        self.schedule_id = Some(schedule_id);
        self
    }
}

impl Cyberbrain {
    /// Validates `request`, snapshots its directive and writes the run with one job per task in
    /// one store call. Every input problem is reported at once as [`Error::InvalidInput`] naming
    /// the field, and nothing is written then. A run whose directive requires approval starts
    /// with approval `pending` and is not executed until approved.
    pub async fn launch(&self, request: LaunchRequest) -> Result<Run> {
        let new = self.prepare_launch(&request).await?;
        let run = self.store.create_run(new).await?;
        if run.approval_status == ApprovalStatus::None {
            self.signal_work();
        }
        tracing::info!(
            run_id = run.id,
            trigger = run.trigger.as_str(),
            "run launched"
        );
        Ok(run)
    }

    /// Everything [`Cyberbrain::launch`] checks and resolves, without writing: the run to
    /// create. Run-now uses it to write the run together with its ledger row.
    pub(crate) async fn prepare_launch(&self, request: &LaunchRequest) -> Result<NewRun> {
        let mut errors = FieldErrors::new();
        let task_keys = self.resolve_tasks(&mut errors, request).await?;
        let snapshot = self.resolve_directive(&mut errors, request).await?;
        let scope = resolve_scope(&mut errors, request, snapshot.as_ref());
        errors.into_result()?;
        // All three resolve when no error was recorded; this guards the invariant without a panic.
        let (Some(snapshot), Some(scope)) = (snapshot, scope) else {
            return Err(Error::backend(
                "launch validation produced no directive or scope without an error",
            ));
        };

        let mut new = NewRun::new(snapshot, task_keys, self.clock.now())
            .with_trigger(request.trigger)
            .with_use_rag(request.use_rag)
            .with_task3_scope(scope);
        if let Some(schedule_id) = request.schedule_id {
            new = new.with_schedule(schedule_id);
        }
        Ok(new)
    }

    /// Canonical keys of the requested tasks (duplicates dropped, order kept), or of every
    /// active task when none is named.
    async fn resolve_tasks(
        &self,
        errors: &mut FieldErrors,
        request: &LaunchRequest,
    ) -> Result<Vec<String>> {
        let keys = request.tasks.as_deref().unwrap_or_default();
        let ids = request.task_ids.as_deref().unwrap_or_default();
        if !keys.is_empty() && !ids.is_empty() {
            for field in ["tasks", "task_ids"] {
                errors.add(
                    field,
                    "give tasks by key (tasks) or by id (task_ids), not both",
                );
            }
            return Ok(Vec::new());
        }

        let mut resolved: Vec<String> = Vec::new();
        if !keys.is_empty() {
            for key in keys {
                let canonical = TaskKey::canonical(key);
                match self.store.get_task_by_key(canonical).await {
                    Ok(task) => {
                        push_active(errors, "tasks", &format!("\"{key}\""), task, &mut resolved)
                    }
                    Err(Error::NotFound { .. }) => errors.add(
                        "tasks",
                        format!(
                            "task \"{key}\" does not exist; use a task key from /api/tasks/ \
                             or an alias task1, task2, task3"
                        ),
                    ),
                    Err(other) => return Err(other),
                }
            }
        } else if !ids.is_empty() {
            for &id in ids {
                match self.store.get_task(id).await {
                    Ok(task) => {
                        push_active(errors, "task_ids", &id.to_string(), task, &mut resolved)
                    }
                    Err(Error::NotFound { .. }) => errors.add(
                        "task_ids",
                        format!("task {id} does not exist; use an id from /api/tasks/"),
                    ),
                    Err(other) => return Err(other),
                }
            }
        } else {
            resolved = self.active_task_keys().await?;
            if resolved.is_empty() {
                errors.add(
                    "tasks",
                    "no task is active; activate a task or name the tasks to run",
                );
            }
        }
        Ok(resolved)
    }

    /// Every active task's key, ordered by id, across all pages of the catalogue.
    async fn active_task_keys(&self) -> Result<Vec<String>> {
        let mut keys = Vec::new();
        let mut page = PageRequest::first(crate::domain::MAX_PAGE_SIZE);
        loop {
            let batch = self.store.list_tasks(page).await?;
            let more = batch.has_next(page) && !batch.items.is_empty();
            keys.extend(
                batch
                    .items
                    .into_iter()
                    .filter(|task| task.is_active)
                    .map(|task| task.task_key),
            );
            if !more {
                return Ok(keys);
            }
            page = page.with_page(page.page + 1);
        }
    }

    /// The snapshot the run will keep (G4), or `None` with an error recorded.
    async fn resolve_directive(
        &self,
        errors: &mut FieldErrors,
        request: &LaunchRequest,
    ) -> Result<Option<DirectiveSnapshot>> {
        match (
            request.directive_id,
            request.custom_directive_text.as_deref(),
        ) {
            (Some(_), Some(_)) => {
                for field in ["directive_id", "custom_directive_text"] {
                    errors.add(
                        field,
                        "give a directive_id or custom_directive_text, not both",
                    );
                }
                Ok(None)
            }
            (None, Some(text)) => Ok(custom_snapshot(errors, text)),
            (Some(id), None) => match self.store.get_directive(id).await {
                Ok(directive) => Ok(active_snapshot(errors, &directive)),
                Err(Error::NotFound { .. }) => {
                    errors.add(
                        "directive_id",
                        format!("directive {id} does not exist; use an id from /api/directives/"),
                    );
                    Ok(None)
                }
                Err(other) => Err(other),
            },
            (None, None) => match self
                .store
                .get_directive_by_name(DEFAULT_DIRECTIVE_NAME)
                .await
            {
                Ok(directive) => Ok(active_snapshot(errors, &directive)),
                Err(Error::NotFound { .. }) => {
                    errors.add(
                        "directive_id",
                        format!(
                            "no directive was given and the \"{DEFAULT_DIRECTIVE_NAME}\" directive \
                             does not exist; pass directive_id or custom_directive_text"
                        ),
                    );
                    Ok(None)
                }
                Err(other) => Err(other),
            },
        }
    }
}

/// Adds an active task's key (once); an inactive one is the caller's error.
fn push_active(
    errors: &mut FieldErrors,
    field: &str,
    shown: &str,
    task: TaskDefinition,
    resolved: &mut Vec<String>,
) {
    if !task.is_active {
        errors.add(
            field,
            format!(
                "task {shown} ({}) is inactive; activate it or leave it out",
                task.task_key
            ),
        );
    } else if !resolved.contains(&task.task_key) {
        resolved.push(task.task_key);
    }
}

pub(super) fn active_snapshot(
    errors: &mut FieldErrors,
    directive: &Directive,
) -> Option<DirectiveSnapshot> {
    if directive.is_active {
        Some(directive.snapshot())
    } else {
        errors.add(
            "directive_id",
            format!(
                "directive {} (\"{}\") is inactive; activate it or choose another",
                directive.id, directive.name
            ),
        );
        None
    }
}

/// Custom text runs read-only (D1), so free text cannot grant recommendations, plans, scope or
/// skip approval.
pub(super) fn custom_snapshot(errors: &mut FieldErrors, text: &str) -> Option<DirectiveSnapshot> {
    let field = "custom_directive_text";
    if text.trim().is_empty() {
        errors.add(
            field,
            "must not be blank; write the instructions or leave it out",
        );
        return None;
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        errors.add(
            field,
            format!("must be at most {MAX_TEXT_CHARS} characters"),
        );
        return None;
    }
    Some(DirectiveSnapshot {
        id: None,
        name: CUSTOM_DIRECTIVE_NAME.to_string(),
        directive_type: DirectiveType::D1,
        version: 1,
        directive_text: text.to_string(),
        task_config: serde_json::Map::new(),
        approval_required: false,
    })
}

/// `"all"` widens `service_map` past the allowlist, which only a D4 directive may do (G5).
fn resolve_scope(
    errors: &mut FieldErrors,
    request: &LaunchRequest,
    snapshot: Option<&DirectiveSnapshot>,
) -> Option<Task3Scope> {
    let scope = match request.task3_scope.as_deref() {
        None => Task3Scope::Allowlist,
        Some(value) => match value.trim().parse::<Task3Scope>() {
            Ok(scope) => scope,
            Err(message) => {
                errors.add("task3_scope", message);
                return None;
            }
        },
    };
    if scope == Task3Scope::All
        && let Some(snapshot) = snapshot
        && snapshot.directive_type != DirectiveType::D4
    {
        errors.add(
            "task3_scope",
            format!(
                "\"all\" needs a D4 directive (this one is {}); use \"allowlist\" or a D4 directive",
                snapshot.directive_type
            ),
        );
        return None;
    }
    Some(scope)
}
