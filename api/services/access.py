"""Who may read a run (SPEC §8): the one rule behind every `/runs/{id}/…` route and the lists.

A run — its status, outputs, decisions, audit — is readable by
- operators and admins (every run);
- its starter (`StartedBy`);
- its current assignees: a user named in `Assignees` (`user:<id>`) or holding a role named
  there (`role:<name>`), i.e. someone with an open approval in the run;
- its past assignees (see `was_assignee`);
- the owners of its template (`TemplateName`, as owned now).

Everyone else gets the same 404 as for a run that does not exist, on every route, so run
ids do not leak; a reader who may not do what they asked gets 403 from the route.

Lists (`GET /runs`) can only filter on what Temporal visibility indexes: `StartedBy`,
`Assignees` (open approvals only) and `TemplateName`. Past assignees are not indexed, so
a run whose only link to the caller is a past assignment is readable by id but not
listed (see docs/operations.md, "Who may read a run"). `/inbox` lists runs where the
caller is a current assignee, which this rule always allows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client, WorkflowExecutionDescription

from activities.directory import User
from api.auth import OPERATOR_ROLES, assignee_keys
from api.errors import Invalid
from api.services import owners, registry
from api.services.listing import literal
from api.services.runs import status
from api.services.temporal_errors import describe, missing_run
from workflows.engine import search_attributes as sa
from workflows.engine.io import RunStatus
from workflows.kinds.approval import ApprovalStep
from workflows.language.model import StepBase, Template

#: roles that read (and list) every run
SEE_ALL_ROLES = OPERATOR_ROLES
#: step states of an approval that never opened (so it never had assignees)
_NOT_OPENED = frozenset({"pending", "skipped"})
_INDEX = re.compile(r"\[\d+\]")


def sees_all(user: User) -> bool:
    return bool(SEE_ALL_ROLES.intersection(user.roles))


@dataclass
class RunView:
    """A run the caller may read: its describe(), why it is readable, the status if fetched."""

    run_id: str
    desc: WorkflowExecutionDescription
    reason: str  # operator | starter | assignee | owner | past_assignee
    doc: RunStatus | None = None

    @property
    def started_by(self) -> str | None:
        return self.desc.typed_search_attributes.get(sa.STARTED_BY)

    async def status(self, client: Client) -> RunStatus:
        """The run status document (fetched once)."""
        if self.doc is None:
            self.doc, self.desc = await status(client, self.run_id, self.desc)
        return self.doc


async def readable_run(
    client: Client, session: AsyncSession, user: User, run_id: str
) -> RunView:
    """The run if `user` may read it; else the 404 of a missing run. Cheapest checks first:
    roles, then describe() (starter, current assignees), the owners table, and only then
    the status document and the pinned template (past assignees)."""
    desc = await describe(client, run_id)  # 404 when there is no such run
    attrs = desc.typed_search_attributes
    if sees_all(user):
        return RunView(run_id, desc, "operator")
    if attrs.get(sa.STARTED_BY) == user.id:
        return RunView(run_id, desc, "starter")
    if set(assignee_keys(user)).intersection(attrs.get(sa.ASSIGNEES) or []):
        return RunView(run_id, desc, "assignee")
    name = attrs.get(sa.TEMPLATE_NAME)
    if name and await owners.owns(session, user.id, name):
        return RunView(run_id, desc, "owner")
    doc, desc = await status(client, run_id, desc)
    version = attrs.get(sa.TEMPLATE_VERSION)
    row = await registry.find(session, name, version) if name and version else None
    approvals = approval_assignees(registry.parsed(session, row)) if row is not None else {}
    if was_assignee(user, doc, approvals):
        return RunView(run_id, desc, "past_assignee", doc)
    raise missing_run(run_id)


def approval_assignees(template: Template) -> dict[str, tuple[list[str], list[str]]]:
    """`{step path: (users, roles)}` of every approval step of a template, nested ones as
    `parent.child` (the address of a foreach/loop item without its `[index]`)."""
    found: dict[str, tuple[list[str], list[str]]] = {}

    def walk(steps: list[StepBase], prefix: str) -> None:
        for step in steps:
            path = prefix + step.id
            if isinstance(step, ApprovalStep):
                who = step.approval.assignees
                found[path] = (list(who.users), list(who.roles))
            walk(step.body(), path + ".")

    walk(template.steps, "")
    return found


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def was_assignee(
    user: User, doc: RunStatus, approvals: dict[str, tuple[list[str], list[str]]]
) -> bool:
    """Was `user` ever an assignee of one of the run's approvals?

    Yes when: a `pending` task names them or one of their roles; or an approval step that
    opened (its state is not pending/skipped) names them or one of their roles in the
    template version the run pinned (the initial assignment); or its output records them —
    as a voter (`decisions`, also votes discarded by a reassignment) or as a new assignee
    of a reassignment (`reassignments[].users` / `.roles`). Ignored signals
    (`rejected_decisions`) do not count: those actors were never eligible. Only steps that
    are approvals in the template are considered, so no other step's output can grant
    access. Roles are matched with the caller's roles today.
    """
    keys = set(assignee_keys(user))
    roles = set(user.roles)
    if any(keys.intersection(p.assignees) for p in doc.pending):
        return True
    for address, step in doc.steps.items():
        path = _INDEX.sub("", address)
        if path not in approvals or step.state in _NOT_OPENED:
            continue
        users, named_roles = approvals[path]
        if user.id in users or roles.intersection(named_roles):
            return True
        if _in_output(user.id, roles, step.output):
            return True
    return False


def _in_output(user_id: str, roles: set[str], output: Any) -> bool:
    if not isinstance(output, dict):
        return False
    votes = list(_dicts(output.get("decisions")))
    for r in _dicts(output.get("reassignments")):
        if user_id in _strings(r.get("users")) or roles.intersection(_strings(r.get("roles"))):
            return True
        votes += _dicts(r.get("discarded"))
    return any(v.get("actor") == user_id for v in votes)


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


async def list_scope(session: AsyncSession, user: User) -> str | None:
    """The visibility-query clause limiting `GET /runs` to what `user` may read (None: all).

    `StartedBy = me OR Assignees IN (user:me, role:…) OR TemplateName IN (owned…)`. Values
    that cannot be written as a visibility literal (quotes, control characters) are left
    out, which only ever narrows the list.
    """
    if sees_all(user):
        return None
    terms: list[str] = []
    if (me := _quoted(user.id)) is not None:
        terms.append(f"{sa.STARTED_BY.name} = {me}")
    keys = [q for k in assignee_keys(user) if (q := _quoted(k)) is not None]
    if keys:
        terms.append(f"{sa.ASSIGNEES.name} IN ({', '.join(keys)})")
    names = [q for n in await owners.owned_by(session, user.id) if (q := _quoted(n)) is not None]
    if names:
        terms.append(f"{sa.TEMPLATE_NAME.name} IN ({', '.join(names)})")
    if not terms:  # nothing to match on: an always-false clause
        return f"{sa.STARTED_BY.name} = '' AND {sa.STARTED_BY.name} != ''"
    return "(" + " OR ".join(terms) + ")"


def _quoted(value: str) -> str | None:
    try:
        return literal(value, "scope")
    except Invalid:
        return None
