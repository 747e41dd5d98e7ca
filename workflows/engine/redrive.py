"""Redrive (SPEC §9): what a new execution of a failed run keeps from the one before.

The API reads the previous execution's final status document and calls `plan` with the
template that execution ran; the result travels in `RunInput.redrive`, and the new
execution's `Runtime` starts from it (`seed`). Nothing here runs for a plain run.

What is carried — per frame (the top level, each foreach item, the resumed loop
iteration), in dependency order:

- a step that `succeeded`, has the default `run_if` (`all_succeeded`) and whose
  dependencies are all carried keeps its status (output, decision, attempts...), marked
  `carried: true`, with everything nested in it; it does not run again;
- cleanup and compensation steps (any other `run_if`) are never carried, and neither is
  anything downstream of a step that runs again: they are evaluated anew;
- a failed or cancelled `foreach` runs again, each item keeping its carried nested
  steps (an item whose steps were all carried runs nothing); items pruned from the
  status document (workflows.engine.bodies) that succeeded keep their output
  (`RedriveInput.items`), pruned failed items run again from scratch; a failed `loop` resumes at
  the iteration it stopped in (earlier iterations are kept as they were); a failed
  `subflow` step starts its child again as a redrive of the child's failed run (the API
  builds that child's plan the same way, `children`);
- `vars` are what the carried `set` steps wrote, in the order they finished (what the
  `set` steps of pruned items/iterations wrote comes first: they finished earlier).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Protocol

from workflows.engine.io import RedriveInput, StepStatus
from workflows.language import kinds
from workflows.language.compiler import topo_order
from workflows.language.model import StepBase, Template

_INDEX = re.compile(r"\[\d+\]")


class Seedable(Protocol):
    @property
    def statuses(self) -> dict[str, StepStatus]: ...

    vars: dict[str, Any]
    progress: dict[str, dict[str, Any]]
    seeded: set[str]


def seed(rt: Seedable, redrive: RedriveInput) -> None:
    """Start a redriven execution from what the previous one left (not after continue-as-new:
    then the carry has it all)."""
    for address, st in redrive.steps.items():
        rt.statuses[address] = st.model_copy(update={"carried": True})
    rt.vars.update(redrive.vars)
    for address, iteration in redrive.loops.items():
        rt.progress[address] = {"iteration": iteration}
        rt.seeded.add(address)
    for address, outputs in redrive.items.items():
        rt.progress[address] = {"done": {str(i): out for i, out in outputs.items()}}
        rt.seeded.add(address)


def path_of(address: str) -> str:
    """`fe[3].call` -> `fe.call`: a step address without item/iteration indexes."""
    return _INDEX.sub("", address)


def steps_by_path(template: Template) -> dict[str, StepBase]:
    """Every step of a template by path (`parent.child` for nested steps)."""
    found: dict[str, StepBase] = {}

    def walk(steps: list[StepBase], prefix: str) -> None:
        for step in steps:
            found[prefix + step.id] = step
            walk(step.body(), f"{prefix}{step.id}.")

    walk(template.steps, "")
    return found


def plan(template: Template, statuses: Mapping[str, StepStatus]) -> tuple[RedriveInput, list[str]]:
    """What a redrive of a run that ran `template` and ended with `statuses` carries, and
    the addresses of the failed `subflow` steps whose children are to be redriven too."""
    out = RedriveInput()
    children: list[str] = []
    pruned: dict[str, Any] = {}
    _frame(template.steps, "", statuses, out, children, pruned)
    out.vars = {**pruned, **_vars(template, out.steps)}
    return out, children


def _frame(
    steps: list[StepBase],
    prefix: str,
    statuses: Mapping[str, StepStatus],
    out: RedriveInput,
    children: list[str],
    pruned: dict[str, Any],
) -> None:
    by_id = {s.id: s for s in steps}
    carried: set[str] = set()
    for sid in topo_order(steps):
        step, address = by_id[sid], prefix + sid
        st = statuses.get(address)
        if st is None or step.run_if != "all_succeeded":
            continue
        if not all(d in carried for d in step.depends_on):
            continue
        if st.body is not None and st.body.vars and st.state != "skipped":
            pruned.update(st.body.vars)  # what its pruned items/iterations wrote
        if st.state == "succeeded":
            carried.add(sid)
            out.steps[address] = _carried(st)
            _copy_nested(address, statuses, out)
        elif st.state in ("failed", "cancelled"):
            if step.body():
                _body(step, address, statuses, out, children, pruned)
            elif step.kind == "subflow":
                children.append(address)


def _body(
    step: StepBase,
    address: str,
    statuses: Mapping[str, StepStatus],
    out: RedriveInput,
    children: list[str],
    pruned: dict[str, Any],
) -> None:
    """A foreach reruns every item keeping what succeeded; a loop resumes at its last iteration."""
    st = statuses[address]
    if step.kind == "foreach" and st.body is not None and st.body.outputs:
        out.items[address] = dict(st.body.outputs)  # pruned items that succeeded
    head = f"{address}["
    indexes = sorted({int(k[len(head) : k.index("]", len(head))]) for k in statuses if k.startswith(head)})
    if not indexes:
        return
    if step.kind == "loop":  # iterations are sequential: resume where it stopped
        last = indexes[-1]
        out.loops[address] = last
        for i in indexes[:-1]:
            _copy_nested(f"{address}[{i}]", statuses, out)
        indexes = [last]
    for i in indexes:
        _frame(step.body(), f"{address}[{i}].", statuses, out, children, pruned)


def _copy_nested(address: str, statuses: Mapping[str, StepStatus], out: RedriveInput) -> None:
    """Everything nested under `address` (a carried container, or a finished loop iteration)."""
    head = f"{address}[" if not address.endswith("]") else f"{address}."
    for k, st in statuses.items():
        if k.startswith(head):
            out.steps[k] = _carried(st)


def _carried(st: StepStatus) -> StepStatus:
    return st.model_copy(deep=True, update={"carried": True})


def _vars(template: Template, carried: Mapping[str, StepStatus]) -> dict[str, Any]:
    """`vars` as the carried `set` steps wrote them (last finished wins)."""
    by_path = steps_by_path(template)
    writes = []
    for address, st in carried.items():
        step = by_path.get(path_of(address))
        kind = kinds.get(step.kind) if step is not None else None
        if kind is not None and kind.writes is not None and isinstance(st.output, dict):
            writes.append((st.finished_at.isoformat() if st.finished_at else "", address, st.output))
    values: dict[str, Any] = {}
    for _, _, output in sorted(writes, key=lambda w: (w[0], w[1])):
        values.update(output)
    return values


def incompatible(carried: Mapping[str, StepStatus], old: Template, new: Template) -> list[str]:
    """Paths of carried steps that `new` lacks or runs as another kind (a redrive onto `new`
    would be meaningless for them)."""
    before, after = steps_by_path(old), steps_by_path(new)
    bad: set[str] = set()
    for address in carried:
        p = path_of(address)
        was, now = before.get(p), after.get(p)
        if was is None or now is None or now.kind != was.kind:
            bad.add(p)
    return sorted(bad)
