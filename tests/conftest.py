"""Session-scoped real Temporal servers; see tests/helpers/temporal.py."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from tests.helpers.temporal import start_dev_server, start_time_skipping


@pytest.fixture(scope="session")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    """The Temporal dev server (real visibility, search attributes registered)."""
    e = await start_dev_server()
    yield e
    await e.shutdown()


@pytest.fixture(scope="session")
async def client(env: WorkflowEnvironment) -> Client:
    return env.client


@pytest.fixture(scope="session")
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server, for hours-long timers (no visibility listing)."""
    e = await start_time_skipping()
    yield e
    await e.shutdown()
