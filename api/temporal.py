"""The API's Temporal client, connected in the background.

The API starts whether or not Temporal is up. Until a connection succeeds,
`app.state.temporal` is None and every route that needs Temporal answers 503
(`api.deps.get_temporal`); a background task keeps trying (backoff up to 5 s) and
installs the client when Temporal answers. `/health` reports it as unreachable.
Once connected, the SDK reconnects by itself after outages (calls fail with
`RPCError` meanwhile, also a 503).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from temporalio.client import Client

import telemetry
from payload_codec import data_converter
from settings import Settings

log = logging.getLogger("relayflow.api")

#: first wait between attempts, doubled up to MAX_BACKOFF
BACKOFF, MAX_BACKOFF = 0.25, 5.0


async def connect(settings: Settings) -> Client:
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings),
        tls=settings.temporal_tls(),
        interceptors=telemetry.tracing_interceptors(settings),
    )


async def _keep_trying(app: FastAPI, settings: Settings) -> None:
    delay = BACKOFF
    warned = False
    while app.state.temporal is None:
        try:
            app.state.temporal = await asyncio.wait_for(connect(settings), MAX_BACKOFF * 2)
            log.info("connected to Temporal at %s", settings.temporal_address)
            return
        except Exception as e:  # any failure: not reachable yet
            if not warned:
                log.warning(
                    "Temporal at %s is not reachable (%s); routes that need it answer 503 "
                    "while the API keeps trying",
                    settings.temporal_address,
                    e,
                )
                warned = True
        await asyncio.sleep(delay)
        delay = min(delay * 2, MAX_BACKOFF)


@contextlib.asynccontextmanager
async def background_connection(app: FastAPI, settings: Settings) -> AsyncIterator[None]:
    """Connect (or keep trying in the background) for the lifetime of the app."""
    task: asyncio.Task[None] | None = None
    if app.state.temporal is None:
        task = asyncio.create_task(_keep_trying(app, settings), name="temporal-connect")
        # usually Temporal is up: give the first attempt a moment so the first requests succeed
        await asyncio.wait({task}, timeout=2.0)
    try:
        yield
    finally:
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
