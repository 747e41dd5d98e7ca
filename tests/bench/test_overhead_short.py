"""The overhead harness end to end on small counts: all three sides run, and a relayflow run
of n linear actions writes exactly the history a hand-written workflow does (SPEC §3) —
the wrapped baseline's and the plain one's.

Ratios are measured by `python -m bench`, never asserted here (too noisy on shared CI).
"""

from __future__ import annotations

import pytest

from bench import harness
from bench.overhead import SIDES, measure_shape
from bench.report import overhead as render

pytestmark = pytest.mark.timeout(180)


async def test_linear_history_matches_handwritten_and_all_sides_run() -> None:
    shapes = []
    async with harness.rig(plain_worker=True) as rig:
        for shape in ("linear-5", "diamond-10"):
            res = await measure_shape(rig, shape, rounds=1, n=4, concurrency=4, history_sample=4, step_sample=0)
            shapes.append(res)
            for side in SIDES:
                assert res[side]["failed"] == 0 and res[side]["runs"] == 4, res
            # same start/activity/completion events; workflow tasks may batch differently
            # in parallel shapes (timing), never in a linear one
            for pair in ("relayflow/plain", "relayflow/handwritten"):
                assert res["vs"][pair]["non_wft_equal"], res
            acts = res["activities"]
            for side in SIDES:
                assert res[side]["history"]["step_gaps"]["steps"] == 4 * acts
            if shape.startswith("linear"):
                for side in SIDES:
                    assert res[side]["history"]["min"] == res[side]["history"]["max"] == 35
    text = "\n".join(render({"shapes": shapes, "rounds": 1, "concurrency": 4}))
    assert "diamond-10" in text and "plain" in text
