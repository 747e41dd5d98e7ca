"""Session-scoped real Temporal servers; see tests/helpers/temporal.py."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from settings import get_settings
from tests.helpers.temporal import start_dev_server, start_time_skipping

#: the egress policy the suite's in-process workers run with: the local receivers on
#: 127.0.0.1 only (tests of the policy itself set their own, per test)
TEST_EGRESS_ALLOW = "127.0.0.1"


@pytest.fixture(scope="session", autouse=True)
def egress_to_local_receivers() -> Iterator[None]:
    """Actions in tests call receivers on 127.0.0.1, which the default policy refuses."""
    previous = os.environ.get("EGRESS_ALLOW")
    os.environ["EGRESS_ALLOW"] = TEST_EGRESS_ALLOW
    get_settings.cache_clear()
    yield
    if previous is None:
        os.environ.pop("EGRESS_ALLOW", None)
    else:
        os.environ["EGRESS_ALLOW"] = previous
    get_settings.cache_clear()


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
