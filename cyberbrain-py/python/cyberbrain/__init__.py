"""Cyberbrain: a local-first operations assistant, as a Python SDK.

Open a database and work with directives, task definitions and the container allowlist::

    import cyberbrain

    cb = cyberbrain.Cyberbrain.open("sqlite:///var/lib/cyberbrain/cyberbrain.db")
    for directive in cb.list_directives()["results"]:
        print(directive["id"], directive["name"], directive["directive_type"])

    try:
        cb.create_directive("Nightly", "D9")
    except cyberbrain.InvalidInput as e:
        print(e.fields)  # {"directive_type": ['"D9" is not one of "D1", …']}

Every method returns plain ``dict``/``list`` values (times as RFC 3339 strings) and raises a
subclass of :class:`CyberbrainError`. Calls release the GIL while they wait on the database, and
one :class:`Cyberbrain` handle may be shared by any number of threads.
"""

from ._cyberbrain import (
    BackendError,
    Conflict,
    Cyberbrain,
    CyberbrainError,
    Forbidden,
    InvalidInput,
    NotFound,
    Unavailable,
    __version__,
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
