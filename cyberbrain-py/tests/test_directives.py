"""Directives through the Python handle: built-ins, CRUD, and the error mapping."""

import datetime

import pytest

import cyberbrain

BUILTIN_NAMES = {
    "Read-only Diagnostics": "D1",
    "Conservative Recommendations": "D2",
    "Change Planning": "D3",
    "Admin Override": "D4",
    "default": "D1",
}


def test_builtin_directives_are_listed(cb: cyberbrain.Cyberbrain) -> None:
    page = cb.list_directives()
    assert page["count"] == 5
    assert {d["name"]: d["directive_type"] for d in page["results"]} == BUILTIN_NAMES
    assert all(d["is_builtin"] for d in page["results"])
    ids = [d["id"] for d in page["results"]]
    assert ids == sorted(ids)
    first = page["results"][0]
    assert isinstance(first["id"], int)
    assert isinstance(first["task_config"], dict)
    # Times are RFC 3339 strings.
    datetime.datetime.fromisoformat(first["created_at"].replace("Z", "+00:00"))


def test_pagination(cb: cyberbrain.Cyberbrain) -> None:
    page = cb.list_directives(page=2, page_size=2)
    assert page["count"] == 5
    assert len(page["results"]) == 2
    assert page["results"][0]["name"] == list(BUILTIN_NAMES)[2]
    with pytest.raises(cyberbrain.InvalidInput) as info:
        cb.list_directives(page=0, page_size=500)
    assert set(info.value.fields) == {"page", "page_size"}
    with pytest.raises(cyberbrain.InvalidInput):
        cb.list_directives(page_size=-1)


def test_create_get_update_delete(cb: cyberbrain.Cyberbrain) -> None:
    created = cb.create_directive(
        "Nightly triage",
        "D3",
        description="for the night shift",
        directive_text="Observe and plan.",
        task_config={"log_triage": {"max_lines": 500, "levels": ["ERROR", "WARN"]}, "ratio": 0.5},
    )
    assert created["name"] == "Nightly triage"
    assert created["directive_type"] == "D3"
    assert created["approval_required"] is True, "D3 requires approval by default"
    assert created["is_builtin"] is False
    assert created["is_active"] is True
    assert created["version"] == 1
    assert created["task_config"] == {
        "log_triage": {"max_lines": 500, "levels": ["ERROR", "WARN"]},
        "ratio": 0.5,
    }
    assert cb.get_directive(created["id"]) == created

    renamed = cb.update_directive(created["id"], name="Night triage", is_active=False)
    assert renamed["name"] == "Night triage"
    assert renamed["is_active"] is False
    assert renamed["version"] == 1, "name and activity are not versioned"

    retexted = cb.update_directive(created["id"], directive_text="Observe only.", directive_type="D1")
    assert retexted["version"] == 2
    assert retexted["directive_type"] == "D1"
    assert cb.list_directives()["count"] == 6

    cb.delete_directive(created["id"])
    with pytest.raises(cyberbrain.NotFound):
        cb.get_directive(created["id"])
    assert cb.list_directives()["count"] == 5


def test_approval_can_be_overridden(cb: cyberbrain.Cyberbrain) -> None:
    d = cb.create_directive("Unattended plan", "D4", approval_required=False, is_active=False)
    assert d["approval_required"] is False
    assert d["is_active"] is False


def test_duplicate_name_is_conflict(cb: cyberbrain.Cyberbrain) -> None:
    cb.create_directive("Unique", "D1")
    with pytest.raises(cyberbrain.Conflict):
        cb.create_directive("Unique", "D2")
    with pytest.raises(cyberbrain.Conflict):
        cb.create_directive("Read-only Diagnostics", "D1")
    other = cb.create_directive("Other", "D1")
    with pytest.raises(cyberbrain.Conflict):
        cb.update_directive(other["id"], name="Unique")


def test_builtin_cannot_be_deleted(cb: cyberbrain.Cyberbrain) -> None:
    builtin = cb.list_directives()["results"][0]
    with pytest.raises(cyberbrain.Conflict):
        cb.delete_directive(builtin["id"])


def test_unknown_id_is_not_found(cb: cyberbrain.Cyberbrain) -> None:
    with pytest.raises(cyberbrain.NotFound) as info:
        cb.get_directive(999_999)
    assert info.value.entity == "directive"
    assert info.value.key == "999999"
    assert "999999" in str(info.value)
    with pytest.raises(cyberbrain.NotFound):
        cb.update_directive(999_999, name="x")
    with pytest.raises(cyberbrain.NotFound):
        cb.delete_directive(999_999)


def test_bad_type_string_is_invalid_input_with_fields(cb: cyberbrain.Cyberbrain) -> None:
    with pytest.raises(cyberbrain.InvalidInput) as info:
        cb.create_directive("Typo", "D9")  # type: ignore[arg-type]
    assert list(info.value.fields) == ["directive_type"]
    message = info.value.fields["directive_type"][0]
    assert '"D9"' in message and '"D1"' in message
    assert "directive_type" in str(info.value)
    with pytest.raises(cyberbrain.InvalidInput) as info:
        cb.update_directive(1, directive_type="D9")  # type: ignore[arg-type]
    assert "directive_type" in info.value.fields
    assert cb.list_directives()["count"] == 5, "nothing was written"


def test_empty_name_is_invalid_input(cb: cyberbrain.Cyberbrain) -> None:
    with pytest.raises(cyberbrain.InvalidInput) as info:
        cb.create_directive("   ", "D1")
    assert info.value.fields == {"name": ["must not be empty"]}


def test_unknown_update_field_is_invalid_input_naming_it(cb: cyberbrain.Cyberbrain) -> None:
    with pytest.raises(cyberbrain.InvalidInput) as info:
        cb.update_directive(1, colour="red")  # type: ignore[call-arg]
    assert list(info.value.fields) == ["colour"]
    assert "directive_text" in info.value.fields["colour"][0], "lists the accepted fields"


def test_wrong_value_type_in_update_is_invalid_input(cb: cyberbrain.Cyberbrain) -> None:
    with pytest.raises(cyberbrain.InvalidInput) as info:
        cb.update_directive(1, is_active="yes")  # type: ignore[arg-type]
    assert list(info.value.fields) == ["is_active"]


def test_task_config_must_be_json(cb: cyberbrain.Cyberbrain) -> None:
    with pytest.raises(cyberbrain.InvalidInput) as info:
        cb.create_directive("Bad config", "D1", task_config=["not", "a", "dict"])  # type: ignore[arg-type]
    assert "task_config" in info.value.fields
    with pytest.raises(cyberbrain.InvalidInput) as info:
        cb.create_directive("Bad config", "D1", task_config={"hosts": {"a", "b"}})
    assert list(info.value.fields) == ["task_config.hosts"]
    assert "set" in info.value.fields["task_config.hosts"][0]
    with pytest.raises(cyberbrain.InvalidInput) as info:
        cb.create_directive("Bad config", "D1", task_config={"x": float("nan")})
    assert "task_config.x" in info.value.fields
    with pytest.raises(cyberbrain.InvalidInput) as info:
        cb.create_directive("Bad config", "D1", task_config={1: "int key"})  # type: ignore[dict-item]
    assert "task_config" in info.value.fields


def test_big_and_nested_values_round_trip(cb: cyberbrain.Cyberbrain) -> None:
    config = {"big": 2**63 + 5, "neg": -(2**62), "t": (1, 2), "n": None, "b": True, "s": "ü"}
    d = cb.create_directive("Round trip", "D2", task_config=config)
    assert d["task_config"] == {"big": 2**63 + 5, "neg": -(2**62), "t": [1, 2], "n": None, "b": True, "s": "ü"}
    with pytest.raises(cyberbrain.InvalidInput):
        cb.create_directive("Too big", "D2", task_config={"x": 2**64})
