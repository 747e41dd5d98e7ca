"""workflows.engine.statuses: lazily created step statuses read like eager ones."""

from __future__ import annotations

import pytest

from workflows.engine.io import StepStatus
from workflows.engine.statuses import PENDING, Statuses


def test_registered_steps_read_pending_without_objects() -> None:
    st = Statuses({"carried": StepStatus(state="succeeded")})
    st["seeded"] = StepStatus(state="skipped", carried=True)
    for addr in ("a", "b", "carried"):
        st.register(addr)
    assert list(st) == ["carried", "seeded", "a", "b"]  # first-seen order
    assert len(st) == 4 and "a" in st and "zzz" not in st
    assert dict.get(st, "a") is None  # no object until written
    assert st.peek("a") is PENDING and st.peek("a").state == "pending"
    assert st.get("a") == StepStatus() and st.get("a") is not PENDING
    assert st.get("zzz") is None
    assert dict.get(st, "a") is None  # reading created nothing
    with pytest.raises(KeyError):
        st.peek("zzz")
    with pytest.raises(KeyError):
        st["zzz"]
    st["a"].state = "running"  # writing creates it
    assert dict.get(st, "a") is not None and st.peek("a").state == "running"
    snap = st.snapshot()
    assert list(snap) == ["carried", "seeded", "a", "b"]
    assert [s.state for s in snap.values()] == ["succeeded", "skipped", "running", "pending"]
    assert {k: v.state for k, v in st.items()} == {k: v.state for k, v in snap.items()}
    assert st.register("a") is st.peek("a") and st.register("new") is None
    assert PENDING == StepStatus()  # nobody wrote to the shared pending status


def test_pop_forgets_the_address_written_or_not() -> None:
    """Pruning a finished body (workflows.engine.bodies) removes its steps from the
    document: a popped address is no longer listed, written or still pending."""
    st = Statuses()
    for addr in ("fe[0].a", "fe[0].b", "fe[1].a"):
        st.register(addr)
    st["fe[0].a"].state = "succeeded"
    assert st.pop("fe[0].a").state == "succeeded"
    assert st.pop("fe[0].b") is None  # registered, never written
    assert st.pop("nope", "default") == "default"
    assert list(st) == ["fe[1].a"] and len(st) == 1 and "fe[0].a" not in st
    assert list(st.snapshot()) == ["fe[1].a"]
