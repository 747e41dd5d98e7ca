"""Naming a failure: the message of a Temporal failure chain, and the step that failed a run.

A run failed by a step says which one (SPEC §9): `step '<address>' failed: <error>`,
with `failed_step` = that address in the status document. When the failing top-level
step has a body (foreach, loop), its error is `<nested address>: <nested error>`
(see `workflows/kinds/foreach.py`, `loop.py`): `innermost` follows that chain down to
the nested step that actually failed, so the address is the one to look at (and the
one a `resolve` or a redrive acts on).
"""

from __future__ import annotations

from collections.abc import Mapping

from temporalio.exceptions import FailureError

from workflows.engine.io import StepStatus


def failure_message(err: BaseException) -> str:
    """The innermost meaningful message of a Temporal failure chain."""
    msg = str(err)
    cur: BaseException | None = err
    while cur is not None:
        if isinstance(cur, FailureError) and cur.message:
            msg = cur.message
        cur = cur.cause if isinstance(cur, FailureError) else None
    return msg


def innermost(statuses: Mapping[str, StepStatus], address: str, error: str) -> tuple[str, str]:
    """(address, error) of the nested step whose failure made `address` fail with `error`."""
    while True:
        nested, sep, rest = error.partition(": ")
        if not sep or not nested.startswith(f"{address}["):
            return address, error
        st = statuses.get(nested)
        if st is None or st.state != "failed" or st.error != rest:
            return address, error
        address, error = nested, rest


def run_error(address: str, error: str) -> str:
    """The run's error when the step at `address` failed it."""
    return f"step '{address}' failed: {error}"
