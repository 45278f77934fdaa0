"""Shapes of Cyberbrain's results and keyword arguments, for type checkers.

Every result is a plain ``dict`` at run time; these ``TypedDict``s describe its keys (the JSON the
REST API returns, times as RFC 3339 strings)::

    from cyberbrain.types import Directive

    def names(directives: list[Directive]) -> list[str]:
        return [d["name"] for d in directives]
"""

import os
from typing import Any, Dict, List, Literal, Optional, TypedDict, Union

__all__ = [
    "AllowlistEntry",
    "AllowlistFields",
    "AllowlistPage",
    "ComponentHealth",
    "ComponentStateName",
    "Directive",
    "DirectiveFields",
    "DirectivePage",
    "DirectiveTypeName",
    "Health",
    "OpenOptions",
    "StrPath",
    "TaskDefinition",
    "TaskFields",
    "TaskPage",
]

DirectiveTypeName = Literal["D1", "D2", "D3", "D4"]
"""Autonomy level: D1 read-only, D2 recommend, D3 plan changes, D4 admin override."""

ComponentStateName = Literal["ok", "unavailable", "not_configured"]

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
