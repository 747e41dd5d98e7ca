"""How long a template test takes: every case of `templates/tests/`, through the API.

`python -m bench.template_tests [--reps N]` starts a dev server and the API in-process
(its in-process test worker polls the test task queue), saves the built-in templates
and the demo connections, then runs each case `reps` times, one at a time. Wall time
per case = `POST /templates/{name}/test` from request to answer (what `relayflow test`
waits for), and the run's own `duration_ms` (start to end of the test run). Results go
to stdout and `docs/benchmarks-template-tests.json`; docs/testing.md quotes them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from typing import Any

import yaml

from bench.api_rig import ADMIN, api
from bench.common import ROOT, loadavg, machine_facts, summary_ms
from cli.template_cases import compare, load
from tests.helpers.connections import demo_definitions
from tests.helpers.temporal import start_dev_server

OUT = ROOT / "docs" / "benchmarks-template-tests.json"


async def run(reps: int = 5) -> dict[str, Any]:
    env = await start_dev_server()
    results: dict[str, Any] = {"reps": reps, "load_before": loadavg(), "cases": []}
    try:
        async with api(env.client, f"bench-tt-{uuid.uuid4().hex[:6]}") as rig:
            for conn in demo_definitions("http://127.0.0.1:9"):  # nothing listens: nothing is called
                r = await rig.http.post("/connections", json=conn, headers=ADMIN)
                assert r.status_code == 201, r.text
            for path in sorted((ROOT / "templates" / "tests").glob("*.yaml")):
                doc = yaml.safe_load((ROOT / "templates" / f"{path.stem}.yaml").read_text())
                await rig.save_template(doc)
                for case in load(path).cases:
                    wall, runs = [], []
                    for _ in range(reps):
                        t0 = time.perf_counter()
                        r = await rig.http.post(
                            f"/templates/{path.stem}/test", json=case.body, headers=ADMIN
                        )
                        wall.append(time.perf_counter() - t0)
                        body = r.json()
                        if r.status_code != 200 or compare(case.expect, body):
                            raise RuntimeError(f"{path.stem} / {case.name}: {r.status_code} {body}")
                        runs.append(body["duration_ms"] / 1000)
                    results["cases"].append({
                        "template": path.stem, "case": case.name,
                        "wall_ms": summary_ms(wall), "run_ms": summary_ms(runs),
                    })
    finally:
        await env.shutdown()
    results["load_after"] = loadavg()
    results["machine"] = machine_facts()
    return results


def show(results: dict[str, Any]) -> None:
    print(f"{'template':22} {'case':52} {'wall p50':>9} {'wall max':>9} {'run p50':>8}")
    for c in results["cases"]:
        w, r = c["wall_ms"], c["run_ms"]
        print(f"{c['template']:22} {c['case'][:52]:52} {w['p50_ms']:8.0f}ms {w['max_ms']:8.0f}ms "
              f"{r['p50_ms']:7.0f}ms")
    worst = max(c["wall_ms"]["max_ms"] for c in results["cases"])
    print(f"slowest case (wall, max of {results['reps']}): {worst:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.template_tests", description=__doc__)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    results = asyncio.run(run(args.reps))
    show(results)
    OUT.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
