"""Activity `resolve_assignees`: template assignees → concrete users (SPEC §2, §6).

Runs whenever an approval opens or is reassigned, so directory edits apply to the
next task without restarting anything. The directory file is read on every call
(it is small).

- `users` are taken as written (ids missing from the directory stay assignees, so
  a directory-less setup still works; they are reported in `unknown` and have no
  email);
- `roles` expand to their members, in directory order;
- `pick: least_loaded` keeps ONE user: among the candidates (listed users, then
  role members) the one with the fewest Running executions whose `Assignees`
  holds `user:<id>` (a visibility count query through the worker's own client,
  `activity.client()`); ties go to the earlier candidate. Visibility is eventually
  consistent (about a second on the dev server), so runs opened at the same
  instant may pick the same person;
- out-of-office delegations (`activities.delegation`) then move each seat whose
  owner is away to their delegate (`Resolved.delegated`); the delegates are the
  ones notified and listed in `Assignees`.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from temporalio import activity

from activities import delegation
from activities.directory import Directory, load_directory
from settings import get_settings
from workflows.engine.approvals.io import Resolved, ResolveRequest

#: visibility count queries in flight at once for one `least_loaded` pick
MAX_CONCURRENT_COUNTS = 8


def _candidates(directory: Directory, users: list[str], roles: list[str]) -> list[str]:
    seen: dict[str, None] = {}
    for uid in users:
        seen.setdefault(uid, None)
    for role in roles:
        for member in directory.members(role):
            seen.setdefault(member.id, None)
    return list(seen)


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


async def open_load(user_id: str) -> int:
    """Running executions with an open approval assigned to `user_id` (visibility count)."""
    query = f"ExecutionStatus = 'Running' AND Assignees = '{_quote('user:' + user_id)}'"
    result = await activity.client().count_workflows(query)
    return result.count


async def _loads(users: list[str]) -> list[int]:
    limit = asyncio.Semaphore(MAX_CONCURRENT_COUNTS)

    async def one(uid: str) -> int:
        async with limit:
            return await open_load(uid)

    return list(await asyncio.gather(*(one(u) for u in users)))


@activity.defn(name="resolve_assignees")
async def resolve_assignees(req: ResolveRequest) -> Resolved:
    """Resolve users/roles to user ids and emails; `least_loaded` picks one of them."""
    settings = get_settings()
    directory = await asyncio.to_thread(load_directory, settings.directory_file)
    users = _candidates(directory, req.users, req.roles)
    if req.pick == "least_loaded" and len(users) > 1:
        loads = await _loads(users)
        best = min(range(len(users)), key=lambda i: (loads[i], i))
        activity.logger.info(
            "least_loaded for %s/%s: %s → %s",
            req.run_id,
            req.step,
            dict(zip(users, loads, strict=True)),
            users[best],
        )
        users = [users[best]]
    stored = await asyncio.to_thread(delegation.stored, settings.database_url)
    away = delegation.active_map(directory, stored, datetime.now(UTC))
    delegated = {u: d for u in users if (d := delegation.follow(u, away)) != u}
    if delegated:
        activity.logger.info("delegations for %s/%s: %s", req.run_id, req.step, delegated)
    emails: list[str] = []
    contacts: dict[str, str] = {}
    unknown = [uid for uid in users if directory.user(uid) is None]
    for uid in dict.fromkeys(delegated.get(u, u) for u in users):
        user = directory.user(uid)
        if user is not None and user.email:
            contacts[uid] = user.email
            if user.email not in emails:
                emails.append(user.email)
    return Resolved(
        users=users,
        emails=emails,
        roles=list(req.roles),
        pick=req.pick,
        unknown=unknown,
        delegated=delegated,
        contacts=contacts,
    )
