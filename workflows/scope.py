"""The expression scope a step sees (SPEC §2 "Expressions").

`input`, `steps.<id>` (state, output, decision, error, attempts — null when not
applicable), `vars`, `run` (id, template, version, started_at) and, inside bodies,
`item`/`index` (foreach) and `iteration` (loop). A body sees the steps of every
enclosing frame plus its own nested steps (the current item/iteration), so a
nested id shadows nothing: ids are unique within a template.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from workflows.io import StepStatus

if TYPE_CHECKING:
    from workflows.runtime import Frame, Runtime

_EMPTY = StepStatus()


def step_view(st: StepStatus | None) -> dict[str, Any]:
    st = st or _EMPTY
    return {
        "state": st.state,
        "output": st.output,
        "decision": st.decision,
        "error": st.error,
        "attempts": st.attempts,
    }


def frames(frame: Frame) -> list[Frame]:
    """The chain of frames from the top level down to `frame`."""
    chain: list[Frame] = []
    cur: Frame | None = frame
    while cur is not None:
        chain.append(cur)
        cur = cur.parent
    return chain[::-1]


def build(rt: Runtime, frame: Frame, **extra: Any) -> dict[str, Any]:
    steps: dict[str, Any] = {}
    scope: dict[str, Any] = {"input": rt.inp.input, "vars": rt.vars, "run": rt.run_info}
    for f in frames(frame):
        for s in f.steps:
            steps[s.id] = step_view(rt.statuses.get(f.address(s.id)))
        scope.update(f.extra)
    scope["steps"] = steps
    scope.update(extra)
    return scope


class LazyScope(Mapping[str, Any]):
    """A scope built on first use.

    Most `with:` values hold no `${{ }}` at all; building the view of every step for
    them made each action cost O(steps) — O(n²) per run (measured in bench/findings.md).
    """

    def __init__(self, build: Callable[[], dict[str, Any]]) -> None:
        self._build = build
        self._data: dict[str, Any] | None = None

    def _scope(self) -> dict[str, Any]:
        if self._data is None:
            self._data = self._build()
        return self._data

    def __getitem__(self, key: str) -> Any:
        return self._scope()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._scope())

    def __len__(self) -> int:
        return len(self._scope())
