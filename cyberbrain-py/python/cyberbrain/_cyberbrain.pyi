"""Type stubs for the native module ``cyberbrain._cyberbrain``.

Result shapes are declared in :mod:`cyberbrain.types` (at run time every result is a plain
``dict``).
"""

from typing import Any, Dict, List, Optional, Union, final

from typing_extensions import Unpack

from .types import (
    AllowlistEntry,
    AllowlistFields,
    AllowlistPage,
    Directive,
    DirectiveFields,
    DirectivePage,
    DirectiveTypeName,
    Health,
    OpenOptions,
    TaskDefinition,
    TaskFields,
    TaskPage,
)

__all__ = [
    "BackendError",
    "Conflict",
    "Cyberbrain",
    "CyberbrainError",
    "Forbidden",
    "InvalidInput",
    "NotFound",
    "Unavailable",
    "__version__",
]
__version__: str

# ----- the handle --------------------------------------------------------------------------

@final
class Cyberbrain:
    """A Cyberbrain SDK handle. Thread-safe; blocking calls release the GIL."""

    @staticmethod
    def open(url: str, **config: Unpack[OpenOptions]) -> "Cyberbrain":
        """Open (creating if needed) and migrate the database ``url`` names.

        ``url``: ``sqlite:///abs/path.db``, ``sqlite://relative/path.db`` or a file path.
        ``postgres://…`` raises :class:`Unavailable` (no Postgres backend in this version).
        Keywords override configuration; ``config_file`` loads a ``cyberbrain.toml`` first.
        The process environment is not read. Unknown keywords raise :class:`InvalidInput`.
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

class Forbidden(CyberbrainError):
    """The caller is not allowed to do this (a guardrail or a role)."""

class Unavailable(CyberbrainError):
    """A component cannot be reached or is not available in this build."""

    component: str

class BackendError(CyberbrainError):
    """A backend failed in a way the caller cannot fix; the message carries the context."""
