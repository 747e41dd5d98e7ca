"""The `email` action: send one message over SMTP (SPEC §4).

``with: {to, cc, subject, body, html}`` → ``{message_id, to, cc, refused}``.
The server comes from settings (``SMTP_HOST``, ``SMTP_PORT``, ``SMTP_USER``,
``SMTP_PASSWORD``, ``SMTP_TLS``, ``SMTP_FROM``), read at call time. Without
``SMTP_HOST`` the step fails, not retried, saying so.

``SMTP_TLS=true`` means implicit TLS when the port is 465, STARTTLS otherwise.

``Message-ID`` is derived from the step's idempotency key, so a retried send
(after a timeout, say) carries the same id and mail systems can drop the duplicate.
With ``html``, the message is multipart/alternative (``body`` is the plain-text part).

Classification: connection problems and SMTP 4xx replies are retried; SMTP 5xx
replies (bad recipient, authentication failed) are not. If the server refuses
only some recipients, the message went to the others and the step succeeds, with
the refused addresses in ``refused``.
"""

from __future__ import annotations

import asyncio
import hashlib
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from activities.errors import DeliveryError, NotConfigured
from activities.registry import ActionContext, action
from settings import Settings, get_settings

SMTP_TIMEOUT = 30.0


def _addresses(v: object) -> object:
    """Accept one address, a comma-separated string, or a list (expressions yield either)."""
    if v is None:
        return []
    if isinstance(v, str):
        return [a.strip() for a in v.split(",") if a.strip()]
    return v


class EmailParams(BaseModel):
    """``with:`` of the `email` action."""

    model_config = ConfigDict(extra="forbid")

    to: list[str]
    cc: list[str] = Field(default_factory=list)
    subject: str
    #: plain-text body
    body: str = ""
    #: optional HTML alternative
    html: str | None = None

    @field_validator("to", "cc", mode="before")
    @classmethod
    def _split(cls, v: object) -> object:
        return _addresses(v)

    @model_validator(mode="after")
    def _recipients(self) -> EmailParams:
        if not self.to:
            raise ValueError("`to` needs at least one address")
        for addr in [*self.to, *self.cc]:
            if "@" not in addr or any(c in addr for c in "\r\n"):
                raise ValueError(f"{addr!r} is not an email address")
        return self


def message_id(idempotency_key: str) -> str:
    """The stable ``Message-ID`` for a step's idempotency key."""
    return f"<{hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]}@relayflow>"


@action("email", EmailParams)
async def email(params: EmailParams, ctx: ActionContext) -> dict[str, Any]:
    """Send the message through the configured SMTP server."""
    settings = get_settings()
    if not settings.smtp_host:
        raise NotConfigured("email is not configured: set SMTP_HOST (and SMTP_PORT, SMTP_FROM)")
    msg = EmailMessage()
    msg["From"] = settings.smtp_from
    msg["To"] = ", ".join(params.to)
    if params.cc:
        msg["Cc"] = ", ".join(params.cc)
    msg["Subject"] = params.subject
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = message_id(ctx.idempotency_key)
    msg["X-Relayflow-Run"] = ctx.run_id
    msg["X-Relayflow-Step"] = ctx.step
    msg.set_content(params.body or "")
    if params.html:
        msg.add_alternative(params.html, subtype="html")
    refused = await asyncio.to_thread(_deliver, settings, msg, [*params.to, *params.cc])
    return {
        "message_id": msg["Message-ID"],
        "to": params.to,
        "cc": params.cc,
        "refused": sorted(refused),
    }


def _deliver(settings: Settings, msg: EmailMessage, recipients: list[str]) -> dict[str, Any]:
    host, port = settings.smtp_host or "", settings.smtp_port
    where = f"SMTP {host}:{port}"
    try:
        smtp: smtplib.SMTP
        if settings.smtp_tls and port == 465:
            smtp = smtplib.SMTP_SSL(
                host, port, timeout=SMTP_TIMEOUT, context=ssl.create_default_context()
            )
        else:
            smtp = smtplib.SMTP(host, port, timeout=SMTP_TIMEOUT)
        with smtp:
            if settings.smtp_tls and port != 465:
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_user:
                smtp.login(settings.smtp_user, settings.smtp_password or "")
            return smtp.send_message(msg, to_addrs=recipients)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = {c for c, _ in exc.recipients.values()}
        detail = "; ".join(f"{a}: {c} {_text(m)}" for a, (c, m) in exc.recipients.items())
        raise DeliveryError(
            f"{where} refused every recipient: {detail}",
            retryable=all(400 <= c < 500 for c in codes),
        ) from None
    except smtplib.SMTPResponseException as exc:
        raise DeliveryError(
            f"{where} replied {exc.smtp_code} {_text(exc.smtp_error)}",
            retryable=400 <= exc.smtp_code < 500,
        ) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"{where} failed: {type(exc).__name__}: {exc}") from None


def _text(raw: bytes | str) -> str:
    return raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
