"""Signed decision links of task e-mails (SPEC §11): `{API_PUBLIC_URL}/d/<token>`.

A token binds run id, step address, user, outcome and expiry, signed with
`DECISION_LINK_SECRET` by itsdangerous (HMAC-SHA256, salted for this one use).
The worker's `notify_task` activity signs (one link per outcome per assignee);
the API's `/d/<token>` routes verify. Only the canonical encoding of a payload is
accepted, so no second spelling of a token (e.g. other unused base64 bits in its
last character) passes.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from itsdangerous import BadSignature, URLSafeSerializer

SALT = "relayflow.decision-link.v1"
#: a link never lives longer than this, whatever the approval's due time
MAX_AGE = timedelta(days=30)


class LinkError(Exception):
    """A token that must not decide anything."""


class LinkTampered(LinkError):
    """Not signed by us (altered, truncated, another secret)."""


class LinkExpired(LinkError):
    def __init__(self, claims: LinkClaims) -> None:
        super().__init__(f"the link expired at {claims.expires.isoformat()}")
        self.claims = claims


@dataclass(frozen=True)
class LinkClaims:
    run_id: str
    step: str
    user: str
    outcome: str
    expires: datetime


def _serializer(secret: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt=SALT, signer_kwargs={"digest_method": hashlib.sha256})


def expiry(due_at: datetime | None, now: datetime) -> datetime:
    """The approval's due time, at most MAX_AGE from now."""
    cap = now + MAX_AGE
    return min(due_at, cap) if due_at is not None else cap


def sign(secret: str, claims: LinkClaims) -> str:
    payload = {
        "r": claims.run_id,
        "s": claims.step,
        "u": claims.user,
        "o": claims.outcome,
        "e": int(claims.expires.timestamp()),
    }
    token: str = _serializer(secret).dumps(payload)
    return token


def verify(secret: str, token: str, now: datetime) -> LinkClaims:
    """The claims of a genuine token; LinkTampered / LinkExpired otherwise."""
    s = _serializer(secret)
    try:
        payload = s.loads(token)
        claims = LinkClaims(
            run_id=str(payload["r"]),
            step=str(payload["s"]),
            user=str(payload["u"]),
            outcome=str(payload["o"]),
            expires=datetime.fromtimestamp(int(payload["e"]), UTC),
        )
    except (BadSignature, KeyError, TypeError, ValueError):
        raise LinkTampered("the link is not valid (altered or not issued here)") from None
    if not hmac.compare_digest(sign(secret, claims), token):
        raise LinkTampered("the link is not valid (altered or not issued here)")
    if claims.expires <= now:
        raise LinkExpired(claims)
    return claims


def url(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/d/{quote(token, safe='')}"
