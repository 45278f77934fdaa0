//! Directives, task definitions and the container allowlist: validate once, then store.

use super::Cyberbrain;
use super::validate::{self, MAX_DESCRIPTION_CHARS, MAX_TEXT_CHARS};
use crate::domain::{
    AllowlistEntry, AllowlistPatch, Directive, DirectivePatch, NewAllowlistEntry, NewDirective,
    NewTaskDefinition, Page, PageRequest, TaskDefinition, TaskDefinitionPatch, TaskKey,
};
use crate::{Error, FieldErrors, Result};

impl Cyberbrain {
    // ----- directives -------------------------------------------------------------------------

    pub async fn list_directives(&self, page: PageRequest) -> Result<Page<Directive>> {
        self.store.list_directives(page).await
    }

    pub async fn get_directive(&self, id: i64) -> Result<Directive> {
        self.store.get_directive(id).await
    }

    pub async fn create_directive(&self, mut new: NewDirective) -> Result<Directive> {
        let mut errors = FieldErrors::new();
        new.name = validate::name(&mut errors, "name", &new.name);
        validate::text(
            &mut errors,
            "description",
            &new.description,
            MAX_DESCRIPTION_CHARS,
        );
        validate::text(
            &mut errors,
            "directive_text",
            &new.directive_text,
            MAX_TEXT_CHARS,
        );
        errors.into_result()?;
        self.store.create_directive(new).await
    }

    pub async fn update_directive(&self, id: i64, mut patch: DirectivePatch) -> Result<Directive> {
        let mut errors = FieldErrors::new();
        if let Some(name) = &patch.name {
            patch.name = Some(validate::name(&mut errors, "name", name));
        }
        if let Some(description) = &patch.description {
            validate::text(
                &mut errors,
                "description",
                description,
                MAX_DESCRIPTION_CHARS,
            );
        }
        if let Some(text) = &patch.directive_text {
            validate::text(&mut errors, "directive_text", text, MAX_TEXT_CHARS);
        }
        errors.into_result()?;
        self.store.update_directive(id, patch).await
    }

    /// Full replacement (PUT): every field takes the given value; absent optional fields take
    /// their defaults.
    pub async fn replace_directive(&self, id: i64, new: NewDirective) -> Result<Directive> {
        let approval_required = new.effective_approval_required();
        let patch = DirectivePatch {
            name: Some(new.name),
            directive_type: Some(new.directive_type),
            description: Some(new.description),
            directive_text: Some(new.directive_text),
            task_config: Some(new.task_config),
            is_active: Some(new.is_active),
            approval_required: Some(approval_required),
        };
        self.update_directive(id, patch).await
    }

    pub async fn delete_directive(&self, id: i64) -> Result<()> {
        self.store.delete_directive(id).await
    }

    // ----- task definitions -------------------------------------------------------------------

    pub async fn list_tasks(&self, page: PageRequest) -> Result<Page<TaskDefinition>> {
        self.store.list_tasks(page).await
    }

    pub async fn get_task(&self, id: i64) -> Result<TaskDefinition> {
        self.store.get_task(id).await
    }

    /// By key or alias (`task1` = `log_triage`, `task2` = `gpu_report`, `task3` = `service_map`).
    pub async fn get_task_by_key(&self, key: &str) -> Result<TaskDefinition> {
        self.store.get_task_by_key(TaskKey::canonical(key)).await
    }

    pub async fn create_task(&self, mut new: NewTaskDefinition) -> Result<TaskDefinition> {
        let mut errors = FieldErrors::new();
        new.task_key = validate::task_key(&mut errors, &new.task_key);
        new.name = validate::name(&mut errors, "name", &new.name);
        validate::text(
            &mut errors,
            "description",
            &new.description,
            MAX_DESCRIPTION_CHARS,
        );
        errors.into_result()?;
        if let Some(directive_id) = new.default_directive_id {
            self.require_directive("default_directive_id", directive_id)
                .await?;
        }
        self.store.create_task(new).await
    }

    pub async fn update_task(
        &self,
        id: i64,
        mut patch: TaskDefinitionPatch,
    ) -> Result<TaskDefinition> {
        let mut errors = FieldErrors::new();
        if let Some(name) = &patch.name {
            patch.name = Some(validate::name(&mut errors, "name", name));
        }
        if let Some(description) = &patch.description {
            validate::text(
                &mut errors,
                "description",
                description,
                MAX_DESCRIPTION_CHARS,
            );
        }
        errors.into_result()?;
        if let Some(Some(directive_id)) = patch.default_directive_id {
            self.require_directive("default_directive_id", directive_id)
                .await?;
        }
        self.store.update_task(id, patch).await
    }

    pub async fn delete_task(&self, id: i64) -> Result<()> {
        self.store.delete_task(id).await
    }

    /// A reference to a directive that does not exist is the caller's input error (400 naming
    /// the field), not a missing resource (404).
    async fn require_directive(&self, field: &str, id: i64) -> Result<()> {
        match self.store.get_directive(id).await {
            Ok(_) => Ok(()),
            Err(Error::NotFound { .. }) => Err(Error::invalid(
                field,
                format!("directive {id} does not exist"),
            )),
            Err(other) => Err(other),
        }
    }

    // ----- container allowlist ----------------------------------------------------------------

    pub async fn list_allowlist(&self, page: PageRequest) -> Result<Page<AllowlistEntry>> {
        self.store.list_allowlist(page).await
    }

    pub async fn get_allowlist_entry(&self, id: i64) -> Result<AllowlistEntry> {
        self.store.get_allowlist_entry(id).await
    }

    pub async fn create_allowlist_entry(&self, new: NewAllowlistEntry) -> Result<AllowlistEntry> {
        let new = validate_allowlist_entry(new)?;
        self.store.create_allowlist_entry(new).await
    }

    /// Adds the entry, or replaces the one with the same `container_id` (MCP `set_allowlist`).
    pub async fn set_allowlist_entry(&self, new: NewAllowlistEntry) -> Result<AllowlistEntry> {
        let new = validate_allowlist_entry(new)?;
        self.store.upsert_allowlist_entry(new).await
    }

    pub async fn update_allowlist_entry(
        &self,
        id: i64,
        mut patch: AllowlistPatch,
    ) -> Result<AllowlistEntry> {
        let mut errors = FieldErrors::new();
        if let Some(container_id) = &patch.container_id {
            patch.container_id = Some(validate::container_id(&mut errors, container_id));
        }
        if let Some(name) = &patch.name {
            patch.name = Some(optional_name(&mut errors, name));
        }
        if let Some(description) = &patch.description {
            validate::text(
                &mut errors,
                "description",
                description,
                MAX_DESCRIPTION_CHARS,
            );
        }
        if let Some(tags) = &patch.tags {
            patch.tags = Some(validate::tags(&mut errors, tags));
        }
        errors.into_result()?;
        self.store.update_allowlist_entry(id, patch).await
    }

    pub async fn delete_allowlist_entry(&self, id: i64) -> Result<()> {
        self.store.delete_allowlist_entry(id).await
    }
}

fn validate_allowlist_entry(mut new: NewAllowlistEntry) -> Result<NewAllowlistEntry> {
    let mut errors = FieldErrors::new();
    new.container_id = validate::container_id(&mut errors, &new.container_id);
    new.name = optional_name(&mut errors, &new.name);
    validate::text(
        &mut errors,
        "description",
        &new.description,
        MAX_DESCRIPTION_CHARS,
    );
    new.tags = validate::tags(&mut errors, &new.tags);
    errors.into_result()?;
    Ok(new)
}

/// Allowlist names are optional labels: empty is fine, otherwise the usual name rules.
fn optional_name(errors: &mut FieldErrors, value: &str) -> String {
    if value.trim().is_empty() {
        String::new()
    } else {
        validate::name(errors, "name", value)
    }
}
