"""The budget of one CEL evaluation: what it builds and how much CPU it takes.

cel-expr-python has a fixed 10,000-iteration limit and no cost limit, so
`workflows.expressions` meters evaluations itself:

- `split`, `replace` and `join` run as the Python functions below (the expression
  is compiled with them in place of the C++ ones): each charges the size of what
  it builds; an empty `replace` needle is refused (it inserts between every
  character); a `split` feeding `map()`/`filter()` may build at most
  `MAX_BUILD_ELEMENTS` elements (those macros copy their list on every step);
- no value one evaluation builds may exceed `LIMITS.max_value_bytes` (1 MiB);
- no evaluation may use more than `LIMITS.max_cpu_ms` of CPU (100 ms), checked
  at every metered call and after the evaluation. The CPU is the evaluating thread's,
  less what Python's garbage collector spent in that thread meanwhile: a full
  collection of a big worker heap can take longer than the budget, and it is not the
  expression's cost (a tiny expression once failed its step that way on a busy host).

Limits are process settings (`EXPRESSION_MAX_VALUE_BYTES`, `EXPRESSION_MAX_CPU_MS`)
that the worker and the API install with `configure()` at startup: workflow code
cannot read settings. CPU time differs between machines and a limit may change
between deployments, so inside a workflow a budget verdict is *recorded in
history*: a hit writes a patch marker (`relayflow-expression-budget-<n>`, n = the
evaluation's sequence number in the run) and fails the step; a replay never
measures, it takes the verdict from the markers. An evaluation that passed keeps
passing on replay, one that hit the budget fails the same way.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from temporalio import workflow

#: map()/filter() copy their list on each step (quadratic): the elements they may range over
MAX_BUILD_ELEMENTS = 2000
#: marker id prefix in workflow histories
MARKER = "relayflow-expression-budget"


@dataclass
class Limits:
    max_value_bytes: int = 1024 * 1024
    max_cpu_ms: int = 100


LIMITS = Limits()


def configure(*, max_value_bytes: int | None = None, max_cpu_ms: int | None = None) -> None:
    """Install the process's limits (the worker and the API call this once at startup)."""
    if max_value_bytes is not None:
        LIMITS.max_value_bytes = max_value_bytes
    if max_cpu_ms is not None:
        LIMITS.max_cpu_ms = max_cpu_ms


class Hit(Exception):
    """A budget was exceeded; `kind` is one of KINDS, `detail` names the budget."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


KINDS = ("value", "cpu", "elements", "replace")
#: what a replay reports for a hit recorded in history (the measured figures are not kept)
RECORDED = {
    "value": "budget exceeded: the evaluation built a value larger than the value budget "
    "(EXPRESSION_MAX_VALUE_BYTES)",
    "cpu": "budget exceeded: the evaluation used more CPU than its budget (EXPRESSION_MAX_CPU_MS)",
    "elements": f"budget exceeded: map()/filter() over more than {MAX_BUILD_ELEMENTS} elements",
    "replace": "replace() with an empty search string is not allowed",
}


def _mib(n: int) -> str:
    return f"{n / 1048576:g} MiB" if n >= 1048576 else f"{n} bytes"


class Meter:
    """Counters of one evaluation; `enforce=False` on replay (markers decide there)."""

    __slots__ = ("start", "gc_start", "enforce", "builds", "hit", "key", "max_value", "max_cpu")

    def __init__(self, *, enforce: bool = True, builds: int = 0, key: str | None = None) -> None:
        self.start = 0.0  # set when the evaluation starts (`run`)
        self.gc_start = 0.0
        self.enforce = enforce
        self.builds = builds  # 0: no map()/filter(); else 1 + the number of `+`
        self.hit: Hit | None = None
        self.key = key
        self.max_value = LIMITS.max_value_bytes
        self.max_cpu = LIMITS.max_cpu_ms

    def fail(self, hit: Hit) -> None:
        if self.hit is None:
            self.hit = hit
        raise hit

    def value(self, nbytes: int, what: str) -> None:
        if self.enforce and nbytes > self.max_value:
            self.fail(
                Hit(
                    "value",
                    f"budget exceeded: {what} would build {_mib(nbytes)}, more than "
                    f"{_mib(self.max_value)} (EXPRESSION_MAX_VALUE_BYTES)",
                )
            )

    def elements(self, n: int, what: str) -> None:
        if self.enforce and self.builds and n * self.builds > MAX_BUILD_ELEMENTS:
            self.fail(
                Hit(
                    "elements",
                    f"budget exceeded: map()/filter() over {what} with more than "
                    f"{MAX_BUILD_ELEMENTS // self.builds} elements ({n}); use "
                    "exists()/all()/size() or reduce the data in an action",
                )
            )

    def cpu(self) -> None:
        if self.hit is not None:
            raise self.hit  # stop every further metered call at once
        if not self.enforce:
            return
        used = (time.thread_time() - self.start - (gc_seconds() - self.gc_start)) * 1000
        if used > self.max_cpu:
            self.fail(
                Hit(
                    "cpu",
                    f"budget exceeded: the evaluation used {used:.0f} ms of CPU, more than "
                    f"{self.max_cpu} ms (EXPRESSION_MAX_CPU_MS)",
                )
            )


_local = threading.local()
_gc_clock = threading.local()


def gc_seconds() -> float:
    """CPU seconds the garbage collector has spent in this thread (since the process started
    metering)."""
    total: float = getattr(_gc_clock, "total", 0.0)
    return total


def _time_collections(phase: str, info: dict[str, int]) -> None:
    """A `gc.callbacks` entry: add each collection's thread CPU to this thread's GC clock."""
    if phase == "start":
        _gc_clock.began = time.thread_time()
        return
    began = getattr(_gc_clock, "began", None)
    if began is not None:
        _gc_clock.total = gc_seconds() + time.thread_time() - began
        _gc_clock.began = None


def _install_gc_clock() -> None:
    """Once per process, also should this module be imported a second time."""
    name = _time_collections.__qualname__
    if not any(
        getattr(cb, "__qualname__", None) == name and getattr(cb, "__module__", None) == __name__
        for cb in gc.callbacks
    ):
        gc.callbacks.append(_time_collections)


_install_gc_clock()


def current() -> Meter | None:
    meter: Meter | None = getattr(_local, "meter", None)
    return meter


# ------------------------------------------------------------ workflow replay


def _writable_workflow() -> bool:
    return workflow.in_workflow() and not workflow.unsafe.is_read_only()


def begin(builds: int) -> Meter:
    """A meter for the next evaluation; on replay, raise the hit the history recorded."""
    if not _writable_workflow():
        return Meter(builds=builds)
    instance = workflow.instance()
    if instance is None:  # evaluated while the workflow object is being built
        return Meter(builds=builds)
    seq = getattr(instance, "_relayflow_evaluations", 0) + 1
    instance._relayflow_evaluations = seq
    key = f"{MARKER}-{seq}"
    if workflow.unsafe.is_replaying():
        if workflow.patched(key):
            for kind in KINDS:
                if workflow.patched(f"{key}-{kind}"):
                    raise Hit(kind, RECORDED[kind])
            raise Hit("cpu", RECORDED["cpu"])  # a marker without a kind: not written today
        return Meter(enforce=False, builds=builds)
    return Meter(builds=builds, key=key)


def record(meter: Meter, hit: Hit) -> None:
    """Write the verdict into history (a first execution inside a workflow only)."""
    if meter.key is not None and meter.enforce:
        workflow.patched(meter.key)
        workflow.patched(f"{meter.key}-{hit.kind}")


def run(meter: Meter, fn: Callable[[], Any]) -> Any:
    """`fn()` with `meter` as the current meter of this thread.

    Inside the workflow sandbox this runs unrestricted: the sandbox proxies even
    `threading.local` and `time.thread_time`, and what runs here is this module's
    metering around a pure CEL evaluation (no I/O, no clock decides anything)."""
    if workflow.unsafe.in_sandbox() and not workflow.unsafe.is_sandbox_unrestricted():
        with workflow.unsafe.sandbox_unrestricted():
            return _run(meter, fn)
    return _run(meter, fn)


def _run(meter: Meter, fn: Callable[[], Any]) -> Any:
    previous = getattr(_local, "meter", None)
    _local.meter = meter
    meter.gc_start = gc_seconds()
    meter.start = time.thread_time()
    try:
        return fn()
    finally:
        _local.meter = previous


# ------------------------------------------------------------ metered functions


def _meter() -> Meter | None:
    meter = current()
    if meter is not None:
        meter.cpu()
    return meter


def split(s: str, sep: str, n: int = -1) -> list[str]:
    """CEL `string.split(sep[, n])`: n < 0 all parts, 0 none, n > 0 at most n parts."""
    meter = _meter()
    if n == 0:
        return []
    if sep == "":
        chars = list(s)
        parts = chars if n < 0 or n >= len(chars) else [*chars[: n - 1], "".join(chars[n - 1 :])]
    else:
        parts = s.split(sep, n - 1 if n > 0 else -1)
    if meter is not None:
        meter.value(len(s) + 3 * len(parts), "split()")
        meter.elements(len(parts), "split() results")
    return parts


def replace(s: str, old: str, new: str, n: int = -1) -> str:
    """CEL `string.replace(old, new[, n])`; an empty `old` is refused."""
    meter = _meter()
    if old == "":
        hit = Hit("replace", RECORDED["replace"])
        if meter is not None:
            meter.fail(hit)
        raise hit
    if n == 0:
        return s
    count = s.count(old) if n < 0 else min(n, s.count(old))
    if meter is not None:
        meter.value(len(s) + count * (len(new) - len(old)), "replace()")
    return s.replace(old, new, n if n > 0 else -1)


def join(items: list[Any], sep: str = "") -> str:
    """CEL `list.join([sep])` of a list of strings."""
    meter = _meter()
    if not all(isinstance(i, str) for i in items):
        raise TypeError("join() needs a list of strings")
    if meter is not None:
        meter.value(sum(len(i) for i in items) + len(sep) * max(len(items) - 1, 0), "join()")
    return sep.join(items)


def size_of(value: Any, limit: int) -> int:
    """JSON-ish size of a value, counting up to just past `limit` (then it stops)."""
    total = 0
    stack = [value]
    while stack and total <= limit:
        v = stack.pop()
        if isinstance(v, str | bytes):
            total += len(v) + 2
        elif isinstance(v, dict):
            total += 2 + len(v)
            for k, item in v.items():
                stack.append(k)
                stack.append(item)
        elif isinstance(v, list | tuple):
            total += 2 + len(v)
            stack.extend(v)
        else:
            total += 8
    return total
