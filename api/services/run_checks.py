"""Checks on a run's input before it starts: shape, `input_schema`, and the worker's view.

Every way of starting a run (`POST /runs`, schedules, webhook triggers) goes
through `api.services.starting.prepare`, which calls these:

- `check_shape`: nesting at most `RUN_INPUT_MAX_DEPTH` levels, no NaN/Infinity,
  no lone surrogates (input nested 250 deep was accepted and then no worker could
  decode it: the run retried its first workflow task forever);
- `check_schema`: the template's `input_schema`, in a worker thread with a time
  limit (`CHECK_TIMEOUT`), so a slow check cannot stall the event loop (patterns
  run on RE2, see `workflows.language.json_schemas`);
- `check_payload`: the workflow input encoded and decoded with the data converter
  the workers use, and the input's encoded size against `RUN_INPUT_MAX_BYTES`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from temporalio.contrib.pydantic import pydantic_data_converter

from api.errors import ErrorItem, Invalid
from settings import Settings
from workflows.engine.io import RunInput
from workflows.language import jsonsafe

T = TypeVar("T")

#: threads for checks that may run long; a stuck check holds one of these, not the loop
_LIMITER: anyio.CapacityLimiter | None = None

#: the converter the workers use (worker.py connects with it)
CONVERTER = pydantic_data_converter


def _limiter() -> anyio.CapacityLimiter:
    global _LIMITER
    if _LIMITER is None:
        _LIMITER = anyio.CapacityLimiter(4)
    return _LIMITER


async def in_thread(fn: Callable[[], T], seconds: float, what: str, setting: str) -> T:
    """`fn()` in a worker thread; `Invalid` (422) naming the limit when it takes longer.

    The thread cannot be stopped: it finishes in the background (bounded by the
    limiter), but the request is answered at the time limit."""
    try:
        with anyio.fail_after(seconds):
            return await anyio.to_thread.run_sync(fn, abandon_on_cancel=True, limiter=_limiter())
    except TimeoutError:
        raise Invalid(
            f"{what} took longer than {seconds:g} s ({setting})",
            [ErrorItem(loc="input", msg=f"{what} took too long")],
        ) from None


def check_shape(data: Any, settings: Settings, where: str = "input") -> None:
    try:
        jsonsafe.check(data, max_depth=settings.run_input_max_depth, where=where)
    except jsonsafe.UnsafeJSON as e:
        detail = e.problem
        if "nested too deeply" in detail:
            detail += " (RUN_INPUT_MAX_DEPTH)"
        raise Invalid(f"{e.where}: {detail}", [ErrorItem(loc=e.where, msg=detail)]) from None


async def check_schema(check: Callable[[], None], settings: Settings) -> None:
    await in_thread(
        check, settings.check_timeout, "checking the input against input_schema", "CHECK_TIMEOUT"
    )


def _round_trip(run: RunInput, limit: int) -> None:
    try:
        [encoded_input] = CONVERTER.payload_converter.to_payloads([run.input])
        size = len(encoded_input.data)
        if size > limit:
            raise Invalid(
                f"input is {size} bytes once encoded, more than {limit} (RUN_INPUT_MAX_BYTES)",
                [ErrorItem(loc="input", msg="too large")],
            )
        payloads = CONVERTER.payload_converter.to_payloads([run])
        [back] = CONVERTER.payload_converter.from_payloads(payloads, [RunInput])
    except Invalid:
        raise
    except Exception as e:  # noqa: BLE001 - whatever the converter says, the worker would too
        raise Invalid(
            f"the run's input cannot be decoded by the workers: {e}",
            [ErrorItem(loc="input", msg="cannot be decoded")],
        ) from None
    if not isinstance(back, RunInput) or back.input != run.input:
        raise Invalid(
            "the run's input does not survive encoding (e.g. values that are not JSON)",
            [ErrorItem(loc="input", msg="changes when encoded")],
        )


async def check_payload(run: RunInput, settings: Settings) -> None:
    """Encode and decode the workflow input as the workers will (in a thread: up to 1 MiB)."""
    await in_thread(
        functools.partial(_round_trip, run, settings.run_input_max_bytes),
        settings.check_timeout * 2,
        "encoding the run's input",
        "CHECK_TIMEOUT",
    )
