"""Durations past the ten-year limit are a clear 422 at every door, never a 500."""

from __future__ import annotations

import httpx
import pytest

from tests.api.conftest import approval_template, auth, save, unique


@pytest.mark.parametrize("interval", ["1000000000d", "PT99999999999999H", "3651d"])
async def test_schedule_interval_too_long(api: httpx.AsyncClient, interval: str) -> None:
    name = unique("schedlong")
    await save(api, approval_template(name))
    r = await api.post(
        "/schedules",
        json={"id": unique("s"), "template": name, "input": {"amount": 1}, "interval": interval},
        headers=auth("dana"),
    )
    assert r.status_code == 422, r.text
    assert "too long" in r.json()["detail"] + str(r.json().get("errors", ""))


async def test_template_with_overlong_timer_is_rejected_at_save(api: httpx.AsyncClient) -> None:
    doc = {"name": unique("longwait"), "steps": [{"id": "a", "wait": {"duration": "1000000000d"}}]}
    r = await api.post("/templates", json=doc, headers=auth("dana"))
    assert r.status_code == 422, r.text
    assert {"loc": "steps[0].wait.duration"}.items() <= r.json()["errors"][0].items()
    assert "too long" in r.json()["errors"][0]["msg"]
