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

Launch a diagnostic run, execute it in this process and read its report::

    run = cb.launch_and_wait(["gpu_report"], timeout_s=120)
    print(run["status"], cb.run_report(run["id"])["markdown"])

``launch`` only creates the run; an executor runs it: ``cyberbrain serve`` on the same database,
``cb.start_executor()`` (until ``cb.stop_executor()``), or ``launch_and_wait``, which runs one
while it waits. A local model can be a plain function (token counts as your model reported
them)::

    def my_llm(messages):
        answer = model.chat(messages)
        return {"text": answer.text, "prompt_tokens": answer.prompt_tokens,
                "completion_tokens": answer.completion_tokens}

    cb = cyberbrain.Cyberbrain.open("sqlite:///cb.db", llm=my_llm)

Upload documents to the private knowledge base, ingest them and search them (the embedding model
runs in this process from local files)::

    cb.upload("runbooks/disk-full.md")
    cb.ingest_pending()
    for hit in cb.search("the disk is full", top_k=3)["results"]:
        print(round(hit["score"], 3), hit["document_title"], hit["chunk_text"][:80])

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
    TooLarge,
    Unavailable,
    UnsupportedType,
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
    "TooLarge",
    "Unavailable",
    "UnsupportedType",
    "__version__",
]
