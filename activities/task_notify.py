"""Activity `notify_task`: tell assignees a task opened, was reassigned or decided (SPEC §2, §11).

Best effort by design: the workflow starts it in the background with a short
retry budget and ignores its failure, so it never holds a step. The channel is
email over the SMTP settings; without `SMTP_HOST`, or for users without an email
address, the notice is skipped (and the result says so).

A task that opened or was reassigned is mailed to each decider separately (text
and HTML parts): with `DECISION_LINK_SECRET` set, one signed decision link per
outcome (`{API_PUBLIC_URL}/d/<token>`, valid until the approval's due time, at most
30 days; the page it opens decides only when submitted), and always a link to the
task in the web inbox (`/ui`). Every message also links to the run in the API and
in the Temporal Web UI, and carries a stable `Message-ID` derived from the
workflow's idempotency key (and the recipient), so a retried delivery can be
recognised as a duplicate by mail systems. Settings are read here, never in
workflow code.
"""

from __future__ import annotations

import asyncio
import smtplib
from datetime import UTC, datetime
from email.message import EmailMessage
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import decision_links
from settings import Settings, get_settings
from workflows.engine.approvals.io import TaskNotice

TEMPLATES = Path(__file__).resolve().parent / "templates"


@lru_cache
def _jinja() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"])
    )


def links(s: Settings, run_id: str) -> tuple[str, str]:
    api = f"{s.api_public_url.rstrip('/')}/runs/{quote(run_id, safe='')}"
    ui = (
        f"{s.temporal_ui_url.rstrip('/')}/namespaces/{quote(s.temporal_namespace, safe='')}"
        f"/workflows/{quote(run_id, safe='')}"
    )
    return api, ui


def inbox_url(s: Settings, run_id: str, step: str) -> str:
    return f"{s.api_public_url.rstrip('/')}/ui/tasks/{quote(run_id, safe='')}/{quote(step, safe='')}"


def decision_urls(
    s: Settings, n: TaskNotice, user: str, now: datetime
) -> list[tuple[str, str]]:
    """(outcome, signed link) for `user`, or [] without DECISION_LINK_SECRET."""
    if not s.decision_link_secret or not n.outcomes:
        return []
    expires = decision_links.expiry(n.due_at, now)
    out = []
    for outcome in n.outcomes:
        claims = decision_links.LinkClaims(n.run_id, n.step, user, outcome, expires)
        token = decision_links.sign(s.decision_link_secret, claims)
        out.append((outcome, decision_links.url(s.api_public_url, token)))
    return out


def render(
    n: TaskNotice,
    s: Settings,
    user: str | None = None,
    email: str | None = None,
    now: datetime | None = None,
) -> EmailMessage:
    """One message: to `user` at `email` (with their decision links), else to all `emails`."""
    api, ui = links(s, n.run_id)
    what = f"{n.template + ' / ' if n.template else ''}{n.run_id} / {n.step}"
    on_behalf = n.on_behalf_of.get(user, []) if user else []
    buttons: list[tuple[str, str]] = []
    if n.kind == "decided":
        subject = f"[relayflow] Decided: {n.step} → {n.decision}"
        intro = f"The approval {what} was decided: {n.decision}."
        lines = [intro]
    else:
        verb = "assigned to you" if n.kind == "opened" else "reassigned to you"
        subject = f"[relayflow] Approval needed: {n.step}" + (
            f" ({n.template})" if n.template else ""
        )
        intro = f"An approval was {verb}: {what}."
        lines = [intro]
        if on_behalf:
            lines.append(f"You decide on behalf of {', '.join(on_behalf)} (out of office).")
        if n.outcomes:
            lines.append(f"Possible outcomes: {', '.join(n.outcomes)}.")
        if n.due_at:
            lines.append(f"Due: {n.due_at.isoformat()}.")
        if user:
            buttons = decision_urls(s, n, user, now or datetime.now(UTC))
        if buttons:
            lines += ["", "Decide (the link opens a confirmation page; submit it to decide):"]
            lines += [f"  {outcome}: {href}" for outcome, href in buttons]
        lines += ["", f"Web inbox: {inbox_url(s, n.run_id, n.step)}"]
        lines.append(f"API: POST {api}/steps/{n.step}/decision")
    if n.actor:
        lines.append(f"By: {n.actor}")
    lines += ["", f"Run: {api}", f"Temporal UI: {ui}"]
    msg = EmailMessage()
    msg["From"] = s.smtp_from
    msg["To"] = email or ", ".join(n.emails)
    msg["Subject"] = subject
    key = n.idempotency_key + (f"/{user}" if user else "")
    msg["Message-ID"] = f"<{quote(key, safe='')}@relayflow>"
    msg.set_content("\n".join(lines) + "\n")
    html = _jinja().get_template("task_email.html").render(
        subject=subject,
        intro=intro,
        on_behalf_of=on_behalf,
        template=n.template,
        run_id=n.run_id,
        step=n.step,
        due_at=n.due_at.isoformat() if n.due_at else None,
        decision_links=buttons,
        inbox_url=inbox_url(s, n.run_id, n.step),
        api_url=api,
        ui_url=ui,
        actor=n.actor,
    )
    msg.add_alternative(html, subtype="html")
    return msg


def _send(msg: EmailMessage, s: Settings) -> None:
    assert s.smtp_host
    with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=15) as smtp:
        if s.smtp_tls:
            smtp.starttls()
        if s.smtp_user:
            smtp.login(s.smtp_user, s.smtp_password or "")
        smtp.send_message(msg)


@activity.defn(name="notify_task")
async def notify_task(n: TaskNotice) -> dict[str, Any]:
    """Email the notice; `{sent, to}` or `{skipped: reason}`."""
    s = get_settings()
    if not s.smtp_host:
        return {"skipped": "no notification channel configured (SMTP_HOST unset)"}
    if not n.emails:
        return {"skipped": "no assignee has an email address"}
    if n.recipients and n.kind != "decided":
        now = datetime.now(UTC)
        messages = [render(n, s, user, email, now) for user, email in n.recipients.items()]
    else:
        messages = [render(n, s)]
    try:
        for msg in messages:
            await asyncio.to_thread(_send, msg, s)
    except smtplib.SMTPResponseException as exc:
        raise ApplicationError(
            f"SMTP {exc.smtp_code}: {exc.smtp_error!r}",
            type="DeliveryError",
            non_retryable=exc.smtp_code >= 500,
        ) from None
    except (OSError, smtplib.SMTPException) as exc:
        raise ApplicationError(f"SMTP: {exc}", type="DeliveryError") from None
    return {"sent": True, "to": [str(m["To"]) for m in messages]}
