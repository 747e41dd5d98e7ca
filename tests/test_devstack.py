"""`make run`'s supervisor (scripts/devstack.py) brings up Temporal + UI + worker + API and stops cleanly.

Runs on free ports with its own data folder, so it never touches a developer's `make run`.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def descendants(pid: int) -> set[int]:
    """Every live process whose ancestry reaches `pid` (read from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier} - found
        found |= frontier
    return found


def cmdline(pid: int) -> list[str]:
    """A process's argv (empty if it is gone)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode() for a in raw.split(b"\0") if a]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and ") Z" not in stat.read_text()


def wait_ok(url: str, proc: subprocess.Popen[bytes], timeout: float) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "devstack exited early"
        try:
            r = httpx.get(url, timeout=2)
            if r.status_code == 200:
                return r
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{url} not 200 within {timeout}s")


@pytest.mark.timeout(180)
def test_run_brings_everything_up_and_stops_clean(tmp_path: Path) -> None:
    tport, uport, aport, hport = free_port(), free_port(), free_port(), free_port()
    env = dict(os.environ)
    env.update(
        RELAYFLOW_DATA_DIR=str(tmp_path),
        TEMPORAL_ADDRESS=f"127.0.0.1:{tport}",
        TEMPORAL_UI_URL=f"http://127.0.0.1:{uport}",
        TEMPORAL_HTTP_ADDRESS=f"127.0.0.1:{hport}",
        API_PORT=str(aport),
        DATABASE_URL=f"sqlite:///{tmp_path / 'relayflow.db'}",
        TASK_QUEUE=f"devstack-{aport}",
    )
    proc = subprocess.Popen([sys.executable, "scripts/devstack.py"], cwd=ROOT, env=env)
    try:
        health = wait_ok(f"http://127.0.0.1:{aport}/health", proc, timeout=90)
        assert health.json()["status"] == "ok"
        assert httpx.get(f"http://127.0.0.1:{uport}/", timeout=5).status_code == 200
        listed = subprocess.run(
            [str(BIN / "temporal"), "operator", "search-attribute", "list", "--address", f"127.0.0.1:{tport}"],
            capture_output=True, text=True, timeout=30,
        ).stdout
        for name in ("TemplateName", "TemplateVersion", "StartedBy", "RunTags", "RunState", "Assignees"):
            assert name in listed
        children = descendants(proc.pid)
        assert len(children) >= 3  # temporal, worker, api (and their helpers)
        # SPEC §1: the Web UI must not fetch its news feed from the internet
        [dev_server] = [
            argv for argv in map(cmdline, children) if argv[1:3] == ["server", "start-dev"]
        ]
        assert "--ui-disable-news-fetch" in dev_server, dev_server
        ui_settings = httpx.get(f"http://127.0.0.1:{uport}/api/v1/settings", timeout=5).json()
        assert ui_settings["DisableNewsFetch"] is True
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    assert proc.returncode == 0
    deadline = time.monotonic() + 10
    while (left := [p for p in children if alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, f"processes left behind: {left}"
    assert (tmp_path / "temporal.db").exists()  # persistence for the next `make run`


def port_free(port: int) -> bool:
    """Can a server listen there again (as servers do: SO_REUSEADDR, TIME_WAIT is fine)?"""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@pytest.mark.timeout(180)
def test_killed_devstack_takes_its_children_along(tmp_path: Path) -> None:
    """`make run` killed outright (SIGKILL, no Ctrl-C): Temporal, worker and API used to
    keep running in their own sessions and hold the ports (the next `make run` failed with
    `address already in use`). The parent-death signal ends them with it."""
    tport, uport, aport = free_port(), free_port(), free_port()
    env = dict(os.environ)
    env.update(
        RELAYFLOW_DATA_DIR=str(tmp_path),
        TEMPORAL_ADDRESS=f"127.0.0.1:{tport}",
        TEMPORAL_UI_URL=f"http://127.0.0.1:{uport}",
        API_PORT=str(aport),
        DATABASE_URL=f"sqlite:///{tmp_path / 'relayflow.db'}",
        TASK_QUEUE=f"devstack-{aport}",
    )
    proc = subprocess.Popen([sys.executable, "scripts/devstack.py"], cwd=ROOT, env=env)
    try:
        wait_ok(f"http://127.0.0.1:{aport}/health", proc, timeout=90)
        children = descendants(proc.pid)
        assert len(children) >= 3
    finally:
        proc.kill()  # SIGKILL: no handler runs, nothing is stopped by devstack itself
        proc.wait(timeout=10)
    deadline = time.monotonic() + 15
    while (left := [p for p in children if alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in left:  # do not leak them into the rest of the suite
        os.kill(pid, signal.SIGKILL)
    assert not left, f"processes left behind after SIGKILL: {left}"
    for port in (tport, uport, aport):
        deadline = time.monotonic() + 10
        while not port_free(port) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert port_free(port), f"port {port} still held"
