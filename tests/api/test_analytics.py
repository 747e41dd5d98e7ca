"""`GET /analytics/*` over a known mix of runs, on SQLite and PostgreSQL: exact counts,
success rate, per-step failures, decisions per actor with turnarounds, SLA rows and
their CSV; the ingester is idempotent, restart-safe and safe with two replicas.

Each test runs its own API app (with its ingester polling every 0.3 s) on a fresh
database, against the session's dev server and the module's worker.
"""

from __future__ import annotations

import asyncio
import csv
import io
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import func, select
from temporalio.client import Client

from api.analytics.ingest import Ingester
from api.analytics.store import DECISIONS, RUNS, SLA, STEPS, Store
from api.db import make_engine
from api.main import create_app
from settings import Settings
from tests.analytics.support import value
from tests.api.conftest import PG_DSN, auth, eventually, pg_url, save

pytestmark = pytest.mark.usefixtures("worker")


@pytest.fixture
def fresh_db(database_url: str, tmp_path: Path) -> Iterator[str]:
    """An empty database of the same kind as the module's (a new file / schema)."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'analytics.db'}"
        return
    schema = f"rf_an_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    yield pg_url(schema)
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@asynccontextmanager
async def running_api(
    settings: Settings, client: Client, url: str, interval: float = 0.3
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        settings.model_copy(update={"database_url": url, "analytics_interval": interval}),
        temporal_client=client,
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as c:
            yield c


def template(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "input_schema": {"type": "object", "properties": {"fail": {"type": "boolean"}}},
        "steps": [
            {"id": "check", "action": "log", "with": {"message": "checking"}},
            {
                "id": "approve",
                "depends_on": ["check"],
                "approval": {"assignees": {"roles": ["manager"]}},
                "sla": [{"after": "2s", "level": "remind"}],
            },
            {
                "id": "broken",
                "depends_on": ["approve"],
                "when": "input.fail == true",
                "fail": {"message": "budget exceeded"},
            },
            {
                "id": "place",
                "depends_on": ["broken"],
                "run_if": "none_failed",
                "action": "log",
                "with": {"message": "placed"},
            },
        ],
    }


async def _start(api: httpx.AsyncClient, name: str, fail: bool = False) -> str:
    r = await api.post(
        "/runs", json={"template": name, "input": {"fail": fail}}, headers=auth("eve")
    )
    assert r.status_code == 201, r.text
    run_id: str = r.json()["run_id"]
    return run_id


async def _doc(api: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    r = await api.get(f"/runs/{run_id}", headers=auth("eve"))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def _until(api: httpx.AsyncClient, run_id: str, pred: Any, timeout: float = 20) -> None:
    async def check() -> bool:
        return bool(pred(await _doc(api, run_id)))

    assert await eventually(check, timeout), await _doc(api, run_id)


async def _decide(api: httpx.AsyncClient, run_id: str, user: str) -> None:
    r = await api.post(
        f"/runs/{run_id}/steps/approve/decision",
        json={"outcome": "approved", "comment": f"ok from {user}"},
        headers=auth(user),
    )
    assert r.status_code == 200, r.text


async def _mix(api: httpx.AsyncClient, name: str) -> dict[str, Any]:
    """2 completed (alice after ~1 s, bob after ~3 s with the SLA level fired at 2 s),
    1 failed at `broken` (alice at once), 1 cancelled while waiting."""
    await save(api, template(name))
    started = time.monotonic()  # every approval opens after this: an upper bound for turnarounds
    r1, r2, r3, r4 = [await _start(api, name, fail=i == 2) for i in range(4)]
    for run_id in (r1, r2, r3, r4):
        await _until(api, run_id, lambda d: d["pending"])
    opened = time.monotonic()
    await _decide(api, r3, "alice")
    assert (await api.post(f"/runs/{r4}/cancel", headers=auth("olga"))).status_code == 202
    await asyncio.sleep(max(0.0, opened + 1.0 - time.monotonic()))
    await _decide(api, r1, "alice")
    alice_after = time.monotonic() - started
    await _until(api, r2, lambda d: d["steps"]["approve"]["sla_level"] == "remind")
    await asyncio.sleep(max(0.0, opened + 3.0 - time.monotonic()))
    await _decide(api, r2, "bob")
    bob_after = time.monotonic() - started
    for run_id, state in ((r1, "completed"), (r2, "completed"), (r3, "failed"), (r4, "cancelled")):
        await _until(api, run_id, lambda d, s=state: d["state"] == s)
    return {"runs": (r1, r2, r3, r4), "alice_after": alice_after, "bob_after": bob_after}


async def test_analytics_report_a_known_mix_exactly(
    api: httpx.AsyncClient, settings: Settings, client: Client, fresh_db: str
) -> None:
    name = f"an-{uuid.uuid4().hex[:8]}"
    async with running_api(settings, client, fresh_db) as api2:
        mix = await _mix(api, name)
        r1, r2, r3, r4 = mix["runs"]

        async def ingested() -> dict[str, Any] | None:
            r = await api2.get(f"/analytics/templates/{name}", headers=auth("eve"))
            assert r.status_code == 200, r.text
            body: dict[str, Any] = r.json()
            return body if body["runs"] == 4 and body["open"] == 0 else None

        detail = await eventually(ingested, 20)
        assert detail, "the four runs were not ingested"
        listed = (await api2.get("/analytics/templates", headers=auth("eve"))).json()
        summary = next(t for t in listed if t["template"] == name)
        sla = await api2.get("/analytics/sla", params={"template": name}, headers=auth("eve"))
        sla_csv = await api2.get(
            "/analytics/sla", params={"template": name, "format": "csv"}, headers=auth("eve")
        )
        metrics = await api2.get("/metrics")

    head = {k: detail[k] for k in ("runs", "completed", "failed", "cancelled", "open")}
    assert head == {"runs": 4, "completed": 2, "failed": 1, "cancelled": 1, "open": 0}
    assert detail["success_rate"] == 0.5
    assert detail["duration_p50_s"] <= detail["duration_p95_s"]
    assert {k: summary[k] for k in head} == head and summary["success_rate"] == 0.5

    steps = {s["step"]: s for s in detail["steps"]}
    assert set(steps) == {"check", "approve", "broken", "place"}
    counts = {
        k: (s["kind"], s["runs"], s["succeeded"], s["failed"], s["skipped"])
        for k, s in steps.items()
    }
    assert counts == {
        "check": ("action", 4, 4, 0, 0),
        "approve": ("approval", 4, 3, 0, 0),  # the 4th was cancelled
        "broken": ("fail", 4, 0, 1, 2),
        "place": ("action", 4, 2, 0, 1),
    }
    assert steps["check"]["retries"] == 0

    (approvals,) = detail["approvals"]
    assert approvals["step"] == "approve" and approvals["decisions"] == 3
    assert approvals["by_actor"] == {"alice": 2, "bob": 1}
    assert approvals["by_outcome"] == {"approved": 3}
    # nearest rank over ~[0 s, 1 s, 3 s]: p50 = alice's 1 s, p95 = bob's 3 s (timer tolerance)
    assert 0.9 <= approvals["turnaround_p50_s"] <= mix["alice_after"] + 1.5
    assert 2.9 <= approvals["turnaround_p95_s"] <= mix["bob_after"] + 1.5
    assert detail["sla"] == [{"step": "approve", "level": "remind", "fired": 1}]
    assert detail["top_errors"] == [{"step": "broken", "error": "budget exceeded", "count": 1}]

    rows = sla.json()
    assert [(r["run_id"], r["template"], r["step"], r["level"]) for r in rows] == [
        (r2, name, "approve", "remind")
    ]
    assert rows[0]["assignees"] == ["user:alice", "user:bob", "role:manager"]
    lines = list(csv.DictReader(io.StringIO(sla_csv.text)))
    assert sla_csv.headers["content-type"].startswith("text/csv")
    assert lines == [{**r, "assignees": " ".join(r["assignees"])} for r in rows]

    m = scrape_text(metrics.text)
    route = "/analytics/templates/{name}"
    assert value(m, "relayflow_http_requests_total", route=route, method="GET", status="200") >= 1
    assert not [k for k in m if dict(k[1]).get("route", "").startswith("/analytics/templates/an-")]


def scrape_text(text: str) -> Any:
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[Any, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


async def _counts(url: str, run_ids: list[str]) -> dict[str, int]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            out = {}
            for table in (RUNS, STEPS, DECISIONS, SLA):
                q = select(func.count()).select_from(table).where(table.c.run_id.in_(run_ids))
                out[table.name] = int((await conn.execute(q)).scalar_one())
            return out
    finally:
        await engine.dispose()


async def _simple_runs(api: httpx.AsyncClient, name: str, n: int) -> list[str]:
    doc = {"name": name, "steps": [{"id": "only", "action": "log", "with": {"message": "x"}}]}
    await save(api, doc)
    ids = []
    for _ in range(n):
        r = await api.post("/runs", json={"template": name, "input": {}}, headers=auth("eve"))
        assert r.status_code == 201, r.text
        ids.append(r.json()["run_id"])
    for run_id in ids:
        await _until(api, run_id, lambda d: d["state"] == "completed")
    return ids


async def test_ingester_catches_up_after_downtime_and_never_counts_twice(
    api: httpx.AsyncClient, settings: Settings, client: Client, fresh_db: str
) -> None:
    name = f"down-{uuid.uuid4().hex[:8]}"

    async def stored(api2: httpx.AsyncClient, n: int) -> bool:
        r = await api2.get(f"/analytics/templates/{name}", headers=auth("eve"))
        return r.status_code == 200 and r.json()["runs"] == n

    async with running_api(settings, client, fresh_db) as api2:
        first = await _simple_runs(api, name, 2)
        assert await eventually(lambda: stored(api2, 2), 20)
    # the analytics API is down while these runs close
    later = await _simple_runs(api, name, 3)
    async with running_api(settings, client, fresh_db) as api2:
        assert await eventually(lambda: stored(api2, 5), 20)
        body = (await api2.get(f"/analytics/templates/{name}", headers=auth("eve"))).json()
    assert body["completed"] == 5 and body["steps"][0]["succeeded"] == 5
    assert await _counts(fresh_db, first + later) == {
        "analytics_runs": 5,
        "analytics_steps": 5,
        "analytics_decisions": 0,
        "analytics_sla": 0,
    }

    # re-reading everything (watermark far back) writes nothing new
    engine = make_engine(fresh_db)
    try:
        again = Ingester(client, Store(engine), interval=1, backfill=timedelta(days=1))
        again.overlap = timedelta(days=1)
        assert await again.poll() == 0
    finally:
        await engine.dispose()
    assert (await _counts(fresh_db, first + later))["analytics_runs"] == 5


async def test_two_replicas_ingesting_at_once_write_each_run_once(
    api: httpx.AsyncClient, client: Client, fresh_db: str
) -> None:
    name = f"dup-{uuid.uuid4().hex[:8]}"
    ids = await _simple_runs(api, name, 4)
    from api.db import migrate

    await asyncio.to_thread(migrate, fresh_db)
    engines = [make_engine(fresh_db), make_engine(fresh_db)]
    try:
        replicas = [
            Ingester(client, Store(e), interval=1, backfill=timedelta(hours=1)) for e in engines
        ]
        written = await asyncio.gather(*(r.poll() for r in replicas))
    finally:
        for e in engines:
            await e.dispose()
    counts = await _counts(fresh_db, ids)
    assert counts["analytics_runs"] == 4 and counts["analytics_steps"] == 4
    assert sum(written) >= 4  # every run of the namespace's last hour, each by one replica only


async def test_analytics_input_errors(api: httpx.AsyncClient) -> None:
    r = await api.get("/analytics/templates", params={"since": "soon"}, headers=auth("eve"))
    assert r.status_code == 422 and r.json()["error"] == "invalid"
    assert "since" in r.json()["detail"]
    assert (await api.get("/analytics/templates")).status_code == 401
    r = await api.get("/analytics/sla", params={"format": "xml"}, headers=auth("eve"))
    assert r.status_code == 422
    r = await api.get("/analytics/templates/nothing-here", headers=auth("eve"))
    assert r.status_code == 200 and r.json()["runs"] == 0 and r.json()["steps"] == []


async def test_percentiles_are_exact_nearest_rank(fresh_db: str) -> None:
    """101 runs lasting 1..101 s (steps 2x that): p50 = 51 s, p95 = 96 s (ranks 51 and 96)."""
    from datetime import UTC, datetime

    from api.analytics import report
    from api.analytics.record import RunRecord
    from api.analytics.tables import AnalyticsRun, AnalyticsStep
    from api.db import migrate

    await asyncio.to_thread(migrate, fresh_db)
    engine = make_engine(fresh_db)
    now = datetime.now(UTC)
    name = f"pct-{uuid.uuid4().hex[:6]}"
    try:
        store = Store(engine)
        for i, seconds in enumerate(random_order(list(range(1, 102)))):
            rid = f"{name}-{i}"
            closed = now - timedelta(minutes=i)
            run = AnalyticsRun(
                run_id=rid,
                template=name,
                state="completed",
                closed_at=closed,
                duration_s=float(seconds),
                ingested_at=now,
            )
            step = AnalyticsStep(
                run_id=rid,
                template=name,
                closed_at=closed,
                address="s",
                step="s",
                kind="action",
                state="succeeded",
                duration_s=2.0 * seconds,
            )
            assert await store.write(RunRecord(run, steps=[step]))
        async with engine.connect() as conn:
            got = await report.detail(conn, name, now - timedelta(days=1), 0)
            early = await report.detail(conn, name, now - timedelta(minutes=50, seconds=30), 0)
    finally:
        await engine.dispose()
    assert (got.runs, got.duration_p50_s, got.duration_p95_s) == (101, 51.0, 96.0)
    assert (got.steps[0].duration_p50_s, got.steps[0].duration_p95_s) == (102.0, 192.0)
    assert early.runs == 51  # closed in the last 50.5 minutes: i = 0..50


def random_order(values: list[int]) -> list[int]:
    import random

    random.Random(3).shuffle(values)
    return values
