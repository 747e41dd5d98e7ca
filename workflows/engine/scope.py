"""The expression scope a step sees (SPEC §2 "Expressions").

`input`, `steps.<id>` (state, output, decision, error, attempts — null when not
applicable), `vars`, `run` (id, template, version, started_at) and, inside bodies,
`item`/`index` (foreach) and `iteration` (loop). A body sees the steps of every
enclosing frame plus its own nested steps (the current item/iteration), so a
nested id shadows nothing: ids are unique within a template.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from workflows.engine.frame import Frame
from workflows.engine.io import StepStatus

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


def build(
    base: dict[str, Any], statuses: Mapping[str, StepStatus], frame: Frame, **extra: Any
) -> dict[str, Any]:
    """`base` (input, vars, run) plus the steps of `frame` and its enclosing frames."""
    steps: dict[str, Any] = {}
    scope = dict(base)
    for f in frame.chain():
        for s in f.steps:
            steps[s.id] = step_view(statuses.get(f.address(s.id)))
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
