"""Who holds the seats of an approval task (SPEC §2 approval, §11): pure functions.

A seat is one vote towards the quorum; its decider is the seat owner, or the delegate
deciding in their place. `ApprovalTask` (workflows.engine.approvals.task) recomputes
its seats, delegations and the deciders' contacts here whenever it is opened,
reassigned or handed over. No I/O: workflow code.
"""

from __future__ import annotations

from dataclasses import dataclass

from workflows.engine.approvals.io import Resolved


@dataclass(frozen=True)
class Seating:
    """The seats of a task, who decides each, and how to reach the deciders."""

    seats: list[str]
    #: seat owner -> the delegate deciding for them
    delegated: dict[str, str]
    #: the deciders (delegates in their owners' place), each once
    users: list[str]
    #: decider -> email
    contacts: dict[str, str]
    emails: list[str]


def seating(resolved: Resolved, barred: str | None) -> Seating:
    """The seating of freshly resolved assignees. `barred` (the run's starter under
    `self_approval: false`) holds no seat and stands in for nobody."""
    seats = list(resolved.users)
    delegated = {s: d for s, d in resolved.delegated.items() if s in seats and d != s}
    if barred is not None:
        seats = [s for s in seats if s != barred]
        delegated = {s: d for s, d in delegated.items() if s != barred and d != barred}
    users = deciders(seats, delegated)
    contacts = {u: e for u, e in resolved.contacts.items() if u in users}
    if resolved.contacts:
        emails = list(dict.fromkeys(contacts[u] for u in users if u in contacts))
    else:
        emails = list(resolved.emails)
    return Seating(seats=seats, delegated=delegated, users=users, contacts=contacts, emails=emails)


def handed_over(
    held: Seating, actor: str, resolved: Resolved, roles: list[str], pick: str
) -> Resolved:
    """The assignees once `actor`'s seat(s) in `held` go to the one user in `resolved`
    (SPEC §11): the other seats and their delegations stay, the new holder brings their
    own delegate; `roles` and `pick` stay as they are."""
    new = resolved.users[0]
    seats: list[str] = []
    delegated: dict[str, str] = {}
    contacts = {u: e for u, e in held.contacts.items() if u != actor}
    for seat in held.seats:
        if held.delegated.get(seat, seat) == actor:
            seat = new
            if new in resolved.delegated:
                delegated[new] = resolved.delegated[new]
        elif seat in held.delegated:
            delegated[seat] = held.delegated[seat]
        if seat not in seats:
            seats.append(seat)
    contacts.update(resolved.contacts)
    return Resolved(
        users=seats,
        roles=roles,
        pick=pick,
        delegated=delegated,
        contacts=contacts,
        emails=[contacts[u] for u in deciders(seats, delegated) if u in contacts],
    )


def deciders(seats: list[str], delegated: dict[str, str]) -> list[str]:
    """The people who decide `seats` (delegates in their owners' place), each once."""
    return list(dict.fromkeys(delegated.get(s, s) for s in seats))
