"""Schedules from Python: create, list, get, update, enable/disable, run-now, history, delete,
and refusals that name the field and save nothing."""

from __future__ import annotations

import pytest

import cyberbrain


def test_a_schedule_goes_through_its_whole_life(cb: cyberbrain.Cyberbrain) -> None:
    schedule = cb.create_schedule(
        name="hourly gpu",
        job_key="task2",
        schedule_type="interval",
        interval_minutes=60,
        use_rag=True,
    )
    assert schedule["task_key"] == "gpu_report"
    assert schedule["enabled"] is True
    assert schedule["timezone"] == "UTC"
    assert schedule["misfire_policy"] == "run_once"
    assert schedule["next_run_at"] is not None
    sid = schedule["id"]

    cron = cb.create_schedule(
        name="nightly",
        task_key="log_triage",
        schedule_type="cron",
        cron_expr="0 3 * * *",
        timezone="Europe/Berlin",
        custom_directive_text="Look for disk trouble.",
    )
    assert cron["cron_expr"] == "0 3 * * *"
    assert cron["timezone"] == "Europe/Berlin"

    listed = cb.list_schedules()
    assert listed["count"] == 2
    assert [s["id"] for s in listed["results"]] == [sid, cron["id"]]
    assert cb.list_schedules(page=2, page_size=1)["results"][0]["id"] == cron["id"]
    assert cb.get_schedule(sid) == schedule

    # A patch that leaves the timing alone leaves next_run_at alone.
    renamed = cb.update_schedule(sid, name="gpu every hour", max_per_job=2)
    assert renamed["name"] == "gpu every hour"
    assert renamed["max_per_job"] == 2
    assert renamed["next_run_at"] == schedule["next_run_at"]
    cleared = cb.update_schedule(sid, max_per_job=None)
    assert cleared["max_per_job"] is None

    fired = cb.run_schedule_now(sid)
    assert set(fired) == {"run_id", "scheduled_run_id"}
    run = cb.get_run(fired["run_id"])
    assert run["trigger"] == "schedule"
    assert run["schedule_id"] == sid
    assert run["use_rag"] is True
    history = cb.schedule_history(sid)
    assert history["count"] == 1
    assert history["results"][0]["id"] == fired["scheduled_run_id"]
    assert history["results"][0]["run_id"] == fired["run_id"]

    disabled = cb.set_schedule_enabled(sid, False)
    assert disabled["enabled"] is False
    assert disabled["next_run_at"] is None
    cb.run_schedule_now(sid)  # enabled or not
    assert cb.schedule_history(sid, page=1, page_size=1)["count"] == 2
    enabled = cb.set_schedule_enabled(sid, True)
    assert enabled["enabled"] is True
    assert enabled["next_run_at"] is not None

    cb.delete_schedule(cron["id"])
    with pytest.raises(cyberbrain.NotFound):
        cb.get_schedule(cron["id"])
    assert cb.list_schedules()["count"] == 1


def test_create_schedule_refusals_name_the_fields(cb: cyberbrain.Cyberbrain) -> None:
    with pytest.raises(cyberbrain.InvalidInput) as info:
        cb.create_schedule()
    assert {"name", "task_key", "schedule_type"} <= set(info.value.fields)

    base = dict(name="s", task_key="log_triage", schedule_type="interval", interval_minutes=5)
    cases = [
        ({"interval_minutes": 0}, "interval_minutes"),
        ({"schedule_type": "cron", "cron_expr": "not cron"}, "cron_expr"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"task_key": "no_such_task"}, "task_key"),
        ({"directive_id": 9999}, "directive_id"),
        ({"custom_directive_text": "x", "directive_id": 1}, "custom_directive_text"),
        ({"misfire_policy": "later"}, "misfire_policy"),
        ({"task3_scope": "all"}, "task3_scope"),
        # Wrong Python types and unknown keywords go through JSON and are named too.
        ({"interval_minutes": "5"}, "interval_minutes"),
        ({"enabled": "yes"}, "enabled"),
        ({"run_at": "tomorrow"}, "run_at"),
        ({"every": 5}, "every"),
    ]
    for extra, field in cases:
        with pytest.raises(cyberbrain.InvalidInput) as info:
            cb.create_schedule(**{**base, **extra})  # type: ignore[arg-type]
        assert field in info.value.fields, (extra, info.value.fields)
    assert cb.list_schedules()["count"] == 0, "no refused create saved a schedule"

    schedule = cb.create_schedule(**base)  # type: ignore[arg-type]
    with pytest.raises(cyberbrain.InvalidInput) as info:
        cb.update_schedule(schedule["id"], interval_minutes=-1)
    assert list(info.value.fields) == ["interval_minutes"]
    assert cb.get_schedule(schedule["id"])["interval_minutes"] == 5
    with pytest.raises(cyberbrain.InvalidInput) as info:
        cb.list_schedules(page_size=0)
    assert "page_size" in info.value.fields


def test_unknown_schedules_are_not_found(cb: cyberbrain.Cyberbrain) -> None:
    for call in (
        lambda: cb.get_schedule(4242),
        lambda: cb.update_schedule(4242, name="x"),
        lambda: cb.delete_schedule(4242),
        lambda: cb.set_schedule_enabled(4242, True),
        lambda: cb.run_schedule_now(4242),
        lambda: cb.schedule_history(4242),
    ):
        with pytest.raises(cyberbrain.NotFound) as info:
            call()
        assert "4242" in str(info.value)
