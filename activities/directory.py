"""The directory of users, roles and API tokens (SPEC §6), read from `DIRECTORY_FILE`.

Shared by the API (authentication) and the assignee-resolution activity.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator


class Delegate(BaseModel):
    """Out-of-office: tasks that resolve to the user go to `to` while active (SPEC §11)."""

    model_config = ConfigDict(extra="forbid")

    to: str = Field(min_length=1, max_length=200)
    #: the delegation ends at this instant (no timezone = UTC; a date = its midnight UTC);
    #: none = until removed
    until: datetime | None = None

    @field_validator("until", mode="before")
    @classmethod
    def _utc(cls, v: object) -> object:
        if isinstance(v, date) and not isinstance(v, datetime):
            v = datetime(v.year, v.month, v.day)
        if isinstance(v, str):
            v = datetime.fromisoformat(v.replace("Z", "+00:00"))
        if isinstance(v, datetime) and v.tzinfo is None:
            v = v.replace(tzinfo=UTC)
        return v

    def active(self, now: datetime) -> bool:
        return self.until is None or self.until > now


class User(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    name: str | None = None
    email: str | None = None
    roles: list[str] = Field(default_factory=list)
    token: str | None = None
    #: a standing delegation set by whoever keeps the directory (`PUT /me/delegation` wins)
    delegate: Delegate | None = None

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


class Directory(BaseModel):
    model_config = ConfigDict(extra="forbid")

    users: list[User] = Field(default_factory=list)

    def user(self, user_id: str) -> User | None:
        return next((u for u in self.users if u.id == user_id), None)

    def members(self, role: str) -> list[User]:
        """Users holding `role`, in file order."""
        return [u for u in self.users if role in u.roles]


def load_directory(path: str | Path | None) -> Directory:
    """Read the directory YAML; no path means an empty directory (nobody can log in)."""
    if not path:
        return Directory()
    data = yaml.safe_load(Path(path).read_text()) or {}
    return Directory.model_validate(data)
