"""The container allowlist: upsert, patch, delete."""

import pytest

import cyberbrain


def test_upsert_twice_keeps_the_id(cb: cyberbrain.Cyberbrain) -> None:
    first = cb.set_allowlist("web", name="Web", tags=["prod"])
    second = cb.set_allowlist("web", name="Web frontend", description="nginx", enabled=False, tags=["prod", "edge"])
    assert second["id"] == first["id"]
    assert second["created_at"] == first["created_at"]
    assert second["name"] == "Web frontend"
    assert second["description"] == "nginx"
    assert second["enabled"] is False
    assert second["tags"] == ["prod", "edge"]
    page = cb.get_allowlist()
    assert page["count"] == 1
    assert page["results"] == [second]
    assert cb.get_allowlist_entry(first["id"]) == second


def test_update_and_delete_entry(cb: cyberbrain.Cyberbrain) -> None:
    entry = cb.set_allowlist("db")
    assert entry["enabled"] is True
    assert entry["tags"] == []
    updated = cb.update_allowlist_entry(entry["id"], enabled=False, tags=["data"])
    assert updated["enabled"] is False
    assert updated["tags"] == ["data"]
    cb.delete_allowlist_entry(entry["id"])
    assert cb.get_allowlist()["count"] == 0
    with pytest.raises(cyberbrain.NotFound):
        cb.delete_allowlist_entry(entry["id"])
    with pytest.raises(cyberbrain.NotFound):
        cb.update_allowlist_entry(entry["id"], enabled=True)


def test_allowlist_validation(cb: cyberbrain.Cyberbrain) -> None:
    with pytest.raises(cyberbrain.InvalidInput) as info:
        cb.set_allowlist("not a container!")
    assert "container_id" in info.value.fields
    entry = cb.set_allowlist("cache")
    with pytest.raises(cyberbrain.InvalidInput) as info:
        cb.update_allowlist_entry(entry["id"], label="x")  # type: ignore[call-arg]
    assert list(info.value.fields) == ["label"]
    with pytest.raises(cyberbrain.InvalidInput) as info:
        cb.update_allowlist_entry(entry["id"], tags="prod")  # type: ignore[arg-type]
    assert list(info.value.fields) == ["tags"]
    other = cb.set_allowlist("queue")
    with pytest.raises(cyberbrain.Conflict):
        cb.update_allowlist_entry(other["id"], container_id="cache")
