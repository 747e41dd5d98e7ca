"""The pure approval state: eligibility, quorum counting, records, snapshot/restore."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError

from workflows.engine.approvals.book import ApprovalBook
from workflows.engine.approvals.io import Resolved
from workflows.engine.approvals.records import form_errors
from workflows.engine.approvals.task import ApprovalTask
from workflows.engine.io import DecideInput

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def task(
    users: list[str], quorum: Any = 1, outcomes: list[str] | None = None, **kw: Any
) -> ApprovalTask:
    book = ApprovalBook()
    return book.open(
        "s",
        outcomes=outcomes or ["approved", "rejected"],
        quorum=quorum,
        form=kw.get("form"),
        resolved=Resolved(users=users, roles=kw.get("roles", [])),
        now=NOW,
        due_at=None,
    )


def vote(t: ApprovalTask, actor: str, outcome: str, **kw: Any) -> str | None:
    d = DecideInput(step="s", outcome=outcome, actor=actor, **kw)
    t.check(d)
    return t.vote(d, NOW)


def refused(t: ApprovalTask, actor: str, outcome: str, **kw: Any) -> str:
    with pytest.raises(ApplicationError) as e:
        t.check(DecideInput(step="s", outcome=outcome, actor=actor, **kw))
    return e.value.type or ""


def test_first_outcome_to_reach_quorum_wins() -> None:
    t = task(["a", "b", "c"], quorum=2)
    assert vote(t, "a", "rejected") is None
    assert vote(t, "b", "approved") is None
    assert vote(t, "c", "approved") == "approved"
    assert t.decided_by == "quorum"


def test_quorum_two_of_three_two_rejections() -> None:
    t = task(["a", "b", "c"], quorum=2)
    assert vote(t, "a", "rejected") is None
    assert vote(t, "b", "rejected") == "rejected"


def test_all_with_one_rejection_ends_rejected_at_once() -> None:
    t = task(["a", "b", "c"], quorum="all")
    assert t.required == 3
    assert vote(t, "a", "approved") is None
    assert vote(t, "b", "rejected") == "rejected"  # `approved` can no longer reach 3


def test_unreachable_falls_back_to_last_outcome() -> None:
    t = task(["a", "b", "c"], quorum=2, outcomes=["approved", "changes", "rejected"])
    assert vote(t, "a", "approved") is None
    assert vote(t, "b", "changes") is None
    assert vote(t, "c", "rejected") == "rejected"


def test_single_outcome_waits_for_its_quorum() -> None:
    t = task(["a", "b"], quorum=2, outcomes=["ack"])
    assert vote(t, "a", "ack") is None
    assert vote(t, "b", "ack") == "ack"


def test_refusals_in_order() -> None:
    t = task(["a", "b"], quorum=2, form={"type": "object", "required": ["why"]})
    assert refused(t, "zed", "approved") == "NotAssignee"
    assert refused(t, "a", "maybe") == "OutcomeNotAllowed"
    assert refused(t, "a", "approved") == "InvalidForm"
    vote(t, "a", "approved", data={"why": "ok"})
    assert refused(t, "a", "approved", data={"why": "again"}) == "AlreadyVoted"
    vote(t, "b", "approved", data={"why": "fine"})
    assert refused(t, "b", "approved", data={"why": "late"}) == "NotAwaitingDecision"


def test_form_errors_name_the_field() -> None:
    t = task(["a"], form={"type": "object", "properties": {"amount": {"type": "number"}}})
    with pytest.raises(ApplicationError) as e:
        t.check(DecideInput(step="s", outcome="approved", actor="a", data={"amount": "x"}))
    assert e.value.type == "InvalidForm"
    assert e.value.details[0]["errors"][0]["loc"] == ["data", "amount"]


def test_form_errors_name_a_missing_field() -> None:
    form = {"type": "object", "required": ["reason"], "properties": {"reason": {"type": "string"}}}
    assert form_errors(form, {}) == [
        {"loc": ["data", "reason"], "msg": "'reason' is a required property"}
    ]


def test_a_form_with_a_dangling_ref_refuses_instead_of_crashing() -> None:
    # saved before save-time validation checked $refs: never a workflow-task failure
    for form in ({"$ref": "#/$defs/missing"}, {"$ref": "https://example.com/form.json"}):
        [error] = form_errors(form, {"x": 1})
        assert error["loc"] == ["form"] and "not usable" in error["msg"]


def test_admin_votes_once_and_is_recorded() -> None:
    t = task(["a", "b"], quorum=2)
    assert vote(t, "root", "approved", as_admin=True) is None
    assert refused(t, "root", "approved", as_admin=True) == "AlreadyVoted"
    assert vote(t, "a", "approved") == "approved"
    assert t.output()["decisions"][0]["as_admin"] is True


def test_reassign_restarts_the_count() -> None:
    t = task(["a", "b"], quorum="all")
    vote(t, "a", "approved")
    t.reassign(Resolved(users=["c", "d", "e"]), "op", "request", NOW)
    assert t.required == 3 and t.votes == []
    assert refused(t, "a", "approved") == "NotAssignee"
    vote(t, "c", "approved")
    vote(t, "d", "approved")
    assert vote(t, "e", "approved") == "approved"
    rec = t.output()["reassignments"][0]
    assert rec["actor"] == "op" and rec["discarded"][0]["actor"] == "a"


def test_keys_pending_and_snapshot_roundtrip() -> None:
    book = ApprovalBook()
    for step, users, roles in (("x", ["a"], ["mgr"]), ("y", ["a", "b"], [])):
        book.open(
            step,
            outcomes=["approved", "rejected"],
            quorum=1,
            form=None,
            resolved=Resolved(users=users, roles=roles),
            now=NOW,
            due_at=None,
        )
    assert book.keys() == ["role:mgr", "user:a", "user:b"]
    book.tasks["y"].close("approved", "quorum", NOW)
    assert book.keys() == ["role:mgr", "user:a"]
    assert [p.step for p in book.pending()] == ["x"]
    again = ApprovalBook.restore(book.snapshot())
    assert again == book


def test_least_loaded_task_does_not_publish_the_role() -> None:
    t = task(["b"], roles=["mgr"])
    t.pick = "least_loaded"
    assert t.keys() == ["user:b"]


# -- approvals for people (SPEC §11): seats, delegation, separation of duties ----------


def people_task(
    users: list[str], delegated: dict[str, str] | None = None, quorum: Any = 1, **kw: Any
) -> ApprovalTask:
    return ApprovalBook().open(
        "s",
        outcomes=["approved", "rejected"],
        quorum=quorum,
        form=None,
        resolved=Resolved(
            users=users,
            delegated=delegated or {},
            contacts={u: f"{u}@x" for u in [*users, *(delegated or {}).values()]},
        ),
        now=NOW,
        due_at=None,
        starter_barred=kw.get("starter"),
    )


def test_delegate_holds_the_seat_and_votes_on_behalf() -> None:
    t = people_task(["mike", "ann"], {"mike": "mia"}, quorum="all")
    assert t.users == ["mia", "ann"] and t.required == 2
    assert t.pending().delegations == {"mike": "mia"}
    assert t.emails == ["mia@x", "ann@x"] and "mike" not in t.contacts
    assert refused(t, "mike", "approved") == "NotAssignee"
    assert vote(t, "mia", "approved") is None
    assert t.votes[0].on_behalf_of == "mike" and t.votes[0].seat == "mike"
    assert refused(t, "mia", "approved") == "AlreadyVoted"
    assert vote(t, "ann", "approved") == "approved"
    assert t.output()["decisions"][1]["on_behalf_of"] is None


def test_a_delegate_who_is_also_an_assignee_holds_two_seats() -> None:
    t = people_task(["mike", "mia"], {"mike": "mia"}, quorum="all")
    assert t.users == ["mia"] and t.required == 2  # one person, two seats
    assert t.stands_for() == {"mia": ["mike"]}
    assert vote(t, "mia", "approved") is None  # her own seat first
    assert t.votes[0].on_behalf_of is None
    assert refused(t, "mia", "approved", on_behalf_of="ann") == "NotAssignee"
    assert vote(t, "mia", "approved", on_behalf_of="mike") == "approved"
    assert t.votes[1].on_behalf_of == "mike"


def test_self_approval_false_bars_the_starter() -> None:
    t = people_task(["eve", "ann"], quorum="all", starter="eve")
    assert t.users == ["ann"] and t.required == 1  # the starter holds no seat
    assert refused(t, "eve", "approved") == "SelfApprovalNotAllowed"
    assert refused(t, "eve", "approved", as_admin=True) == "SelfApprovalNotAllowed"
    # nobody decides for the starter, and the starter decides for nobody
    t2 = people_task(["eve", "mike"], {"eve": "mia", "mike": "eve"}, starter="eve")
    assert t2.users == ["mike"] and t2.delegated == {}
    assert vote(t, "ann", "approved") == "approved"


def test_handover_rules() -> None:
    from workflows.engine.approvals import handover as h
    from workflows.engine.io import ReassignInput

    t = people_task(["mike", "ann"], {"ann": "mia"}, quorum="all", starter="eve")

    def refusal(actor: str, **kw: Any) -> str:
        with pytest.raises(ApplicationError) as e:
            h.check(t, ReassignInput(step="s", actor=actor, **kw))
        return e.value.type or ""

    assert refusal("mike", users=["mike"]) == "AlreadyAssignee"
    assert refusal("mike", users=["mia"]) == "AlreadyAssignee"  # a decider already
    assert refusal("mike", users=["ann"]) == "AlreadyAssignee"  # a seat owner already
    assert refusal("mike", users=["eve"]) == "SelfApprovalNotAllowed"
    assert refusal("mike", users=["sam", "tom"]) == "NotAllowed"
    assert refusal("mike", roles=["buyer"]) == "NotAllowed"
    assert refusal("sam", users=["tom"]) == "NotAssignee"
    h.check(t, ReassignInput(step="s", actor="mia", users=["sam"]))  # her (delegated) seat
    assert vote(t, "mike", "approved") is None
    t.hand_over("mia", Resolved(users=["sam"], contacts={"sam": "sam@x"}), NOW)
    assert t.seat_list() == ["mike", "sam"] and t.users == ["mike", "sam"] and t.delegated == {}
    assert t.votes == [] and t.reassignments[-1].reason == "handover"
    assert t.emails == ["mike@x", "sam@x"]


def test_tasks_snapshotted_before_seats_restore() -> None:
    old = {
        "tasks": {
            "s": {
                "step": "s", "outcomes": ["approved", "rejected"], "users": ["a", "b"],
                "quorum": "all", "required": 2, "opened_at": NOW.isoformat(),
                "votes": [{"actor": "a", "outcome": "approved", "at": NOW.isoformat()}],
            }
        }
    }
    t = ApprovalBook.restore(old).tasks["s"]
    assert t.seat_list() == ["a", "b"]
    assert refused(t, "a", "approved") == "AlreadyVoted"
    assert vote(t, "b", "approved") == "approved"
