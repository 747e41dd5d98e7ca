"""`python -m bench` (= `make bench`): every benchmark, then docs/benchmarks.md is rewritten.

Runs in well under 15 minutes on 2 cores. `--quick` uses small counts (a smoke
run, minutes); `--only overhead,faults` runs a subset (the report marks the rest
"not run"). Raw results go to docs/benchmarks.json next to the report.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
import traceback
from datetime import UTC, datetime
from typing import Any

from bench import analytics, api_overhead, approvals, codec, faults, overhead, profile, report
from bench.common import ROOT, loadavg, machine_facts

SECTIONS = (
    "overhead",
    "approvals",
    "api_overhead",
    "faults",
    "profile",
    "codec",
    "analytics",
)


def plan(quick: bool) -> dict[str, Any]:
    """What each section runs with, full or quick."""
    if quick:
        return {
            "overhead": lambda: overhead.run(rounds=2, scale=0.15),
            "approvals": lambda: approvals.run(n=50, reads=100),
            "api_overhead": lambda: api_overhead.run(n=50),
            "faults": lambda: faults.run(n=30),
            "profile": lambda: profile.run(n=20),
            "codec": lambda: codec.run(rounds=2, scale=0.15),
            "analytics": lambda: analytics.run(n=30, synthetic=2000, reps=10),
        }
    return {
        "overhead": lambda: overhead.run(rounds=6, scale=0.5),
        "approvals": lambda: approvals.run(n=1000, reads=400),
        "api_overhead": lambda: api_overhead.run(n=200),
        "faults": lambda: faults.run(n=200),
        "profile": lambda: profile.run(n=100),
        "codec": lambda: codec.run(rounds=6, scale=0.5),
        "analytics": lambda: analytics.run(n=200, synthetic=10_000),
    }


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small counts (smoke run)")
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(only) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    res: dict[str, Any] = {
        "command": "make bench" if not argv else "python -m bench " + " ".join(argv),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_facts(),
    }
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
