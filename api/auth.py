"""Bearer-token authentication against the directory (SPEC §6) and role checks (SPEC §7)."""

from __future__ import annotations

import hmac
import os
from pathlib import Path

from activities.directory import Directory, User, load_directory
from api.errors import Forbidden, Unauthorized

DESIGNER_ROLES = frozenset({"admin", "designer"})
OPERATOR_ROLES = frozenset({"admin", "operator"})


class DirectoryCache:
    """The directory file, re-read when its modification time changes."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self._mtime: float | None = None
        self._directory = Directory()

    def get(self) -> Directory:
        if not self.path:
            return self._directory
        try:
            mtime = os.stat(self.path).st_mtime
        except OSError:
            return self._directory
        if mtime != self._mtime:
            self._directory = load_directory(Path(self.path))
            self._mtime = mtime
        return self._directory


def authenticate(directory: Directory, token: str | None) -> User:
    """The user whose token equals `token`; every token is compared in constant time."""
    if not token:
        raise Unauthorized("missing bearer token: send 'Authorization: Bearer <token>'")
    given = token.encode()
    found: User | None = None
    for user in directory.users:
        if user.token and hmac.compare_digest(user.token.encode(), given) and found is None:
            found = user
    if found is None:
        raise Unauthorized("invalid bearer token")
    return found


def require_any_role(user: User, roles: frozenset[str], action: str) -> None:
    if not roles.intersection(user.roles):
        needed = " or ".join(sorted(roles))
        raise Forbidden(f"{action} needs role {needed}; user {user.id!r} has none of them")


def assignee_keys(user: User) -> list[str]:
    """The `Assignees` search-attribute values that address `user`."""
    return [f"user:{user.id}"] + [f"role:{r}" for r in user.roles]
