"""How the API names the person behind a request Temporal records without one.

A cancellation is a Temporal request, not a signal: the API puts the caller in its
`reason` (`cancelled by <user>`), which the history keeps on the cancel-requested
event, and the audit trail reads it back. Pause and resume carry the caller in the
signal's `ControlInput` payload instead (workflows/io.py).
"""

from __future__ import annotations

import re

_CANCEL = re.compile(r"^cancelled by (?P<actor>\S+)")


def cancel_reason(actor: str) -> str:
    return f"cancelled by {actor}"


def cancel_actor(reason: str | None) -> str | None:
    """The user named in a reason written by `cancel_reason` (None for other reasons)."""
    m = _CANCEL.match(reason or "")
    return m["actor"] if m else None
