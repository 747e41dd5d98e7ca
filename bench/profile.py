"""Where the interpreter's CPU goes: py-spy sampling this process while relayflow runs execute.

py-spy (test extras) attaches to the bench process itself (client + in-process
worker) and records collapsed stacks while a batch of relayflow runs of one
shape executes; the same is done for the hand-written twin so the report can
say which frames only the engine pays for. Output: the share of samples per
function, self (leaf) and inclusive, restricted to where it is actionable.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import harness
from bench.common import ROOT
from bench.dags import SHAPES
from bench.overhead import SideStats, batch

PROJECT_DIRS = ("workflows/", "activities/", "bench/", "api/")
#: the bench's own client-side frames: excluded from the project tables
HARNESS = ("(bench/__main__.py)", "(bench/profile.py)", "(bench/overhead.py)", "(bench/harness.py)")


def py_spy() -> str | None:
    candidate = Path(sys.executable).parent / "py-spy"
    return str(candidate) if candidate.exists() else shutil.which("py-spy")


#: leaf frames that mean "waiting", not working (py-spy's idle detection misses them here)
IDLE_LEAVES = ("EpollSelector.select (", "_worker (thread.py)", "Condition.wait (", "_wait (tasks.py)")
#: a sample is in workflow code (activation) / in an activity when its stack has this frame
ACTIVATION = ("_RunningWorkflow.activate (", "_Instance._run_code (")
ACTIVITY = "_ActivityWorker._execute_activity ("


@dataclass
class Profile:
    """Counts of busy samples (idle leaves dropped) of one py-spy recording."""

    total: int = 0
    busy: int = 0
    activation: int = 0
    activity: int = 0
    self_c: Counter[str] = field(default_factory=Counter)
    incl: Counter[str] = field(default_factory=Counter)
    #: each sample charged to the deepest project frame on its stack (its callees included)
    deepest: Counter[str] = field(default_factory=Counter)


def parse_collapsed(path: Path) -> Profile:
    """Busy-sample counts per frame `func (file)`, self (leaf) and inclusive."""
    prof = Profile()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        prof.total += n
        frames = [_name(f) for f in stack.split(";")]
        if frames[-1].startswith(IDLE_LEAVES):
            continue
        prof.busy += n
        prof.activation += n if any(f.startswith(ACTIVATION) for f in frames) else 0
        prof.activity += n if any(f.startswith(ACTIVITY) for f in frames) else 0
        prof.self_c[frames[-1]] += n
        for f in set(frames):
            prof.incl[f] += n
        mine = [f for f in frames if _is_project(f)]
        if mine:
            prof.deepest[mine[-1]] += n
    return prof


def _is_project(frame: str) -> bool:
    return any(f"({d}" in frame for d in PROJECT_DIRS) and not frame.endswith(HARNESS)


def _name(frame: str) -> str:
    """`func (path/to/file.py:123)` → `func (workflows/file.py)` for project files, else
    `func (file.py)` (library files by base name: `fastapi/routing.py` is not `api/`)."""
    func, _, where = frame.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    rel = where.removeprefix(f"{ROOT}/")
    if rel.startswith(PROJECT_DIRS):
        return f"{func} ({rel})"
    return f"{func} ({os.path.basename(where)})"


def top(counter: Counter[str], total: int, k: int, only_project: bool = False) -> list[tuple[str, float]]:
    rows = [
        (name, 100 * n / total)
        for name, n in counter.most_common()
        if not only_project or _is_project(name)
    ]
    return rows[:k]


async def profile_side(rig: harness.Rig, side: str, shape: str, n: int, rate: int) -> dict[str, Any]:
    exe = py_spy()
    if exe is None:
        return {"error": "py-spy not installed (pip install -e '.[test]')"}
    doc, _ = SHAPES[shape]
    plan = harness.compile_doc(doc)
    client, tq = rig.client, rig.task_queue
    if side == "relayflow":
        def start(rid: str) -> Any:
            return harness.start_relayflow(client, plan, tq, run_id=rid)
    else:
        def start(rid: str) -> Any:
            return harness.start_handwritten(client, shape, tq, run_id=rid)
    await batch(start, "warm", 5, 5, SideStats(), None)
    workdir = Path(tempfile.mkdtemp(prefix="relayflow-spy-"))
    out, log = workdir / f"{side}.txt", workdir / f"{side}.log"
    with log.open("wb") as err:  # a file, not a pipe: py-spy's warnings must never block it
        spy = subprocess.Popen(
            [exe, "record", "--pid", str(os.getpid()), "--rate", str(rate), "--format", "raw",
             "--nonblocking", "--output", str(out)],
            stdout=subprocess.DEVNULL, stderr=err,
        )
    await asyncio.sleep(1.0)  # let py-spy attach
    stats = SideStats()
    await batch(start, f"spy-{side}", n, 10, stats, None)
    spy.send_signal(signal.SIGINT)
    await asyncio.to_thread(spy.wait)
    if not out.exists():
        return {"error": f"py-spy wrote nothing: {log.read_text(errors='replace')[-500:]}"}
    prof = parse_collapsed(out)
    runs = max(stats.runs, 1)
    return {
        "runs": stats.runs,
        "failed_runs": stats.failed,
        "samples": prof.total,
        "busy_per_run": prof.busy / runs,
        "activation_per_run": prof.activation / runs,
        "activity_per_run": prof.activity / runs,
        "self_top": top(prof.self_c, prof.busy, 15),
        "inclusive_project": top(prof.incl, prof.busy, 25, only_project=True),
        "deepest_project": top(prof.deepest, prof.busy, 20),
        "raw": str(out),
    }


async def run(shape: str = "linear-20", n: int = 60, rate: int = 250) -> dict[str, Any]:
    async with harness.rig() as rig:
        return {
            "shape": shape,
            "rate_hz": rate,
            "relayflow": await profile_side(rig, "relayflow", shape, n, rate),
            "handwritten": await profile_side(rig, "handwritten", shape, n, rate),
        }


if __name__ == "__main__":
    res = asyncio.run(run(n=int(sys.argv[1]) if len(sys.argv) > 1 else 30))
    for side in ("relayflow", "handwritten"):
        r = res[side]
        print(f"== {side}: {r.get('samples')} samples; per run: busy {r.get('busy_per_run', 0):.1f}, "
              f"activation {r.get('activation_per_run', 0):.1f}, activity {r.get('activity_per_run', 0):.1f} "
              f"{r.get('error', '')}")
        for name, pct in r.get("deepest_project", []):
            print(f"  {pct:5.1f}%  {name}")
        print("  -- self")
        for name, pct in r.get("self_top", []):
            print(f"  {pct:5.1f}%  {name}")
