"""Bearer-token authentication against the directory (SPEC §6, §8) and role checks (SPEC §7)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import yaml
from pydantic import ValidationError

from activities.directory import Directory, User, load_directory
from api.errors import Forbidden, Unauthorized
from api.tokens import DirectoryError, check_directory, find_user

ADMIN_ROLES = frozenset({"admin"})
DESIGNER_ROLES = frozenset({"admin", "designer"})
OPERATOR_ROLES = frozenset({"admin", "operator"})

log = logging.getLogger("relayflow.api.directory")


def read_directory(path: str, *, allow_sample_tokens: bool) -> Directory:
    """Parse and check the directory file; `DirectoryError` says what is wrong with it."""
    try:
        directory = load_directory(Path(path))
    except OSError as e:
        raise DirectoryError(f"DIRECTORY_FILE {path}: cannot be read: {e.strerror or e}") from None
    except yaml.YAMLError as e:
        raise DirectoryError(f"DIRECTORY_FILE {path}: invalid YAML: {_first_line(e)}") from None
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "$"
        raise DirectoryError(
            f"DIRECTORY_FILE {path}: not a directory document: {where}: {first['msg']}"
        ) from None
    except (TypeError, ValueError) as e:  # e.g. a top-level list instead of a mapping
        raise DirectoryError(f"DIRECTORY_FILE {path}: not a directory document: {e}") from None
    check_directory(directory, allow_sample=allow_sample_tokens, source=f"DIRECTORY_FILE {path}")
    return directory


def _first_line(e: Exception) -> str:
    return " ".join(str(e).split())[:300]


class DirectoryCache:
    """The directory file, re-read when it changes (modification time, size or inode).

    `load()` (at API startup) raises `DirectoryError` for a bad file. A later bad version
    (truncated while being written, invalid YAML, duplicate or sample tokens) is logged
    once and the last good directory keeps serving, so a botched edit never turns every
    request into an error; the next good version is picked up as usual.
    """

    def __init__(self, path: str | None, *, allow_sample_tokens: bool = False) -> None:
        self.path = path
        self.allow_sample_tokens = allow_sample_tokens
        self._stamp: tuple[int, int, int] | None = None
        self._directory = Directory()
        #: the problem with the file on disk when it is not the one serving (None: in sync)
        self.problem: str | None = None

    def load(self) -> Directory:
        """Read the file now; `DirectoryError` when it is missing or not acceptable."""
        if not self.path:
            return self._directory
        stamp = self._stat()
        if stamp is None:
            raise DirectoryError(f"DIRECTORY_FILE {self.path}: no such file")
        self._directory = read_directory(self.path, allow_sample_tokens=self.allow_sample_tokens)
        self._stamp, self.problem = stamp, None
        return self._directory

    def get(self) -> Directory:
        if not self.path:
            return self._directory
        stamp = self._stat()
        if stamp is None:
            self._report(f"DIRECTORY_FILE {self.path}: no such file")
            return self._directory
        if stamp != self._stamp:
            try:
                self._directory = read_directory(
                    self.path, allow_sample_tokens=self.allow_sample_tokens
                )
            except DirectoryError as e:
                self._report(str(e))
            else:
                if self.problem is not None:
                    log.warning("directory file is good again; reloaded %s", self.path)
                self.problem = None
                log.info("directory reloaded: %d users", len(self._directory.users))
            self._stamp = stamp
        return self._directory

    def _report(self, problem: str) -> None:
        if problem != self.problem:
            log.error("%s; still serving the last good directory", problem)
        self.problem = problem

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path or "")
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)


def authenticate(directory: Directory, token: str | None) -> User:
    """The user whose token (plain or `sha256:` entry) matches; compared in constant time."""
    if not token:
        raise Unauthorized("missing bearer token: send 'Authorization: Bearer <token>'")
    found = find_user(directory, token)
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
