"""The analytics ingester: closed runs from Temporal into the analytics store.

Runs as a background task of the API (`start(app)`), every `ANALYTICS_INTERVAL`
seconds. Each poll lists, through Temporal visibility, the `TemplateWorkflow`
executions closed since the watermark minus `OVERLAP` (visibility is eventually
consistent: a run may become visible a little after later-closing ones), drops the
ones already stored (one SELECT), fetches the rest's history chains, replays them
(`replay.snapshots`) and writes each run in its own transaction (`store.write`,
refused by the database if another replica was first). The watermark then moves to
the newest close time seen. Nothing here touches a running workflow: no activity,
no signal, no history event.

Restart-safe: the watermark is in the database; after downtime the next poll reads
everything closed meanwhile. An empty store starts `ANALYTICS_BACKFILL` back.
A poll that fails (Temporal or the database unreachable) is logged, counted in
`relayflow_analytics_ingest_errors_total` and retried on the next tick.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus, WorkflowHistory
from temporalio.service import RPCError, RPCStatusCode

from api.analytics import record as records
from api.analytics.history import fetch_chain, read_facts
from api.analytics.replay import snapshots
from api.analytics.store import Store
from api.metrics import INGEST_ERRORS, INGESTED_RUNS, WATERMARK
from api.services.temporal_errors import closed_state
from settings import Settings
from workflows.engine import search_attributes as sa
from workflows.engine.io import WORKFLOW_TYPE
from workflows.language.durations import parse_duration

log = logging.getLogger("relayflow.analytics")

#: re-read this much before the watermark on every poll (late visibility)
OVERLAP = timedelta(minutes=1)
#: runs replayed together (one Replayer); histories fetched this many at a time
BATCH = 50
FETCH_CONCURRENCY = 8
SKIP = (WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.CONTINUED_AS_NEW)


def rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Ingester:
    def __init__(
        self,
        client: Client,
        store: Store,
        *,
        interval: float,
        backfill: timedelta,
        overlap: timedelta = OVERLAP,
    ) -> None:
        self.client, self.store = client, store
        self.interval, self.backfill, self.overlap = interval, backfill, overlap
        self._sem = asyncio.Semaphore(FETCH_CONCURRENCY)

    async def poll(self) -> int:
        """One pass: store every run closed since the watermark; returns the runs written."""
        mark = await self.store.watermark() or datetime.now(UTC) - self.backfill
        # runs only: template tests (SPEC §13) carry no TemplateName
        query = (
            f"WorkflowType = '{WORKFLOW_TYPE}' AND {sa.TEMPLATE_NAME.name} IS NOT NULL"
            f" AND CloseTime >= '{rfc3339(mark - self.overlap)}'"
        )
        newest, written, batch = mark, 0, []
        async for ex in self.client.list_workflows(query, page_size=500):
            if ex.status is None or ex.status in SKIP or ex.close_time is None:
                continue
            newest = max(newest, ex.close_time)
            batch.append(ex)
            if len(batch) >= BATCH:
                written += await self._ingest(batch)
                batch = []
        written += await self._ingest(batch)
        await self.store.advance(newest)
        WATERMARK.set(newest.timestamp())
        return written

    async def _ingest(self, batch: list[WorkflowExecution]) -> int:
        known = await self.store.known(ex.id for ex in batch)
        todo = {ex.id: ex for ex in batch if ex.id not in known}  # one entry per run id
        if not todo:
            return 0
        found = await asyncio.gather(*(self._chain(run_id) for run_id in todo))
        chains = {run_id: c for run_id, c in zip(todo, found, strict=True) if c}
        snaps = await snapshots([c[-1] for c in chains.values()], self.client.data_converter)
        written = 0
        for run_id, chain in chains.items():
            ex = todo[run_id]
            facts = await read_facts(run_id, chain, self.client.data_converter)
            snap = snaps.get(run_id, "not replayed")
            assert ex.close_time is not None
            rec = records.build(facts, snap, closed_state(ex.status), ex.close_time)
            if await self.store.write(rec):
                written += 1
                INGESTED_RUNS.inc()
        return written

    async def _chain(self, run_id: str) -> list[WorkflowHistory]:
        """The run's histories; [] when Temporal no longer has it (retention): skipped."""
        async with self._sem:
            try:
                return await fetch_chain(self.client, run_id)
            except RPCError as e:
                if e.status != RPCStatusCode.NOT_FOUND:
                    raise
                log.warning("analytics: history of %s is gone; not ingested", run_id)
                return []

    async def run_forever(self) -> None:
        log.info("analytics ingester: every %.1fs", self.interval)
        while True:
            try:
                n = await self.poll()
                if n:
                    log.info("analytics: %d closed run(s) ingested", n)
            except asyncio.CancelledError:
                raise
            except Exception:
                INGEST_ERRORS.inc()
                log.exception("analytics poll failed; retrying in %.1fs", self.interval)
            await asyncio.sleep(self.interval)


def start(
    client_of: Callable[[], Client | None], engine: AsyncEngine, settings: Settings
) -> asyncio.Task[None] | None:
    """The API's ingester task (None when `ANALYTICS_INTERVAL` is 0); it begins once the
    API has reached Temporal (`client_of()` is the API's client, None until then)."""
    if settings.analytics_interval <= 0:
        return None

    async def run() -> None:
        while (client := client_of()) is None:
            await asyncio.sleep(settings.analytics_interval)
        ingester = Ingester(
            client,
            Store(engine),
            interval=settings.analytics_interval,
            backfill=parse_duration(settings.analytics_backfill),
        )
        await ingester.run_forever()

    return asyncio.create_task(run(), name="analytics-ingester")


async def stop(task: asyncio.Task[None] | None) -> None:
    if task is None:
        return
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
