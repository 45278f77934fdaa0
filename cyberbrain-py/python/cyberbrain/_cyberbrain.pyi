"""Type stubs for the native module ``cyberbrain._cyberbrain``.

Result shapes are declared in :mod:`cyberbrain.types` (at run time every result is a plain
``dict``).
"""

from typing import Any, Dict, List, Optional, Sequence, Union, final

from typing_extensions import Unpack

from .types import (
    AllowlistEntry,
    AllowlistFields,
    AllowlistPage,
    ArtifactPage,
    CostReport,
    Directive,
    DirectiveFields,
    DirectivePage,
    DirectiveTypeName,
    DocumentPage,
    EmbedderCallable,
    Health,
    LlmCallable,
    OpenOptions,
    Run,
    RunDetail,
    RunPage,
    RunReport,
    RunStatusName,
    Schedule,
    ScheduleFields,
    SchedulePage,
    ScheduleRunNow,
    ScheduledRunPage,
    SearchResults,
    StrPath,
    TaskDefinition,
    TaskFields,
    TaskPage,
    TokenStats,
    Upload,
    UploadCreated,
    UploadPage,
    UploadStatusName,
)

__all__ = [
    "BackendError",
    "Conflict",
    "Cyberbrain",
    "CyberbrainError",
    "Forbidden",
    "InvalidInput",
    "NotFound",
    "TooLarge",
    "Unavailable",
    "UnsupportedType",
    "__version__",
]
__version__: str

# ----- the handle --------------------------------------------------------------------------

@final
class Cyberbrain:
    """A Cyberbrain SDK handle. Thread-safe; blocking calls release the GIL."""

    @staticmethod
    def open(
        url: str,
        *,
        llm: Optional[LlmCallable] = None,
        embedder: Optional[EmbedderCallable] = None,
        **config: Unpack[OpenOptions],
    ) -> "Cyberbrain":
        """Open (creating if needed) and migrate the database ``url`` names.

        ``url``: ``sqlite:///abs/path.db``, ``sqlite://relative/path.db``, a file path, or
        ``postgres://…``. Keywords override configuration; ``config_file`` loads a
        ``cyberbrain.toml`` first. The process environment is not read. Unknown keywords raise
        :class:`InvalidInput`, and so does an LLM endpoint that is not local (G1).

        The configured OpenAI-compatible LLM client (``llm_endpoint``, ``llm_model``) and
        container engine (``docker_host``) are attached; neither is contacted here. ``llm``
        replaces the LLM client with a Python callable taking the chat messages
        (``[{"role", "content"}, …]``) and returning ``{"text", "prompt_tokens",
        "completion_tokens"}`` (optionally ``"total_tokens"``, ``"model"``): the counts your
        model reported, never estimates. It is called from an executor thread, with the GIL held
        only for the call; an exception it raises fails the job, naming only its type.

        The embedding model (all-MiniLM-L6-v2 under ``models_dir``, installed by
        ``scripts/models.sh``) embeds uploads and searches; without it they fail with that fix.
        ``embedder`` replaces it with a Python callable taking a list of texts and returning one
        vector of 384 numbers per text, in order (normalised here). Its vectors are stored under
        the model id ``python:<its __qualname__>``, and a search finds only the vectors of the
        embedder it runs with. An exception it raises fails the ingestion or search, naming only
        its type (never the text).
        """
    @property
    def backend(self) -> str:
        """The backend name, e.g. ``"sqlite"``."""
    def health(self) -> Health: ...

    # directives
    def list_directives(self, page: int = 1, page_size: int = 50) -> DirectivePage: ...
    def get_directive(self, id: int) -> Directive: ...
    def create_directive(
        self,
        name: str,
        directive_type: DirectiveTypeName,
        *,
        description: str = "",
        directive_text: str = "",
        task_config: Optional[Dict[str, Any]] = None,
        is_active: bool = True,
        approval_required: Optional[bool] = None,
    ) -> Directive:
        """``approval_required=None`` takes the type's default (required for D3 and D4)."""
    def update_directive(self, id: int, **fields: Unpack[DirectiveFields]) -> Directive: ...
    def delete_directive(self, id: int) -> None: ...

    # task definitions
    def list_tasks(self, page: int = 1, page_size: int = 50) -> TaskPage: ...
    def get_task(self, id_or_key: Union[int, str]) -> TaskDefinition:
        """By id, or by key or alias (``"log_triage"`` or ``"task1"``)."""
    def create_task(
        self,
        task_key: str,
        name: str,
        *,
        description: str = "",
        default_directive_id: Optional[int] = None,
        config: Optional[Dict[str, Any]] = None,
        is_active: bool = True,
    ) -> TaskDefinition: ...
    def update_task(self, id: int, **fields: Unpack[TaskFields]) -> TaskDefinition:
        """``default_directive_id=None`` clears the task's default directive."""
    def delete_task(self, id: int) -> None: ...

    # container allowlist
    def get_allowlist(self, page: int = 1, page_size: int = 50) -> AllowlistPage: ...
    def get_allowlist_entry(self, id: int) -> AllowlistEntry: ...
    def set_allowlist(
        self,
        container_id: str,
        *,
        name: str = "",
        description: str = "",
        enabled: bool = True,
        tags: Optional[List[str]] = None,
    ) -> AllowlistEntry:
        """Add the entry, or replace the one with the same ``container_id`` (keeping its id)."""
    def update_allowlist_entry(self, id: int, **fields: Unpack[AllowlistFields]) -> AllowlistEntry: ...
    def delete_allowlist_entry(self, id: int) -> None: ...

    # runs
    def launch(
        self,
        tasks: Union[str, Sequence[str], None] = None,
        *,
        task_ids: Optional[Sequence[int]] = None,
        directive_id: Optional[int] = None,
        custom_directive_text: Optional[str] = None,
        use_rag: Optional[bool] = None,
        task3_scope: Optional[str] = None,
    ) -> Run:
        """Launch a run (trigger ``python``) through the engine's one launch path.

        ``tasks``: keys or aliases (``"log_triage"``, ``"task1"``; one str is one task), or
        ``task_ids``, not both; neither (or empty) runs every active task. ``directive_id`` or
        ``custom_directive_text`` (a read-only D1 run), not both; neither uses ``default``.
        ``use_rag`` (None is False) adds knowledge-base passages to the analysis.
        ``task3_scope``: ``"allowlist"`` (default) or ``"all"`` (D4 only). Every broken rule is
        an :class:`InvalidInput` naming the argument, and nothing is created. A run whose
        directive requires approval starts with ``approval_status == "pending"``.

        The run only executes when an executor runs: ``cyberbrain serve`` or ``cyberbrain
        scheduler`` on the same database, :meth:`start_executor`, or :meth:`launch_and_wait`.
        """
    def launch_and_wait(
        self,
        tasks: Union[str, Sequence[str], None] = None,
        *,
        task_ids: Optional[Sequence[int]] = None,
        directive_id: Optional[int] = None,
        custom_directive_text: Optional[str] = None,
        use_rag: Optional[bool] = None,
        task3_scope: Optional[str] = None,
        timeout_s: float = 300.0,
    ) -> Run:
        """:meth:`launch`, then wait for the run like :meth:`wait_for_run`, running an
        in-process executor for the duration of the wait unless :meth:`start_executor` started
        one. That executor runs every runnable job in the database (other runs' too), with the
        configured concurrency limits. Returns the run once it ended, or at once when it awaits
        approval."""
    def list_runs(
        self,
        status: Optional[RunStatusName] = None,
        task: Optional[str] = None,
        page: int = 1,
        page_size: int = 50,
    ) -> RunPage:
        """Runs, newest first; ``task`` is a key or alias (runs with a job of that task)."""
    def get_run(self, id: int) -> RunDetail:
        """The run with its jobs and LLM calls (token counts only)."""
    def run_report(self, id: int) -> RunReport:
        """``report.md`` (``markdown``) and ``summary.json`` (``json``) once the run ended."""
    def wait_for_run(self, id: int, timeout_s: float = 300.0) -> Run:
        """Block (GIL released, Ctrl-C honoured) until the run ended or awaits approval.
        Raises :class:`Unavailable` after ``timeout_s`` (is an executor running?)."""
    def cancel_run(self, id: int) -> Run:
        """Cancel at once when no job runs, else at the running jobs' next lease check.
        An ended run raises :class:`Conflict`."""
    def approve_run(self, id: int, approver: Optional[str] = None) -> Run:
        """Approve a run awaiting approval, recording the approver (``"anonymous"`` when None),
        the time and the snapshot hash; any other approval state raises :class:`Conflict`."""
    def deny_run(self, id: int, approver: Optional[str] = None) -> Run:
        """Deny a run awaiting approval (recording the approver), which cancels it."""
    def pending_approvals(self, page: int = 1, page_size: int = 50) -> RunPage:
        """Runs awaiting approval, newest first."""

    # schedules
    def list_schedules(self, page: int = 1, page_size: int = 50) -> SchedulePage:
        """Schedules, ordered by id."""
    def get_schedule(self, id: int) -> Schedule: ...
    def create_schedule(self, **fields: Unpack[ScheduleFields]) -> Schedule:
        """Create a schedule, validated like ``POST /api/schedules/``: ``name``, the task and
        ``schedule_type`` with its timing field are required. Every problem raises
        :class:`InvalidInput` naming the fields, and nothing is saved."""
    def update_schedule(self, id: int, **fields: Unpack[ScheduleFields]) -> Schedule:
        """Change only the given fields (``None`` clears a nullable one); ``next_run_at``
        moves only when the timing changes."""
    def delete_schedule(self, id: int) -> None: ...
    def set_schedule_enabled(self, id: int, enabled: bool) -> Schedule:
        """Enable (from the next slot after now, no catch-up) or disable a schedule."""
    def run_schedule_now(self, id: int) -> ScheduleRunNow:
        """Launch the schedule's task now, enabled or not, through the one launch path
        (approval respected), and record the slot in its history."""
    def schedule_history(self, id: int, page: int = 1, page_size: int = 50) -> ScheduledRunPage:
        """The schedule's fired slots, newest first."""

    # executor
    def start_executor(self) -> None:
        """Run jobs in this process until :meth:`stop_executor`: claims every runnable job in
        the database with a lease, within the configured limits, alongside executors in other
        processes. Raises :class:`Conflict` when this handle already runs one."""
    def stop_executor(self) -> bool:
        """Stop claiming and wait (up to 30 s) for running jobs; False when none was running.
        Dropping the handle instead stops it at once, leaving running jobs to lease expiry."""
    @property
    def executor_running(self) -> bool: ...

    # knowledge base
    def upload(self, path: StrPath) -> UploadCreated:
        """Stream the file at ``path`` into the knowledge base (stored by its SHA-256 under the
        uploads directory) and queue it for ingestion. The type comes from the extension and
        the content: txt, md, json, pdf or docx, else :class:`UnsupportedType`; a file over
        the size limit raises :class:`TooLarge`, an empty one :class:`InvalidInput`. The same
        bytes again return the existing upload with ``created`` False (a failed one is queued
        again). An unreadable path raises the matching :class:`OSError`
        (``FileNotFoundError``, …)."""
    def upload_bytes(self, filename: str, data: Union[bytes, bytearray]) -> UploadCreated:
        """:meth:`upload` for bytes in memory; ``filename``'s extension names the type."""
    def list_uploads(
        self, status: Optional[UploadStatusName] = None, page: int = 1, page_size: int = 50
    ) -> UploadPage:
        """Uploads, newest first, optionally of one status, with their ingestion progress
        (``chunks_done`` of ``chunks_total``) and ``error_message`` when they failed."""
    def get_upload(self, id: int) -> Upload: ...
    def delete_upload(self, id: int) -> Upload:
        """Delete the upload with its document, chunks, vectors and file; returns what was
        deleted. A later search never returns its passages."""
    def retry_upload(self, id: int) -> Upload:
        """Queue a failed upload again; any other status raises :class:`Conflict`."""
    def list_documents(self, page: int = 1, page_size: int = 50) -> DocumentPage:
        """Ingested documents by id with their chunk counts."""
    def search(
        self,
        query_text: str,
        top_k: Optional[int] = 5,
        *,
        document_ids: Optional[Sequence[int]] = None,
        upload_ids: Optional[Sequence[int]] = None,
        min_score: Optional[float] = None,
        run_id: Optional[int] = None,
    ) -> SearchResults:
        """The ``top_k`` (1-50, default 5) passages closest in meaning to ``query_text``, best
        first, restricted to the given documents or uploads and to a score of at least
        ``min_score`` (cosine similarity, -1 to 1). Records one retrieval event holding only
        the query's SHA-256 (``query_hash``), linked to ``run_id`` when given; the text itself
        is never stored (G3). Every bad argument raises :class:`InvalidInput` naming it; no
        embedding model raises :class:`Unavailable` saying how to install it."""
    def ingest_pending(self) -> int:
        """Ingest queued uploads in this process (extract, chunk, embed, store) until none is
        left; returns how many were processed, ready or failed. Leased, so ingesters in other
        processes may run at the same time; Ctrl-C stops it (the upload in progress is taken
        over when its lease ends)."""
    def start_ingester(self) -> None:
        """Ingest uploads in the background until :meth:`stop_ingester`, picking up new ones as
        they arrive. Raises :class:`Conflict` when this handle already runs one."""
    def stop_ingester(self) -> bool:
        """Stop after the current upload; False when none was running."""
    @property
    def ingester_running(self) -> bool: ...

    # artifacts and accounting
    def list_artifacts(
        self, run_id: Optional[int] = None, page: int = 1, page_size: int = 50
    ) -> ArtifactPage:
        """Report files, optionally of one run (an unknown run raises :class:`NotFound`)."""
    def read_artifact(self, id: int) -> bytes:
        """An artifact file's bytes, read through the artifacts-root check (G8)."""
    def token_stats(self) -> TokenStats:
        """Totals over every recorded LLM call."""
    def cost_report(self) -> CostReport:
        """Estimated cost per model from the configured per-1000-token rates."""

# ----- exceptions --------------------------------------------------------------------------

class CyberbrainError(Exception):
    """Base class of every error Cyberbrain raises."""

class NotFound(CyberbrainError):
    """The named entity does not exist."""

    entity: str
    key: str

class Conflict(CyberbrainError):
    """The request collides with existing state (a unique name, a protected row, a reference)."""

class InvalidInput(CyberbrainError):
    """The input breaks a rule."""

    fields: Dict[str, List[str]]
    """Field (or keyword) → messages naming the rule and the fix."""

class TooLarge(InvalidInput):
    """The input is larger than a configured limit (an upload over ``rag.max_upload_bytes``)."""

class UnsupportedType(InvalidInput):
    """The input is of a type the operation does not accept (uploads: txt, md, json, pdf,
    docx)."""

class Forbidden(CyberbrainError):
    """The caller is not allowed to do this (a guardrail or a role)."""

class Unavailable(CyberbrainError):
    """A component cannot be reached or is not available in this build."""

    component: str

class BackendError(CyberbrainError):
    """A backend failed in a way the caller cannot fix; the message carries the context."""
