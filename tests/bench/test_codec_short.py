"""The codec bench (`python -m bench.codec`, section 6 of docs/benchmarks.md) on tiny counts:
all four sides run, and the `+codec` sides really store encrypted payloads.

Ratios are measured by `python -m bench`, never asserted here (too noisy on shared CI).
"""

from __future__ import annotations

import pytest

from bench import codec
from bench.report import codec as render

pytestmark = pytest.mark.timeout(120)


async def test_four_sides_run_and_the_codec_sides_encrypt() -> None:
    res = await codec.run(rounds=1, scale=0.05, concurrency=4)
    for side in codec.SIDES:
        assert res["sides"][side]["runs"] == res["runs_per_batch"] and res["sides"][side]["failed"] == 0
    assert res["input_encoding"] == {
        "relayflow": "json/plain", "handwritten": "json/plain",
        "relayflow+codec": "binary/encrypted", "handwritten+codec": "binary/encrypted",
    }
    text = "\n".join(render(res))
    assert "CPU ratio relayflow / hand-written" in text and "relayflow+codec" in text
