"""The relayflow HTTP API: `create_app()` wires settings, database, Temporal and routers.

Run it with `uvicorn --factory api.main:create_app` (or `python -m api.main`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from temporalio.client import Client

from api.auth import DirectoryCache
from api.db import Timeouts, make_engine, migrate, sessionmaker
from api.docs import OfflineDocs
from api.errors import install_handlers
from api.jsonbody import StrictJSONBody
from api.limits import BodySizeLimit
from api.routes import health, hooks, inbox, runs, schedules, templates, triggers
from api.temporal import background_connection
from settings import Settings, get_settings
from workflows import _cel_budget

log = logging.getLogger("relayflow.api")

DESCRIPTION = """relayflow's front door: a registry of workflow templates, runs on Temporal,
human decisions, an inbox, schedules and webhook triggers.

Authenticate with `Authorization: Bearer <token>` (tokens come from the directory file).
Every error body is `{error, detail}`; validation failures add `errors: [{loc, msg}]`."""


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    _cel_budget.configure(
        max_value_bytes=settings.expression_max_value_bytes,
        max_cpu_ms=settings.expression_max_cpu_ms,
    )
    await anyio.to_thread.run_sync(migrate, settings.database_url)
    engine = make_engine(settings.database_url, database_timeouts(settings))
    app.state.sessionmaker = sessionmaker(engine)
    app.state.directory = DirectoryCache(settings.directory_file)
    try:
        # the API starts (and answers 503 where Temporal is needed) while Temporal is down
        async with background_connection(app, settings):
            yield
    finally:
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
    app.add_middleware(BodySizeLimit)  # outermost: refuses big bodies before anything reads them
    for module in (health, templates, runs, inbox, schedules, triggers, hooks):
        app.include_router(module.router)
    return app


def main() -> None:
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    s = get_settings()
    uvicorn.run("api.main:create_app", factory=True, host=s.api_host, port=s.api_port)


if __name__ == "__main__":
    main()
