"""Task definitions: seeded tasks, aliases, updates."""

import pytest

import cyberbrain


def test_seeded_tasks_are_listed(cb: cyberbrain.Cyberbrain) -> None:
    page = cb.list_tasks()
    assert page["count"] == 3
    assert [t["task_key"] for t in page["results"]] == ["log_triage", "gpu_report", "service_map"]


@pytest.mark.parametrize(
    "alias, key",
    [("task1", "log_triage"), ("task2", "gpu_report"), ("task3", "service_map"), ("log_triage", "log_triage")],
)
def test_tasks_by_alias_and_key(cb: cyberbrain.Cyberbrain, alias: str, key: str) -> None:
    task = cb.get_task(alias)
    assert task["task_key"] == key
    assert cb.get_task(task["id"]) == task


def test_unknown_task_is_not_found(cb: cyberbrain.Cyberbrain) -> None:
    with pytest.raises(cyberbrain.NotFound):
        cb.get_task("no_such_task")
    with pytest.raises(cyberbrain.NotFound):
        cb.get_task(424242)


def test_task_reference_of_the_wrong_type_is_type_error(cb: cyberbrain.Cyberbrain) -> None:
    with pytest.raises(TypeError, match="id_or_key"):
        cb.get_task(1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        cb.get_task(True)


def test_update_task_fields_and_default_directive(cb: cyberbrain.Cyberbrain) -> None:
    task = cb.get_task("task2")
    directive = cb.create_directive("GPU watch", "D2")
    updated = cb.update_task(
        task["id"],
        description="GPU utilisation and memory",
        is_active=False,
        default_directive_id=directive["id"],
        config={"threshold": 90},
    )
    assert updated["description"] == "GPU utilisation and memory"
    assert updated["is_active"] is False
    assert updated["default_directive_id"] == directive["id"]
    assert updated["config"] == {"threshold": 90}
    cleared = cb.update_task(task["id"], default_directive_id=None)
    assert cleared["default_directive_id"] is None
    assert cleared["is_active"] is False, "absent fields stay as they were"


def test_update_task_errors(cb: cyberbrain.Cyberbrain) -> None:
    task = cb.get_task("task1")
    with pytest.raises(cyberbrain.InvalidInput) as info:
        cb.update_task(task["id"], default_directive_id=987654)
    assert "default_directive_id" in info.value.fields
    with pytest.raises(cyberbrain.InvalidInput) as info:
        cb.update_task(task["id"], task_key="renamed")  # type: ignore[call-arg]
    assert list(info.value.fields) == ["task_key"]
    with pytest.raises(cyberbrain.NotFound):
        cb.update_task(987654, name="x")


def test_create_and_delete_task(cb: cyberbrain.Cyberbrain) -> None:
    task = cb.create_task("disk_report", "Disk report", description="df -h", config={"mounts": ["/"]})
    assert task["task_key"] == "disk_report"
    assert cb.get_task("disk_report")["id"] == task["id"]
    with pytest.raises(cyberbrain.Conflict):
        cb.create_task("disk_report", "Again")
    with pytest.raises(cyberbrain.InvalidInput) as info:
        cb.create_task("Bad Key", "Bad")
    assert "task_key" in info.value.fields
    cb.delete_task(task["id"])
    with pytest.raises(cyberbrain.NotFound):
        cb.get_task(task["id"])
