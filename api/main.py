"""The relayflow HTTP API: `create_app()` wires settings, database, Temporal and routers.

Run it with `uvicorn --factory api.main:create_app` (or `python -m api.main`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from temporalio.client import Client

from api.analytics import ingest
from api.auth import DirectoryCache
from api.codec_access import CodecCORS, ui_origins
from api.db import Timeouts, make_engine, migrate, sessionmaker
from api.docs import OfflineDocs
from api.errors import install_handlers
from api.jsonbody import StrictJSONBody
from api.limits import CODEC_MAX_BODY, BodySizeLimit
from api.metrics import RequestMetrics
from api.routes import (
    actions,
    analytics,
    audit,
    codec,
    connections,
    decisions,
    health,
    hooks,
    inbox,
    me,
    metrics,
    recovery,
    runs,
    schedules,
    subscriptions,
    template_tests,
    templates,
    triggers,
)
from api.temporal import background_connection
from api.testing import worker as test_worker
from api.tokens import DirectoryError
from api.ui import links as ui_links
from api.ui import routes as ui_routes
from settings import Settings, get_settings
from workflows.language import cel_budget

log = logging.getLogger("relayflow.api")

DESCRIPTION = """relayflow's front door: a registry of workflow templates, runs on Temporal,
human decisions, an inbox, schedules and webhook triggers.

Authenticate with `Authorization: Bearer <token>` (tokens come from the directory file).
Every error body is `{error, detail}`; validation failures add `errors: [{loc, msg}]`."""


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    directory = DirectoryCache(
        settings.directory_file, allow_sample_tokens=settings.allow_sample_tokens
    )
    try:
        directory.load()
    except DirectoryError as e:
        log.error("cannot start: %s", e)
        raise
    cel_budget.configure(
        max_value_bytes=settings.expression_max_value_bytes,
        max_cpu_ms=settings.expression_max_cpu_ms,
    )
    await anyio.to_thread.run_sync(migrate, settings.database_url)
    engine = make_engine(settings.database_url, database_timeouts(settings))
    app.state.engine = engine
    app.state.sessionmaker = sessionmaker(engine)
    app.state.directory = directory
    # connection health checks (SPEC §8) and the analytics ingester (SPEC §10):
    # background tasks of every replica
    from api.services.connections import HealthScheduler

    checks = asyncio.create_task(HealthScheduler(app.state.sessionmaker).run())
    ingester = ingest.start(lambda: app.state.temporal, engine, settings)
    try:
        # the API starts (and answers 503 where Temporal is needed) while Temporal is down
        async with background_connection(app, settings):
            yield
    finally:
        checks.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await checks
        await ingest.stop(ingester)
        await test_worker.stop(app)
        await engine.dispose()


def database_timeouts(settings: Settings) -> Timeouts:
    return Timeouts(
        connect=settings.database_connect_timeout,
        pool=settings.database_pool_timeout,
        statement=settings.database_statement_timeout,
    )


def create_app(
    settings: Settings | None = None, *, temporal_client: Client | None = None
) -> FastAPI:
    """The ASGI app. `temporal_client` lets tests and embedders share a connected client."""
    # FastAPIOffline: /docs and /redoc load Swagger UI and ReDoc from the installed
    # package, not from a CDN, so they work on machines without internet
    app: FastAPI = FastAPIOffline(
        title="relayflow", version="0.1.0", description=DESCRIPTION, lifespan=lifespan
    )
    app.state.settings = settings or get_settings()
    app.state.temporal = temporal_client
    install_handlers(app)
    app.add_middleware(StrictJSONBody)
    app.add_middleware(OfflineDocs)
    app.add_middleware(RequestMetrics)
    app.add_middleware(CodecCORS, origins=ui_origins(app.state.settings.temporal_ui_url))
    # outermost: refuses big bodies before anything reads them
    app.add_middleware(BodySizeLimit, prefix_limits={"/codec/": CODEC_MAX_BODY})
    for module in (health, templates, runs, audit, inbox, schedules, triggers, hooks, metrics):
        app.include_router(module.router)
    for module in (connections, codec, analytics, recovery):  # SPEC §8, §12, §10, §9
        app.include_router(module.router)
    for module in (actions, template_tests):  # SPEC §13
        app.include_router(module.router)
    app.include_router(subscriptions.router)  # SPEC §14
    for people in (me, decisions, ui_routes, ui_links):  # SPEC §11
        app.include_router(people.router)
    return app


def main() -> None:
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    s = get_settings()
    uvicorn.run("api.main:create_app", factory=True, host=s.api_host, port=s.api_port)


if __name__ == "__main__":
    main()
