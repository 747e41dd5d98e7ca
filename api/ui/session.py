"""Web-inbox sessions (SPEC §11): a signed, expiring cookie instead of a bearer token.

`session_user(request)` is the one way to read the cookie: the user it names, or None
(absent, tampered, expired, user gone from the directory, or the user's API token
changed since sign-in). Other cookie-authenticated endpoints (e.g. the codec
server) reuse it.

- Cookie `relayflow_session`: itsdangerous `URLSafeTimedSerializer` of
  `{u: user id, t: fingerprint of the user's token, c: CSRF token}`, valid for
  `SESSION_MAX_AGE`; `HttpOnly`, `SameSite=Strict`, `Path=/`, and `Secure` only when
  `API_PUBLIC_URL` is https. Signed with `DECISION_LINK_SECRET` (salted for this use),
  or a random per-process key when that is unset (sessions then end on restart and
  do not work across API replicas).
- CSRF: every form carries the session's `c` value (synchronizer token); the sign-in
  form, before any session, is protected by a signed `relayflow_csrf` cookie whose
  value the form must repeat (double submit).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from activities.directory import User

COOKIE = "relayflow_session"
LOGIN_CSRF_COOKIE = "relayflow_csrf"
SESSION_MAX_AGE = 12 * 3600
LOGIN_MAX_AGE = 3600
SALT = "relayflow.ui-session.v1"
LOGIN_SALT = "relayflow.ui-login.v1"


def _secret(request: Request) -> str:
    state = request.app.state
    configured: str | None = state.settings.decision_link_secret
    if configured:
        return configured
    if getattr(state, "ui_secret", None) is None:
        state.ui_secret = secrets.token_urlsafe(32)
    key: str = state.ui_secret
    return key


def _serializer(request: Request, salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        _secret(request), salt=salt, signer_kwargs={"digest_method": hashlib.sha256}
    )


def secure(request: Request) -> bool:
    public: str = request.app.state.settings.api_public_url
    return public.lower().startswith("https://")


def _fingerprint(user: User) -> str:
    return hashlib.sha256((user.token or "").encode()).hexdigest()[:16]


def _payload(request: Request) -> dict[str, str] | None:
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        data = _serializer(request, SALT).loads(raw, max_age=SESSION_MAX_AGE)
    except BadSignature:  # also SignatureExpired
        return None
    return data if isinstance(data, dict) else None


def session_user(request: Request) -> User | None:
    """The signed-in user of this request's session cookie, or None."""
    data = _payload(request)
    if data is None:
        return None
    user = request.app.state.directory.get().user(str(data.get("u")))
    if user is None or not user.token:
        return None
    if not hmac.compare_digest(_fingerprint(user), str(data.get("t", ""))):
        return None  # the token was rotated: sign in again
    return user


def csrf_token(request: Request) -> str:
    """The session's CSRF token ('' without a session)."""
    data = _payload(request)
    return str(data.get("c", "")) if data else ""


def csrf_ok(request: Request, posted: str | None) -> bool:
    expected = csrf_token(request)
    return bool(expected) and posted is not None and hmac.compare_digest(expected, posted)


def start(request: Request, response: Response, user: User) -> None:
    """Set the session cookie for `user` (after a successful sign-in)."""
    value = _serializer(request, SALT).dumps(
        {"u": user.id, "t": _fingerprint(user), "c": secrets.token_urlsafe(24)}
    )
    response.set_cookie(
        COOKIE,
        value,
        max_age=SESSION_MAX_AGE,
        path="/",
        httponly=True,
        samesite="strict",
        secure=secure(request),
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/ui")


def end(request: Request, response: Response) -> None:
    response.delete_cookie(
        COOKIE, path="/", httponly=True, samesite="strict", secure=secure(request)
    )


# -- the sign-in form's CSRF (before a session exists) ---------------------------------


def login_csrf(request: Request, response: Response) -> str:
    """A fresh token for the sign-in form, also set (signed) as a short-lived cookie."""
    token = secrets.token_urlsafe(24)
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        _serializer(request, LOGIN_SALT).dumps(token),
        max_age=LOGIN_MAX_AGE,
        path="/ui",
        httponly=True,
        samesite="strict",
        secure=secure(request),
    )
    return token


def login_csrf_ok(request: Request, posted: str | None) -> bool:
    raw = request.cookies.get(LOGIN_CSRF_COOKIE)
    if not raw or not posted:
        return False
    try:
        expected = _serializer(request, LOGIN_SALT).loads(raw, max_age=LOGIN_MAX_AGE)
    except BadSignature:
        return False
    return isinstance(expected, str) and hmac.compare_digest(expected, posted)
