"""The past-assignee part of the read rule (api/services/access.py) on status documents:
nested approval addresses, what counts and what does not (the rule is pure: no I/O)."""

from __future__ import annotations

from typing import Any

from activities.directory import User
from api.services.access import approval_assignees, was_assignee
from workflows.engine.io import PendingTask, RunStatus, StepStatus
from workflows.language.model import Template

TEMPLATE: dict[str, Any] = {
    "name": "t",
    "steps": [
        {"id": "fetch", "action": "log", "with": {"message": "x"}},
        {"id": "sign", "approval": {"assignees": {"users": ["ann"], "roles": ["legal"]}}},
        {
            "id": "review",
            "foreach": {
                "items": "input.docs",
                "steps": [
                    {
                        "id": "inner",
                        "loop": {
                            "until": "true",
                            "max_iterations": 2,
                            "steps": [
                                {"id": "ok", "approval": {"assignees": {"users": ["nia"]}}}
                            ],
                        },
                    }
                ],
            },
        },
    ],
}


PARSED = Template.model_validate(TEMPLATE)


def user(uid: str, *roles: str) -> User:
    return User(id=uid, roles=list(roles))


def doc(steps: dict[str, StepStatus], pending: list[PendingTask] | None = None) -> RunStatus:
    return RunStatus(
        run_id="r", template="t", version=1, state="running", steps=steps, pending=pending or []
    )


def approval_output(*actors: str, reassigned: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "decision": "approved" if actors else None,
        "decisions": [{"actor": a, "outcome": "approved", "at": "2026-01-01T00:00:00Z"} for a in actors],
    }
    if reassigned:
        out["reassignments"] = reassigned
    return out


def test_approval_paths_include_nested_bodies() -> None:
    assert approval_assignees(PARSED) == {
        "sign": (["ann"], ["legal"]),
        "review.inner.ok": (["nia"], []),
    }


def test_template_assignees_count_once_the_step_opened() -> None:
    approvals = approval_assignees(PARSED)
    for state in ("pending", "skipped"):
        assert not was_assignee(user("ann"), doc({"sign": StepStatus(state=state)}), approvals)
    for state in ("running", "waiting", "succeeded", "failed", "cancelled"):
        d = doc({"sign": StepStatus(state=state)})
        assert was_assignee(user("ann"), d, approvals)
        assert was_assignee(user("lee", "legal"), d, approvals)  # by role
        assert not was_assignee(user("bo", "sales"), d, approvals)
    nested = doc({"review[3].inner[1].ok": StepStatus(state="succeeded")})
    assert was_assignee(user("nia"), nested, approvals)
    assert not was_assignee(user("ann"), nested, approvals)


def test_recorded_voters_and_reassignees_count() -> None:
    approvals = approval_assignees(PARSED)
    reassigned = [
        {
            "actor": "ann", "users": ["kim"], "roles": ["audit"], "at": "2026-01-01T00:00:00Z",
            "discarded": [{"actor": "pat", "outcome": "approved", "at": "2026-01-01T00:00:00Z"}],
        }
    ]
    d = doc({"sign": StepStatus(state="succeeded", output=approval_output("kim", reassigned=reassigned))})
    for reader in (user("kim"), user("pat"), user("aud", "audit")):
        assert was_assignee(reader, d, approvals), reader.id
    assert not was_assignee(user("zed"), d, approvals)


def test_ignored_signals_and_other_outputs_grant_nothing() -> None:
    approvals = approval_assignees(PARSED)
    out = approval_output()
    out["rejected_decisions"] = [{"actor": "zed", "outcome": "approved", "reason": "x", "error": "y",
                                  "at": "2026-01-01T00:00:00Z"}]
    d = doc({
        "sign": StepStatus(state="waiting", output=out),
        # an action whose output looks like an approval's is not an approval
        "fetch": StepStatus(state="succeeded", output=approval_output("zed")),
        # nor is a step the template does not have
        "ghost": StepStatus(state="succeeded", output=approval_output("zed")),
    })
    assert not was_assignee(user("zed"), d, approvals)


def test_pending_tasks_count() -> None:
    d = doc({}, [PendingTask(step="sign", assignees=["user:kim", "role:audit"])])
    assert was_assignee(user("kim"), d, {})
    assert was_assignee(user("x", "audit"), d, {})
    assert not was_assignee(user("x", "sales"), d, {})
