"""Runs from Python: launch, list, detail, report, wait, cancel, approvals, the in-process
executor, artifacts, token accounting and a Python callable as the LLM."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import threading
import time
import uuid
from typing import Any, Dict, List, Optional, Set

import pytest

import cyberbrain

MISSING_NVIDIA_SMI = "/nonexistent/cyberbrain-test/nvidia-smi"


@pytest.fixture
def runner(tmp_path: pathlib.Path) -> cyberbrain.Cyberbrain:
    """A handle whose gpu_report needs no GPU: nvidia-smi is missing, so it completes with
    `no_gpus_available`."""
    return cyberbrain.Cyberbrain.open(
        f"sqlite:///{tmp_path / 'cb.db'}",
        data_dir=tmp_path / "data",
        logs_dir=tmp_path / "logs",
        nvidia_smi=MISSING_NVIDIA_SMI,
    )


def present(value: Optional[str]) -> str:
    """A text field that must be set by now (a report's Markdown, a failed job's error)."""
    assert value is not None
    return value


def directive_id(cb: cyberbrain.Cyberbrain, directive_type: str) -> int:
    for d in cb.list_directives(page_size=200)["results"]:
        if d["directive_type"] == directive_type and d["is_builtin"]:
            return d["id"]
    raise AssertionError(f"no built-in {directive_type} directive")


# ----- launching -----------------------------------------------------------------------------


def test_launch_creates_a_python_run_with_one_job_per_task(cb: cyberbrain.Cyberbrain) -> None:
    run = cb.launch(["task2", "service_map"])
    assert run["status"] == "pending"
    assert run["trigger"] == "python"
    assert run["approval_status"] == "none"
    assert run["directive_snapshot"]["name"] == "default"
    assert len(run["snapshot_sha256"]) == 64

    detail = cb.get_run(run["id"])
    assert [j["task_key"] for j in detail["jobs"]] == ["gpu_report", "service_map"]
    assert detail["llm_calls"] == []
    assert detail["id"] == run["id"]

    # One str is one task; no tasks at all is every active task.
    assert [j["task_key"] for j in cb.get_run(cb.launch("log_triage")["id"])["jobs"]] == [
        "log_triage"
    ]
    everything = cb.launch(custom_directive_text="Look for disk trouble.", use_rag=True)
    assert everything["directive_snapshot"]["name"] == "custom"
    assert everything["directive_snapshot"]["directive_type"] == "D1"
    assert everything["use_rag"] is True
    assert len(cb.get_run(everything["id"])["jobs"]) == 3

    task_id = cb.get_task("gpu_report")["id"]
    by_id = cb.launch(task_ids=[task_id], directive_id=directive_id(cb, "D2"))
    assert by_id["directive_snapshot"]["directive_type"] == "D2"


@pytest.mark.parametrize(
    ("arguments", "fields"),
    [
        ({"tasks": ["log_triage"], "task_ids": [1]}, {"tasks", "task_ids"}),
        ({"tasks": ["no_such_task"]}, {"tasks"}),
        ({"task_ids": [9999]}, {"task_ids"}),
        ({"directive_id": 9999}, {"directive_id"}),
        ({"custom_directive_text": "  "}, {"custom_directive_text"}),
        ({"task3_scope": "everything"}, {"task3_scope"}),
        ({"task3_scope": "all"}, {"task3_scope"}),
        # Wrong types are InvalidInput naming the argument too, not a TypeError.
        ({"tasks": 5}, {"tasks"}),
        ({"tasks": ["log_triage", 7]}, {"tasks[1]"}),
        ({"task_ids": ["1"]}, {"task_ids[0]"}),
        ({"directive_id": "3"}, {"directive_id"}),
        ({"directive_id": True}, {"directive_id"}),
        ({"use_rag": "yes"}, {"use_rag"}),
        ({"task3_scope": 4}, {"task3_scope"}),
    ],
)
def test_launch_refusals_name_the_argument_and_create_nothing(
    cb: cyberbrain.Cyberbrain, arguments: Dict[str, Any], fields: Set[str]
) -> None:
    with pytest.raises(cyberbrain.InvalidInput) as info:
        cb.launch(**arguments)
    assert set(info.value.fields) == fields, info.value.fields
    assert cb.list_runs()["count"] == 0


def test_launch_with_both_directive_fields_names_both(cb: cyberbrain.Cyberbrain) -> None:
    with pytest.raises(cyberbrain.InvalidInput) as info:
        cb.launch(directive_id=directive_id(cb, "D1"), custom_directive_text="x")
    assert set(info.value.fields) == {"directive_id", "custom_directive_text"}
    assert "not both" in info.value.fields["directive_id"][0]


# ----- reading -------------------------------------------------------------------------------


def test_list_runs_is_newest_first_with_filters(cb: cyberbrain.Cyberbrain) -> None:
    first = cb.launch(["gpu_report"])
    second = cb.launch(["service_map"])
    third = cb.launch(["gpu_report", "log_triage"])
    page = cb.list_runs()
    assert page["count"] == 3
    assert [r["id"] for r in page["results"]] == [third["id"], second["id"], first["id"]]

    assert [r["id"] for r in cb.list_runs(task="task2")["results"]] == [third["id"], first["id"]]
    cb.cancel_run(second["id"])
    assert [r["id"] for r in cb.list_runs(status="cancelled")["results"]] == [second["id"]]
    assert cb.list_runs(status="completed")["count"] == 0
    paged = cb.list_runs(page=2, page_size=2)
    assert paged["count"] == 3
    assert [r["id"] for r in paged["results"]] == [first["id"]]

    with pytest.raises(cyberbrain.InvalidInput) as info:
        cb.list_runs(status="finished")  # type: ignore[arg-type]
    assert '"finished" is not one of' in info.value.fields["status"][0]
    with pytest.raises(cyberbrain.InvalidInput) as info:
        cb.list_runs(task="no_such_task")
    assert "task" in info.value.fields
    with pytest.raises(cyberbrain.InvalidInput) as info:
        cb.list_runs(page=0, page_size=500)
    assert set(info.value.fields) == {"page", "page_size"}


def test_unknown_ids_are_not_found(cb: cyberbrain.Cyberbrain) -> None:
    for method in (
        cb.get_run,
        cb.run_report,
        cb.cancel_run,
        cb.approve_run,
        cb.deny_run,
        cb.read_artifact,
    ):
        with pytest.raises(cyberbrain.NotFound) as info:
            method(4242)
        assert "4242" in str(info.value), method
    with pytest.raises(cyberbrain.NotFound) as info:
        cb.list_artifacts(run_id=4242)
    assert info.value.entity == "run"
    with pytest.raises(cyberbrain.NotFound):
        cb.wait_for_run(4242, timeout_s=1)


def test_cancel_ends_a_pending_run_and_writes_its_report(cb: cyberbrain.Cyberbrain) -> None:
    run = cb.launch(["gpu_report"])
    before = cb.run_report(run["id"])
    assert before["status"] == "pending"
    assert before["markdown"] is None

    cancelled = cb.cancel_run(run["id"])
    assert cancelled["status"] == "cancelled"
    assert cancelled["ended_at"] is not None
    assert cb.get_run(run["id"])["jobs"][0]["status"] == "cancelled"

    report = cb.run_report(run["id"])
    assert report["status"] == "cancelled"
    assert "gpu_report" in present(report["markdown"])
    assert isinstance(report["json"], dict)
    assert (report["prompt_tokens"], report["completion_tokens"], report["total_tokens"]) == (
        0,
        0,
        0,
    )
    # An ended run waits for nothing.
    assert cb.wait_for_run(run["id"], timeout_s=1)["status"] == "cancelled"

    with pytest.raises(cyberbrain.Conflict):
        cb.cancel_run(run["id"])


def test_wait_for_run_times_out_without_an_executor(cb: cyberbrain.Cyberbrain) -> None:
    run = cb.launch(["gpu_report"])
    started = time.monotonic()
    with pytest.raises(cyberbrain.Unavailable) as info:
        cb.wait_for_run(run["id"], timeout_s=0.5)
    assert time.monotonic() - started < 5
    assert "executor" in str(info.value)
    for bad in (0, -1.0, float("nan"), float("inf")):
        with pytest.raises(cyberbrain.InvalidInput) as invalid:
            cb.wait_for_run(run["id"], timeout_s=bad)
        assert list(invalid.value.fields) == ["timeout_s"]


# ----- approvals -----------------------------------------------------------------------------


def test_approvals_hold_runs_until_approved_or_denied(runner: cyberbrain.Cyberbrain) -> None:
    d3 = directive_id(runner, "D3")
    held = runner.launch(["gpu_report"], directive_id=d3)
    to_deny = runner.launch(["gpu_report"], directive_id=d3)
    free = runner.launch(["gpu_report"])
    assert held["approval_status"] == "pending"

    pending = runner.pending_approvals()
    assert pending["count"] == 2
    assert [r["id"] for r in pending["results"]] == [to_deny["id"], held["id"]]

    # A run awaiting approval is never executed: the wait returns at once, still pending.
    waiting = runner.launch_and_wait(["gpu_report"], directive_id=d3, timeout_s=30)
    assert (waiting["status"], waiting["approval_status"]) == ("pending", "pending")
    runner.start_executor()
    try:
        assert runner.wait_for_run(free["id"], timeout_s=60)["status"] == "completed"
        time.sleep(0.5)
        assert runner.get_run(held["id"])["status"] == "pending"

        approved = runner.approve_run(held["id"], approver="ops@example")
        assert approved["approval_status"] == "approved"
        assert approved["approved_by"] == "ops@example"
        assert approved["approved_snapshot_sha256"] == held["snapshot_sha256"]
        assert approved["approved_at"] is not None
        assert runner.wait_for_run(held["id"], timeout_s=60)["status"] == "completed"
    finally:
        runner.stop_executor()

    denied = runner.deny_run(to_deny["id"])
    assert denied["approval_status"] == "denied"
    assert denied["status"] == "cancelled"
    assert denied["approved_by"] == "anonymous"

    assert [r["id"] for r in runner.pending_approvals()["results"]] == [waiting["id"]]
    for method, run in (
        (runner.approve_run, held),
        (runner.deny_run, held),
        (runner.approve_run, to_deny),
        (runner.approve_run, free),
    ):
        with pytest.raises(cyberbrain.Conflict):
            method(run["id"])
    with pytest.raises(cyberbrain.InvalidInput) as info:
        runner.approve_run(held["id"], approver="   ")
    assert "approver" in info.value.fields


# ----- executing -----------------------------------------------------------------------------


def test_launch_and_wait_runs_gpu_report_without_nvidia_smi(
    runner: cyberbrain.Cyberbrain,
) -> None:
    assert not runner.executor_running
    run = runner.launch_and_wait(["gpu_report"], timeout_s=60)
    assert run["status"] == "completed", run["error_summary"]
    assert run["trigger"] == "python"
    assert not runner.executor_running, "the executor only ran for the wait"

    detail = runner.get_run(run["id"])
    (job,) = detail["jobs"]
    assert job["status"] == "completed"
    assert job["attempts"] == 1
    assert job["lease_owner"] is None
    assert detail["llm_calls"] == [], "D1 asks no LLM for a GPU summary"

    report = runner.run_report(run["id"])
    assert report["status"] == "completed"
    assert "no_gpus_available" in present(report["markdown"])
    assert report["completed_at"] is not None

    artifacts = runner.list_artifacts(run_id=run["id"])["results"]
    paths = {a["relative_path"]: a for a in artifacts}
    for name in ("report.md", "summary.json", "gpu_report.md", "gpu_report.json"):
        assert f"run_{run['id']}/{name}" in paths, sorted(paths)
    gpu_json = paths[f"run_{run['id']}/gpu_report.json"]
    body = runner.read_artifact(gpu_json["id"])
    assert isinstance(body, bytes)
    assert len(body) == gpu_json["size_bytes"]
    assert json.loads(body)["status"] == "no_gpus_available"
    assert runner.list_artifacts()["count"] == len(artifacts)
    assert runner.read_artifact(paths[f"run_{run['id']}/report.md"]["id"]).decode() == report[
        "markdown"
    ]


def test_start_and_stop_executor(runner: cyberbrain.Cyberbrain) -> None:
    assert runner.stop_executor() is False, "nothing to stop"
    runner.start_executor()
    try:
        assert runner.executor_running
        with pytest.raises(cyberbrain.Conflict):
            runner.start_executor()
        runs = [runner.launch(["gpu_report"]) for _ in range(3)]
        for run in runs:
            assert runner.wait_for_run(run["id"], timeout_s=60)["status"] == "completed"
        # launch_and_wait uses the running executor and leaves it running.
        assert runner.launch_and_wait("task2", timeout_s=60)["status"] == "completed"
        assert runner.executor_running
    finally:
        assert runner.stop_executor() is True
    assert not runner.executor_running
    assert runner.list_runs(status="completed")["count"] == 4


def test_waiting_releases_the_gil(runner: cyberbrain.Cyberbrain) -> None:
    """A thread waiting on a run does not stop other Python threads from working."""
    run = runner.launch(["gpu_report"])
    ticks: List[int] = []
    done = threading.Event()

    def count() -> None:
        while not done.is_set():
            ticks.append(1)
            time.sleep(0.005)

    counter = threading.Thread(target=count)
    counter.start()
    try:
        with pytest.raises(cyberbrain.Unavailable):
            runner.wait_for_run(run["id"], timeout_s=0.6)
    finally:
        done.set()
        counter.join()
    assert len(ticks) > 20


def interrupt_soon(delay_s: float = 0.3) -> threading.Timer:
    """Sends this process SIGINT (Ctrl-C) after `delay_s`."""
    timer = threading.Timer(delay_s, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    return timer


def test_ctrl_c_interrupts_a_wait(cb: cyberbrain.Cyberbrain) -> None:
    run = cb.launch(["gpu_report"])
    started = time.monotonic()
    timer = interrupt_soon()
    try:
        with pytest.raises(KeyboardInterrupt):
            cb.wait_for_run(run["id"], timeout_s=60)
    finally:
        timer.cancel()
    assert time.monotonic() - started < 5


# ----- a Python callable as the LLM ----------------------------------------------------------


class FakeModel:
    """A local model stand-in with the callable contract: messages in, text and usage out."""

    def __init__(self, answer: Dict[str, Any]) -> None:
        self.answer = answer
        self.calls: List[List[Dict[str, str]]] = []
        self.threads: List[str] = []

    def __call__(self, messages: List[Dict[str, str]]) -> Dict[str, Any]:
        self.calls.append(messages)
        self.threads.append(threading.current_thread().name)
        return self.answer


FINDINGS = {
    "findings": [
        {
            "severity": "error",
            "title": "Disk almost full on /var",
            "explanation": "Writes fail with ENOSPC.",
            "recommendation": "Free space or grow the volume.",
            "template_ids": [],
        }
    ]
}


def open_with_llm(tmp_path: pathlib.Path, llm: Any, **config: Any) -> cyberbrain.Cyberbrain:
    logs = tmp_path / "logs"
    logs.mkdir(exist_ok=True)
    (logs / "app.log").write_text(
        "".join(
            f"2024-05-01T10:00:{i:02d}Z ERROR write failed: no space left on device (disk {i})\n"
            for i in range(12)
        )
        + "2024-05-01T10:01:00Z WARNING retrying upload\n"
    )
    return cyberbrain.Cyberbrain.open(
        f"sqlite:///{tmp_path / 'cb.db'}",
        llm=llm,
        data_dir=tmp_path / "data",
        logs_dir=logs,
        nvidia_smi=MISSING_NVIDIA_SMI,
        **config,
    )


def test_python_callable_llm_runs_log_triage_with_its_reported_tokens(
    tmp_path: pathlib.Path,
) -> None:
    model = FakeModel(
        {"text": json.dumps(FINDINGS), "prompt_tokens": 321, "completion_tokens": 45}
    )
    cb = open_with_llm(tmp_path, model, llm_model="fake-local-7b")
    run = cb.launch_and_wait(["log_triage"], timeout_s=60)
    assert run["status"] == "completed", run["error_summary"]

    assert len(model.calls) == 1
    messages = model.calls[0]
    assert [m["role"] for m in messages][-1] == "user"
    assert all(set(m) == {"role", "content"} for m in messages)
    assert "no space left on device" in "".join(m["content"] for m in messages)
    assert model.threads[0] != threading.main_thread().name

    detail = cb.get_run(run["id"])
    (call,) = detail["llm_calls"]
    assert call["model"] == "fake-local-7b"
    assert call["endpoint_host"] == "python"
    assert (call["prompt_tokens"], call["completion_tokens"], call["total_tokens"]) == (
        321,
        45,
        366,
    )
    assert call["outcome"] == "ok"
    assert detail["total_tokens"] == 366
    assert detail["jobs"][0]["total_tokens"] == 366
    assert cb.token_stats() == {
        "total_tokens": 366,
        "total_prompt_tokens": 321,
        "total_completion_tokens": 45,
        "call_count": 1,
    }
    cost = cb.cost_report()
    assert cost["by_model"]["fake-local-7b"]["calls"] == 1
    assert cost["by_model"]["fake-local-7b"]["rate_configured"] is False
    assert cost["total_cost"] == 0

    report = cb.run_report(run["id"])
    assert "Disk almost full on /var" in present(report["markdown"])
    assert report["total_tokens"] == 366


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        ({"text": json.dumps(FINDINGS)}, "no usage counts"),
        ({"text": json.dumps(FINDINGS), "prompt_tokens": 10}, "no usage counts"),
        ({"text": json.dumps(FINDINGS), "prompt_tokens": -1, "completion_tokens": 2}, "prompt_tokens"),
        ({"prompt_tokens": 1, "completion_tokens": 2}, "no text"),
        ("just text", "returned a str"),
    ],
)
def test_python_llm_without_usage_fails_the_job_and_records_nothing(
    tmp_path: pathlib.Path, answer: Any, fragment: str
) -> None:
    cb = open_with_llm(tmp_path, FakeModel(answer))
    run = cb.launch_and_wait(["log_triage"], timeout_s=60)
    assert run["status"] == "failed"
    error = present(cb.get_run(run["id"])["jobs"][0]["error_summary"])
    assert fragment in error, error
    assert cb.token_stats()["call_count"] == 0, "token counts are never invented (G2)"


def test_python_llm_exception_fails_the_job_without_its_message(tmp_path: pathlib.Path) -> None:
    def broken(messages: List[Dict[str, str]]) -> Dict[str, Any]:
        raise RuntimeError("SECRET-PROMPT-ECHO " + messages[-1]["content"][:50])

    cb = open_with_llm(tmp_path, broken)
    run = cb.launch_and_wait(["log_triage"], timeout_s=60)
    assert run["status"] == "failed"
    error = present(cb.get_run(run["id"])["jobs"][0]["error_summary"])
    assert "RuntimeError" in error
    assert "SECRET-PROMPT-ECHO" not in error, "G2: the exception message may quote the prompt"
    assert "no space left" not in error
    assert cb.token_stats()["call_count"] == 0


def test_llm_must_be_callable(db_url: str) -> None:
    with pytest.raises(cyberbrain.InvalidInput) as info:
        cyberbrain.Cyberbrain.open(db_url, llm="http://127.0.0.1:11434/v1")  # type: ignore[arg-type]
    assert list(info.value.fields) == ["llm"]
    assert "callable" in info.value.fields["llm"][0]


def test_ctrl_c_during_launch_and_wait_stops_its_executor_gracefully(
    tmp_path: pathlib.Path,
) -> None:
    def slow(messages: List[Dict[str, str]]) -> Dict[str, Any]:
        time.sleep(1.5)
        return {"text": json.dumps(FINDINGS), "prompt_tokens": 10, "completion_tokens": 5}

    cb = open_with_llm(tmp_path, slow)
    timer = interrupt_soon(0.5)
    try:
        with pytest.raises(KeyboardInterrupt):
            cb.launch_and_wait(["log_triage"], timeout_s=60)
    finally:
        timer.cancel()
    assert not cb.executor_running
    # The running job was given the shutdown grace, so it finished instead of being abandoned.
    (run,) = cb.list_runs()["results"]
    assert run["status"] == "completed", run["error_summary"]
    assert run["total_tokens"] == 15


def test_a_run_executes_on_postgres(tmp_path: pathlib.Path) -> None:
    admin_url = os.environ.get("CYBERBRAIN_TEST_PG_URL")
    assert admin_url, "set CYBERBRAIN_TEST_PG_URL (./scripts/test does, from scripts/pg.sh up)"
    schema = f"cb_py_runs_{uuid.uuid4().hex[:12]}"
    separator = "&" if "?" in admin_url else "?"
    cb = cyberbrain.Cyberbrain.open(
        f"{admin_url}{separator}schema={schema}",
        data_dir=tmp_path / "data",
        nvidia_smi=MISSING_NVIDIA_SMI,
    )
    run = cb.launch_and_wait(["gpu_report"], timeout_s=60)
    assert run["status"] == "completed", run["error_summary"]
    assert "no_gpus_available" in present(cb.run_report(run["id"])["markdown"])
    assert cb.list_runs(status="completed", task="task2")["count"] == 1
