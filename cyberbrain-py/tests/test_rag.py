"""The knowledge base from Python: uploads, ingestion, documents and search.

Happy paths run the real embedding model (all-MiniLM-L6-v2 under ``CYBERBRAIN_MODELS_DIR``,
default ``.tools/models``, installed by ``scripts/models.sh``; ``./scripts/test`` does it).
Failure paths use a handle without the model, or a Python embedder callable that misbehaves.
"""

import hashlib
import os
import pathlib
import time
import uuid
from typing import Callable, List

import pytest

import cyberbrain

REPO = pathlib.Path(__file__).resolve().parents[2]

DISK = (
    "Runbook: the root filesystem is full. When df shows / at 100 percent, services cannot write "
    "their logs and databases refuse connections. Free space by rotating old journals with "
    "journalctl --vacuum-size and removing unused container images."
)
PROXY = (
    "Runbook: the reverse proxy returns 502 Bad Gateway. Nginx cannot reach the upstream "
    "application; check that the app container is running and listening on the configured port."
)
GPU = (
    '{"runbook": "GPU out of memory", '
    '"steps": ["list processes with nvidia-smi", "stop the idle notebook kernels"]}'
)


def models_dir() -> pathlib.Path:
    path = pathlib.Path(os.environ.get("CYBERBRAIN_MODELS_DIR", REPO / ".tools" / "models"))
    assert (path / "all-MiniLM-L6-v2").is_dir(), (
        f"the embedding model is not installed under {path} (CYBERBRAIN_MODELS_DIR, default "
        f".tools/models); run `scripts/models.sh {path}` or ./scripts/test"
    )
    return path


def open_kb(tmp_path: pathlib.Path, *, config: str = "", **options: object) -> cyberbrain.Cyberbrain:
    """A handle on a fresh SQLite database under ``tmp_path`` with the real model."""
    keywords: dict = {"data_dir": str(tmp_path), "models_dir": str(models_dir()), **options}
    if config:
        config_file = tmp_path / "cyberbrain.toml"
        config_file.write_text(config)
        keywords["config_file"] = str(config_file)
    return cyberbrain.Cyberbrain.open(f"sqlite:///{tmp_path / 'cyberbrain.db'}", **keywords)


@pytest.fixture
def kb(tmp_path: pathlib.Path) -> cyberbrain.Cyberbrain:
    return open_kb(tmp_path)


def write(tmp_path: pathlib.Path, name: str, text: str) -> pathlib.Path:
    path = tmp_path / "files" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


def ingested(kb: cyberbrain.Cyberbrain, tmp_path: pathlib.Path) -> List[int]:
    """Uploads the three runbooks from disk and ingests them; their upload ids."""
    ids = []
    for name, text in [("disk.md", DISK), ("proxy.txt", PROXY), ("gpu.json", GPU)]:
        created = kb.upload(write(tmp_path, name, text))
        assert created["created"] is True
        assert created["status"] == "queued"
        assert created["filename"] == name
        ids.append(created["id"])
    assert kb.ingest_pending() == 3
    assert kb.ingest_pending() == 0
    return ids


def test_uploaded_files_are_ingested_and_searchable(
    kb: cyberbrain.Cyberbrain, tmp_path: pathlib.Path
) -> None:
    disk, proxy, gpu = ingested(kb, tmp_path)

    uploads = kb.list_uploads()
    assert uploads["count"] == 3
    assert [u["id"] for u in uploads["results"]] == [gpu, proxy, disk], "newest first"
    for upload in uploads["results"]:
        assert upload["status"] == "ready", upload
        assert upload["chunks_done"] == upload["chunks_total"] == 1
        assert upload["error_message"] is None
    assert kb.get_upload(gpu)["mime_type"] == "application/json"

    documents = kb.list_documents()
    assert documents["count"] == 3
    assert [d["upload_id"] for d in documents["results"]] == [disk, proxy, gpu]
    assert [d["source"] for d in documents["results"]] == ["disk.md", "proxy.txt", "gpu.json"]
    assert all(d["chunk_count"] == 1 for d in documents["results"])

    query = "  my server ran out of disk space  "
    found = kb.search(query)
    assert found["query_hash"] == hashlib.sha256(query.strip().encode()).hexdigest()
    hits = found["results"]
    assert found["total_found"] == len(hits) == 3
    assert hits[0]["upload_id"] == disk
    assert hits[0]["document_source"] == "disk.md"
    assert hits[0]["chunk_text"].startswith("Runbook: the root filesystem is full.")
    assert hits[0]["chunk_index"] == 0
    scores = [hit["score"] for hit in hits]
    assert scores == sorted(scores, reverse=True)
    assert 0.3 < scores[0] <= 1.0 + 1e-6

    assert kb.search(query, top_k=None) == found, "None is the default (5)"
    assert kb.search("502 bad gateway from nginx", top_k=1)["results"][0]["upload_id"] == proxy
    gpu_only = kb.search(query, upload_ids=[gpu])["results"]
    assert [hit["upload_id"] for hit in gpu_only] == [gpu]
    proxy_document = next(d["id"] for d in documents["results"] if d["upload_id"] == proxy)
    by_document = kb.search(query, document_ids=[proxy_document])["results"]
    assert [hit["document_id"] for hit in by_document] == [proxy_document]
    strict = kb.search(query, min_score=(scores[0] + scores[1]) / 2)["results"]
    assert [hit["upload_id"] for hit in strict] == [disk]


def test_long_documents_are_chunked_with_progress(tmp_path: pathlib.Path) -> None:
    kb = open_kb(tmp_path, config="[rag]\nchunk_words = 20\nchunk_overlap = 5\n")
    words = " ".join(f"word{i}" for i in range(50))
    upload = kb.upload_bytes("long.txt", words.encode())
    assert kb.ingest_pending() == 1
    done = kb.get_upload(upload["id"])
    assert done["status"] == "ready"
    # 50 words in windows of 20 advancing by 15: 0-19, 15-34, 30-49.
    assert done["chunks_done"] == done["chunks_total"] == 3
    assert kb.list_documents()["results"][0]["chunk_count"] == 3


def test_the_same_bytes_are_stored_once(kb: cyberbrain.Cyberbrain, tmp_path: pathlib.Path) -> None:
    first = kb.upload_bytes("notes.md", b"# Notes\nThe backup runs at 03:00.")
    again = kb.upload(write(tmp_path, "copy.md", "# Notes\nThe backup runs at 03:00."))
    assert first["created"] is True
    assert again["created"] is False
    assert again["id"] == first["id"]
    assert again["filename"] == "notes.md"
    assert kb.list_uploads()["count"] == 1
    stored = tmp_path / "uploads" / first["stored_path"]
    assert stored.read_bytes() == b"# Notes\nThe backup runs at 03:00."
    assert first["sha256"] == hashlib.sha256(stored.read_bytes()).hexdigest()


def test_refused_uploads_raise_typed_errors_and_store_nothing(tmp_path: pathlib.Path) -> None:
    kb = open_kb(tmp_path, config="[rag]\nmax_upload_bytes = 64\n")
    with pytest.raises(cyberbrain.UnsupportedType) as unsupported:
        kb.upload_bytes("tool.exe", b"MZ\x90\x00")
    assert isinstance(unsupported.value, cyberbrain.InvalidInput)
    assert "file" in unsupported.value.fields
    with pytest.raises(cyberbrain.UnsupportedType):
        kb.upload_bytes("report.pdf", b"just text, not a PDF")
    with pytest.raises(cyberbrain.TooLarge) as too_large:
        kb.upload_bytes("big.txt", b"x" * 65)
    assert "64" in str(too_large.value)
    assert too_large.value.fields["file"] == [str(too_large.value)]
    with pytest.raises(cyberbrain.InvalidInput) as empty:
        kb.upload_bytes("empty.txt", b"")
    assert "file" in empty.value.fields
    with pytest.raises(FileNotFoundError) as missing:
        kb.upload(tmp_path / "nowhere.txt")
    assert "nowhere.txt" in str(missing.value)
    (tmp_path / "folder.txt").mkdir()
    with pytest.raises(IsADirectoryError):
        kb.upload(tmp_path / "folder.txt")
    with pytest.raises(TypeError):
        kb.upload_bytes("a.txt", "text, not bytes")  # type: ignore[arg-type]

    assert kb.list_uploads()["count"] == 0
    assert [p for p in tmp_path.glob("uploads/**/*") if p.is_file()] == []


def test_search_arguments_are_checked_by_name(cb: cyberbrain.Cyberbrain) -> None:
    cases = [
        ({"query_text": "   "}, "query_text"),
        ({"query_text": "x" * 4001}, "query_text"),
        ({"query_text": "disk", "top_k": 0}, "top_k"),
        ({"query_text": "disk", "top_k": 51}, "top_k"),
        ({"query_text": "disk", "min_score": 1.5}, "min_score"),
        ({"query_text": "disk", "upload_ids": [0]}, "upload_ids"),
        ({"query_text": "disk", "run_id": 999}, "run_id"),
    ]
    for arguments, field in cases:
        with pytest.raises(cyberbrain.InvalidInput) as error:
            cb.search(**arguments)
        assert field in error.value.fields, (arguments, error.value.fields)
    with pytest.raises(TypeError):
        cb.search("disk", top_k="five")  # type: ignore[arg-type]


def test_without_the_model_ingestion_fails_with_the_fix_and_can_be_retried(
    tmp_path: pathlib.Path, db_url: str
) -> None:
    # No model under this models_dir: uploads are accepted, ingestion and search say what to do.
    bare = cyberbrain.Cyberbrain.open(db_url, data_dir=str(tmp_path), models_dir=str(tmp_path / "no-models"))
    upload = bare.upload_bytes("disk.md", DISK.encode())
    with pytest.raises(cyberbrain.Unavailable) as unavailable:
        bare.search("disk full")
    assert "scripts/models.sh" in str(unavailable.value)
    assert bare.ingest_pending() == 1
    failed = bare.get_upload(upload["id"])
    assert failed["status"] == "failed"
    assert "scripts/models.sh" in failed["error_message"]
    assert bare.list_uploads(status="failed")["count"] == 1

    # The same database with the model: the failed upload is retried and becomes searchable.
    kb = cyberbrain.Cyberbrain.open(db_url, data_dir=str(tmp_path), models_dir=str(models_dir()))
    assert kb.retry_upload(upload["id"])["status"] == "queued"
    with pytest.raises(cyberbrain.Conflict):
        kb.retry_upload(upload["id"])  # only a failed upload can be retried
    assert kb.ingest_pending() == 1
    assert kb.get_upload(upload["id"])["status"] == "ready"
    assert kb.search("disk full")["results"][0]["upload_id"] == upload["id"]


def test_unknown_uploads_and_bad_filters_raise(cb: cyberbrain.Cyberbrain) -> None:
    for call in (cb.get_upload, cb.delete_upload, cb.retry_upload):
        with pytest.raises(cyberbrain.NotFound) as missing:
            call(999)
        assert missing.value.key == "999"
    with pytest.raises(cyberbrain.InvalidInput) as bad_status:
        cb.list_uploads(status="done")
    assert "status" in bad_status.value.fields
    with pytest.raises(cyberbrain.InvalidInput) as bad_page:
        cb.list_documents(page_size=0)
    assert "page_size" in bad_page.value.fields


def test_deleting_an_upload_removes_its_passages_and_file(
    kb: cyberbrain.Cyberbrain, tmp_path: pathlib.Path
) -> None:
    disk, proxy, gpu = ingested(kb, tmp_path)
    stored = tmp_path / "uploads" / kb.get_upload(disk)["stored_path"]
    assert stored.is_file()
    with pytest.raises(cyberbrain.Conflict):
        kb.retry_upload(disk)

    deleted = kb.delete_upload(disk)
    assert deleted["id"] == disk
    assert not stored.exists()
    with pytest.raises(cyberbrain.NotFound):
        kb.get_upload(disk)
    assert [d["upload_id"] for d in kb.list_documents()["results"]] == [proxy, gpu]
    hits = kb.search("my server ran out of disk space")["results"]
    assert {hit["upload_id"] for hit in hits} == {proxy, gpu}


def test_a_background_ingester_picks_up_new_uploads(kb: cyberbrain.Cyberbrain) -> None:
    assert kb.ingester_running is False
    kb.start_ingester()
    try:
        assert kb.ingester_running is True
        with pytest.raises(cyberbrain.Conflict):
            kb.start_ingester()
        upload = kb.upload_bytes("proxy.txt", PROXY.encode())
        deadline = time.monotonic() + 60
        while kb.get_upload(upload["id"])["status"] in ("queued", "processing"):
            assert time.monotonic() < deadline, kb.get_upload(upload["id"])
            time.sleep(0.05)
        assert kb.get_upload(upload["id"])["status"] == "ready"
    finally:
        assert kb.stop_ingester() is True
    assert kb.stop_ingester() is False
    assert kb.ingester_running is False


def test_search_text_is_never_stored(kb: cyberbrain.Cyberbrain, tmp_path: pathlib.Path) -> None:
    ingested(kb, tmp_path)
    canary = "canary-7f3a9 where did the disk space go"
    found = kb.search(canary)
    assert found["results"]
    for path in tmp_path.rglob("*"):
        if path.is_file() and "files" not in path.parts:
            assert b"canary-7f3a9" not in path.read_bytes(), path


def hashed_words(texts: List[str]) -> List[List[float]]:
    """A stand-in embedder: one hashed bucket per word, so texts sharing words are close."""
    vectors = []
    for text in texts:
        vector = [0.0] * 384
        for word in text.lower().split():
            digest = hashlib.sha256(word.strip(".,:;").encode()).digest()
            vector[int.from_bytes(digest[:4], "little") % 384] += 1.0
        vectors.append(vector)
    return vectors


def test_a_python_callable_can_be_the_embedder(tmp_path: pathlib.Path, db_url: str) -> None:
    calls: List[int] = []

    def embed(texts: List[str]) -> List[List[float]]:
        calls.append(len(texts))
        return hashed_words(texts)

    kb = cyberbrain.Cyberbrain.open(db_url, data_dir=str(tmp_path), embedder=embed)
    for name, text in [("disk.md", DISK), ("proxy.txt", PROXY)]:
        kb.upload_bytes(name, text.encode())
    assert kb.ingest_pending() == 2
    found = kb.search("nginx upstream container port")
    assert found["results"][0]["document_source"] == "proxy.txt"
    assert abs(found["results"][0]["score"]) <= 1.0 + 1e-6, "vectors are normalised"
    assert calls == [1, 1, 1]


@pytest.mark.parametrize(
    ("embed", "message"),
    [
        (lambda texts: [[1.0, 2.0, 3.0] for _ in texts], "has 3 numbers"),
        (lambda texts: [], "returned 0 vectors for 1 texts"),
        (lambda texts: "vectors", "returned a str"),
        (lambda texts: [[0.0] * 384 for _ in texts], "all zeros"),
    ],
)
def test_a_misbehaving_embedder_fails_the_upload_with_the_rule(
    tmp_path: pathlib.Path, db_url: str, embed: Callable[[List[str]], object], message: str
) -> None:
    kb = cyberbrain.Cyberbrain.open(db_url, data_dir=str(tmp_path), embedder=embed)
    upload = kb.upload_bytes("disk.md", DISK.encode())
    assert kb.ingest_pending() == 1
    failed = kb.get_upload(upload["id"])
    assert failed["status"] == "failed"
    assert message in failed["error_message"], failed["error_message"]
    assert "384" in failed["error_message"]


def test_an_embedder_exception_is_named_without_its_message(tmp_path: pathlib.Path, db_url: str) -> None:
    def embed(texts: List[str]) -> List[List[float]]:
        raise ValueError(f"cannot embed {texts[0]}")

    kb = cyberbrain.Cyberbrain.open(db_url, data_dir=str(tmp_path), embedder=embed)
    upload = kb.upload_bytes("disk.md", DISK.encode())
    assert kb.ingest_pending() == 1
    error_message = kb.get_upload(upload["id"])["error_message"]
    assert "ValueError" in error_message
    assert "Runbook" not in error_message
    with pytest.raises(cyberbrain.Unavailable) as unavailable:
        kb.search("secret-query-text")
    assert "ValueError" in str(unavailable.value)
    assert "secret-query-text" not in str(unavailable.value)


def test_the_embedder_must_be_callable(db_url: str) -> None:
    with pytest.raises(cyberbrain.InvalidInput) as error:
        cyberbrain.Cyberbrain.open(db_url, embedder="minilm")
    assert "embedder" in error.value.fields


def test_postgres_and_sqlite_return_the_same_passages(
    kb: cyberbrain.Cyberbrain, tmp_path: pathlib.Path
) -> None:
    admin_url = os.environ.get("CYBERBRAIN_TEST_PG_URL")
    assert admin_url, "set CYBERBRAIN_TEST_PG_URL (./scripts/test does, from scripts/pg.sh up)"
    # A schema of its own: migrate creates it, so this test never touches other tests' tables.
    schema = f"cb_py_rag_{uuid.uuid4().hex[:12]}"
    separator = "&" if "?" in admin_url else "?"
    pg_dir = tmp_path / "pg"
    pg_dir.mkdir()
    pg = cyberbrain.Cyberbrain.open(
        f"{admin_url}{separator}schema={schema}", data_dir=str(pg_dir), models_dir=str(models_dir())
    )
    assert pg.backend == "postgres"
    for handle, files in ((kb, tmp_path), (pg, pg_dir)):
        for name, text in [("disk.md", DISK), ("proxy.txt", PROXY), ("gpu.json", GPU)]:
            handle.upload(write(files, name, text))
        assert handle.ingest_pending() == 3
    for query in ("my server ran out of disk space", "502 bad gateway from nginx", "GPU memory is exhausted"):
        on_sqlite = kb.search(query)
        on_postgres = pg.search(query)
        assert on_postgres["query_hash"] == on_sqlite["query_hash"]
        assert [h["document_source"] for h in on_postgres["results"]] == [
            h["document_source"] for h in on_sqlite["results"]
        ], query
        for a, b in zip(on_postgres["results"], on_sqlite["results"]):
            assert abs(a["score"] - b["score"]) < 1e-4, (query, a, b)
