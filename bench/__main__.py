"""`python -m bench` (= `make bench`): every benchmark, then docs/benchmarks.md is rewritten.

Runs in about 20 minutes on 2 cores. `--quick` uses small counts (a smoke run, a
few minutes); `--only overhead,faults` runs a subset (the report marks the rest
"not run"); `--long` adds the long sections (`bigfan`), which run otherwise only
when named in `--only`. Raw results go to docs/benchmarks.json next to the report.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import sys
import time
import traceback
from datetime import UTC, datetime
from typing import Any

import worker as relayflow_worker
from bench import (
    analytics,
    api_latency,
    api_overhead,
    approvals,
    codec,
    faults,
    overhead,
    profile,
    report,
    scaleout,
    startsize,
)
from bench.common import ROOT, loadavg, machine_facts

SECTIONS = (
    "overhead",
    "approvals",
    "api_overhead",
    "faults",
    "profile",
    "codec",
    "analytics",
    "startsize",
    "scaleout",
    "api_latency",
)
#: the overhead shapes of a quick run (linear-100 alone would take a minute there)
QUICK_SHAPES = [s for s in overhead.SHAPES if s != "linear-100"]
#: long sections: only with `--long` or when named in `--only`
LONG_SECTIONS = ("bigfan",)


async def bigfan(quick: bool) -> dict[str, Any]:
    """`bench.bigfan` (written separately); "not available" when the module is missing."""
    try:
        mod = importlib.import_module("bench.bigfan")
    except ModuleNotFoundError as exc:
        if exc.name != "bench.bigfan":
            raise
        return {"skipped": "not available (bench/bigfan.py is missing)"}
    result: dict[str, Any] = await mod.run(quick)
    return result


def plan(quick: bool) -> dict[str, Any]:
    """What each section runs with, full or quick."""
    if quick:
        return {
            "overhead": lambda: overhead.run(
                shapes=QUICK_SHAPES, rounds=2, scale=0.05, floor=4, unloaded_runs=1
            ),
            "approvals": lambda: approvals.run(n=50, reads=100),
            "api_overhead": lambda: api_overhead.run(n=50),
            "faults": lambda: faults.run(n=20),
            "profile": lambda: profile.run(n=20),
            "codec": lambda: codec.run(rounds=2, scale=0.15),
            "analytics": lambda: analytics.run(n=20, synthetic=1000, reps=5),
            "startsize": startsize.run,
            "scaleout": lambda: scaleout.run(quick=True),
            "api_latency": lambda: api_latency.run(open_runs=100, posts=50, gets=100, inbox_reads=10),
            "bigfan": lambda: bigfan(quick=True),
        }
    return {
        "overhead": lambda: overhead.run(rounds=10, scale=0.5, unloaded_runs=4),
        "approvals": lambda: approvals.run(n=1000, reads=400),
        "api_overhead": lambda: api_overhead.run(n=200),
        "faults": lambda: faults.run(n=200),
        "profile": lambda: profile.run(n=100),
        "codec": lambda: codec.run(rounds=6, scale=0.5),
        "analytics": lambda: analytics.run(n=200, synthetic=10_000),
        "startsize": startsize.run,
        "scaleout": lambda: scaleout.run(quick=False),
        "api_latency": lambda: api_latency.run(open_runs=1000, posts=200, gets=300, inbox_reads=20),
        "bigfan": lambda: bigfan(quick=False),
    }


def chosen(only: str, long: bool) -> list[str]:
    """The sections to run: those named (comma-separated), else all but the long ones;
    `long` adds the long ones."""
    names = [s.strip() for s in only.split(",") if s.strip()] or list(SECTIONS)
    if long:
        names += [s for s in LONG_SECTIONS if s not in names]
    return names


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small counts (smoke run)")
    parser.add_argument(
        "--only", default="",
        help=f"comma-separated sections (default: all but the long ones): {', '.join(SECTIONS + LONG_SECTIONS)}",
    )
    parser.add_argument("--long", action="store_true", help=f"add the long sections ({', '.join(LONG_SECTIONS)})")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    only = chosen(args.only, args.long)
    unknown = set(only) - set(SECTIONS) - set(LONG_SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    res: dict[str, Any] = {
        "command": "make bench" if not argv else "python -m bench " + " ".join(argv),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_facts(),
    }
    # the worker's collector settings, process-wide: every side's worker runs in here
    relayflow_worker.tune_gc()
    res["machine"]["gc thresholds (worker.tune_gc)"] = str(relayflow_worker.GC_THRESHOLDS)
    t0 = time.monotonic()
    todo = plan(args.quick)
    res["sections"] = []
    for name in only:
        print(f"== {name}", flush=True)
        s0 = time.monotonic()
        try:
            res[name] = await todo[name]()
        except Exception as exc:  # noqa: BLE001 - one broken section must not lose the others
            traceback.print_exc()
            res[name] = {"error": f"{type(exc).__name__}: {exc}"}
        took = time.monotonic() - s0
        res["sections"].append({"section": name, "seconds": round(took), "load_after": loadavg()})
        print(f"   {name} took {took:.0f} s", flush=True)
    res["seconds"] = time.monotonic() - t0
    res["load_end"] = loadavg()
    path = report.write(res)
    (ROOT / "docs" / "benchmarks.json").write_text(json.dumps(res, indent=1, default=str))
    print(f"wrote {path.relative_to(ROOT)} in {res['seconds'] / 60:.1f} min")
    return 1 if any(isinstance(res.get(s), dict) and "error" in res[s] for s in only) else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
