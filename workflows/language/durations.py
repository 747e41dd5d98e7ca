"""Durations as users write them: `30s`, `1h30m`, `2d`, `500ms`, or ISO-8601 (`PT4H`).

Pure and cheap: the interpreter parses durations inside the workflow sandbox.
"""

from __future__ import annotations

import re
from datetime import timedelta
from functools import lru_cache

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_COMPACT = re.compile(r"^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$")
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_ISO = re.compile(
    r"^P(?:(?P<d>\d+(?:\.\d+)?)D)?(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)


# Ten years: longer timers, timeouts and SLA levels are a typo, not a plan, and
# far larger values overflow `timedelta`.
MAX_SECONDS = 3650 * 86400


class DurationError(ValueError):
    """A duration string that is malformed, zero or negative."""


def parse_duration(text: str | int | float) -> timedelta:
    """Parse a duration; numbers are seconds. Raises DurationError with a readable message.

    Strings are cached: every decode of a run's plan checks each step's durations (five
    per action step), which was half the cost of decoding the start input.
    """
    if type(text) is str:
        return _parse_text(text)
    return _parse(text)


@lru_cache(maxsize=4096)
def _parse_text(text: str) -> timedelta:
    return _parse(text)


def _parse(text: str | int | float) -> timedelta:
    if isinstance(text, bool):
        raise DurationError(f"invalid duration {text!r}")
    if isinstance(text, int | float):
        try:
            seconds = float(text)
        except OverflowError:
            seconds = float("inf")
    else:
        s = str(text).strip()
        if _COMPACT.match(s):
            seconds = sum(float(n) * _UNITS[u] for n, u in _PART.findall(s))
        elif (m := _ISO.match(s)) and s not in ("P", "PT") and not s.endswith("T"):
            seconds = (
                float(m["d"] or 0) * 86400
                + float(m["h"] or 0) * 3600
                + float(m["m"] or 0) * 60
                + float(m["s"] or 0)
            )
        else:
            raise DurationError(
                f"invalid duration {text!r}: use <number><unit> with units ms, s, m, h, d "
                "(e.g. 30s, 1h30m, 2d) or ISO-8601 (e.g. PT4H)"
            )
    if seconds <= 0:
        raise DurationError(f"duration {text!r} must be greater than zero")
    if seconds > MAX_SECONDS:
        raise DurationError(f"duration {text!r} is too long: the limit is 3650d (ten years)")
    return timedelta(seconds=seconds)
