"""API tokens of the directory (SPEC §8 "Tokens"): hashed entries and the startup checks.

A directory `token` is either the token itself or `sha256:<64 hex digits>`, the SHA-256
of the token (generate one with `printf %s "$TOKEN" | sha256sum`). Every comparison is
between digests, in constant time, so plain and hashed entries behave the same.

`check_directory` is what the API enforces when it loads a directory (at startup, where a
problem stops the start, and on every reload, where a problem keeps the last good file):
at least one token, no empty tokens, no malformed hashes, no token used twice (also a
plain token and the hash of the same token), and — unless `ALLOW_SAMPLE_TOKENS=true` — no plain token shorter
than 16 characters or starting with `change-me`.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from activities.directory import Directory, User

HASH_PREFIX = "sha256:"
MIN_LENGTH = 16
SAMPLE_PREFIX = "change-me"
_HEX = re.compile(r"^[0-9a-fA-F]{64}$")


class DirectoryError(ValueError):
    """The directory file cannot be used as it is (the message lists every problem)."""


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def hash_entry(token: str) -> str:
    """The `sha256:<hex>` directory entry for `token`."""
    return HASH_PREFIX + digest(token).hex()


def stored_digest(entry: str) -> bytes | None:
    """The digest a directory entry stands for; None when it is a malformed hash."""
    if entry.startswith(HASH_PREFIX):
        hexpart = entry[len(HASH_PREFIX) :]
        return bytes.fromhex(hexpart) if _HEX.match(hexpart) else None
    return digest(entry)


def matches(entry: str, presented: str) -> bool:
    """Does the presented token match a directory entry (plain or `sha256:`)? Constant time."""
    want = stored_digest(entry)
    return want is not None and hmac.compare_digest(want, digest(presented))


def find_user(directory: Directory, presented: str) -> User | None:
    """The user whose token is `presented`; every entry is compared, whatever matches first."""
    given = digest(presented)
    found: User | None = None
    for user in directory.users:
        if user.token is None:
            continue
        want = stored_digest(user.token)
        if want is not None and hmac.compare_digest(want, given) and found is None:
            found = user
    return found


def problems(directory: Directory, *, allow_sample: bool) -> list[str]:
    """Every reason the directory's tokens are not acceptable (empty list: fine)."""
    found: list[str] = []
    seen: dict[bytes, str] = {}
    if not any(u.token for u in directory.users):
        # an empty or cut-short file: nobody could sign in
        found.append("no user has a token, so nobody could sign in (empty or truncated file?)")
    for user in directory.users:
        entry = user.token
        if entry is None:
            continue  # a user without a token cannot sign in (an assignee only)
        if not entry.strip():
            found.append(f"user {user.id!r} has an empty token (remove the key or set a token)")
            continue
        want = stored_digest(entry)
        if want is None:
            found.append(
                f"user {user.id!r} has a malformed hashed token: expected "
                f"{HASH_PREFIX}<64 hex digits>"
            )
            continue
        if want in seen:
            found.append(
                f"users {seen[want]!r} and {user.id!r} have the same token "
                "(plain or sha256:); every token must be unique"
            )
        else:
            seen[want] = user.id
        if entry.startswith(HASH_PREFIX) or allow_sample:
            continue
        if entry.startswith(SAMPLE_PREFIX):
            found.append(f"user {user.id!r} has a sample token ({SAMPLE_PREFIX}…)")
        elif len(entry) < MIN_LENGTH:
            found.append(
                f"user {user.id!r} has a token shorter than {MIN_LENGTH} characters"
            )
    return found


def check_directory(directory: Directory, *, allow_sample: bool, source: str = "directory") -> None:
    """Raise `DirectoryError` naming every problem (users by id; never a token)."""
    found = problems(directory, allow_sample=allow_sample)
    if not found:
        return
    hint = ""
    if any("sample token" in p or "shorter than" in p for p in found):
        hint = (
            "; replace those tokens (or store them as sha256:<hex>), or set "
            "ALLOW_SAMPLE_TOKENS=true for a local demo"
        )
    raise DirectoryError(f"{source}: " + "; ".join(found) + hint)
