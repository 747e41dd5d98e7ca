"""`python -m bench.scaleworker`: the production worker (`worker.main`) plus the bench's `noop`.

The scale-out bench runs 1, 2 and 4 of these against one dev server. Importing
`bench.noop` registers the `noop` action through `activities.registry.action`, so
`worker.activities()` includes it; everything else is `worker.py` unchanged
(configured by TEMPORAL_ADDRESS / TASK_QUEUE / EGRESS_ALLOW ... like production).
"""

from __future__ import annotations

import asyncio

import bench.noop  # noqa: F401 - registers the `noop` action before the worker lists activities
import worker

if __name__ == "__main__":
    asyncio.run(worker.main())
