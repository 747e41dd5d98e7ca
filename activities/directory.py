"""The directory of users, roles and API tokens (SPEC §6), read from `DIRECTORY_FILE`.

Shared by the API (authentication) and the assignee-resolution activity.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field


class User(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    name: str | None = None
    email: str | None = None
    roles: list[str] = Field(default_factory=list)
    token: str | None = None

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
