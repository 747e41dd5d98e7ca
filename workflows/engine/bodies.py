"""Finished foreach items / loop iterations: keep the last few, summarise the rest.

A loop of 30,000 iterations used to keep every iteration's nested step statuses: the
status query outgrew the gRPC message limit (issue 20). Now a finished body (item or
iteration) keeps its nested statuses only while it is among the last `keep` finished
ones, or among the first `keep` failed ones; older bodies are *pruned*: their statuses
leave `rt.statuses` — so the status document and the continue-as-new carry stay
bounded — and are summarised in the step's `StepStatus.body` (counts by outcome, how
many were pruned, what their `set` steps wrote, for a redrive's `vars`).

What the step itself needs of a pruned body (a foreach's per-item outputs and errors)
it keeps in its own progress (carried). `keep` is `KEEP`, or per run
`RunInput.carry = {"options": {"keep_bodies": N}}` (tests use small values).

Workflow code only: deterministic, no I/O.
"""

from __future__ import annotations

from typing import Any

from workflows.engine.io import BodySummary
from workflows.engine.runtime import Runtime
from workflows.language.model import StepBase

#: finished bodies (and failed ones) whose nested statuses stay listed, per step
KEEP = 20


class Bodies:
    """The finished-body bookkeeping of one foreach/loop step (state in its `progress`)."""

    def __init__(
        self,
        rt: Runtime,
        address: str,
        steps: list[StepBase],
        progress: dict[str, Any],
        *,
        fresh: bool,
    ) -> None:
        self.rt, self.address, self.steps = rt, address, steps
        self.keep = max(int(rt.options.get("keep_bodies", KEEP)), 1)
        #: finished bodies still listed, oldest first
        self.recent: list[int] = progress.setdefault("recent", [])
        #: failed bodies kept listed (the first `keep`)
        self.kept_failed: list[int] = progress.setdefault("kept_failed", [])
        st = rt.statuses[address]
        if fresh or st.body is None:
            st.body = BodySummary()
        self.summary: BodySummary = st.body

    def finished(self, index: int, failed: bool) -> None:
        """Body `index` finished: count it, and prune the body that falls out of the window."""
        outcome = "failed" if failed else "succeeded"
        self.summary.counts[outcome] = self.summary.counts.get(outcome, 0) + 1
        if failed and len(self.kept_failed) < self.keep:
            self.kept_failed.append(index)
            return
        self.recent.append(index)
        while len(self.recent) > self.keep:
            self.prune(self.recent.pop(0))

    def listed(self, index: int) -> bool:
        """Body `index` still has its nested statuses (not pruned, or never started)."""
        return self.rt.statuses.get(f"{self.address}[{index}].{self.steps[0].id}") is not None

    def prune(self, index: int) -> None:
        """Drop body `index`'s nested statuses (and everything nested in them)."""
        rt, prefix = self.rt, f"{self.address}[{index}]."
        addresses = [prefix + s.id for s in self.steps]
        if any(a in rt.containers for a in addresses):  # rare: nested foreach/loop
            addresses += [k for k in rt.statuses if k.startswith(prefix) and k not in addresses]
        writes: dict[str, Any] = {}
        sets = []
        for a in addresses:
            st = rt.statuses.pop(a, None)
            kind = rt.kinds.pop(a, None)
            rt.containers.discard(a)
            rt.details.pop(a, None)
            if st is None:
                continue
            if st.body is not None and st.body.vars:
                writes.update(st.body.vars)
            if kind == "set" and isinstance(st.output, dict):
                sets.append((st.finished_at.isoformat() if st.finished_at else "", a, st.output))
        for _, _, output in sorted(sets, key=lambda w: (w[0], w[1])):
            writes.update(output)
        if writes:
            self.summary.vars = {**(self.summary.vars or {}), **writes}
        self.summary.pruned += 1
