"""Bulk decisions (SPEC §11): each item answered as `POST /runs/{id}/steps/{step}/decision`
would have answered it, so one bad item never spoils the others."""

from __future__ import annotations

import asyncio
import logging
import re

from temporalio.client import Client
from temporalio.service import RPCError

from activities.directory import User
from api.errors import RelayflowError
from api.schemas import RUN_ID
from api.schemas_people import BulkItem, BulkResult
from api.services import runs

log = logging.getLogger("relayflow.api")
#: items decided at once (each is one Update round trip to Temporal)
CONCURRENCY = 8
_RUN_ID = re.compile(RUN_ID)


async def one(client: Client, user: User, item: BulkItem) -> BulkResult:
    base = {"run_id": item.run_id, "step": item.step}
    if not _RUN_ID.match(item.run_id):
        return BulkResult(
            **base, status=422, error="invalid_request", detail="run_id: invalid run id"
        )
    try:
        st = await runs.decide(
            client, item.run_id, item.step, user, item.outcome, item.comment, item.data
        )
    except RelayflowError as e:
        return BulkResult(**base, status=e.status_code, error=e.code, detail=e.detail)
    except RPCError as e:
        log.warning("bulk decision on %s/%s: %s", item.run_id, item.step, e)
        return BulkResult(**base, status=503, error="unavailable", detail=e.message)
    return BulkResult(**base, status=200, decision=st.decision, state=st.state)


async def bulk(client: Client, user: User, items: list[BulkItem]) -> list[BulkResult]:
    """Results in the order of `items` (several items may target the same run)."""
    limit = asyncio.Semaphore(CONCURRENCY)

    async def guarded(item: BulkItem) -> BulkResult:
        async with limit:
            return await one(client, user, item)

    return list(await asyncio.gather(*(guarded(i) for i in items)))
