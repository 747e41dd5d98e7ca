"""One real relayflow stack for the CLI tests: `scripts/devstack.py` (Temporal dev server,
worker, API, templates loaded) on free ports with its own data folder, plus a tiny local
HTTP "ERP" the purchase-order template can call, and a CLI runner pointed at the stack.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.helpers.http_receiver import HttpReceiver, Reply, Request

ROOT = Path(__file__).resolve().parents[2]
TOKENS = {  # deploy/directory.yaml, which devstack uses
    "alice": "change-me-alice", "dana": "change-me-dana", "mike": "change-me-mike",
    "sam": "change-me-sam", "olga": "change-me-olga", "dave": "change-me-dave", "mia": "change-me-mia",
}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _erp(req: Request) -> Reply:
    """GET /budget/<cc> -> remaining budget; POST /orders -> the order it placed."""
    if req.method == "GET":
        return Reply(body={"cost_center": req.target.rsplit("/", 1)[-1], "remaining": 100000})
    order = req.json or {}
    return Reply(201, {"order_id": f"ORD-{order.get('po', 'x')}", "status": "placed"})


@dataclass
class Stack:
    api: str
    temporal: str
    ui: str
    task_queue: str
    erp: str
    env: dict[str, str] = field(default_factory=dict)

    def cli_env(self, user: str = "sam") -> dict[str, str]:
        """Environment for the `relayflow` command: API URL and the user's token."""
        return {"RELAYFLOW_API": self.api, "RELAYFLOW_TOKEN": TOKENS[user]}


@pytest.fixture(scope="session")
def erp() -> Iterator[str]:
    with HttpReceiver(default=_erp) as server:
        yield server.url


@contextmanager
def running_stack(data: Path, erp: str, **extra_env: str) -> Iterator[Stack]:
    """`scripts/devstack.py` on free ports with its data in `data`; stopped on exit."""
    tport, uport, aport, hport = free_port(), free_port(), free_port(), free_port()
    st = Stack(
        api=f"http://127.0.0.1:{aport}", temporal=f"127.0.0.1:{tport}",
        ui=f"http://127.0.0.1:{uport}", task_queue=f"cli-{aport}", erp=erp,
    )
    env = dict(os.environ)
    env.update(
        RELAYFLOW_DATA_DIR=str(data), TEMPORAL_ADDRESS=st.temporal, TEMPORAL_UI_URL=st.ui,
        TEMPORAL_HTTP_ADDRESS=f"127.0.0.1:{hport}",
        API_PORT=str(aport), API_PUBLIC_URL=st.api,
        DATABASE_URL=f"sqlite:///{data / 'relayflow.db'}", TASK_QUEUE=st.task_queue,
        WORKER_METRICS_PORT=str(free_port()),
    )
    env.update(extra_env)
    st.env = env
    log = open(data / "devstack.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "scripts/devstack.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        _wait_up(data / "devstack.log", proc, timeout=120)
        _point_erp_at(st)
        yield st
    except RuntimeError as e:
        raise RuntimeError(f"{e}\n{(data / 'devstack.log').read_text()[-3000:]}") from None
    finally:
        proc.send_signal(signal.SIGTERM)  # devstack stops everything it started
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, erp: str) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("stack"), erp) as st:
        yield st


def _point_erp_at(st: Stack) -> None:
    """The built-in purchase-order calls connection `erp`: an admin points it at our ERP."""
    import httpx

    r = httpx.put(
        f"{st.api}/connections/erp", json={"base_url": st.erp},
        headers={"Authorization": f"Bearer {TOKENS['alice']}"}, timeout=30,
    )
    r.raise_for_status()


def _wait_up(log: Path, proc: subprocess.Popen[bytes], timeout: float) -> None:
    """devstack logs "relayflow is up" once the API answers and templates/ are loaded."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"devstack exited early with {proc.returncode}")
        if b"relayflow is up" in log.read_bytes():
            return
        time.sleep(0.3)
    raise RuntimeError(f"devstack not up within {timeout}s")


@dataclass
class Cli:
    """Runs `relayflow` in-process (typer's CliRunner) against the stack over a real socket."""

    stack: Stack
    runner: CliRunner = field(default_factory=CliRunner)

    def __call__(self, *args: str, user: str = "sam", input: str | None = None):  # noqa: A002
        from cli.main import app

        return self.runner.invoke(app, list(args), env=self.stack.cli_env(user), input=input)


@pytest.fixture(scope="session")
def cli(stack: Stack) -> Cli:
    return Cli(stack)
