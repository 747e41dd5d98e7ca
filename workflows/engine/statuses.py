"""`Statuses`: the step statuses of a run by address, created when a step first changes.

A run registers every step of a frame when the frame starts (the status document
lists them all, `pending` until they run), but most steps of a long run are pending
for most of it: building a `StepStatus` for each up front cost O(steps) pydantic
objects per run, and scanning them more. Here a registered address has no object until
something writes to it (`statuses[addr]` creates it); readers that only look use
`peek` (a shared, read-only pending status). Iteration, `in`, `len` and `get` behave
as if every registered address held its status, in registration order — so the
status document and the continue-as-new carry are the same as with eager statuses.

Workflow code only: deterministic, no I/O.
"""

from __future__ import annotations

from collections.abc import ItemsView, Iterator, KeysView, ValuesView
from typing import Any

from workflows.engine.io import StepStatus

#: what `peek` returns for a registered step that has not changed yet: never mutate it
PENDING = StepStatus()


class Statuses(dict[str, StepStatus]):
    """Step statuses by address; registered addresses read as `pending` until written."""

    def __init__(self, initial: dict[str, StepStatus] | None = None) -> None:
        super().__init__(initial or {})
        #: every known address (registered or written), in the order first seen
        self._known: dict[str, None] = dict.fromkeys(self.keys_stored())

    def keys_stored(self) -> list[str]:
        return list(dict.__iter__(self))

    def register(self, address: str) -> StepStatus | None:
        """Make `address` known (pending); its status if it already has one."""
        self._known.setdefault(address)
        return dict.get(self, address)

    def peek(self, address: str) -> StepStatus:
        """The status to read (not to change): `PENDING` for a registered, unchanged step."""
        st = dict.get(self, address)
        if st is not None:
            return st
        if address in self._known:
            return PENDING
        raise KeyError(address)

    def snapshot(self) -> dict[str, StepStatus]:
        """A plain dict of every known address (registration order); pending ones fresh."""
        return {a: dict.get(self, a) or StepStatus() for a in self._known}

    def __missing__(self, address: str) -> StepStatus:
        if address not in self._known:
            raise KeyError(address)
        st = StepStatus()
        dict.__setitem__(self, address, st)
        return st

    def __setitem__(self, address: str, status: StepStatus) -> None:
        self._known.setdefault(address)
        dict.__setitem__(self, address, status)

    def __delitem__(self, address: str) -> None:
        dict.__delitem__(self, address)
        self._known.pop(address, None)

    def pop(self, address: str, default: Any = None) -> Any:  # type: ignore[override]
        """Forget `address` (pruning): its status if it had changed, else `default`."""
        if address not in self._known:
            return default
        del self._known[address]
        return dict.pop(self, address, default)

    def __contains__(self, address: object) -> bool:
        return address in self._known

    def __iter__(self) -> Iterator[str]:
        return iter(self._known)

    def __len__(self) -> int:
        return len(self._known)

    def get(self, address: str, default: Any = None) -> Any:  # type: ignore[override]
        """The status of a known address (a fresh pending one if unchanged), else `default`."""
        if address not in self._known:
            return default
        return dict.get(self, address) or StepStatus()

    def keys(self) -> KeysView[str]:  # type: ignore[override]
        return self._known.keys()

    def items(self) -> ItemsView[str, StepStatus]:  # type: ignore[override]
        return self.snapshot().items()

    def values(self) -> ValuesView[StepStatus]:  # type: ignore[override]
        return self.snapshot().values()
