"""Activity `notify_task`: tell assignees a task opened, was reassigned or decided (SPEC §2).

Best effort by design: the workflow starts it in the background with a short
retry budget and ignores its failure, so it never holds a step. The channel is
email over the SMTP settings; without `SMTP_HOST`, or for users without an email
address, the notice is skipped (and the result says so). Every message links to
the run in the API (`{API_PUBLIC_URL}/runs/{run_id}`) and in the Temporal Web UI,
and carries a stable `Message-ID` derived from the workflow's idempotency key, so
a retried delivery can be recognised as a duplicate by mail systems.
"""

from __future__ import annotations

import asyncio
import smtplib
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote

from temporalio import activity
from temporalio.exceptions import ApplicationError

from settings import Settings, get_settings
from workflows.engine.approvals.io import TaskNotice


def links(s: Settings, run_id: str) -> tuple[str, str]:
    api = f"{s.api_public_url.rstrip('/')}/runs/{quote(run_id, safe='')}"
    ui = (
        f"{s.temporal_ui_url.rstrip('/')}/namespaces/{quote(s.temporal_namespace, safe='')}"
        f"/workflows/{quote(run_id, safe='')}"
    )
    return api, ui


def render(n: TaskNotice, s: Settings) -> EmailMessage:
    api, ui = links(s, n.run_id)
    what = f"{n.template + ' / ' if n.template else ''}{n.run_id} / {n.step}"
    if n.kind == "decided":
        subject = f"[relayflow] Decided: {n.step} → {n.decision}"
        lines = [f"The approval {what} was decided: {n.decision}."]
    else:
        verb = "assigned to you" if n.kind == "opened" else "reassigned to you"
        subject = f"[relayflow] Approval needed: {n.step}" + (
            f" ({n.template})" if n.template else ""
        )
        lines = [f"An approval was {verb}: {what}."]
        if n.outcomes:
            lines.append(f"Possible outcomes: {', '.join(n.outcomes)}.")
        if n.due_at:
            lines.append(f"Due: {n.due_at.isoformat()}.")
        lines.append(f"Decide: POST {api}/steps/{n.step}/decision")
    if n.actor:
        lines.append(f"By: {n.actor}")
    lines += ["", f"Run: {api}", f"Temporal UI: {ui}"]
    msg = EmailMessage()
    msg["From"] = s.smtp_from
    msg["To"] = ", ".join(n.emails)
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{quote(n.idempotency_key, safe='')}@relayflow>"
    msg.set_content("\n".join(lines) + "\n")
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
    msg = render(n, s)
    try:
        await asyncio.to_thread(_send, msg, s)
    except smtplib.SMTPResponseException as exc:
        raise ApplicationError(
            f"SMTP {exc.smtp_code}: {exc.smtp_error!r}",
            type="DeliveryError",
            non_retryable=exc.smtp_code >= 500,
        ) from None
    except (OSError, smtplib.SMTPException) as exc:
        raise ApplicationError(f"SMTP: {exc}", type="DeliveryError") from None
    return {"sent": True, "to": list(n.emails)}
