"""Opening a database: URL forms, configuration keywords, unavailable backends."""

import http.server
import os
import pathlib
import threading
import uuid
from typing import Iterator

import pytest

import cyberbrain


def test_absolute_sqlite_url_creates_and_migrates(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "nested" / "cb.db"
    cb = cyberbrain.Cyberbrain.open(f"sqlite:///{path}")
    assert path.is_file()
    assert cb.backend == "sqlite"
    assert cb.list_tasks()["count"] == 3


def test_relative_url_and_bare_path(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cyberbrain.Cyberbrain.open("sqlite://rel/cb.db")
    assert (tmp_path / "rel" / "cb.db").is_file()
    bare = tmp_path / "bare.db"
    cb = cyberbrain.Cyberbrain.open(str(bare))
    assert bare.is_file()
    assert cb.list_directives()["count"] == 5


def test_reopening_keeps_data_and_does_not_reseed(db_url: str) -> None:
    first = cyberbrain.Cyberbrain.open(db_url)
    first.create_directive("Kept", "D2")
    second = cyberbrain.Cyberbrain.open(db_url)
    names = [d["name"] for d in second.list_directives()["results"]]
    assert names.count("Kept") == 1
    assert names.count("default") == 1
    assert len(names) == 6


def test_unreachable_postgres_is_unavailable_without_the_password() -> None:
    # Port 1 on loopback: nothing listens there, so the connection is refused at once.
    with pytest.raises(cyberbrain.Unavailable) as info:
        cyberbrain.Cyberbrain.open("postgres://cb:secret@127.0.0.1:1/cb")
    assert "127.0.0.1:1" in str(info.value)
    assert "secret" not in str(info.value)
    assert isinstance(info.value, cyberbrain.CyberbrainError)


def test_postgres_backend_opens_and_migrates() -> None:
    admin_url = os.environ.get("CYBERBRAIN_TEST_PG_URL")
    assert admin_url, "set CYBERBRAIN_TEST_PG_URL (./scripts/test does, from scripts/pg.sh up)"
    # A schema of its own: migrate creates it, so this test never touches other tests' tables.
    schema = f"cb_py_{uuid.uuid4().hex[:12]}"
    separator = "&" if "?" in admin_url else "?"
    cb = cyberbrain.Cyberbrain.open(f"{admin_url}{separator}schema={schema}")
    assert cb.backend == "postgres"
    names = {d["name"] for d in cb.list_directives()["results"]}
    assert {"Read-only Diagnostics", "default"} <= names
    entry = cb.set_allowlist("web", tags=["frontend"])
    assert cb.set_allowlist("web", enabled=False)["id"] == entry["id"]


def test_unsupported_scheme_and_empty_url_are_invalid() -> None:
    with pytest.raises(cyberbrain.InvalidInput) as info:
        cyberbrain.Cyberbrain.open("mysql://localhost/cb")
    assert "mysql://" in info.value.fields["url"][0]
    with pytest.raises(cyberbrain.InvalidInput) as info:
        cyberbrain.Cyberbrain.open("  ")
    assert "url" in info.value.fields


class _ModelsHandler(http.server.BaseHTTPRequestHandler):
    """Answers the health probe (`GET <endpoint>/models`) like an OpenAI-compatible server."""

    def do_GET(self) -> None:  # noqa: N802 (the name http.server dispatches to)
        body = b'{"object": "list", "data": [{"id": "smollm2", "object": "model"}]}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def listening_port() -> Iterator[int]:
    """A loopback port with a minimal OpenAI-compatible server, so the health probe of an LLM
    endpoint there (a real `GET …/models`) reports it, with its model, as reachable."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ModelsHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_keywords_override_configuration(
    db_url: str, tmp_path: pathlib.Path, listening_port: int
) -> None:
    endpoint = f"http://127.0.0.1:{listening_port}/v1"
    cb = cyberbrain.Cyberbrain.open(
        db_url,
        llm_endpoint=endpoint,
        llm_model="smollm2",
        redacted_mode=False,
        data_dir=tmp_path / "data",  # os.PathLike is accepted
        models_dir=str(tmp_path / "models"),
    )
    health = cb.health()
    assert health["llm"]["state"] == "ok", health["llm"]
    assert endpoint in health["llm"]["detail"]
    assert "smollm2" in health["llm"]["detail"]
    assert str(tmp_path / "models") in health["embedder"]["detail"]


def test_unknown_keyword_is_invalid_input_naming_it(db_url: str) -> None:
    with pytest.raises(cyberbrain.InvalidInput) as info:
        cyberbrain.Cyberbrain.open(db_url, llm_endpiont="http://127.0.0.1:1/v1")  # type: ignore[call-arg]
    assert list(info.value.fields) == ["llm_endpiont"]
    assert "llm_endpoint" in info.value.fields["llm_endpiont"][0], "lists the accepted keywords"


def test_keyword_of_the_wrong_type_is_invalid_input(db_url: str) -> None:
    with pytest.raises(cyberbrain.InvalidInput) as info:
        cyberbrain.Cyberbrain.open(db_url, redacted_mode="no", llm_allow_hosts="gpu-box")  # type: ignore[arg-type]
    assert info.value.fields["redacted_mode"] == ["must be a bool, got str"]
    assert info.value.fields["llm_allow_hosts"] == ["must be a list of str, got str"]


def test_remote_llm_endpoint_is_refused_by_the_locality_guardrail(db_url: str) -> None:
    with pytest.raises(cyberbrain.InvalidInput) as info:
        cyberbrain.Cyberbrain.open(db_url, llm_endpoint="http://8.8.8.8/v1")
    assert "llm_endpoint" in info.value.fields


def test_config_file_is_loaded_and_keywords_win(
    db_url: str, tmp_path: pathlib.Path, listening_port: int
) -> None:
    toml = tmp_path / "cyberbrain.toml"
    toml.write_text(
        f'[llm]\nmodel = "from-file"\nendpoint = "http://127.0.0.1:{listening_port}/v1"\n'
    )
    cb = cyberbrain.Cyberbrain.open(db_url, config_file=toml, llm_model="from-keyword")
    detail = cb.health()["llm"]["detail"]
    assert f"127.0.0.1:{listening_port}" in detail
    assert "from-keyword" in detail
    with pytest.raises(cyberbrain.InvalidInput) as info:
        cyberbrain.Cyberbrain.open(db_url, config_file=tmp_path / "missing.toml")
    assert "config" in info.value.fields


def test_repr_shows_backend_not_secrets(db_url: str) -> None:
    cb = cyberbrain.Cyberbrain.open(db_url, llm_api_key="sk-very-secret")
    text = repr(cb)
    assert text.startswith("<cyberbrain.Cyberbrain backend=sqlite")
    assert "sk-very-secret" not in text
    assert type(cb).__module__ == "cyberbrain"


def test_handle_cannot_be_constructed_directly() -> None:
    with pytest.raises(TypeError):
        cyberbrain.Cyberbrain()


def test_health_reports_each_component(cb: cyberbrain.Cyberbrain) -> None:
    health = cb.health()
    assert health["status"] == "ok"
    assert health["database"]["state"] == "ok"
    assert set(health) >= {"status", "version", "database", "llm", "embedder", "engine"}
    assert health["version"] == cyberbrain.__version__


def test_exception_hierarchy() -> None:
    for exc in (
        cyberbrain.NotFound,
        cyberbrain.Conflict,
        cyberbrain.InvalidInput,
        cyberbrain.Forbidden,
        cyberbrain.Unavailable,
        cyberbrain.BackendError,
    ):
        assert issubclass(exc, cyberbrain.CyberbrainError)
        assert exc.__module__ == "cyberbrain"
    assert issubclass(cyberbrain.CyberbrainError, Exception)
    assert os.path.basename(cyberbrain._cyberbrain.__file__).startswith("_cyberbrain")
