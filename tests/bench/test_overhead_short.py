"""The overhead harness end to end on small counts: both sides run, and a relayflow run of
n linear actions writes exactly the history a hand-written workflow does (SPEC §3).

Ratios are measured by `python -m bench`, never asserted here (too noisy on shared CI).
"""

from __future__ import annotations

import pytest

from bench import harness
from bench.overhead import measure_shape

pytestmark = pytest.mark.timeout(120)


async def test_linear_history_matches_handwritten_and_both_sides_run() -> None:
    async with harness.rig() as rig:
        for shape in ("linear-5", "diamond-3"):
            res = await measure_shape(rig, shape, rounds=1, n=4, concurrency=4, history_sample=4)
            rf, hw = res["relayflow"], res["handwritten"]
            assert rf["failed"] == hw["failed"] == 0, res
            assert rf["runs"] == hw["runs"] == 4
            # same start/activity/completion events; workflow tasks may batch differently
            # in parallel shapes (timing), never in a linear one
            assert rf["history"]["non_wft"] == hw["history"]["non_wft"], res
            if shape.startswith("linear"):
                assert rf["history"]["min"] == rf["history"]["max"] == 35
                assert hw["history"]["min"] == hw["history"]["max"] == 35
