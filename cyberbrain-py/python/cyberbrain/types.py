"""Shapes of Cyberbrain's results and keyword arguments, for type checkers.

Every result is a plain ``dict`` at run time; these ``TypedDict``s describe its keys (the JSON the
REST API returns, times as RFC 3339 strings)::

    from cyberbrain.types import Directive

    def names(directives: list[Directive]) -> list[str]:
        return [d["name"] for d in directives]
"""

import os
from typing import Any, Callable, Dict, List, Literal, Optional, Sequence, TypedDict, Union

__all__ = [
    "AllowlistEntry",
    "AllowlistFields",
    "AllowlistPage",
    "ApprovalStatusName",
    "Artifact",
    "ArtifactKindName",
    "ArtifactPage",
    "ComponentHealth",
    "ComponentStateName",
    "ChunkHit",
    "CostReport",
    "Directive",
    "DirectiveFields",
    "DirectivePage",
    "DirectiveSnapshot",
    "DirectiveTypeName",
    "Document",
    "DocumentPage",
    "EmbedderCallable",
    "Health",
    "LlmCall",
    "LlmCallable",
    "LlmMessage",
    "LlmResult",
    "ModelCost",
    "OpenOptions",
    "Run",
    "RunDetail",
    "RunJob",
    "RunPage",
    "RunReport",
    "RunStatusName",
    "Schedule",
    "ScheduleFields",
    "SchedulePage",
    "ScheduleRunNow",
    "ScheduleTypeName",
    "ScheduledRun",
    "ScheduledRunPage",
    "ScheduledRunStatusName",
    "SearchResults",
    "StrPath",
    "TaskDefinition",
    "TaskFields",
    "TaskPage",
    "TokenStats",
    "Upload",
    "UploadCreated",
    "UploadPage",
    "UploadStatusName",
]

DirectiveTypeName = Literal["D1", "D2", "D3", "D4"]
"""Autonomy level: D1 read-only, D2 recommend, D3 plan changes, D4 admin override."""

ComponentStateName = Literal["ok", "unavailable", "not_configured"]

RunStatusName = Literal["pending", "running", "completed", "failed", "cancelled"]
"""A run's (or a job's) status; completed, failed and cancelled are final."""

ApprovalStatusName = Literal["none", "pending", "approved", "denied"]
"""``pending`` and ``denied`` runs are never executed."""

ArtifactKindName = Literal["markdown", "json", "text", "mermaid"]

ScheduleTypeName = Literal["interval", "cron", "one_shot"]

ScheduledRunStatusName = Literal["pending", "started", "finished", "failed"]
"""A fired slot's status: follows its run (failed also covers a cancelled run)."""

UploadStatusName = Literal["queued", "processing", "ready", "failed"]
"""An upload's ingestion state: only ``ready`` uploads are searchable."""

StrPath = Union[str, "os.PathLike[str]"]
"""A filesystem path as a str or a path object."""


# ----- results -----------------------------------------------------------------------------


class Directive(TypedDict):
    id: int
    name: str
    directive_type: DirectiveTypeName
    description: str
    directive_text: str
    task_config: Dict[str, Any]
    is_builtin: bool
    is_active: bool
    approval_required: bool
    version: int
    created_at: str
    updated_at: str


class TaskDefinition(TypedDict):
    id: int
    task_key: str
    name: str
    description: str
    default_directive_id: Optional[int]
    config: Dict[str, Any]
    is_active: bool
    created_at: str
    updated_at: str


class AllowlistEntry(TypedDict):
    id: int
    container_id: str
    name: str
    description: str
    enabled: bool
    tags: List[str]
    created_at: str
    updated_at: str


class DirectivePage(TypedDict):
    count: int
    results: List[Directive]


class TaskPage(TypedDict):
    count: int
    results: List[TaskDefinition]


class AllowlistPage(TypedDict):
    count: int
    results: List[AllowlistEntry]


class DirectiveSnapshot(TypedDict):
    """The directive a run executes under, frozen at launch (``id`` is None for custom text)."""

    id: Optional[int]
    name: str
    directive_type: DirectiveTypeName
    version: int
    directive_text: str
    task_config: Dict[str, Any]
    approval_required: bool


class Run(TypedDict):
    id: int
    status: RunStatusName
    directive_snapshot: DirectiveSnapshot
    snapshot_sha256: str
    use_rag: bool
    task3_scope: Literal["allowlist", "all"]
    trigger: Literal["manual", "schedule", "mcp", "python", "api"]
    schedule_id: Optional[int]
    approval_status: ApprovalStatusName
    approved_by: Optional[str]
    approved_at: Optional[str]
    approved_snapshot_sha256: Optional[str]
    cancel_requested_at: Optional[str]
    created_at: str
    started_at: Optional[str]
    ended_at: Optional[str]
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    error_summary: Optional[str]
    report_summary: Dict[str, Any]
    """Statuses, counts, findings' titles and severities, paths; never prompt or response."""


class RunJob(TypedDict):
    id: int
    run_id: int
    task_key: str
    status: RunStatusName
    attempts: int
    lease_owner: Optional[str]
    lease_until: Optional[str]
    started_at: Optional[str]
    ended_at: Optional[str]
    result: Dict[str, Any]
    error_summary: Optional[str]
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class LlmCall(TypedDict):
    """One LLM call's accounting: counts only, never prompt or response text."""

    id: int
    run_id: int
    run_job_id: Optional[int]
    model: str
    endpoint_host: str
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    duration_ms: int
    outcome: Literal["ok", "error"]
    created_at: str


class RunDetail(Run):
    jobs: List[RunJob]
    llm_calls: List[LlmCall]


class RunReport(TypedDict):
    id: int
    status: RunStatusName
    markdown: Optional[str]
    """``report.md`` once the run ended, else None."""
    json: Dict[str, Any]
    """``summary.json`` once the run ended, else the summary stored so far."""
    started_at: Optional[str]
    completed_at: Optional[str]
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class RunPage(TypedDict):
    count: int
    results: List[Run]


class Artifact(TypedDict):
    id: int
    run_id: int
    run_job_id: Optional[int]
    kind: ArtifactKindName
    relative_path: str
    """Relative to the artifacts root, e.g. ``run_7/report.md``."""
    size_bytes: int
    sha256: str
    mime_type: str
    created_at: str


class ArtifactPage(TypedDict):
    count: int
    results: List[Artifact]


class Schedule(TypedDict):
    id: int
    name: str
    task_key: str
    directive_id: Optional[int]
    custom_directive_text: Optional[str]
    enabled: bool
    schedule_type: ScheduleTypeName
    interval_minutes: Optional[int]
    cron_expr: Optional[str]
    run_at: Optional[str]
    timezone: str
    """IANA zone name the cron expression is read in."""
    task3_scope: Literal["allowlist", "all"]
    use_rag: bool
    max_global: Optional[int]
    max_per_job: Optional[int]
    misfire_policy: Literal["run_once", "skip"]
    last_run_at: Optional[str]
    next_run_at: Optional[str]
    """None while disabled or after a one-shot fired."""
    created_at: str
    updated_at: str


class SchedulePage(TypedDict):
    count: int
    results: List[Schedule]


class ScheduledRun(TypedDict):
    id: int
    schedule_id: int
    run_id: Optional[int]
    scheduled_for: str
    status: ScheduledRunStatusName
    started_at: Optional[str]
    finished_at: Optional[str]
    error_summary: Optional[str]


class ScheduledRunPage(TypedDict):
    count: int
    results: List[ScheduledRun]


class ScheduleRunNow(TypedDict):
    run_id: int
    scheduled_run_id: int


class Upload(TypedDict):
    id: int
    filename: str
    """The base name the file was uploaded under (never its path)."""
    mime_type: str
    size_bytes: int
    sha256: str
    stored_path: str
    """Relative to the uploads directory: the file is stored by its hash."""
    status: UploadStatusName
    attempts: int
    error_message: Optional[str]
    """Why ingestion failed (at most 1000 characters)."""
    lease_owner: Optional[str]
    lease_until: Optional[str]
    uploaded_at: str
    processed_at: Optional[str]
    chunks_done: int
    """Chunks embedded so far by the current (or last) ingestion."""
    chunks_total: Optional[int]
    """Chunks in all, once the text is extracted and chunked."""


class UploadCreated(Upload):
    created: bool
    """False when the same bytes were uploaded before: the existing upload is returned (a failed
    one queued again)."""


class UploadPage(TypedDict):
    count: int
    results: List[Upload]


class Document(TypedDict):
    id: int
    upload_id: int
    title: str
    source: str
    """The uploaded file's name."""
    created_at: str
    chunk_count: int


class DocumentPage(TypedDict):
    count: int
    results: List[Document]


class ChunkHit(TypedDict):
    chunk_id: int
    chunk_index: int
    """The passage's position in its document, from 0."""
    chunk_text: str
    document_id: int
    document_title: str
    document_source: str
    upload_id: int
    score: float
    """Cosine similarity to the query (1 is identical)."""


class SearchResults(TypedDict):
    query_hash: str
    """SHA-256 (hex) of the trimmed query: the only trace of it that is kept."""
    results: List[ChunkHit]
    """Best first; ties by chunk id."""
    total_found: int


class TokenStats(TypedDict):
    total_tokens: int
    total_prompt_tokens: int
    total_completion_tokens: int
    call_count: int


class ModelCost(TypedDict):
    tokens: int
    prompt_tokens: int
    completion_tokens: int
    calls: int
    estimated_cost: float
    rate_configured: bool


class CostReport(TypedDict):
    total_cost: float
    by_model: Dict[str, ModelCost]
    note: str


class ComponentHealth(TypedDict):
    state: ComponentStateName
    detail: str


class Health(TypedDict):
    status: Literal["ok", "degraded"]
    version: str
    database: ComponentHealth
    llm: ComponentHealth
    embedder: ComponentHealth
    engine: ComponentHealth


# ----- inputs ------------------------------------------------------------------------------


class LlmMessage(TypedDict):
    """One chat message handed to a Python LLM callable."""

    role: Literal["system", "user", "assistant"]
    content: str


class _LlmResultRequired(TypedDict):
    text: str
    prompt_tokens: int
    completion_tokens: int


class LlmResult(_LlmResultRequired, total=False):
    """What a Python LLM callable returns: the answer and the token counts your model reported
    (required: counts are never estimated). ``total_tokens`` defaults to the sum; ``model`` to
    ``llm_model`` or ``"python"``."""

    total_tokens: int
    model: str


LlmCallable = Callable[[List[LlmMessage]], LlmResult]
"""``Cyberbrain.open(url, llm=…)``: a local model as a Python function."""

EmbedderCallable = Callable[[List[str]], Sequence[Sequence[float]]]
"""``Cyberbrain.open(url, embedder=…)``: one 384-number vector per text, in order (normalised by
Cyberbrain)."""


class DirectiveFields(TypedDict, total=False):
    name: str
    directive_type: DirectiveTypeName
    description: str
    directive_text: str
    task_config: Dict[str, Any]
    is_active: bool
    approval_required: bool


class TaskFields(TypedDict, total=False):
    name: str
    description: str
    default_directive_id: Optional[int]
    config: Dict[str, Any]
    is_active: bool


class AllowlistFields(TypedDict, total=False):
    container_id: str
    name: str
    description: str
    enabled: bool
    tags: List[str]


class ScheduleFields(TypedDict, total=False):
    """The fields of ``POST /api/schedules/``. Name the task once: ``task_key``, ``job_key``,
    ``task_id`` or ``job_id``; give ``directive_id`` or ``custom_directive_text``, not both."""

    name: str
    task_key: str
    job_key: str
    task_id: int
    job_id: int
    directive_id: Optional[int]
    custom_directive_text: Optional[str]
    enabled: bool
    schedule_type: ScheduleTypeName
    interval_minutes: Optional[int]
    cron_expr: Optional[str]
    """5 fields, or 6 with seconds first."""
    run_at: Optional[str]
    """RFC 3339, e.g. ``"2030-01-01T03:00:00Z"``."""
    timezone: str
    task3_scope: Literal["allowlist", "all"]
    use_rag: bool
    max_global: Optional[int]
    max_per_job: Optional[int]
    misfire_policy: Literal["run_once", "skip"]


class OpenOptions(TypedDict, total=False):
    config_file: StrPath
    data_dir: StrPath
    logs_dir: StrPath
    artifacts_dir: StrPath
    uploads_dir: StrPath
    models_dir: StrPath
    llm_endpoint: str
    llm_model: str
    llm_api_key: str
    llm_allow_hosts: List[str]
    redacted_mode: bool
    docker_host: str
    nvidia_smi: str
