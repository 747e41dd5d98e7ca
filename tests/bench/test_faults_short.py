"""Short fault injection (the full one is `python -m bench`): nothing lost, nothing repeated.

One real stack (file-persisted dev server, `python worker.py`, the API under
uvicorn, an HTTP receiver). 30 runs of three `http` steps go through `POST /runs`
while the worker is SIGKILLed three times, the API is SIGKILLed and restarted
mid-load and the Temporal server is restarted mid-run.
"""

from __future__ import annotations

import pytest

from bench.faults import STEPS, scenario

pytestmark = pytest.mark.timeout(150)

N = 30


async def test_runs_survive_worker_server_and_api_restarts() -> None:
    res = await scenario(
        ["worker", "server", "api"], n=N, worker_kills=3, kill_gap=(0.5, 2.0),
        receiver_delay=0.1, timeout=90,
    )
    events = "\n".join(res["events"])
    assert "worker SIGKILL" in events and "api restarted" in events, events
    assert "temporal server restarted" in events, events
    assert res["lost"] == 0, res
    assert res["stuck"] == 0, res
    assert res["completed"] == N, res
    assert res["activities_completed"] == N * STEPS, res
    # a completed activity never runs again; crashed attempts may be retried (same key)
    assert res["duplicated_after_completion"] == 0, res
